"""cramfs writer: util-linux ``disk-utils/mkfs.cramfs.c`` @ v2.38 byte for byte, plus an XIP layout.

Classic images (``xip=()``) mirror ``disk-utils/mkfs.cramfs.c`` of util-linux
2.38 step by step (the file is the same in 2.38.1, which Debian 12 ships and
the tests run), so that ``build_image(tree, **opts)`` equals
``mkfs.cramfs [opts] tree out`` byte for byte
(https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c).
:func:`build_image` runs its phases one private function each:

* ``parse_directory`` (``_read_input``): entries sorted with ``strcmp`` (its
  ``cramsort``), ``lstat`` metadata; regular files >= 16 MiB truncated to
  16 MiB - 1, uid to 16 bits, gid to 8 bits, device numbers to 24 bits,
  fifos/sockets get size 0 (each with mkfs.cramfs's warning, as a
  :class:`CramfsWarning`);
* ``eliminate_doubles`` (``_eliminate_doubles``): a regular file or symlink
  whose bytes equal an earlier one (depth-first order) shares its data offset
  -- symlink targets and file contents are compared alike, as mkfs.cramfs
  does;
* ``write_directory_structure`` (``_lay_out_directories`` for the offsets,
  ``_write_directory_entries`` once the data offsets are known): entries
  written directory by directory, root first, then each subdirectory depth
  first (``ls -UR`` order);
* ``write_data``/``do_compress`` (``_split_blocks``, ``_compress_all``,
  ``_write_data``): data depth first, per file the block pointer array (END
  offsets) then one zlib ``compress()`` stream (level 6) per block, padded to
  4 bytes; with ``holes`` an all-zero block is stored as an empty block
  (hole);
* ``main``'s rounding up to the block size (``_round_up_to_block``), then
  ``write_superblock`` and the CRC (``_write_superblock``):
  ``FSID_VERSION_2 | SORTED_DIRS`` (plus ``HOLES`` with ``-z`` and
  ``SHIFTED_ROOT_OFFSET`` with ``-i``), CRC32 over the image from the
  superblock on (``-p`` pad excluded).

The kernel side of every field is ``fs/cramfs/inode.c @ v4.15``
(https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c) and
``include/uapi/linux/cramfs_fs.h @ v4.15``.

XIP images (``xip`` globs given) follow Nicolas Pitre's ``mkcramfs -X -X``
(github.com/npitre/cramfs-tools ``mkcramfs.c``: ``is_elf_loadable()`` in
``_plan_xip``, ``write_blocks()`` in ``_write_data``), the only tool that
makes them; see :func:`build_image`.
"""

from __future__ import annotations

import fnmatch
import os
import stat
import warnings
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from . import elf
from .errors import CramfsBuildError, CramfsIOError, CramfsWarning
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
    CRAMFS_NAMELEN_WIDTH,
    CRAMFS_OFFSET_WIDTH,
    CRAMFS_PAD_SIZE,
    CRAMFS_SIGNATURE,
    CRAMFS_SIZE_WIDTH,
    CRAMFS_UID_WIDTH,
    INODE_SIZE,
    SB_OFFSET_CRC,
    SUPERBLOCK_SIZE,
    host_endian,
    inode_codec,
    pack_block_pointers,
    pack_u32,
    superblock_struct,
)
from .tree import MAX_INPUT_NAMELEN, Device, Dir, File, Node, Symlink

# CramfsWarning lives in .errors; it is re-exported here (``from mmlab.cramfs.writer import
# CramfsWarning`` keeps working).
__all__ = ["CramfsWarning", "build_image", "write_image", "MKFS_ZLIB_LEVEL", "XIP_ZLIB_LEVEL"]

MKFS_ZLIB_LEVEL = 6  #: zlib compress() = Z_DEFAULT_COMPRESSION, what mkfs.cramfs uses
XIP_ZLIB_LEVEL = 9  #: mkcramfs (npitre) compress2(..., Z_BEST_COMPRESSION)

