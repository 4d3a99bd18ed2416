"""Lab 01's driver that clears VM_MAYWRITE: the partial remap it gets, and what mprotect says."""

from __future__ import annotations

import errno

import pytest

from mmlab.constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MAYWRITE,
    VM_PFNMAP,
    is_cow_mapping,
)
from mmlab.labs import remap_cow_rule as lab


def test_a_driver_that_clears_maywrite_gets_three_of_four_pages_from_flash():
    mm, addr = lab.driver_mapping()
    vma = mm.find_vma(addr)
    assert (vma.vm_start, vma.vm_end) == (addr, addr + 4 * PAGE_SIZE)
    assert not vma.vm_flags & VM_MAYWRITE and not is_cow_mapping(vma.vm_flags)
    assert vma.vm_flags & VM_PFNMAP and vma.vm_pgoff == 0  # not a COW mapping: pgoff kept
    flash = mm.physmem.flash_phys >> PAGE_SHIFT
    ptes = [mm.pgd.walk(addr + i * PAGE_SIZE) for i in range(4)]
    assert [p.pfn for p in ptes[:3] if p is not None] == [flash, flash + 1, flash + 2]
    assert ptes[3] is None


def test_without_clearing_it_the_driver_maps_nothing_in_place():
    mm, addr = lab.driver_mapping(clear_maywrite=False)
    vma = mm.find_vma(addr)
    assert is_cow_mapping(vma.vm_flags) and not vma.vm_flags & VM_PFNMAP
    assert all(mm.pgd.walk(addr + i * PAGE_SIZE) is None for i in range(4))


@pytest.mark.parametrize(("prot", "cleared", "expected"), [
    (PROT_READ | PROT_WRITE | PROT_EXEC, True, -errno.EACCES),
    (PROT_READ | PROT_WRITE, True, -errno.EACCES),
    (PROT_READ, True, 0),
    (PROT_READ | PROT_WRITE | PROT_EXEC, False, 0),
])
def test_mprotect_refuses_write_once_maywrite_is_gone(prot, cleared, expected):
    assert lab.mprotect_after_driver_mmap(prot, clear_maywrite=cleared) == expected
