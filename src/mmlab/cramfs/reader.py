"""cramfs reader: the read side of ``fs/cramfs/inode.c`` and ``fs/cramfs/uncompress.c`` @ v4.15.

Superblock, directory tree, block lists and file contents.  Mirrors the read
side of ``fs/cramfs/inode.c @ v4.15``
(https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c):
``cramfs_read_super`` (:func:`parse_superblock`), ``cramfs_readdir`` /
``cramfs_lookup`` (:meth:`CramfsImage.listdir`, :meth:`CramfsImage.lookup`),
``cramfs_readpage`` (:meth:`CramfsImage.blocks`, :meth:`CramfsImage.read_file`)
and ``cramfs_uncompress_block`` in ``fs/cramfs/uncompress.c``.

Differences from the kernel, on purpose:

* both byte orders are read (the kernel refuses the foreign one);
* the block size is auto-detected (4 KiB .. 64 KiB) instead of assuming the
  reader's ``PAGE_SIZE``; XIP pages are one block long;
* a direct uncompressed last block whose file size is an exact multiple of the
  block size is read as data.  The v4.15 kernel caps the length of the last
  uncompressed direct block at ``offset_in_page(i_size)``, which is 0 for
  such a file, so ``cramfs_readpage`` takes the block for a hole and returns
  a page of zeros (`fs/cramfs/inode.c @ v4.15
  <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L851>`_);
* damaged images raise :class:`~mmlab.cramfs.errors.CramfsError` (with offset
  and field) where the kernel's read fails (read(2) gets ``EIO``, a mapping
  ``SIGBUS``: see :func:`mmlab.xip.cramfs_readpage`) or, for a block it takes
  for a hole or finds past the image's end, gives zeros;
* directory cycles are detected (a directory's entries visited twice).
"""

from __future__ import annotations

import mmap
import os
import stat
import zlib
from collections import deque, namedtuple
from collections.abc import Iterator
from contextlib import closing
from enum import StrEnum

from .errors import (
    CramfsDataError,
    CramfsError,
    CramfsFormatError,
    CramfsIOError,
    CramfsLimitError,
    CramfsMagicError,
    CramfsNotFoundError,
    CramfsTruncatedError,
    CramfsUnsupportedError,
)
from .inflate import OUT_SLACK, crc32, inflate_block, inflater
from .layout import (
    CRAMFS_BLK_DIRECT_PTR_SHIFT,
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_BLK_FLAGS,
    CRAMFS_FLAG_EXT_BLOCK_POINTERS,
    CRAMFS_FLAG_FSID_VERSION_2,
    CRAMFS_FLAG_SHIFTED_ROOT_OFFSET,
    CRAMFS_MAGIC,
    CRAMFS_PAD_SIZE,
    CRAMFS_SUPPORTED_FLAGS,
    DEFAULT_BLKSIZE,
    INODE_SIZE,
    SB_OFFSET_CRC,
    SB_OFFSET_ROOT,
    SUPERBLOCK_SIZE,
    Endian,
    Inode,
    detect_endian,
    inode_codec,
    unpack_block_pointers,
    unpack_superblock,
    unpack_u16,
)
from .pool import Job, Pool

__all__ = [
    "BlockKind",
    "FileBlock",
    "Superblock",
    "Entry",
    "CramfsImage",
    "open_image",
    "parse_superblock",
    "image_crc",
    "BLOCKSIZE_CANDIDATES",
]

#: Block sizes tried by auto-detection (4 KiB .. 64 KiB pages exist on real machines).
BLOCKSIZE_CANDIDATES = (4096, 8192, 16384, 32768, 65536)
#: Without FSID_VERSION_2 the kernel assumes a 256 MiB image (``cramfs_read_super``).
OLD_FORMAT_SIZE = 1 << 28
MAX_DEPTH = 256  #: deeper trees are refused (paths would exceed PATH_MAX anyway)
MAX_SYMLINK_HOPS = 40  #: like the kernel's MAXSYMLINKS
#: Bytes of file contents :meth:`CramfsImage.iter_file_chunks` keeps for later duplicates.
MAX_SHARED_BYTES = 64 << 20


class BlockKind(StrEnum):
    """How one block of a file is stored.

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """

    COMPRESSED = "compressed"  #: classic pointer, zlib stream
    UNCOMPRESSED = "uncompressed"  #: classic pointer with CRAMFS_BLK_FLAG_UNCOMPRESSED
    DIRECT = "direct"  #: direct pointer, uncompressed: the XIP page
    DIRECT_COMPRESSED = "direct-compressed"  #: direct pointer, u16 length + zlib stream
    HOLE = "hole"  #: length 0: reads as zeros


