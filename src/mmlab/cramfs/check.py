"""cramfs checker: util-linux ``disk-utils/fsck.cramfs.c`` (``--extract``) minus its blind spots.

``fsck.cramfs`` (util-linux ``disk-utils/fsck.cramfs.c``) checks the
superblock, the CRC and, with ``--extract``, inflates every block and walks the
tree.  :func:`check_image` does all of that in one pass and reaches the same
verdict on the images util-linux's tests use (both byte orders, holes, boot
pad, CRC/magic/truncation damage), but also accepts valid images fsck rejects:
the v4.15 ``EXT_BLOCK_POINTERS`` (XIP) layout and block sizes other than the
checker's page size (auto-detected).  The kernel itself checks much less
(``cramfs_read_super`` and ``cramfs_readpage``, ``fs/cramfs/inode.c @ v4.15``,
https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c).

Unlike fsck, it inflates on two threads when two CPUs are free (zlib-ng, or
zlib, releases the GIL; see :mod:`mmlab.cramfs.inflate`), goes on past the
first error, checks a truncated image as far as it goes, and lists the root
cause first (a truncation or a bad block before the CRC mismatch it causes).

Exit codes follow fsck: 0 clean, 4 errors left, 8 operational error (defined
once in :mod:`mmlab.cramfs.errors`, re-exported here).
"""

from __future__ import annotations

import os
import stat
from array import array
from collections import deque, namedtuple
from collections.abc import Callable

from .errors import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_UNCORRECTED,
    EXIT_USAGE,
    CramfsCRCError,
    CramfsError,
    CramfsFormatError,
    CramfsIOError,
    CramfsLimitError,
    CramfsTruncatedError,
    CramfsUnsupportedError,
)
from .inflate import OUT_SLACK, inflater
from .layout import (
    CRAMFS_SIGNATURE,
    SB_OFFSET_CRC,
    SB_OFFSET_SIZE,
    SUPERBLOCK_SIZE,
    unpack_block_pointers,
)
from .pool import Job, Pool
from .reader import (
    MAX_DEPTH,
    BlockKind,
    CramfsImage,
    Entry,
    FileBlock,
    Superblock,
    open_image,
    parse_superblock,
)

# The fsck.cramfs exit codes are defined in .errors and re-exported here.
__all__ = ["CheckReport", "check_image", "default_threads", "EXIT_OK", "EXIT_UNCORRECTED",
           "EXIT_ERROR", "EXIT_USAGE"]

MAX_ERRORS = 100  #: stop collecting after this many
#: A truncated image is checked zero-filled up to ``fsid.size`` when that is at most this.
MAX_PADDED_SIZE = 64 << 20
BATCH_BYTES = 1 << 20  #: inflated bytes handed to an inflate thread at once
#: A big file goes to the inflate threads in runs of this many blocks, so that the two
#: threads finish together: whole, a 4.6 MiB library (a root file system's libcrypto) is
#: ~10 ms of inflating for one thread, a fifth of a 50 ms check.
RUN_BLOCKS = 64
#: Batches queued before the tree walk stops to inflate (or wait for) the oldest one.
MAX_IN_FLIGHT = 16


