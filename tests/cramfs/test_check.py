"""check_image reaches fsck.cramfs's verdict (``--extract``: inflate everything) on good
and damaged images, and accepts the valid variants fsck rejects."""

from __future__ import annotations

import struct

import pytest

from mmlab.cramfs import check_image
from mmlab.cramfs.check import EXIT_ERROR, EXIT_OK, EXIT_UNCORRECTED
from mmlab.cramfs.errors import (
    CramfsCRCError,
    CramfsDataError,
    CramfsIOError,
    CramfsTruncatedError,
)
from mmlab.cramfs.reader import open_image

from .conftest import XIP_SAMPLE, fix_crc, fsck, mkfs, needs_mkfs

pytestmark = needs_mkfs

GOOD = [(), ("-N", "big"), ("-p",), ("-N", "big", "-p"), ("-e", "9", "-n", "vol"),
        ("-b", "8192"), ("-b", "65536", "-N", "big")]
#: valid images util-linux 2.38 fsck.cramfs refuses ("unsupported filesystem features", exit 8)
FSCK_REFUSES = [("-z",), ("-N", "big", "-p", "-z"), ("-b", "16384", "-z")]


def _fsck_opts(opts):
    return ("-b", opts[opts.index("-b") + 1]) if "-b" in opts else ()


@pytest.mark.parametrize("opts", GOOD, ids=lambda o: " ".join(o) or "default")
def test_good_images_agree(image_factory, opts):
    img = image_factory(*opts)
    assert fsck(img, *_fsck_opts(opts)) == 0
    report = check_image(img)
    assert report.exit_code == EXIT_OK, [str(e) for e in report.errors]
    assert report.warnings == []
    assert report.bytes_out > 0


@pytest.mark.parametrize("opts", FSCK_REFUSES, ids=lambda o: " ".join(o))
def test_holes_accepted_where_fsck_refuses(image_factory, opts):
    img = image_factory(*opts)
    assert fsck(img, *_fsck_opts(opts)) == EXIT_ERROR
    report = check_image(img)
    assert report.ok, [str(e) for e in report.errors]
    assert report.blocks.get("hole", 0) > 0


def test_insert_file_accepted_where_fsck_refuses(small_tree, tmp_path):
    boot = tmp_path / "boot"
    boot.write_bytes(b"boot code")
    img = mkfs(small_tree, tmp_path / "i.img", "-i", str(boot))
    assert fsck(img) == EXIT_ERROR
    assert check_image(img).ok


def _data_block(img_bytes: bytes, path: str):
    im = open_image(img_bytes)
    return im.blocks(im.lookup(path))[0], im.superblock


def _flip_crc(b, img):
    b[0x20] ^= 1


