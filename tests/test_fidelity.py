"""The model against the v4.15.0 source, item by item: each test would have caught a disagreement
that a review of the source found (the constant or rule and its file are in each docstring)."""

from __future__ import annotations

import errno

import pytest

from mmlab import constants, fault, memory, memory_fault, pagetable, procfs, version
from mmlab.constants import (
    FAULT_FLAG_WRITE,
    MAP_32BIT,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_HUGE_2MB,
    MAP_HUGETLB,
    MAP_LOCKED,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    PAGE_SIZE,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_READ,
    PROT_WRITE,
    VM_FAULT_HWPOISON,
    VM_FAULT_HWPOISON_LARGE,
    VM_FAULT_NOPAGE,
    VM_FAULT_SIGBUS,
    VM_IO,
    VM_LOCKED,
    VM_MIXEDMAP,
    VM_PFNMAP,
)
from mmlab.errors import KernelBug
from mmlab.fs import FMODE_READ, FMODE_WRITE, FileOperations
from mmlab.memory import remap_pfn_range, vm_insert_mixed, vm_insert_page, vm_normal_page
from mmlab.mm import MM, System, VmOperations, find_vma
from mmlab.mm_types import DEFAULT_MMAP_BASE, VmFault
from mmlab.pagetable import (
    _PAGE_ACCESSED,
    _PAGE_DEVMAP,
    _PAGE_DIRTY,
    _PAGE_NX,
    _PAGE_PRESENT,
    _PAGE_USER,
    Pte,
    mmu_permits,
    pfn_pte,
    pte_access_permitted,
    pte_none,
    pte_write,
)
from mmlab.pfn_t import PFN_DEV, PFN_MAP, phys_to_pfn_t
from mmlab.physmem import PHYS_PFN, lock_page
from mmlab.uaccess import user_read, user_write
from tests.helpers import model_file

FLASH = 0x08000000
RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS


def errno_of(call) -> int:
    with pytest.raises(OSError) as info:
        call()
    return info.value.errno


# --- include/linux/mman.h, include/uapi/asm-generic/mman-common.h ----------------------------
def test_legacy_map_mask_is_v4_15s():
    """LEGACY_MAP_MASK includes MAP_32BIT and MAP_HUGE_2MB/1GB (include/linux/mman.h L35)."""
    assert constants.LEGACY_MAP_MASK == 0x7C07F973
    assert constants.MAP_UNINITIALIZED == 0  # only !MMU kernels have it
    mm = MM()
    f = model_file(b"v" * PAGE_SIZE)
    for extra in (MAP_32BIT, MAP_HUGE_2MB):
        assert mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED_VALIDATE | extra, f)
    assert errno_of(lambda: mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED_VALIDATE | 1 << 40, f)) == (
        errno.EOPNOTSUPP
    )


def test_syscall_arguments_are_unsigned_long():
    """prot and flags are ``unsigned long``: bit 32 is not lost (mm/mprotect.c L393)."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, RW, ANON)
    assert errno_of(lambda: mm.mprotect(addr, PAGE_SIZE, PROT_READ | 1 << 32)) == errno.EINVAL


def test_map_hugetlb_on_an_ordinary_file_is_einval():
    """mmap_pgoff: MAP_HUGETLB with a file not on hugetlbfs (mm/mmap.c L1505)."""
    mm = MM()
    f = model_file(b"h" * PAGE_SIZE)
    assert errno_of(lambda: mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_HUGETLB, f)) == (
        errno.EINVAL
    )


# --- mm/mprotect.c ---------------------------------------------------------------------------
def test_mprotect_checks_growsdown_with_growsup_first():
    """do_mprotect_pkey: both GROWS flags -> -EINVAL before alignment and len == 0 (L404)."""
    mm = MM()
    both = PROT_READ | PROT_GROWSDOWN | PROT_GROWSUP
    assert errno_of(lambda: mm.mprotect(0x10000000, 0, both)) == errno.EINVAL
    assert errno_of(lambda: mm.mprotect(0x10000001, PAGE_SIZE, both)) == errno.EINVAL
    mm.mprotect(0x10000000, 0, PROT_READ)  # len 0 alone is fine


def test_mprotect_length_wraps_like_an_unsigned_long():
    """``len = PAGE_ALIGN(len); end = start + len`` wrap at 2**64: -ENOMEM, nothing changed."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, RW, ANON)
    before = find_vma(mm, addr).vm_flags
    assert errno_of(lambda: mm.mprotect(addr, (1 << 64) - 1, PROT_READ)) == errno.ENOMEM
    assert find_vma(mm, addr).vm_flags == before


