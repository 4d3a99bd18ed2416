"""Physical memory: struct pages for RAM, none for flash, refcounts, frame contents."""

from __future__ import annotations

import pytest

from mmlab.constants import PAGE_SIZE
from mmlab.errors import KernelBug
from mmlab.mm_types import AnonVma
from mmlab.physmem import (
    PHYS_PFN,
    PageAnon,
    PhysMem,
    page_count,
    page_mapcount,
    unlock_page,
)


def test_default_layout_ram_and_flash():
    mem = PhysMem()
    assert mem.pfn_valid(0x100) and mem.pfn_valid(0x100 + (64 << 20) // PAGE_SIZE - 1)
    assert not mem.pfn_valid(0xFF)
    flash_pfn = PHYS_PFN(0x08000000)
    assert mem.pfn_is_flash(flash_pfn) and not mem.pfn_valid(flash_pfn)
    assert mem.highest_memmap_pfn < flash_pfn
    with pytest.raises(KernelBug):
        mem.pfn_to_page(flash_pfn)  # no struct page there


def test_alloc_put_refcount_and_mapcount_start_like_the_kernel():
    mem = PhysMem(ram_pages=8)
    free = mem.nr_free
    page = mem.alloc_page()
    assert page is not None and page_count(page) == 1
    assert page._mapcount == -1 and page_mapcount(page) == 0
    mem.get_page(page)
    mem.put_page(page)
    assert mem.nr_free == free - 1
    mem.put_page(page)
    assert mem.nr_free == free and page_count(page) == 0
    with pytest.raises(KernelBug):
        mem.put_page(page)  # refcount underflow
    with pytest.raises(KernelBug):
        mem.get_page(page)  # reference on a free page


def test_out_of_memory_returns_none():
    mem = PhysMem(ram_pages=4)  # one frame is the zero page
    got = [mem.alloc_page() for _ in range(3)]
    assert all(p is not None for p in got)
    assert mem.alloc_page() is None
    mem.put_page(got[0])
    assert mem.alloc_page() is got[0]  # freed frame reused
    mem.fail_next_allocs = 1
    mem.put_page(got[1])
    assert mem.alloc_page() is None
    assert mem.alloc_page() is not None


def test_zero_page_is_reserved_and_never_freed():
    mem = PhysMem()
    zp = mem.pfn_to_page(mem.zero_pfn)
    assert mem.is_zero_pfn(zp.pfn) and "PG_reserved" in zp.flags
    assert mem.read_phys(zp.pfn * PAGE_SIZE, 16) == bytes(16)
    with pytest.raises(KernelBug):
        mem.put_page(zp)


def test_frame_contents_cross_frames_and_are_cleared_when_freed():
    mem = PhysMem()
    page = mem.alloc_page()
    other = mem.alloc_page()
    assert other.pfn == page.pfn + 1
    phys = page.pfn * PAGE_SIZE + PAGE_SIZE - 3
    mem.write_phys(phys, b"abcdef")
    assert mem.read_phys(phys, 6) == b"abcdef"
    assert other.read(0, 3) == b"def"
    page.write(0, b"xyz")
    assert bytes(page.kmap()[:3]) == b"xyz"
    mem.copy_frame(other.pfn, page.pfn)
    assert other.read(0, 3) == b"xyz"
    mem.put_page(page)
    again = mem.alloc_page()
    assert again is page and page.read(0, 3) == bytes(3)
    with pytest.raises(KernelBug):
        page.write(PAGE_SIZE - 1, b"ab")


def test_load_flash_puts_bytes_at_the_physical_address():
    mem = PhysMem()
    phys = mem.load_flash(b"\x45\x3d\xcd\x28" + b"x" * 5000, offset=PAGE_SIZE)
    assert phys == 0x08000000 + PAGE_SIZE
    assert mem.read_phys(phys, 4) == b"\x45\x3d\xcd\x28"
    assert mem.read_phys(phys + 5003, 2) == b"x\x00"
    with pytest.raises(ValueError):
        mem.load_flash(b"x", offset=mem.flash_size)
    with pytest.raises(KernelBug):
        mem.read_phys(0x40000000, 1)  # neither RAM nor flash


def test_page_lock_and_anon_flag():
    mem = PhysMem()
    page = mem.alloc_page()
    with pytest.raises(KernelBug):
        unlock_page(page)
    assert not PageAnon(page)
    page.mapping = AnonVma()
    assert PageAnon(page)


def test_check_refcounts_reports_mismatches():
    mem = PhysMem()
    page = mem.alloc_page()
    page._mapcount = 0  # one PTE maps it
    assert mem.check_refcounts({page.pfn: 1}) == []
    problems = mem.check_refcounts({page.pfn: 2})
    assert any("mapcount 1 but 2" in p for p in problems)
    mem.get_page(page)
    assert any("refcount 2, expected 1" in p for p in mem.check_refcounts({page.pfn: 1}))
    assert mem.check_refcounts({page.pfn: 1}, extra_refs={page.pfn: 1}) == []
    flash = PHYS_PFN(mem.flash_phys)
    assert mem.check_refcounts({page.pfn: 1, flash: 1}, extra_refs={page.pfn: 1})