# The records below are named tuples, not dataclasses: the reading commands import this
# module, and ``dataclasses`` costs ~10 ms of their start-up (it loads ``inspect``).


class FileBlock(namedtuple("FileBlock", "index kind start end pointer_offset pointer out_size "
                                         "target", defaults=(None,))):
    """One block of a file.

    ``start``/``end`` delimit the stored bytes in the image (for a direct
    compressed block after its 2-byte length; for an XIP page the bytes that
    belong to the file).  ``pointer_offset`` is where the u32 block pointer
    lives, ``pointer`` its raw value, ``target`` the image offset a direct
    pointer names (``(ptr & ~flags) << 2``; else ``None``), ``out_size`` the
    number of file bytes this block yields.

    Model helper: no kernel counterpart.
    """

    __slots__ = ()

    @property
    def stored_size(self) -> int:
        return self.end - self.start


class Superblock(namedtuple("Superblock", "endian base magic size flags future signature crc "
                                           "edition blocks files name root")):
    """``struct cramfs_super`` plus where it was found (``base``: 0, or 512 for images with a
    boot pad, mkfs.cramfs -p) and in which byte order (``endian``); ``fsid`` flattened
    (``crc``, ``edition``, ``blocks``, ``files``), ``root`` an :class:`Inode`.

    Kernel: ``struct cramfs_super`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L55>`_.
    """

    __slots__ = ()

    @property
    def fsid_v2(self) -> bool:
        return bool(self.flags & CRAMFS_FLAG_FSID_VERSION_2)

    @property
    def name_str(self) -> str:
        return self.name.rstrip(b"\0").decode("utf-8", "replace")


class Entry(namedtuple("Entry", "path name inode inode_offset depth", defaults=(0,))):
    """A directory entry: its :class:`Inode` plus name (bytes), path, where the inode lives
    (``inode_offset``) and how deep it is (``depth``, 0 for the root).

    ``path`` is POSIX, relative to the image root ("" for the root itself).

    Model helper: no kernel counterpart.
    """

    __slots__ = ()

    @property
    def mode(self) -> int:
        return self.inode.mode

    @property
    def size(self) -> int:
        return self.inode.size

    @property
    def uid(self) -> int:
        return self.inode.uid

    @property
    def gid(self) -> int:
        return self.inode.gid

    @property
    def data_offset(self) -> int:
        return self.inode.offset << 2

    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.inode.mode)

    def is_file(self) -> bool:
        return stat.S_ISREG(self.inode.mode)

    def is_symlink(self) -> bool:
        return stat.S_ISLNK(self.inode.mode)

    @property
    def ino(self) -> int:
        """Inode number as the kernel computes it (data offset, or inode offset + 1).

        Kernel: ``cramino`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L66>`_.
        """
        i = self.inode
        if i.offset and i.size and stat.S_IFMT(i.mode) in (stat.S_IFREG, stat.S_IFDIR,
                                                           stat.S_IFLNK):
            return i.offset << 2
        return self.inode_offset + 1


