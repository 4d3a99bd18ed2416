"""The speed paths of reading: zlib-ng next to zlib, the superblock without construct, the
checker's whole-file path next to its block-by-block one, shared data inflated once, and
``writev`` of the blocks.  Each must give exactly what the plain path gives."""

from __future__ import annotations

import importlib
import os
import random
import struct
import subprocess
import sys
import zlib

import pytest

from mmlab.cramfs import check as check_module
from mmlab.cramfs import inflate
from mmlab.cramfs import layout as L
from mmlab.cramfs.check import check_image
from mmlab.cramfs.extract import extract
from mmlab.cramfs.reader import BlockKind, CramfsImage, _sharing_plan, open_image

from .conftest import ROOT, fix_crc, needs_mkfs, tree_snapshot

#: the module (``mmlab.cramfs.extract`` as an attribute is the function of the same name)
extract_module = importlib.import_module("mmlab.cramfs.extract")

pytestmark = needs_mkfs


def compressed_blocks(img) -> list[bytes]:
    with open_image(img) as im:
        return [bytes(im.data[b.start:b.end]) for e in im.walk() if e.is_file()
                for b in im.blocks(e) if b.kind is BlockKind.COMPRESSED]


def damaged(rng: random.Random, block: bytes) -> bytes:
    """One kind of damage a flash image meets: bit flips, a cut, junk after, a zeroed word."""
    d = bytearray(block)
    kind = rng.randrange(5)
    if kind == 0:
        for _ in range(rng.randint(1, 3)):
            d[rng.randrange(len(d))] ^= 1 << rng.randrange(8)
    elif kind == 1:
        d = d[:rng.randrange(len(d))]
    elif kind == 2:
        d += rng.randbytes(rng.randint(1, 8))
    elif kind == 3:
        d[rng.randrange(len(d))] = rng.randrange(256)
    else:
        p = rng.randrange(len(d))
        d[p:p + 4] = bytes(4)
    return bytes(d)


def zlib_verdict(raw: bytes, out_size: int) -> bytes | None:
    try:
        out = zlib.decompress(raw, 15, out_size)
    except zlib.error:
        return None
    return out if len(out) == out_size else None


def test_zlib_ng_is_the_engine_where_it_is_installed():
    pytest.importorskip("zlib_ng")
    assert inflate.ENGINE.startswith("zlib-ng ")


def test_the_engine_gives_zlibs_verdict_and_bytes_on_damaged_blocks(image_factory):
    """3,000 damaged blocks of a mkfs.cramfs image: inflate_block accepts exactly what zlib
    accepts (inflating to the block's size) and gives the same bytes."""
    blocks = compressed_blocks(image_factory())
    rng = random.Random(15)
    accepted = 0
    for _ in range(3000):
        raw = damaged(rng, rng.choice(blocks))
        for out_size in (4096, len(zlib_verdict(raw, 1 << 16) or b"") or 1):
            want = zlib_verdict(raw, out_size)
            assert inflate.inflate_block(raw, out_size) == want, raw.hex()
            accepted += want is not None
    assert 50 < accepted < 3000  # both kinds of verdict were reached


def test_crc32_is_zlibs_in_pieces():
    rng = random.Random(2)
    data = rng.randbytes(100_000)
    assert inflate.crc32(data) == zlib.crc32(data)
    assert inflate.crc32(memoryview(data)[500:], inflate.crc32(data[:500])) == zlib.crc32(data)


def test_without_zlib_ng_zlib_does_the_work(image_factory, monkeypatch):
    """The fallback (Pyodide, no wheel): the same check report and the same contents."""
    img = image_factory()
    with open_image(img) as im:
        want = {e.path: im.read_file(e) for e in im.walk() if e.is_file()}
    before = check_image(img)
    monkeypatch.setattr(inflate, "_fast_decompress", zlib.decompress)
    monkeypatch.setattr(inflate, "_fast_error", zlib.error)
    monkeypatch.setattr(inflate, "_fast_crc32", zlib.crc32)
    with open_image(img) as im:
        assert {e.path: im.read_file(e) for e in im.walk() if e.is_file()} == want
    after = check_image(img)
    assert (after.messages(), after.blocks, after.bytes_out) == (
        before.messages(), before.blocks, before.bytes_out)


