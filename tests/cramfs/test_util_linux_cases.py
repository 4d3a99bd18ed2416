"""util-linux's public cramfs test cases (tests/ts/cramfs/*), replayed through mmlab's writer.

The expected outputs are util-linux's own files (``tests/cramfs/expected/``,
origin in ``ORIGIN.md``): they pin mkfs.cramfs's output independently of the
mkfs.cramfs binary installed here.

* ``mkfs-endianness``: a fixed tree built ``-N little`` and ``-N big``
  (``-b 4096``), compared as ``hexdump -C`` text;
* ``fsck-endianness``: a known little (big) endian image extracted and rebuilt
  in the other byte order, compared by md5 (extraction here: mmlab's reader);
* ``mkfs``: 111 directories x 11 files, ``-n testCramfs``; the md5 of every
  file and the ``ls -lR`` listing of the mounted image (here: read back with
  mmlab's reader);
* ``doubles``: two identical files share one copy of the data.
"""

from __future__ import annotations

import hashlib
import math
import stat
from pathlib import Path

import pytest

from mmlab.cramfs.reader import open_image
from mmlab.cramfs.tree import Dir, File, materialize
from mmlab.cramfs.writer import build_image

from . import trees as T

EXPECTED = Path(__file__).parent / "expected"


def hexdump_c(data: bytes) -> str:
    """``hexdump -C`` output (identical lines squeezed into ``*``)."""
    out = []
    prev = None
    squeezed = False
    for off in range(0, len(data), 16):
        chunk = data[off:off + 16]
        if chunk == prev and len(chunk) == 16:
            if not squeezed:
                out.append("*")
                squeezed = True
            continue
        squeezed = False
        prev = chunk
        hexes = [f"{b:02x}" for b in chunk]
        left = " ".join(hexes[:8])
        right = " ".join(hexes[8:])
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in chunk)
        out.append(f"{off:08x}  {left:<23}  {right:<23}  |{text}|")
    out.append(f"{len(data):08x}")
    return "\n".join(out) + "\n"


def endianness_tree() -> Dir:
    """tests/ts/cramfs/mkfs-endianness: dirs 0755, files copied with umask 133, group 0."""
    a = (EXPECTED / "mkfs-endianness_testdata_a").read_bytes()
    b = (EXPECTED / "mkfs-endianness_testdata_b").read_bytes()
    return Dir({"dirA": Dir({"dirB": Dir({"a": File(a, mode=0o644),
                                          "b": File(b, mode=0o644)})})}, mode=0o755)


def test_mkfs_endianness_hexdump():
    tree = endianness_tree()
    got = ""
    for endian in ("little", "big"):
        got += f"create {endian} endian\n"
        got += hexdump_c(build_image(tree, endian=endian, blocksize=4096))
    assert got == (EXPECTED / "mkfs-endianness").read_text()


@pytest.mark.skipif(not (T.HAVE_MKFS and T.IS_ROOT), reason="needs mkfs.cramfs and root")
def test_mkfs_endianness_installed_mkfs_agrees(tmp_path):
    materialize(endianness_tree(), tmp_path / "data")
    got = ""
    for endian in ("little", "big"):
        image, _ = T.run_mkfs(tmp_path / "data", {"endian": endian}, tmp_path)
        got += f"create {endian} endian\n" + hexdump_c(image)
    assert got == (EXPECTED / "mkfs-endianness").read_text()


def test_fsck_endianness_rebuild_other_byte_order():
    expected = (EXPECTED / "fsck-endianness").read_text().splitlines()
    got = []
    for src, dst in (("little", "big"), ("big", "little")):
        image = (EXPECTED / f"cramfs-{src}.img").read_bytes()
        got.append(f"extract from {src} endian")
        got.append(open_image(image).endian)  # fsck.cramfs -v: "cramfs endianness is ..."
        got.append(f"create {dst} endian")
        rebuilt = build_image(T.tree_from_image(image), endian=dst, blocksize=4096)
        got.append(hashlib.md5(rebuilt).hexdigest())
        # and the way back gives the original image
        assert build_image(T.tree_from_image(rebuilt), endian=src, blocksize=4096) == image
    assert got == expected


def _expected_sections() -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    heads = {"list checksums from original data", "list the image", "list checksums from new data",
             "create cramfs image", "umount the image"}
    for line in (EXPECTED / "mkfs").read_text().splitlines():
        if line in heads:
            current = line
            sections[current] = []
        elif current and line:
            sections[current].append(line)
    return sections


def _ls_line(mode: int, size: int, name: str) -> str:
    return f"{stat.filemode(mode)} 1 root root {size} 1970-01-01 01:00 {name}"


def _blocks(size: int) -> int:
    """i_blocks as get_cramfs_inode() sets it: (size - 1) / 512 + 1 (0 for empty)."""
    return (size - 1) // 512 + 1 if size else 0


def test_mkfs_checksums_and_listing():
    expected = _expected_sections()
    image = build_image(T.tree_checksums(), name="testCramfs")
    img = open_image(image)
    assert img.superblock.name.rstrip(b"\0") == b"testCramfs"
    sums = sorted(f"{hashlib.md5(img.read_file(e)).hexdigest()}  ./{e.path}"
                  for e in img.walk() if e.is_file())
    assert sums == expected["list checksums from new data"]
    assert sums == expected["list checksums from original data"]
    # ls -lR of the mounted image (every inode has nlink 1 and time 0 in cramfs)
    listing: list[str] = []
    dirs = [(".", img.root)]
    while dirs:
        label, d = dirs.pop(0)
        kids = img.listdir(d)
        listing.append(f"{label}:")
        total = math.ceil(sum(_blocks(k.size) for k in kids) / 2)
        listing.append(f"total {total}")
        for k in kids:
            listing.append(_ls_line(k.mode, k.size, k.name.decode()))
            if k.is_dir():
                dirs.append((f"{label}/{k.name.decode()}", k))
    assert listing == expected["list the image"]


def test_doubles_share_data():
    image = build_image(Dir({"a": File(b"hello\n"), "b": File(b"hello\n")}))
    img = open_image(image)
    a, b = img.lookup("a"), img.lookup("b")
    assert a.data_offset == b.data_offset and a.ino == b.ino
    assert img.read_file(b) == b"hello\n"
    assert img.superblock.blocks == 1  # one copy of the data
