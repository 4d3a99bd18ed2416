"""mmlab.mremap: mremap(2) as mm/mremap.c @ v4.15 does it, path by path.

Each test names the path of SYSCALL_DEFINE5(mremap) it takes; tests/test_live_maps.py holds
the same calls against this machine's kernel.
"""

from __future__ import annotations

import errno

import pytest

from mmlab import procfs, trace, xip
from mmlab.fs import file_from_bytes
from mmlab.memory import check_mm_invariants
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_LOCKED,
    MAP_PRIVATE,
    MAP_SHARED,
    MM,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_PFNMAP,
    System,
)
from mmlab.mremap import move_page_tables, sys_mremap
from mmlab.pagetable import _PAGE_SOFT_DIRTY, pte_present
from mmlab.scenarios import scenario_image

RW = PROT_READ | PROT_WRITE
ANON = MAP_PRIVATE | MAP_ANONYMOUS
P = PAGE_SIZE


def fresh(pages=16):
    """An mm with ``pages`` of free space at ``base`` (a hole made by munmap)."""
    mm = MM(System())
    base = mm.mmap(0, pages * P, RW, ANON)
    mm.munmap(base, pages * P)
    return mm, base


def layout(mm, base):
    """The VMAs as (first page, end page) relative to ``base``."""
    return [((v.vm_start - base) // P, (v.vm_end - base) // P) for v in mm]


def errno_of(call):
    with pytest.raises(OSError) as info:
        call()
    return info.value.errno


# --- the checks before the lock (L536-L554) --------------------------------------------------
@pytest.mark.parametrize("flags, addr_off, old, new, err", [
    (4, 0, P, P, errno.EINVAL),                             # an unknown flag
    (MREMAP_FIXED, 0, P, P, errno.EINVAL),                  # FIXED without MAYMOVE
    (0, 1, P, 2 * P, errno.EINVAL),                         # unaligned old address
    (0, 0, P, 0, errno.EINVAL),                             # new length 0
    (0, 0, P, -1, errno.EINVAL),                            # PAGE_ALIGN(ULONG_MAX) wraps to 0
])
def test_argument_checks(flags, addr_off, old, new, err):
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    before = layout(mm, base)
    assert errno_of(lambda: mm.mremap(base + addr_off, old, new, flags, base + 8 * P)) == err
    assert layout(mm, base) == before  # refused before anything was done


def test_errors_are_oserror_naming_the_call():
    mm, base = fresh()
    with pytest.raises(OSError, match=r"mremap: .*\(EFAULT\)"):
        mm.mremap(base, P, 2 * P, 0)


# --- shrinking (L570-L575) --------------------------------------------------------------------
def test_shrink_unmaps_the_tail_and_returns_the_address():
    mm, base = fresh()
    mm.mmap(base, 8 * P, RW, ANON | MAP_FIXED)
    mm.write(base + 7 * P, b"x")
    assert mm.mremap(base, 8 * P, 3 * P, 0) == base
    assert layout(mm, base) == [(0, 3)]
    assert mm.pgd.walk(base + 7 * P) is None


def test_shrink_needs_no_mapping_at_all_in_v4_15():
    """v4.15 only unmaps the tail: a hole 'shrinks' fine (newer kernels look up the VMA
    first and return EFAULT; 6.18 does)."""
    mm, base = fresh()
    assert mm.mremap(base, 4 * P, 2 * P, 0) == base


def test_shrink_of_a_file_mapping_keeps_its_offset():
    mm, base = fresh()
    f = _file(8)
    mm.mmap(base, 8 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 2 * P)
    mm.mremap(base, 8 * P, 3 * P, 0)
    (vma,) = mm
    assert (vma.vm_end - vma.vm_start, vma.vm_pgoff) == (3 * P, 2)


# --- growing in place (L581-L609) --------------------------------------------------------------
def test_grow_in_place_extends_the_vma_and_keeps_its_pages():
    mm, base = fresh()
    mm.mmap(base, 4 * P, RW, ANON | MAP_FIXED)
    mm.write(base, b"kept")
    with trace.record() as t:
        assert mm.mremap(base, 4 * P, 8 * P, 0) == base
    assert layout(mm, base) == [(0, 8)]
    assert mm.read(base, 4) == b"kept"
    assert "move_vma" not in t.names and "vma_to_resize" in t.names


def test_grow_in_place_up_to_a_mergeable_neighbour_does_not_merge_in_v4_15():
    """vma_adjust only moves vm_end: two VMAs that could be one stay two (6.18 merges)."""
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 4 * P, 2 * P, RW, ANON | MAP_FIXED)
    mm.mremap(base, 2 * P, 4 * P, 0)
    assert layout(mm, base) == [(0, 4), (4, 6)]


def test_grow_blocked_without_maymove_is_enomem():
    mm, base = fresh()
    mm.mmap(base, 4 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 4 * P, 2 * P, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base, 4 * P, 6 * P, 0)) == errno.ENOMEM