_PARALLEL_MIN_BYTES = 256 * 1024  #: below this, compressing in a pool costs more than it saves
_TASK_BLOCKS = 48  #: blocks per pool task (amortises the per-task overhead)


@dataclass(eq=False)
class _Entry:
    """mkfs.cramfs's ``struct entry``: one directory entry and its layout."""

    name: bytes
    mode: int
    uid: int
    gid: int
    size: int  # as stored in the inode (already truncated for regular files)
    relpath: str
    is_data: bool = False  # regular file or symlink (mkfs: entry->path != NULL)
    is_reg: bool = False
    data: bytes | memoryview | None = None
    children: list[_Entry] | None = None  # non-empty directories only
    dir_offset: int = 0
    offset: int = 0  # data offset (files, symlinks) or first child (directories)
    same: _Entry | None = None
    xip: tuple[bool, ...] | None = None  # per block: store direct + uncompressed
    blocks: list[bytes | None] = field(default_factory=list)


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


def _from_directory(path: bytes, rel: str, warn: _Warn) -> tuple[list[_Entry], int]:
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
            kids, e.size = _from_directory(full, relpath + "/", warn)
            e.children = kids or None
        elif stat.S_ISREG(m):
            e.is_data = e.is_reg = True
            e.size = _truncate_size(st.st_size, relpath, warn)
            if e.size:
                try:
                    with open(full, "rb") as f:
                        e.data = f.read(e.size)
                except OSError as err:
                    # mkfs.cramfs warns "cannot open" and writes an inode that points at
                    # the next file's data; refuse instead.
                    raise CramfsIOError(f"cannot read {os.fsdecode(full)}: {err.strerror}",
                                        where="writer") from err
                if len(e.data) != e.size:
                    raise CramfsIOError(f"{os.fsdecode(full)} changed size while reading",
                                        where="writer")
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


def _from_tree(d: Dir, rel: str, warn: _Warn) -> tuple[list[_Entry], int]:
    """The same as :func:`_from_directory` for an in-memory :class:`Dir`."""
    out: list[_Entry] = []
    total = 0
    for name, node in d.sorted_entries():
        relpath = rel + os.fsdecode(name)
        e = _Entry(name, node.st_mode, node.uid, node.gid, 0, relpath)
        _meta_checks(e, warn)
        if isinstance(node, Dir):
            kids, e.size = _from_tree(node, relpath + "/", warn)
            e.children = kids or None
        elif isinstance(node, File):
            e.is_data = e.is_reg = True
            e.size = _truncate_size(len(node.data), relpath, warn)
            e.data = node.data if len(node.data) == e.size else node.data[: e.size]
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


def _read_input(root: str | os.PathLike | Dir, warn: _Warn):
    """parse_directory() on a path (stat on the root, lstat below) or an in-memory tree."""
    if isinstance(root, Dir):
        entries, root_size = _from_tree(root, "", warn)
        return root.st_mode, root.uid, root.gid, entries, root_size
    top = os.fsencode(os.fspath(root))
    try:
        st = os.stat(top)
    except OSError as e:
        raise CramfsIOError(f"stat of {os.fsdecode(top)} failed: {e.strerror}",
                            where="writer") from e
    if not stat.S_ISDIR(st.st_mode):
        raise CramfsBuildError(f"{os.fsdecode(top)} is not a directory", where="writer")
    entries, root_size = _from_directory(top, "", warn)
    return st.st_mode, st.st_uid, st.st_gid, entries, root_size


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


# --- XIP planning and eliminate_doubles -------------------------------------------------------


