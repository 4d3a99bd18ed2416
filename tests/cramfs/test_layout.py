"""The construct declarations and the fast codecs agree with each other and mkfs.cramfs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab.cramfs import layout as L
from mmlab.cramfs.errors import CramfsBuildError, CramfsError

from .conftest import mkfs, needs_mkfs

ENDIANS = ("little", "big")


def assert_roundtrip(con, data: bytes, obj: dict) -> None:
    """parse(data) == obj, build(obj) == data, sizeof() == len(data)."""
    parsed = con.parse(data)
    assert _plain(parsed) == obj
    assert con.build(obj) == data
    assert con.sizeof() == len(data)


def _plain(c):
    if hasattr(c, "items"):
        return {k: _plain(v) for k, v in c.items() if not k.startswith("_")}
    return c


INODE = {"mode": 0o100644, "uid": 1000, "size": 6, "gid": 44, "namelen": 1, "offset": 31}
# mkfs.cramfs -N little / -N big of a file "a" (6 bytes, uid 1000, gid 300), data at 0x7c
INODE_BYTES = {
    "little": bytes.fromhex("a481e803" "0600002c" "c1070000"),
    "big": bytes.fromhex("81a403e8" "0000062c" "0400001f"),
}


@pytest.mark.parametrize("endian", ENDIANS)
def test_inode_roundtrip(endian):
    assert_roundtrip(L.inode_struct(endian), INODE_BYTES[endian], INODE)
    assert L.pack_inode(endian, **INODE) == INODE_BYTES[endian]
    assert L.unpack_inode(endian, INODE_BYTES[endian])._asdict() == INODE
    assert L.Inode(**INODE).byte_offset == 0x7C


@pytest.mark.parametrize("endian", ENDIANS)
def test_info_roundtrip(endian):
    obj = {"crc": 0xDEADBEEF, "edition": 7, "blocks": 40, "files": 9}
    data = b"".join(L.pack_u32(endian, obj[k]) for k in ("crc", "edition", "blocks", "files"))
    assert_roundtrip(L.info_struct(endian), data, obj)
    assert L.INFO_SIZE == len(data)


@pytest.mark.parametrize("endian", ENDIANS)
def test_superblock_roundtrip(endian):
    root = {"mode": 0o40755, "uid": 0, "size": 48, "gid": 0, "namelen": 0, "offset": 19}
    obj = {
        "magic": L.CRAMFS_MAGIC, "size": 4096, "flags": 3, "future": 0,
        "signature": L.CRAMFS_SIGNATURE,
        "fsid": {"crc": 0x12345678, "edition": 1, "blocks": 2, "files": 4},
        "name": b"Compressed".ljust(16, b"\0"), "root": root,
    }
    u = lambda v: L.pack_u32(endian, v)  # noqa: E731
    data = (u(L.CRAMFS_MAGIC) + u(4096) + u(3) + u(0) + L.CRAMFS_SIGNATURE
            + u(0x12345678) + u(1) + u(2) + u(4) + b"Compressed".ljust(16, b"\0")
            + L.pack_inode(endian, **root))
    assert_roundtrip(L.superblock_struct(endian), data, obj)
    assert L.SUPERBLOCK_SIZE == len(data) == 76
    assert data[L.SB_OFFSET_CRC : L.SB_OFFSET_CRC + 4] == u(0x12345678)
    assert data[L.SB_OFFSET_ROOT:] == L.pack_inode(endian, **root)


@pytest.mark.parametrize("endian", ENDIANS)
def test_block_pointer_and_u16_roundtrip(endian):
    ptrs = [0x100, 0x2000 | L.CRAMFS_BLK_FLAG_UNCOMPRESSED, 0x400 | L.CRAMFS_BLK_FLAGS]
    data = L.pack_block_pointers(endian, ptrs)
    assert_roundtrip(L.structs(endian).block_pointers(3), data, ptrs)
    assert list(L.unpack_block_pointers(endian, data, 0, 3)) == ptrs
    assert_roundtrip(L.structs(endian).u16, L.pack_u16(endian, 0x1234), 0x1234)
    assert L.unpack_u16(endian, L.pack_u16(endian, 513)) == 513
    with pytest.raises(ValueError):
        L.unpack_block_pointers(endian, data, 4, 3)


def test_constants():
    assert L.CRAMFS_MAGIC == 0x28CD3D45 and L.CRAMFS_MAGIC_WEND == 0x453DCD28
    assert L.CRAMFS_SUPPORTED_FLAGS == 0xFFF
    assert L.UTIL_LINUX_SUPPORTED_FLAGS == 0xFF
    assert L.CRAMFS_BLK_FLAGS == 0xC0000000
    assert L.CRAMFS_MAXPATHLEN == 252
    assert sum(w for word in L.INODE_WORDS for _, w in word) == 96
    assert L.detect_endian(L.pack_u32("big", L.CRAMFS_MAGIC)) == "big"
    assert L.detect_endian(L.pack_u32("little", L.CRAMFS_MAGIC)) == "little"
    assert L.detect_endian(b"\0\0\0\0") is None
    assert L.flag_names(0x803) == ["FSID_VERSION_2", "SORTED_DIRS", "EXT_BLOCK_POINTERS"]
    assert L.flag_names(0x1000) == ["0x1000"]


def test_helpers():
    assert L.pad_name(b"abcde") == (b"abcde\0\0\0", 2)
    assert L.pad_name(b"abcd") == (b"abcd", 1)
    assert L.pad_name(b"m" * 252)[1] == 63
    for bad in (b"", b"m" * 253):
        with pytest.raises(CramfsBuildError) as ei:
            L.pad_name(bad)
        assert ei.value.field == "namelen"
    p = L.make_block_pointer(0x1000, uncompressed=True, direct=True)
    assert p == 0xC0000400
    assert L.split_block_pointer(p) == (True, True, 0x1000)
    assert L.split_block_pointer(0x80000123) == (True, False, 0x123)
    with pytest.raises(CramfsBuildError):
        L.make_block_pointer(0x1002, direct=True)
    with pytest.raises(CramfsBuildError):
        L.make_block_pointer(0x40000000)


@pytest.mark.parametrize("endian", ENDIANS)
@pytest.mark.parametrize("field,width", [(n, w) for word in L.INODE_WORDS for n, w in word])
def test_inode_overflow_names_the_field(endian, field, width):
    vals = dict.fromkeys(L.INODE_FIELDS, 0) | {"mode": 0o100644, field: 1 << width}
    with pytest.raises(CramfsError) as ei:
        L.pack_inode(endian, **vals)
    assert ei.value.field == field and field in str(ei.value)
    with pytest.raises(CramfsBuildError):
        L.inode_struct(endian).build(vals)


@given(
    mode=st.integers(0, 0xFFFF), uid=st.integers(0, 0xFFFF), size=st.integers(0, 0xFFFFFF),
    gid=st.integers(0, 0xFF), namelen=st.integers(0, 63), offset=st.integers(0, (1 << 26) - 1),
    endian=st.sampled_from(ENDIANS),
)
def test_inode_codec_matches_construct(mode, uid, size, gid, namelen, offset, endian):
    obj = dict(mode=mode, uid=uid, size=size, gid=gid, namelen=namelen, offset=offset)
    data = L.pack_inode(endian, **obj)
    assert_roundtrip(L.inode_struct(endian), data, obj)
    assert L.unpack_inode(endian, b"xx" + data, 2) == L.Inode(**obj)


@needs_mkfs
@pytest.mark.parametrize("endian", ENDIANS)
def test_layout_matches_mkfs(tmp_path, endian):
    """Superblock and inodes of a mkfs.cramfs -N image decode with our declaration."""
    src = tmp_path / "t"
    src.mkdir()
    (src / "a").write_bytes(b"hello\n")
    img = mkfs(src, tmp_path / "i.img", "-N", endian, "-n", "nm", "-e", "3").read_bytes()
    sb = L.superblock_struct(endian).parse(img)
    assert sb.magic == L.CRAMFS_MAGIC and sb.signature == L.CRAMFS_SIGNATURE
    assert sb.flags == L.CRAMFS_FLAG_FSID_VERSION_2 | L.CRAMFS_FLAG_SORTED_DIRS
    assert sb.fsid.edition == 3 and sb.fsid.files == 2 and sb.fsid.blocks == 1
    assert sb.name == b"nm".ljust(16, b"\0") and sb.size == len(img)
    assert sb.root.offset << 2 == L.SUPERBLOCK_SIZE and sb.root.size == 16
    assert L.superblock_struct(endian).build(sb) == img[:76]
    child = L.unpack_inode(endian, img, 76)
    assert (child.mode & 0o170000, child.size, child.namelen) == (0o100000, 6, 1)
    assert img[88:92] == b"a\0\0\0"
    other = "big" if endian == "little" else "little"
    assert L.detect_endian(img) == endian
    assert L.superblock_struct(other).parse(img).magic == L.CRAMFS_MAGIC_WEND