def test_grow_of_a_range_that_does_not_end_its_vma_must_move():
    mm, base = fresh()
    mm.mmap(base, 8 * P, RW, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base + P, 2 * P, 3 * P, 0)) == errno.ENOMEM
    new = mm.mremap(base + P, 2 * P, 3 * P, MREMAP_MAYMOVE)
    assert new != base + P
    assert layout(mm, base)[:2] == [(0, 1), (3, 8)]


@pytest.mark.parametrize("setup, addr, old, new, err", [
    ("hole", 0, 2, 4, errno.EFAULT),            # no VMA at addr (L385)
    ("two", 0, 4, 6, errno.EFAULT),             # across a VMA boundary (L405)
    ("one", 0, 0, 2, errno.EINVAL),             # duplicating a private mapping (L396)
])
def test_vma_to_resize_refusals(setup, addr, old, new, err):
    mm, base = fresh()
    if setup in ("one", "two"):
        mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    if setup == "two":
        mm.mmap(base + 2 * P, 2 * P, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base + addr * P, old * P, new * P,
                                      MREMAP_MAYMOVE)) == err


def test_growing_a_locked_mapping_populates_the_new_pages():
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED | MAP_LOCKED)
    mm.mremap(base, 2 * P, 4 * P, 0)
    assert all(pte_present(mm.pgd.walk(base + i * P)) for i in range(4))


# --- MREMAP_FIXED (mremap_to, L443) -------------------------------------------------------------
def test_fixed_moves_pages_not_their_contents():
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.write(base + P, b"moved")
    frame = mm.pgd.walk(base + P).pfn
    assert mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 8 * P) \
        == base + 8 * P
    assert layout(mm, base) == [(8, 10)]
    assert mm.pgd.walk(base + 9 * P).pfn == frame and mm.pgd.walk(base + P) is None
    assert mm.read(base + 9 * P, 5) == b"moved"
    assert check_mm_invariants(mm) == []


@pytest.mark.parametrize("soft_dirty", [True, False])
def test_a_moved_clean_entry_is_marked_soft_dirty(soft_dirty):
    """move_soft_dirty_pte (L100): user space can see that the entry moved."""
    mm = MM(System(soft_dirty=soft_dirty))
    f = _file(2)
    a = mm.mmap(0, 2 * P, PROT_READ, MAP_PRIVATE, f, 0)
    mm.read(a, 1)
    assert not mm.pgd.walk(a).bits & _PAGE_SOFT_DIRTY  # a read fault: clean
    b = mm.mremap(a, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, a - 8 * P)
    assert bool(mm.pgd.walk(b).bits & _PAGE_SOFT_DIRTY) == soft_dirty


def test_fixed_unmaps_the_destination_first():
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 8 * P, 4 * P, PROT_READ, ANON | MAP_FIXED)
    mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 9 * P)
    assert layout(mm, base) == [(8, 9), (9, 11), (11, 12)]


def test_a_refused_fixed_move_has_already_unmapped_the_destination_in_v4_15():
    """mremap_to unmaps the destination (L465) before vma_to_resize refuses (L476)."""
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 8 * P, 2 * P, RW, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base, 0, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED,
                                      base + 8 * P)) == errno.EINVAL
    assert layout(mm, base) == [(0, 2)]


def test_a_fixed_move_of_a_range_spanning_two_vmas_is_efault_in_v4_15():
    """vma_to_resize: "We can't remap across vm area boundaries" (L405), even at the same size
    (6.18 moves both VMAs)."""
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 2 * P, 2 * P, PROT_READ, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base, 4 * P, 4 * P, MREMAP_MAYMOVE | MREMAP_FIXED,
                                      base + 8 * P)) == errno.EFAULT
    assert layout(mm, base) == [(0, 2), (2, 4)]