def image_crc(buf, base: int, length: int) -> int:
    """CRC32 of ``buf[base:base+length]`` with ``fsid.crc`` read as zero.

    The util-linux convention (``mkfs.cramfs`` writes it, ``fsck.cramfs``
    checks it); the v4.15 kernel never checks the CRC.

    util-linux: ``test_crc`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    view = memoryview(buf)
    crc = crc32(view[base : base + SB_OFFSET_CRC])
    crc = crc32(b"\0\0\0\0", crc)
    return crc32(view[base + SB_OFFSET_CRC + 4 : base + length], crc)


def parse_superblock(buf) -> Superblock:
    """Find and decode the superblock, as the kernel does when mounting.

    Looks for the magic at offset 0, then at 512 (boot pad), in either byte
    order; refuses unknown feature flags and a root that is no directory.
    Unlike the kernel, accepts the foreign byte order; like it, does not look
    at the signature.

    Kernel: ``cramfs_read_super`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_.
    """
    n = len(buf)
    if n < SUPERBLOCK_SIZE:
        raise CramfsTruncatedError(
            f"image is {n} bytes, shorter than a superblock ({SUPERBLOCK_SIZE})",
            offset=0, field="magic", where="superblock")
    base = 0
    endian = detect_endian(bytes(buf[0:4]))
    if endian is None and n >= CRAMFS_PAD_SIZE + SUPERBLOCK_SIZE:
        endian = detect_endian(bytes(buf[CRAMFS_PAD_SIZE : CRAMFS_PAD_SIZE + 4]))
        base = CRAMFS_PAD_SIZE if endian else 0
    if endian is None:
        got = int.from_bytes(bytes(buf[0:4]), "little")
        raise CramfsMagicError(
            f"0x{got:08x} is not the cramfs magic 0x{CRAMFS_MAGIC:08x} (nor at 0x200)",
            offset=0, field="magic", where="superblock")
    # Superblock is SuperblockFields with where and how it was found in front; the checks
    # above leave at least SUPERBLOCK_SIZE bytes from ``base``.
    sb = Superblock(endian, base, *unpack_superblock(endian, buf, base))
    root = sb.root
    if sb.flags & ~CRAMFS_SUPPORTED_FLAGS:
        raise CramfsUnsupportedError(
            f"unsupported filesystem features 0x{sb.flags & ~CRAMFS_SUPPORTED_FLAGS:x}",
            offset=base + 8, field="flags", where="superblock")
    if not stat.S_ISDIR(root.mode):
        raise CramfsFormatError(
            f"root is not a directory (mode 0{root.mode:o})",
            offset=base + SB_OFFSET_ROOT, field="root.mode", where="superblock")
    root_off = root.offset << 2
    if root_off and not sb.flags & CRAMFS_FLAG_SHIFTED_ROOT_OFFSET and root_off not in (
        SUPERBLOCK_SIZE, CRAMFS_PAD_SIZE + SUPERBLOCK_SIZE):
        raise CramfsFormatError(
            f"bad root offset 0x{root_off:x}",
            offset=base + SB_OFFSET_ROOT, field="root.offset", where="superblock")
    return sb


class CramfsImage:
    """An open cramfs image (a file, via ``mmap``, or a bytes-like object).

    Use :func:`open_image`.  Thread-safe for reading (no shared cursor).

    Model helper: no kernel counterpart.
    """

    def __init__(self, buf, *, blocksize: int | None = None, _closer=None) -> None:
        self._buf = buf
        self._closer = _closer
        self.superblock = parse_superblock(buf)
        sb = self.superblock
        self.endian: Endian = sb.endian
        self._codec = inode_codec(sb.endian)
        self.ext_pointers = bool(sb.flags & CRAMFS_FLAG_EXT_BLOCK_POINTERS)
        if sb.fsid_v2:
            if sb.size > len(buf):
                raise CramfsTruncatedError(
                    f"superblock says 0x{sb.size:x} bytes but the image has 0x{len(buf):x}",
                    offset=sb.base + 4, field="size", where="superblock")
            self.size = sb.size
        else:
            self.size = min(len(buf), OLD_FORMAT_SIZE)
        self.root = Entry("", b"", sb.root, sb.base + SB_OFFSET_ROOT, 0)
        if blocksize is not None:
            if blocksize not in BLOCKSIZE_CANDIDATES and (blocksize < 1024 or
                                                          blocksize & (blocksize - 1)):
                raise CramfsFormatError(f"block size {blocksize} is not a power of two "
                                        ">= 1024", field="blocksize")
            self.blocksize = blocksize
        else:
            self.blocksize = self._detect_blocksize()

    # --- lifecycle -----------------------------------------------------------------------------
    def close(self) -> None:
        """Release the mapping (if the image was opened from a path)."""
        if self._closer is not None:
            closer, self._closer = self._closer, None
            view = self.__dict__.pop("_memview", None)
            if view is not None:
                view.release()
            self._buf = b""
            closer()

    def __enter__(self) -> CramfsImage:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def data(self):
        """The raw image (bytes or mmap)."""
        return self._buf

    # --- superblock-level ----------------------------------------------------------------------
    def compute_crc(self) -> int:
        """CRC32 over ``fsid.size`` bytes from the superblock, crc field zeroed."""
        sb = self.superblock
        return image_crc(self._buf, sb.base, self.size - sb.base)

    def crc_ok(self) -> bool | None:
        """True/False, or None for the old format without fsid (nothing to compare)."""
        if not self.superblock.fsid_v2:
            return None
        return self.compute_crc() == self.superblock.crc

    def info(self) -> dict:
        """A JSON-able summary (what ``mmlab cramfs info`` prints)."""
        from .layout import flag_names

        sb = self.superblock
        return {
            "endian": sb.endian,
            "superblock_offset": sb.base,
            "size": sb.size,
            "image_length": len(self._buf),
            "flags": sb.flags,
            "flag_names": flag_names(sb.flags),
            "signature": sb.signature.decode("latin-1"),
            "name": sb.name_str,
            "crc": sb.crc,
            "crc_computed": self.compute_crc(),
            "crc_ok": self.crc_ok(),
            "edition": sb.edition,
            "blocks": sb.blocks,
            "files": sb.files,
            "blocksize": self.blocksize,
            "root_offset": sb.root.offset << 2,
        }

    # --- low-level reads -----------------------------------------------------------------------
    def _slice(self, start: int, end: int, *, where: str, field: str, at: int) -> bytes:
        if start < 0 or end > len(self._buf) or end < start:
            raise CramfsTruncatedError(
                f"bytes 0x{start:x}..0x{end:x} lie outside the image (0x{len(self._buf):x})",
                offset=at, field=field, where=where)
        return self._buf[start:end]

    def inode_at(self, pos: int) -> Inode:
        """Decode the inode entry at byte ``pos``."""
        if pos < 0 or pos + INODE_SIZE > len(self._buf):
            raise CramfsTruncatedError("inode runs past the end of the image",
                                       offset=pos, field="inode", where="inode")
        return self._codec.unpack(self._buf, pos)

    # --- directories ---------------------------------------------------------------------------
    def listdir(self, entry: Entry) -> list[Entry]:
        """Entries of a directory, in on-disk order.

        Names are the ``namelen*4`` bytes after each inode with trailing NULs
        stripped; an all-NUL name is an error (the kernel returns ``-EIO``).

        Kernel: ``cramfs_readdir`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L696>`_.
        """
        inode = entry.inode
        if not stat.S_ISDIR(inode.mode):
            raise CramfsFormatError("not a directory", offset=entry.inode_offset,
                                    field="mode", where="inode")
        start = inode.offset << 2
        end = start + inode.size
        if inode.size == 0:
            return []
        if start == 0:
            raise CramfsFormatError(f"directory of {inode.size} bytes has offset 0",
                                    offset=entry.inode_offset, field="offset", where="inode")
        if end > self.size or end > len(self._buf):
            raise CramfsTruncatedError(
                f"directory data 0x{start:x}..0x{end:x} runs past the image end",
                offset=entry.inode_offset, field="size", where="inode")
        out = []
        pos = start
        buf = self._buf
        prefix = entry.path + "/" if entry.path else ""
        while pos < end:
            if pos + INODE_SIZE > end:
                raise CramfsFormatError(
                    "directory entry runs past the end of its directory",
                    offset=pos, field="size", where="inode")
            child = self._codec.unpack(buf, pos)
            namelen = child.namelen << 2
            if namelen == 0:
                raise CramfsFormatError("name length is 0", offset=pos, field="namelen",
                                        where="inode")
            name_end = pos + INODE_SIZE + namelen
            if name_end > end:
                raise CramfsFormatError(
                    "name runs past the end of its directory",
                    offset=pos, field="namelen", where="inode")
            name = bytes(buf[pos + INODE_SIZE : name_end]).rstrip(b"\0")
            if not name:
                raise CramfsFormatError("name is all NUL bytes", offset=pos, field="name",
                                        where="inode")
            out.append(Entry(prefix + name.decode("utf-8", "surrogateescape"), name, child,
                             pos, entry.depth + 1))
            pos = name_end
        return out

    def walk(self, top: Entry | None = None) -> Iterator[Entry]:
        """Every entry below ``top`` (default: the root, not yielded), width-first.

        Raises :class:`CramfsFormatError` on a directory cycle (a directory's
        entries reached twice) and :class:`CramfsLimitError` past
        :data:`MAX_DEPTH` levels or more entries than the image can hold.
        """
        top = top or self.root
        seen = {top.data_offset} if top.size else set()
        limit = len(self._buf) // (INODE_SIZE + 4) + 1
        count = 0
        queue = [top]
        while queue:
            nxt = []
            for d in queue:
                for child in self.listdir(d):
                    count += 1
                    if count > limit:
                        raise CramfsLimitError(f"more than {limit} entries",
                                               offset=child.inode_offset, field="files",
                                               where="inode")
                    yield child
                    if child.is_dir() and child.size:
                        if child.data_offset in seen:
                            raise CramfsFormatError(
                                f"directory cycle: entries at 0x{child.data_offset:x} "
                                "already visited",
                                offset=child.inode_offset, field="offset", where="inode")
                        if child.depth >= MAX_DEPTH:
                            raise CramfsLimitError(f"directory deeper than {MAX_DEPTH}",
                                                   offset=child.inode_offset, field="offset",
                                                   where="inode")
                        seen.add(child.data_offset)
                        nxt.append(child)
            queue = nxt

    def lookup(self, path: str, *, follow: bool = False) -> Entry:
        """Find ``path`` (relative to the image root), one component at a time.

        With ``follow``, symlinks in any component are resolved inside the
        image (absolute targets from the image root), at most 40 times.

        Kernel: ``cramfs_lookup`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L759>`_.
        """
        hops = 0
        parts = [p for p in path.split("/") if p not in ("", ".")]
        stack: list[Entry] = [self.root]
        while parts:
            part = parts.pop(0)
            cur = stack[-1]
            if part == "..":
                if len(stack) > 1:
                    stack.pop()
                continue
            if not cur.is_dir():
                raise CramfsNotFoundError(f"{cur.path or '/'} is not a directory", field="path")
            want = part.encode("utf-8", "surrogateescape")
            found = next((e for e in self.listdir(cur) if e.name == want), None)
            if found is None:
                raise CramfsNotFoundError(f"no such file or directory: /{path.lstrip('/')}",
                                          field="path")
            if found.is_symlink() and follow:
                hops += 1
                if hops > MAX_SYMLINK_HOPS:
                    raise CramfsLimitError("too many levels of symbolic links", field="path")
                target = self.readlink(found)
                tparts = [p for p in target.split("/") if p not in ("", ".")]
                if target.startswith("/"):
                    stack = [self.root]
                parts = tparts + parts
                continue
            stack.append(found)
        return stack[-1]

    def readlink(self, entry: Entry) -> str:
        """Target of a symlink (its data, read like a file)."""
        return self.read_file(entry).decode("utf-8", "surrogateescape")

    # --- file data -----------------------------------------------------------------------------
    def blocks(self, entry: Entry) -> list[FileBlock]:
        """Where each block of a file or symlink lives (the pointer decoding of the kernel).

        Classic pointers hold the END of block i (block 0 starts after the
        pointer array).  With EXT_BLOCK_POINTERS, a DIRECT pointer holds the
        START (>> 2); an uncompressed direct block is one block long, a
        compressed one starts with a u16 length.  A classic pointer after a
        direct one starts where that block ended.  Length 0 is a hole.

        Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
        """
        return list(self._iter_blocks(entry))

    def _iter_blocks(self, entry: Entry) -> Iterator[FileBlock]:
        """:meth:`blocks` one at a time (the block size detection needs only the first)."""
        inode = entry.inode
        size = inode.size
        if size == 0:
            return
        bs = self.blocksize
        data = inode.offset << 2
        if data == 0:
            raise CramfsFormatError(f"file of {size} bytes has offset 0",
                                    offset=entry.inode_offset, field="offset", where="inode")
        n = (size - 1) // bs + 1
        try:
            ptrs = unpack_block_pointers(self.endian, self._buf, data, n)
        except ValueError:
            raise CramfsTruncatedError(
                f"{n} block pointers at 0x{data:x} run past the image end",
                offset=entry.inode_offset, field="offset", where="inode") from None
        ext = self.ext_pointers
        limit = len(self._buf)
        next_start = data + 4 * n
        for i, p in enumerate(ptrs):
            pos = data + 4 * i
            want = bs if i < n - 1 else size - i * bs
            if ext and p & CRAMFS_BLK_FLAG_DIRECT_PTR:
                target = (p & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF) << CRAMFS_BLK_DIRECT_PTR_SHIFT
                if p & CRAMFS_BLK_FLAG_UNCOMPRESSED:
                    start, end, kind = target, target + want, BlockKind.DIRECT
                    next_start = target + bs
                else:
                    if target + 2 > limit:
                        raise CramfsTruncatedError(
                            f"direct block at 0x{target:x} is outside the image",
                            offset=pos, field="block pointer", where="block pointer")
                    length = unpack_u16(self.endian, self._buf, target)
                    start, end = target + 2, target + 2 + length
                    kind = BlockKind.DIRECT_COMPRESSED if length else BlockKind.HOLE
                    next_start = end
            else:
                target = None
                end = p & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF if ext else p
                start = next_start
                if end < start:
                    raise CramfsFormatError(
                        f"block {i} ends at 0x{end:x}, before its start 0x{start:x}",
                        offset=pos, field="block pointer", where="block pointer")
                if end == start:
                    kind = BlockKind.HOLE
                elif ext and p & CRAMFS_BLK_FLAG_UNCOMPRESSED:
                    kind = BlockKind.UNCOMPRESSED
                else:
                    kind = BlockKind.COMPRESSED
                next_start = end
            if end > limit:
                raise CramfsTruncatedError(
                    f"block {i} (0x{start:x}..0x{end:x}) runs past the image end 0x{limit:x}",
                    offset=pos, field="block pointer", where="block pointer")
            stored = end - start
            if kind in (BlockKind.COMPRESSED, BlockKind.DIRECT_COMPRESSED) and stored > 2 * bs:
                raise CramfsDataError(f"bad data blocksize {stored}", offset=pos,
                                      field="block pointer", where="block pointer")
            if kind is BlockKind.UNCOMPRESSED and stored > bs:
                raise CramfsDataError(f"bad data blocksize {stored} (uncompressed)",
                                      offset=pos, field="block pointer", where="block pointer")
            yield FileBlock(i, kind, start, end, pos, p, want, target)

    def read_block(self, block: FileBlock) -> bytes:
        """The ``block.out_size`` file bytes of one block (inflating if needed).

        The copy or inflate step of ``cramfs_readpage``; unlike the kernel, a
        block that inflates short is an error, not silently zero-filled
        (``fsck.cramfs`` reports it the same way; one that inflates past a page
        fails in the kernel too: ``Z_BUF_ERROR``, the read gets ``-EIO``).

        Kernel: ``cramfs_uncompress_block`` in `fs/cramfs/uncompress.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/uncompress.c#L31>`_.
        """
        kind = block.kind
        if kind is BlockKind.HOLE:
            return bytes(block.out_size)
        raw = self._buf[block.start : block.end]
        if kind is BlockKind.DIRECT:
            return raw
        if kind is BlockKind.UNCOMPRESSED:
            if len(raw) != block.out_size:
                raise CramfsDataError(
                    f"uncompressed block {block.index} holds {len(raw)} bytes, "
                    f"expected {block.out_size}",
                    offset=block.pointer_offset, field="block pointer", where="block pointer")
            return raw
        # The common case first: one call that inflates a sound block (zlib-ng when installed,
        # see mmlab.cramfs.inflate). Anything unusual is done again below with zlib, where
        # each kind of damage gets its own message.
        out = inflate_block(raw, block.out_size)
        if out is not None:
            return out
        try:
            d = zlib.decompressobj()
            out = d.decompress(raw, self.blocksize)
            if d.unconsumed_tail:
                raise CramfsDataError(
                    f"block {block.index} inflates to more than {self.blocksize} bytes",
                    offset=block.start, field="data", where="block")
            if not d.eof:
                out += d.flush()
                if not d.eof:
                    raise CramfsDataError(f"block {block.index}: truncated zlib stream",
                                          offset=block.start, field="data", where="block")
        except zlib.error as exc:
            raise CramfsDataError(f"block {block.index}: decompression error: {exc}",
                                  offset=block.start, field="data", where="block") from None
        if len(out) != block.out_size:
            raise CramfsDataError(
                f"block {block.index} inflates to {len(out)} bytes, expected {block.out_size}",
                offset=block.start, field="data", where="block")
        return out

    def read_file(self, entry: Entry) -> bytes:
        """Whole contents of a regular file or symlink target.

        What the kernel produces page by page, joined; a symlink's target is
        read the same way (``page_symlink_inode_operations`` + ``cramfs_aops``).

        Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
        """
        return b"".join(self.read_chunks(entry))

    def read_chunks(self, entry: Entry) -> list[bytes]:
        """The contents of a regular file or symlink as its blocks' bytes, in order.

        What :meth:`read_file` joins; a writer can hand the list to ``os.writev``
        and skip the copy (and the fresh memory) the join costs.  Classic (non-EXT)
        pointers take a fast path without :class:`FileBlock` objects; anything
        unusual falls back to :meth:`blocks` + :meth:`read_block`, which raise the
        precise error.

        Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
        """
        if not (entry.is_file() or entry.is_symlink()):
            raise CramfsFormatError("not a regular file or symlink",
                                    offset=entry.inode_offset, field="mode", where="inode")
        if not self.ext_pointers:
            chunks = self._read_classic(entry.inode)
            if chunks is not None:
                return chunks
        return [self.read_block(b) for b in self.blocks(entry)]

    def _read_classic(self, inode: Inode) -> list[bytes] | None:
        """Fast path for classic END pointers; None when anything looks wrong."""
        size = inode.size
        if size == 0:
            return []
        bs = self.blocksize
        base = inode.offset << 2
        n = (size - 1) // bs + 1
        try:
            ptrs = unpack_block_pointers(self.endian, self._buf, base, n)
        except ValueError:
            return None
        limit = len(self._buf)
        view = self.view()
        decompress, inflate_error = inflater()
        start = base + 4 * n
        out = []
        last = n - 1
        room = bs + OUT_SLACK
        for i, end in enumerate(ptrs):
            want = bs if i < last else size - i * bs
            if end == start:
                out.append(bytes(want))
                continue
            if end < start or end > limit or end - start > 2 * bs:
                return None
            try:
                chunk = decompress(view[start:end], 15, room)
            except inflate_error:
                return None
            if len(chunk) != want:
                return None
            out.append(chunk)
            start = end
        return out

    def view(self) -> memoryview:
        """The image as a ``memoryview``: slices of it are not copies (released by :meth:`close`).

        Model helper: no kernel counterpart.
        """
        view = self.__dict__.get("_memview")
        if view is None:
            view = self.__dict__["_memview"] = memoryview(self._buf)
        return view

    def iter_file_contents(self, entries=None, *, threads: int = 2,
                           ahead: int | None = None) -> Iterator[tuple[Entry, bytes]]:
        """(entry, contents) for every regular file: :meth:`iter_file_chunks`, joined.

        Model helper: no kernel counterpart.
        """
        with closing(self.iter_file_chunks(entries, threads=threads, ahead=ahead)) as files:
            for e, chunks in files:
                yield e, b"".join(chunks)

    def iter_file_chunks(self, entries=None, *, threads: int = 2,
                         ahead: int | None = None) -> Iterator[tuple[Entry, list[bytes]]]:
        """(entry, :meth:`read_chunks`) for every regular file, inflating on a thread pool.

        zlib (and zlib-ng) release the GIL while inflating, so ``threads=2`` runs
        two inflates at once on two cores.  Files go to the pool in batches of
        about 1 MiB (one future per file costs more than inflating a small
        one).  Order is the order of ``entries`` (default: the walk order).

        Files that share their data (hard links, and the identical files
        ``mkfs.cramfs`` stores once: same offset and size) are inflated once;
        the later ones get the same list.  At most
        :data:`MAX_SHARED_BYTES` of such data is kept for later duplicates at
        a time; past that, a duplicate is inflated again.

        At most ``ahead`` batches (default ``2 * threads``) are in flight or
        waiting to be consumed, so a slow consumer holds a few MiB (plus the
        shared data above), never the whole image.  Closing the iterator
        early (an exception in the consumer) cancels the batches not yet
        started and waits only for the ones running.
        """
        entries = [e for e in self.walk() if e.is_file()] if entries is None else list(entries)
        source, last_use = _sharing_plan(entries, MAX_SHARED_BYTES)
        unique = [e for e, src in zip(entries, source, strict=True) if src < 0]
        contents = (self._contents_on_pool(unique, threads, ahead) if threads > 1
                    else (self.read_chunks(e) for e in unique))
        kept: dict[int, list[bytes]] = {}
        with closing(contents):
            for i, e in enumerate(entries):
                src = source[i]
                if src < 0:
                    data = next(contents)
                    if last_use[i] > i:
                        kept[i] = data
                else:
                    data = kept[src] if last_use[src] > i else kept.pop(src)
                yield e, data

    def _contents_on_pool(self, entries: list[Entry], threads: int,
                          ahead: int | None) -> Iterator[list[bytes]]:
        """The chunks of ``entries`` in order, read in batches on ``threads`` threads."""
        batches: list[list[Entry]] = [[]]
        acc = 0
        for e in entries:
            batches[-1].append(e)
            acc += e.size
            if acc >= 1 << 20:
                batches.append([])
                acc = 0
        read = self.read_chunks

        def read_batch(batch: list[Entry]) -> list[list[bytes] | CramfsError]:
            # A damaged file's error goes back in its place, raised when its turn comes:
            # the files before it in the batch are still handed out, as without threads.
            out: list[list[bytes] | CramfsError] = []
            for e in batch:
                try:
                    out.append(read(e))
                except CramfsError as exc:
                    out.append(exc)
            return out

        def handed_out(job: Job) -> Iterator[list[bytes]]:
            for chunks in job.result():
                if isinstance(chunks, CramfsError):
                    raise chunks
                yield chunks

        limit = max(1, ahead if ahead is not None else 2 * threads)
        pending: deque[Job] = deque()
        with Pool(threads, "cramfs-read") as pool:
            for batch in batches:
                pending.append(pool.submit(read_batch, batch))
                if len(pending) >= limit:
                    yield from handed_out(pending.popleft())
            while pending:
                yield from handed_out(pending.popleft())

    # --- block size ----------------------------------------------------------------------------
    def _detect_blocksize(self) -> int:
        """Pick the block size under which the first big files decode consistently.

        For each candidate (4 KiB .. 64 KiB) check up to 4 regular files larger
        than 4 KiB: the pointers up to the first stored block in bounds, and that
        block inflating to ``min(blocksize, size)`` bytes.  The first candidate that passes wins;
        4096 when nothing discriminates (all files <= 4 KiB).
        """
        try:
            files = []
            for e in self.walk():
                if e.is_file() and e.size > DEFAULT_BLKSIZE:
                    files.append(e)
                    if len(files) >= 4:
                        break
        except CramfsError:
            return DEFAULT_BLKSIZE
        if not files:
            return DEFAULT_BLKSIZE
        for bs in BLOCKSIZE_CANDIDATES:
            self.blocksize = bs
            if all(self._plausible(e) for e in files):
                return bs
        return DEFAULT_BLKSIZE

    def _plausible(self, entry: Entry) -> bool:
        try:
            for b in self._iter_blocks(entry):
                if b.kind is not BlockKind.HOLE:
                    self.read_block(b)
                    return True
            return True
        except CramfsError:
            return False


def _sharing_plan(entries: list[Entry], budget: int) -> tuple[list[int], list[int]]:
    """Which files reuse an earlier file's contents: (``source``, ``last_use``) per index.

    ``source[i]`` is the index of the earlier entry whose bytes entry ``i``
    reuses (same non-zero offset and size: the data is stored once), or -1
    if entry ``i`` is read; ``last_use[i]`` is the last index reusing entry
    ``i``'s bytes (``i`` itself when none does).  Bytes are kept from their
    first to their last use only while all kept bytes fit in ``budget``; a
    duplicate met when nothing is kept for it is read again.
    """
    def key(e: Entry) -> tuple[int, int] | None:
        return (e.inode.offset, e.inode.size) if e.inode.offset and e.inode.size else None

    remaining: dict[tuple[int, int], int] = {}
    for e in entries:
        k = key(e)
        if k is not None:
            remaining[k] = remaining.get(k, 0) + 1
    source = [-1] * len(entries)
    last_use = list(range(len(entries)))
    holder: dict[tuple[int, int], int] = {}
    held = 0
    for i, e in enumerate(entries):
        k = key(e)
        if k is None:
            continue
        remaining[k] -= 1
        h = holder.get(k)
        if h is not None:
            source[i] = h
            last_use[h] = i
            if not remaining[k]:
                held -= e.size
                del holder[k]
        elif remaining[k] and held + e.size <= budget:
            holder[k] = i
            held += e.size
    return source, last_use


def _device_size(fd: int) -> int:
    """Size of a block device (an image on /dev/loopN or an MTD block device)."""
    try:
        return os.lseek(fd, 0, os.SEEK_END)
    finally:
        os.lseek(fd, 0, os.SEEK_SET)


def open_image(source, *, blocksize: int | None = None) -> CramfsImage:
    """Open an image from a path (mmap'ed read-only) or a bytes-like object.

    The user-space counterpart of mounting (``cramfs_mount``, whose
    ``fill_super`` callbacks read the superblock with ``cramfs_read_super``).
    ``blocksize`` overrides auto-detection.  Raises :class:`CramfsIOError` when the file cannot be
    read and other :class:`CramfsError` for bad images.

    Kernel: ``cramfs_mount`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L953>`_.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return CramfsImage(source, blocksize=blocksize)
    try:
        fd = os.open(os.fspath(source), os.O_RDONLY)
    except OSError as exc:
        raise CramfsIOError(f"cannot open {os.fspath(source)}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise CramfsIOError(f"{os.fspath(source)} is a directory, not an image")
        length = st.st_size if stat.S_ISREG(st.st_mode) else _device_size(fd)
        if length == 0:
            buf, closer = b"", None
        else:
            m = mmap.mmap(fd, length, access=mmap.ACCESS_READ)
            buf, closer = m, m.close
    except (OSError, ValueError) as exc:
        raise CramfsIOError(f"cannot read {os.fspath(source)}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    finally:
        os.close(fd)
    try:
        return CramfsImage(buf, blocksize=blocksize, _closer=closer)
    except BaseException:
        if closer:
            closer()
        raise
