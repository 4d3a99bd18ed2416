"""remap_pfn_range, vm_insert_mixed, vm_normal_page and zap_page_range (mm/memory.c @ v4.15)."""

from __future__ import annotations

import errno
from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab import fault, fs, memory, procfs
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    TASK_SIZE,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_IO,
    VM_MIXEDMAP,
    VM_PFNMAP,
)
from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.memory import (
    phys_to_pfn_t,
    remap_pfn_range,
    vm_insert_mixed,
    vm_insert_pfn,
    vm_normal_page,
)
from mmlab.mm import MM, find_vma, is_cow_mapping
from mmlab.pagetable import pte_special, pte_write
from mmlab.physmem import PFN_PHYS, PHYS_PFN, page_count, page_mapcount
from mmlab.uaccess import user_read, user_write
from tests.helpers import model_file, xip_files

FLASH = 0x08000000
FLASH_PFN = PHYS_PFN(FLASH)
REMAP_FLAGS = VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP


def mapped_vma(mm: MM, npages: int, flags: int = MAP_PRIVATE, prot: int = PROT_READ,
               file: fs.File | None = None):
    file = file or model_file(b"f" * (npages * PAGE_SIZE))
    addr = mm.mmap(0, npages * PAGE_SIZE, prot, flags, file, 0)
    return find_vma(mm, addr)


def snapshot(vma):
    return (replace(vma), list(vma.vm_mm.pgd.range(0, 1 << 47)))


def with_write_lock(mm: MM, fn, *args):
    mm.mmap_sem.down_write()
    try:
        return fn(*args)
    finally:
        mm.mmap_sem.up_write()


# --- remap_pfn_range ------------------------------------------------------------------------
def test_remap_partial_private_mapping_is_einval_and_changes_nothing():
    mm = MM()
    vma = mapped_vma(mm, 4)
    before_flags, before_pgoff = vma.vm_flags, vma.vm_pgoff
    before_ptes = list(mm.pgd.range(0, 1 << 47))
    ret = with_write_lock(
        mm, remap_pfn_range, vma, vma.vm_start, FLASH_PFN, 2 * PAGE_SIZE, vma.vm_page_prot
    )
    assert ret == -errno.EINVAL
    assert (vma.vm_flags, vma.vm_pgoff) == (before_flags, before_pgoff)
    assert list(mm.pgd.range(0, 1 << 47)) == before_ptes == []
    # Starting anywhere but vm_start is just as partial.
    ret = remap_pfn_range(vma, vma.vm_start + PAGE_SIZE, FLASH_PFN, 3 * PAGE_SIZE, 0)
    assert ret == -errno.EINVAL and vma.vm_pgoff == before_pgoff


def test_remap_whole_private_mapping_repurposes_vm_pgoff():
    mm = MM()
    vma = mapped_vma(mm, 4, prot=PROT_READ | PROT_EXEC)
    assert vma.vm_pgoff == 0
    ret = with_write_lock(
        mm, remap_pfn_range, vma, vma.vm_start, FLASH_PFN + 3, 4 * PAGE_SIZE, vma.vm_page_prot
    )
    assert ret == 0
    assert vma.vm_pgoff == FLASH_PFN + 3
    assert vma.vm_flags & REMAP_FLAGS == REMAP_FLAGS
    ptes = list(mm.pgd.range(vma.vm_start, vma.vm_end))
    assert [a for a, _ in ptes] == [vma.vm_start + i * PAGE_SIZE for i in range(4)]
    assert [p.pfn for _, p in ptes] == [FLASH_PFN + 3 + i for i in range(4)]
    assert all(pte_special(p) and not pte_write(p) for _, p in ptes)
    # /proc/PID/maps now shows the physical address as the "offset".
    line = procfs.format_vma(vma)
    assert f" {PFN_PHYS(FLASH_PFN + 3):08x} " in line
    assert line.split()[2] == "08003000"
    # Size is rounded up to whole pages: 4 pages minus one byte is the whole VMA too.
    mm2 = MM()
    v2 = mapped_vma(mm2, 4)
    assert remap_pfn_range(v2, v2.vm_start, FLASH_PFN, 4 * PAGE_SIZE - 1, v2.vm_page_prot) == 0


