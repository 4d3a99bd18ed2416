"""The speed paths of issue 22 (root file systems of many small files), each held to the
plain path it shortens:

* the inflate calls get :data:`~mmlab.cramfs.inflate.OUT_SLACK` bytes of spare room: a
  block that inflates to a little more (or less) than its size is still refused, with the
  same report on the checker's whole-file path and on its block-by-block path;
* the checker reads a sound symlink once (no per-block objects): on damaged images full
  of symlinks it reports what the general path reports;
* ``mmlab cramfs build`` packs the superblock without construct (the two agree on random
  superblocks) and loads none of the slow modules;
* the writer reads a small file with ``os.read``, even one that comes in short pieces.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import zlib

import pytest

from mmlab.cramfs import check as check_module
from mmlab.cramfs import inflate, writer
from mmlab.cramfs import layout as L
from mmlab.cramfs.check import check_image
from mmlab.cramfs.errors import CramfsBuildError
from mmlab.cramfs.reader import open_image
from mmlab.cramfs.writer import write_image

from .conftest import MKFS, ROOT, fix_crc, needs_mkfs


def report_of(img) -> tuple:
    r = check_image(img)
    return r.messages(), r.warnings, r.blocks, r.bytes_out, r.files


# --- spare room for inflate -------------------------------------------------------------------


@pytest.mark.parametrize("extra", [-300, -1, 1, 100, 257, 258, 259, inflate.OUT_SLACK - 1,
                                   inflate.OUT_SLACK, inflate.OUT_SLACK + 1, 4096])
def test_a_block_of_another_size_is_refused_despite_the_room(extra):
    data = random.Random(extra).randbytes(4096 + extra)
    raw = zlib.compress(data, 6)
    assert inflate.inflate_block(raw, 4096) is None
    assert inflate.inflate_block(raw, len(data)) == data


@needs_mkfs
def test_a_file_shorter_than_its_blocks_is_reported_alike_both_ways(tmp_path, monkeypatch):
    """The inode says 4000 bytes, the block inflates to 4096 (within the spare room): the
    whole-file path reports what the block-by-block path reports."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(random.Random(1).randbytes(2048) * 2)
    (src / "g").write_bytes(b"x" * 10_000)
    img = tmp_path / "a.img"
    subprocess.run([MKFS, str(src), str(img)], check=True, capture_output=True)
    buf = bytearray(img.read_bytes())
    with open_image(bytes(buf)) as im:
        e = im.lookup("f")
        codec = L.inode_codec(im.endian)
        buf[e.inode_offset:e.inode_offset + L.INODE_SIZE] = codec.pack(
            {**e.inode._asdict(), "size": 4000})
    bad = tmp_path / "bad.img"
    bad.write_bytes(fix_crc(buf))
    fast = report_of(bad)
    with monkeypatch.context() as m:
        m.setattr(check_module, "_queue_classic", lambda *a: None)
        slow = report_of(bad)
    assert fast == slow
    assert any("inflates to 4096 bytes, expected 4000" in msg for msg in fast[0])


# --- big files in runs of blocks --------------------------------------------------------------


@needs_mkfs
@pytest.mark.parametrize("run", [1, 3, 64])
def test_big_files_checked_in_runs_report_what_the_block_path_reports(tmp_path, monkeypatch,
                                                                       run):
    """Files of many blocks (text, random, with holes under -z) queued in runs of ``run``
    blocks, and 60 damaged copies: the same report as block by block."""
    monkeypatch.setattr(check_module, "RUN_BLOCKS", run)
    rng = random.Random(run)
    src = tmp_path / "src"
    src.mkdir()
    text = b"".join(b"line %d of a log file\n" % i for i in range(20_000))
    (src / "text.log").write_bytes(text[:300_000])
    (src / "noise.bin").write_bytes(rng.randbytes(70_000))
    (src / "sparse").write_bytes(text[:9000] + bytes(40_000) + text[:5000])
    img = tmp_path / "big.img"
    subprocess.run([MKFS, "-z", str(src), str(img)], check=True, capture_output=True)

    def both(path) -> tuple[tuple, tuple]:
        fast = report_of(path)
        with monkeypatch.context() as m:
            m.setattr(check_module, "_queue_classic", lambda *a: None)
            slow = report_of(path)
        return fast, slow

    fast, slow = both(img)
    assert fast == slow and not fast[0] and fast[2]["hole"] >= 8
    base = bytearray(img.read_bytes())
    with open_image(bytes(base)) as im:
        data_start = max(e.inode_offset for e in im.walk()) + 64
        data_end = max(b.end for e in im.walk() for b in im.blocks(e))
    found = 0
    for i in range(60):
        buf = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(data_start, data_end)] = rng.randrange(256)
        damaged = tmp_path / f"d{i}.img"
        damaged.write_bytes(fix_crc(buf))
        fast, slow = both(damaged)
        assert fast == slow, i
        found += bool(fast[0])
    assert found > 30


# --- the caller works too -----------------------------------------------------------------------


