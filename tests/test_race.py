"""mmlab.race: every interleaving of threads on the split VMA, and what the review objected to.

The counts are those of the mapping of libc-past-xip (pages 0-2 on flash, 3-4 not) with a
thread's steps cut at its lock operations; a change in the handler's lock sequence or in the
rwsem rules changes them.
"""

from __future__ import annotations

import dataclasses

import pytest

from mmlab.constants import PROT_READ
from mmlab.race import (
    RACES,
    Fault,
    Mprotect,
    Mremap,
    Munmap,
    explore,
    fair_schedule,
    race,
    run_schedule,
    steps_of,
)

OK = ()


def classes(report):
    return {outcomes: n for (outcomes, broken), n in report.classes.items() if not broken}


@pytest.mark.parametrize("strategy", ["split", "split-v3"])
def test_two_faults_on_the_unmapped_part(strategy):
    r = race("two faults", strategy)
    assert r.interleavings == 590 and r.broken_runs == 0
    assert classes(r) == {
        ("split, done", "done"): 135,                      # B found the split already done
        ("done", "split, done"): 135,
        ("split, done", "NOPAGE x1, refault, done"): 160,  # B lost the race: re-check, refault
        ("NOPAGE x1, refault, done", "split, done"): 160,
    }


def test_the_loser_of_the_race_takes_the_nopage_path_and_refaults():
    r = race("two faults")
    run = r.examples[(("split, done", "NOPAGE x1, refault, done"), ())]
    b_steps = [label for thread, label in run.schedule if thread == 1]
    assert b_steps == ["fault", "down_read", "up_read", "down_write_killable", "downgrade_write",
                       "up_read", "fault", "down_read", "up_read", "fault"]
    assert run.vmas == ((0, 3, run.vmas[0][2]), (3, 5, 3))  # direct part, then pgoff 3


def test_same_page_from_two_threads():
    r = race("same page")
    assert r.interleavings == 446 and r.broken_runs == 0


def test_munmap_in_the_window_dereferences_null_in_the_patch_not_in_v3():
    seed, v3 = race("munmap in the window", "split"), race("munmap in the window", "split-v3")
    assert seed.interleavings == v3.interleavings == 5
    assert seed.broken_runs == 1 and v3.broken_runs == 0
    (broken,) = [b for (_, b) in seed.classes if b]
    assert "NULL pointer dereference" in broken[0]


def test_an_oops_ends_its_thread_at_the_step_that_broke_holding_the_lock():
    """The seed's NULL dereference kills the faulting thread in its down_write_killable step:
    it runs no further step (no downgrade_write), and mmap_sem stays held for writing."""
    seed = race("munmap in the window", "split")
    (run,) = [r for (_, broken), r in seed.examples.items() if broken]
    assert run.outcomes[0] == "oops"
    assert run.schedule[-1] == (0, "down_write_killable")
    assert run.broken_at == (len(run.schedule) - 1, None)  # the oops; the lock, seen at the end
    assert "NULL pointer dereference" in run.broken[0]
    assert "mmap_sem left held" in run.broken[1]
    assert run.first_broken_step == len(run.schedule) - 1


def test_each_problem_is_tied_to_the_step_it_appeared_in():
    remap = race("remap in the window", "split")
    (run,) = [r for (_, broken), r in remap.examples.items() if broken]
    (step,) = run.broken_at
    assert run.schedule[step] == (0, "finish_fault")  # the write through the stale vmf->pmd
    gup = race("get_user_pages", "split")
    for (_, broken), r in gup.examples.items():
        assert len(r.broken_at) == len(broken)
        for problem, at in zip(r.broken, r.broken_at, strict=True):
            if "up_read()s a lock" in problem:
                assert r.schedule[at] == (0, "up_read")
    assert all(r.broken_at == () for (_, b), r in gup.examples.items() if not b)