# --- mmap_min_addr: security/min_addr.c, security/commoncap.c, mm/Kconfig ---------------------
def test_mmap_min_addr_default_and_cap_mmap_addr():
    """The Kconfig default is 4096; below it, cap_mmap_addr refuses without CAP_SYS_RAWIO."""
    assert constants.DEFAULT_MMAP_MIN_ADDR == 4096 == System().mmap_min_addr
    user, root = MM(), MM(cap_sys_rawio=True)
    for mm in (user, root):
        assert mm.mmap(0x1000, PAGE_SIZE, RW, ANON | MAP_FIXED) == 0x1000
    assert errno_of(lambda: user.mmap(0, PAGE_SIZE, RW, ANON | MAP_FIXED)) == errno.EPERM
    assert root.mmap(0, PAGE_SIZE, RW, ANON | MAP_FIXED) == 0
    debian = MM(System(mmap_min_addr=65536))
    assert debian.mmap(0x2000, PAGE_SIZE, RW, ANON) == 65536  # round_hint_to_min
    assert errno_of(lambda: debian.mmap(0x2000, PAGE_SIZE, RW, ANON | MAP_FIXED)) == errno.EPERM


def test_default_mmap_base_is_x86_without_randomisation():
    """mmap_base(): 128 MiB below the 47-bit top (arch/x86/mm/mmap.c L93)."""
    assert DEFAULT_MMAP_BASE == 0x7FFFF7FFF000
    assert MM().mmap(0, PAGE_SIZE, PROT_READ, ANON) == 0x7FFFF7FFE000


# --- arch/x86/include/asm/pgtable*.h ---------------------------------------------------------
def test_pte_pfn_mask_has_46_physical_bits():
    """__PHYSICAL_MASK_SHIFT is 46 with 4-level paging (page_64_types.h L59)."""
    assert pagetable.PTE_PFN_MASK == 0x3FFFFFFFF000
    assert pagetable._PAGE_CHG_MASK == 0x3FFFFFFFFA78  # no _PAGE_DEVMAP at v4.15
    assert pfn_pte((1 << 34) - 1, 0).pfn == (1 << 34) - 1
    with pytest.raises(KernelBug):
        pfn_pte(1 << 34, 0)


def test_pte_none_ignores_the_knl_erratum_bits():
    """pte_none masks _PAGE_DIRTY|_PAGE_ACCESSED (pgtable.h L635)."""
    assert pte_none(Pte(0, _PAGE_DIRTY | _PAGE_ACCESSED))
    assert not pte_none(Pte(0, _PAGE_PRESENT))


def test_kernel_pte_access_permitted_ignores_nx_the_mmu_does_not():
    """pte_access_permitted(pte, write) needs PRESENT|USER (+RW) only (pgtable.h L1246)."""
    pte = Pte(5, _PAGE_PRESENT | _PAGE_USER | _PAGE_NX)
    assert pte_access_permitted(pte, write=False) and not pte_access_permitted(pte, write=True)
    assert not mmu_permits(pte, write=False, exec_=True)