@pytest.mark.parametrize("new_page, err", [(1, errno.EINVAL), (8.5, errno.EINVAL)])
def test_fixed_overlapping_or_unaligned_destination(new_page, err):
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED,
                                      base + int(new_page * P))) == err


def test_fixed_with_a_smaller_size_unmaps_the_source_tail_then_moves():
    mm, base = fresh()
    mm.mmap(base, 4 * P, RW, ANON | MAP_FIXED)
    mm.mremap(base, 4 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 8 * P)
    assert layout(mm, base) == [(8, 10)]


def test_a_move_next_to_its_file_neighbour_merges():
    mm, base = fresh()
    f = _file(8)
    mm.mmap(base, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 2 * P)
    mm.mmap(base + 8 * P, 2 * P, PROT_READ, MAP_PRIVATE | MAP_FIXED, f, 0)
    mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 10 * P)
    assert layout(mm, base) == [(8, 12)] and next(iter(mm)).vm_pgoff == 0


def test_an_unfaulted_anonymous_vma_takes_the_offset_of_its_new_place():
    """copy_vma (mm/mmap.c L3110): so that it merges with an anonymous neighbour there."""
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.mmap(base + 8 * P, 2 * P, RW, ANON | MAP_FIXED)
    mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 10 * P)
    assert layout(mm, base) == [(8, 12)]


def test_moving_the_middle_restores_vm_account_on_both_parts_left():
    mm, base = fresh()
    mm.mmap(base, 8 * P, RW, ANON | MAP_FIXED)
    mm.write(base, b"x")
    mm.mremap(base + 2 * P, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 12 * P)
    assert layout(mm, base) == [(0, 2), (4, 8), (12, 14)]
    assert all(v.vm_flags & VM_ACCOUNT for v in mm)


def test_a_shared_mapping_can_be_duplicated_with_old_size_zero():
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED)
    mm.write(base, b"both")
    mm.mremap(base, 0, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 8 * P)
    assert layout(mm, base) == [(0, 2), (8, 10)]
    assert mm.read(base + 8 * P, 4) == b"both"  # the same shmem file, the same page


# --- move_vma and move_page_tables --------------------------------------------------------------
def test_the_call_sequence_under_the_write_lock():
    mm, base = fresh()
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    mm.write(base, b"x")
    with trace.record() as t:
        mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, base + 8 * P)
    names = [n for n in t.names if n in ("sys_mremap", "mremap_to", "do_munmap",
                                         "vma_to_resize", "get_unmapped_area", "move_vma",
                                         "copy_vma", "move_page_tables")]
    assert names == ["sys_mremap", "mremap_to", "do_munmap", "do_munmap", "vma_to_resize",
                     "get_unmapped_area", "move_vma", "copy_vma", "move_page_tables",
                     "do_munmap"]
    inside = [s for s in t.steps if s.name == "move_vma"]
    assert inside[0].lock.startswith("write")
    assert not mm.mmap_sem.is_locked


def test_map_count_near_the_limit_refuses_a_move():
    mm, base = fresh()
    mm.system.max_map_count = mm.map_count + 3
    mm.mmap(base, 2 * P, RW, ANON | MAP_FIXED)
    assert errno_of(lambda: mm.mremap(base, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED,
                                      base + 8 * P)) == errno.ENOMEM


