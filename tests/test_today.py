"""The model's 6.x mode (chapter 09): each version switch of mmlab.version, against v4.15.

Every test runs the same calls on a v4.15 machine and on a 6.12 one (the rules read in Debian's
linux-source-6.12, 6.12.118) and asserts where they differ and where they must not.
"""

from __future__ import annotations

import pytest

from mmlab import fault, procfs, trace, xip
from mmlab.constants import (
    FAULT_FLAG_RETRY_NOWAIT,
    FAULT_FLAG_VMA_LOCK,
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    VM_FAULT_COMPLETED,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_MIXEDMAP,
    fault_flag_names,
    vm_fault_names,
)
from mmlab.errors import KernelBug, WouldSleep
from mmlab.memory import vmf_insert_mixed
from mmlab.memory_fault import handle_mm_fault, lock_vma_under_rcu
from mmlab.mm import MM
from mmlab.mm_types import (
    vma_end_read,
    vma_is_write_locked,
    vma_start_read,
    vma_start_write,
)
from mmlab.mmap import find_vma
from mmlab.pfn_t import PFN_DEV, phys_to_pfn_t
from mmlab.race import Fault, Mprotect, Munmap, explore, fair_schedule, race, steps_of
from mmlab.scenarios import run_scenarios, scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read, user_write
from mmlab.version import (
    FAULT_ACCOUNTING_IN_CORE,
    MAPLE_TREE,
    PER_VMA_LOCK,
    V4_15,
    V6_12,
    has,
)
from mmlab.vma_iter import VmaIterator, find_vma_intersection, for_each_vma, vma_lookup

OLD, NEW = V4_15, V6_12


def anon(version, pages=4):
    mm = MM(version=version)
    return mm, mm.mmap(0, pages * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)


def libc(version, strategy="mixedmap"):
    system = System(version=version)
    sb = xip.mount(scenario_image(), None, strategy, system=system)
    mm = MM(system)
    sc = scenario("libc-past-xip")
    return mm, mm.mmap(0, sc.length, sc.prot, sc.flags, sb.open(sc.path), sc.offset)


def names(version, call):
    with trace.record(snapshots=False) as t:
        result = call()
    return [s.name for s in t.steps], result


# --- the switches -----------------------------------------------------------------------------
def test_the_switches_are_ordered_and_off_by_default():
    assert not any(has(OLD, change) for change in (FAULT_ACCOUNTING_IN_CORE, MAPLE_TREE,
                                                   PER_VMA_LOCK))
    assert all(has(NEW, change) for change in (FAULT_ACCOUNTING_IN_CORE, MAPLE_TREE,
                                               PER_VMA_LOCK))
    assert not MM().per_vma_locks and MM(version=NEW).per_vma_locks
    assert not MM(version=(6, 3)).per_vma_locks and MM(version=(6, 4)).per_vma_locks
    assert fault_flag_names(FAULT_FLAG_VMA_LOCK) == ["VMA_LOCK"]
    assert vm_fault_names(VM_FAULT_COMPLETED) == ["COMPLETED"]


def test_the_lock_is_mmap_lock_with_the_api_names_from_5_8():
    """v5.8 took the mm's lock through the mmap locking API (commit 9740ca4e95b4) and renamed it
    mmap_lock: a trace of a 6.12 fault names the wrappers, a 4.15 one the rwsem calls."""
    assert repr(MM().mmap_sem) == "<mmap_sem: free>"
    assert repr(MM(version=(5, 7)).mmap_sem) == "<mmap_sem: free>"
    assert repr(MM(version=(5, 8)).mmap_sem) == "<mmap_lock: free>"
    mm = MM(version=NEW)
    with trace.record(snapshots=False) as t:
        mm.mmap_sem.down_read()
        mm.mmap_sem.up_read()
        mm.mmap_sem.down_write_killable()
        mm.mmap_sem.downgrade_write()
        mm.mmap_sem.up_read()
    # mmap_write_downgrade ends the VMA write locks first (vma_end_write_all)
    assert t.names == ["mmap_read_lock", "mmap_read_unlock", "mmap_write_lock_killable",
                       "vma_end_write_all", "mmap_write_downgrade", "mmap_read_unlock"]
    with pytest.raises(KernelBug, match=r"^mmap_read_unlock\(mmap_lock\) without a read hold"):
        mm.mmap_sem.up_read()
    with pytest.raises(KernelBug, match=r"^up_read\(mmap_sem\) without a read hold"):
        MM().mmap_sem.up_read()
    mm.mmap_sem.down_write()
    with pytest.raises(WouldSleep, match=r"^mmap_read_lock\(mmap_lock\) would sleep"):
        mm.mmap_sem.down_read()


