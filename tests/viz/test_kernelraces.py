"""The races of mmlab.race on a real kernel (data/kernel-captures/split-races.json, issue 20):
the captures hold what the model's verdicts are compared with, the notes explain lines that are
really there, and the race explorer shows them under a broken interleaving."""

from __future__ import annotations

import json

import pytest

from mmlab.race import RACES, race
from mmlab.viz.base import course_data
from mmlab.viz.kernelraces import (
    LAYOUTS,
    format_verdicts,
    kernel_runs,
    kernel_says,
    load_kernel_races,
    verdict_rows,
    window_run,
)
from mmlab.viz.split import RaceExplorer

RUNS = load_kernel_races()
CAPTURE = json.loads(course_data("kernel-captures", "split-races.json").read_text())
NOTES = json.loads(course_data("kernel-captures", "split-races.explained.json").read_text())
STRATEGIES = ("split", "split-v3")


def run(name: str, strategy: str, layout: str):
    (found,) = [r for r in kernel_runs(name, strategy, RUNS) if r.layout == layout]
    return found


def test_every_race_of_the_model_ran_in_both_layouts_under_both_splits():
    ran = {(r.race, r.strategy, r.layout) for r in RUNS}
    expected = {(n, s, lay) for n in RACES if n not in CAPTURE["not_run"]
                for s in STRATEGIES for lay in LAYOUTS}
    assert ran == expected
    assert set(CAPTURE["not_run"]) == {"fatal signal"}
    assert CAPTURE["window_ms"] == 200 and CAPTURE["smp"] == 2


@pytest.mark.parametrize("note", NOTES["runs"], ids=lambda n: f"{n['race']}/{n['strategy']}/"
                         f"{n['layout']}")
def test_every_explained_line_is_in_its_runs_console(note):
    r = run(note["race"], note["strategy"], note["layout"])
    assert note["verdict"] and r.verdict == note["verdict"]
    for line in note["lines"]:
        assert any(line["match"] in text for text in r.console), line["match"]
    assert r.lines, "a note that explains no line"


def test_each_race_the_model_calls_broken_has_a_verdict_from_the_kernel():
    for name in RACES:
        for strategy in STRATEGIES:
            if name in CAPTURE["not_run"] or not race(name, strategy).broken_runs:
                continue
            for layout in LAYOUTS:
                assert run(name, strategy, layout).verdict, (name, strategy, layout)


def test_the_seed_munmap_race_oopses_only_when_no_vma_lies_above():
    alone, typical = run("munmap in the window", "split", "alone"), run(
        "munmap in the window", "split", "typical")
    assert alone.stuck and alone.a is None
    assert any("BUG: KASAN: null-ptr-deref in cramfs_vmasplit_fault" in x for x in alone.console)
    assert any(x.startswith("Oops:") for x in alone.console)
    assert not typical.stuck and typical.a_shows == "SIGSEGV"
    assert not any("BUG" in x for x in typical.console)
    for layout in LAYOUTS:  # v3 tests find_vma's answer
        assert run("munmap in the window", "split-v3", layout).a_shows == "SIGSEGV"


def test_get_user_pages_never_reaches_the_handler():
    for strategy in STRATEGIES:
        for layout in LAYOUTS:
            r = run("get_user_pages", strategy, layout)
            assert r.a_shows == "EIO" and r.b_shows == "libc.so.6 page 4"
            windows = [x for x in r.console if "ms without mmap_lock" in x]
            assert len(windows) == 1 and "fault at" in windows[0]  # only thread B's fault


def test_the_other_verdicts_as_the_kernel_printed_them():
    seed_mprotect = run("mprotect in the window", "split", "typical")
    assert seed_mprotect.stuck and seed_mprotect.a_shows == "libc.so.6 page 4"
    assert any("kernel BUG at mm/mmap.c" in x for x in seed_mprotect.console)
    assert run("mprotect in the window", "split-v3", "typical").a_shows == "libc.so.6 page 4"
    for strategy in STRATEGIES:
        assert any("vmf->pmd is stale" in x
                   for x in run("remap in the window", strategy, "alone").console)
        assert any("vmf->pmd is the entry" in x
                   for x in run("remap in the window", strategy, "typical").console)
    assert run("mremap in the window", "split", "typical").a_shows == "SIGBUS"
    assert run("mremap in the window", "split-v3", "typical").a_shows == "ld-tail.so page 1"
    same_v3 = run("mremap of the same file", "split-v3", "typical")
    assert same_v3.a_shows == "SIGBUS"
    assert sum("Bad page map" in x for x in same_v3.console) == 3
    assert "00005000" in same_v3.maps_after[0]  # the page-cache VMA at file page 5, as the model


