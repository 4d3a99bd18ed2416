"""cramfs on-disk layout: ``include/uapi/linux/cramfs_fs.h`` @ v4.15 as construct structures.

The format is declared once, for both byte orders.
Source of truth: ``include/uapi/linux/cramfs_fs.h @ v4.15``
(https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h)
and ``include/uapi/linux/magic.h @ v4.15`` for the magic numbers.  The layout
of the optional 512-byte boot pad and the foreign-endian images come from the
util-linux writer (``disk-utils/mkfs.cramfs.c``, ``cramfs_common.c``).

Image layout (all offsets absolute from byte 0 of the file, pad included)::

    [512-byte zero pad, only with mkfs.cramfs -p]
    struct cramfs_super (76 bytes)         magic, size, flags, ..., root inode
    [-i file image, 4-byte padded]
    directory entries: cramfs_inode (12 bytes) + name padded to 4 bytes
    file data: per file u32 block pointers, then the blocks, pad to 4
    zero padding up to a multiple of the block size

How to use this module (the writer and reader both do):

* ``structs(endian)`` returns a :class:`CramfsStructs` with the ``construct``
  declarations ``superblock``, ``info``, ``inode``, ``block_pointers(n)`` and
  ``u16``; ``superblock_struct(endian)``, ``info_struct(endian)`` and
  ``inode_struct(endian)`` are shortcuts.  ``endian`` is ``"little"`` or
  ``"big"`` (``host_endian()`` gives the running machine's).
  The declarations are built on first use: ``import construct`` alone takes
  ~35 ms, which would be a fifth of ``mmlab cramfs check``; reading needs none
  of it.
* Hot paths use precompiled ``struct``/``array`` codecs that are generated from
  the same tables (:data:`INODE_WORDS`, :data:`SUPERBLOCK_FIELDS`):
  ``unpack_superblock(endian, buf, pos) -> SuperblockFields``,
  ``pack_inode(endian, mode=..., uid=..., size=..., gid=..., namelen=...,
  offset=...)``, ``unpack_inode(endian, buf, pos) -> Inode``,
  ``pack_block_pointers(endian, ptrs)``, ``unpack_block_pointers(endian, buf,
  pos, n)``, ``pack_u32``/``unpack_u32``, ``pack_u16``/``unpack_u16``.
* ``pad_name(name) -> (padded_bytes, namelen)`` and ``make_block_pointer`` /
  ``split_block_pointer`` handle the small encodings.

Inode bitfields.  ``struct cramfs_inode`` is three ``__u32`` words of C
bitfields: ``mode:16, uid:16`` / ``size:24, gid:8`` / ``namelen:6,
offset:26``.  C leaves bitfield order to the ABI: on little-endian machines
the first field takes the least significant bits, on big-endian machines the
most significant bits.  So a little-endian image holds ``mode | uid << 16``
in word 0 read as LE u32, while a big-endian image holds ``mode << 16 | uid``
read as BE u32 (checked against ``mkfs.cramfs -N big`` output, see
``tests/cramfs/test_layout.py``).  :data:`INODE_WORDS` lists the fields once
and both layouts are derived from it.
"""

from __future__ import annotations

import struct
import sys
from array import array
from collections import namedtuple
from collections.abc import Mapping
from functools import cache
from types import MappingProxyType

from .errors import CramfsBuildError

# The reading commands import this module: it keeps off ``typing`` and ``dataclasses``
# (~4 and ~10 ms of start-up here), so its records are named tuples.
TYPE_CHECKING = False  # what typing.TYPE_CHECKING is, without importing typing
if TYPE_CHECKING:
    from typing import Literal

    Endian = Literal["little", "big"]
else:
    Endian = str  #: ``"little"`` or ``"big"`` (a ``Literal`` for type checkers)