# --- one fault in each era ---------------------------------------------------------------------
def test_a_fault_on_4_15_takes_mmap_sem_and_never_a_vma_lock():
    mm, addr = anon(OLD)
    steps, res = names(OLD, lambda: fault.do_page_fault(mm, addr, write=True))
    assert steps[:4] == ["do_page_fault", "down_read_trylock", "find_vma", "handle_mm_fault"]
    assert steps[-1] == "up_read"
    assert not {"lock_vma_under_rcu", "vma_start_read", "mm_account_fault"} & set(steps)
    assert res.ok and not res.vma_lock and mm.min_flt == 1


def test_a_fault_on_6_12_is_handled_under_the_vma_lock_and_never_takes_mmap_sem():
    mm, addr = anon(NEW)
    user_write(mm, addr, b"x")  # the VMA gets its anon_vma
    steps, res = names(NEW, lambda: fault.do_page_fault(mm, addr + PAGE_SIZE, write=True))
    assert steps[:3] == ["do_page_fault", "lock_vma_under_rcu", "vma_start_read"]
    assert steps[-1] == "vma_end_read"
    assert not {"mmap_read_lock", "mmap_read_trylock", "find_vma"} & set(steps)
    assert res.ok and res.vma_lock and mm.min_flt == 2
    assert mm.system.vmstat["vma_lock_success"] == 2
    assert mm.mmap_sem.readers == 0 and all(v.vm_lock.readers == 0 for v in mm)


def test_the_first_write_to_fresh_anonymous_memory_needs_mmap_sem_for_a_moment():
    mm, addr = anon(NEW)
    steps, res = names(NEW, lambda: fault.do_page_fault(mm, addr, write=True))
    assert "__vmf_anon_prepare" in steps and "mmap_read_trylock" in steps
    assert res.vma_lock and res.ok  # the trylock succeeded: no retry
    # with a writer holding mmap_sem the trylock fails: the fault falls back, and waits
    mm2, addr2 = anon(NEW)
    mm2.mmap_sem.down_write()
    with pytest.raises(WouldSleep):
        fault.do_page_fault(mm2, addr2, write=True)
    assert mm2.system.vmstat["vma_lock_retry"] == 1


def test_a_read_of_fresh_anonymous_memory_needs_no_anon_vma_and_no_mmap_sem():
    mm, addr = anon(NEW)
    mm.mmap_sem.down_write()  # another thread in mprotect of some other VMA
    res = fault.do_page_fault(mm, addr)  # the zero page, under the VMA lock
    assert res.ok and res.vma_lock