def test_mprotect_splits_the_vma_and_the_kept_split_point_goes_stale():
    seed, v3 = race("mprotect in the window", "split"), race("mprotect in the window", "split-v3")
    assert seed.broken_runs == 3 and v3.broken_runs == 0
    problems = {p for (_, b) in seed.classes for p in b}
    assert any("valid read at page 4 got SIGSEGV" in p for p in problems)
    # the seed splits at the first address of the VMA mprotect left: not a point inside it
    assert any("split_vma at" in p and "the first address of the VMA" in p
               and "not strictly inside it" in p for p in problems)


@pytest.mark.parametrize("strategy", ["split", "split-v3"])
def test_remap_in_the_window_frees_the_page_table_vmf_pmd_points_into(strategy):
    """Hellwig's objection: pointers computed before the lock was dropped. v3 kept it."""
    r = race("remap in the window", strategy)
    assert r.interleavings == 5 and r.broken_runs == 1
    (problem,) = [p for (_, b) in r.classes for p in b]
    assert "use after free" in problem


def test_fatal_signal_while_waiting_for_the_write_lock():
    r = race("fatal signal")
    assert r.interleavings == 660 and r.broken_runs == 0
    killed = sum(n for (outcomes, _), n in r.classes.items() if "killed" in outcomes[0])
    assert killed == 70


def test_a_get_user_pages_caller_never_reaches_the_handler():
    """check_vma_flags refuses the VM_IO | VM_PFNMAP VMA before any fault (mm/gup.c L544);
    the patched 6.1 answered the /proc/PID/mem read with EIO (split-races.json)."""
    refused = "-EFAULT from get_user_pages (VM_IO | VM_PFNMAP)"
    seed = race("get_user_pages")
    assert seed.broken_runs == 0
    assert {outcomes[0] for outcomes, _ in seed.classes} == {refused}
    assert all((0, "down_write_killable") not in r.schedule for r in seed.examples.values())
    # v3 clears VM_IO | VM_PFNMAP on the page-cache half: once the other thread has split,
    # the debugger's read of page 3 is an ordinary page-cache fault
    v3 = race("get_user_pages", "split-v3")
    assert v3.broken_runs == 0
    assert {outcomes[0] for outcomes, _ in v3.classes} == {refused, "done"}


def test_mixedmap_has_no_lock_dance_and_nothing_to_break():
    r = explore(RACES["two faults"], "mixedmap")
    assert r.broken_runs == 0
    assert all("split" not in o for (outcomes, _) in r.classes for o in outcomes)


def test_table_lists_every_class():
    r = explore((Fault(3), Munmap(0, 5)), "split")
    text = r.table()
    assert text.splitlines()[0] == ("5 interleavings of: fault page 3 | munmap pages 0-4 "
                                    "(split, mm of v4.15)")  # the mm rules, not a kernel
    assert explore((Fault(3), Munmap(0, 5)), "split-v3", version=(6, 12)).table().splitlines()[
        0].endswith("(split-v3, mm of v6.12)")
    assert "BROKEN: oops: find_vma returned NULL" in text
    assert max(map(len, text.splitlines()[1:])) <= 88  # wrapped between words, as a notebook
    assert "holding mmap_sem for writing" in " ".join(text.split())  # shows it, whole
    assert Mprotect(3, 2, PROT_READ).label == "mprotect pages 3-4"


def test_unknown_race_names_the_choices():
    with pytest.raises(KeyError, match="two faults"):
        race("three faults")


# --- Al Viro's schedule: mremap in the window (review of v2, 2017-08-28) -------------------------
def _problems(report):
    return {p for (_, broken) in report.classes for p in broken}