def test_kernel_says_gives_both_layouts_or_nothing():
    text = kernel_says("munmap in the window", "split", RUNS)
    assert text.index("alone:") < text.index("typical:")
    assert "← KASAN stops the read of vma->vm_ops" in text
    assert kernel_says("fatal signal", "split", RUNS) == ""


def test_the_verdict_table_sets_the_model_next_to_the_kernel():
    rows = verdict_rows(["munmap in the window", "fatal signal"], runs=RUNS)
    text = format_verdicts(rows)
    assert "munmap in the window (split)\n  model:   1 of 5 interleavings broken" in text
    assert "kernel:  not run" in text
    assert set(rows[0].kernel) == set(LAYOUTS)


def test_a_missing_capture_is_no_runs(tmp_path):
    assert load_kernel_races(tmp_path) == []


def test_the_race_explorer_shows_the_kernel_under_the_class_it_ran():
    ex = RaceExplorer("munmap in the window", "split")
    broken = [i for i, ((_o, b), _n) in enumerate(ex.classes()) if b]
    assert ex.kernel_class() in broken
    ex.set(klass=ex.kernel_class())
    assert "On a real kernel (Debian's 6.1 with the 2017 patch, split" in ex.describe()
    assert "null-ptr-deref" in ex.describe()
    ok = [i for i, ((_o, b), _n) in enumerate(ex.classes()) if not b]
    ex.set(klass=ok[0])
    assert "On a real kernel" not in ex.describe()
    assert f"class {ex.kernel_class() + 1}'s (pick it" in ex.describe()


def test_the_mprotect_capture_is_shown_under_the_window_class_only():
    """The trial's bug: the capture (mprotect while A waits in the window) showed under class 2,
    where the mprotect runs before the fault and the read gets SIGSEGV."""
    ex = RaceExplorer("mprotect in the window", "split")
    shown = []
    for k, ((outcomes, _b), _n) in enumerate(ex.classes()):
        ex.set(klass=k)
        if "On a real kernel" in ex.describe():
            shown.append(outcomes)
    assert shown == [("OOM", "done")]
    # the window schedule: thread 1's whole step between thread 0's up_read and down_write
    labels = [(t, label) for t, label in window_run("mprotect in the window", "split").schedule]
    assert labels[:5] == [(0, "fault"), (0, "down_read"), (0, "up_read"), (1, "syscall"),
                          (0, "down_write_killable")]


@pytest.mark.parametrize("name", [n for n in RACES if n != "fatal signal"])
def test_every_capture_lands_in_one_class(name):
    for strategy in STRATEGIES:
        ex = RaceExplorer(name, strategy)
        seen = 0
        for k in range(len(ex.classes())):
            ex.set(klass=k)
            seen += "On a real kernel" in ex.describe()
        assert seen == 1, (name, strategy)


def test_console_lines_are_wrapped_not_cut():
    text = kernel_says("mremap of the same file", "split-v3", RUNS)
    assert "…" not in text
    assert "split=0xf0000000000000" in text  # the value the note under it discusses
    assert max(len(line) for line in text.splitlines()) <= 96


def test_notes_use_the_explorers_notation_and_fit_their_race():
    text = kernel_says("munmap in the window", "split", RUNS)
    assert "munmap pages 0-4" in text and "0+5" not in text
    assert "mremap race of the same file" not in json.dumps(NOTES)
    for layout in LAYOUTS:  # its two mmaps of libc, each with its own note
        says = [line.says for line in run("mremap of the same file", "split", layout).lines
                if "cramfs: mapped libc.so.6" in line.text]
        assert len(says) == 2 and says[0].startswith("thread A's mapping")
        assert "the mapping thread B moves onto A's" in says[1]
    flat = " ".join(kernel_says("mremap of the same file", "split", RUNS).split())
    assert "(at 0xf0000000000000, above the stack:" in flat