class CheckReport:
    """Outcome of :func:`check_image`: errors (CramfsError objects), warnings, counts.

    ``errors`` come root cause first: a truncation before what it breaks,
    damage found in the tree before the CRC mismatch it causes.
    ``paths[i]`` is the image path ``errors[i]`` is about (``""`` for the
    superblock and the tree as a whole).  ``truncated_at`` is the file's
    length when it is shorter than ``fsid.size`` (the missing part is then
    read as zeros; ``missing`` counts the blocks and inodes that lie in it,
    which are not reported one by one).

    Model helper: no kernel counterpart.
    """

    # A plain class, not a dataclass: ``dataclasses`` costs ~10 ms of the command's start-up.
    def __init__(self) -> None:
        self.endian: str | None = None
        self.blocksize: int | None = None
        self.errors: list[CramfsError] = []
        self.paths: list[str] = []
        self.warnings: list[str] = []
        self.files = 0
        self.blocks: dict[str, int] = {}
        self.bytes_out = 0
        self.truncated_at: int | None = None
        self.missing = 0

    def __repr__(self) -> str:
        return (f"CheckReport(ok={self.ok}, errors={len(self.errors)}, "
                f"warnings={len(self.warnings)}, files={self.files}, blocks={self.blocks}, "
                f"bytes_out={self.bytes_out})")

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def exit_code(self) -> int:
        """0, or 4 for errors; 8 when the image uses unknown features (cannot be checked).

        fsck.cramfs exits with 8 (``FSCK_EX_ERROR``) on "unsupported filesystem
        features" and with 4 (``FSCK_EX_UNCORRECTED``) on damage.

        util-linux: ``test_super`` in `disk-utils/fsck.cramfs.c @ v2.38
        <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
        """
        if self.ok:
            return EXIT_OK
        if any(isinstance(e, CramfsUnsupportedError) for e in self.errors):
            return EXIT_ERROR
        return EXIT_UNCORRECTED

    def add(self, err: CramfsError, path: str = "") -> None:
        """Record an error (about image path ``path``), up to :data:`MAX_ERRORS`.

        In a truncated image, errors located in the missing part are only counted.

        Model helper: no kernel counterpart.
        """
        if (self.truncated_at is not None and err.offset is not None
                and err.offset >= self.truncated_at):
            self.missing += 1
            return
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(err)
            self.paths.append(path)

    def messages(self) -> list[str]:
        """One line per error, ``/path: error`` for errors about a file.

        Model helper: no kernel counterpart.
        """
        return [f"/{p}: {e}" if p else str(e) for e, p in zip(self.errors, self.paths,
                                                                 strict=True)]


