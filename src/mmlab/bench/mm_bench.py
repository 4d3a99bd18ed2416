"""How the VMA model scales: find_vma and mmap with 65,530 VMAs (the default max_map_count).

The kernel finds a VMA in O(log n) (an rbtree at v4.15, a maple tree since v6.1). The goals for
the model: under 10 µs per ``find_vma`` and under 1 s to build the full address space.
"""

from __future__ import annotations

import random
import time

from mmlab.mm import (
    DEFAULT_MAX_MAP_COUNT,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MM,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    find_vma,
)

ANON = MAP_PRIVATE | MAP_ANONYMOUS


def build(n: int = DEFAULT_MAX_MAP_COUNT) -> tuple[MM, float]:
    """An mm with ``n`` VMAs made by ``n`` mmap calls (alternating rights, so none merge)."""
    mm = MM()
    t0 = time.perf_counter()
    for i in range(n):
        mm.mmap(0, PAGE_SIZE, PROT_READ if i % 2 else PROT_READ | PROT_WRITE, ANON)
    return mm, time.perf_counter() - t0


def per_call(fn, count: int) -> float:
    """Mean seconds per call of ``fn(i)`` over ``count`` calls."""
    t0 = time.perf_counter()
    for i in range(count):
        fn(i)
    return (time.perf_counter() - t0) / count


def main() -> None:
    mm, build_s = build()
    built = mm.map_count
    assert built == DEFAULT_MAX_MAP_COUNT
    rng = random.Random(1)
    lo, hi = mm.vmas[0].vm_start, mm.vmas[-1].vm_end
    addrs = [rng.randrange(lo, hi) for _ in range(100_000)]
    find_s = per_call(lambda i: find_vma(mm, addrs[i]), len(addrs))
    # mmap/munmap in the middle of the full address space: a hole is made, then refilled.
    vmas = mm.vmas
    holes = [vmas[rng.randrange(1, built - 1)].vm_start for _ in range(2000)]

    def remap(i: int) -> None:
        mm.munmap(holes[i], PAGE_SIZE)
        mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, ANON)

    remap_s = per_call(remap, len(holes))
    mm2 = MM()
    small_s = per_call(lambda i: find_vma(mm2, i * PAGE_SIZE), 100_000)
    print(f"build {built} VMAs by mmap: {build_s:.3f} s (goal < 1 s)")
    print(f"find_vma at {built} VMAs: {find_s * 1e6:.2f} µs/call (goal < 10 µs)")
    print(f"find_vma on an empty mm: {small_s * 1e6:.2f} µs/call")
    print(f"munmap + mmap (top-down search) at ~{built} VMAs: {remap_s * 1e6:.1f} µs/pair")


if __name__ == "__main__":
    main()
