"""The fault path: x86 do_page_fault → handle_mm_fault → do_anonymous_page / do_fault /
do_wp_page, with signals, retries, lock balance and exact call sequences."""

from __future__ import annotations

import pytest

from mmlab import fault, filemap, fs, memory, trace
from mmlab import pagetable as pt
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
)
from mmlab.errors import WouldSleep
from mmlab.fault import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_USER,
    FAULT_FLAG_WRITE,
    VM_FAULT_ERROR,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_FAULT_WRITE,
    SignalDelivered,
    do_page_fault,
)
from mmlab.mm import MM, VmOperations, find_vma
from mmlab.pagetable import pte_special, pte_write
from mmlab.physmem import page_count, page_mapcount
from mmlab.uaccess import user_read, user_write
from tests.helpers import model_file


def lock_free(mm: MM) -> bool:
    return mm.mmap_sem.readers == 0 and not mm.mmap_sem.writer


def fault_names(rec) -> list[str]:
    return [n for n in rec.names if n not in ("find_get_page",)]


def test_constants_are_v4_15():
    assert (fault.VM_FAULT_OOM, VM_FAULT_SIGBUS, VM_FAULT_MAJOR, VM_FAULT_WRITE) == (1, 2, 4, 8)
    assert (VM_FAULT_SIGSEGV, VM_FAULT_NOPAGE, VM_FAULT_LOCKED, VM_FAULT_RETRY) == (
        0x40,
        0x100,
        0x200,
        0x400,
    )
    assert (fault.VM_FAULT_FALLBACK, fault.VM_FAULT_DONE_COW, fault.VM_FAULT_NEEDDSYNC) == (
        0x800,
        0x1000,
        0x2000,
    )
    assert VM_FAULT_ERROR == 0x1 | 0x2 | 0x40 | 0x10 | 0x20 | 0x800
    assert (FAULT_FLAG_WRITE, fault.FAULT_FLAG_MKWRITE, FAULT_FLAG_ALLOW_RETRY) == (1, 2, 4)
    assert (fault.FAULT_FLAG_RETRY_NOWAIT, FAULT_FLAG_KILLABLE, FAULT_FLAG_TRIED) == (8, 0x10, 0x20)
    assert (FAULT_FLAG_USER, fault.FAULT_FLAG_REMOTE, FAULT_FLAG_INSTRUCTION) == (0x40, 0x80, 0x100)
    assert fault.vm_fault_names(0x204) == ["MAJOR", "LOCKED"]


# --- anonymous memory -----------------------------------------------------------------------
def test_anonymous_read_maps_the_zero_page_then_write_copies_it():
    mm = MM()
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    vma = find_vma(mm, addr)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr + 5)
    assert rec.names == [
        "do_page_fault",
        "down_read_trylock",
        "find_vma",
        "handle_mm_fault",
        "__handle_mm_fault",
        "handle_pte_fault",
        "do_anonymous_page",
        "up_read",
    ]
    assert res.ok and res.ret == 0 and not res.major and res.retries == 0
    assert mm.min_flt == 1 and mm.maj_flt == 0 and lock_free(mm)
    pte = mm.pgd.walk(addr)
    assert mm.physmem.is_zero_pfn(pte.pfn) and pte_special(pte) and not pte_write(pte)
    assert vma.anon_vma is None  # the zero page needs no anon_vma

    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr + 5, write=True)
    assert rec.names[:6] == [
        "do_page_fault",
        "down_read_trylock",
        "find_vma",
        "handle_mm_fault",
        "__handle_mm_fault",
        "handle_pte_fault",
    ]
    assert rec.names[6:9] == ["do_wp_page", "vm_normal_page", "wp_page_copy"]
    assert "anon_vma_prepare" in rec.names and rec.names[-1] == "up_read"
    assert res.ok and res.ret == VM_FAULT_WRITE and lock_free(mm)
    new = mm.pgd.walk(addr)
    page = mm.physmem.pfn_to_page(new.pfn)
    assert pte_write(new) and not pte_special(new) and page_mapcount(page) == 1
    assert vma.anon_vma is not None and page.mapping is vma.anon_vma
    assert user_read(mm, addr, 8) == bytes(8)
    assert memory.check_mm_invariants(mm) == []


def test_anonymous_first_write_allocates_directly():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    res = do_page_fault(mm, addr, write=True)
    assert res.ok and res.ret == 0
    pte = mm.pgd.walk(addr)
    assert pte_write(pte) and pte.bits & 0x40  # dirty
    user_write(mm, addr + 10, b"hello")
    assert user_read(mm, addr + 8, 9) == b"\0\0hello\0\0"
    # Second touch: the PTE allows it, the CPU does not fault.
    again = do_page_fault(mm, addr, write=True)
    assert again.no_fault and mm.min_flt == 1