__all__ = [
    "Endian",
    "CRAMFS_MAGIC",
    "CRAMFS_MAGIC_WEND",
    "CRAMFS_SIGNATURE",
    "CRAMFS_PAD_SIZE",
    "CRAMFS_MODE_WIDTH",
    "CRAMFS_UID_WIDTH",
    "CRAMFS_SIZE_WIDTH",
    "CRAMFS_GID_WIDTH",
    "CRAMFS_NAMELEN_WIDTH",
    "CRAMFS_OFFSET_WIDTH",
    "CRAMFS_MAXPATHLEN",
    "CRAMFS_MAX_FILE_SIZE",
    "CRAMFS_FLAG_FSID_VERSION_2",
    "CRAMFS_FLAG_SORTED_DIRS",
    "CRAMFS_FLAG_HOLES",
    "CRAMFS_FLAG_WRONG_SIGNATURE",
    "CRAMFS_FLAG_SHIFTED_ROOT_OFFSET",
    "CRAMFS_FLAG_EXT_BLOCK_POINTERS",
    "CRAMFS_SUPPORTED_FLAGS",
    "UTIL_LINUX_SUPPORTED_FLAGS",
    "MAX_INPUT_NAMELEN",
    "CRAMFS_BLK_FLAG_UNCOMPRESSED",
    "CRAMFS_BLK_FLAG_DIRECT_PTR",
    "CRAMFS_BLK_FLAGS",
    "CRAMFS_BLK_DIRECT_PTR_SHIFT",
    "DEFAULT_BLKSIZE",
    "SUPERBLOCK_SIZE",
    "INFO_SIZE",
    "INODE_SIZE",
    "SB_OFFSET_SIZE",
    "SB_OFFSET_FLAGS",
    "SB_OFFSET_CRC",
    "SB_OFFSET_ROOT",
    "INODE_WORDS",
    "FLAG_NAMES",
    "Inode",
    "CramfsStructs",
    "structs",
    "superblock_struct",
    "info_struct",
    "inode_struct",
    "host_endian",
    "detect_endian",
    "pack_inode",
    "unpack_inode",
    "inode_codec",
    "pack_block_pointers",
    "unpack_block_pointers",
    "pack_superblock",
    "unpack_superblock",
    "pack_u32",
    "unpack_u32",
    "pack_u16",
    "unpack_u16",
    "pad_name",
    "make_block_pointer",
    "split_block_pointer",
    "flag_names",
]

# --- constants: include/uapi/linux/magic.h and cramfs_fs.h @ v4.15 ----------------------------

CRAMFS_MAGIC = 0x28CD3D45  #: magic.h: "some random number"
CRAMFS_MAGIC_WEND = 0x453DCD28  #: the magic read with the wrong byte order
CRAMFS_SIGNATURE = b"Compressed ROMFS"  #: 16 bytes, no NUL
CRAMFS_PAD_SIZE = 512  #: boot-code pad before the superblock (mkfs.cramfs -p, PAD_SIZE)

CRAMFS_MODE_WIDTH = 16
CRAMFS_UID_WIDTH = 16
CRAMFS_SIZE_WIDTH = 24
CRAMFS_GID_WIDTH = 8
CRAMFS_NAMELEN_WIDTH = 6
CRAMFS_OFFSET_WIDTH = 26
CRAMFS_MAXPATHLEN = ((1 << CRAMFS_NAMELEN_WIDTH) - 1) << 2  #: 252: longest name
CRAMFS_MAX_FILE_SIZE = (1 << CRAMFS_SIZE_WIDTH) - 1  #: 16 MiB - 1

