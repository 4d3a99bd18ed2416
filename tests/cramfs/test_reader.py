"""Images made by mkfs.cramfs (and the npitre XIP sample) read back to their source."""

from __future__ import annotations

import hashlib
import re
import struct

import pytest

from mmlab.cramfs import CramfsError, open_image
from mmlab.cramfs.errors import (
    CramfsDataError,
    CramfsMagicError,
    CramfsNotFoundError,
    CramfsTruncatedError,
    CramfsUnsupportedError,
)
from mmlab.cramfs.layout import CRAMFS_FLAG_FSID_VERSION_2
from mmlab.cramfs.reader import BlockKind

from .conftest import XIP_LOG, XIP_MD5, XIP_SAMPLE, image_snapshot, mkfs, needs_mkfs, tree_snapshot

pytestmark = needs_mkfs

VARIANTS = [
    (),
    ("-N", "big"),
    ("-N", "little"),
    ("-z",),
    ("-N", "big", "-z"),
    ("-p",),
    ("-N", "big", "-p"),
    ("-e", "42", "-n", "my volume"),
    ("-b", "8192"),
    ("-b", "16384", "-N", "big"),
    ("-b", "65536", "-z"),
]


@pytest.mark.parametrize("opts", VARIANTS, ids=lambda o: " ".join(o) or "default")
def test_mkfs_image_reads_back(image_factory, src_tree, opts):
    img = image_factory(*opts)
    with open_image(img) as im:
        assert image_snapshot(im) == tree_snapshot(src_tree)
        assert im.crc_ok() is True
        want_bs = int(opts[opts.index("-b") + 1]) if "-b" in opts else 4096
        assert im.blocksize == want_bs
        sb = im.superblock
        assert sb.endian == ("big" if "big" in opts else "little")
        assert sb.base == (512 if "-p" in opts else 0)
        if "-e" in opts:
            assert sb.edition == 42 and sb.name_str == "my volume"
        assert sb.files == 1 + sum(1 for _ in im.walk())
        shared = {e.data_offset: e for e in im.walk() if e.is_file() or e.is_symlink()}
        nblocks = sum(len(im.blocks(e)) for e in shared.values())  # doubles stored once
        assert sb.blocks == nblocks
        kinds = {b.kind for e in im.walk() if e.is_file() for b in im.blocks(e)}
        if "-z" in opts:
            assert BlockKind.HOLE in kinds
        else:
            assert kinds == {BlockKind.COMPRESSED}


def test_bytes_and_path_agree(image_factory):
    img = image_factory()
    with open_image(img) as a:
        b = open_image(img.read_bytes())
        assert image_snapshot(a) == image_snapshot(b)
        assert a.info() == b.info()


def test_identical_files_share_data(image_factory):
    with open_image(image_factory()) as im:
        same1 = im.lookup("same1")
        same2 = im.lookup("same2")
        assert same1.data_offset == same2.data_offset and same1.ino == same2.ino
        empty = im.lookup("empty")
        assert empty.ino == empty.inode_offset + 1


def test_lookup_and_symlinks(image_factory):
    with open_image(image_factory("-N", "big")) as im:
        assert im.read_file(im.lookup("dir/sub/deeper/leaf")) == bytes(range(256)) * 3
        assert im.readlink(im.lookup("dir/uplink")) == "../hello.txt"
        assert im.lookup("dir/uplink", follow=True).path == "hello.txt"
        assert im.lookup("/link", follow=True).path == "hello.txt"
        with pytest.raises(CramfsNotFoundError):
            im.lookup("dir/dangling", follow=True)
        with pytest.raises(CramfsNotFoundError):
            im.lookup("nope")
        assert im.lookup("/").path == ""


def test_insert_file_shifted_root(tmp_path, small_tree):
    boot = tmp_path / "boot.bin"
    boot.write_bytes(b"\xeb\xfe" * 301)
    img = mkfs(small_tree, tmp_path / "i.img", "-i", str(boot))
    with open_image(img) as im:
        assert im.superblock.flags & 0x400
        assert image_snapshot(im) == tree_snapshot(small_tree)
        assert im.crc_ok()


