"""The VMA model on its own: find_vma, split_vma, vma_merge, the syscalls' errors, the lock."""

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmlab import trace
from mmlab.errors import KernelBug, WouldSleep
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MM,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    VM_ACCOUNT,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    System,
    VmOperations,
    find_vma,
    find_vma_prev,
    is_cow_mapping,
    split_vma,
)

ANON = MAP_PRIVATE | MAP_ANONYMOUS
RW = PROT_READ | PROT_WRITE
BASE = 0x10000000


def region(mm, page, npages, prot=RW, flags=ANON):
    return mm.mmap(BASE + page * PAGE_SIZE, npages * PAGE_SIZE, prot, flags | MAP_FIXED)


def spans(mm):
    return [((v.vm_start - BASE) // PAGE_SIZE, (v.vm_end - BASE) // PAGE_SIZE) for v in mm.vmas]


def test_flag_values_are_v4_15():
    from mmlab import mm as m

    assert (m.VM_PFNMAP, m.VM_IO, m.VM_DONTEXPAND, m.VM_DONTDUMP) == (
        0x400,
        0x4000,
        0x40000,
        0x04000000,
    )
    assert m.VM_MIXEDMAP == 0x10000000 and m.VM_ACCOUNT == 0x100000
    assert m.VM_SPECIAL == 0x400 | 0x4000 | 0x40000 | 0x10000000
    assert m.DEFAULT_MAX_MAP_COUNT == 65530


def test_find_vma_returns_first_vma_ending_above_addr():
    mm = MM()
    region(mm, 0, 2)
    region(mm, 4, 2, PROT_READ)
    assert find_vma(mm, BASE).vm_start == BASE
    gap = BASE + 3 * PAGE_SIZE  # in the hole: the VMA above is returned, not containing addr
    vma = find_vma(mm, gap)
    assert vma.vm_start == BASE + 4 * PAGE_SIZE and not vma.vm_start <= gap
    assert find_vma(mm, BASE + 6 * PAGE_SIZE) is None
    assert find_vma(mm, BASE + 2 * PAGE_SIZE - 1).vm_start == BASE  # vm_end is exclusive
    vma, prev = find_vma_prev(mm, gap)
    assert prev.vm_start == BASE and vma.vm_start == BASE + 4 * PAGE_SIZE


def test_private_anonymous_pgoff_is_the_page_number_of_its_start():
    mm = MM()
    region(mm, 3, 1)
    assert mm.vmas[0].vm_pgoff == (BASE >> 12) + 3


def test_split_vma_without_new_below_keeps_the_lower_part_in_the_original():
    mm = MM()
    region(mm, 0, 8)
    vma = mm.vmas[0]
    pgoff = vma.vm_pgoff
    assert split_vma(mm, vma, BASE + 3 * PAGE_SIZE, 0) == 0
    lower, upper = mm.vmas
    assert lower is vma and spans(mm) == [(0, 3), (3, 8)]
    assert upper.vm_pgoff == pgoff + 3 and lower.vm_pgoff == pgoff
    assert upper.vm_flags == lower.vm_flags


def test_split_vma_with_new_below_gives_the_original_the_upper_part():
    mm = MM()
    region(mm, 0, 8)
    vma = mm.vmas[0]
    pgoff = vma.vm_pgoff
    assert split_vma(mm, vma, BASE + 3 * PAGE_SIZE, 1) == 0
    lower, upper = mm.vmas
    assert upper is vma and vma.vm_pgoff == pgoff + 3 and lower.vm_pgoff == pgoff


def test_split_vma_refuses_at_the_map_count_limit():
    mm = MM(System(max_map_count=2))
    region(mm, 0, 2)
    region(mm, 4, 2)
    assert split_vma(mm, mm.vmas[0], BASE + PAGE_SIZE, 0) == -errno.ENOMEM
    assert mm.map_count == 2


def test_split_vma_outside_the_vma_is_einval_not_corruption():
    mm = MM()
    region(mm, 0, 4)
    vma = mm.vmas[0]
    assert split_vma(mm, vma, vma.vm_end, 0) == -errno.EINVAL
    assert split_vma(mm, vma, vma.vm_start + 12, 0) == -errno.EINVAL
    assert spans(mm) == [(0, 4)]


def test_vm_ops_split_can_refuse():
    mm = MM()
    region(mm, 0, 4)
    mm.vmas[0].vm_ops = VmOperations(split=lambda vma, addr: -errno.EINVAL)
    assert split_vma(mm, mm.vmas[0], BASE + PAGE_SIZE, 0) == -errno.EINVAL


def test_munmap_in_the_middle_at_the_limit_is_enomem():
    mm = MM(System(max_map_count=1))
    region(mm, 0, 4)
    with pytest.raises(OSError) as e:
        mm.munmap(BASE + PAGE_SIZE, PAGE_SIZE)
    assert e.value.errno == errno.ENOMEM
    mm.munmap(BASE, PAGE_SIZE)  # cutting an end needs no new VMA
    assert spans(mm) == [(1, 4)]


def test_mmap_errors():
    mm = MM()
    cases = [
        ((BASE, 0, RW, ANON | MAP_FIXED), errno.EINVAL),  # zero length
        ((BASE + 1, PAGE_SIZE, RW, ANON | MAP_FIXED), errno.EINVAL),  # unaligned fixed address
        ((0, PAGE_SIZE, RW, MAP_ANONYMOUS), errno.EINVAL),  # neither shared nor private
        ((0, PAGE_SIZE, RW, MAP_SHARED_VALIDATE | MAP_ANONYMOUS), errno.EINVAL),  # anon at v4.15
        ((0, PAGE_SIZE, RW, MAP_PRIVATE), errno.EBADF),  # no file
        ((0, 1 << 48, RW, ANON), errno.ENOMEM),  # bigger than the address space
    ]
    for args, code in cases:
        with pytest.raises(OSError) as e:
            mm.mmap(*args)
        assert e.value.errno == code, args
    with pytest.raises(OSError) as e:
        mm.mmap(0, PAGE_SIZE, RW, ANON, offset=100)
    assert e.value.errno == errno.EINVAL
    assert mm.map_count == 0


def test_mmap_map_count_limit():
    mm = MM(System(max_map_count=3))
    for i in range(4):  # v4.15 tests map_count > limit, so one more than the limit fits
        region(mm, 2 * i, 1, PROT_READ if i % 2 else RW)
    with pytest.raises(OSError) as e:
        region(mm, 10, 1)
    assert e.value.errno == errno.ENOMEM


def test_mprotect_needs_the_may_bit():
    from mmlab.fs import FMODE_READ, file_from_bytes

    mm = MM()
    f = file_from_bytes(b"x" * 4 * PAGE_SIZE, "/lib/libc.so", mode=FMODE_READ)
    shared = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_SHARED, f)
    vma = find_vma(mm, shared)
    assert vma.vm_flags & VM_MAYSHARE and not vma.vm_flags & (VM_SHARED | VM_MAYWRITE)
    with pytest.raises(OSError) as e:
        mm.mprotect(shared, PAGE_SIZE, RW)
    assert e.value.errno == errno.EACCES
    private = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, f)
    vma = find_vma(mm, private)
    assert is_cow_mapping(vma.vm_flags)  # a read-only private file mapping is still COW
    assert vma.vm_flags & ~VM_SOFTDIRTY == 0x75  # the kernel-facts example
    mm.mprotect(private, PAGE_SIZE, RW)