def test_remap_shared_mapping_may_be_partial_and_keeps_pgoff():
    mm = MM()
    f = model_file(b"s" * (8 * PAGE_SIZE))
    addr = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_SHARED, f, 4 * PAGE_SIZE)
    vma = find_vma(mm, addr)
    assert vma.vm_pgoff == 4
    ret = remap_pfn_range(vma, addr + PAGE_SIZE, FLASH_PFN, 2 * PAGE_SIZE, vma.vm_page_prot)
    assert ret == 0
    assert vma.vm_pgoff == 4  # not a COW mapping: no linear rule needed
    assert vma.vm_flags & REMAP_FLAGS == REMAP_FLAGS
    assert [a - addr for a, _ in mm.pgd.range(0, 1 << 47)] == [PAGE_SIZE, 2 * PAGE_SIZE]
    assert procfs.format_vma(vma).split()[2] == "00004000"


def test_remap_over_a_populated_pte_is_a_kernel_bug():
    mm = MM()
    vma = mapped_vma(mm, 2)
    res = fault.do_page_fault(mm, vma.vm_start + PAGE_SIZE)
    assert res.ok
    with pytest.raises(KernelBug, match="pte_none"):
        remap_pfn_range(vma, vma.vm_start, FLASH_PFN, 2 * PAGE_SIZE, vma.vm_page_prot)


def test_remap_page_table_allocation_failure_is_enomem():
    mm = MM()
    vma = mapped_vma(mm, 2)
    mm.pgd.fail_next_alloc = 1
    assert remap_pfn_range(vma, vma.vm_start, FLASH_PFN, 2 * PAGE_SIZE, 0) == -errno.ENOMEM


def test_direct_map_reads_flash_and_munmap_leaves_the_frames_alone():
    mm = MM()
    data = bytes(range(256)) * 32  # 8 KiB
    f, phys = xip_files(mm.system, bin=data)["bin"]
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, f, 0)
    assert mm.pgd.walk(addr).pfn == PHYS_PFN(phys)  # cramfs mapped the flash block
    assert user_read(mm, addr + 4090, 10) == data[4090:4100]
    assert mm.maj_flt == mm.min_flt == 0  # no fault at all: the PTEs were there
    free = mm.physmem.nr_free
    mm.munmap(addr, 2 * PAGE_SIZE)
    assert mm.physmem.nr_free == free
    assert mm.physmem.read_phys(phys, 4) == data[:4]
    assert memory.check_mm_invariants(mm) == []


def test_write_fault_on_remapped_private_vma_copies_the_flash_page():
    mm = MM()
    data = b"A" * PAGE_SIZE + b"B" * PAGE_SIZE
    f, phys = xip_files(mm.system, bin=data)["bin"]
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    mm.mprotect(addr, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE)  # allowed: VM_MAYWRITE is set
    user_write(mm, addr + PAGE_SIZE, b"xy")
    vma = find_vma(mm, addr)
    pte = mm.pgd.walk(addr + PAGE_SIZE)
    assert mm.physmem.pfn_valid(pte.pfn) and pte_write(pte) and not pte_special(pte)
    assert user_read(mm, addr + PAGE_SIZE, 4) == b"xyBB"
    assert mm.physmem.read_phys(phys + PAGE_SIZE, 2) == b"BB"  # flash untouched
    assert vm_normal_page(vma, addr + PAGE_SIZE, pte) is not None
    assert vm_normal_page(vma, addr, mm.pgd.walk(addr)) is None
    assert memory.check_mm_invariants(mm) == []
    mm.munmap(addr, 2 * PAGE_SIZE)
    assert memory.check_mm_invariants(mm) == []