def test_old_format_without_fsid(image_factory):
    data = bytearray(image_factory().read_bytes())
    flags = struct.unpack_from("<I", data, 8)[0] & ~CRAMFS_FLAG_FSID_VERSION_2
    struct.pack_into("<I", data, 8, flags)
    data += bytes(100)  # old images have no size: trailing bytes are harmless
    im = open_image(bytes(data))
    assert im.crc_ok() is None
    assert im.read_file(im.lookup("text.txt")).startswith(b"line 000000")


def test_xip_sample_contents():
    with open_image(XIP_SAMPLE) as im:
        assert im.superblock.flags & 0x800 and im.crc_ok()
        got = {e.path: (e.size, hashlib.md5(im.read_file(e)).hexdigest()) for e in im.walk()}
        assert got == XIP_MD5
        # the threaded reader gives the same bytes
        got2 = {e.path: hashlib.md5(data).hexdigest() for e, data in im.iter_file_contents()}
        assert got2 == {k: v[1] for k, v in XIP_MD5.items()}


def test_xip_sample_block_kinds_match_mkcramfs_log():
    """Each "XIP at 0x... for file offset 0x..." line is a DIRECT block; all others are not."""
    expected: dict[str, list[tuple[int, int]]] = {}
    pending: list[tuple[int, int]] = []
    for line in XIP_LOG.read_text().splitlines():
        m = re.match(r"XIP at (0x[0-9a-f]+) for file offset (0x[0-9a-f]+|0)", line)
        if m:
            pending.append((int(m.group(1), 16), int(m.group(2), 16)))
            continue
        m = re.match(r"\s*-?[\d.]+% \(.*\)\s+(\S+)$", line)
        if m:
            expected[m.group(1)] = pending
            pending = []
    assert len(expected) == 8
    with open_image(XIP_SAMPLE) as im:
        for e in im.walk():
            direct = [(b.start, b.index * im.blocksize) for b in im.blocks(e)
                      if b.kind is BlockKind.DIRECT]
            assert direct == expected[e.path], e.path
            for b in im.blocks(e):
                if b.kind is BlockKind.DIRECT:
                    assert b.target == b.start and b.start % 4096 == 0
                    assert b.pointer & 0xC0000000 == 0xC0000000
        kinds = {b.kind for e in im.walk() for b in im.blocks(e)}
        assert kinds == {BlockKind.DIRECT, BlockKind.COMPRESSED, BlockKind.UNCOMPRESSED}


@pytest.mark.parametrize(
    "patch,exc",
    [
        (lambda b: b.__setitem__(slice(0, 4), b"\0\0\0\0"), CramfsMagicError),
        (lambda b: b.__delitem__(slice(60, None)), CramfsTruncatedError),
        (lambda b: b.__delitem__(slice(4096, None)), CramfsTruncatedError),
        (lambda b: b.__setitem__(slice(8, 12), b"\x03\x10\0\0"), CramfsUnsupportedError),
    ],
    ids=["magic", "short", "truncated", "flags"],
)
def test_bad_images_raise_cramfs_errors(image_factory, patch, exc):
    data = bytearray(image_factory().read_bytes())
    patch(data)
    with pytest.raises(exc) as ei:
        open_image(bytes(data))
    assert ei.value.offset is not None and ei.value.field
    assert f"0x{ei.value.offset:x}" in str(ei.value)


def test_corrupt_block_is_a_data_error(image_factory):
    data = bytearray(image_factory().read_bytes())
    with open_image(bytes(data)) as im:
        e = im.lookup("text.txt")
        b = im.blocks(e)[0]
    data[b.start + 10 : b.start + 30] = bytes(20)
    im = open_image(bytes(data))
    with pytest.raises(CramfsDataError) as ei:
        im.read_file(im.lookup("text.txt"))
    assert isinstance(ei.value, CramfsError) and ei.value.offset == b.start


def test_missing_file_is_io_error(tmp_path):
    from mmlab.cramfs.errors import CramfsIOError

    with pytest.raises(CramfsIOError):
        open_image(tmp_path / "nope.img")
    (tmp_path / "empty.img").write_bytes(b"")
    with pytest.raises(CramfsTruncatedError):
        open_image(tmp_path / "empty.img")
