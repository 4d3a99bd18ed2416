"""The streaming writer: big files in pieces, doubles found on the way, and the output file.

* a tree of multi-MiB files (several read pieces, more than one output buffer, block
  pointers written back below what was flushed), doubles of big files (fingerprinted
  and compared piece by piece), same-size files that differ, holes across pieces:
  ``write_image`` and ``build_image`` equal ``mkfs.cramfs`` under several option sets;
* doubles still equal mkfs.cramfs's when every same-size file has the same
  fingerprint (candidates compared byte for byte, as mkfs.cramfs compares after MD5);
* XIP with big incompressible files (literal blocks written over compressed attempts
  across buffer flushes): the file and the in-memory image agree;
* the output: opened before the tree is read, like mkfs.cramfs (an image inside
  its own source tree is byte-identical to mkfs.cramfs's); a failure leaves no
  partial image; a fifo or /dev/null gets the image whole; a file that changes size
  after the scan is refused.
"""

from __future__ import annotations

import os
import random
import stat
import subprocess
import threading
import time
import warnings
from pathlib import Path

import pytest

from mmlab.cramfs import writer
from mmlab.cramfs.errors import CramfsIOError
from mmlab.cramfs.reader import open_image
from mmlab.cramfs.writer import CramfsWarning, build_image, write_image

from . import trees as T

pytestmark = pytest.mark.skipif(not T.HAVE_MKFS, reason="mkfs.cramfs not installed")

MIB = 1 << 20
OPTION_SETS = [{"endian": "little", "blocksize": 4096, **extra} for extra in (
    {},
    {"holes": True, "blocksize": 65536},
    {"endian": "big", "pad": True, "edition": 7, "name": "streamed"},
    {"insert_file": "INSERT", "blocksize": 16384, "holes": True},
)]