def test_the_2017_handler_never_runs_under_the_vma_lock():
    mm, addr = libc(NEW, "split")
    steps, res = names(NEW, lambda: fault.do_page_fault(mm, addr + 4 * PAGE_SIZE))
    # the VMA lock is tried, vmf_can_call_fault gives up before ->fault ...
    first = steps.index("vmf_can_call_fault")
    assert steps[first + 1] == "vma_end_read"
    assert steps.index("cramfs_vmasplit_fault") > steps.index("mmap_read_trylock") > first
    # ... so the handler's mmap_read_unlock releases the lock the fallback took, as on v4.15
    handler = steps[steps.index("cramfs_vmasplit_fault"):]
    assert handler[1:3] == ["mmap_read_unlock", "mmap_write_lock_killable"]
    assert "mmap_write_downgrade" in handler and "up_read" not in steps
    assert res.ok and not res.vma_lock and mm.system.vmstat["vma_lock_retry"] == 1
    assert [(v.vm_start - addr) // PAGE_SIZE for v in mm] == [0, 3]
    assert mm.mmap_sem.readers == 0


def test_a_cold_page_cache_fault_reads_without_the_vma_lock_and_counts_as_major():
    mm, addr = libc(NEW)
    steps, res = names(NEW, lambda: fault.do_page_fault(mm, addr + 4 * PAGE_SIZE))
    read = steps.index("page_cache_read")
    assert steps[read - 1] == "vma_end_read"  # maybe_unlock_mmap_for_io: no I/O under a lock
    assert "mmap_read_trylock" in steps[read:]  # the retry, under mmap_lock, finds it cached
    assert res.ok and res.major and (mm.maj_flt, mm.min_flt) == (1, 0)
    assert mm.system.vmstat["pgfault"] == 1  # the try that retried is not counted
    old, old_addr = libc(OLD)
    _, res_old = names(OLD, lambda: fault.do_page_fault(old, old_addr + 4 * PAGE_SIZE))
    assert res_old.major and (old.maj_flt, old.min_flt) == (1, 0)
    assert user_read(mm, addr + 4 * PAGE_SIZE, 64) == user_read(old, old_addr + 4 * PAGE_SIZE, 64)


def test_a_fault_in_a_gap_gets_no_vma_lock():
    mm, addr = anon(NEW)
    assert lock_vma_under_rcu(mm, addr - PAGE_SIZE) is None
    assert mm.system.vmstat["vma_lock_abort"] == 1
    res = fault.do_page_fault(mm, addr - PAGE_SIZE)
    assert res.signal == "SIGSEGV" and res.si_code == "SEGV_MAPERR"


def test_a_kernel_mode_fault_takes_mmap_sem():
    mm, addr = anon(NEW)
    steps, res = names(NEW, lambda: fault.do_page_fault(mm, addr, user=False))
    assert "lock_vma_under_rcu" not in steps and "mmap_read_trylock" in steps and res.ok


def test_vma_lock_and_retry_nowait_are_refused():
    mm, addr = anon(NEW)
    vma = find_vma(mm, addr)
    assert vma_start_read(vma)
    ret = handle_mm_fault(vma, addr, FAULT_FLAG_VMA_LOCK | FAULT_FLAG_RETRY_NOWAIT)
    assert ret == VM_FAULT_SIGSEGV
    vma_end_read(vma)


# --- VM_FAULT_RETRY's newer forms and the accounting ------------------------------------------
@pytest.mark.parametrize(("version", "user", "counted"), [
    (OLD, True, (2, 0, 1)),   # v4.15 counts pgfault on every try, the fault once (minor)
    (OLD, False, (2, 0, 1)),
    (NEW, True, (1, 0, 1)),   # once, when done; the VMA lock's retry was not major: no TRIED
    (NEW, False, (1, 1, 0)),  # under mmap_sem the retry sets FAULT_FLAG_TRIED: a major fault
])
def test_a_locked_page_makes_the_fault_retry_and_it_counts_once(version, user, counted):
    mm, addr = libc(version)
    vma = find_vma(mm, addr)
    fault.do_page_fault(mm, addr + 4 * PAGE_SIZE)  # page 4 is now in the page cache
    page = vma.vm_file.f_mapping.pages[4]
    mm.munmap(addr + 4 * PAGE_SIZE, PAGE_SIZE)
    mm.mmap(addr + 4 * PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE | 0x10,  # MAP_FIXED
            vma.vm_file, 4 * PAGE_SIZE)
    before = mm.system.vmstat["pgfault"], mm.maj_flt, mm.min_flt
    page.flags.add("PG_locked")  # someone is reading it
    res = fault.do_page_fault(mm, addr + 4 * PAGE_SIZE, user=user)
    assert res.retries == 1 and (res.ok or not user)
    after = mm.system.vmstat["pgfault"], mm.maj_flt, mm.min_flt
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == counted


def test_handle_mm_fault_counts_nothing_while_a_fault_retries_on_6_12():
    mm, addr = libc(NEW, "split")
    fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)
    assert mm.system.vmstat["pgfault"] == 1 and mm.maj_flt + mm.min_flt == 1


