"""Chapter 9's explorer and helpers, driven as a learner drives them.

Expected values come from the 6.12 rules read in Debian's linux-source-6.12 (the VMA lock is
tried first; a writer of mmap_sem blocks every v4.15 fault of the process) and from what the
kernel of the test machine reports, not from the code under test.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter

import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure

from mmlab.viz.today import (
    COURSE_DATA,
    ERAS,
    LOCK_KINDS,
    NUMBER_EVERY_STEP,
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
    step_label,
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
    assert ("thread 1 waits: vma_start_write: thread 0's fault (at pages 0-4) holds the VMA's "
            "read lock; thread 1 holds mmap_lock for writing meanwhile") in new.describe()
    assert not new.run.broken
    # it waits holding mmap_lock for writing (taken in mmap_write_lock): drawn under the hatch
    k = new.steps.index(waits[0])
    assert new.held()[k][1] == "write" and new.steps[k - 1].label == "mmap_write_lock"
    new.set(step=k + 1)
    assert 'id="kind-wait"' in new.svg().decode()
    assert "mmap_write_lock (for the mprotect)" in new.describe()


def test_on_4_15_the_mprotect_waits_for_the_faults_read_hold_and_then_holds_the_write_lock():
    """v4.15 has no VMA locks: the mprotect's down_write waits while the fault holds mmap_sem
    for reading, and its one step (down_write, the split, up_write) holds it for writing."""
    old = LockTimelineExplorer(MPROTECT, "v4.15")
    k = next(i for i, s in enumerate(old.steps) if 1 in s.waiting())
    assert old.why(k, 1) == "down_write: mmap_sem is held for reading by thread 0's fault"
    assert "vma_start_write" not in old.describe() and "VMA" not in old.why(k, 1)
    call = next(i for i, s in enumerate(old.steps) if s.label == "syscall")
    assert old.held()[call][1] == "write"
    assert "mprotect (down_write, changes the VMAs, up_write)" in old.describe()
    assert "waited 1 step;" in old.describe()


def test_both_eras_close_each_fault_with_the_cpu_running_the_access_again():
    """A fault thread's last step is the access run again (the CPU returns from the fault), on
    both kernels, whichever lock the fault ended under."""
    for scene in SCENES:
        for era in ERAS:
            explorer = LockTimelineExplorer(scene, era)
            for t, spec in enumerate(SCENES[scene].threads):
                mine = [s.label for s in explorer.steps if s.thread == t]
                if type(spec).__name__ == "Fault":
                    assert mine[0] == "fault" and mine[-1] == "fault", (scene, era, t, mine)


def test_6_12_outcomes_read_in_the_order_things_happened():
    new = LockTimelineExplorer(HANDLER, "v6.12")
    assert new.run.outcomes[0] == "VMA lock RETRY → mmap_lock, split, RETRY x1, done"
    assert new.run.outcomes[1] == "under VMA lock, done"
    assert LockTimelineExplorer(HANDLER, "v4.15").run.outcomes[0] == "split, done"


def test_6_12_says_mmap_lock_and_6_12_names():
    for era, name in (("v4.15", "mmap_sem"), ("v6.12", "mmap_lock")):
        explorer = LockTimelineExplorer(HANDLER, era)
        svg = explorer.svg().decode()
        assert f"holds {name} for writing" in svg and f"holds {name} for reading" in svg
    new = LockTimelineExplorer(HANDLER, "v6.12").describe()
    assert "mmap_write_lock_killable" in new and "down_write_killable" not in new
    assert "lock_mm_and_find_vma" in new and "mmap_write_downgrade" in new


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
    assert text.splitlines()[0].startswith("v4.15:")
    assert "v6.12 (in 6.12's names):" in text.splitlines()[0]
    # the 6.12 column in 6.12's names, and a note that says which the model calls otherwise
    cold = format_traces("split", page=4)
    right = [line[46:].strip() for line in cold.splitlines()[1:] if len(line) > 46]
    assert right[0] == "do_user_addr_fault" and "do_page_fault" not in right
    assert {"lock_mm_and_find_vma", "mmap_read_trylock", "filemap_read_folio",
            "cramfs_read_folio", "mmap_write_lock_killable", "mmap_write_downgrade"} <= set(right)
    assert not {"page_cache_read", "cramfs_readpage", "down_read_trylock", "up_read",
                "down_write_killable", "downgrade_write"} & set(right)
    left = [line[:46].strip() for line in cold.splitlines()[1:]]
    assert "page_cache_read" in left and "cramfs_readpage" in left and "up_read" in left
    assert "page_cache_read → filemap_read_folio" in " ".join(cold.split("\n\n")[-1].split())


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


# --- the colours: one rule, and a blocked thread sees what blocks it ---------------------------
def _drawn_colour(explorer: LockTimelineExplorer, column: int, thread: int) -> tuple[int, ...]:
    """The colour a learner sees in ``thread``'s lane at ``column`` (from 1), low in the lane
    where a short box shows too: the commonest pixel of the picture as drawn (hatch lines are
    thin, the fill is most of a box)."""
    fig = Figure(figsize=explorer.figsize, dpi=72)
    canvas = FigureCanvasAgg(fig)
    explorer.draw(fig)
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[:, :, :3]
    to_pixels = fig.axes[0].transData.transform
    width = (99 - 23) / len(explorer.steps)
    y0, y1 = {0: (9.2, 11.4), 1: (5.6, 7.8)}[thread]
    x = 23 + (column - 1) * width
    (xa, ya), (xb, yb) = to_pixels([(x + 0.3 * width, y0 + 0.08 * (y1 - y0)),
                                    (x + 0.7 * width, y0 + 0.28 * (y1 - y0))])
    height = pixels.shape[0]
    region = pixels[int(height - yb):int(height - ya), int(xa):int(xb)].reshape(-1, 3)
    return Counter(map(tuple, region.tolist())).most_common(1)[0][0]


def _rgb(colour: str) -> tuple[int, ...]:
    return tuple(round(255 * v) for v in to_rgb(colour))


def test_at_the_waiting_column_the_holder_s_box_has_the_colour_of_the_lock_that_blocks():
    """The chapter's step 6 (and step 8 on 6.12): thread 1 waits for the write lock, and in the
    same column thread 0's box is drawn in the write colour, whatever its step does to the lock
    at its end (downgrade_write keeps it for writing until then). The same for every wait of
    every scene: the other thread's box has the colour of the lock the wait is named after."""
    write = _rgb(LOCK_KINDS["lock-write"].face)
    old = LockTimelineExplorer(HANDLER, "v4.15")
    assert 1 in old.steps[5].waiting() and old.steps[5].label == "downgrade_write"
    assert _drawn_colour(old, 6, 0) == write
    new = LockTimelineExplorer(HANDLER, "v6.12")
    assert new.step_name(new.steps[7].label, 0) == "mmap_write_downgrade"
    assert _drawn_colour(new, 8, 0) == write
    colour = {"VMA's": "lock-vma", "for writing": "lock-write", "for reading": "lock-read"}
    seen = 0
    for scene in SCENES:
        for era in ERAS:
            explorer = LockTimelineExplorer(scene, era)
            for k, step in enumerate(explorer.steps):
                for t in step.waiting():
                    why = explorer.why(k, t)
                    kind = next(v for words, v in colour.items() if words in why)
                    holder = 1 - t
                    assert _drawn_colour(explorer, k + 1, holder) == _rgb(
                        LOCK_KINDS[kind].face), (scene, era, k + 1, why)
                    seen += 1
    assert seen >= 3


