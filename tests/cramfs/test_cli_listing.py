"""How files are stored (``ls -l``'s storage column) and what a tree holds (``info``):
mmlab.cramfs.listing, on mkfs.cramfs images and on the XIP samples."""

from __future__ import annotations

import json
import struct

import pytest

from mmlab.cramfs.listing import EMPTY, STORAGE_ORDER, UNREADABLE, count_tree, storage_kind
from mmlab.cramfs.reader import open_image

from .conftest import DATA, XIP_SAMPLE, fix_crc, needs_mkfs

XIP = DATA / "xip.cramfs"

#: data/xip-sample.cramfs (data/SAMPLES.md, xip-sample.mkcramfs-vvv.log): block kinds by file
XIP_SAMPLE_STORAGE = {
    "a_xip4": "xip", "b_xip16": "xip", "c_xiptail": "xip", "z_tail_last": "xip",
    "d_partial": "xip+zlib",  # two XIP pages, then two compressed blocks
    "e_midxip": "xip+zlib",  # compressed, XIP, XIP, compressed
    "f_comp.txt": "zlib+raw",  # the incompressible tail block is stored as is
    "g_rand.bin": "raw",
}


def storages(path, blocksize: int | None = None) -> dict[str, str]:
    with open_image(path, blocksize=blocksize) as im:
        return {e.path: storage_kind(im, e) for e in im.walk() if e.is_file()}


def test_storage_of_the_xip_sample():
    assert storages(XIP_SAMPLE) == XIP_SAMPLE_STORAGE


def test_storage_of_the_xip_image():
    assert storages(XIP) == {
        "README": "zlib", "bin/hello": "xip+zlib", "etc/empty": EMPTY, "etc/hostname": "raw",
        "etc/motd": "zlib", "lib/libmm.so.1": "xip+zlib", "share/motd.copy": "zlib",
        "var/sparse": "zlib+raw"}


@needs_mkfs
def test_storage_of_mkfs_images(image_factory):
    plain = storages(image_factory())
    assert set(plain.values()) == {"zlib", EMPTY}  # mkfs.cramfs compresses every block
    holes = storages(image_factory("-z"))
    assert holes["zeros.bin"] == "holes" and holes["holes.bin"] == "zlib+holes"
    assert holes["text.txt"] == "zlib" and holes["empty"] == EMPTY


def test_storage_words_follow_one_order():
    for word in {*XIP_SAMPLE_STORAGE.values(), "zlib+holes"}:
        parts = word.split("+")
        assert parts == sorted(parts, key=STORAGE_ORDER.index)


def test_count_tree_of_the_xip_image():
    with open_image(XIP) as im:
        counts = count_tree(im)
        assert counts.inodes == im.superblock.files == 18
    assert counts.as_dict() == {
        "inodes": 18, "directories": 7, "regular_files": 8, "symlinks": 1, "devices": 2,
        "fifos": 0, "sockets": 0,
        "storage": {"zlib": 3, "xip+zlib": 2, "zlib+raw": 1, "raw": 1, "empty": 1}}


@needs_mkfs
def test_count_tree_adds_up_to_fsid_files(image_factory):
    for opts in ((), ("-z",), ("-N", "big")):
        with open_image(image_factory(*opts)) as im:
            counts = count_tree(im)
            assert counts.inodes == im.superblock.files
            assert sum(counts.storage.values()) == counts.regular_files == 12
            assert (counts.directories, counts.symlinks) == (5, 3)


@needs_mkfs
def test_a_damaged_block_pointer_is_unreadable_not_fatal(image_factory):
    data = bytearray(image_factory().read_bytes())
    with open_image(bytes(data)) as im:
        e = im.lookup("random.bin")
        pointer = e.data_offset
    struct.pack_into("<I", data, pointer, 0xFFFFFF00)  # block 0 "ends" past the image
    fix_crc(data)
    with open_image(bytes(data)) as im:
        counts = count_tree(im)
    assert counts.storage[UNREADABLE] == 1 and counts.regular_files == 12
    assert json.loads(json.dumps(counts.as_dict()))["storage"][UNREADABLE] == 1


@pytest.mark.parametrize("path", [XIP_SAMPLE, XIP])
def test_storage_needs_no_inflating(path, monkeypatch):
    from mmlab.cramfs.reader import CramfsImage

    def refuse(self, block):
        raise AssertionError("storage_kind inflated a block")

    monkeypatch.setattr(CramfsImage, "read_block", refuse)
    monkeypatch.setattr(CramfsImage, "read_file", refuse)
    assert storages(path, blocksize=4096)  # (detecting the block size inflates a block)