def test_a_page_table_that_cannot_be_allocated_moves_everything_back():
    """move_vma's error path (L307-L324): what was moved goes back, the new VMA is unmapped.

    The source straddles a PTE table boundary; at the destination the first span's table
    exists already (a page mapped nearby) and the second one's allocation fails: one page
    was moved when the move stopped."""
    mm, base = fresh(pages=2048)
    span = 1 << 21
    src = ((base + span) & ~(span - 1)) - P            # one page below a table boundary
    dst = src + 2 * span                               # the same, two table spans higher
    mm.mmap(src, 2 * P, RW, ANON | MAP_FIXED)
    mm.write(src, b"low")
    mm.write(src + P, b"high")
    mm.mmap(dst - 4 * P, P, RW, ANON | MAP_FIXED)
    mm.write(dst - 4 * P, b"neighbour")                # the destination's first table
    mm.pgd.fail_next_alloc = 1
    with trace.record() as t:
        assert sys_mremap(mm, src, 2 * P, 2 * P, MREMAP_MAYMOVE | MREMAP_FIXED, dst) \
            == -errno.ENOMEM
    moves = [s for s in t.steps if s.name == "move_page_tables"]
    assert [m.result for m in moves] == [P, P]         # one page there, one page back
    assert mm.find_vma(dst) is None or mm.find_vma(dst).vm_start > dst + P
    assert (mm.read(src, 3), mm.read(src + P, 4)) == (b"low", b"high")
    assert check_mm_invariants(mm) == []


def test_move_page_tables_skips_spans_without_a_table():
    mm, base = fresh()
    mm.mmap(base, 4 * P, RW, ANON | MAP_FIXED)
    vma = next(iter(mm))
    assert move_page_tables(vma, base, vma, base + 8 * P, 4 * P, False) == 4 * P
    assert mm.pgd.items() == []


# --- the cramfs VMAs of the fault-time split ------------------------------------------------------
def _libc(strategy):
    sb = xip.mount(scenario_image(), None, strategy, system=System())
    mm = MM(sb.system)
    f = sb.open("/lib/libc.so.6")
    return mm, f, mm.mmap(0, 5 * P, PROT_READ | PROT_EXEC, MAP_PRIVATE, f, 0)


def test_a_remapped_xip_vma_may_move_but_not_grow():
    """remap_pfn_range set VM_PFNMAP | VM_DONTEXPAND: vma_to_resize's -EFAULT (L417)."""
    mm, f, a = _libc("split")
    assert next(iter(mm)).vm_flags & (VM_PFNMAP | VM_DONTEXPAND) == VM_PFNMAP | VM_DONTEXPAND
    assert errno_of(lambda: mm.mremap(a, 5 * P, 6 * P, MREMAP_MAYMOVE)) == errno.EFAULT
    assert errno_of(lambda: mm.mremap(a, 3 * P, 4 * P, MREMAP_MAYMOVE)) == errno.EFAULT


def test_a_moved_split_vma_carries_its_ops_private_data_and_flash_ptes():
    mm, f, a = _libc("split")
    old = next(iter(mm))
    frames = [mm.pgd.walk(a + i * P).pfn for i in range(3)]
    dest = a - 16 * P
    assert mm.mremap(a, 5 * P, 5 * P, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == dest
    (new,) = mm
    assert new is not old and new.vm_start == dest
    assert (new.vm_ops, new.vm_private_data, new.vm_pgoff, new.vm_file) == \
        (old.vm_ops, old.vm_private_data, old.vm_pgoff, old.vm_file)
    assert [mm.pgd.walk(dest + i * P).pfn for i in range(3)] == frames
    assert check_mm_invariants(mm) == []


@pytest.mark.parametrize("strategy, survives", [("split", True), ("split-v3", False),
                                                 ("mixedmap", True)])
def test_touching_the_tail_after_a_move(strategy, survives):
    """One thread, no race: the seed's split page counts from vm_start and survives the move;
    v3's split point is a virtual page number of the old place: SIGBUS on a valid read, and a
    page-cache VMA at a wrong offset whose first pages still map flash."""
    mm, f, a = _libc(strategy)
    dest = a + 16 * P  # moved up
    mm.mremap(a, 5 * P, 5 * P, MREMAP_MAYMOVE | MREMAP_FIXED, dest)
    if survives:
        assert mm.read(dest + 4 * P, 16) == f.read(4 * P, 16)
        assert check_mm_invariants(mm) == []
    else:
        with pytest.raises(Exception, match="SIGBUS"):
            mm.read(dest + 4 * P, 16)
        (vma,) = mm
        assert vma.vm_pgoff == 16 + 3 - 3  # split_pgoff 3 + (16 pages moved - 3)
        assert "00010000" in procfs.format_maps(mm)
        assert any("special PTE" in p for p in check_mm_invariants(mm))


def _file(pages):
    return file_from_bytes(b"".join(bytes([i + 1]) * P for i in range(pages)), "data")