CRAMFS_FLAG_FSID_VERSION_2 = 0x00000001  #: fsid (cramfs_info) is valid
CRAMFS_FLAG_SORTED_DIRS = 0x00000002  #: directory entries sorted by name
CRAMFS_FLAG_HOLES = 0x00000100  #: zero-length blocks are holes (mkfs.cramfs -z)
CRAMFS_FLAG_WRONG_SIGNATURE = 0x00000200  #: reserved
CRAMFS_FLAG_SHIFTED_ROOT_OFFSET = 0x00000400  #: root not right after the superblock (-i)
CRAMFS_FLAG_EXT_BLOCK_POINTERS = 0x00000800  #: v4.15: direct/uncompressed block pointers
CRAMFS_SUPPORTED_FLAGS = (
    0x000000FF
    | CRAMFS_FLAG_HOLES
    | CRAMFS_FLAG_WRONG_SIGNATURE
    | CRAMFS_FLAG_SHIFTED_ROOT_OFFSET
    | CRAMFS_FLAG_EXT_BLOCK_POINTERS
)  #: 0xfff, what cramfs_read_super accepts at v4.15
#: What util-linux 2.38 ``fsck.cramfs`` accepts: only the low 8 bits, so it refuses
#: (exit 8, "unsupported filesystem features") images made with ``mkfs.cramfs -z`` (HOLES)
#: or ``-i`` (SHIFTED_ROOT_OFFSET) and XIP images (EXT_BLOCK_POINTERS).
UTIL_LINUX_SUPPORTED_FLAGS = 0x000000FF
MAX_INPUT_NAMELEN = 255  #: longest name component mkfs.cramfs reads (MAX_INPUT_NAMELEN)

CRAMFS_BLK_FLAG_UNCOMPRESSED = 1 << 31
CRAMFS_BLK_FLAG_DIRECT_PTR = 1 << 30
CRAMFS_BLK_FLAGS = CRAMFS_BLK_FLAG_UNCOMPRESSED | CRAMFS_BLK_FLAG_DIRECT_PTR
CRAMFS_BLK_DIRECT_PTR_SHIFT = 2

DEFAULT_BLKSIZE = 4096  #: mkcramfs' historical block size (= PAGE_SIZE on most machines)

FLAG_NAMES: Mapping[int, str] = MappingProxyType({
    CRAMFS_FLAG_FSID_VERSION_2: "FSID_VERSION_2",
    CRAMFS_FLAG_SORTED_DIRS: "SORTED_DIRS",
    CRAMFS_FLAG_HOLES: "HOLES",
    CRAMFS_FLAG_WRONG_SIGNATURE: "WRONG_SIGNATURE",
    CRAMFS_FLAG_SHIFTED_ROOT_OFFSET: "SHIFTED_ROOT_OFFSET",
    CRAMFS_FLAG_EXT_BLOCK_POINTERS: "EXT_BLOCK_POINTERS",
})

#: struct cramfs_inode: three u32 words of bitfields, in declaration order.
#: Everything about inode encoding is derived from this table.
INODE_WORDS: tuple[tuple[tuple[str, int], ...], ...] = (
    (("mode", CRAMFS_MODE_WIDTH), ("uid", CRAMFS_UID_WIDTH)),
    (("size", CRAMFS_SIZE_WIDTH), ("gid", CRAMFS_GID_WIDTH)),
    (("namelen", CRAMFS_NAMELEN_WIDTH), ("offset", CRAMFS_OFFSET_WIDTH)),
)
INODE_FIELDS: tuple[str, ...] = tuple(name for word in INODE_WORDS for name, _ in word)

#: struct cramfs_super, field by field: (name, struct format). ``fsid`` is the embedded
#: struct cramfs_info, ``root`` the embedded struct cramfs_inode (three u32 words). Both the
#: construct declaration and the struct codec (:func:`unpack_superblock`) come from this table.
SUPERBLOCK_FIELDS: tuple[tuple[str, str], ...] = (
    ("magic", "I"), ("size", "I"), ("flags", "I"), ("future", "I"), ("signature", "16s"),
    ("fsid.crc", "I"), ("fsid.edition", "I"), ("fsid.blocks", "I"), ("fsid.files", "I"),
    ("name", "16s"), ("root", "3I"),
)

