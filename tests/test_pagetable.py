"""x86-64 page tables: PTE bits and helpers, the 4-level radix tree, its counters and limits."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab import pagetable as pt
from mmlab.constants import PAGE_SIZE
from mmlab.pagetable import (
    PAGE_COPY,
    PAGE_COPY_EXEC,
    PAGE_NONE,
    PAGE_READONLY,
    PAGE_SHARED,
    PAGE_SHARED_EXEC,
    KernelBug,
    PageTable,
    Pte,
    mmu_permits,
    pfn_pte,
    pte_mkdirty,
    pte_mkspecial,
    pte_mkwrite,
    pte_modify,
    pte_none,
    pte_present,
    pte_special,
    pte_write,
    pte_wrprotect,
)


def test_bit_positions_are_x86():
    assert pt._PAGE_PRESENT == 1 << 0
    assert pt._PAGE_RW == 1 << 1
    assert pt._PAGE_USER == 1 << 2
    assert pt._PAGE_ACCESSED == 1 << 5
    assert pt._PAGE_DIRTY == 1 << 6
    assert pt._PAGE_SPECIAL == 1 << 9
    assert pt._PAGE_NX == 1 << 63
    assert pt._PAGE_PROTNONE == pt._PAGE_GLOBAL == 1 << 8


def test_index_helpers_split_a_48_bit_address():
    addr = (3 << 39) | (5 << 30) | (7 << 21) | (9 << 12) | 0x123
    assert (pt.pgd_index(addr), pt.pud_index(addr), pt.pmd_index(addr), pt.pte_index(addr)) == (
        3,
        5,
        7,
        9,
    )
    assert pt.p4d_index(addr) == 0  # folded at v4.15 with 4-level paging
    assert pt.pmd_addr_end(0x200000 - 0x1000, 1 << 40) == 0x200000
    assert pt.pmd_addr_end(0x1000, 0x3000) == 0x3000


def test_pte_value_and_helpers():
    pte = pfn_pte(0x1234, PAGE_COPY)
    assert pte.pfn == 0x1234 and pte.val == (0x1234 << 12) | PAGE_COPY
    assert pt.__pte(pte.val) == pte
    assert not pte_write(pte) and pte_write(pte_mkwrite(pte))
    assert pte_wrprotect(pte_mkwrite(pte)) == pte
    sp = pte_mkspecial(pte)
    assert pte_special(sp) and sp.bits & (1 << 9) and not pte_special(pte)
    assert pte_none(None) and pte_none(Pte(0, 0)) and not pte_none(pte)
    with pytest.raises(AttributeError):
        pte.pfn = 1  # immutable, like a pte_t value


def test_pte_modify_keeps_frame_and_status_bits():
    old = pte_mkdirty(pte_mkspecial(pfn_pte(0x42, PAGE_SHARED)))
    new = pte_modify(old, PAGE_READONLY)
    assert new.pfn == 0x42
    assert pte_special(new) and new.bits & pt._PAGE_DIRTY and new.bits & pt._PAGE_ACCESSED
    assert not pte_write(new) and new.bits & pt._PAGE_NX
    exe = pte_modify(old, PAGE_COPY_EXEC)
    assert not exe.bits & pt._PAGE_NX


def test_protnone_is_present_for_the_kernel_but_not_the_mmu():
    pte = pfn_pte(0x42, PAGE_NONE)
    assert pte_present(pte)
    assert pt.pte_protnone(pte)
    assert not mmu_permits(pte, write=False)


def test_protection_map_private_writable_is_cow():
    # index = VM_READ(1) | VM_WRITE(2) | VM_EXEC(4) | VM_SHARED(8)
    assert not pt.protection_map[0b0011] & pt._PAGE_RW  # private rw: read-only PTEs
    assert pt.protection_map[0b1011] & pt._PAGE_RW  # shared rw
    assert pt.protection_map[0b0001] & pt._PAGE_NX
    assert not pt.protection_map[0b0101] & pt._PAGE_NX
    assert pt.protection_map[0b1110] == PAGE_SHARED_EXEC


def test_access_permitted_checks_rw_user_nx():
    ro = pfn_pte(1, PAGE_READONLY)
    assert mmu_permits(ro, write=False)
    assert not mmu_permits(ro, write=True)
    assert not mmu_permits(ro, write=False, exec_=True)
    assert mmu_permits(pfn_pte(1, PAGE_SHARED_EXEC), write=True, exec_=True)
    kernel_only = Pte(1, pt._PAGE_PRESENT)
    assert not mmu_permits(kernel_only, write=False, user=True)
    assert mmu_permits(kernel_only, write=False, user=False)


def test_set_walk_clear_and_table_counters():
    t = PageTable()
    assert t.nr_tables == {"pgd": 1, "pud": 0, "pmd": 0, "pte": 0}
    assert t.walk(0x400000) is None
    pte = pfn_pte(7, PAGE_COPY)
    assert t.set_pte_at(0x400000, pte) == 0
    assert t.walk(0x400000) == pte and t.walk(0x401000) is None
    assert t.nr_tables == {"pgd": 1, "pud": 1, "pmd": 1, "pte": 1}
    # Another PTE table in the same pmd, then another pud subtree.
    t.set_pte_at(0x400000 + (1 << 21), pte)
    t.set_pte_at(1 << 39, pte)
    assert t.nr_tables == {"pgd": 1, "pud": 2, "pmd": 2, "pte": 3}
    assert len(t) == 3
    assert t.pte_clear(0x400000) == pte
    assert t.pte_clear(0x400000) is None
    assert len(t) == 2
    assert t.nr_tables["pte"] == 3  # tables stay until free_pgtables
    assert t.free_pgtables(0, 1 << 47) == 1
    assert t.nr_tables == {"pgd": 1, "pud": 2, "pmd": 2, "pte": 2}
    for addr, _ in list(t.range(0, 1 << 48)):
        t.pte_clear(addr)
    assert t.free_pgtables(0, 1 << 48) == 6
    assert t.nr_tables == {"pgd": 1, "pud": 0, "pmd": 0, "pte": 0}


def test_free_pgtables_keeps_tables_outside_the_range_and_non_empty_ones():
    t = PageTable()
    t.set_pte_at(0x400000, pfn_pte(1, PAGE_COPY))
    t.pte_clear(0x400000)
    t.set_pte_at(0x600000, pfn_pte(2, PAGE_COPY))
    assert t.free_pgtables(0x800000, 0x900000) == 0
    assert t.free_pgtables(0x400000, 0x401000) == 1  # only the empty PTE table
    assert t.walk(0x600000) is not None


def test_table_limit_gives_enomem_and_writes_nothing():
    t = PageTable(table_limit=3)
    assert t.set_pte_at(0x1000, pfn_pte(1, PAGE_COPY)) == 0  # uses pud, pmd, pte tables
    assert t.set_pte_at(0x2000, pfn_pte(2, PAGE_COPY)) == 0  # same PTE table: no new table
    assert t.set_pte_at(1 << 21, pfn_pte(3, PAGE_COPY)) == -errno.ENOMEM
    assert t.walk(1 << 21) is None
    assert t.pte_alloc(1 << 21) == -errno.ENOMEM
    t.table_limit = None
    t.fail_next_alloc = 1
    assert t.pmd_alloc(1 << 30) == -errno.ENOMEM
    assert t.pmd_alloc(1 << 30) == 0


def test_addresses_beyond_48_bits_are_a_bug():
    with pytest.raises(KernelBug):
        PageTable().set_pte_at(1 << 48, pfn_pte(1, PAGE_COPY))


def test_change_protection_rewrites_present_ptes_only_in_range():
    t = PageTable()
    for i in range(4):
        t.set_pte_at(0x10000 + i * PAGE_SIZE, pte_mkwrite(pfn_pte(10 + i, PAGE_SHARED)))
    assert t.change_protection(0x11000, 0x13000, PAGE_READONLY) == 2
    assert [pte_write(p) for _, p in t.range(0, 1 << 47)] == [True, False, False, True]
    assert [p.pfn for _, p in t.range(0, 1 << 47)] == [10, 11, 12, 13]


pages = st.integers(min_value=0, max_value=(1 << 36) - 1)


@given(st.lists(pages, min_size=0, max_size=60), pages, pages)
def test_range_matches_a_dict_model(vpns, a, b):
    start, end = sorted((a << 12, b << 12))
    t = PageTable()
    model = {}
    for i, vpn in enumerate(vpns):
        pte = pfn_pte(i + 1, PAGE_COPY)
        t.set_pte_at(vpn << 12, pte)
        model[vpn << 12] = pte
    got = list(t.range(start, end))
    assert got == sorted((k, v) for k, v in model.items() if start <= k < end)
    assert len(t) == len(model)
    # Clearing everything and freeing leaves only the pgd.
    for k in model:
        t.pte_clear(k)
    t.free_pgtables(0, 1 << 48)
    assert t.nr_tables == {"pgd": 1, "pud": 0, "pmd": 0, "pte": 0}


def test_range_over_many_entries_is_fast():
    import time

    t = PageTable()
    for i in range(65_530):
        t.set_pte_at(0x10000000 + 2 * i * PAGE_SIZE, pfn_pte(i + 1, PAGE_COPY))
    t0 = time.perf_counter()
    n = 0
    for i in range(0, 65_530, 7):
        a = 0x10000000 + 2 * i * PAGE_SIZE
        n += sum(1 for _ in t.range(a, a + 2 * PAGE_SIZE))
    assert n == len(range(0, 65_530, 7))
    assert time.perf_counter() - t0 < 2.0
    assert [s for s in t.tables()][0] == ("pgd", 0, 1)