def test_help_until_runs_queued_jobs_on_the_waiting_thread():
    """While a worker is stuck on one job, the caller waiting for a later one runs the
    queued jobs itself, in order, and gets values and exceptions as result() would."""
    import threading

    from mmlab.cramfs.pool import Pool

    started, release = threading.Event(), threading.Event()
    ran_on: list[tuple[int, str]] = []

    def blocker() -> str:
        started.set()
        release.wait(5)
        return "slow"

    def note(i: int) -> int:
        ran_on.append((i, threading.current_thread().name))
        return i * i

    with Pool(1, "helper") as pool:
        stuck = pool.submit(blocker)
        started.wait(5)
        jobs = [pool.submit(note, i) for i in range(5)]
        bad = pool.submit(int, "x")
        assert pool.help_until(jobs[2]) == 4  # runs jobs 0, 1, 2 here
        assert [i for i, _ in ran_on] == [0, 1, 2]
        assert {name for _, name in ran_on} == {threading.current_thread().name}
        assert [pool.help_until(j) for j in jobs] == [0, 1, 4, 9, 16]
        with pytest.raises(ValueError, match="invalid literal"):
            pool.help_until(bad)
        release.set()
        assert pool.help_until(stuck) == "slow"  # running on the worker: waited for


@needs_mkfs
@pytest.mark.parametrize("small_batches", [False, True])
def test_check_with_more_threads_reports_what_one_thread_reports(tmp_path, monkeypatch,
                                                                 small_batches):
    """Damaged images checked by one thread, by a worker + this thread, by three workers +
    this thread (also in batches of 16 KiB, two in flight: results collected during the
    walk): the same report."""
    if small_batches:
        monkeypatch.setattr(check_module, "BATCH_BYTES", 16 << 10)
        monkeypatch.setattr(check_module, "MAX_IN_FLIGHT", 2)
    rng = random.Random(4)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(40):
        (src / f"f{i}").write_bytes(rng.randbytes(2000) * rng.randint(1, 60))
    img = tmp_path / "a.img"
    subprocess.run([MKFS, str(src), str(img)], check=True, capture_output=True)
    base = bytearray(img.read_bytes())
    for i in range(20):
        buf = bytearray(base)
        for _ in range(rng.randint(0, 5)):
            buf[rng.randrange(4096, len(buf))] = rng.randrange(256)
        damaged = tmp_path / f"d{i}.img"
        damaged.write_bytes(fix_crc(buf))
        reports = []
        for threads in (1, 2, 4):
            r = check_image(damaged, threads=threads)
            reports.append((r.messages(), r.warnings, r.blocks, r.bytes_out, r.files))
        assert reports[0] == reports[1] == reports[2], i


# --- symlinks read once -----------------------------------------------------------------------


@needs_mkfs
def test_symlink_fast_path_reports_what_the_general_path_reports(tmp_path, monkeypatch):
    """A sound image of 300 symlinks, and 120 damaged copies (bytes changed in the pointers
    and the targets, CRC fixed): the same report with and without the fast path."""
    rng = random.Random(22)
    src = tmp_path / "src"
    src.mkdir()
    for i in range(300):
        target = "/".join("x" * rng.randint(1, 30) for _ in range(rng.randint(1, 12)))
        if i % 50 == 0:
            target = "a" * rng.randint(2000, 4000)  # a long target
        os.symlink(target, src / f"l{i:03d}")
    (src / "file").write_bytes(b"data\n" * 2000)
    img = tmp_path / "links.img"
    subprocess.run([MKFS, str(src), str(img)], check=True, capture_output=True)

    def both(path) -> tuple[tuple, tuple]:
        fast = report_of(path)
        with monkeypatch.context() as m:
            m.setattr(check_module, "_check_link_classic", lambda *a: None)
            slow = report_of(path)
        return fast, slow

    fast, slow = both(img)
    assert fast == slow and not fast[0] and fast[3] > 300
    base = bytearray(img.read_bytes())
    with open_image(bytes(base)) as im:
        data_start = max(e.inode_offset for e in im.walk()) + 64
        data_end = max(b.end for e in im.walk() for b in im.blocks(e))
    found = 0
    for i in range(120):
        buf = bytearray(base)
        for _ in range(rng.randint(1, 3)):
            buf[rng.randrange(data_start, data_end)] = rng.randrange(256)
        damaged = tmp_path / f"d{i}.img"
        damaged.write_bytes(fix_crc(buf))
        fast, slow = both(damaged)
        assert fast == slow, i
        found += bool(fast[0])
    assert found > 40  # the damage was seen


