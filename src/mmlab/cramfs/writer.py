"""cramfs writer: util-linux ``disk-utils/mkfs.cramfs.c`` @ v2.38 byte for byte, plus an XIP layout.

Classic images (``xip=()``) mirror ``disk-utils/mkfs.cramfs.c`` of util-linux
2.38 step by step (the file is the same in 2.38.1, which Debian 12 ships and
the tests run), so that ``build_image(tree, **opts)`` equals
``mkfs.cramfs [opts] tree out`` byte for byte
(https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c).
:func:`build_image` runs its phases one private function each:

* ``parse_directory`` (``_scan_directory``): entries sorted with ``strcmp``
  (its ``cramsort``), ``lstat`` metadata; regular files >= 16 MiB truncated
  to 16 MiB - 1, uid to 16 bits, gid to 8 bits, device numbers to 24 bits,
  fifos/sockets get size 0 (each with mkfs.cramfs's warning, as a
  :class:`CramfsWarning`).  File contents are not read here: like
  mkfs.cramfs, which maps a file only while it hashes, compares or
  compresses it, each file is read when its data is written;
* ``eliminate_doubles`` (``_Doubles``, ``_fingerprint``): a regular file or symlink whose bytes
  equal an earlier one (depth-first order) shares its data offset -- symlink
  targets and file contents are compared alike, as mkfs.cramfs does.
  mkfs.cramfs compares MD5 sums, then the bytes; here a file whose size
  occurs more than once gets a CRC32, and equal (size, CRC32) pairs are
  compared byte for byte.  It is decided as the data is written (an
  original always comes before its doubles);
* ``write_directory_structure`` (``_lay_out_directories`` for the offsets,
  ``_write_directory_entries`` once the data offsets are known): entries
  written directory by directory, root first, then each subdirectory depth
  first (``ls -UR`` order);
* ``write_data``/``do_compress`` (``_pieces``, ``_Compressor``,
  ``_DataWriter``): data depth first, per file the block pointer array (END
  offsets) then one zlib ``compress()`` stream (level 6) per block, padded to
  4 bytes; with ``holes`` an all-zero block is stored as an empty block
  (hole).  Files are read in pieces of at most ``_CHUNK_BYTES``, their blocks
  compressed in batches on 2 threads (zlib releases the GIL) while the
  output is written, with at most ``_AHEAD_BYTES`` of input read ahead of it;
* ``main``'s rounding up to the block size (``_round_up_to_block``), then
  ``write_superblock`` and the CRC (``_write_superblock``):
  ``FSID_VERSION_2 | SORTED_DIRS`` (plus ``HOLES`` with ``-z`` and
  ``SHIFTED_ROOT_OFFSET`` with ``-i``), CRC32 over the image from the
  superblock on (``-p`` pad excluded).

The image goes to a sink as it is made: :func:`write_image` writes it to the
output file (``_FileSink``: directory entries and superblock last, then the
CRC read back from the file), :func:`build_image` into one ``io.BytesIO``
(``_MemorySink``) whose buffer becomes the returned ``bytes``.  Either way
the writer holds the metadata, one window of input and compressed blocks,
and (for :func:`build_image`) the image once -- never every input file.

The kernel side of every field is ``fs/cramfs/inode.c @ v4.15``
(https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c) and
``include/uapi/linux/cramfs_fs.h @ v4.15``.

XIP images (``xip`` globs given) follow Nicolas Pitre's ``mkcramfs -X -X``
(github.com/npitre/cramfs-tools ``mkcramfs.c``: ``is_elf_loadable()`` in
``_xip_blocks_of``, ``write_blocks()`` in ``_DataWriter``), the only tool that
makes them; see :func:`build_image`.
"""

from __future__ import annotations

import fnmatch
import io
import os
import stat
import warnings
import zlib
from collections import Counter, deque, namedtuple
from collections.abc import Callable, Iterable, Iterator, Sequence

from .errors import CramfsBuildError, CramfsIOError, CramfsWarning
from .inflate import crc32
from .layout import (
    CRAMFS_BLK_DIRECT_PTR_SHIFT,
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_BLK_FLAGS,
    CRAMFS_FLAG_EXT_BLOCK_POINTERS,
    CRAMFS_FLAG_FSID_VERSION_2,
    CRAMFS_FLAG_HOLES,
    CRAMFS_FLAG_SHIFTED_ROOT_OFFSET,
    CRAMFS_FLAG_SORTED_DIRS,
    CRAMFS_GID_WIDTH,
    CRAMFS_MAGIC,
    CRAMFS_MAXPATHLEN,
    CRAMFS_OFFSET_WIDTH,
    CRAMFS_PAD_SIZE,
    CRAMFS_SIGNATURE,
    CRAMFS_SIZE_WIDTH,
    CRAMFS_UID_WIDTH,
    INODE_SIZE,
    MAX_INPUT_NAMELEN,
    SB_OFFSET_CRC,
    SUPERBLOCK_SIZE,
    Inode,
    SuperblockFields,
    host_endian,
    inode_codec,
    pack_block_pointers,
    pack_superblock,
    pack_u32,
)
from .pool import Job, Pool

# Start-up: ``mmlab cramfs build`` imports this module, so it keeps off ``dataclasses`` and
# ``concurrent.futures`` (with ``logging``: ~8 ms together) and ``construct`` (~12 ms: the
# superblock is packed with :func:`~mmlab.cramfs.layout.pack_superblock`); ``.elf`` and
# ``.tree`` (dataclasses) are imported only by an XIP build and an in-memory tree.
TYPE_CHECKING = False  # what typing.TYPE_CHECKING is, without importing typing
if TYPE_CHECKING:
    from .tree import Dir

# CramfsWarning lives in .errors; it is re-exported here (``from mmlab.cramfs.writer import
# CramfsWarning`` keeps working).
__all__ = ["CramfsWarning", "build_image", "write_image", "MKFS_ZLIB_LEVEL", "XIP_ZLIB_LEVEL"]

MKFS_ZLIB_LEVEL = 6  #: zlib compress() = Z_DEFAULT_COMPRESSION, what mkfs.cramfs uses
XIP_ZLIB_LEVEL = 9  #: mkcramfs (npitre) compress2(..., Z_BEST_COMPRESSION)