def test_mprotect_errors():
    mm = MM()
    region(mm, 0, 2)
    for args, code in [
        ((BASE + 1, PAGE_SIZE, PROT_READ), errno.EINVAL),
        ((BASE, PAGE_SIZE, 0x40), errno.EINVAL),
        ((BASE + 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ), errno.ENOMEM),
        ((BASE, 4 * PAGE_SIZE, PROT_READ), errno.ENOMEM),
    ]:
        with pytest.raises(OSError) as e:
            mm.mprotect(*args)
        assert e.value.errno == code, args
    assert mm.vmas[0].vm_flags & VM_READ and spans(mm) == [(0, 2)]  # hole case: part before done
    mm.mprotect(BASE, 0, PROT_NONE)  # zero length: nothing, no error


def test_making_memory_writable_adds_vm_account_and_v4_15_keeps_it():
    mm = MM()
    region(mm, 0, 2, PROT_READ)
    assert not mm.vmas[0].vm_flags & VM_ACCOUNT
    mm.mprotect(BASE, 2 * PAGE_SIZE, RW)
    assert mm.vmas[0].vm_flags & VM_ACCOUNT
    mm.mprotect(BASE, 2 * PAGE_SIZE, PROT_READ)
    assert mm.vmas[0].vm_flags & VM_ACCOUNT
    new = MM(version=(6, 18))
    region(new, 0, 2)
    new.mprotect(BASE, 2 * PAGE_SIZE, PROT_READ)
    assert not new.vmas[0].vm_flags & VM_ACCOUNT


def test_new_vmas_get_softdirty_and_may_bits():
    mm = MM()
    region(mm, 0, 1, PROT_READ)
    flags = mm.vmas[0].vm_flags
    assert flags == VM_READ | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC | VM_SOFTDIRTY


def test_vma_with_close_method_is_never_merged():
    mm = MM()
    region(mm, 0, 2)
    mm.vmas[0].vm_ops = None
    closed = []
    mm.vmas[0].vm_ops = VmOperations(close=closed.append)
    region(mm, 2, 2)
    assert mm.map_count == 2
    mm.munmap(BASE, 2 * PAGE_SIZE)
    assert len(closed) == 1