def test_mprotect_round_trip_reuses_the_exclusive_anonymous_page():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    user_write(mm, addr, b"x")
    pfn = mm.pgd.walk(addr).pfn
    mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    mm.mprotect(addr, PAGE_SIZE, PROT_READ | PROT_WRITE)
    assert not pte_write(mm.pgd.walk(addr))  # private writable PTEs start read-only
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr, write=True)
    assert res.ret == VM_FAULT_WRITE and "wp_page_copy" not in rec.names
    assert mm.pgd.walk(addr).pfn == pfn and pte_write(mm.pgd.walk(addr))


def test_out_of_memory_on_anonymous_write():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.physmem.fail_next_allocs = 1
    res = do_page_fault(mm, addr, write=True)
    assert res.ret == fault.VM_FAULT_OOM and res.oom and res.signal is None
    assert mm.min_flt == mm.maj_flt == 0 and lock_free(mm)
    assert mm.pgd.walk(addr) is None
    mm.pgd.fail_next_alloc = 1
    mm.pgd.free_pgtables(0, TASK_SIZE)
    assert do_page_fault(mm, addr).ret == fault.VM_FAULT_OOM  # no page table either


def test_shared_vma_without_vm_ops_is_sigbus():
    """The seed's hazard: a VM_SHARED VMA whose vm_ops became NULL is 'anonymous' → SIGBUS."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS)
    vma = find_vma(mm, addr)
    vma.vm_ops = None
    res = do_page_fault(mm, addr)
    assert res.ret == VM_FAULT_SIGBUS and res.signal == "SIGBUS" and lock_free(mm)


# --- bad accesses ---------------------------------------------------------------------------
def test_no_vma_and_gap_and_kernel_address_are_sigsegv():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    for bad in (addr + PAGE_SIZE, addr - PAGE_SIZE, 0x1000):
        with trace.record(snapshots=False) as rec:
            res = do_page_fault(mm, bad)
        assert res.signal == "SIGSEGV" and res.si_code == "SEGV_MAPERR"
        assert "handle_mm_fault" not in rec.names and rec.names[-1] == "up_read"
        assert lock_free(mm)
    res = do_page_fault(mm, TASK_SIZE + 0x1000)
    assert res.signal == "SIGSEGV" and lock_free(mm)
    kernel = do_page_fault(mm, addr + PAGE_SIZE, user=False)
    assert kernel.kernel_fixup and kernel.signal is None  # copy_from_user gets -EFAULT


def test_write_to_read_only_vma_is_sigsegv_accerr():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    res = do_page_fault(mm, addr, write=True)
    assert res.signal == "SIGSEGV" and res.si_code == "SEGV_ACCERR" and res.ret == 0
    assert res.error_code == fault.X86_PF_WRITE | fault.X86_PF_USER
    assert lock_free(mm) and mm.pgd.walk(addr) is None
    user_read(mm, addr, 1)  # now present: a write fault carries X86_PF_PROT
    res = do_page_fault(mm, addr, write=True)
    assert res.error_code & fault.X86_PF_PROT and res.signal == "SIGSEGV"
    none = mm.mmap(0, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(SignalDelivered) as exc:
        user_read(mm, none, 1)
    assert exc.value.signal == "SIGSEGV" and exc.value.result.si_code == "SEGV_ACCERR"


def test_instruction_fetch_from_a_non_exec_vma_fails_on_the_second_fault():
    """v4.15 access_error does not check VM_EXEC: the page is mapped NX, then PROT|INSTR fails."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record(snapshots=False) as rec, pytest.raises(SignalDelivered) as exc:
        user_read(mm, addr, 4, exec_=True)
    assert [s for s in rec.names if s == "do_page_fault"] == ["do_page_fault"] * 2
    assert exc.value.result.error_code & fault.X86_PF_INSTR
    assert exc.value.result.error_code & fault.X86_PF_PROT
    assert mm.pgd.walk(addr) is not None  # the first fault did map it
    code = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS)
    assert user_read(mm, code, 4, exec_=True) == bytes(4)


def test_lock_held_for_write_makes_the_fault_wait():
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.mmap_sem.down_write()
    with trace.record(snapshots=False) as rec, pytest.raises(WouldSleep):
        do_page_fault(mm, addr)
    assert "down_read_trylock failed" in rec.names
    mm.mmap_sem.up_write()