def _xip_blocks_of(e: _Entry, globs: Sequence[str], blksize: int, warn: _Warn):
    """Per-block XIP decision for a regular file matched by a glob (None: not XIP at all)."""
    if not (e.is_reg and e.size and any(fnmatch.fnmatchcase(e.relpath, g) for g in globs)):
        return None
    nblocks = (e.size - 1) // blksize + 1
    data = e.data
    if elf.is_elf(data):
        info = elf.parse_elf(data)
        if info is None:
            warn("elf", e.relpath)
            return None
        plan = tuple(elf.xip_blocks(info, e.size, blksize))
        return plan if any(plan) else None
    return (True,) * nblocks


def _plan_xip(all_entries: list[_Entry], globs: Sequence[str], blksize: int,
              warn: _Warn) -> None:
    """mkcramfs -X's ``is_elf_loadable()`` per block: set ``e.xip`` of every file with data."""
    for e in all_entries:
        if e.is_data and e.size:
            e.xip = _xip_blocks_of(e, globs, blksize, warn)


def _eliminate_doubles(all_entries: list[_Entry]) -> list[_Entry]:
    """eliminate_doubles(): share data with the first equal file; returns the files to store."""
    first_of: dict[tuple, _Entry] = {}
    for e in all_entries:
        if not (e.is_data and e.size):
            continue
        key = (e.size, e.data, e.xip)
        orig = first_of.get(key)
        if orig is None:
            first_of[key] = e
        else:
            e.same = orig
    return list(first_of.values())


# --- compression ------------------------------------------------------------------------------


def _split_blocks(stored: list[_Entry], blksize: int, holes: bool) -> list[memoryview]:
    """do_compress()'s per-block choice: hole (-z), XIP page or zlib block; returns the latter."""
    zero = bytes(blksize)
    jobs: list[memoryview] = []
    for e in stored:
        mv = memoryview(e.data)
        for i, start in enumerate(range(0, e.size, blksize)):
            blk = mv[start:start + blksize]
            if e.xip and e.xip[i]:
                e.blocks.append(None)
            elif holes and blk.tobytes() == zero[: len(blk)]:
                e.blocks.append(b"")
            else:
                e.blocks.append(None)
                jobs.append(blk)
    return jobs


def _compress_task(args):
    blocks, level = args
    return [zlib.compress(b, level) for b in blocks]


def _compress_all(jobs: list[memoryview], level: int) -> list[bytes]:
    """do_compress()'s ``compress()`` of every block, on 2 threads for big inputs (no GIL)."""
    total = sum(len(b) for b in jobs)
    if total < _PARALLEL_MIN_BYTES:
        return [zlib.compress(b, level) for b in jobs]
    tasks = [(jobs[i:i + _TASK_BLOCKS], level) for i in range(0, len(jobs), _TASK_BLOCKS)]
    out: list[bytes] = []
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cramfs-zlib") as pool:
        for part in pool.map(_compress_task, tasks):
            out.extend(part)
    return out


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


def _put(img: bytearray, pos: int, data) -> int:
    """Write ``data`` at ``pos`` (overwriting or extending ``img``); returns the new cursor."""
    if pos == len(img):
        img += data
    else:
        img[pos:pos + len(data)] = data
    return pos + len(data)


def _skip(img: bytearray, pos: int, n: int) -> int:
    """Advance the cursor over a gap, leaving what is already there (zeros when extending)."""
    pos += n
    if pos > len(img):
        img += bytes(pos - len(img))
    return pos


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


# --- the image, phase by phase (mkfs.cramfs main()) -------------------------------------------


def _lay_out_directories(entries: list[_Entry], insert: bytes,
                         padsize: int) -> tuple[bytearray, int, int]:
    """main() + write_file() + write_directory_structure() offsets: (img, root offset, inodes)."""
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

    img = bytearray(offset)
    img[padsize + SUPERBLOCK_SIZE:padsize + SUPERBLOCK_SIZE + len(insert)] = insert
    return img, root_offset, files