_PARALLEL_MIN_BYTES = 256 * 1024  #: below this, compressing in a pool costs more than it saves
_WORKERS = 2  #: compression threads (zlib releases the GIL while it compresses)
_CHUNK_BYTES = 256 * 1024  #: a file is read in pieces of this much (whole blocks, at least one)
_TASK_BYTES = 192 * 1024  #: input per pool task (amortises the per-task overhead)
_AHEAD_BYTES = 2 << 20  #: input read ahead of the output: keeps the pool busy, bounds memory
_AHEAD_PIECES = 1024  #: the same in pieces (doubles and holes give the pool no work)
_FLUSH_BYTES = 1 << 20  #: output gathered before one write to the file

# Per block of a piece (_Piece.kinds): an index >= 0 is the block's place in its batch.
_XIP = -1  #: stored uncompressed at a block-aligned offset (mkcramfs -X)
_HOLE = -2  #: all zeros, stored as an empty block (-z)


class _Entry:
    """mkfs.cramfs's ``struct entry``: one directory entry and its layout."""

    __slots__ = ("name", "mode", "uid", "gid", "size", "relpath", "is_data", "is_reg", "path",
                 "data", "children", "dir_offset", "offset", "same", "xip")

    def __init__(self, name: bytes, mode: int, uid: int, gid: int, size: int,
                 relpath: str) -> None:
        self.name = name
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size  # as stored in the inode (already truncated for regular files)
        self.relpath = relpath
        self.is_data = False  # regular file or symlink (mkfs: entry->path != NULL)
        self.is_reg = False
        self.path: bytes | None = None  # a regular file on disk: read when its data is written
        self.data: bytes | memoryview | None = None  # a symlink's target, an in-memory file
        self.children: list[_Entry] | None = None  # non-empty directories only
        self.dir_offset = 0
        self.offset = 0  # data offset (files, symlinks) or first child (directories)
        self.same: _Entry | None = None
        self.xip: tuple[bool, ...] | None = None  # per block: store direct + uncompressed


class _Options(namedtuple("_Options", "blocksize endian name edition pad insert_file holes xip",
                          defaults=(4096, "host", "Compressed", 0, False, None, False, ()))):
    """The keywords of :func:`build_image` (mkfs.cramfs's options)."""

    __slots__ = ()


_OPTION_NAMES = frozenset(_Options._fields)


class _Warn:
    """Collects mkfs.cramfs's warning categories; emitted once each, like mkfs does at exit."""

    TEXT = {
        "namelen": f"warning: filenames truncated to {MAX_INPUT_NAMELEN} bytes.",
        "namefield": (f"warning: names longer than {CRAMFS_MAXPATHLEN} bytes overflow the "
                      "6-bit namelen field (mkfs.cramfs writes them anyway; the kernel "
                      "cannot read such an entry)."),
        "skip": "warning: files were skipped due to errors.",
        "size": f"warning: file sizes truncated to {1 << (CRAMFS_SIZE_WIDTH - 20)}MB "
                "(minus 1 byte).",
        "uid": f"warning: uids truncated to {CRAMFS_UID_WIDTH} bits.  "
               "(This may be a security concern.)",
        "gid": f"warning: gids truncated to {CRAMFS_GID_WIDTH} bits.  "
               "(This may be a security concern.)",
        # mkfs.cramfs says 26 (it prints CRAMFS_OFFSET_WIDTH); the size field holds 24 bits
        "dev": f"WARNING: device numbers truncated to {CRAMFS_OFFSET_WIDTH} bits.  This almost "
               "certainly means that some device files will be wrong.",
        "elf": "warning: file has the ELF magic but unreadable program headers; "
               "stored compressed (not XIP).",
    }

    def __init__(self) -> None:
        self.seen: dict[str, str] = {}

    def __call__(self, kind: str, path: str) -> None:
        self.seen.setdefault(kind, path)

    def emit(self) -> None:
        for kind in self.TEXT:
            if kind in self.seen:
                warnings.warn(f"{self.TEXT[kind]} (first: {self.seen[kind]!r})",
                              CramfsWarning, stacklevel=3)


# --- reading the input (parse_directory) ------------------------------------------------------


def _meta_checks(e: _Entry, warn: _Warn) -> None:
    if e.uid >= 1 << CRAMFS_UID_WIDTH:
        warn("uid", e.relpath)
    if e.gid >= 1 << CRAMFS_GID_WIDTH:
        warn("gid", e.relpath)
    if len(e.name) > CRAMFS_MAXPATHLEN:
        warn("namefield", e.relpath)


def _truncate_size(size: int, relpath: str, warn: _Warn) -> int:
    if size >= 1 << CRAMFS_SIZE_WIDTH:
        warn("size", relpath)
        return (1 << CRAMFS_SIZE_WIDTH) - 1
    return size


def _rdev_size(rdev: int, relpath: str, warn: _Warn) -> int:
    rdev &= 0xFFFFFFFF  # entry->size is an unsigned int
    if rdev & ~((1 << CRAMFS_SIZE_WIDTH) - 1):
        warn("dev", relpath)
    return rdev


def _scan_directory(path: bytes, rel: str, warn: _Warn) -> tuple[list[_Entry], int]:
    """parse_directory(): entries of ``path`` sorted by strcmp, and their total size."""
    try:
        names = sorted(os.listdir(path))
    except OSError as e:
        raise CramfsIOError(f"could not read directory {os.fsdecode(path)}: {e.strerror}",
                            where="writer") from e
    out: list[_Entry] = []
    total = 0
    for name in names:
        if len(name) > MAX_INPUT_NAMELEN:  # cannot happen on Linux file systems
            warn("namelen", rel + os.fsdecode(name))
            name = name[:MAX_INPUT_NAMELEN]
        full = path + b"/" + name
        relpath = rel + os.fsdecode(name)
        try:
            st = os.lstat(full)
        except OSError:
            warn("skip", relpath)
            continue
        m = st.st_mode
        e = _Entry(name, m, st.st_uid, st.st_gid, st.st_size, relpath)
        _meta_checks(e, warn)
        if stat.S_ISDIR(m):
            kids, e.size = _scan_directory(full, relpath + "/", warn)
            e.children = kids or None
        elif stat.S_ISREG(m):
            e.is_data = e.is_reg = True
            e.size = _truncate_size(st.st_size, relpath, warn)
            if e.size:
                e.path = full  # read when its data is written (_pieces)
        elif stat.S_ISLNK(m):
            e.is_data = True
            try:
                e.data = os.readlink(full)
            except OSError as err:
                raise CramfsIOError(f"readlink failed: {os.fsdecode(full)}: {err.strerror}",
                                    where="writer") from err
            e.size = len(e.data)
        elif stat.S_ISFIFO(m) or stat.S_ISSOCK(m):
            e.size = 0
        else:
            e.size = _rdev_size(st.st_rdev, relpath, warn)
        out.append(e)
        total += INODE_SIZE + ((len(name) + 3) & ~3)
    return out, total


