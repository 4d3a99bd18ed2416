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

Exit codes follow fsck: 0 clean, 4 errors left, 8 operational error (defined
once in :mod:`mmlab.cramfs.errors`, re-exported here).
"""

from __future__ import annotations

import stat
from collections.abc import Callable
from dataclasses import dataclass, field

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
from .layout import CRAMFS_SIGNATURE, SB_OFFSET_CRC, SUPERBLOCK_SIZE
from .reader import MAX_DEPTH, BlockKind, CramfsImage, Entry, open_image

# The fsck.cramfs exit codes are defined in .errors and re-exported here.
__all__ = ["CheckReport", "check_image", "EXIT_OK", "EXIT_UNCORRECTED", "EXIT_ERROR",
           "EXIT_USAGE"]

MAX_ERRORS = 100  #: stop collecting after this many


@dataclass
class CheckReport:
    """Outcome of :func:`check_image`: errors (CramfsError objects), warnings, counts.

    Model helper: no kernel counterpart.
    """

    endian: str | None = None
    blocksize: int | None = None
    errors: list[CramfsError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    files: int = 0
    blocks: dict[str, int] = field(default_factory=dict)
    bytes_out: int = 0

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

    def add(self, err: CramfsError) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(err)


def check_image(
    source,
    *,
    blocksize: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> CheckReport:
    """Check an image (path or bytes); never raises for a bad image, only for I/O.

    Runs ``fsck.cramfs``'s checks and, where they exist, the kernel's own
    (``cramfs_read_super``, ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c>`_).
    ``progress(nbytes)`` is called after each file (for a progress bar).
    Raises :class:`CramfsIOError` when the image cannot be read at all.

    util-linux: ``test_super``, ``test_crc`` and ``test_fs`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    report = CheckReport()
    try:
        image = open_image(source, blocksize=blocksize)
    except CramfsIOError:
        raise
    except CramfsError as exc:
        report.add(exc)
        return report
    with image:
        report.endian = image.endian
        report.blocksize = image.blocksize
        _check_super(image, report)
        _check_tree(image, report, progress)
    return report


def _check_super(image: CramfsImage, report: CheckReport) -> None:
    """``test_super`` + ``test_crc``: sizes, file count, CRC."""
    sb = image.superblock
    buf_len = len(image.data)
    if sb.signature != CRAMFS_SIGNATURE:
        report.warnings.append(f"superblock at 0x{sb.base:x}: signature {sb.signature!r} is "
                               "not 'Compressed ROMFS' (the kernel does not check it)")
    if not sb.fsid_v2:
        report.warnings.append("old cramfs format (no FSID_VERSION_2): no size, count or CRC")
        return
    if sb.size < image.blocksize:
        report.add(CramfsFormatError(f"superblock size ({sb.size}) too small",
                                     offset=sb.base + 4, field="size", where="superblock"))
    if sb.files == 0:
        report.add(CramfsFormatError("zero file count", offset=sb.base + 0x2C,
                                     field="fsid.files", where="superblock"))
    if buf_len > sb.size:
        report.warnings.append(f"file extends past end of filesystem ({buf_len} > {sb.size})")
    crc = image.compute_crc()
    if crc != sb.crc:
        report.add(CramfsCRCError(f"crc error: stored 0x{sb.crc:08x}, computed 0x{crc:08x}",
                                  offset=sb.base + SB_OFFSET_CRC, field="fsid.crc",
                                  where="superblock"))


def _check_tree(image: CramfsImage, report: CheckReport,
                progress: Callable[[int], None] | None) -> None:
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
            report.add(exc)
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
                        offset=e.inode_offset, field="offset", where="inode"))
                    continue
                if e.depth >= MAX_DEPTH:
                    report.add(CramfsLimitError(f"directory deeper than {MAX_DEPTH}",
                                                offset=e.inode_offset, field="offset",
                                                where="inode"))
                    continue
                seen_dirs.add(e.data_offset)
                dir_ranges.append((e.data_offset, e.data_offset + e.size))
                queue.append(e)
            elif stat.S_ISREG(mode) or stat.S_ISLNK(mode):
                key = (e.inode.offset, e.inode.size)
                if e.inode.offset and key in seen_data:
                    continue  # identical file stored once (mkfs.cramfs eliminate_doubles)
                seen_data.add(key)
                nblocks += _check_file(image, e, report)
                if progress:
                    progress(e.size)
            else:
                if e.inode.offset:
                    report.add(CramfsFormatError(
                        "special file has non-zero offset", offset=e.inode_offset,
                        field="offset", where="inode"))
                if (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) and e.size:
                    report.add(CramfsFormatError(
                        "fifo/socket has non-zero size", offset=e.inode_offset,
                        field="size", where="inode"))
                if not (stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode)
                        or stat.S_ISSOCK(mode)):
                    report.add(CramfsFormatError(f"bogus mode 0{mode:o}",
                                                 offset=e.inode_offset, field="mode",
                                                 where="inode"))
    report.files = nfiles
    if sb.fsid_v2 and not report.errors:
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
                                         where="inode"))
        if b"/" in raw or b"\0" in raw or raw in (b".", b".."):
            report.add(CramfsFormatError(f"illegal file name {raw!r}", offset=e.inode_offset,
                                         field="name", where="inode"))
        names.append(raw)
    if len(set(names)) != len(names):
        report.warnings.append(f"directory /{d.path}: duplicate names (lookup finds the first)")
    if flags & 2 and names != sorted(names):
        report.warnings.append(f"directory /{d.path}: SORTED_DIRS set but entries are not "
                               "sorted (cramfs_lookup may miss names)")