def _write_data(img: bytearray, all_entries: list[_Entry], compressed: Iterator[bytes], *,
                blksize: int, endian: str, xip_mode: bool, flags: int) -> tuple[int, int, int]:
    """write_data() + do_compress() (mkcramfs' write_blocks() with XIP): (cursor, blocks, flags)."""
    total_blocks = 0
    # ``pos`` is the write cursor (mkfs' ``curr``).  Alignment gaps are skipped, not
    # written: after a literal block mkcramfs leaves the tail of the discarded
    # compressed attempt there, and so do we (see _put).
    pos = len(img)
    for e in all_entries:
        if not (e.is_data and e.size):
            continue
        if e.same is not None:
            e.offset = e.same.offset
            continue
        start = pos
        e.offset = start
        _check_offset(start, e)
        nblocks = len(e.blocks)
        total_blocks += nblocks
        ptrs = []
        pos = _put(img, pos, bytes(4 * nblocks))
        mv = memoryview(e.data)
        for i, kind in enumerate(e.blocks):
            blk = mv[i * blksize:(i + 1) * blksize]
            if kind == b"":  # hole: an empty block
                ptr = pos
                if xip_mode:
                    flags |= CRAMFS_FLAG_HOLES
            elif e.xip and e.xip[i]:
                pos = _skip(img, pos, -pos % blksize)
                ptr = ((pos >> CRAMFS_BLK_DIRECT_PTR_SHIFT) | CRAMFS_BLK_FLAG_DIRECT_PTR
                       | CRAMFS_BLK_FLAG_UNCOMPRESSED)
                pos = _put(img, pos, blk)
            else:
                z = next(compressed)
                if xip_mode and len(z) >= len(blk):  # mkcramfs: "literal N vs compressed M"
                    _put(img, pos, z)  # compressed first, then overwritten by the literal
                    pos = _put(img, pos, blk)
                    ptr = pos | CRAMFS_BLK_FLAG_UNCOMPRESSED
                else:
                    if len(z) > 2 * blksize:
                        raise CramfsBuildError(
                            f"AIEEE: block \"compressed\" to > 2*blocklength ({len(z)}) "
                            f"in {e.relpath!r}", where="writer")
                    pos = _put(img, pos, z)
                    ptr = pos
            if ptr & CRAMFS_BLK_FLAGS:
                flags |= CRAMFS_FLAG_EXT_BLOCK_POINTERS
            ptrs.append(ptr)
        img[start:start + 4 * nblocks] = pack_block_pointers(endian, ptrs)
        pos = _skip(img, pos, -pos % 4)
    return pos, total_blocks, flags


def _round_up_to_block(img: bytearray, pos: int, blksize: int) -> None:
    """main()'s last step: pad to a whole block ("so that losetup works"), within maxfslen()."""
    pos = _skip(img, pos, -pos % blksize)
    del img[pos:]
    if len(img) > _maxfslen(blksize):
        raise CramfsBuildError(f"filesystem too big: {len(img)} bytes (limit "
                               f"{_maxfslen(blksize)})", where="writer")


def _write_directory_entries(img: bytearray, all_entries: list[_Entry], endian: str) -> None:
    """write_directory_structure() + set_data_offset(): every inode and name, offsets known."""
    codec = inode_codec(endian)
    nl_mask = (1 << CRAMFS_NAMELEN_WIDTH) - 1
    for e in all_entries:
        off = _check_offset(e.offset, e) if (e.children or (e.is_data and e.size)) else 0
        namelen = (len(e.name) + 3) >> 2
        pos = e.dir_offset
        img[pos:pos + INODE_SIZE] = codec.pack({
            "mode": e.mode & 0xFFFF, "uid": e.uid & 0xFFFF,
            "size": e.size & 0xFFFFFF, "gid": e.gid & 0xFF,
            "namelen": namelen & nl_mask, "offset": off,
        })
        img[pos + INODE_SIZE:pos + INODE_SIZE + len(e.name)] = e.name