def _big_tree(root: Path) -> Path:
    rng = random.Random(20)
    big = root / "big"
    big.mkdir(parents=True)
    noise = rng.randbytes(3 * MIB + 123)  # 13 pieces of 256 KiB, 3 flushes of the buffer
    (big / "random.bin").write_bytes(noise)
    (big / "random-copy.bin").write_bytes(noise)  # a double of a multi-piece file
    (big / "random-other.bin").write_bytes(rng.randbytes(len(noise)))  # same size, other bytes
    text = (T.TEXT * (MIB // len(T.TEXT) * 3 // 2 + 1))[: 3 * MIB // 2]
    (big / "text.txt").write_bytes(text)
    os.link(big / "text.txt", big / "text-hardlink.txt")
    (big / "sparse.img").write_bytes(text[:10_000] + bytes(500_000) + text[:90_000])
    small = root / "small"
    small.mkdir()
    for i in range(300):  # sizes from a small set: many collisions, some doubles
        size = (1, 100, 4096, 4097, 20_000)[i % 5]
        seed = i % 7 if i % 3 else i
        (small / f"f{i:03d}").write_bytes(random.Random(seed).randbytes(size))
    (small / "empty").write_bytes(b"")
    (small / "link-equal-to-file").symlink_to("one-target")
    (small / "one-target").write_bytes(b"one-target")
    (small / "dangling").symlink_to("/nowhere/at/all")
    return root


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    return _big_tree(tmp_path_factory.mktemp("big") / "src")


def _mkfs(src: Path, opts: dict, work: Path) -> bytes:
    ref, _stderr = T.run_mkfs(src, opts, work)
    return ref


def _first_diff(a: bytes, b: bytes) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"first difference at 0x{i:x}"
    return f"lengths differ: {len(a)} vs {len(b)}"


@pytest.mark.parametrize("opts", OPTION_SETS, ids=T.option_id)
def test_big_files_equal_mkfs(big_tree, tmp_path, opts):
    ref = _mkfs(big_tree, opts, tmp_path)
    kw = T.writer_kwargs(opts, str(tmp_path / "insert.bin"))
    out = tmp_path / "mmlab.img"
    write_image(big_tree, out, **kw)
    streamed = out.read_bytes()
    assert streamed == ref, _first_diff(ref, streamed)
    in_memory = build_image(big_tree, **kw)
    assert in_memory == ref, _first_diff(ref, in_memory)


def test_doubles_are_compared_byte_for_byte(big_tree, tmp_path, monkeypatch):
    """Every same-size file gets one fingerprint: only the byte comparison tells them apart."""
    monkeypatch.setattr(writer, "_fingerprint", lambda e, data, chunk: 0)
    ref = _mkfs(big_tree, {}, tmp_path)
    write_image(big_tree, tmp_path / "x.img")
    assert (tmp_path / "x.img").read_bytes() == ref
    img = open_image(ref)
    offsets = {p: img.lookup(p).inode.offset for p in
               ("big/random.bin", "big/random-copy.bin", "big/random-other.bin")}
    assert offsets["big/random.bin"] == offsets["big/random-copy.bin"]
    assert offsets["big/random.bin"] != offsets["big/random-other.bin"]


@pytest.mark.parametrize("globs", [["big/random.bin"], ["big/text*", "small/f00*"]])
def test_xip_streamed_equals_in_memory(big_tree, tmp_path, globs):
    """XIP mode: incompressible blocks become literals written over the compressed attempt,
    XIP pages skip to page boundaries; both sinks must keep what is left in the gaps."""
    out = tmp_path / "xip.img"
    write_image(big_tree, out, xip=globs)
    image = build_image(big_tree, xip=globs)
    assert out.read_bytes() == image
    img = open_image(image)
    assert img.read_file(img.lookup("big/random.bin")) == (big_tree / "big/random.bin").read_bytes()


# --- the output file ---------------------------------------------------------------------------


def _small_src(root: Path) -> Path:
    root.mkdir()
    (root / "a").write_bytes(T.TEXT * 100)
    (root / "b").symlink_to("a")
    return root


def test_output_inside_the_tree_like_mkfs(tmp_path):
    """mkfs.cramfs truncates its output before reading the tree: the image lists itself as an
    empty file.  So does write_image."""
    src = _small_src(tmp_path / "src")
    inside = src / "out.img"
    inside.write_bytes(b"an old image" * 1000)
    subprocess.run([T.MKFS, str(src), str(inside)], check=True, capture_output=True)
    ref = inside.read_bytes()
    inside.write_bytes(b"an old image" * 1000)
    write_image(src, inside)
    assert inside.read_bytes() == ref
    assert open_image(ref).lookup("out.img").size == 0


def test_new_file_gets_mkfs_mode(tmp_path):
    src = _small_src(tmp_path / "src")
    old = os.umask(0o027)
    try:
        subprocess.run([T.MKFS, str(src), str(tmp_path / "mkfs.img")], check=True,
                       capture_output=True)
        write_image(src, tmp_path / "mmlab.img")
    finally:
        os.umask(old)
    modes = {stat.S_IMODE(os.stat(tmp_path / n).st_mode) for n in ("mkfs.img", "mmlab.img")}
    assert modes == {0o640}


def _fail_on_read(monkeypatch):
    def boom(e):
        raise CramfsIOError(f"cannot read {os.fsdecode(e.path)}: injected", where="writer")

    monkeypatch.setattr(writer, "_read_whole", boom)


def test_failure_removes_a_new_output(tmp_path, monkeypatch):
    src = _small_src(tmp_path / "src")
    _fail_on_read(monkeypatch)
    with pytest.raises(CramfsIOError, match="injected"):
        write_image(src, tmp_path / "new.img")
    assert not os.path.lexists(tmp_path / "new.img")


def test_failure_empties_an_existing_output(tmp_path, monkeypatch):
    src = _small_src(tmp_path / "src")
    out = tmp_path / "old.img"
    out.write_bytes(b"old")
    _fail_on_read(monkeypatch)
    with pytest.raises(CramfsIOError, match="injected"):
        write_image(src, out)
    assert out.read_bytes() == b""


def test_failure_in_a_big_image_leaves_nothing(big_tree, tmp_path, monkeypatch):
    """A failure after megabytes were flushed to the file: the file is removed."""
    real = writer._DataWriter.write
    seen = []

    def write_then_fail(self, piece):
        seen.append(piece)
        if len(seen) == 40:
            raise CramfsIOError("injected after 40 pieces", where="writer")
        real(self, piece)

    monkeypatch.setattr(writer._DataWriter, "write", write_then_fail)
    with pytest.raises(CramfsIOError, match="injected"):
        write_image(big_tree, tmp_path / "big.img")
    assert not os.path.lexists(tmp_path / "big.img")


def test_unwritable_output_raises_and_creates_nothing(tmp_path):
    src = _small_src(tmp_path / "src")
    with pytest.raises(CramfsIOError, match="cannot write"):
        write_image(src, tmp_path / "missing-dir" / "x.img")
    assert not (tmp_path / "missing-dir").exists()


def test_bad_source_leaves_the_output_alone(tmp_path):
    out = tmp_path / "keep.img"
    out.write_bytes(b"keep")
    with pytest.raises(CramfsIOError):
        write_image(tmp_path / "no-such-dir", out)
    assert out.read_bytes() == b"keep"


def test_fifo_gets_the_whole_image(tmp_path):
    src = _small_src(tmp_path / "src")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = bytearray()

    def drain():
        with open(fifo, "rb") as f:
            while chunk := f.read(65536):
                got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        write_image(src, fifo)
    finally:
        reader.join(10)
    assert bytes(got) == build_image(src)


def test_fifo_whose_reader_comes_late_still_gets_the_image(tmp_path):
    """The writer must wait for the reader: a FIFO opened read-write would not, and the bytes
    written before the reader opened would be lost when the writer closes it."""
    src = _small_src(tmp_path / "src")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got = bytearray()

    def late_drain():
        time.sleep(0.5)
        with open(fifo, "rb") as f:
            while chunk := f.read(65536):
                got.extend(chunk)

    reader = threading.Thread(target=late_drain, daemon=True)
    reader.start()
    try:
        write_image(src, fifo)
    finally:
        reader.join(10)
        if reader.is_alive():  # the bug: the reader waits for a writer that has gone
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
    assert bytes(got) == build_image(src)


def test_dev_null(tmp_path):
    write_image(_small_src(tmp_path / "src"), os.devnull)


def test_unknown_keyword(tmp_path):
    with pytest.raises(TypeError, match="write_image.*'level'"):
        write_image(tmp_path, tmp_path / "x.img", level=9)
    assert not (tmp_path / "x.img").exists()


@pytest.mark.parametrize("size", [1000, 700_000])  # read whole / read in pieces
def test_file_that_shrinks_after_the_scan_is_refused(tmp_path, monkeypatch, size):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x" * size)
    real = writer._scan

    def scan_then_shrink(root, warn):
        found = real(root, warn)
        (src / "f").write_bytes(b"short")
        return found

    monkeypatch.setattr(writer, "_scan", scan_then_shrink)
    with pytest.raises(CramfsIOError, match="changed size while reading"):
        write_image(src, tmp_path / "x.img")
    assert not (tmp_path / "x.img").exists()


def test_write_image_warns_like_build_image(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    if T.IS_ROOT:
        os.chown(src / "f", 70_000, 0)
    else:
        pytest.skip("needs root to own a file by uid 70000")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        write_image(src, tmp_path / "x.img")
    assert [str(w.message).split(" (first: ")[0] for w in caught
            if issubclass(w.category, CramfsWarning)] == [
        "warning: uids truncated to 16 bits.  (This may be a security concern.)"]