# --- vm_normal_page: both policies ---------------------------------------------------------
@pytest.mark.parametrize("special", [True, False])
def test_vm_normal_page_linear_rule_and_cow(special):
    mm = MM(have_pte_special=special)
    data = b"L" * (3 * PAGE_SIZE)
    f, phys = xip_files(mm.system, bin=data)["bin"]
    # cramfs maps only a read-only VMA in place; mprotect may then make it writable
    addr = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    mm.mprotect(addr, 3 * PAGE_SIZE, PROT_READ | PROT_WRITE)
    vma = find_vma(mm, addr)
    assert vma.vm_pgoff == PHYS_PFN(phys)
    raw = mm.pgd.walk(addr + PAGE_SIZE)
    assert pte_special(raw) is special  # classic ARM has no special bit
    assert vm_normal_page(vma, addr + PAGE_SIZE, raw) is None
    # COW one page: the anonymous copy breaks the linear rule and is "normal".
    user_write(mm, addr + PAGE_SIZE, b"w")
    cow = mm.pgd.walk(addr + PAGE_SIZE)
    assert cow.pfn != PHYS_PFN(phys) + 1
    page = vm_normal_page(vma, addr + PAGE_SIZE, cow)
    assert page is not None and page.pfn == cow.pfn and page_mapcount(page) == 1
    assert vm_normal_page(vma, addr + 2 * PAGE_SIZE, mm.pgd.walk(addr + 2 * PAGE_SIZE)) is None
    assert memory.check_mm_invariants(mm) == []
    mm.munmap(addr, 3 * PAGE_SIZE)
    assert page_count(page) == 0  # the copy was freed, the flash frames were not touched
    assert memory.check_mm_invariants(mm) == []


def test_linear_rule_without_special_bit_misclassifies_a_ram_pfn_that_fits():
    """Without pte_special, a PFNMAP PTE whose pfn happens to be vm_pgoff + n is "special"."""
    mm = MM(have_pte_special=False)
    vma = mapped_vma(mm, 2)
    page = mm.physmem.alloc_page()
    assert remap_pfn_range(vma, vma.vm_start, page.pfn, 2 * PAGE_SIZE, vma.vm_page_prot) == 0
    assert vm_normal_page(vma, vma.vm_start, mm.pgd.walk(vma.vm_start)) is None
    # The same RAM frame in a VM_MIXEDMAP VMA is normal (pfn_valid rule).
    vma.vm_flags = (vma.vm_flags & ~VM_PFNMAP) | VM_MIXEDMAP
    assert vm_normal_page(vma, vma.vm_start, mm.pgd.walk(vma.vm_start)) is page
    vma.vm_flags = (vma.vm_flags & ~VM_MIXEDMAP) | VM_PFNMAP
    mm.munmap(vma.vm_start, 2 * PAGE_SIZE)
    mm.physmem.put_page(page)


def test_zero_page_is_never_normal_and_bad_ptes_are_reported():
    for special in (True, False):
        mm = MM(have_pte_special=special)
        addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
        assert fault.do_page_fault(mm, addr).ok
        pte = mm.pgd.walk(addr)
        assert mm.physmem.is_zero_pfn(pte.pfn)
        assert vm_normal_page(find_vma(mm, addr), addr, pte) is None
    # x86: a non-special PTE to a frame without struct page is a bad PTE.
    mm = MM()
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    from mmlab.pagetable import pfn_pte

    assert vm_normal_page(find_vma(mm, addr), addr, pfn_pte(FLASH_PFN, 0x25)) is None
    assert mm.system.dmesg and "Bad page map" in mm.system.dmesg[0]


# --- vm_insert_mixed / vm_insert_pfn -----------------------------------------------------------
def mixed_vma(mm: MM, npages: int = 4):
    vma = mapped_vma(mm, npages)
    vma.vm_flags |= VM_MIXEDMAP
    return vma


def test_vm_insert_mixed_errors():
    mm = MM()
    vma = mapped_vma(mm, 2)
    with pytest.raises(KernelBug, match="VM_MIXEDMAP"):
        vm_insert_mixed(vma, vma.vm_start, FLASH_PFN)
    vma.vm_flags |= VM_MIXEDMAP
    assert vm_insert_mixed(vma, vma.vm_end, FLASH_PFN) == -errno.EFAULT
    assert vm_insert_mixed(vma, vma.vm_start - PAGE_SIZE, FLASH_PFN) == -errno.EFAULT
    pfn_t = phys_to_pfn_t(FLASH, memory.PFN_DEV)
    assert vm_insert_mixed(vma, vma.vm_start, pfn_t) == 0
    assert vm_insert_mixed(vma, vma.vm_start, pfn_t) == -errno.EBUSY
    pte = mm.pgd.walk(vma.vm_start)
    assert pte.pfn == FLASH_PFN and pte_special(pte)
    assert vma.vm_pgoff == 0  # no pgoff games, no COW restriction
    mm.pgd.fail_next_alloc = 3
    far = mm.mmap(1 << 40, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, model_file(b"x"), 0)
    far_vma = find_vma(mm, far)
    far_vma.vm_flags |= VM_MIXEDMAP
    mm.pgd.fail_next_alloc = 1
    assert vm_insert_mixed(far_vma, far, FLASH_PFN) == -errno.ENOMEM