# --- mm/memory.c: vm_normal_page, insert_pfn, vm_insert_page ---------------------------------
def test_vm_normal_page_checks_only_highest_memmap_pfn():
    """Without the special bit only ``pfn > highest_memmap_pfn`` is a bad PTE (L882)."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON)
    vma = find_vma(mm, addr)
    mem = mm.physmem
    page = mem.alloc_page()
    assert vm_normal_page(vma, addr, pfn_pte(page.pfn, 0x25)) is page
    assert vm_normal_page(vma, addr, pfn_pte(mem.highest_memmap_pfn + 1, 0x25)) is None
    assert len(mm.system.dmesg) == 1 and "Bad page map" in mm.system.dmesg[0]
    # Below RAM: no struct page in the model. v4.15 would return a bogus struct page pointer,
    # not log a bad PTE; the model's pfn_to_page refuses loudly.
    with pytest.raises(KernelBug, match="pfn_to_page"):
        vm_normal_page(vma, addr, pfn_pte(0x50, 0x25))
    assert len(mm.system.dmesg) == 1
    mem.put_page(page)


def mixed_vma(mm: MM, npages: int = 2):
    f = model_file(b"m" * npages * PAGE_SIZE, mode=FMODE_READ | FMODE_WRITE)
    addr = mm.mmap(0, npages * PAGE_SIZE, RW, MAP_SHARED, f)
    vma = find_vma(mm, addr)
    vma.vm_flags |= VM_MIXEDMAP
    return vma


def test_insert_pfn_mkwrite_upgrades_an_existing_entry():
    """insert_pfn(mkwrite): young, dirty, writable; same pfn upgraded, other pfn -EBUSY (L1781)."""
    mm = MM()
    vma = mixed_vma(mm)
    pfn = phys_to_pfn_t(FLASH, PFN_DEV)
    assert vm_insert_mixed(vma, vma.vm_start, pfn) == 0
    assert not pte_write(mm.pgd.walk(vma.vm_start))
    assert memory.insert_pfn(vma, vma.vm_start, pfn, vma.vm_page_prot, mkwrite=True) == 0
    pte = mm.pgd.walk(vma.vm_start)
    assert pte_write(pte) and pte.bits & _PAGE_DIRTY and pte.bits & _PAGE_ACCESSED
    other = phys_to_pfn_t(FLASH + PAGE_SIZE, PFN_DEV)
    assert memory.insert_pfn(vma, vma.vm_start, other, 0, mkwrite=True) == -errno.EBUSY


def test_no_devmap_ptes_on_an_arm_board():
    """pfn_t_devmap is constant false without __HAVE_ARCH_PTE_DEVMAP (pfn_t.h L111)."""
    for special, devmap in ((True, True), (False, False)):
        mm = MM(have_pte_special=special)
        vma = mixed_vma(mm)
        assert vm_insert_mixed(vma, vma.vm_start, phys_to_pfn_t(FLASH, PFN_DEV | PFN_MAP)) == 0
        assert bool(mm.pgd.walk(vma.vm_start).bits & _PAGE_DEVMAP) is devmap


def test_vm_insert_page_wants_the_mmap_lock_for_write():
    """Setting VM_MIXEDMAP needs mmap_sem held for write: BUG_ON(down_read_trylock) (L1772)."""
    mm = MM()
    f = model_file(b"p" * PAGE_SIZE)
    vma = find_vma(mm, mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, f))
    page = mm.physmem.alloc_page()
    with pytest.raises(KernelBug, match="down_read_trylock"):
        vm_insert_page(vma, vma.vm_start, page)
    mm.mmap_sem.up_read()  # the trylock that "succeeded" before the BUG
    mm.mmap_sem.down_write()
    assert vm_insert_page(vma, vma.vm_start, page) == 0 and vma.vm_flags & VM_MIXEDMAP
    mm.mmap_sem.up_write()


def test_zap_marks_a_young_page_accessed_then_active():
    """zap_pte_range calls mark_page_accessed: referenced first, active the second time."""
    mm = MM()
    f = model_file(b"z" * PAGE_SIZE)
    for expected in ("PG_referenced", "PG_active"):
        addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f)
        user_read(mm, addr, 1)
        mm.munmap(addr, PAGE_SIZE)
        assert expected in f.f_mapping.pages[0].flags
    assert "PG_referenced" not in f.f_mapping.pages[0].flags


# --- write notification: mm/mmap.c vma_wants_writenotify, vma_set_page_prot ----------------------
def test_shared_writable_file_pages_start_read_only_and_the_first_write_dirties():
    """generic_file_vm_ops has page_mkwrite, so the VMA wants write notification (L1570)."""
    mm = MM()
    f = model_file(b"w" * PAGE_SIZE, mode=FMODE_READ | FMODE_WRITE)
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_SHARED, f)
    assert not find_vma(mm, addr).vm_page_prot & pagetable._PAGE_RW
    assert user_read(mm, addr, 1) == b"w"
    assert not pte_write(mm.pgd.walk(addr))  # a read fault maps it read-only
    page = f.f_mapping.pages[0]
    assert "PG_dirty" not in page.flags
    res = fault.do_page_fault(mm, addr, write=True)
    assert res.ok and res.ret & constants.VM_FAULT_WRITE  # do_wp_page -> wp_page_shared
    assert pte_write(mm.pgd.walk(addr)) and "PG_dirty" in page.flags
    # mprotect away and back: the entry is dirty, so it is made writable at once
    # (change_pte_range's dirty_accountable), no write fault needed.
    mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    assert not pte_write(mm.pgd.walk(addr))
    mm.mprotect(addr, PAGE_SIZE, RW)
    assert pte_write(mm.pgd.walk(addr))
    assert memory.check_mm_invariants(mm) == []


def test_shared_anonymous_memory_needs_no_write_notification():
    """shmem has no page_mkwrite and accounts no dirty pages: a read fault maps it writable."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_SHARED | MAP_ANONYMOUS)
    assert find_vma(mm, addr).vm_page_prot & pagetable._PAGE_RW
    user_read(mm, addr, 1)
    assert pte_write(mm.pgd.walk(addr))