def _truncate(b, img):
    del b[len(b) // 2 :]


def _bad_magic(b, img):
    b[0:4] = b"\x45\x3d\xcd\x29"


def _data_no_crc(b, img):
    blk, _ = _data_block(bytes(b), "text.txt")
    b[blk.start + 20] ^= 0xFF


def _data_fixed_crc(b, img):
    blk, sb = _data_block(bytes(b), "text.txt")
    b[blk.start + 20 : blk.start + 40] = bytes(20)
    fix_crc(b, sb.endian, sb.base)


def _zero_files(b, img):
    b[0x2C:0x30] = bytes(4)
    fix_crc(b)


def _bad_flags(b, img):
    struct.pack_into("<I", b, 8, 0x3 | 0x1000)
    fix_crc(b)


def _bad_root_offset(b, img):
    w = struct.unpack_from("<I", b, 0x48)[0]
    struct.pack_into("<I", b, 0x48, (w & 0x3F) | ((0x60 >> 2) << 6))
    fix_crc(b)


def _short_pointer(b, img):
    blk, sb = _data_block(bytes(b), "random.bin")
    struct.pack_into("<I", b, blk.pointer_offset, blk.pointer - 8)
    fix_crc(b)


BAD = [_flip_crc, _truncate, _bad_magic, _data_no_crc, _data_fixed_crc, _zero_files,
       _bad_flags, _bad_root_offset, _short_pointer]


@pytest.mark.parametrize("damage", BAD, ids=lambda f: f.__name__.strip("_"))
def test_damaged_images_agree(image_factory, tmp_path, damage):
    img = image_factory()
    data = bytearray(img.read_bytes())
    damage(data, img)
    bad = tmp_path / "bad.img"
    bad.write_bytes(data)
    want = fsck(bad)
    report = check_image(bad)
    assert want in (EXIT_UNCORRECTED, EXIT_ERROR)
    assert report.exit_code == want
    for err in report.errors:
        assert err.field and (err.offset is None or f"0x{err.offset:x}" in str(err))


def test_crc_error_is_named(image_factory):
    data = bytearray(image_factory("-N", "big").read_bytes())
    data[0x23] ^= 0x80
    report = check_image(bytes(data))
    assert [type(e) for e in report.errors] == [CramfsCRCError]
    assert report.errors[0].offset == 0x20 and report.errors[0].field == "fsid.crc"


def test_trailing_bytes_warn_like_fsck(image_factory, tmp_path):
    img = tmp_path / "long.img"
    img.write_bytes(image_factory().read_bytes() + bytes(4096))
    assert fsck(img) == 0
    report = check_image(img)
    assert report.ok and any("extends past" in w for w in report.warnings)


def test_xip_sample_accepted_where_fsck_refuses():
    assert fsck(XIP_SAMPLE) == EXIT_ERROR  # "unsupported filesystem features"
    report = check_image(XIP_SAMPLE)
    assert report.ok, [str(e) for e in report.errors]
    assert report.blocks == {"direct": 30, "compressed": 7, "uncompressed": 3}
    assert any("hole" in w for w in report.warnings)  # the v4.15 last-XIP-page quirk


def test_non_4k_blocks_accepted_without_option(image_factory):
    img = image_factory("-b", "16384")
    assert fsck(img) == EXIT_UNCORRECTED  # fsck.cramfs assumes the page size
    assert check_image(img).ok


def test_missing_image_is_operational_error(tmp_path):
    with pytest.raises(CramfsIOError):
        check_image(tmp_path / "missing.img")


def test_old_format_agrees(image_factory, tmp_path):
    data = bytearray(image_factory().read_bytes())
    struct.pack_into("<I", data, 8, 0x2)  # SORTED_DIRS only: no fsid
    old = tmp_path / "old.img"
    old.write_bytes(data)
    assert fsck(old) == 0
    report = check_image(old)
    assert report.ok and any("old cramfs format" in w for w in report.warnings)


def test_directory_cycle_is_an_error(small_tree, tmp_path):
    img = mkfs(small_tree, tmp_path / "c.img")
    data = bytearray(img.read_bytes())
    im = open_image(bytes(data))
    sub = im.lookup("dir/sub")
    w = struct.unpack_from("<I", data, sub.inode_offset + 8)[0]
    struct.pack_into("<I", data, sub.inode_offset + 8, (w & 0x3F) | ((76 >> 2) << 6))
    struct.pack_into("<I", data, sub.inode_offset + 4, im.root.size)
    fix_crc(data)
    report = check_image(bytes(data))
    assert report.exit_code == EXIT_UNCORRECTED
    assert any("cycle" in str(e) for e in report.errors)


# --- root cause first, truncated images, the inflate threads ---------------------------------

def test_truncation_comes_before_the_crc_it_breaks(image_factory, tmp_path):
    data = image_factory().read_bytes()
    bad = tmp_path / "half.img"
    bad.write_bytes(data[: len(data) // 2])
    assert fsck(bad) == EXIT_UNCORRECTED  # "file length too short"
    report = check_image(bad)
    assert report.exit_code == EXIT_UNCORRECTED
    first, last = report.errors[0], report.errors[-1]
    assert isinstance(first, CramfsTruncatedError) and first.field == "size"
    assert str(first).startswith(
        f"superblock at 0x4: size: image truncated: fsid.size is 0x{len(data):x} bytes but "
        f"the file has only 0x{len(data) // 2:x}; ")
    assert report.missing > 0 and f"{report.missing} blocks or inodes" in str(first)
    assert isinstance(last, CramfsCRCError) and "missing bytes read as zeros" in str(last)
    assert report.truncated_at == len(data) // 2 and report.endian == "little"


def test_truncated_padding_is_only_a_truncation(image_factory):
    data = image_factory().read_bytes()
    end = len(data.rstrip(b"\0"))
    assert end < len(data)  # mkfs.cramfs pads the image with zeros
    report = check_image(data[:end])
    assert [type(e) for e in report.errors] == [CramfsTruncatedError]
    assert report.missing == 0


def test_a_bad_block_comes_before_the_crc(image_factory):
    data = bytearray(image_factory().read_bytes())
    _data_no_crc(data, None)
    report = check_image(bytes(data))
    assert [type(e) for e in report.errors] == [CramfsDataError, CramfsCRCError]
    assert report.paths == ["text.txt", ""]
    assert report.messages()[0].startswith("/text.txt: block at 0x")


@pytest.mark.parametrize("damage", [None, _truncate, _data_no_crc, _short_pointer],
                         ids=lambda f: f.__name__.strip("_") if f else "good")
def test_one_thread_and_two_agree(image_factory, damage):
    data = bytearray(image_factory("-z").read_bytes())
    if damage:
        damage(data, None)
    seen: list[int] = []
    one = check_image(bytes(data), threads=1)
    two = check_image(bytes(data), threads=2, progress=seen.append)
    assert one.messages() == two.messages()
    assert (one.bytes_out, one.blocks, one.files, one.missing) == (
        two.bytes_out, two.blocks, two.files, two.missing)
    assert 0 < sum(seen) <= two.bytes_out  # symlink targets are read during the walk
    if damage is None:
        with open_image(bytes(data)) as im:
            links = sum(e.size for e in im.walk() if e.is_symlink())
        assert sum(seen) == two.bytes_out - links
    assert all(type(k) is str for k in two.blocks)


def test_default_threads_follows_the_cpus(monkeypatch):
    from mmlab.cramfs import check

    monkeypatch.setattr(check.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert check.default_threads() == 1
    monkeypatch.setattr(check.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    assert check.default_threads() == 2


def test_a_truncation_too_big_to_fill_is_only_reported(image_factory, monkeypatch):
    from mmlab.cramfs import check

    data = image_factory().read_bytes()
    monkeypatch.setattr(check, "MAX_PADDED_SIZE", len(data) - 1)  # fsid.size is above it
    report = check_image(data[: len(data) // 2])
    assert [type(e) for e in report.errors] == [CramfsTruncatedError]
    assert report.truncated_at is None and "superblock says" in str(report.errors[0])