@pytest.mark.parametrize("special", [True, False])
def test_vm_insert_mixed_ram_pfn_depends_on_pte_special(special):
    mm = MM(have_pte_special=special)
    vma = mixed_vma(mm)
    page = mm.physmem.alloc_page()
    assert vm_insert_mixed(vma, vma.vm_start, page.pfn) == 0
    pte = mm.pgd.walk(vma.vm_start)
    if special:  # x86: always insert_pfn, a special PTE, no refcount
        assert pte_special(pte) and page_count(page) == 1 and page_mapcount(page) == 0
        assert vm_normal_page(vma, vma.vm_start, pte) is None
    else:  # ARM without the bit: insert_page, refcounted like any normal page
        assert not pte_special(pte) and page_count(page) == 2 and page_mapcount(page) == 1
        assert vm_normal_page(vma, vma.vm_start, pte) is page
    # A flash frame (no struct page) is special either way.
    assert vm_insert_mixed(vma, vma.vm_start + PAGE_SIZE, FLASH_PFN) == 0
    second = vma.vm_start + PAGE_SIZE
    assert vm_normal_page(vma, second, mm.pgd.walk(second)) is None
    assert memory.check_mm_invariants(mm, extra_refs={page.pfn: 1}) == []
    mm.munmap(vma.vm_start, vma.vm_end - vma.vm_start)
    assert page_count(page) == 1 and page_mapcount(page) == 0
    mm.physmem.put_page(page)


def test_partial_mixed_map_rest_faults_through_filemap():
    """Merged cramfs: part of a MAP_PRIVATE VMA direct, the rest from the page cache."""
    mm = MM()
    data = b"D" * PAGE_SIZE + b"P" * PAGE_SIZE
    mm.physmem.load_flash(data)
    f = model_file(data)
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    vma = find_vma(mm, addr)
    vma.vm_flags |= VM_MIXEDMAP
    assert vm_insert_mixed(vma, addr, phys_to_pfn_t(FLASH, memory.PFN_DEV)) == 0
    assert user_read(mm, addr + PAGE_SIZE, 2) == b"PP"
    assert mm.maj_flt == 1
    assert procfs.format_vma(vma).split()[2] == "00000000"  # no sign of XIP in maps
    assert memory.check_mm_invariants(mm) == []


def test_vm_insert_pfn_bugs():
    mm = MM()
    vma = mapped_vma(mm, 2)
    with pytest.raises(KernelBug):
        vm_insert_pfn(vma, vma.vm_start, FLASH_PFN)  # neither PFNMAP nor MIXEDMAP
    vma.vm_flags |= VM_PFNMAP
    with pytest.raises(KernelBug, match="COW"):
        vm_insert_pfn(vma, vma.vm_start, FLASH_PFN)  # private = COW mapping
    shared = mapped_vma(mm, 2, flags=MAP_SHARED)
    shared.vm_flags |= VM_PFNMAP
    assert vm_insert_pfn(shared, shared.vm_start, FLASH_PFN) == 0
    assert vm_insert_pfn(shared, shared.vm_end, FLASH_PFN) == -errno.EFAULT


# --- zap_page_range ------------------------------------------------------------------------
def test_munmap_zaps_normal_pages_and_drops_their_counts():
    mm = MM()
    f = model_file(b"z" * (3 * PAGE_SIZE))
    a = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    b = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_SHARED, f, 0)
    for base in (a, b):
        user_read(mm, base, 3 * PAGE_SIZE)
    page = f.f_mapping.pages[1]
    assert page_mapcount(page) == 2 and page_count(page) == 3  # cache + 2 PTEs
    assert memory.check_mm_invariants(mm) == []
    mm.munmap(a + PAGE_SIZE, PAGE_SIZE)
    assert page_mapcount(page) == 1 and page_count(page) == 2
    assert mm.pgd.walk(a + PAGE_SIZE) is None and mm.pgd.walk(a) is not None
    mm.munmap(0, TASK_SIZE)
    assert page_mapcount(page) == 0 and page_count(page) == 1  # still cached
    assert len(mm.pgd) == 0 and mm.pgd.nr_tables["pte"] == 0
    assert memory.check_mm_invariants(mm) == []


