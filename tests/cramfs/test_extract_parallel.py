"""Parallel inflate while extracting: the reader's thread pool (workers=None: 2 threads when
more than one CPU is usable), the same tree as one thread, and bounded memory when the
writing side is slower than the inflating side."""

from __future__ import annotations

import os
import random
import time
import tracemalloc

import pytest

from mmlab.cramfs.extract import extract
from mmlab.cramfs.reader import CramfsImage

from .conftest import mkfs, needs_mkfs, tree_snapshot

pytestmark = needs_mkfs

MIB = 1 << 20
BIG_FILES = 24  #: files of 1 MiB of random bytes: a 24 MiB image


@pytest.fixture(scope="module")
def big_image(tmp_path_factory):
    base = tmp_path_factory.mktemp("big")
    src = base / "src"
    src.mkdir()
    rng = random.Random(8)
    for i in range(BIG_FILES):
        (src / f"f{i:02d}").write_bytes(rng.randbytes(MIB))
    return mkfs(src, base / "big.img"), src


@pytest.mark.parametrize("workers", [1, 2, 3, None])
def test_same_tree_whatever_the_workers(image_factory, src_tree, tmp_path, workers):
    for opts in [(), ("-N", "big", "-z"), ("-b", "8192")]:
        out = tmp_path / f"out{len(opts)}"
        report = extract(image_factory(*opts), out, workers=workers)
        assert tree_snapshot(out) == tree_snapshot(src_tree)
        assert report.bytes == sum(p.stat().st_size for p in src_tree.rglob("*")
                                   if p.is_file() and not p.is_symlink())


@pytest.mark.parametrize(("cpus", "workers", "threads"), [
    ({0}, None, 1), ({0, 1}, None, 2), ({0, 1, 2, 3}, None, 2), ({0, 1}, 1, 1), ({0}, 3, 3)])
def test_workers_choose_the_inflate_threads(image_factory, tmp_path, monkeypatch, cpus,
                                            workers, threads):
    seen: list[int] = []
    original = CramfsImage.iter_file_chunks

    def spy(self, entries=None, *, threads: int = 2, ahead: int | None = None):
        seen.append(threads)
        return original(self, entries, threads=threads, ahead=ahead)

    monkeypatch.setattr(CramfsImage, "iter_file_chunks", spy)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(cpus))
    extract(image_factory(), tmp_path / "out", workers=workers)
    assert seen == [threads]


@pytest.mark.parametrize("workers", [1, 2])
def test_memory_stays_bounded_with_a_slow_writer(big_image, tmp_path, workers):
    """24 MiB of files, a writer slower than the inflate threads: the pool may run only a
    few 1 MiB batches ahead, so the Python heap peaks far below the image's data."""
    img, src = big_image

    def slow(nbytes: int) -> None:
        time.sleep(0.01)

    tracemalloc.start()
    try:
        report = extract(img, tmp_path / "out", workers=workers, progress=slow)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert report.bytes == BIG_FILES * MIB
    assert peak < 12 * MIB, f"peak {peak / MIB:.1f} MiB"
    assert (tmp_path / "out" / "f07").read_bytes() == (src / "f07").read_bytes()


def test_reader_pool_stops_early_when_closed(big_image):
    """Closing the contents iterator after one file cancels the batches not started."""
    img, _ = big_image
    from mmlab.cramfs.reader import open_image

    with open_image(img) as im:
        files = [e for e in im.walk() if e.is_file()]
        calls: list[str] = []
        read = im.read_chunks

        def counting(entry):
            calls.append(entry.path)
            return read(entry)

        im.read_chunks = counting  # instance attribute: what the pool's workers call
        it = im.iter_file_contents(files, threads=2, ahead=2)
        next(it)
        it.close()
        time.sleep(0.05)
        assert len(calls) <= 3, calls  # the first batch, at most two more: not all 24