def test_hint_is_honoured_and_topdown_search_fills_from_the_top():
    mm = MM(System(mmap_min_addr=65536))  # vm.mmap_min_addr as Debian and Ubuntu set it
    a = mm.mmap(0, PAGE_SIZE, RW, ANON)
    b = mm.mmap(0, PAGE_SIZE, PROT_READ, ANON)
    assert a == mm.mmap_base - PAGE_SIZE and b == a - PAGE_SIZE
    mm.munmap(a, PAGE_SIZE)
    assert mm.mmap(0, PAGE_SIZE, PROT_READ, ANON) == a  # the highest hole that fits
    assert mm.mmap(BASE, PAGE_SIZE, RW, ANON) == BASE
    assert mm.mmap(0x1000, PAGE_SIZE, RW, ANON) == 65536  # below mmap_min_addr: raised to it
    assert mm.mmap(100, PAGE_SIZE, RW, ANON) > BASE  # rounds down to NULL: no hint at all


def test_syscalls_take_and_release_the_mmap_lock():
    mm = MM()
    with trace.record() as t:
        region(mm, 0, 4)
        mm.mprotect(BASE, PAGE_SIZE, PROT_READ)
        mm.munmap(BASE, PAGE_SIZE)
    # all three wait killably at v4.15 (vm_mmap_pgoff, vm_munmap, do_mprotect_pkey)
    names = [n for n in t.names if n.startswith(("down_write", "up_write"))]
    assert names == ["down_write_killable", "up_write"] * 3
    assert not mm.mmap_sem.is_locked
    assert t.names[:4] == ["down_write_killable", "do_mmap", "get_unmapped_area", "mmap_region"]
    mprotect = [s for s in t.steps if s.name == "mprotect_fixup"][0]
    assert mprotect.lock == "write"
    assert [s.name for s in t.steps if s.name.endswith("split_vma")] == ["split_vma", "__split_vma"]


def test_trace_snapshots_show_the_split():
    mm = MM()
    region(mm, 0, 4)
    with trace.record() as t:
        mm.mprotect(BASE + PAGE_SIZE, PAGE_SIZE, PROT_READ)
    step = next(s for s in t.steps if s.name == "mprotect_fixup")
    assert len(step.before.vmas) == 1 and len(step.after.vmas) == 3


def test_rwsem_rules():
    mm = MM()
    sem = mm.mmap_sem
    sem.down_read()
    sem.down_read()
    assert sem.down_write_trylock() == 0
    with pytest.raises(WouldSleep):
        sem.down_write()
    sem.up_read()
    sem.up_read()
    with pytest.raises(KernelBug):
        sem.up_read()
    assert sem.down_write_killable(fatal_signal_pending=True) == -errno.EINTR
    assert sem.down_write_killable() == 0
    assert sem.down_read_trylock() == 0
    sem.downgrade_write()
    assert sem.readers == 1 and not sem.writer
    with pytest.raises(KernelBug):
        sem.up_write()
    sem.up_read()
    assert not sem.is_locked


def test_vma_tree_stays_consistent_through_many_operations():
    mm = MM()
    for i in range(0, 2000, 2):
        region(mm, i, 1, PROT_READ if i % 4 else RW)
    assert mm.map_count == 1000
    mm.munmap(BASE + 100 * PAGE_SIZE, 1000 * PAGE_SIZE)
    vmas = mm.vmas
    assert all(a.vm_end <= b.vm_start for a, b in zip(vmas, vmas[1:], strict=False))
    for v in vmas:
        assert find_vma(mm, v.vm_start) is v and find_vma(mm, v.vm_end - 1) is v


anything = st.one_of(
    st.integers(-(1 << 64), 1 << 65),
    st.sampled_from([0, 1, PAGE_SIZE, BASE, (1 << 47) - PAGE_SIZE, 1 << 47, (1 << 64) - 1]),
)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["mmap", "munmap", "mprotect"]),
            anything,
            anything,
            anything,
            anything,
            anything,
        ),
        max_size=8,
    )
)
def test_bad_calls_give_errno_never_a_traceback(calls):
    mm = MM()
    for name, a, b, c, d, e in calls:
        try:
            if name == "mmap":
                mm.mmap(a, b, c, d | MAP_ANONYMOUS, None, e)
            elif name == "munmap":
                mm.munmap(a, b)
            else:
                mm.mprotect(a, b, c)
        except OSError as exc:
            assert exc.errno in (
                errno.EINVAL,
                errno.EPERM,  # MAP_FIXED below mmap_min_addr (security_mmap_addr)
                errno.ENOMEM,
                errno.EACCES,
                errno.EOVERFLOW,
                errno.EOPNOTSUPP,
                errno.EBADF,
            )
    mm.mm_rb.check()
    assert not mm.mmap_sem.is_locked