# --- mm/gup.c: populate -------------------------------------------------------------------------
def test_populate_counts_faults_and_skips_present_pages():
    """__get_user_pages: follow_page first, faultin_page counts maj/min_flt (gup.c L480)."""
    mm = MM()
    f = model_file(b"p" * 4 * PAGE_SIZE)
    addr = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f)
    assert len(list(mm.pgd.range(addr, addr + 4 * PAGE_SIZE))) == 4
    assert (mm.maj_flt, mm.min_flt, mm.system.vmstat["pgfault"]) == (4, 0, 4)  # no readahead
    again = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_POPULATE, f)
    assert len(list(mm.pgd.range(again, again + 4 * PAGE_SIZE))) == 4
    # one fault: fault-around mapped the three cached neighbours, which then needed none
    assert (mm.maj_flt, mm.min_flt, mm.system.vmstat["pgfault"]) == (4, 1, 5)
    anon = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON | MAP_POPULATE)
    assert all(pte_write(p) for _, p in mm.pgd.range(anon, anon + 2 * PAGE_SIZE))  # COW broken
    assert mm.min_flt == 3


def test_populate_skips_pfnmap_and_locked_special_vmas_lose_vm_locked():
    """__mm_populate skips VM_IO|VM_PFNMAP; mmap_region clears VM_LOCKED on VM_SPECIAL."""
    mm = MM()
    mm.physmem.load_flash(b"f" * PAGE_SIZE)
    f = model_file(b"f" * PAGE_SIZE)

    def mmap(file, vma):
        return remap_pfn_range(vma, vma.vm_start, PHYS_PFN(FLASH), PAGE_SIZE, vma.vm_page_prot)

    f.f_op = FileOperations(mmap=mmap)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED | MAP_LOCKED, f)
    vma = find_vma(mm, addr)
    assert vma.vm_flags & (VM_IO | VM_PFNMAP) and not vma.vm_flags & VM_LOCKED
    assert mm.min_flt == mm.maj_flt == 0


def test_mprotect_of_a_locked_private_vma_breaks_cow_up_front():
    """mprotect_fixup: a private VM_LOCKED VMA made writable is populated (mprotect.c L376)."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON | MAP_LOCKED)
    assert mm.physmem.is_zero_pfn(mm.pgd.walk(addr).pfn)  # populated by a read: the zero page
    mm.mprotect(addr, PAGE_SIZE, RW)
    pte = mm.pgd.walk(addr)
    assert pte_write(pte) and not mm.physmem.is_zero_pfn(pte.pfn)


# --- mm/memory.c: the write-protect fault handlers -------------------------------------------
def test_do_page_mkwrite_on_a_truncated_page_means_retry():
    """do_page_mkwrite returns 0 (retry) when the page lost its mapping (memory.c L2361)."""
    mm = MM()
    vma = find_vma(mm, mm.mmap(0, PAGE_SIZE, RW, ANON))
    page = mm.physmem.alloc_page()
    vma.vm_ops = VmOperations(page_mkwrite=lambda vmf: 0)
    vmf = VmFault(vma=vma, flags=FAULT_FLAG_WRITE, pgoff=0, address=vma.vm_start, page=page)
    assert memory_fault.do_page_mkwrite(vmf) == 0 and "PG_locked" not in page.flags


def test_wp_pfn_shared_stops_on_nopage():
    """wp_pfn_shared returns pfn_mkwrite's VM_FAULT_NOPAGE as it is (memory.c L2631)."""
    mm = MM()
    vma = mixed_vma(mm)
    vma.vm_ops = VmOperations(pfn_mkwrite=lambda vmf: VM_FAULT_NOPAGE, label="nopage")
    assert vm_insert_mixed(vma, vma.vm_start, phys_to_pfn_t(FLASH, PFN_DEV)) == 0
    before = mm.pgd.walk(vma.vm_start)
    res = fault.do_page_fault(mm, vma.vm_start, write=True)
    assert res.ret == VM_FAULT_NOPAGE and mm.pgd.walk(vma.vm_start) == before