# --- ->fault handlers and VM_FAULT_RETRY ------------------------------------------------------
def file_vma(mm: MM, data: bytes, npages: int, flags: int = MAP_PRIVATE, prot: int = PROT_READ):
    f = model_file(data)
    addr = mm.mmap(0, npages * PAGE_SIZE, prot, flags, f, 0)
    return find_vma(mm, addr), f


def test_handler_that_drops_mmap_sem_and_returns_retry_is_retried_once():
    mm = MM()
    vma, f = file_vma(mm, b"r" * PAGE_SIZE, 1)
    seen: list[int] = []

    def dropping_fault(vmf):
        seen.append(vmf.flags)
        if vmf.flags & FAULT_FLAG_ALLOW_RETRY:
            vmf.vma.vm_mm.mmap_sem.up_read()  # the contract: RETRY means "lock released"
            return VM_FAULT_RETRY
        return filemap.filemap_fault(vmf)

    vma.vm_ops = VmOperations(fault=dropping_fault)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, vma.vm_start)
    assert res.retries == 1 and res.ok and lock_free(mm)
    assert res.ret == VM_FAULT_MAJOR | VM_FAULT_LOCKED  # the last try's bits
    assert res.major and mm.maj_flt == 1 and mm.min_flt == 0
    first, second = seen
    assert first == FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_USER
    assert second == FAULT_FLAG_TRIED | FAULT_FLAG_KILLABLE | FAULT_FLAG_USER
    # After RETRY the arch code takes the lock again with a blocking down_read, not up_read.
    locks = [n for n in rec.names if n in ("down_read_trylock", "down_read", "up_read")]
    assert locks == ["down_read_trylock", "up_read", "down_read", "up_read"]
    assert user_read(mm, vma.vm_start, 2) == b"rr"


def test_retry_with_a_fatal_signal_pending_returns_without_retrying():
    mm = MM()
    vma, _ = file_vma(mm, b"k" * PAGE_SIZE, 1)

    def dropping_fault(vmf):
        vmf.vma.vm_mm.mmap_sem.up_read()
        return VM_FAULT_RETRY

    vma.vm_ops = VmOperations(fault=dropping_fault)
    res = do_page_fault(mm, vma.vm_start, fatal_signal_pending=True)
    assert res.retries == 0 and res.ret == VM_FAULT_RETRY and res.signal is None
    assert lock_free(mm) and mm.min_flt == mm.maj_flt == 0


def test_seed_style_lock_dance_keeps_the_lock_balanced():
    """up_read → down_write_killable → downgrade_write → filemap_fault (the 2017 seed's shape)."""
    mm = MM()
    vma, _ = file_vma(mm, b"s" * PAGE_SIZE, 1)

    def seed_fault(vmf):
        sem = vmf.vma.vm_mm.mmap_sem
        sem.up_read()
        if sem.down_write_killable():
            return VM_FAULT_RETRY
        sem.downgrade_write()
        return filemap.filemap_fault(vmf)

    vma.vm_ops = VmOperations(fault=seed_fault)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, vma.vm_start)
    assert res.ok and res.retries == 0 and lock_free(mm)
    wanted = ("up_read", "down_write_killable", "downgrade_write")
    assert list(wanted) == [n for n in rec.names if n in wanted][:3]


def test_handler_returning_retry_without_dropping_the_lock_leaks_it():
    mm = MM()
    vma, _ = file_vma(mm, b"b" * PAGE_SIZE, 1)
    vma.vm_ops = VmOperations(fault=lambda vmf: VM_FAULT_RETRY)
    with pytest.raises(WouldSleep):
        # Second pass: down_read is fine (readers may stack), the second RETRY returns with
        # the lock twice held; the model shows the leak instead of hiding it.
        res = do_page_fault(mm, vma.vm_start)
        assert mm.mmap_sem.readers == 2 and res.retries == 1
        mm.mmap_sem.down_write()


@pytest.mark.parametrize(
    ("code", "signal"), [(VM_FAULT_SIGBUS, "SIGBUS"), (VM_FAULT_SIGSEGV, "SIGSEGV")]
)
def test_handler_error_bits_become_signals(code, signal):
    mm = MM()
    vma, _ = file_vma(mm, b"e" * PAGE_SIZE, 1)
    vma.vm_ops = VmOperations(fault=lambda vmf: code)
    res = do_page_fault(mm, vma.vm_start)
    assert res.ret == code and res.signal == signal and lock_free(mm)
    assert mm.min_flt == mm.maj_flt == 0