def test_one_colour_rule_for_taking_letting_go_and_downgrading():
    """A step is drawn in the strongest lock its thread holds during it: up_read in read (it
    lets go at its end), down_write_killable in write (it takes it), downgrade_write in write;
    after the downgrade the thread holds it for reading."""
    old = LockTimelineExplorer(HANDLER, "v4.15")
    held = {old.steps[k].label: held[0] for k, held in enumerate(old.held())
            if old.steps[k].thread == 0 and k < 6}
    assert held == {"fault": "", "down_read": "read", "up_read": "read",
                    "down_write_killable": "write", "downgrade_write": "write"}
    assert old.held(before=True)[6][0] == "read"  # after the downgrade
    new = LockTimelineExplorer(HANDLER, "v6.12")
    # the retried handle_mm_fault lets the VMA lock go at its end: drawn under it
    assert new.steps[1].label == "handle_mm_fault" and new.held()[1][0] == "vma"
    assert new.held(before=True)[2][0] == ""
    svg = old.svg().decode()
    assert "in the colour of the strongest lock it holds during it" in svg
    assert "a lock it lets go (or downgrades) at the step's end included" in svg


def test_every_column_is_numbered_up_to_twenty_steps():
    for scene in SCENES:
        for era in ERAS:
            explorer = LockTimelineExplorer(scene, era)
            texts = re.findall(r"<text[^>]*>([^<]*)</text>", explorer.svg().decode())
            n = len(explorer.steps)
            assert n <= NUMBER_EVERY_STEP
            numbers = [int(t) for t in texts if t.isdigit()]
            assert numbers == list(range(1, n + 1)), (scene, era)
    assert len(LockTimelineExplorer(HANDLER, "v6.12").steps) == 13


def test_the_kernel_toggle_keeps_its_label_with_its_buttons():
    era = LockTimelineExplorer().controls["era"]
    assert era.description == "kernel"
    assert era.layout.display == "flex" and era.layout.flex_flow == "row nowrap"
    assert era.layout.flex == "0 0 auto"  # wraps as a whole, never between label and buttons


def test_steps_of_labels_read_in_6_12_s_names():
    assert step_label("down_read", (6, 12)) == "lock_mm_and_find_vma"
    assert step_label("downgrade_write", (6, 12)) == "mmap_write_downgrade"
    assert step_label("downgrade_write", (4, 15)) == "downgrade_write"
    assert step_label("vma_start_write", (6, 12)) == "vma_start_write"
    new = LockTimelineExplorer(HANDLER, "v6.12")
    assert [step_label(s.label) for s in new.steps] == [
        new.step_name(s.label, s.thread) for s in new.steps]


def test_the_note_under_the_traces_names_only_calls_shown():
    cached = format_traces("mixedmap", page=4, cached=(4,))
    note = " ".join(cached.split("\n\n")[-1].split())
    assert note == "6.12 column, the model's names → 6.12's: do_page_fault → do_user_addr_fault."
    cold = format_traces("split", page=4)
    note = " ".join(cold.split("\n\n")[-1].split())
    assert "the lock taken and find_vma are in lock_mm_and_find_vma" in note
    assert ("mmap_read_trylock for down_read_trylock, mmap_read_unlock for up_read, "
            "mmap_write_lock_killable for down_write_killable, mmap_write_downgrade for "
            "downgrade_write") in note
    mixed = " ".join(format_traces("mixedmap", page=4).split("\n\n")[-1].split())
    assert "mmap_read_unlock for up_read" in mixed and "downgrade_write" not in mixed