@needs_mkfs
def test_a_symlink_target_with_a_nul_is_reported_alike_both_ways(tmp_path, monkeypatch):
    """A target whose stored block inflates soundly to bytes holding a NUL (the block swapped
    for one of the same length): reported by the fast path as by the general one."""
    src = tmp_path / "src"
    src.mkdir()
    os.symlink("abcdefgh", src / "link")
    img = tmp_path / "a.img"
    subprocess.run([MKFS, str(src), str(img)], check=True, capture_output=True)
    buf = bytearray(img.read_bytes())
    with open_image(bytes(buf)) as im:
        (block,) = im.blocks(im.lookup("link"))
    good, bad = zlib.compress(b"abcdefgh", 6), zlib.compress(b"abc\0efgh", 6)
    assert bytes(buf[block.start:block.end]) == good and len(bad) == len(good)
    buf[block.start:block.end] = bad
    (tmp_path / "nul.img").write_bytes(fix_crc(buf))
    fast = report_of(tmp_path / "nul.img")
    with monkeypatch.context() as m:
        m.setattr(check_module, "_check_link_classic", lambda *a: None)
        slow = report_of(tmp_path / "nul.img")
    assert fast == slow
    assert fast[0] == ["/link: inode at 0x4c: size: symbolic link target is empty or contains NUL"]


# --- build: the superblock without construct, start-up --------------------------------------


@pytest.mark.parametrize("endian", ["little", "big"])
def test_pack_superblock_is_the_construct_declaration(endian):
    """200 random superblocks packed both ways: the same 76 bytes, and they decode back."""
    rng = random.Random(endian)
    decl = L.superblock_struct(endian)
    for _ in range(200):
        fields = L.SuperblockFields(
            *(rng.getrandbits(32) for _ in range(4)), rng.randbytes(16),
            *(rng.getrandbits(32) for _ in range(4)), rng.randbytes(16),
            L.Inode(rng.getrandbits(16), rng.getrandbits(16), rng.getrandbits(24),
                    rng.getrandbits(8), rng.getrandbits(6), rng.getrandbits(26)))
        packed = L.pack_superblock(endian, fields)
        assert packed == decl.build({
            "magic": fields.magic, "size": fields.size, "flags": fields.flags,
            "future": fields.future, "signature": fields.signature,
            "fsid": {"crc": fields.crc, "edition": fields.edition, "blocks": fields.blocks,
                     "files": fields.files},
            "name": fields.name, "root": fields.root._asdict()})
        assert L.unpack_superblock(endian, packed) == fields
    with pytest.raises(CramfsBuildError, match="does not fit in 26 bits"):
        L.pack_superblock(endian, fields._replace(root=fields.root._replace(offset=1 << 26)))
    with pytest.raises(ValueError, match="middle"):
        L.pack_superblock("middle", fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("endian", ["little", "big"])
def test_pack_truncated_is_pack_of_the_values_cut_to_their_fields(endian):
    """The writer's inode packer: :meth:`InodeCodec.pack` of each value cut to its width."""
    rng = random.Random(endian)
    codec = L.inode_codec(endian)
    widths = dict(name_width for word in L.INODE_WORDS for name_width in word)
    for _ in range(500):
        values = {name: rng.getrandbits(width + rng.choice((0, 0, 3, 9)))
                  for name, width in widths.items()}
        cut = {name: v & ((1 << widths[name]) - 1) for name, v in values.items()}
        assert codec.pack_truncated(**values) == codec.pack(cut)


def test_build_keeps_off_the_slow_imports(tmp_path):
    """What made ``mmlab cramfs build`` start 23 ms later (construct, dataclasses,
    concurrent.futures with logging): none of it is loaded by a build from a directory."""
    src = tmp_path / "src"
    src.mkdir()
    (src / "a").write_bytes(b"a" * 300_000)
    (src / "b").symlink_to("a")
    slow = ("dataclasses", "typing", "logging", "concurrent.futures", "pathlib", "inspect",
            "construct", "mmlab.cramfs.tree", "mmlab.cramfs.elf")
    code = ("import sys, mmlab.cli\n"
            "from mmlab.cramfs.writer import write_image\n"
            f"write_image({str(src)!r}, {str(tmp_path / 'x.img')!r})\n"
            f"print(sorted(m for m in {slow!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"
    with open_image(tmp_path / "x.img") as im:
        assert im.read_file(im.lookup("a")) == b"a" * 300_000


@needs_mkfs
def test_small_files_read_in_short_pieces_make_mkfs_image(tmp_path, monkeypatch):
    """``os.read`` may return less than asked (a FUSE or network file system): the writer
    reads on, and the image is still mkfs.cramfs's."""
    src = tmp_path / "src"
    src.mkdir()
    for i in range(20):
        (src / f"f{i}").write_bytes(random.Random(i).randbytes(i * 997 + 1) * 3)
    ref = tmp_path / "ref.img"
    subprocess.run([MKFS, str(src), str(ref)], check=True, capture_output=True)
    real_read = os.read
    calls = []

    def short_read(fd: int, n: int) -> bytes:
        calls.append(n)
        return real_read(fd, min(n, 1000))

    monkeypatch.setattr(writer.os, "read", short_read)
    write_image(src, tmp_path / "mine.img")
    monkeypatch.undo()
    assert (tmp_path / "mine.img").read_bytes() == ref.read_bytes()
    assert len(calls) > 40  # the files did come in pieces