def _write_superblock(img: bytearray, padsize: int, endian: str, *, flags: int, edition: int,
                      blocks: int, files: int, name: str | bytes, root: dict[str, int]) -> None:
    """write_superblock() + main()'s CRC32 from the superblock on (fsid.crc summed as 0)."""
    img[padsize:padsize + SUPERBLOCK_SIZE] = superblock_struct(endian).build({
        "magic": CRAMFS_MAGIC, "size": len(img), "flags": flags, "future": 0,
        "signature": CRAMFS_SIGNATURE,
        "fsid": {"crc": 0, "edition": edition, "blocks": blocks, "files": files},
        "name": _super_name(name),
        "root": root,
    })
    crc = zlib.crc32(memoryview(img)[padsize:])
    img[padsize + SB_OFFSET_CRC:padsize + SB_OFFSET_CRC + 4] = pack_u32(endian, crc)


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

    util-linux: ``main`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    endian = _check_options(blocksize, endian, edition)
    xip = (xip,) if isinstance(xip, str) else tuple(xip)
    xip_mode = bool(xip)
    warn = _Warn()
    blksize = blocksize

    # reading the input: parse_directory()
    try:
        root_mode, root_uid, root_gid, entries, root_size = _read_input(root, warn)
    except RecursionError:
        raise CramfsBuildError("directory tree too deep to walk", where="writer") from None
    all_entries = list(_preorder(entries))

    # XIP plans, then eliminate_doubles(): first earlier entry with the same bytes (and plan)
    if xip_mode:
        _plan_xip(all_entries, xip, blksize, warn)
    stored = _eliminate_doubles(all_entries)

    # do_compress() inputs: every non-hole, non-XIP block of every stored file
    jobs = _split_blocks(stored, blksize, holes)
    compressed = iter(_compress_all(jobs, XIP_ZLIB_LEVEL if xip_mode else MKFS_ZLIB_LEVEL))

    # layout: [pad] superblock [-i image] directory entries, then data
    insert = _insert_bytes(insert_file)
    padsize = CRAMFS_PAD_SIZE if pad else 0
    img, root_offset, files = _lay_out_directories(entries, insert, padsize)

    # write_data() / do_compress() (mkfs.cramfs) or write_blocks() (mkcramfs -X)
    flags = CRAMFS_FLAG_FSID_VERSION_2 | CRAMFS_FLAG_SORTED_DIRS
    if holes and not xip_mode:
        flags |= CRAMFS_FLAG_HOLES
    if insert:
        flags |= CRAMFS_FLAG_SHIFTED_ROOT_OFFSET
    pos, total_blocks, flags = _write_data(img, all_entries, compressed, blksize=blksize,
                                           endian=endian, xip_mode=xip_mode, flags=flags)
    # "We always write a multiple of blksize bytes, so that losetup works."
    _round_up_to_block(img, pos, blksize)

    # directory entries, now that every offset is known; then write_superblock() and the CRC
    _write_directory_entries(img, all_entries, endian)
    _write_superblock(img, padsize, endian, flags=flags, edition=edition, blocks=total_blocks,
                      files=files, name=name, root={
                          "mode": root_mode & 0xFFFF, "uid": root_uid & 0xFFFF,
                          "size": root_size & 0xFFFFFF, "gid": root_gid & 0xFF,
                          "namelen": 0, "offset": root_offset >> 2,
                      })
    warn.emit()
    return bytes(img)


def write_image(
    root: str | os.PathLike | Dir,
    out_path: str | os.PathLike,
    **options,
) -> None:
    """``mkfs.cramfs [options] root out_path``: :func:`build_image` written to ``out_path``.

    Takes the same keywords as :func:`build_image`.  The file is written
    whole (mkfs.cramfs also writes the finished image in one ``write``);
    an unwritable path raises :class:`~mmlab.cramfs.errors.CramfsIOError`.

    util-linux: ``main`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    data = build_image(root, **options)
    try:
        with open(out_path, "wb") as f:
            f.write(data)
    except OSError as e:
        raise CramfsIOError(f"cannot write {os.fsdecode(out_path)}: {e.strerror}",
                            where="writer") from e
