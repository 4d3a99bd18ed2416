"""The model against the real kernel: smaps counters and pagemap bits after the same calls.

Like tests/test_live_maps.py, each sequence runs on this machine's kernel (inside a region this
test process reserves) and on the model; then the region's /proc/self/smaps entries (Rss, Pss,
shared/private clean/dirty, Anonymous, VmFlags) and /proc/self/pagemap flags (present, file,
exclusive, soft-dirty) must be identical. Frame numbers are the machine's own (and hidden from
non-root readers), so only the flags are compared.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab import live
from mmlab.procfs import PM_PFRAME_MASK
from tests.test_live_maps import REGION, SEQUENCES, operations

pytestmark = pytest.mark.live


def differences(ops, pages=64):
    with live.Replay(pages=pages) as replay:
        replay.add_file("A", 16)
        replay.add_file("B-ro", 16, writable=False)
        mismatch = replay.run(ops)
        assert mismatch is None, str(mismatch)
        out = []
        real, model = replay.real_smaps(), replay.model_smaps()
        if real != model:
            out.append(f"smaps:\n  kernel {real}\n  model  {model}")
        flags = lambda entries: [e & ~PM_PFRAME_MASK for e in entries]  # noqa: E731
        real_pm, model_pm = flags(replay.real_pagemap(0, pages)), flags(
            replay.model_pagemap(0, pages))
        for page, (r, m) in enumerate(zip(real_pm, model_pm, strict=True)):
            if r != m:
                out.append(f"pagemap page {page}: kernel {r >> 55:#x}, model {m >> 55:#x}")
        return out


@pytest.mark.parametrize("name", list(SEQUENCES))
def test_named_sequence_smaps_and_pagemap(name):
    assert differences(SEQUENCES[name]) == []


def test_fault_around_maps_the_aligned_window_of_cached_pages_on_both_sides():
    """One read of page 5 maps the cached pages of a 16-page window that starts at the 64 KiB
    boundary below it (or the VMA's start): how many depends on where the region landed."""
    ops = [("mmap", 0, 16, 1, 2, "A", 0), ("touch", 5, False)]
    with live.Replay() as replay:
        replay.add_file("A", 16)
        assert replay.run(ops) is None
        first = replay.base >> 12  # the window: 16 pages from max(aligned, vm_start), and
        start = max((first + 5) & ~15, first)  # no further than the VMA or the PTE table
        pages = min(start + 16, first + 16, (start | 511) + 1) - start
        assert replay.real_smaps()[0]["Rss"] == replay.model_smaps()[0]["Rss"] == 4 * pages
        assert pages > 1


@pytest.mark.profile
@given(st.lists(operations(), min_size=1, max_size=12))
def test_generated_sequences_smaps_and_pagemap(ops):
    assert differences(ops, pages=REGION) == []