def default_threads() -> int:
    """Inflate threads :func:`check_image` uses: 2 when this process may run on 2+ CPUs, else 1.

    zlib releases the GIL while it inflates, so two threads keep two cores busy;
    more add little (the tree walk and the batching hold the GIL).

    Model helper: no kernel counterpart.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 2 if cpus > 1 else 1


def check_image(
    source,
    *,
    blocksize: int | None = None,
    progress: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> CheckReport:
    """Check an image (path or bytes); never raises for a bad image, only for I/O.

    Runs ``fsck.cramfs``'s checks and, where they exist, the kernel's own
    (``cramfs_read_super``, ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c>`_).
    Data blocks are inflated in batches on ``threads`` threads (default
    :func:`default_threads`) while the tree is walked, and the CRC is computed
    alongside; ``progress(nbytes)`` is called with the bytes inflated, batch by
    batch (for a progress bar).  An image shorter than its ``fsid.size`` is
    checked as far as it goes: the truncation is reported first, then what
    it breaks.  Raises :class:`CramfsIOError` when the image cannot be read
    at all.

    util-linux: ``test_super``, ``test_crc`` and ``test_fs`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    report = CheckReport()
    try:
        image = open_image(source, blocksize=blocksize)
    except CramfsIOError:
        raise
    except CramfsTruncatedError as exc:
        padded = _open_truncated(source, blocksize, report)
        if padded is None:
            report.add(exc)
            return report
        image = padded
    except CramfsError as exc:
        report.add(exc)
        return report
    threads = default_threads() if threads is None else max(1, threads)
    with image:
        report.endian = image.endian
        report.blocksize = image.blocksize
        # threads - 1 workers: this thread inflates too, once the tree is walked (or when
        # MAX_IN_FLIGHT batches wait), instead of sleeping until a worker is done
        pool = Pool(threads - 1, "cramfs-check") if threads > 1 else None
        try:
            crc: Job | None = None
            if _check_super(image, report):
                crc = pool.submit(image.compute_crc) if pool else None
            inflater = _Inflater(image, report, progress, pool)
            _check_tree(image, report, inflater)
            inflater.finish()
            if _wants_crc(image):
                _check_crc(image, report, pool.help_until(crc) if crc else image.compute_crc())
        finally:
            if pool:
                pool.shutdown()
    report.blocks = {str(kind): n for kind, n in report.blocks.items()}  # plain str keys
    _root_cause_first(report, image.superblock)
    return report


def _open_truncated(source, blocksize: int | None, report: CheckReport) -> CramfsImage | None:
    """An image shorter than its ``fsid.size``, zero-filled up to it; None if it is not that."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    else:
        try:
            with open(os.fspath(source), "rb") as f:
                data = f.read(MAX_PADDED_SIZE + 1)
        except OSError as exc:
            raise CramfsIOError(f"cannot read {os.fspath(source)}: {exc.strerror}") from None
    try:
        sb = parse_superblock(data)
    except CramfsError:
        return None
    if not sb.fsid_v2 or not len(data) < sb.size <= MAX_PADDED_SIZE:
        return None
    padded = bytearray(sb.size)
    padded[: len(data)] = data
    try:
        image = open_image(padded, blocksize=blocksize)
    except CramfsError:
        return None
    report.truncated_at = len(data)
    return image


def _root_cause_first(report: CheckReport, sb: Superblock) -> None:
    """Truncation first, CRC mismatches last: the CRC fails because of what precedes it."""
    pairs = list(zip(report.errors, report.paths, strict=True))
    ordered = ([p for p in pairs if not isinstance(p[0], CramfsCRCError)]
               + [p for p in pairs if isinstance(p[0], CramfsCRCError)])
    if report.truncated_at is not None:
        lost = f"; {report.missing} blocks or inodes lie in the missing part" \
            if report.missing else ""
        ordered.insert(0, (CramfsTruncatedError(
            f"image truncated: fsid.size is 0x{sb.size:x} bytes but the file has only "
            f"0x{report.truncated_at:x}{lost}", offset=sb.base + SB_OFFSET_SIZE, field="size",
            where="superblock"), ""))
    report.errors = [e for e, _ in ordered]
    report.paths = [p for _, p in ordered]


def _check_super(image: CramfsImage, report: CheckReport) -> bool:
    """``test_super``: sizes and file count.  True when there is a CRC to check."""
    sb = image.superblock
    buf_len = len(image.data)
    if sb.signature != CRAMFS_SIGNATURE:
        report.warnings.append(f"superblock at 0x{sb.base:x}: signature {sb.signature!r} is "
                               "not 'Compressed ROMFS' (the kernel does not check it)")
    if not sb.fsid_v2:
        report.warnings.append("old cramfs format (no FSID_VERSION_2): no size, count or CRC")
        return False
    if sb.size < image.blocksize:
        report.add(CramfsFormatError(f"superblock size ({sb.size}) too small",
                                     offset=sb.base + 4, field="size", where="superblock"))
    if sb.files == 0:
        report.add(CramfsFormatError("zero file count", offset=sb.base + 0x2C,
                                     field="fsid.files", where="superblock"))
    if buf_len > sb.size:
        report.warnings.append(f"file extends past end of filesystem ({buf_len} > {sb.size})")
    return True


def _wants_crc(image: CramfsImage) -> bool:
    return image.superblock.fsid_v2


def _check_crc(image: CramfsImage, report: CheckReport, crc: int) -> None:
    """``test_crc``: CRC32 over ``fsid.size`` bytes, the crc field read as zero."""
    sb = image.superblock
    if crc != sb.crc:
        how = " (the missing bytes read as zeros)" if report.truncated_at is not None else ""
        report.add(CramfsCRCError(f"crc error: stored 0x{sb.crc:08x}, computed 0x{crc:08x}{how}",
                                  offset=sb.base + SB_OFFSET_CRC, field="fsid.crc",
                                  where="superblock"))


class _ClassicFile(namedtuple("_ClassicFile", "entry start ends first out_size")):
    """A run of blocks of a regular file whose classic block pointers all looked sound:
    inflated in one go (a whole file, or :data:`RUN_BLOCKS` blocks of a big one).

    ``start``: where the run's first block starts (for block 0, right after the pointer
    array); ``ends``: the run's block pointers (each block's end); ``first``: the index of
    its first block in the file; ``out_size``: the bytes the run inflates to.
    """

    __slots__ = ()


class _Inflater:
    """Inflates data blocks in batches, on the pool (and this thread) when there is one;
    results in order."""

    def __init__(self, image: CramfsImage, report: CheckReport,
                 progress: Callable[[int], None] | None,
                 pool: Pool | None) -> None:
        self.image = image
        self.report = report
        self.progress = progress
        self.pool = pool
        self.batch: list[tuple[str, FileBlock | _ClassicFile]] = []
        self.batch_bytes = 0
        self.pending: deque[Job] = deque()

    def add(self, path: str, work: FileBlock | _ClassicFile) -> None:
        """Queue one block, or a whole classic file."""
        self.batch.append((path, work))
        self.batch_bytes += work.out_size
        if self.batch_bytes >= BATCH_BYTES:
            self._flush()

    def finish(self) -> None:
        self._flush()
        while self.pending:
            self._collect(*self.pool.help_until(self.pending.popleft()))

    def _flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch, self.batch_bytes = self.batch, [], 0
        if self.pool is None:
            self._collect(*_inflate(self.image, batch))
            return
        self.pending.append(self.pool.submit(_inflate, self.image, batch))
        while len(self.pending) > MAX_IN_FLIGHT:
            self._collect(*self.pool.help_until(self.pending.popleft()))

    def _collect(self, nbytes: int, errors: list[tuple[str, CramfsError]]) -> None:
        self.report.bytes_out += nbytes
        for path, err in errors:
            self.report.add(err, path)
        if self.progress:
            self.progress(nbytes)


def _inflate(image: CramfsImage, batch: list[tuple[str, FileBlock | _ClassicFile]]
             ) -> tuple[int, list[tuple[str, CramfsError]]]:
    """Inflate (or copy) each block; bytes produced and the errors, in order."""
    nbytes = 0
    errors: list[tuple[str, CramfsError]] = []
    read = image.read_block
    for path, work in batch:
        if isinstance(work, _ClassicFile):
            nbytes += _inflate_classic(image, path, work, errors)
            continue
        try:
            nbytes += len(read(work))
        except CramfsError as exc:
            errors.append((path, exc))
    return nbytes, errors


def _inflate_classic(image: CramfsImage, path: str, work: _ClassicFile,
                     errors: list[tuple[str, CramfsError]]) -> int:
    """Inflate a run of a classic file block by block in a tight loop; bytes produced.

    At the first block that does not inflate to its size, the rest of the run
    goes block by block through :meth:`CramfsImage.read_block`, which names the
    damage (the same errors as the general path; the runs after it are checked
    the same way, in order).  Not
    :meth:`CramfsImage.read_chunks`: that keeps every block of a file until its
    end, and the fresh memory made the whole check about a fifth slower; here
    each block is dropped as soon as it is counted.
    """
    decompress, inflate_error = inflater()
    view = image.view()
    bs = image.blocksize
    room = bs + OUT_SLACK
    start = work.start
    size = work.entry.inode.size
    last = (size - 1) // bs - work.first  # the file's last block, counted from the run's first
    nbytes = 0
    for i, end in enumerate(work.ends):
        want = bs if i < last else size - (work.first + i) * bs
        if end != start:
            try:
                got = len(decompress(view[start:end], 15, room))
            except inflate_error:
                got = -1
            if got != want:
                first = work.first
                for b in image.blocks(work.entry)[first + i:first + len(work.ends)]:
                    try:
                        nbytes += len(image.read_block(b))
                    except CramfsError as exc:
                        errors.append((path, exc))
                return nbytes
        nbytes += want
        start = end
    return nbytes


def _check_tree(image: CramfsImage, report: CheckReport, inflater: _Inflater) -> None:
    """``test_fs``/``expand_fs``: every inode sane, every block inflates to its size."""
    sb = image.superblock
    nfiles = 1
    nblocks = 0
    seen_dirs = {image.root.data_offset} if image.root.size else set()
    seen_data: set[tuple[int, int]] = set()
    dir_ranges: list[tuple[int, int]] = []
    if image.root.size:
        dir_ranges.append((image.root.data_offset, image.root.data_offset + image.root.size))
    queue = [image.root]
    while queue and len(report.errors) < MAX_ERRORS:
        d = queue.pop(0)
        try:
            children = image.listdir(d)
        except CramfsError as exc:
            report.add(exc, d.path)
            continue
        _check_names(d, children, sb.flags, report)
        for e in children:
            nfiles += 1
            mode = e.inode.mode
            if stat.S_ISDIR(mode):
                if e.size == 0:
                    continue
                if e.data_offset in seen_dirs:
                    report.add(CramfsFormatError(
                        f"directory cycle: entries at 0x{e.data_offset:x} already visited",
                        offset=e.inode_offset, field="offset", where="inode"), e.path)
                    continue
                if e.depth >= MAX_DEPTH:
                    report.add(CramfsLimitError(f"directory deeper than {MAX_DEPTH}",
                                                offset=e.inode_offset, field="offset",
                                                where="inode"), e.path)
                    continue
                seen_dirs.add(e.data_offset)
                dir_ranges.append((e.data_offset, e.data_offset + e.size))
                queue.append(e)
            elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                key = (e.inode.offset, e.inode.size)
                if e.inode.offset and key in seen_data:
                    continue  # identical file stored once (mkfs.cramfs eliminate_doubles)
                seen_data.add(key)
                nblocks += _check_file(image, e, report, inflater)
            else:
                if e.inode.offset:
                    report.add(CramfsFormatError(
                        "special file has non-zero offset", offset=e.inode_offset,
                        field="offset", where="inode"), e.path)
                if (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) and e.size:
                    report.add(CramfsFormatError(
                        "fifo/socket has non-zero size", offset=e.inode_offset,
                        field="size", where="inode"), e.path)
                if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
                        or stat.S_ISSOCK(mode)):
                    report.add(CramfsFormatError(f"bogus mode 0{mode:o}",
                                                 offset=e.inode_offset, field="mode",
                                                 where="inode"), e.path)
    report.files = nfiles
    if sb.fsid_v2 and not report.errors and report.truncated_at is None:
        if sb.files != nfiles:
            report.warnings.append(f"fsid.files is {sb.files} but the tree has {nfiles} inodes")
        if sb.blocks != nblocks:
            report.warnings.append(f"fsid.blocks is {sb.blocks} but files use {nblocks} blocks")
    if dir_ranges:
        start = min(a for a, _ in dir_ranges)
        if start < sb.base + SUPERBLOCK_SIZE:
            report.add(CramfsFormatError(
                f"directory data start (0x{start:x}) < end of superblock",
                offset=sb.base + 0x40, field="root.offset", where="superblock"))


def _check_names(d: Entry, children: list[Entry], flags: int, report: CheckReport) -> None:
    """Names: NUL padding of at most 3 bytes, no '/', no NUL, '.', '..'; sorted, unique."""
    names = []
    for e in children:
        raw = e.name
        if (e.inode.namelen << 2) - len(raw) > 3:
            report.add(CramfsFormatError("bad filename length (more than 3 NUL pad bytes)",
                                         offset=e.inode_offset, field="namelen",
                                         where="inode"), e.path)
        if b"/" in raw or b"\0" in raw or raw in (b".", b".."):
            report.add(CramfsFormatError(f"illegal file name {raw!r}", offset=e.inode_offset,
                                         field="name", where="inode"), e.path)
        names.append(raw)
    if len(set(names)) != len(names):
        report.warnings.append(f"directory /{d.path}: duplicate names (lookup finds the first)")
    if flags & 2 and names != sorted(names):
        report.warnings.append(f"directory /{d.path}: SORTED_DIRS set but entries are not "
                               "sorted (cramfs_lookup may miss names)")


def _classic_pointers(image: CramfsImage, e: Entry) -> tuple[int, array, int] | None:
    """(where block 0 starts, the block pointers, how many blocks are holes) of a file or
    symlink whose classic pointers are all in order and in bounds; None if any is not."""
    size = e.inode.size
    bs = image.blocksize
    n = (size - 1) // bs + 1
    first = (e.inode.offset << 2) + 4 * n
    try:
        ends = unpack_block_pointers(image.endian, image.data, first - 4 * n, n)
    except ValueError:
        return None
    limit = min(image.size, len(image.data))
    if ends[-1] > limit:
        return None
    prev = first
    holes = 0
    max_stored = 2 * bs
    for end in ends:
        stored = end - prev
        if stored <= 0 or stored > max_stored:
            if stored != 0:
                return None
            holes += 1
        prev = end
    return first, ends, holes


def _count_classic(report: CheckReport, n: int, holes: int) -> None:
    counts = report.blocks
    if n > holes:
        counts[BlockKind.COMPRESSED] = counts.get(BlockKind.COMPRESSED, 0) + n - holes
    if holes:
        counts[BlockKind.HOLE] = counts.get(BlockKind.HOLE, 0) + holes


def _queue_classic(image: CramfsImage, e: Entry, report: CheckReport,
                   inflater: _Inflater) -> int | None:
    """A regular file with classic pointers, all in order and in bounds: counted and queued
    whole (no per-block objects); its number of blocks.  None if anything looks unusual:
    then the general path in :func:`_check_file` finds and names it.
    """
    found = _classic_pointers(image, e)
    if found is None:
        return None
    start, ends, holes = found
    n = len(ends)
    _count_classic(report, n, holes)
    size = e.inode.size
    if n <= RUN_BLOCKS:
        inflater.add(e.path, _ClassicFile(e, start, ends, 0, size))
        return n
    run_bytes = RUN_BLOCKS * image.blocksize
    for first in range(0, n, RUN_BLOCKS):
        inflater.add(e.path, _ClassicFile(e, start, ends[first:first + RUN_BLOCKS], first,
                                          min(run_bytes, size - first * image.blocksize)))
        start = ends[min(first + RUN_BLOCKS, n) - 1]  # where the next run starts
    return n


def _check_link_classic(image: CramfsImage, e: Entry, report: CheckReport) -> int | None:
    """A symlink with classic pointers, all in order and in bounds, whose blocks all inflate
    to their size: counted and its target checked from one read; its number of blocks.

    None if anything looks unusual (nothing is reported then): the general path in
    :func:`_check_file` finds and names it.  A root file system has hundreds of symlinks;
    the general path builds every block's :class:`FileBlock` and reads the target twice.
    """
    found = _classic_pointers(image, e)
    if found is None:
        return None
    _first, ends, holes = found
    try:
        target = b"".join(image.read_chunks(e))
    except CramfsError:
        return None
    _count_classic(report, len(ends), holes)
    report.bytes_out += len(target)
    if not target or b"\0" in target:
        report.add(CramfsFormatError("symbolic link target is empty or contains NUL",
                                     offset=e.inode_offset, field="size", where="inode"),
                   e.path)
    return len(ends)


def _check_file(image: CramfsImage, e: Entry, report: CheckReport, inflater: _Inflater) -> int:
    """One regular file or symlink: offset/size consistency; its blocks go to the inflater.

    A symlink's few bytes are read here (its target is checked too).
    """
    inode = e.inode
    is_link = stat.S_ISLNK(inode.mode)
    kind = "symbolic link" if is_link else "file inode"
    if inode.size == 0:
        if inode.offset:
            report.add(CramfsFormatError(f"{kind} has zero size and non-zero offset",
                                         offset=e.inode_offset, field="size", where="inode"),
                       e.path)
        elif is_link:
            report.add(CramfsFormatError("symbolic link has zero size", offset=e.inode_offset,
                                         field="size", where="inode"), e.path)
        return 0
    if inode.offset == 0:
        report.add(CramfsFormatError(f"{kind} has zero offset and non-zero size",
                                     offset=e.inode_offset, field="offset", where="inode"),
                   e.path)
        return 0
    if not image.ext_pointers and report.truncated_at is None:
        nblocks = (_check_link_classic(image, e, report) if is_link
                   else _queue_classic(image, e, report, inflater))
        if nblocks is not None:
            return nblocks
    try:
        blocks = image.blocks(e)
    except CramfsError as exc:
        report.add(exc, e.path)
        return 0
    bs = image.blocksize
    size_limit = image.size
    present = report.truncated_at
    counts = report.blocks
    for b in blocks:
        kind = b.kind
        counts[kind] = counts.get(kind, 0) + 1  # a BlockKind is its str value
        if b.end > size_limit:
            report.add(CramfsTruncatedError(
                f"invalid file data offset: block {b.index} ends at 0x{b.end:x} past "
                f"fsid.size 0x{size_limit:x}", offset=b.pointer_offset, field="block pointer",
                where="block pointer"), e.path)
            continue
        if present is not None and b.end > present and kind is not BlockKind.HOLE:
            report.missing += 1  # its data lies in the missing part of a truncated image
            continue
        if kind is BlockKind.DIRECT:
            if b.start % bs:
                report.warnings.append(
                    f"/{e.path}: XIP block {b.index} at 0x{b.start:x} is not aligned to "
                    f"{bs}: it cannot be mapped in place")
            if b.index == len(blocks) - 1 and inode.size % bs == 0:
                report.warnings.append(
                    f"/{e.path}: last XIP page ends exactly at the file end; v4.15 "
                    "cramfs_readpage reads it as a hole (offset_in_page(i_size) == 0)")
        if is_link:
            try:
                report.bytes_out += len(image.read_block(b))
            except CramfsError as exc:
                report.add(exc, e.path)
        else:
            inflater.add(e.path, b)
    if is_link:
        try:
            target = image.read_file(e)
        except CramfsError:
            return len(blocks)
        if not target or b"\0" in target:
            report.add(CramfsFormatError("symbolic link target is empty or contains NUL",
                                         offset=e.inode_offset, field="size", where="inode"),
                       e.path)
    return len(blocks)