def test_mremap_of_another_cramfs_file_into_the_window():
    """ld-tail.so's partly mapped VMA (the same vm_ops) moved onto libc's pages 2-4 while the
    fault on page 3 waits for the write lock: the seed splits the VMA of the other file at
    libc's split point; v3's vm_file re-check answers NOPAGE and the refault finds ld-tail's
    page, moved there with its PTE."""
    seed, v3 = race("mremap in the window", "split"), race("mremap in the window", "split-v3")
    assert seed.interleavings == v3.interleavings == 5
    assert seed.broken_runs == 1 and v3.broken_runs == 0
    (key,) = [k for k in seed.classes if k[1]]
    run = seed.examples[key]
    assert run.outcomes == ("split, SIGBUS", "done")
    assert run.schedule[2:5] == [(0, "up_read"), (1, "syscall"), (0, "down_write_killable")]
    problem, offsets = run.broken
    assert "decoded from libc.so.6's VMA" in problem and "a VMA of ld-tail.so" in problem
    assert "a valid read at page 3 then got SIGBUS" in problem
    # marked where the handler split the wrong VMA, not where the read then failed
    assert run.schedule[run.broken_at[0]] == (0, "down_write_killable")
    # ld-tail's VMA cut at libc's split point (page 3), its upper part given libc's split_pgoff 3:
    # page 3 of a 3-page file (its page 1 is what lies there)
    assert [(a, b) for a, b, _ in run.vmas[-2:]] == [(2, 3), (3, 5)] and run.vmas[-1][2] == 3
    assert "reads ld-tail.so from its page 3, but the program mapped page 1" in offsets
    assert ("NOPAGE x1, refault, done", "done") in {o for o, _ in v3.classes}


def test_mremap_of_the_same_file_passes_both_re_checks_and_v3_breaks_on_the_move():
    """libc mapped a second time from the same open file, moved onto the first: the same
    vm_ops and vm_file. The seed's split page counts from vm_start and moved with the VMA:
    it splits right, every time. v3's split point is a virtual page number of the old place:
    the whole VMA becomes a page-cache VMA at file page 5, flash PTEs still in it, and a valid
    read gets SIGBUS, in every interleaving (also when the mremap runs before the fault)."""
    seed = race("mremap of the same file", "split")
    v3 = race("mremap of the same file", "split-v3")
    assert seed.interleavings == v3.interleavings == 5
    assert seed.broken_runs == 0
    assert set(seed.classes) == {(("split, done", "done"), ())}
    assert v3.broken_runs == 5
    problems = _problems(v3)
    assert any("the split point kept in vm_private_data, which no longer matches" in p
               and p.endswith("a valid read at page 3 then got SIGBUS") for p in problems)
    # each such run marks the step in which v3 rewrote the VMA (down_write_killable: the
    # re-check, the decoding, the VMA made a page-cache one), not the filemap_fault after it
    for (_, broken), run in v3.examples.items():
        for problem, at in zip(broken, run.broken_at, strict=True):
            if "then got SIGBUS" in problem:
                assert run.schedule[at] == (0, "down_write_killable"), run.schedule
    assert any("page-cache VMA at pages 0-4 reads libc.so.6 from its page 5" in p
               for p in problems)
    assert any("special PTE" in p and "ordinary VMA" in p for p in problems)
    # no window needed: the mremap first, then the fault
    first, _ = run_schedule(RACES["mremap of the same file"], "split-v3", "libc-past-xip", None,
                            [1])
    assert first.schedule[0] == (1, "syscall") and first.outcomes[0] == "SIGBUS"
    assert first.vmas == ((0, 5, 5),)


@pytest.mark.parametrize("name", ["mremap in the window", "mremap of the same file"])
def test_mremap_races_break_nothing_under_mixedmap(name):
    r = explore(RACES[name], "mixedmap")
    assert r.interleavings == 4 and r.broken_runs == 0  # no lock drop: one step fewer