@pytest.mark.parametrize("endian", ["little", "big"])
def test_unpack_superblock_is_the_construct_declaration(endian):
    """200 random superblocks decoded both ways: every field the same."""
    rng = random.Random(endian)
    decl = L.superblock_struct(endian)
    for _ in range(200):
        raw = rng.randbytes(L.SUPERBLOCK_SIZE + 8)
        pos = rng.randrange(9)
        c = decl.parse(raw[pos:])
        got = L.unpack_superblock(endian, raw, pos)
        assert got == L.SuperblockFields(
            c.magic, c.size, c.flags, c.future, bytes(c.signature), c.fsid.crc,
            c.fsid.edition, c.fsid.blocks, c.fsid.files, bytes(c.name),
            L.Inode(**{k: c.root[k] for k in L.Inode._fields}))
    with pytest.raises(struct.error):
        L.unpack_superblock(endian, bytes(75))
    with pytest.raises(ValueError, match="middle"):
        L.unpack_superblock("middle", bytes(76))  # type: ignore[arg-type]


# --- the checker's whole-file path ------------------------------------------------------------


def check_both_ways(img, monkeypatch) -> tuple:
    fast = check_image(img)
    with monkeypatch.context() as m:
        m.setattr(check_module, "_queue_classic", lambda *a: None)
        slow = check_image(img)
    return (fast.messages(), fast.warnings, fast.blocks, fast.bytes_out, fast.files), (
        slow.messages(), slow.warnings, slow.blocks, slow.bytes_out, slow.files)


def test_whole_file_check_reports_what_the_block_path_reports(image_factory, monkeypatch,
                                                               tmp_path):
    """Sound images, and 150 damaged copies (bytes changed in the pointers and the data,
    CRC fixed so the damage itself is what is found): the same report both ways."""
    for opts in ((), ("-b", "16384"), ("-N", "big")):
        fast, slow = check_both_ways(image_factory(*opts), monkeypatch)
        assert fast == slow and not fast[0]
    base = bytearray(image_factory().read_bytes())
    with open_image(bytes(base)) as im:
        root_end = max(e.inode_offset for e in im.walk()) + 64
    rng = random.Random(8)
    found = 0
    for i in range(150):
        buf = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            buf[rng.randrange(root_end, len(buf))] = rng.randrange(256)
        img = tmp_path / f"d{i}.cramfs"
        img.write_bytes(fix_crc(buf))
        fast, slow = check_both_ways(img, monkeypatch)
        assert fast == slow, i
        found += bool(fast[0])
    assert found > 50  # most of the damage was seen


# --- shared data inflated once --------------------------------------------------------------


class FakeInode:
    def __init__(self, offset: int, size: int) -> None:
        self.offset, self.size = offset, size


class FakeEntry:
    def __init__(self, offset: int, size: int) -> None:
        self.inode = FakeInode(offset, size)
        self.size = size


def test_sharing_plan_keeps_data_from_first_to_last_use_within_the_budget():
    a, b, c, empty = (100, 10), (200, 30), (300, 5), (0, 0)
    entries = [FakeEntry(*k) for k in (a, b, a, c, b, empty, empty, a, c)]
    source, last = _sharing_plan(entries, budget=1000)
    assert source == [-1, -1, 0, -1, 1, -1, -1, 0, 3]
    assert last == [7, 4, 2, 8, 4, 5, 6, 7, 8]
    source, last = _sharing_plan(entries, budget=0)  # nothing kept: everything read
    assert source == [-1] * 9 and last == list(range(9))
    # room for a (10) but not for b (30) while a is kept; after b's run, c fits again
    source, _ = _sharing_plan(entries, budget=20)
    assert source == [-1, -1, 0, -1, -1, -1, -1, 0, 3]


