"""Peak memory of the writer: write_image streams the image, build_image holds it once.

A ~22 MiB tree of incompressible data (one 8 MiB file, 24 of 512 KiB, 200 small ones)
is built under ``tracemalloc`` (which sees the compression threads' allocations too).
Before the writer streamed, both functions peaked at ~91 MiB on this tree: every input
file, every compressed block, the image and its copy.  The bound of issue 8 is "twice
the image plus 16 MiB"; each function also has its own, tighter one.
"""

from __future__ import annotations

import gc
import random
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from mmlab.cramfs.writer import build_image, write_image

MIB = 1 << 20


@pytest.fixture(scope="module")
def noise_tree(tmp_path_factory) -> Path:
    rng = random.Random(8)
    src = tmp_path_factory.mktemp("noise") / "src"
    src.mkdir()
    (src / "big.bin").write_bytes(rng.randbytes(8 * MIB))
    for i in range(24):
        (src / f"f{i:02d}.bin").write_bytes(rng.randbytes(512 << 10))
    small = src / "small"
    small.mkdir()
    for i in range(200):
        (small / f"s{i:03d}").write_bytes(rng.randbytes(rng.randrange(1, 20_000)))
    return src


def peak_of(job: Callable[[], object]) -> int:
    """Peak of the Python heap while ``job`` runs (what it returns is dropped inside)."""
    gc.collect()
    tracemalloc.start()
    try:
        job()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_write_image_holds_a_window_not_the_image(noise_tree, tmp_path):
    out = tmp_path / "noise.img"
    peak = peak_of(lambda: write_image(noise_tree, out))
    image = out.stat().st_size
    assert image > 20 * MIB
    assert peak < 2 * image + 16 * MIB
    # a window of input and compressed blocks, an output buffer: ~5 MiB here
    assert peak < image // 2, f"write_image peaked at {peak / MIB:.1f} MiB"


def test_build_image_holds_the_image_once(noise_tree):
    sizes = []
    peak = peak_of(lambda: sizes.append(len(build_image(noise_tree))))
    image = sizes[0]
    assert image > 20 * MIB
    assert peak < 2 * image + 16 * MIB
    # the image (its buffer grows by 1/8 at most) and the same window: ~1.2 x here
    assert peak < image * 3 // 2 + 4 * MIB, f"build_image peaked at {peak / MIB:.1f} MiB"