SUPERBLOCK_SIZE = 76  #: sizeof(struct cramfs_super)
INFO_SIZE = 16  #: sizeof(struct cramfs_info)
INODE_SIZE = 12  #: sizeof(struct cramfs_inode)
SB_OFFSET_SIZE = 0x04  #: offset of cramfs_super.size
SB_OFFSET_FLAGS = 0x08  #: offset of cramfs_super.flags
SB_OFFSET_CRC = 0x20  #: offset of cramfs_super.fsid.crc
SB_OFFSET_ROOT = 0x40  #: offset of cramfs_super.root


def host_endian() -> Endian:
    """The running machine's byte order (what ``mkfs.cramfs -N host`` writes).

    Model helper: no kernel counterpart.
    """
    return "little" if sys.byteorder == "little" else "big"


class Inode(namedtuple("Inode", "mode uid size gid namelen offset")):
    """A decoded ``struct cramfs_inode``: byte-order independent field values (ints).

    ``offset`` is in 4-byte units as on disk (byte offset = ``offset << 2``);
    ``namelen`` is in 4-byte units too (name bytes = ``namelen << 2``).

    Kernel: ``struct cramfs_inode`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L30>`_.
    """

    __slots__ = ()

    @property
    def byte_offset(self) -> int:
        """``offset << 2``: the data (or first child) offset in bytes.

        The kernel makes it the inode number of a file, directory or symlink with
        data (``cramino``) and reads it back with ``OFFSET()``.

        Kernel: ``OFFSET`` in `fs/cramfs/inode.c @ v4.15
        <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L64>`_.
        """
        return self.offset << 2


def _bit_positions(endian: Endian) -> tuple[tuple[tuple[str, int, int], ...], ...]:
    """(name, shift, mask) per field per word: LSB-first for LE, MSB-first for BE."""
    words = []
    for word in INODE_WORDS:
        fields = []
        used = 0
        for name, width in word:
            shift = used if endian == "little" else 32 - used - width
            fields.append((name, shift, (1 << width) - 1))
            used += width
        assert used == 32, "each cramfs_inode word holds exactly 32 bits"
        words.append(tuple(fields))
    return tuple(words)


def _check_endian(endian: str) -> Endian:
    if endian not in ("little", "big"):
        raise ValueError(f"endian must be 'little' or 'big', not {endian!r}")
    return endian  # type: ignore[return-value]