def test_vm_ops_without_fault_is_sigbus_and_nopage_is_fine():
    mm = MM()
    vma, _ = file_vma(mm, b"n" * PAGE_SIZE, 1)
    vma.vm_ops = VmOperations()
    assert do_page_fault(mm, vma.vm_start).signal == "SIGBUS"
    vma.vm_ops = VmOperations(fault=lambda vmf: VM_FAULT_NOPAGE)
    res = do_page_fault(mm, vma.vm_start)
    assert res.ok and res.ret == VM_FAULT_NOPAGE and mm.min_flt == 1


def test_handler_success_without_page_is_a_kernel_bug():
    mm = MM()
    vma, _ = file_vma(mm, b"x" * PAGE_SIZE, 1)
    vma.vm_ops = VmOperations(fault=lambda vmf: 0)
    with pytest.raises(fault.KernelBug):
        do_page_fault(mm, vma.vm_start)


# --- file pages: COW and shared writes ----------------------------------------------------
def test_private_file_write_fault_is_do_cow_fault():
    mm = MM()
    vma, f = file_vma(mm, b"c" * PAGE_SIZE, 1, prot=PROT_READ | PROT_WRITE)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, vma.vm_start, write=True)
    names = [n for n in rec.names if n not in ("find_get_page", "add_to_page_cache_lru")]
    assert names == [
        "do_page_fault",
        "down_read_trylock",
        "find_vma",
        "handle_mm_fault",
        "__handle_mm_fault",
        "handle_pte_fault",
        "do_fault",
        "do_cow_fault",
        "anon_vma_prepare",
        "__do_fault",
        "filemap_fault",
        "page_cache_read",
        "model_readpage",  # the filesystem's ->readpage
        "finish_fault",
        "up_read",
    ]
    assert res.ret == VM_FAULT_MAJOR | VM_FAULT_LOCKED and res.major
    cached = f.f_mapping.pages[0]
    pte = mm.pgd.walk(vma.vm_start)
    assert pte.pfn != cached.pfn and pte_write(pte)
    user_write(mm, vma.vm_start, b"XY")
    assert cached.read(0, 4) == b"cccc"  # the page cache page is unchanged
    assert user_read(mm, vma.vm_start, 4) == b"XYcc"
    assert page_mapcount(cached) == 0 and page_count(cached) == 1
    assert memory.check_mm_invariants(mm) == []


def test_write_after_read_on_private_file_page_copies_it():
    mm = MM()
    vma, f = file_vma(mm, b"w" * PAGE_SIZE, 1, prot=PROT_READ | PROT_WRITE)
    user_read(mm, vma.vm_start, 1)
    cached = f.f_mapping.pages[0]
    assert mm.pgd.walk(vma.vm_start).pfn == cached.pfn and page_mapcount(cached) == 1
    res = do_page_fault(mm, vma.vm_start, write=True)
    assert res.ret == VM_FAULT_WRITE
    assert mm.pgd.walk(vma.vm_start).pfn != cached.pfn
    assert page_mapcount(cached) == 0 and page_count(cached) == 1
    assert memory.check_mm_invariants(mm) == []


def test_shared_file_write_dirties_the_page_cache_page():
    mm = MM()
    f = model_file(b"s" * PAGE_SIZE, mode=fs.FMODE_READ | fs.FMODE_WRITE)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f, 0)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr, write=True)
    assert "do_shared_fault" in rec.names and "filemap_page_mkwrite" in rec.names
    assert res.ok
    cached = f.f_mapping.pages[0]
    assert mm.pgd.walk(addr).pfn == cached.pfn and pte_write(mm.pgd.walk(addr))
    assert "PG_dirty" in cached.flags and "PG_locked" not in cached.flags
    user_write(mm, addr, b"Q")
    assert cached.read(0, 2) == b"Qs"
    # read first, then write: wp_page_shared makes the same page writable
    f2 = model_file(b"t" * PAGE_SIZE, mode=fs.FMODE_READ | fs.FMODE_WRITE)
    b = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f2, 0)
    # vma_set_page_prot with write-notify (vm_ops has page_mkwrite): shared PTEs start
    # read-only so the filesystem hears of the first write.
    find_vma(mm, b).vm_page_prot &= ~pt._PAGE_RW
    user_read(mm, b, 1)
    assert not pte_write(mm.pgd.walk(b))
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, b, write=True)
    assert "wp_page_shared" in rec.names and res.ret == VM_FAULT_WRITE
    assert mm.pgd.walk(b).pfn == f2.f_mapping.pages[0].pfn
    assert memory.check_mm_invariants(mm) == []