def test_a_locked_exclusive_anonymous_page_is_still_reused():
    """do_wp_page waits for the page lock, re-checks the PTE, then reuses (memory.c L2716)."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, RW, ANON)
    user_write(mm, addr, b"a")
    mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    mm.mprotect(addr, PAGE_SIZE, RW)
    pfn = mm.pgd.walk(addr).pfn
    lock_page(mm.physmem.pfn_to_page(pfn))  # an imagined other task holds the page lock
    res = fault.do_page_fault(mm, addr, write=True)
    assert res.ok and mm.pgd.walk(addr).pfn == pfn  # reused, not copied
    assert memory.check_mm_invariants(mm) == []


# --- arch/x86/mm/fault.c -----------------------------------------------------------------------
def hwpoison_vma(mm: MM, code: int):
    vma = find_vma(mm, mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, model_file(b"x" * 4096)))
    vma.vm_ops = VmOperations(fault=lambda vmf: code)
    return vma


def test_hwpoison_is_sigbus_bus_mceerr_ar_and_the_index_helpers():
    """do_sigbus: BUS_MCEERR_AR for poisoned memory, BUS_ADRERR otherwise (fault.c L1017)."""
    assert not hasattr(constants, "VM_FAULT_HWPOISON_LARGE_MASK")
    assert constants.VM_FAULT_GET_HINDEX(constants.VM_FAULT_SET_HINDEX(9)) == 9
    mm = MM()
    for code, si_code in (
        (VM_FAULT_HWPOISON, "BUS_MCEERR_AR"),
        (VM_FAULT_HWPOISON_LARGE | constants.VM_FAULT_SET_HINDEX(3), "BUS_MCEERR_AR"),
        (VM_FAULT_SIGBUS, "BUS_ADRERR"),
    ):
        vma = hwpoison_vma(mm, code)
        res = fault.do_page_fault(mm, vma.vm_start)
        assert (res.signal, res.si_code) == ("SIGBUS", si_code)
        assert fault.do_page_fault(mm, vma.vm_start, user=False).kernel_fixup


def test_kernel_mode_error_with_a_fatal_signal_is_fixed_up():
    """mm_fault_error: a fatal signal pending and !USER -> no_context first (fault.c L1032)."""
    mm = MM()
    vma = hwpoison_vma(mm, VM_FAULT_SIGBUS)
    res = fault.do_page_fault(mm, vma.vm_start, user=False, fatal_signal_pending=True)
    assert res.kernel_fixup and res.signal is None


def test_a_user_access_to_a_kernel_address_reports_a_protection_fault():
    """__bad_area_nosemaphore sets X86_PF_PROT above TASK_SIZE_MAX (fault.c L910)."""
    res = fault.do_page_fault(MM(), constants.TASK_SIZE + PAGE_SIZE)
    assert res.signal == "SIGSEGV" and res.error_code & fault.X86_PF_PROT


# --- mm/mmap.c: __split_vma, unmap_region ------------------------------------------------------
def test_split_calls_open_before_the_new_vma_is_linked():
    """__split_vma runs new->vm_ops->open before vma_adjust links it (mmap.c L2591)."""
    mm = MM()
    addr = mm.mmap(0, 2 * PAGE_SIZE, RW, ANON)
    seen = []
    vma = find_vma(mm, addr)
    vma.vm_ops = VmOperations(open=lambda new: seen.append(len(mm.vmas)))
    mm.mprotect(addr, PAGE_SIZE, PROT_READ)
    assert seen == [1] and mm.map_count == 2


def test_munmap_keeps_a_page_table_a_neighbour_may_use():
    """unmap_region frees tables only between the neighbours (floor/ceiling, mmap.c L2511)."""
    mm = MM()
    base = 0x10000000
    mm.mmap(base, PAGE_SIZE, RW, ANON | MAP_FIXED)
    mm.mmap(base + 2 * PAGE_SIZE, PAGE_SIZE, RW, ANON | MAP_FIXED)
    user_write(mm, base, b"x")  # one PTE table covers both VMAs
    assert mm.pgd.nr_tables["pte"] == 1
    mm.munmap(base, PAGE_SIZE)
    assert mm.pgd.nr_tables["pte"] == 1  # the VMA above still lies in it
    mm.munmap(base + 2 * PAGE_SIZE, PAGE_SIZE)
    assert mm.pgd.nr_tables == {"pgd": 1, "pud": 0, "pmd": 0, "pte": 0}


# --- fs/proc/task_mmu.c --------------------------------------------------------------------------
def test_maps_escapes_newlines_in_paths_only():
    """show_map_vma: seq_file_path escapes "\\n" in a path; a vm_ops name goes out as it is."""
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, model_file(b"n" * 4096, "/a\nb"))
    assert procfs.format_vma(find_vma(mm, addr)).endswith(" /a\\012b")
    named = find_vma(mm, mm.mmap(0, PAGE_SIZE, PROT_READ, ANON))
    named.vm_ops = VmOperations(name=lambda v: "[x\ny]")
    assert procfs.format_vma(named).endswith(" [x\ny]")


def test_stack_and_heap_tests_have_no_zero_guard():
    """is_stack and the [heap] test compare addresses even when they are 0 (task_mmu.c L342)."""
    mm = MM(cap_sys_rawio=True)
    vma = find_vma(mm, mm.mmap(0, PAGE_SIZE, PROT_READ, ANON | MAP_FIXED))
    assert procfs.vma_name(vma) == "[heap]"  # start_brk == brk == 0 lies in [0, 4096)


# --- the later change the version switch records -------------------------------------------------
def test_mprotect_unaccount_release_is_v6_7():
    """Commit 9b9143298585 was first released in v6.7."""
    assert version.MPROTECT_UNACCOUNTS_UNFAULTED == (6, 7)
    assert "9b9143298585" in open(version.__file__).read()


def test_filemap_fault_beyond_eof_is_sigbus_for_pgoff_from_vm_pgoff():
    """filemap_fault trusts vmf->pgoff = linear_page_index(vm_pgoff): L2495 and pagemap.h L453."""
    mm = MM()
    f = model_file(b"e" * PAGE_SIZE)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f)
    find_vma(mm, addr).vm_pgoff = PHYS_PFN(FLASH)  # what remap_pfn_range leaves behind
    res = fault.do_page_fault(mm, addr)
    assert res.signal == "SIGBUS" and res.si_code == "BUS_ADRERR"
    assert not f.f_mapping.pages  # nothing was read: the page index was past the end


def test_map_32bit_is_placed_bottom_up_in_the_second_gigabyte():
    """find_start_end: MAP_32BIT searches [1 GiB, 2 GiB) bottom-up (sys_x86_64.c L104)."""
    mm = MM()
    a = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON | MAP_32BIT)
    b = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, ANON | MAP_32BIT)
    assert (a, b) == (0x40000000, 0x40001000)
    assert errno_of(lambda: mm.mmap(0, 1 << 31, PROT_READ, ANON | MAP_32BIT)) == errno.ENOMEM


def test_a_failed_top_down_search_falls_back_to_bottom_up():
    """arch_get_unmapped_area_topdown ends in arch_get_unmapped_area (sys_x86_64.c L236)."""
    mm = MM(mmap_base=0x10000)
    mm.mmap(PAGE_SIZE, 0x10000 - PAGE_SIZE, PROT_READ, ANON | MAP_FIXED)  # no room below the base
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON)
    assert addr == mm.mmap_legacy_base == 0x2AAAAAAAB000  # PAGE_ALIGN(TASK_SIZE / 3)


def test_fault_around_bytes_is_set_as_the_debugfs_knob_sets_it():
    """fault_around_bytes_set: > one PTE table -EINVAL, else rounded down to a power of two."""
    s = System()
    s.fault_around_bytes = 3 * PAGE_SIZE + 5
    assert s.fault_around_bytes == 2 * PAGE_SIZE
    s.fault_around_bytes = 0
    assert s.fault_around_bytes == PAGE_SIZE  # fault-around off
    for bad in (513 * PAGE_SIZE, -1):
        with pytest.raises(ValueError):
            s.fault_around_bytes = bad
