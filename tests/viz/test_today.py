"""Chapter 9's explorer and helpers, driven as a learner drives them.

Expected values come from the 6.12 rules read in Debian's linux-source-6.12 (the VMA lock is
tried first; a writer of mmap_sem blocks every v4.15 fault of the process) and from what the
kernel of the test machine reports, not from the code under test.
"""

from __future__ import annotations

import json
import sys

import pytest

from mmlab.viz.today import (
    COURSE_DATA,
    ERAS,
    LOCK_KINDS,
    SCENES,
    LockTimelineExplorer,
    can_run_live,
    capture_612_comparison,
    fault_trace,
    format_race_rows,
    format_traces,
    format_two_threads,
    live_two_threads,
    pfn_mixup,
    race_rows,
    stored_two_threads,
    two_threads,
)

HANDLER = next(iter(SCENES))
MPROTECT = list(SCENES)[1]


def every_state(explorer: LockTimelineExplorer):
    for scene in SCENES:
        explorer.set(scene=scene)
        for era in ERAS:
            explorer.set(era=era)
            for step in range(1, len(explorer.steps) + 1):
                explorer.set(step=step)
                yield scene, era, step


def test_every_state_reads_right_and_redraws_fast():
    explorer = LockTimelineExplorer()
    explorer.widget()
    seen = 0
    for scene, era, step in every_state(explorer):
        assert explorer.layout_problems() == [], (scene, era, step)
        seen += 1
    assert seen > 40
    times = sorted(explorer.update_times)
    assert times[len(times) // 2] < 0.05 and times[int(len(times) * 0.95)] < 0.1  # p50, p95


def test_the_handler_blocks_the_other_thread_on_4_15_only():
    old = LockTimelineExplorer(HANDLER, "v4.15")
    new = LockTimelineExplorer(HANDLER, "v6.12")
    assert old.waits(1) >= 1 and new.waits(1) == 0
    # on 6.12 the other thread's write fault runs while the handler holds mmap_sem for writing
    held = new.held()
    overlap = [k for k, step in enumerate(new.steps)
               if step.thread == 1 and held[k][0] == "write" and held[k][1] == "vma"]
    assert overlap
    assert "under VMA lock" in new.run.outcomes[1]
    assert "waits" in old.describe() and "down_read" in old.describe()


def test_the_split_waits_for_the_fault_holding_the_vma_lock_on_6_12():
    new = LockTimelineExplorer(MPROTECT, "v6.12")
    waits = [s for s in new.steps if 1 in s.waiting()]
    assert waits and waits[0].pending[1] == "syscall"
    assert "vma_start_write: a fault holds the VMA's lock" in new.describe()
    assert not new.run.broken


def test_the_legend_lists_exactly_the_kinds_drawn():
    for era in ERAS:
        explorer = LockTimelineExplorer(HANDLER, era)
        svg = explorer.svg().decode()
        drawn = {k for k in LOCK_KINDS if f'id="kind-{k}"' in svg}
        legend = {k for k in LOCK_KINDS if f'id="legend-{k}"' in svg}
        assert drawn == legend and drawn
        assert ("lock-vma" in drawn) == (era == "v6.12")


def test_steps_and_buttons():
    explorer = LockTimelineExplorer(HANDLER, "v6.12")
    last = len(explorer.steps)
    assert explorer.index == 1
    explorer.press("previous")
    assert explorer.index == 1
    explorer.press("next")
    assert explorer.index == 2
    assert [line for line in explorer.describe().splitlines() if "▶" in line][1].startswith(
        " ▶ 2.")
    explorer.set(step=last)
    explorer.press("next")
    assert explorer.index == last
    explorer.set(scene=MPROTECT)
    assert explorer.index == min(last, len(explorer.steps))
    with pytest.raises(KeyError):
        LockTimelineExplorer("no such scene")
    with pytest.raises(KeyError):
        LockTimelineExplorer(HANDLER, "v5.10")


def test_the_same_fault_in_each_era():
    old, res_old, _ = fault_trace("v4.15", cached=(4,))
    new, res_new, vmstat = fault_trace("v6.12", cached=(4,))
    names_old, names_new = [n for _, n in old], [n for _, n in new]
    assert "down_read_trylock" in names_old and "lock_vma_under_rcu" not in names_old
    assert "lock_vma_under_rcu" in names_new and "down_read_trylock" not in names_new
    assert res_new.vma_lock and vmstat["vma_lock_success"] == 1
    text = format_traces(cached=(4,))
    assert text.splitlines()[0].startswith("v4.15:") and "v6.12:" in text.splitlines()[0]


def test_the_races_table_has_both_eras():
    rows = race_rows(("munmap in the window",), ("split", "split-v3"))
    assert [(r.strategy, r.old[0] > 0, r.new[0] > 0) for r in rows] == [
        ("split", True, True), ("split-v3", False, False)]
    assert "v6.12 broken" in format_race_rows(rows)


def test_pfn_mixup_is_4096_times_too_far():
    m = pfn_mixup(0x1000_0000)
    assert m["right_pfn"] == 0x10000 and m["passed"] == 0x1000_0000
    assert m["mapped_phys"] == 0x100_0000_0000  # 1 TiB up, where nothing is


def test_the_stored_capture_says_where_it_comes_from():
    data = stored_two_threads()
    assert data["source"] == "stored" and data["machine"].startswith("Linux ")
    text = format_two_threads(data)
    assert "stored from Linux" in text
    assert (COURSE_DATA / "README.md").exists()


@pytest.mark.skipif(sys.platform != "linux", reason="needs a Linux kernel")
def test_two_threads_on_this_kernel_match_the_model():
    assert can_run_live()
    data = live_two_threads()
    model = data["model"]
    assert data["threads"] == model["threads"]
    assert data["smaps"] == model["smaps"]
    assert two_threads()["source"] == "live"
    stored = json.loads((COURSE_DATA / "two-threads.json").read_text())
    assert stored["threads"] == data["threads"] or stored["release"] != data["release"]


def test_the_6_12_capture_agrees_field_by_field_in_both_eras():
    for era in ERAS:
        rows = capture_612_comparison(era)
        assert len(rows) > 300 and all(r.same for r in rows), era