def _check_file(image: CramfsImage, e: Entry, report: CheckReport) -> int:
    """One regular file or symlink: offset/size consistency, every block inflates."""
    inode = e.inode
    is_link = stat.S_ISLNK(inode.mode)
    kind = "symbolic link" if is_link else "file inode"
    if inode.size == 0:
        if inode.offset:
            report.add(CramfsFormatError(f"{kind} has zero size and non-zero offset",
                                         offset=e.inode_offset, field="size", where="inode"))
        elif is_link:
            report.add(CramfsFormatError("symbolic link has zero size", offset=e.inode_offset,
                                         field="size", where="inode"))
        return 0
    if inode.offset == 0:
        report.add(CramfsFormatError(f"{kind} has zero offset and non-zero size",
                                     offset=e.inode_offset, field="offset", where="inode"))
        return 0
    try:
        blocks = image.blocks(e)
    except CramfsError as exc:
        report.add(exc)
        return 0
    bs = image.blocksize
    size_limit = image.size
    for b in blocks:
        report.blocks[b.kind.value] = report.blocks.get(b.kind.value, 0) + 1
        if b.end > size_limit:
            report.add(CramfsTruncatedError(
                f"invalid file data offset: block {b.index} ends at 0x{b.end:x} past "
                f"fsid.size 0x{size_limit:x}", offset=b.pointer_offset, field="block pointer",
                where="block pointer"))
            continue
        if b.kind is BlockKind.DIRECT:
            if b.start % bs:
                report.warnings.append(
                    f"/{e.path}: XIP block {b.index} at 0x{b.start:x} is not aligned to "
                    f"{bs}: it cannot be mapped in place")
            if b.index == len(blocks) - 1 and inode.size % bs == 0:
                report.warnings.append(
                    f"/{e.path}: last XIP page ends exactly at the file end; v4.15 "
                    "cramfs_readpage reads it as a hole (offset_in_page(i_size) == 0)")
        try:
            data = image.read_block(b)
        except CramfsError as exc:
            report.add(exc)
            continue
        report.bytes_out += len(data)
    if is_link:
        try:
            target = image.read_file(e)
        except CramfsError:
            return len(blocks)
        if not target or b"\0" in target:
            report.add(CramfsFormatError("symbolic link target is empty or contains NUL",
                                         offset=e.inode_offset, field="size", where="inode"))
    return len(blocks)