class InodeCodec:
    """Precompiled ``struct`` codec for ``struct cramfs_inode`` in one byte order.

    Built from :data:`INODE_WORDS`, so it cannot disagree with the ``construct``
    declaration (the tests check both against each other and mkfs.cramfs).

    Model helper: no kernel counterpart (the kernel reads the C bitfields directly).
    """

    def __init__(self, endian: Endian) -> None:
        self.endian = _check_endian(endian)
        self.words = _bit_positions(self.endian)
        self._struct = struct.Struct(("<" if endian == "little" else ">") + "3I")
        (
            ((_, s_mode, m_mode), (_, s_uid, m_uid)),
            ((_, s_size, m_size), (_, s_gid, m_gid)),
            ((_, s_nl, m_nl), (_, s_off, m_off)),
        ) = self.words
        unpack_from = self._struct.unpack_from
        new = Inode._make

        def unpack(buf: bytes | bytearray | memoryview, pos: int = 0) -> Inode:
            w0, w1, w2 = unpack_from(buf, pos)
            return new(
                (
                    (w0 >> s_mode) & m_mode,
                    (w0 >> s_uid) & m_uid,
                    (w1 >> s_size) & m_size,
                    (w1 >> s_gid) & m_gid,
                    (w2 >> s_nl) & m_nl,
                    (w2 >> s_off) & m_off,
                )
            )

        self.unpack = unpack

    def words_of(self, values: dict[str, int] | Inode) -> list[int]:
        """Pack field values into the three u32 words; raises CramfsBuildError on overflow."""
        get = values._asdict().get if isinstance(values, Inode) else values.get
        out = []
        for word in self.words:
            w = 0
            for name, shift, mask in word:
                v = get(name, 0)
                if not isinstance(v, int) or v < 0 or v > mask:
                    raise CramfsBuildError(
                        f"value {v!r} does not fit in {mask.bit_length()} bits",
                        field=name,
                        where="inode",
                    )
                w |= v << shift
            out.append(w)
        return out

    def fields_of(self, words: list[int] | tuple[int, ...]) -> dict[str, int]:
        """Split the three u32 words into named field values."""
        out = {}
        for word, w in zip(self.words, words, strict=True):
            for name, shift, mask in word:
                out[name] = (w >> shift) & mask
        return out

    def pack(self, values: dict[str, int] | Inode) -> bytes:
        """12 bytes of ``struct cramfs_inode``."""
        return self._struct.pack(*self.words_of(values))

    def pack_truncated(self, mode: int, uid: int, size: int, gid: int, namelen: int,
                       offset: int) -> bytes:
        """12 bytes of ``struct cramfs_inode``, each value cut to its bitfield's width.

        What assigning to the C bitfields does (``mkfs.cramfs`` fills the inode that
        way, after its own warnings); :meth:`pack` raises instead.  For the writer's
        loop over every directory entry: no dictionary, no per-field check.

        util-linux: ``write_directory_structure`` in `disk-utils/mkfs.cramfs.c @ v2.38
        <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
        """
        (
            ((_, s_mode, m_mode), (_, s_uid, m_uid)),
            ((_, s_size, m_size), (_, s_gid, m_gid)),
            ((_, s_nl, m_nl), (_, s_off, m_off)),
        ) = self.words
        return self._struct.pack(
            (mode & m_mode) << s_mode | (uid & m_uid) << s_uid,
            (size & m_size) << s_size | (gid & m_gid) << s_gid,
            (namelen & m_nl) << s_nl | (offset & m_off) << s_off,
        )


#: The two inode codecs, built once at import (no cache filled at run time).
_CODECS: Mapping[str, InodeCodec] = MappingProxyType(
    {e: InodeCodec(e) for e in ("little", "big")})


def inode_codec(endian: Endian) -> InodeCodec:
    """The :class:`InodeCodec` for ``endian`` (one per byte order, shared).

    Model helper: no kernel counterpart.
    """
    codec = _CODECS.get(endian)
    if codec is None:
        _check_endian(endian)  # raises ValueError naming the bad value
    return codec


class SuperblockFields(namedtuple("SuperblockFields", "magic size flags future signature crc "
                                                       "edition blocks files name root")):
    """A decoded ``struct cramfs_super``, ``fsid`` flattened (``crc``, ``edition``,
    ``blocks``, ``files``), ``signature`` and ``name`` as bytes, ``root`` an :class:`Inode`.

    Kernel: ``struct cramfs_super`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L55>`_.
    """

    __slots__ = ()


def _superblock_format(endian: Endian) -> struct.Struct:
    fmt = "".join(f for _, f in SUPERBLOCK_FIELDS)
    codec = struct.Struct(("<" if endian == "little" else ">") + fmt)
    assert codec.size == SUPERBLOCK_SIZE, "SUPERBLOCK_FIELDS must add up to 76 bytes"
    return codec


#: The superblock codecs of both byte orders (struct.Struct objects are immutable).
_SUPERBLOCK_CODECS: Mapping[str, struct.Struct] = MappingProxyType(
    {e: _superblock_format(e) for e in ("little", "big")})