def test_mremap_thread_label_and_setup():
    (_, mover) = RACES["mremap in the window"]
    assert isinstance(mover, Mremap) and mover.label == "mremap ld-tail.so onto page 2"
    run, _ = run_schedule(RACES["mremap in the window"], "split", "libc-past-xip", None,
                          [1])  # the mremap first: the fault then finds ld-tail's page there
    assert run.outcomes == ("done", "done") and run.broken == ()
    assert [(a, b) for a, b, _ in run.vmas] == [(0, 2), (2, 5)]  # libc's pages 0-1, ld-tail


def test_v3_catches_the_other_file_but_its_refault_meets_the_moved_split_point():
    """The race uses page 3, which ld-tail's moved PTE covers, so that it shows the re-check
    alone. On page 4 v3's NOPAGE sends the thread back to fault on ld-tail's moved VMA, whose
    split point, a virtual page number of where ld-tail was, is stale: every interleaving
    breaks, the one through the window included, while the seed breaks only in the window."""
    threads = (Fault(4), Mremap("/lib/ld-tail.so", 2))
    seed, v3 = explore(threads, "split"), explore(threads, "split-v3")
    assert (seed.broken_runs, v3.broken_runs) == (1, 5)
    window = [o for (o, b) in v3.classes if o[0].startswith("NOPAGE")]
    assert window == [("NOPAGE x1, refault, SIGBUS", "done")]


def _vmas(state):
    return [(v.first, v.end, v.pgoff, v.ops) for v in state.vmas]


def test_steps_of_snapshots_the_vmas_and_the_lock_holders_around_munmap():
    """The seed's broken munmap schedule, step by step: thread 0 drops mmap_sem, thread 1's
    munmap removes the whole VMA (nothing left at page 3), thread 0 takes the lock for writing
    and dies on the NULL find_vma there, holding it."""
    seed = race("munmap in the window", "split")
    (run,) = [r for (_, broken), r in seed.examples.items() if broken]
    _, frames = steps_of(RACES["munmap in the window"], "split", [t for t, _ in run.schedule])
    assert [(f.thread, f.label) for f in frames] == run.schedule
    whole = [(0, 5, frames[0].before.vmas[0].pgoff, "split")]
    assert _vmas(frames[0].before) == whole and frames[0].before.vmas[0].file == "libc.so.6"
    down_read, up_read, munmap, down_write = frames[1:]
    assert down_read.after.readers == (0,) and down_read.after.lock_text() == (
        "held for reading by thread 0")
    assert up_read.after.readers == () and up_read.after.writer is None  # the unlocked window
    assert munmap.label == "syscall" and _vmas(munmap.before) == whole
    assert not any(v.first <= 3 < v.end for v in munmap.after.vmas)
    assert munmap.after.vmas == ()
    assert down_write.after.writer == 0 and down_write.after.lock_text() == (
        "held for writing by thread 0")
    # the snapshots are values: later steps did not change the one taken before the munmap
    assert _vmas(up_read.after) == whole
    with pytest.raises(dataclasses.FrozenInstanceError):
        up_read.after.vmas[0].first = 1  # type: ignore[misc]


def test_steps_of_shows_the_two_halves_of_the_split_and_both_readers():
    threads = RACES["two faults"]
    _, frames = steps_of(threads, "split", fair_schedule(threads, "split"))
    assert max(len(f.after.readers) for f in frames) == 2  # both faults under the read lock
    both = next(f for f in frames if len(f.after.readers) == 2)
    assert both.after.lock_text() == "held for reading by threads 0, 1"
    split = next(f for f in frames if f.label == "down_write_killable")
    pfn = split.before.vmas[0].pgoff
    assert _vmas(split.before) == [(0, 5, pfn, "split")]
    assert _vmas(split.after) == [(0, 3, pfn, "none"), (3, 5, 3, "page-cache")]
    assert split.after.writer == split.thread
    assert [v.pages for v in split.after.vmas] == ["pages 0-2", "pages 3-4"]
    # each step starts from the state the one before left
    assert all(a.after == b.before for a, b in zip(frames, frames[1:], strict=False))