# --- vma_start_write in the paths that change VMAs -------------------------------------------
@pytest.mark.parametrize(("call", "locks"), [
    (lambda mm, a: mm.mprotect(a + PAGE_SIZE, PAGE_SIZE, PROT_READ), 3),  # split x2, then flags
    (lambda mm, a: mm.munmap(a + PAGE_SIZE, PAGE_SIZE), 2),  # split (2), the removed VMA
    (lambda mm, a: mm.mremap(a, PAGE_SIZE, PAGE_SIZE, 3, a - 64 * PAGE_SIZE), 1),
])
def test_the_paths_that_change_a_vma_write_lock_it_first(call, locks):
    mm, addr = anon(NEW)
    steps, _ = names(NEW, lambda: call(mm, addr))
    assert steps.count("vma_start_write") >= locks
    old, old_addr = anon(OLD)
    old_steps, _ = names(OLD, lambda: call(old, old_addr))
    assert "vma_start_write" not in old_steps
    assert procfs.format_maps(old).replace(f"{old_addr:x}", "A") .count("\n") == \
        procfs.format_maps(mm).replace(f"{addr:x}", "A").count("\n")


def test_vma_start_write_waits_for_a_fault_holding_the_vma_lock():
    mm, addr = anon(NEW)
    vma = find_vma(mm, addr)
    assert vma_start_read(vma)  # a fault on another CPU holds it
    with pytest.raises(WouldSleep):
        mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    vma_end_read(vma)


def test_a_write_locked_vma_refuses_readers_until_mmap_sem_is_released():
    mm, addr = anon(NEW, 8)
    mm.mmap_sem.down_write()
    vma = find_vma(mm, addr)
    vma_start_write(vma)
    assert vma_is_write_locked(vma) and not vma_start_read(vma)
    mm.mmap_sem.up_write()  # vma_end_write_all
    assert not vma_is_write_locked(vma) and vma_start_read(vma)
    vma_end_read(vma)


def test_vma_start_write_without_the_write_lock_is_a_bug():
    mm, addr = anon(NEW)
    with pytest.raises(KernelBug, match="mmap_assert_write_locked"):
        vma_start_write(find_vma(mm, addr))


def test_munmap_marks_the_vma_detached():
    mm, addr = anon(NEW)
    vma = find_vma(mm, addr)
    mm.munmap(addr, 4 * PAGE_SIZE)
    assert vma.detached
    old, old_addr = anon(OLD)
    old_vma = find_vma(old, old_addr)
    old.munmap(old_addr, 4 * PAGE_SIZE)
    assert not old_vma.detached


# --- the maple tree's API ---------------------------------------------------------------------
def test_find_vma_keeps_its_meaning_and_vma_lookup_wants_the_address_inside():
    mm, addr = anon(NEW)
    below = addr - PAGE_SIZE
    assert find_vma(mm, below).vm_start == addr  # the next VMA up
    assert vma_lookup(mm, below) is None and vma_lookup(mm, addr).vm_start == addr
    assert find_vma_intersection(mm, below, addr) is None
    assert find_vma_intersection(mm, below, addr + 1).vm_start == addr