def _scan_tree(d: Dir, rel: str, warn: _Warn) -> tuple[list[_Entry], int]:
    """The same as :func:`_scan_directory` for an in-memory :class:`Dir`."""
    from .tree import Device, Dir, File, Node, Symlink  # only for in-memory trees

    out: list[_Entry] = []
    total = 0
    for name, node in d.sorted_entries():
        relpath = rel + os.fsdecode(name)
        e = _Entry(name, node.st_mode, node.uid, node.gid, 0, relpath)
        _meta_checks(e, warn)
        if isinstance(node, Dir):
            kids, e.size = _scan_tree(node, relpath + "/", warn)
            e.children = kids or None
        elif isinstance(node, File):
            e.is_data = e.is_reg = True
            e.size = _truncate_size(len(node.data), relpath, warn)
            e.data = node.data if len(node.data) == e.size else memoryview(node.data)[:e.size]
        elif isinstance(node, Symlink):
            e.is_data = True
            e.data = node.target
            e.size = len(node.target)
        elif isinstance(node, Device):
            e.size = _rdev_size(node.rdev, relpath, warn)
        elif isinstance(node, Node):
            e.size = 0
        out.append(e)
        total += INODE_SIZE + ((len(name) + 3) & ~3)
    return out, total


def _in_memory(root: str | os.PathLike | Dir) -> bool:
    """Is ``root`` an in-memory :class:`~mmlab.cramfs.tree.Dir` (not a path)?"""
    if isinstance(root, (str, bytes, os.PathLike)):
        return False
    from .tree import Dir  # not loaded for a build from a path

    return isinstance(root, Dir)


def _root_meta(root: str | os.PathLike | Dir) -> tuple[int, int, int]:
    """main()'s ``stat`` of the root (it must be a directory): mode, uid, gid."""
    if _in_memory(root):
        return root.st_mode, root.uid, root.gid
    top = os.fsencode(os.fspath(root))
    try:
        st = os.stat(top)
    except OSError as e:
        raise CramfsIOError(f"stat of {os.fsdecode(top)} failed: {e.strerror}",
                            where="writer") from e
    if not stat.S_ISDIR(st.st_mode):
        raise CramfsBuildError(f"{os.fsdecode(top)} is not a directory", where="writer")
    return st.st_mode, st.st_uid, st.st_gid


def _scan(root: str | os.PathLike | Dir, warn: _Warn) -> tuple[list[_Entry], int]:
    """parse_directory() on a path (``lstat`` below the root) or an in-memory tree."""
    try:
        if _in_memory(root):
            return _scan_tree(root, "", warn)
        return _scan_directory(os.fsencode(os.fspath(root)), "", warn)
    except RecursionError:
        raise CramfsBuildError("directory tree too deep to walk", where="writer") from None


def _preorder(entries: list[_Entry] | None) -> Iterable[_Entry]:
    """Depth-first order of mkfs.cramfs (``eliminate_doubles``, ``write_data``)."""
    stack = [iter(entries or ())]
    while stack:
        e = next(stack[-1], None)
        if e is None:
            stack.pop()
            continue
        yield e
        if e.children:
            stack.append(iter(e.children))


# --- the input files' bytes, read when they are written ---------------------------------------


def _input_error(e: _Entry, err: OSError) -> CramfsIOError:
    # mkfs.cramfs warns "cannot open" and writes an inode that points at the next
    # file's data; refuse instead.
    return CramfsIOError(f"cannot read {os.fsdecode(e.path or b'')}: {err.strerror}",
                         where="writer")


def _changed_size(e: _Entry) -> CramfsIOError:
    return CramfsIOError(f"{os.fsdecode(e.path or b'')} changed size while reading",
                         where="writer")