def unpack_superblock(endian: Endian, buf: bytes | bytearray | memoryview,
                      pos: int = 0) -> SuperblockFields:
    """Decode the 76-byte superblock at ``buf[pos:]`` (raises ``struct.error`` if short).

    The same fields as ``superblock_struct(endian).parse``, without loading
    ``construct`` (a command that only reads an image never needs it); the
    tests hold the two against each other.

    Kernel: ``cramfs_read_super`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_.
    """
    codec = _SUPERBLOCK_CODECS.get(endian)
    if codec is None:
        _check_endian(endian)  # raises ValueError naming the bad value
    *head, w0, w1, w2 = codec.unpack_from(buf, pos)
    return SuperblockFields(*head, Inode(**inode_codec(endian).fields_of((w0, w1, w2))))


def pack_superblock(endian: Endian, sb: SuperblockFields) -> bytes:
    """The 76 bytes of ``struct cramfs_super`` holding ``sb``, in ``endian`` byte order.

    What ``superblock_struct(endian).build`` makes, without loading ``construct``
    (``mmlab cramfs build`` would pay ~12 ms for it); the tests hold the two against
    each other.  Raises :class:`CramfsBuildError` when a root inode field does not fit
    its bitfield and ``struct.error`` when another value does not fit its u32.

    util-linux: ``write_superblock`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    codec = _SUPERBLOCK_CODECS.get(endian)
    if codec is None:
        _check_endian(endian)  # raises ValueError naming the bad value
    *head, root = sb
    return codec.pack(*head, *inode_codec(endian).words_of(root))


class CramfsStructs(namedtuple("CramfsStructs", "endian u16 u32 inode info superblock")):
    """The ``construct`` declarations for one byte order (like pyelftools' ELFStructs):
    ``u16``, ``u32``, ``inode``, ``info`` and ``superblock``.

    Kernel: ``struct cramfs_super`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L55>`_.
    """

    __slots__ = ()

    def block_pointers(self, n: int):
        """``n`` u32 block pointers (the array in front of every file's data)."""
        from construct import Array  # loaded with the declarations: see structs()

        return Array(n, self.u32)


def _declare_structs(endian: Endian) -> CramfsStructs:
    # construct is imported here, not at the top: see structs().
    from construct import (
        Adapter,
        Array,
        Bytes,
        Container,
        Int16ub,
        Int16ul,
        Int32ub,
        Int32ul,
        Struct,
    )

    codec = inode_codec(endian)

    class InodeAdapter(Adapter):
        """construct view of ``struct cramfs_inode``: 3 u32 words <-> flat bitfields."""

        def _decode(self, obj, context, path):  # noqa: D401 - construct hook
            return Container(codec.fields_of(list(obj)))

        def _encode(self, obj, context, path):
            return codec.words_of(dict(obj))

    u16 = Int16ul if endian == "little" else Int16ub
    u32 = Int32ul if endian == "little" else Int32ub
    inode = InodeAdapter(Array(3, u32))
    kinds = {"I": u32, "16s": Bytes(16), "3I": inode}
    info = Struct(*(name.removeprefix("fsid.") / kinds[fmt]
                    for name, fmt in SUPERBLOCK_FIELDS if name.startswith("fsid.")))
    top = []
    for name, fmt in SUPERBLOCK_FIELDS:
        outer, _, inner = name.partition(".")
        if not inner:
            top.append(name / kinds[fmt])
        elif top[-1].name != outer:  # the first field of the embedded cramfs_info
            top.append(outer / info)
    superblock = Struct(*top)
    return CramfsStructs(endian, u16, u32, inode, info, superblock)


@cache
def structs(endian: Endian) -> CramfsStructs:
    """Declarations of ``cramfs_inode``, ``cramfs_info``, ``cramfs_super`` for ``endian``.

    The kernel itself has only the host-endian C structs (it refuses the other
    byte order), the foreign order is the util-linux ``mkfs.cramfs -N`` extension.
    Built on the first call for a byte order and shared after that (the cache
    holds at most the two byte orders' declarations): importing ``construct``
    takes ~35 ms, which reading an image never needs to pay.

    Kernel: ``struct cramfs_super`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L55>`_.
    """
    return _declare_structs(_check_endian(endian))


def superblock_struct(endian: Endian):
    """``struct cramfs_super`` (76 bytes) as a construct ``Struct``.

    Kernel: ``struct cramfs_super`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L55>`_.
    """
    return structs(endian).superblock


def info_struct(endian: Endian):
    """``struct cramfs_info`` (16 bytes: crc, edition, blocks, files).

    Kernel: ``struct cramfs_info`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L45>`_.
    """
    return structs(endian).info


def inode_struct(endian: Endian):
    """``struct cramfs_inode`` (12 bytes) as a construct object with flat fields.

    Kernel: ``struct cramfs_inode`` in `include/uapi/linux/cramfs_fs.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/linux/cramfs_fs.h#L30>`_.
    """
    return structs(endian).inode


def detect_endian(magic_bytes: bytes) -> Endian | None:
    """Byte order of an image from its 4 magic bytes, or None if it is no cramfs magic.

    The kernel compares the magic in its own byte order only and reports a
    byte-swapped one as ``"wrong endianness"``.

    Kernel: ``cramfs_read_super`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L512>`_.
    """
    if len(magic_bytes) < 4:
        return None
    if int.from_bytes(magic_bytes[:4], "little") == CRAMFS_MAGIC:
        return "little"
    if int.from_bytes(magic_bytes[:4], "big") == CRAMFS_MAGIC:
        return "big"
    return None


def pack_inode(
    endian: Endian,
    *,
    mode: int,
    uid: int = 0,
    size: int = 0,
    gid: int = 0,
    namelen: int = 0,
    offset: int = 0,
) -> bytes:
    """12 bytes of inode; ``offset`` and ``namelen`` in 4-byte units as on disk.

    Raises :class:`CramfsBuildError` when a value does not fit its bitfield
    (the writer truncates uid/gid/size *before* calling this, like mkfs.cramfs).

    util-linux: ``inode_from_host`` in `disk-utils/cramfs_common.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/cramfs_common.c>`_.
    """
    return inode_codec(endian).pack(
        {"mode": mode, "uid": uid, "size": size, "gid": gid, "namelen": namelen, "offset": offset}
    )


def unpack_inode(endian: Endian, buf: bytes | bytearray | memoryview, pos: int = 0) -> Inode:
    """Decode the inode at ``buf[pos:pos+12]`` (raises ``struct.error`` if short).

    The kernel reads ``struct cramfs_inode`` by casting (``cramfs_readdir``,
    ``cramfs_lookup`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c>`_);
    here the bitfields are unpacked explicitly for the image's byte order, as
    util-linux does for foreign images.

    util-linux: ``inode_to_host`` in `disk-utils/cramfs_common.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/cramfs_common.c>`_.
    """
    return inode_codec(endian).unpack(buf, pos)


_U32 = MappingProxyType({"little": struct.Struct("<I"), "big": struct.Struct(">I")})
_U16 = MappingProxyType({"little": struct.Struct("<H"), "big": struct.Struct(">H")})


def pack_u32(endian: Endian, value: int) -> bytes:
    """One u32 (superblock words, block pointers) in the image byte order.

    Model helper: no kernel counterpart.
    """
    return _U32[endian].pack(value)


def unpack_u32(endian: Endian, buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """One u32 at ``pos``.

    Model helper: no kernel counterpart.
    """
    return _U32[endian].unpack_from(buf, pos)[0]


def pack_u16(endian: Endian, value: int) -> bytes:
    """The u16 length in front of a direct-pointer compressed block.

    Model helper: no kernel counterpart.
    """
    return _U16[endian].pack(value)


def unpack_u16(endian: Endian, buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """One u16 at ``pos``.

    Model helper: no kernel counterpart.
    """
    return _U16[endian].unpack_from(buf, pos)[0]


def pack_block_pointers(endian: Endian, ptrs) -> bytes:
    """A file's block-pointer array (``nblocks`` u32) as bytes.

    Model helper: no kernel counterpart.
    """
    arr = array("I", ptrs)
    if endian != sys.byteorder:
        arr.byteswap()
    return arr.tobytes()


def unpack_block_pointers(
    endian: Endian, buf: bytes | bytearray | memoryview, pos: int, n: int
) -> array:
    """``n`` u32 block pointers at ``buf[pos:]`` as an ``array('I')`` (raises ValueError if short).

    The kernel reads this array one u32 at a time, at ``OFFSET(inode) +
    index * 4``.  Uses ``array.frombytes`` + ``byteswap``: ~50x faster than
    construct's Array.

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    end = pos + 4 * n
    if pos < 0 or n < 0 or end > len(buf):
        raise ValueError("block pointer array runs past the end of the image")
    arr = array("I")
    arr.frombytes(bytes(buf[pos:end]))
    if endian != sys.byteorder:
        arr.byteswap()
    return arr


def pad_name(name: bytes) -> tuple[bytes, int]:
    """Name NUL-padded to a multiple of 4 and its ``namelen`` (length / 4).

    Raises :class:`CramfsBuildError` for an empty name or one longer than
    ``CRAMFS_MAXPATHLEN`` (252) bytes.

    util-linux: ``write_directory_structure`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    if not name:
        raise CramfsBuildError("empty file name", field="namelen", where="inode")
    namelen = (len(name) + 3) >> 2
    if namelen >= 1 << CRAMFS_NAMELEN_WIDTH:
        raise CramfsBuildError(
            f"name of {len(name)} bytes is longer than {CRAMFS_MAXPATHLEN}",
            field="namelen",
            where="inode",
        )
    return name.ljust(namelen << 2, b"\0"), namelen


def make_block_pointer(value: int, *, uncompressed: bool = False, direct: bool = False) -> int:
    """A block pointer: ``value`` is the block END offset, or for ``direct`` the START offset.

    Direct pointers store ``start >> CRAMFS_BLK_DIRECT_PTR_SHIFT``; ``start``
    must then be 4-byte aligned.

    Model helper: no kernel counterpart.
    """
    if direct:
        if value & ((1 << CRAMFS_BLK_DIRECT_PTR_SHIFT) - 1):
            raise CramfsBuildError(f"direct block start 0x{value:x} is not 4-byte aligned",
                                   field="block pointer")
        value >>= CRAMFS_BLK_DIRECT_PTR_SHIFT
    if value & CRAMFS_BLK_FLAGS:
        raise CramfsBuildError(f"block offset 0x{value:x} collides with the flag bits",
                               field="block pointer")
    return (
        value
        | (CRAMFS_BLK_FLAG_UNCOMPRESSED if uncompressed else 0)
        | (CRAMFS_BLK_FLAG_DIRECT_PTR if direct else 0)
    )


def split_block_pointer(ptr: int) -> tuple[bool, bool, int]:
    """``(uncompressed, direct, byte_offset)`` of a block pointer.

    For direct pointers the START offset (``(ptr & ~flags) << 2``), otherwise
    the END offset.  Only meaningful with ``CRAMFS_FLAG_EXT_BLOCK_POINTERS``;
    without it the whole value is the end offset.

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    uncompressed = bool(ptr & CRAMFS_BLK_FLAG_UNCOMPRESSED)
    direct = bool(ptr & CRAMFS_BLK_FLAG_DIRECT_PTR)
    value = ptr & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF
    if direct:
        value <<= CRAMFS_BLK_DIRECT_PTR_SHIFT
    return uncompressed, direct, value


def flag_names(flags: int) -> list[str]:
    """Names of the set superblock flags; unknown bits as hex.

    Model helper: no kernel counterpart.
    """
    out = [name for bit, name in FLAG_NAMES.items() if flags & bit]
    rest = flags & ~sum(FLAG_NAMES)
    if rest:
        out.append(f"0x{rest:x}")
    return out
