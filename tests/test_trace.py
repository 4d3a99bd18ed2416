"""mmlab.trace: a step keeps what was, at the moment it was, and the moments in time order."""

from __future__ import annotations

import dataclasses
from collections import namedtuple
from types import MappingProxyType

import pytest

from mmlab import fault, trace, xip
from mmlab.errors import WouldSleep
from mmlab.mm import MAP_ANONYMOUS, MAP_PRIVATE, MM, PAGE_SIZE, PROT_EXEC, PROT_READ, PROT_WRITE
from mmlab.mmap import find_vma
from mmlab.pagetable import Pte
from mmlab.scenarios import scenario_image
from mmlab.system import System
from mmlab.trace import (
    FileSnapshot,
    FrozenObject,
    MmStructSnapshot,
    PageSnapshot,
    ReprSnapshot,
    VmaSnapshot,
    VmFaultSnapshot,
    freeze,
)

RW = PROT_READ | PROT_WRITE


def mprotect_split():
    """An 8-page anonymous VMA; mprotect of page 3 splits it in three."""
    mm = MM(System())
    addr = mm.mmap(0, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record() as t:
        mm.mprotect(addr + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ)
    return mm, addr, t


def xip_split():
    sb = xip.mount(scenario_image(), None, "split")
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                   sb.open("/lib/libc.so.6"), 0)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)
    return mm, addr, t


def test_find_vma_step_shows_the_vma_as_it_was_returned_after_the_split():
    """The issue's contract: the split later shrank the VMA object find_vma returned."""
    mm, addr, t = mprotect_split()
    step = next(s for s in t.steps if s.name == "find_vma")
    assert isinstance(step.result, VmaSnapshot)
    old = f"{addr:#x}-{addr + 8 * PAGE_SIZE:#x} rw-p"
    assert old in repr(step.result)
    assert (step.result.vm_start, step.result.vm_end) == (addr, addr + 8 * PAGE_SIZE)
    # the live object has changed since: it is the middle page now, read-only
    live = step.live_result
    assert (live.vm_start, live.vm_end) == (addr + 3 * PAGE_SIZE, addr + 4 * PAGE_SIZE)
    assert old not in repr(live) and repr(live) == repr(live.trace_snapshot())
    assert [v.vm_end - v.vm_start for v in mm] == [3 * PAGE_SIZE, PAGE_SIZE, 4 * PAGE_SIZE]


def test_split_vma_args_show_the_vma_at_call_and_on_return():
    _, addr, t = mprotect_split()
    first, second = [s for s in t.steps if s.name == "split_vma"]
    vma = first.args["vma"]
    assert isinstance(vma, VmaSnapshot) and vma.perms == "rw-p"
    assert (vma.vm_start, vma.vm_end) == (addr, addr + 8 * PAGE_SIZE)
    assert first.args["new_below"] == 1
    # new_below=1: the VMA keeps the upper part, its start moves up
    after = first.args_on_return["vma"]
    assert (after.vm_start, after.vm_end) == (addr + 3 * PAGE_SIZE, addr + 8 * PAGE_SIZE)
    assert (second.args["vma"].vm_start, second.args["vma"].vm_end) == (
        addr + 3 * PAGE_SIZE, addr + 8 * PAGE_SIZE)
    assert second.args_on_return["vma"].vm_end == addr + 4 * PAGE_SIZE
    # the mm argument is a summary as it was: one VMA at the first split's call, three at the end
    assert first.args["mm"] == MmStructSnapshot("MM", 1, "write")
    assert second.args_on_return["mm"].map_count == 3
    assert repr(first.args["mm"]) == "<MM: 1 VMAs, mmap_sem write>"
    # snapshots cannot be changed
    with pytest.raises(dataclasses.FrozenInstanceError):
        vma.vm_end = 0  # type: ignore[misc]