# --- invariants under random operation sequences -------------------------------------------

ops = st.lists(
    st.tuples(
        st.sampled_from(
            ["anon", "file_priv", "file_shared", "xip", "mixed", "unmap", "prot"]
            + ["read"] * 4
            + ["write"] * 2
        ),
        st.integers(0, 7),
        st.integers(1, 4),
        st.booleans(),
        st.booleans(),
    ),
    max_size=25,
)


@pytest.mark.profile
@given(ops, st.booleans())
def test_refcounts_and_mapcounts_stay_consistent(seq, special):
    mm = MM(have_pte_special=special)
    base = 0x10000000
    data = bytes(range(256)) * 80
    f = model_file(data, mode=fs.FMODE_READ | fs.FMODE_WRITE)
    # cramfs files: "xip" is XIP throughout; "mixed" only in its text page, so a mapping of
    # more than that page is part flash (vm_insert_mixed), part page cache
    lib = make_elf([(PF_R | PF_X, 0, PAGE_SIZE), (PF_R | PF_W, PAGE_SIZE, 4 * PAGE_SIZE)],
                   len(data))
    files = xip_files(mm.system, xip=data[:-100], mixed=lib)
    (xip, xip_phys), (mixed, mixed_phys) = files["xip"], files["mixed"]
    contents = {id(xip): (data[:-100], xip_phys), id(mixed): (lib, mixed_phys)}
    for op, page, npages, flag, touch in seq:
        addr = base + page * PAGE_SIZE
        length = npages * PAGE_SIZE
        if op == "anon":
            prot = PROT_READ | (PROT_WRITE if flag else 0)
            mm.mmap(addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        elif op in ("file_priv", "file_shared"):
            kind = MAP_PRIVATE if op == "file_priv" else MAP_SHARED
            prot = PROT_READ | (PROT_WRITE if flag else 0)
            mm.mmap(addr, length, prot, kind | MAP_FIXED, f, (page % 4) * PAGE_SIZE)
        elif op in ("xip", "mixed"):
            drv = xip if op == "xip" else mixed
            prot = PROT_READ | (PROT_EXEC if flag else 0)
            mm.mmap(addr, length, prot, MAP_PRIVATE | MAP_FIXED, drv, (page % 4) * PAGE_SIZE)
        if op == "read" or (touch and op in ("anon", "file_priv", "file_shared", "xip", "mixed")):
            try:
                got = user_read(mm, addr, length)
            except SignalDelivered:
                got = None
            vma = find_vma(mm, addr)
            if got is not None and vma.vm_file in (xip, mixed) and vma.anon_vma is None:
                content, phys = contents[id(vma.vm_file)]
                pgoff = vma.vm_pgoff
                if vma.vm_flags & VM_PFNMAP and is_cow_mapping(vma.vm_flags):
                    pgoff -= PHYS_PFN(phys)  # remap_pfn_range stored the pfn there
                off = (pgoff << PAGE_SHIFT) + addr - vma.vm_start
                if vma.vm_end >= addr + length and off + length <= len(content):
                    assert got == content[off : off + length]
        elif op == "write":
            try:
                user_write(mm, addr, b"w" * length)
            except SignalDelivered:
                pass
        elif op == "unmap":
            mm.munmap(addr, length)
        elif op == "prot":
            try:
                mm.mprotect(addr, length, PROT_READ | (PROT_WRITE if flag else 0))
            except OSError as e:
                assert e.errno == errno.ENOMEM  # a hole in the range
        assert memory.check_mm_invariants(mm) == []
    mm.munmap(0, TASK_SIZE)
    assert memory.check_mm_invariants(mm) == []
    assert len(mm.pgd) == 0
