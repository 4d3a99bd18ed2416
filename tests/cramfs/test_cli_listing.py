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


# --- mmlab cramfs ls -l / info -----------------------------------------------------------------

def cli(capsys, *argv: str) -> tuple[int, str, str]:
    from mmlab.cli import main

    code = main(["cramfs", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_ls_l_shows_the_storage_of_the_xip_sample(capsys):
    code, out, err = cli(capsys, "ls", "-l", str(XIP_SAMPLE))
    assert (code, err) == (0, "")
    assert out == "".join(
        f"-rw-r--r--     0   0 {size:>9} {XIP_SAMPLE_STORAGE[name]:<10} {name}\n"
        for name, size in [("a_xip4", 16384), ("b_xip16", 65536), ("c_xiptail", 12388),
                           ("d_partial", 16384), ("e_midxip", 16384), ("f_comp.txt", 12305),
                           ("g_rand.bin", 8192), ("z_tail_last", 4106)])


def test_ls_l_r_of_the_xip_image(capsys):
    code, out, _ = cli(capsys, "ls", "-l", "-R", str(XIP))
    rows = {line.split()[-1] if "->" not in line else line.split()[-3]: line.split()
            for line in out.splitlines()}
    assert rows["bin/hello"][4] == "xip+zlib" and rows["etc/hostname"][4] == "raw"
    assert rows["etc/empty"][4] == "empty" and rows["var/sparse"][4] == "zlib+raw"
    assert rows["bin"][4] == "-"
    assert rows["lib/libmm.so"][4:] == ["-", "lib/libmm.so", "->", "libmm.so.1"]
    assert rows["dev/null"][3:6] == ["1,", "3", "-"]  # major, minor; no storage for a device


@needs_mkfs
def test_ls_l_of_mkfs_images(capsys, image_factory):
    code, out, _ = cli(capsys, "ls", "-l", str(image_factory("-z")))
    storage = {line.split()[-1]: line.split()[4] for line in out.splitlines()
               if line.startswith("-")}
    assert storage["zeros.bin"] == "holes" and storage["holes.bin"] == "zlib+holes"
    assert storage["hello.txt"] == "zlib" and storage["empty"] == "empty"
    code, out, _ = cli(capsys, "ls", "-l", str(image_factory()), "/hello.txt")
    assert out.split()[4:] == ["zlib", "/hello.txt"]


def test_info_counts(capsys):
    code, out, err = cli(capsys, "info", str(XIP))
    assert (code, err) == (0, "")
    assert out.splitlines()[-2:] == [
        "inodes: 18 (7 directories, 8 regular files, 1 symlink, 2 device nodes, 0 fifos, "
        "0 sockets)",
        "storage: zlib 3, xip+zlib 2, zlib+raw 1, raw 1, empty 1"]
    code, out, _ = cli(capsys, "info", "--json", str(XIP_SAMPLE))
    tree = json.loads(out)["tree"]
    assert tree["storage"] == {"xip": 4, "xip+zlib": 2, "zlib+raw": 1, "raw": 1}
    assert tree["inodes"] == json.loads(out)["files"] == 9


@needs_mkfs
def test_damaged_pointers_show_as_unknown(capsys, image_factory, tmp_path):
    data = bytearray(image_factory().read_bytes())
    with open_image(bytes(data)) as im:
        pointer = im.lookup("random.bin").data_offset
    struct.pack_into("<I", data, pointer, 0xFFFFFF00)
    fix_crc(data)
    bad = tmp_path / "bad.img"
    bad.write_bytes(data)
    code, out, _ = cli(capsys, "ls", "-l", str(bad))
    assert code == 0 and [line.split()[4] for line in out.splitlines()
                          if line.endswith(" random.bin")] == ["?"]
    code, out, _ = cli(capsys, "info", str(bad))
    assert code == 0 and out.splitlines()[-1] == "storage: zlib 10, empty 1, bad 1"


@needs_mkfs
def test_info_on_a_damaged_tree_still_shows_the_superblock(capsys, image_factory, tmp_path):
    from mmlab.cramfs.layout import inode_codec

    data = bytearray(image_factory().read_bytes())
    with open_image(bytes(data)) as im:
        e = im.lookup("dir")
    moved = e.inode._replace(offset=(len(data) + 4096) >> 2)  # its entries: past the end
    data[e.inode_offset : e.inode_offset + 12] = inode_codec("little").pack(moved)
    fix_crc(data)
    bad = tmp_path / "bad.img"
    bad.write_bytes(data)
    code, out, err = cli(capsys, "info", str(bad))
    assert code == 1 and "crc_ok: True" in out and "inodes:" not in out
    assert err.startswith(f"mmlab cramfs info: {bad}: inode at 0x{e.inode_offset:x}: size: ")
    assert len(err.splitlines()) == 1
    code, out, _ = cli(capsys, "info", "--json", str(bad))
    assert code == 1 and "tree" not in json.loads(out)