def test_the_vma_iterator_walks_in_address_order_and_back():
    mm, addr = anon(NEW, 8)
    mm.mprotect(addr + 2 * PAGE_SIZE, PAGE_SIZE, PROT_READ)  # three VMAs
    starts = [(v.vm_start - addr) // PAGE_SIZE for v in for_each_vma(VmaIterator(mm, addr))]
    assert starts == [0, 2, 3]
    vmi = VmaIterator(mm, addr)
    assert vmi.vma_find(addr + 2 * PAGE_SIZE).vm_start == addr
    assert vmi.vma_find(addr + 2 * PAGE_SIZE) is None  # the next starts at the limit
    assert vmi.vma_next().vm_start == addr + 2 * PAGE_SIZE
    assert vmi.vma_prev().vm_start == addr


# --- vmf_insert_mixed and cramfs's XIP -------------------------------------------------------
def test_vmf_insert_mixed_answers_with_fault_codes():
    mm, addr = anon(NEW)
    vma = find_vma(mm, addr)
    frame = phys_to_pfn_t(mm.physmem.flash_phys, PFN_DEV)
    assert vmf_insert_mixed(vma, addr, frame) == VM_FAULT_SIGBUS  # no VM_MIXEDMAP
    vma.vm_flags |= VM_MIXEDMAP
    assert vmf_insert_mixed(vma, addr - PAGE_SIZE, frame) == VM_FAULT_SIGBUS  # outside
    assert vmf_insert_mixed(vma, addr, frame) == VM_FAULT_NOPAGE
    assert vmf_insert_mixed(vma, addr, frame) == VM_FAULT_NOPAGE  # already there: not an error
    assert VM_FAULT_OOM & 1


def test_cramfs_xip_maps_the_same_pages_on_both_eras():
    old = run_scenarios(strategy="mixedmap", system=System(version=OLD))
    new = run_scenarios(strategy="mixedmap", system=System(version=NEW))
    for a, b in zip(old, new, strict=True):
        assert a.maps == b.maps or [m.split(" ", 1)[1] for m in a.maps] == \
            [m.split(" ", 1)[1] for m in b.maps]
        assert a.kernel_log == b.kernel_log
        assert [(t.page, t.signal, t.minflt, t.majflt, t.matches_read) for t in a.touches] == \
            [(t.page, t.signal, t.minflt, t.majflt, t.matches_read) for t in b.touches]


def test_cramfs_mmap_write_locks_the_vma_it_makes_mixed():
    system = System(version=NEW)
    sb = xip.mount(scenario_image(), None, "mixedmap", system=system)
    mm = MM(system)
    sc = scenario("libc-past-xip")
    steps, _ = names(NEW, lambda: mm.mmap(0, sc.length, sc.prot, sc.flags, sb.open(sc.path),
                                          sc.offset))
    i = steps.index("cramfs_physmem_mmap")
    assert "vma_start_write" in steps[i:] and "vmf_insert_mixed" in steps[i:]
    assert "vm_insert_mixed" not in steps


# --- the races on 6.x ---------------------------------------------------------------------
def test_the_reviews_races_are_still_there_on_6_12():
    for name in ("munmap in the window", "mprotect in the window", "mremap in the window"):
        assert race(name, "split", version=NEW).broken_runs, name
        assert race(name, "split-v3", version=NEW).broken_runs == 0, name
        assert race(name, "mixedmap", version=NEW).broken_runs == 0, name


def test_the_use_after_free_needs_a_cached_page_on_6_12():
    # the handler's filemap_fault drops mmap_sem to read a cold page and retries from scratch
    assert race("remap in the window", "split", version=NEW).broken_runs == 0
    assert race("remap in the window", "split", version=NEW, cached=(4,)).broken_runs == 1
    assert race("remap in the window", "split", cached=(4,)).broken_runs == 1


def test_v3_changes_a_vma_without_vma_start_write_under_another_faults_vma_lock():
    threads = (Fault(3), Fault(4))
    kwargs = {"before": (Munmap(0, 3),), "cached": (3, 4)}
    new = explore(threads, "split-v3", version=NEW, **kwargs)
    old = explore(threads, "split-v3", **kwargs)
    assert old.broken_runs == 0
    assert new.broken_runs > 0
    assert all("without vma_start_write" in b for (_, broken) in new.classes
               for b in broken)


def test_a_split_waits_for_a_fault_under_the_vma_lock_and_nothing_breaks():
    threads = (Fault(4), Mprotect(3, 2))
    report = explore(threads, "mixedmap", version=NEW, cached=(4,))
    assert report.broken_runs == 0
    schedule = [0, 1]  # the fault takes the VMA lock, the mprotect takes mmap_sem
    run, steps = steps_of(threads, "mixedmap", schedule, version=NEW, cached=(4,))
    assert steps[1].label == "mmap_write_lock"
    assert steps[1].vma_locks == ((0, "at pages 0-4"),)
    assert steps[2].thread == 0 and 1 in steps[2].waiting()  # the split waits for the fault
    assert "under VMA lock" in run.outcomes[0]


def test_two_threads_faulting_on_different_vmas_wait_on_4_15_not_on_6_12():
    threads = (Fault(3), Fault(1, region="anon", write=True))
    waited = {}
    for version in (OLD, NEW):
        schedule = fair_schedule(threads, "split", version=version,
                                 first=(0, "downgrade_write"))
        run, steps = steps_of(threads, "split", schedule, version=version)
        assert not run.broken
        waited[version] = sum(1 in s.waiting() for s in steps)
        assert run.faults[1] == (1, 0)  # one minor fault for the anonymous write
    assert waited[OLD] > 0 and waited[NEW] == 0


def test_anonymous_region_pages_are_checked():
    with pytest.raises(ValueError, match="anonymous region"):
        Fault(7, region="anon")
    with pytest.raises(ValueError, match="region"):
        Fault(1, region="stack")


def test_a_retry_result_is_not_completed_on_4_15():
    assert not VM_FAULT_RETRY & VM_FAULT_COMPLETED