def _read_exact(f: io.FileIO, n: int) -> bytes:
    """Up to ``n`` bytes, fewer only at the end of the file."""
    data = f.read(n) or b""
    if len(data) == n:
        return data
    parts = [data]
    got = len(data)
    while got < n:
        more = f.read(n - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def _read_whole(e: _Entry) -> bytes:
    """A regular file's first ``e.size`` bytes (the size ``lstat`` saw).

    ``os.open`` + ``os.read``, not ``open()``: a file object costs more than the read of
    a small file (a tenth of the main thread's time on a tree of small files).
    """
    try:
        fd = os.open(e.path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as err:
        raise _input_error(e, err) from err
    try:
        data = os.read(fd, e.size)
        if 0 < len(data) < e.size:  # a short read that is not the end of the file
            parts = [data]
            got = len(data)
            while got < e.size and (more := os.read(fd, e.size - got)):
                parts.append(more)
                got += len(more)
            data = b"".join(parts)
    except OSError as err:
        raise _input_error(e, err) from err
    finally:
        os.close(fd)
    if len(data) != e.size:
        raise _changed_size(e)
    return data


def _chunks(e: _Entry, data: bytes | memoryview | None, chunk: int) -> Iterator[memoryview]:
    """The entry's bytes in pieces of ``chunk`` bytes: slices of ``data``, else read now."""
    if data is not None:
        mv = memoryview(data)
        for start in range(0, e.size, chunk):
            yield mv[start:start + chunk]
        return
    try:
        f = open(e.path, "rb", buffering=0)
    except OSError as err:
        raise _input_error(e, err) from err
    with f:
        for start in range(0, e.size, chunk):
            want = min(chunk, e.size - start)
            try:
                part = _read_exact(f, want)
            except OSError as err:
                raise _input_error(e, err) from err
            if len(part) != want:
                raise _changed_size(e)
            yield memoryview(part)


# --- XIP planning and eliminate_doubles -------------------------------------------------------


def _xip_blocks_of(e: _Entry, data: bytes | memoryview, blksize: int,
                   warn: _Warn) -> tuple[bool, ...] | None:
    """mkcramfs -X's ``is_elf_loadable()`` per block of a file a glob matched (None: no XIP)."""
    from . import elf  # only XIP builds look at ELF headers

    nblocks = (e.size - 1) // blksize + 1
    if elf.is_elf(data):
        info = elf.parse_elf(data)
        if info is None:
            warn("elf", e.relpath)
            return None
        plan = tuple(elf.xip_blocks(info, e.size, blksize))
        return plan if any(plan) else None
    return (True,) * nblocks


def _same_bytes(a: _Entry, b: _Entry, b_data: bytes | memoryview | None, chunk: int) -> bool:
    """identical_file(): the two entries' bytes compared (both have ``size`` bytes)."""
    return all(x.tobytes() == y.tobytes()
               for x, y in zip(_chunks(a, a.data, chunk), _chunks(b, b_data, chunk), strict=True))


def _fingerprint(e: _Entry, data: bytes | memoryview | None, chunk: int) -> int:
    """mdfile(): what picks the candidates among files of one size (a CRC32 of the bytes)."""
    crc = 0
    for part in _chunks(e, data, chunk):
        crc = crc32(part, crc)
    return crc


class _Doubles:
    """eliminate_doubles(): for each file, the first earlier one with the same bytes and plan.

    Only sizes that occur more than once are looked at; a CRC32 of the bytes picks the
    candidates (mkfs.cramfs: an MD5 sum), which are then compared byte for byte.
    """

    def __init__(self, all_entries: list[_Entry], chunk: int) -> None:
        counts = Counter(e.size for e in all_entries if e.is_data and e.size)
        self.shared_sizes = frozenset(size for size, n in counts.items() if n > 1)
        self.chunk = chunk
        self.originals: dict[tuple[int, int, tuple[bool, ...] | None], list[_Entry]] = {}

    def original_of(self, e: _Entry, data: bytes | memoryview | None) -> _Entry | None:
        """The earlier entry whose data ``e`` shares, or None (``e`` is stored)."""
        if e.size not in self.shared_sizes:
            return None
        key = (e.size, _fingerprint(e, data, self.chunk), e.xip)
        group = self.originals.setdefault(key, [])
        for orig in group:
            if _same_bytes(orig, e, data, self.chunk):
                return orig
        group.append(e)
        return None


# --- write_data() / do_compress(): pieces, compression, output -------------------------------


class _Batch:
    """Blocks compressed together by one pool task (or here, for small inputs)."""

    __slots__ = ("blocks", "nbytes", "future", "out")

    def __init__(self, blocks: list[memoryview]) -> None:
        self.blocks = blocks
        self.nbytes = 0
        self.future: Job | None = None
        self.out: list[bytes] | None = None


class _Piece:
    """Whole blocks of one stored file (at most ``_CHUNK_BYTES``), or a file that is a double."""

    __slots__ = ("entry", "first", "data", "last", "kinds", "batch")

    def __init__(self, entry: _Entry, first: int = 0, data: memoryview | None = None,
                 last: bool = True) -> None:
        self.entry = entry
        self.first = first  #: index in the file of the piece's first block
        self.data = data  #: None: the file shares ``entry.same``'s data
        self.last = last  #: the file's last piece
        self.kinds: list[int] | None = None  #: per block: _XIP, _HOLE or its index in batch
        self.batch: _Batch | None = None


def _pieces(all_entries: list[_Entry], globs: tuple[str, ...], blksize: int,
            warn: _Warn) -> Iterator[_Piece]:
    """eliminate_doubles() and write_data()'s walk: every file with data, depth first.

    A file's XIP plan comes first (it needs the bytes: a matched file is read whole),
    then whether it is a double, then its bytes, read piece by piece.
    """
    chunk = max(blksize, _CHUNK_BYTES // blksize * blksize)
    doubles = _Doubles(all_entries, chunk)
    for e in all_entries:
        if not (e.is_data and e.size):
            continue
        data = e.data
        if globs and e.is_reg and any(fnmatch.fnmatchcase(e.relpath, g) for g in globs):
            if data is None:
                data = _read_whole(e)
            e.xip = _xip_blocks_of(e, data, blksize, warn)
        if data is None and e.size <= chunk:
            data = _read_whole(e)  # small files: read once, for the CRC and the blocks
        orig = doubles.original_of(e, data)
        if orig is not None:
            e.same = orig
            yield _Piece(e)
            continue
        start = 0
        for part in _chunks(e, data, chunk):
            end = start + len(part)
            yield _Piece(e, start // blksize, part, end == e.size)
            start = end


def _compress_blocks(blocks: list[memoryview], level: int) -> list[bytes]:
    return [zlib.compress(b, level) for b in blocks]


class _Compressor:
    """do_compress()'s ``compress()`` of every block, in batches of about ``_TASK_BYTES``.

    With a pool, a full batch is submitted at once and its result collected when the
    writer reaches it; without one (small inputs), a batch is compressed when needed.
    """

    def __init__(self, level: int, pool: Pool | None, *, blksize: int,
                 holes: bool) -> None:
        self.level = level
        self.pool = pool
        self.blksize = blksize
        self.holes = holes
        self.zero = bytes(blksize)
        self.open = _Batch([])

    def add(self, p: _Piece) -> None:
        """Sort ``p``'s blocks: XIP page, hole (``-z``) or a compress() job for the batch."""
        e, mv, blksize = p.entry, p.data, self.blksize
        batch = self.open
        if not e.xip and not self.holes:  # every block compressed: no look at its bytes
            first = len(batch.blocks)
            batch.blocks += [mv[i:i + blksize] for i in range(0, len(mv), blksize)]
            batch.nbytes += len(mv)
            p.kinds, p.batch = list(range(first, len(batch.blocks))), batch
            if batch.nbytes >= _TASK_BYTES:
                self.start(batch)
            return
        kinds = []
        for j, start in enumerate(range(0, len(mv), blksize)):
            blk = mv[start:start + blksize]
            if e.xip and e.xip[p.first + j]:
                kinds.append(_XIP)
            elif self.holes and blk.tobytes() == self.zero[: len(blk)]:
                kinds.append(_HOLE)
            else:
                kinds.append(len(batch.blocks))
                batch.blocks.append(blk)
                batch.nbytes += len(blk)
        p.kinds, p.batch = kinds, batch
        if batch.nbytes >= _TASK_BYTES:
            self.start(batch)

    def start(self, batch: _Batch) -> None:
        """Submit ``batch`` (the open one by default; a new one opens)."""
        if batch is self.open:
            self.open = _Batch([])
        if batch.future is not None or batch.out is not None:
            return
        if self.pool is None:
            batch.out = _compress_blocks(batch.blocks, self.level)
        else:
            batch.future = self.pool.submit(_compress_blocks, batch.blocks, self.level)
        batch.blocks = []

    def get(self, batch: _Batch, index: int) -> bytes:
        """The compressed block ``index`` of ``batch`` (waits for it)."""
        if batch.out is None:
            self.start(batch)
            if batch.future is not None:
                batch.out = batch.future.result()
                batch.future = None
        return batch.out[index]


class _DataWriter:
    """write_data() + do_compress() (mkcramfs' write_blocks() with XIP), one piece at a time.

    ``pos`` is the write cursor (mkfs' ``curr``).  Alignment gaps are skipped, not
    written: after a literal block mkcramfs leaves the tail of the discarded compressed
    attempt there, and so do we (the sinks overwrite in place).
    """

    def __init__(self, sink: _Sink, pos: int, comp: _Compressor, *, blksize: int,
                 endian: str, xip_mode: bool, flags: int) -> None:
        self.sink = sink
        self.pos = pos
        self.comp = comp
        self.blksize = blksize
        self.endian = endian
        self.xip_mode = xip_mode
        self.flags = flags
        self.total_blocks = 0
        self.start = 0  # where the current file's block pointers are
        self.ptrs: list[int] = []

    def write(self, p: _Piece) -> None:
        e = p.entry
        if p.data is None:  # a double: the original was written before it
            e.offset = e.same.offset
            return
        sink, blksize, pos = self.sink, self.blksize, self.pos
        if p.first == 0:
            self.start = e.offset = pos
            _check_offset(pos, e)
            nblocks = (e.size - 1) // blksize + 1
            self.total_blocks += nblocks
            self.ptrs = []
            pos = sink.put(pos, bytes(4 * nblocks))
        if not self.xip_mode:
            self.pos = self._write_classic(p, pos)
            return
        ptrs = self.ptrs
        mv = p.data
        for j, kind in enumerate(p.kinds):
            blk = mv[j * blksize:(j + 1) * blksize]
            if kind == _HOLE:  # an empty block
                ptr = pos
                if self.xip_mode:
                    self.flags |= CRAMFS_FLAG_HOLES
            elif kind == _XIP:
                pos += -pos % blksize
                ptr = ((pos >> CRAMFS_BLK_DIRECT_PTR_SHIFT) | CRAMFS_BLK_FLAG_DIRECT_PTR
                       | CRAMFS_BLK_FLAG_UNCOMPRESSED)
                pos = sink.put(pos, blk)
            else:
                z = self.comp.get(p.batch, kind)
                if self.xip_mode and len(z) >= len(blk):  # mkcramfs: "literal N vs compressed M"
                    sink.put(pos, z)  # compressed first, then overwritten by the literal
                    pos = sink.put(pos, blk)
                    ptr = pos | CRAMFS_BLK_FLAG_UNCOMPRESSED
                else:
                    if len(z) > 2 * blksize:
                        raise CramfsBuildError(
                            f"AIEEE: block \"compressed\" to > 2*blocklength ({len(z)}) "
                            f"in {e.relpath!r}", where="writer")
                    pos = sink.put(pos, z)
                    ptr = pos
            if ptr & CRAMFS_BLK_FLAGS:
                self.flags |= CRAMFS_FLAG_EXT_BLOCK_POINTERS
            ptrs.append(ptr)
        if p.last:
            sink.put(self.start, pack_block_pointers(self.endian, ptrs))
            pos += -pos % 4
        self.pos = pos

    def _write_classic(self, p: _Piece, pos: int) -> int:
        """:meth:`write`'s loop for mkfs.cramfs's layout (no XIP): each block compressed, or
        empty (a hole), back to back; the piece's blocks go to the sink in one piece."""
        e, ptrs, limit = p.entry, self.ptrs, 2 * self.blksize
        parts: list[bytes] = []
        start = pos
        out: list[bytes] | None = None
        for kind in p.kinds:
            if kind != _HOLE:
                if out is None:
                    self.comp.get(p.batch, kind)  # waits for the piece's batch
                    out = p.batch.out
                z = out[kind]
                if len(z) > limit:
                    raise CramfsBuildError(
                        f"AIEEE: block \"compressed\" to > 2*blocklength ({len(z)}) "
                        f"in {e.relpath!r}", where="writer")
                parts.append(z)
                pos += len(z)
            ptrs.append(pos)
        if parts:
            self.sink.put(start, parts[0] if len(parts) == 1 else b"".join(parts))
        if pos & CRAMFS_BLK_FLAGS and any(q & CRAMFS_BLK_FLAGS for q in ptrs):
            self.flags |= CRAMFS_FLAG_EXT_BLOCK_POINTERS  # as write() would (never below 1 GiB)
        if p.last:
            self.sink.put(self.start, pack_block_pointers(self.endian, ptrs))
            pos += -pos % 4
        return pos


def _write_data(sink: _Sink, pos: int, all_entries: list[_Entry], *, blksize: int,
                endian: str, holes: bool, globs: tuple[str, ...], flags: int,
                warn: _Warn) -> tuple[int, int, int]:
    """write_data(): every file's data from ``pos`` on; returns (cursor, blocks, flags).

    The pieces are read (and their blocks submitted to the pool) up to
    ``_AHEAD_BYTES`` ahead of the one being written, so that both threads stay busy
    while memory stays bounded, whatever the size of the tree.
    """
    xip_mode = bool(globs)
    level = XIP_ZLIB_LEVEL if xip_mode else MKFS_ZLIB_LEVEL
    parallel = sum(e.size for e in all_entries if e.is_data) >= _PARALLEL_MIN_BYTES
    pool = Pool(_WORKERS, "cramfs-zlib") if parallel else None
    comp = _Compressor(level, pool, blksize=blksize, holes=holes)
    out = _DataWriter(sink, pos, comp, blksize=blksize, endian=endian, xip_mode=xip_mode,
                      flags=flags)
    pieces = _pieces(all_entries, globs, blksize, warn)
    window: deque[_Piece] = deque()
    held = 0  # input bytes in the window
    try:
        for p in pieces:
            if p.data is not None:
                comp.add(p)
                held += len(p.data)
            window.append(p)
            while held > _AHEAD_BYTES or len(window) > _AHEAD_PIECES:
                q = window.popleft()
                held -= len(q.data) if q.data is not None else 0
                out.write(q)
        if comp.open.blocks:
            comp.start(comp.open)
        while window:
            out.write(window.popleft())
    finally:
        pieces.close()
        if pool is not None:
            pool.shutdown()  # cancels the batches not started, waits for the running ones
    return out.pos, out.total_blocks, out.flags


# --- helpers for the image --------------------------------------------------------------------


def _check_options(blocksize: int, endian: str, edition: int) -> str:
    if not isinstance(blocksize, int) or blocksize < 1 or blocksize & (blocksize - 1):
        raise CramfsBuildError(f"block size must be a power of two, not {blocksize!r}",
                               where="writer")
    if endian == "host":
        endian = host_endian()
    if endian not in ("little", "big"):
        raise CramfsBuildError(f"invalid endianness {endian!r}; must be 'big', 'little', "
                               "or 'host'", where="writer")
    if not isinstance(edition, int) or not 0 <= edition < 1 << 32:
        raise CramfsBuildError(f"edition {edition!r} does not fit in 32 bits", where="writer")
    return endian


def _super_name(name: str | bytes) -> bytes:
    raw = os.fsencode(name) if isinstance(name, str) else bytes(name)
    return raw.split(b"\0", 1)[0][:16].ljust(16, b"\0")  # strncpy(super->name, name, 16)


def _insert_bytes(insert_file: str | os.PathLike | bytes | None) -> bytes:
    if insert_file is None:
        return b""
    if isinstance(insert_file, bytes | bytearray | memoryview):
        return bytes(insert_file)
    try:
        length = os.lstat(insert_file).st_size  # mkfs.cramfs: lstat, then mmap that length
        with open(insert_file, "rb") as f:
            data = f.read(length)
    except OSError as e:
        raise CramfsIOError(f"cannot read -i file {os.fsdecode(insert_file)}: {e.strerror}",
                            where="writer") from e
    if len(data) != length:
        raise CramfsIOError(f"-i file {os.fsdecode(insert_file)} is shorter than its size",
                            where="writer")
    return data


def _maxfslen(blksize: int) -> int:
    """maxfslen(): the largest image mkfs.cramfs agrees to write."""
    return ((((1 << CRAMFS_OFFSET_WIDTH) - 1) << 2) + (1 << CRAMFS_SIZE_WIDTH) - 1
            + (1 << CRAMFS_SIZE_WIDTH) * 4 // blksize)


def _check_offset(offset: int, e: _Entry) -> int:
    """set_data_offset(): offsets live in a 26-bit field of 4-byte units."""
    if offset >= 1 << (2 + CRAMFS_OFFSET_WIDTH):
        raise CramfsBuildError(f"filesystem too big: data of {e.relpath!r} would start at "
                               f"0x{offset:x} (limit 0x{1 << 28:x})", where="writer")
    return offset >> 2


# --- where the image goes ---------------------------------------------------------------------


class _MemorySink:
    """The image in one ``io.BytesIO`` (build_image): its ``getvalue()`` hands over the buffer.

    Writing past the end zero-fills the gap, writing inside overwrites, as in
    mkfs.cramfs's zeroed image buffer.
    """

    def __init__(self) -> None:
        self.buf = io.BytesIO()
        self.at = 0  # the BytesIO's position

    def put(self, pos: int, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at ``pos``; returns the position after it."""
        if pos != self.at:
            self.buf.seek(pos)
        self.at = pos + self.buf.write(data)
        return self.at

    def truncate(self, size: int) -> None:
        """Cut or zero-extend the image to ``size`` bytes."""
        end = self.buf.seek(0, io.SEEK_END)
        if size < end:
            self.buf.truncate(size)
        elif size > end:
            self.buf.write(bytes(size - end))
        self.at = self.buf.seek(0, io.SEEK_END)

    def crc32(self, start: int) -> int:
        """CRC32 of the image from ``start`` on."""
        with self.buf.getbuffer() as mv, mv[start:] as tail:
            return crc32(tail)

    def value(self) -> bytes:
        """The image (no copy: the BytesIO gives up its buffer)."""
        return self.buf.getvalue()


class _FileSink:
    """The image written to a regular file as it is made (write_image).

    Writes at or after ``base`` gather in ``buf`` and go to the file
    ``_FLUSH_BYTES`` at a time; the file holds nothing at or after ``base``, so a
    gap is zeros there too.  Writes below ``base`` (block pointers of a file bigger
    than the buffer, the directory and superblock at the end) are ``pwrite`` calls.
    The CRC is read back from the file.
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.buf = bytearray()
        self.base = 0

    def _error(self, err: OSError, what: str = "write") -> CramfsIOError:
        return CramfsIOError(f"cannot {what} {self.name}: {err.strerror}", where="writer")

    def _pwrite(self, data: bytes | bytearray | memoryview, pos: int) -> None:
        mv = memoryview(data)
        try:
            while mv:
                n = os.pwrite(self.fd, mv, pos)
                mv, pos = mv[n:], pos + n
        except OSError as err:
            raise self._error(err) from err

    def _flush(self) -> None:
        if self.buf:
            self._pwrite(self.buf, self.base)
            self.base += len(self.buf)
            self.buf = bytearray()

    def put(self, pos: int, data: bytes | bytearray | memoryview) -> int:
        """Write ``data`` at ``pos``; returns the position after it."""
        end = pos + len(data)
        if pos < self.base:
            below = min(end, self.base) - pos
            self._pwrite(memoryview(data)[:below], pos)
            if end <= self.base:
                return end
            data, pos = memoryview(data)[below:], self.base
        off = pos - self.base
        if off > len(self.buf):
            self.buf += bytes(off - len(self.buf))
        self.buf[off:off + len(data)] = data
        if len(self.buf) >= _FLUSH_BYTES:
            self._flush()
        return end

    def truncate(self, size: int) -> None:
        """Cut or zero-extend the image to ``size`` bytes."""
        self._flush()
        try:
            os.ftruncate(self.fd, size)
        except OSError as err:
            raise self._error(err) from err
        self.base = size

    def crc32(self, start: int) -> int:
        """CRC32 of the image from ``start`` on, read back from the file."""
        self._flush()
        crc = 0
        buf = memoryview(bytearray(_FLUSH_BYTES))
        pos = start
        try:
            while pos < self.base:
                n = os.preadv(self.fd, [buf[:min(len(buf), self.base - pos)]], pos)
                if not n:
                    raise CramfsIOError(f"{self.name} shrank while it was written",
                                        where="writer")
                crc = crc32(buf[:n], crc)
                pos += n
        except OSError as err:
            raise self._error(err, "read back") from err
        return crc


_Sink = _MemorySink | _FileSink


def _existing_special(path: str | os.PathLike) -> bool:
    """Does ``path`` name something that exists and is not a regular file (a FIFO, a device)?"""
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


class _Output:
    """write_image()'s output file: opened like mkfs.cramfs (``O_CREAT | O_TRUNC``, 0666).

    A regular file gets the image streamed into it (:class:`_FileSink`); anything
    else (a pipe, a device, a file we may write but not read back) gets the image
    built in memory and written whole.  After a failure no partial image is left: a
    file this call created is removed, one that existed is left empty (it was
    truncated when opened, as mkfs.cramfs does).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = path
        self.name = os.fsdecode(path)
        self.fd = -1
        self.created = False
        self.regular = False
        self.sink: _Sink | None = None

    def open(self) -> _Sink:
        flags = os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        try:
            if _existing_special(self.path):
                # A FIFO (or a device) is opened for writing only: a FIFO opened read-write
                # would not wait for its reader, and bytes written before the reader opens
                # vanish when we close it.
                self.fd = os.open(self.path, flags | os.O_WRONLY, 0o666)
                self.sink = _MemorySink()
                return self.sink
            try:
                self.fd = os.open(self.path, flags | os.O_RDWR | os.O_EXCL, 0o666)
                self.created = True
            except FileExistsError:
                try:
                    self.fd = os.open(self.path, flags | os.O_RDWR, 0o666)
                except PermissionError:  # writable, not readable: no read-back of the CRC
                    self.fd = os.open(self.path, flags | os.O_WRONLY, 0o666)
                    self.sink = _MemorySink()
            self.regular = stat.S_ISREG(os.fstat(self.fd).st_mode)
        except OSError as e:
            raise CramfsIOError(f"cannot write {self.name}: {e.strerror}",
                                where="writer") from e
        if self.sink is None:
            self.sink = _FileSink(self.fd, self.name) if self.regular else _MemorySink()
        return self.sink

    def close(self) -> None:
        """Write an image built in memory, and close the file."""
        try:
            if isinstance(self.sink, _MemorySink):
                data = memoryview(self.sink.value())
                while data:
                    data = data[os.write(self.fd, data):]
            fd, self.fd = self.fd, -1
            os.close(fd)
        except OSError as e:
            raise CramfsIOError(f"cannot write {self.name}: {e.strerror}",
                                where="writer") from e

    def discard(self) -> None:
        """After a failure: remove the file if we created it, else leave it empty."""
        if self.fd < 0:
            return
        try:
            if self.regular and self.created:
                os.unlink(self.path)
            elif self.regular:
                os.ftruncate(self.fd, 0)
        except OSError:
            pass
        finally:
            os.close(self.fd)
            self.fd = -1


# --- the image, phase by phase (mkfs.cramfs main()) -------------------------------------------


def _lay_out_directories(entries: list[_Entry], insert: bytes,
                         padsize: int) -> tuple[bytearray, int, int]:
    """main() + write_directory_structure() offsets: (header, root offset, inodes).

    The header is the image up to the first data: [pad] superblock [-i image] and the
    directory entries, zeros for now but the ``-i`` image.
    """
    # layout: [pad] superblock [-i image] directory entries, then data
    insert_len = (len(insert) + 3) & ~3
    root_offset = padsize + SUPERBLOCK_SIZE + insert_len
    offset = root_offset
    files = 1
    # write_directory_structure(): width-first per directory, subdirectories depth first
    stack: list[_Entry] = []
    current = entries
    while True:
        start = len(stack)
        for e in current:
            e.dir_offset = offset
            offset += INODE_SIZE + ((len(e.name) + 3) & ~3)
            files += 1
            if e.children:
                stack.append(e)
        stack[start:] = stack[start:][::-1]
        if not stack:
            break
        d = stack.pop()
        d.offset = offset
        current = d.children or []

    header = bytearray(offset)
    header[padsize + SUPERBLOCK_SIZE:padsize + SUPERBLOCK_SIZE + len(insert)] = insert
    return header, root_offset, files


def _round_up_to_block(sink: _Sink, pos: int, blksize: int) -> int:
    """main()'s last step: pad to a whole block ("so that losetup works"), within maxfslen()."""
    pos += -pos % blksize
    sink.truncate(pos)
    if pos > _maxfslen(blksize):
        raise CramfsBuildError(f"filesystem too big: {pos} bytes (limit "
                               f"{_maxfslen(blksize)})", where="writer")
    return pos


def _write_directory_entries(header: bytearray, all_entries: list[_Entry], endian: str) -> None:
    """write_directory_structure() + set_data_offset(): every inode and name, offsets known."""
    pack = inode_codec(endian).pack_truncated  # mode, uid, size, gid, namelen cut as in C
    for e in all_entries:
        off = _check_offset(e.offset, e) if (e.children or (e.is_data and e.size)) else 0
        pos = e.dir_offset
        name = e.name
        header[pos:pos + INODE_SIZE] = pack(e.mode, e.uid, e.size, e.gid, (len(name) + 3) >> 2,
                                            off)
        header[pos + INODE_SIZE:pos + INODE_SIZE + len(name)] = name


def _write_superblock(sink: _Sink, header: bytearray, padsize: int, endian: str, *, size: int,
                      flags: int, edition: int, blocks: int, files: int, name: str | bytes,
                      root: dict[str, int]) -> None:
    """write_superblock() + main()'s CRC32 from the superblock on (fsid.crc summed as 0)."""
    header[padsize:padsize + SUPERBLOCK_SIZE] = pack_superblock(endian, SuperblockFields(
        CRAMFS_MAGIC, size, flags, 0, CRAMFS_SIGNATURE, 0, edition, blocks, files,
        _super_name(name), Inode(**root)))
    sink.put(0, header)
    crc = sink.crc32(padsize)
    sink.put(padsize + SB_OFFSET_CRC, pack_u32(endian, crc))


def _build(root: str | os.PathLike | Dir, opts: _Options, open_sink: Callable[[], _Sink]) -> _Warn:
    """mkfs.cramfs's main(): the image of ``root`` into the sink ``open_sink()`` returns.

    The sink is opened once the options, the root and the ``-i`` file are known to be
    good, and before the tree is read (mkfs.cramfs also truncates its output first).
    Returns the warnings, for the caller to emit once the image is complete.
    """
    endian = _check_options(opts.blocksize, opts.endian, opts.edition)
    globs = (opts.xip,) if isinstance(opts.xip, str) else tuple(opts.xip)
    blksize = opts.blocksize
    warn = _Warn()
    root_mode, root_uid, root_gid = _root_meta(root)
    insert = _insert_bytes(opts.insert_file)
    padsize = CRAMFS_PAD_SIZE if opts.pad else 0
    sink = open_sink()

    # reading the input: parse_directory() (metadata; the bytes are read as they are written)
    entries, root_size = _scan(root, warn)
    all_entries = list(_preorder(entries))

    # layout: [pad] superblock [-i image] directory entries, then data
    header, root_offset, files = _lay_out_directories(entries, insert, padsize)

    # write_data() / do_compress() (mkfs.cramfs) or write_blocks() (mkcramfs -X), with
    # eliminate_doubles() decided on the way
    flags = CRAMFS_FLAG_FSID_VERSION_2 | CRAMFS_FLAG_SORTED_DIRS
    if opts.holes and not globs:
        flags |= CRAMFS_FLAG_HOLES
    if insert:
        flags |= CRAMFS_FLAG_SHIFTED_ROOT_OFFSET
    pos, total_blocks, flags = _write_data(sink, len(header), all_entries, blksize=blksize,
                                           endian=endian, holes=opts.holes, globs=globs,
                                           flags=flags, warn=warn)
    # "We always write a multiple of blksize bytes, so that losetup works."
    size = _round_up_to_block(sink, pos, blksize)

    # directory entries, now that every offset is known; then write_superblock() and the CRC
    _write_directory_entries(header, all_entries, endian)
    _write_superblock(sink, header, padsize, endian, size=size, flags=flags,
                      edition=opts.edition, blocks=total_blocks, files=files, name=opts.name,
                      root={
                          "mode": root_mode & 0xFFFF, "uid": root_uid & 0xFFFF,
                          "size": root_size & 0xFFFFFF, "gid": root_gid & 0xFF,
                          "namelen": 0, "offset": root_offset >> 2,
                      })
    return warn


def build_image(
    root: str | os.PathLike | Dir,
    *,
    blocksize: int = 4096,
    endian: str = "host",
    name: str | bytes = "Compressed",
    edition: int = 0,
    pad: bool = False,
    insert_file: str | os.PathLike | bytes | None = None,
    holes: bool = False,
    xip: Sequence[str] = (),
) -> bytes:
    """Build a cramfs image of ``root`` and return its bytes.

    ``root`` is a directory path (read like mkfs.cramfs: ``stat`` on the root,
    ``lstat`` below) or an in-memory :class:`mmlab.cramfs.tree.Dir`.  The
    keywords are mkfs.cramfs's options: ``blocksize`` = ``-b`` (a power of
    two; the kernel needs it to equal ``PAGE_SIZE``), ``endian`` = ``-N``
    (``"host"``, ``"little"``, ``"big"``), ``name`` = ``-n`` (16 bytes,
    truncated), ``edition`` = ``-e``, ``pad`` = ``-p`` (512 zero bytes for a
    boot loader in front of the superblock), ``insert_file`` = ``-i`` (a path,
    or the bytes themselves), ``holes`` = ``-z``.  With ``xip=()`` the result
    equals ``mkfs.cramfs`` (util-linux 2.38) byte for byte, warnings included
    (:class:`CramfsWarning`, same truncations).

    Where it differs from mkfs.cramfs on purpose: an unreadable file or
    directory raises :class:`~mmlab.cramfs.errors.CramfsIOError` (mkfs.cramfs
    warns and writes an inode pointing at the next file's data); an image
    that outgrows the 26-bit offsets raises
    :class:`~mmlab.cramfs.errors.CramfsBuildError` ("filesystem too big");
    the "guestimate of required size" warning is not emitted; regular files
    are truncated when ``st_size >= 16 MiB`` (2.38 compares the size after
    a 32-bit cast, so files of 4 GiB and more wrap).

    ``xip``: ``fnmatch`` globs on the path relative to the root (``"bin/*"``,
    ``"lib/*.so*"``; ``*`` also matches ``/``).  Matched regular files are laid
    out like ``mkcramfs -X -X`` does (``write_blocks()`` in npitre's
    cramfs-tools): their XIP blocks are stored uncompressed at a
    ``blocksize``-aligned offset with a direct pointer
    ``(offset >> 2) | CRAMFS_BLK_FLAG_DIRECT_PTR | CRAMFS_BLK_FLAG_UNCOMPRESSED``,
    consecutive XIP blocks are contiguous, and the file's last block holds just
    the remaining bytes (so the next file's data may share that page, which
    ``cramfs_last_page_is_shared()`` checks before mapping it).  For an ELF
    file (32/64-bit, either byte order) only the blocks overlapping a
    ``PT_LOAD`` segment with ``PF_R``/``PF_X`` and without ``PF_W`` are XIP
    (partial XIP, see :mod:`mmlab.cramfs.elf`); other matched files are XIP
    entirely.  The rest of an XIP image also follows mkcramfs: blocks are
    compressed at level 9, a block that does not shrink is stored as a
    classic pointer with ``CRAMFS_BLK_FLAG_UNCOMPRESSED``, ``CRAMFS_FLAG_HOLES``
    is set only if a hole was made, and ``CRAMFS_FLAG_EXT_BLOCK_POINTERS``
    (0x800) whenever a pointer carries a flag.  Identical files share data only
    when their XIP plans are equal.  These images need a v4.15+ kernel; util-linux's
    fsck.cramfs rejects the 0x800 flag.

    Memory: the image is held once (the returned ``bytes`` are the buffer it was
    written into); input files are read piece by piece as their data is written,
    never all at once.  :func:`write_image` does not hold the image either.

    util-linux: ``main`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    opts = _Options(blocksize, endian, name, edition, pad, insert_file, holes, xip)
    sink = _MemorySink()
    warn = _build(root, opts, lambda: sink)
    warn.emit()
    return sink.value()


def write_image(
    root: str | os.PathLike | Dir,
    out_path: str | os.PathLike,
    **options,
) -> None:
    """``mkfs.cramfs [options] root out_path``: the image of :func:`build_image`, to a file.

    Takes the same keywords as :func:`build_image`.  Like mkfs.cramfs, the
    output is opened (created or truncated, mode 0666 before the umask) before
    the tree is read.  A regular file gets the image as it is made: each input
    file is read when its data is written, blocks are compressed a window at a
    time, and the directory, superblock and CRC come last, so memory stays
    small whatever the size of the image (a pipe or a device gets the image
    built in memory, then written whole).  An unwritable path raises
    :class:`~mmlab.cramfs.errors.CramfsIOError`; after any failure no partial
    image is left (a file this call created is removed, an existing one is
    left empty).

    util-linux: ``main`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    unknown = sorted(set(options) - _OPTION_NAMES)
    if unknown:
        raise TypeError(f"write_image() got an unexpected keyword argument {unknown[0]!r}")
    opts = _Options(**options)
    out = _Output(out_path)
    try:
        warn = _build(root, opts, out.open)
        out.close()
    except BaseException:
        out.discard()
        raise
    warn.emit()