def test_time_order_entries_and_returns_nest_with_depth():
    _, _, t = mprotect_split()
    events = t.timeline()
    calls = [s for s in t.steps if s.kind == "call"]
    notes = [s for s in t.steps if s.kind == "note"]
    assert [n.name for n in notes] == ["down_write_killable", "up_write"]
    assert len(events) == 2 * len(calls) + len(notes)
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    stack: list[int] = []
    for e in events:
        if e.what == "return":  # returns in the reverse order of their entries
            assert stack.pop() == e.index, e.step.name
        assert e.step.depth == len(stack), (e.what, e.step.name)
        if e.what == "entry":
            stack.append(e.index)
    assert stack == []
    # in call order the VMA counts at return jump about (1 3 1 2 2 3 ...); in time order they
    # never go down for a split
    counts = [len((e.step.after if e.what == "return" else e.step.before).vmas) for e in events]
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 3
    assert [len(s.after.vmas) for s in calls][:3] == [3, 1, 3]
    assert [(e.what, e.step.name) for e in events[:4]] == [
        ("entry", "do_mprotect_pkey"), ("note", "down_write_killable"), ("entry", "find_vma"),
        ("return", "find_vma")]


def test_a_null_result_a_void_function_and_an_exception():
    mm = MM(System())
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record(snapshots=False) as t:
        assert find_vma(mm, addr + PAGE_SIZE) is None
        mm.munmap(addr, PAGE_SIZE)
    step = t.steps[0]
    assert step.name == "find_vma" and step.result is None and not step.void
    assert step.returned == step.entered + 1
    assert any(s.void for s in t.steps if s.name == "unmap_single_vma")
    mm.mmap(addr, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.mmap_sem.down_write()
    with trace.record() as t, pytest.raises(WouldSleep) as exc:
        fault.do_page_fault(mm, addr)
    mm.mmap_sem.up_write()
    step = t.steps[0]
    assert step.error is exc.value and step.returned is not None
    assert step.lock == step.lock_on_return == "write" and step.args_on_return is not None
    assert t.timeline()[-1].what == "return"


def test_a_vm_fault_and_a_page_at_call_and_on_return():
    """The cramfs handler points vmf->vma and vmf->pgoff at the new VMA; readpage fills the
    locked page and unlocks it: both visible by comparing args with args_on_return."""
    _, addr, t = xip_split()
    handler = next(s for s in t.steps if s.name == "cramfs_vmasplit_fault")
    vmf, vmf_after = handler.args["vmf"], handler.args_on_return["vmf"]
    assert isinstance(vmf, VmFaultSnapshot) and vmf.address == addr + 3 * PAGE_SIZE
    assert (vmf.vma.vm_start, vmf.vma.vm_end) == (addr, addr + 5 * PAGE_SIZE)
    assert (vmf_after.vma.vm_start, vmf_after.vma.vm_end) == (addr + 3 * PAGE_SIZE,
                                                              addr + 5 * PAGE_SIZE)
    assert vmf.pgoff > 0x8000 and vmf_after.pgoff == 3  # pfn-based, then the file offset
    assert vmf.page is None and isinstance(vmf_after.page, PageSnapshot)
    assert "VmFault(address=" in repr(vmf)
    readpage = next(s for s in t.steps if s.name == "cramfs_readpage")
    page, page_after = readpage.args["page"], readpage.args_on_return["page"]
    assert "PG_locked" in page.flags and "PG_uptodate" not in page.flags
    assert "PG_uptodate" in page_after.flags and "PG_locked" not in page_after.flags
    assert repr(page).startswith(f"Page(pfn={page.pfn:#x}, ") and "locked" in repr(page)
    assert isinstance(readpage.args["file"], FileSnapshot)
    assert repr(readpage.args["file"]).startswith("File('/mnt/lib/libc.so.6', ino=")
    # do_page_fault's FaultResult (a mutable dataclass the trace has no class for)
    result = t.steps[0].result
    assert isinstance(result, FrozenObject) and result.major is True and result.signal is None
    assert repr(result).startswith("FaultResult(address=")
    with pytest.raises(AttributeError, match="no field 'nope'"):
        result.nope  # noqa: B018


def test_freeze_rules():
    mm = MM(System())
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    vma = mm.find_vma(addr)
    assert freeze(None) is None and freeze(3) == 3 and freeze("x") == "x"
    pte = Pte(0x101, 0x67)
    assert freeze(pte) is pte  # a frozen dataclass cannot change
    frozen = freeze([vma, 1])
    assert isinstance(frozen, tuple) and frozen == (vma.trace_snapshot(), 1)
    pair = namedtuple("Pair", "a b")(vma, 2)
    assert type(freeze(pair)).__name__ == "Pair" and freeze(pair).a == vma.trace_snapshot()
    mapping = freeze({"v": vma})
    assert isinstance(mapping, MappingProxyType) and mapping["v"].vm_start == addr
    assert freeze({1, 2}) == frozenset({1, 2})
    physmem = freeze(mm.physmem)
    assert isinstance(physmem, ReprSnapshot) and repr(physmem).startswith("PhysMem(RAM pfn")
    # equality is by value: the same VMA snapshotted twice, unchanged, compares equal
    assert vma.trace_snapshot() == vma.trace_snapshot()
    vma.vm_end += PAGE_SIZE
    assert freeze(vma) != frozen[0] and frozen[0].vm_end == addr + PAGE_SIZE


def test_live_args_keep_the_objects_and_each_recorder_its_own_clock():
    mm = MM(System())
    addr = mm.mmap(0, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    live = mm.find_vma(addr)
    with trace.record(snapshots=False) as outer:
        mm.find_vma(addr)
        with trace.record(snapshots=False) as inner:
            mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    split = next(s for s in inner.steps if s.name == "split_vma")
    assert split.live_args["vma"] is live and split.args["vma"] != live.trace_snapshot()
    assert split.before is None and split.after is None
    assert inner.steps[0].entered == 1 and outer.steps[0].entered == 1
    assert len(outer.steps) == len(inner.steps) + 1
    assert [e.step.name for e in inner.timeline()] == [
        e.step.name for e in outer.timeline()[2:]]
    assert not trace.recording()


def test_a_6_x_trace_records_the_vma_locks_and_calls_the_lock_mmap_lock():
    """On 6.12 a fault holds its VMA's read lock from lock_vma_under_rcu to vma_end_read, and
    split_vma write-locks both halves until mmap_write_downgrade; 4.15 has no VMA locks."""
    from mmlab.viz.today import fault_recording

    rec, _res, _vmstat = fault_recording("v6.12", "split", page=4, snapshots=False)
    by_name = {s.name: s for s in reversed(rec.steps)}  # the first step of each name
    lock = by_name["lock_vma_under_rcu"]
    assert lock.vma_lock == "" and lock.vma_lock_on_return.startswith("libc.so.6 ")
    assert lock.vma_lock_on_return.endswith(" (read)")
    end = by_name["vma_end_read"]
    assert end.vma_lock.endswith("(read)") and end.vma_lock_on_return == ""
    split = by_name["split_vma"]
    assert split.vma_lock == "" and split.vma_lock_on_return.count("(write)") == 2
    assert by_name["mmap_write_downgrade"].vma_lock == ""  # vma_end_write_all came first
    assert {s.lock_name for s in rec.steps if s.lock != "?"} == {"mmap_lock"}
    old, _res, _vmstat = fault_recording("v4.15", "split", page=4, snapshots=False)
    assert not any(s.vma_lock or s.vma_lock_on_return for s in old.steps)
    assert {s.lock_name for s in old.steps if s.lock != "?"} == {"mmap_sem"}
    assert trace.vma_lock_state(None) == "" and trace.lock_name(None) == "mmap_sem"