def test_duplicates_are_inflated_once_and_read_alike(image_factory, monkeypatch):
    """mkfs.cramfs stores identical files once: iter_file_chunks reads them once."""
    with open_image(image_factory()) as im:
        files = [e for e in im.walk() if e.is_file()]
        keys = [(e.inode.offset, e.size) for e in files if e.size]
        assert len(set(keys)) < len(keys)  # same1/same2 of the test tree
        want = {e.path: im.read_file(e) for e in files}
        for threads in (1, 2):
            reads: list[str] = []
            original = im.read_chunks

            def counting(entry, original=original, reads=reads):
                reads.append(entry.path)
                return original(entry)

            monkeypatch.setattr(im, "read_chunks", counting)
            got = {e.path: b"".join(c) for e, c in im.iter_file_chunks(files, threads=threads)}
            monkeypatch.undo()
            assert got == want
            assert len(reads) == len(files) - (len(keys) - len(set(keys)))


# --- writev ---------------------------------------------------------------------------------


def test_extract_survives_short_writes_and_a_small_iov_max(image_factory, src_tree, tmp_path,
                                                           monkeypatch):
    """writev may write less than asked, and takes at most IOV_MAX buffers: the files come
    out whole anyway."""
    real = os.writev

    def short(fd, buffers):
        assert len(buffers) <= 3
        first = bytes(buffers[0])
        return real(fd, [first[:max(1, len(first) // 3)]])

    monkeypatch.setattr(extract_module.os, "writev", short)
    monkeypatch.setattr(extract_module.os, "sysconf", lambda name: 3)
    extract(image_factory(), tmp_path / "out")
    assert tree_snapshot(tmp_path / "out") == tree_snapshot(src_tree)


def test_read_chunks_are_the_file(image_factory):
    with open_image(image_factory("-b", "8192")) as im:
        for e in im.walk():
            if e.is_file() or e.is_symlink():
                chunks = im.read_chunks(e)
                assert b"".join(chunks) == im.read_file(e)
                assert all(len(c) == im.blocksize for c in chunks[:-1])


def test_image_view_is_released_on_close(image_factory):
    im = open_image(image_factory())
    view = im.view()
    assert view is im.view() and len(view) == len(im.data)
    im.close()
    with pytest.raises(ValueError):
        len(view)
    assert isinstance(im, CramfsImage)


# --- the thread pool ------------------------------------------------------------------------


def test_pool_runs_jobs_and_hands_back_values_and_exceptions():
    from mmlab.cramfs.pool import Pool

    with Pool(2) as pool:
        jobs = [pool.submit(pow, i, 2) for i in range(50)]
        bad = pool.submit(int, "x")
        assert [j.result() for j in jobs] == [i * i for i in range(50)]
        with pytest.raises(ValueError, match="invalid literal"):
            bad.result()


def test_pool_cancels_what_has_not_started_and_waits_for_what_runs():
    import threading

    from mmlab.cramfs.pool import Pool

    started, release = threading.Event(), threading.Event()
    ran: list[int] = []

    def blocker() -> str:
        started.set()
        release.wait(5)
        return "done"

    pool = Pool(1)
    first = pool.submit(blocker)
    started.wait(5)
    later = [pool.submit(ran.append, i) for i in range(3)]
    assert later[0].cancel() and not first.cancel()  # running: cannot be cancelled
    threading.Timer(0.05, release.set).start()
    pool.shutdown()  # cancels later[1:], waits for the blocker
    assert first.result() == "done" and ran == []
    for job in later:
        with pytest.raises(RuntimeError, match="cancelled"):
            job.result()


def test_reading_commands_keep_off_the_slow_imports():
    """What made ``mmlab cramfs check`` start 25 ms later: none of it is loaded (check,
    extract, ls, info)."""
    slow = ("dataclasses", "typing", "logging", "concurrent.futures", "pathlib", "inspect",
            "secrets", "construct")
    code = ("import sys, mmlab.cli, mmlab.cramfs.check, mmlab.cramfs.extract, "
            "mmlab.cramfs.listing; "
            f"print(sorted(m for m in {slow!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"


def test_without_zlib_ng_installed_the_package_imports_and_reads(image_factory):
    """What Pyodide sees: no zlib_ng module at all."""
    code = ("import sys; sys.modules['zlib_ng'] = None\n"
            "from mmlab.cramfs.inflate import ENGINE\n"
            "from mmlab.cramfs.check import check_image\n"
            f"r = check_image({str(image_factory())!r})\n"
            "print(ENGINE.split()[0], r.ok, r.bytes_out > 0)")
    out = subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                         capture_output=True, text=True).stdout
    assert out.split() == ["zlib", "True", "True"]
