"""Resizing and moving a mapping: ``mm/mremap.c`` @ v4.15.

mremap(2) shrinks a mapping (it unmaps the tail), grows it where it lies if the space above it
is free, or moves it: a new VMA is made as a copy of the old one (:func:`mmlab.mmap.copy_vma`,
every field copied, ``vm_ops`` and ``vm_private_data`` included), the page-table entries are
moved to the new addresses (:func:`move_page_tables`: the pages stay where they are, only the
entries that point at them move), and the old range is unmapped. ``MREMAP_FIXED`` names the
destination and unmaps whatever was there first.

That last property is what Al Viro's schedule of 28 August 2017 uses against the fault-time
split (notebooks/review-sources.md): a thread blocked in mremap gets ``mmap_sem`` while the split
handler has dropped it, and puts another cramfs VMA where the faulting one was; the moved VMA
carries its ``vm_private_data``, the split point, with it (:mod:`mmlab.race`, "mremap in the
window").

The system call on top is :meth:`mmlab.mm.MM.mremap`; :func:`sys_mremap` is its body, taking
``mmap_sem`` for writing as the kernel does.

Where the model simplifies: no commit accounting (``VM_ACCOUNT`` is hidden and restored around
the unmap exactly as ``move_vma`` does, but ``security_vm_enough_memory_mm`` never refuses and
nothing is charged), no ``total_vm``/``locked_vm``/``hiwater_vm`` counters (``vm_stat_account``),
no ``RLIMIT_MEMLOCK``/``RLIMIT_AS`` (``-EAGAIN`` and ``may_expand_vm``'s ``-ENOMEM`` never
happen), no userfaultfd, no KSM (``ksm_madvise``), no transparent huge pages (``move_huge_pmd``),
no x86 PAT (``untrack_pfn_moved``), no ``->mremap`` method in any model ``vm_operations_struct``
(the kernel's has one, used by the vDSO and a few drivers; cramfs has none), no TLB or cache
flushes and no MMU notifiers; the ``pr_warn_once`` about duplicating a private mapping is not
printed (the model has no ``current->comm``).

Kernel: `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c>`_.
"""

from __future__ import annotations

import errno

from mmlab.constants import (
    MAP_FIXED,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_ALIGN,
    PAGE_SHIFT,
    ULONG_MASK,
    VM_ACCOUNT,
    VM_DONTEXPAND,
    VM_HUGETLB,
    VM_LOCKED,
    VM_MAYSHARE,
    VM_PFNMAP,
    VM_SHARED,
    offset_in_page,
)
from mmlab.gup import mm_populate
from mmlab.mm_types import MmStruct, Vma, vma_mm, vma_start_write
from mmlab.mmap import copy_vma, do_munmap, find_vma, get_unmapped_area
from mmlab.pagetable import _PAGE_SOFT_DIRTY, PMD_SIZE, Pte, pte_present
from mmlab.trace import traced

__all__ = [
    "move_page_tables",
    "move_vma",
    "mremap_to",
    "sys_mremap",
    "vma_expandable",
    "vma_to_resize",
]


@traced
def sys_mremap(mm: MmStruct, addr: int, old_len: int, new_len: int, flags: int,
               new_addr: int = 0) -> int:
    """The body of mremap(2): the mapping's address afterwards, or ``-errno``.

    Checks in the kernel's order, before the lock: flags other than ``MREMAP_FIXED`` and
    ``MREMAP_MAYMOVE`` (``-EINVAL``, L536), ``MREMAP_FIXED`` without ``MREMAP_MAYMOVE``
    (``-EINVAL``, L539), an unaligned ``addr`` (``-EINVAL``, L542); both lengths are rounded up
    to whole pages and a zero ``new_len`` is ``-EINVAL`` (L545-L554: a zero ``old_len`` is the
    old "duplicate a shared mapping" case). Then ``mmap_sem`` is taken for writing (``-EINTR``
    if killed, L556) and:

    * ``MREMAP_FIXED``: :func:`mremap_to` (L559);
    * shrinking (``old_len >= new_len``): the tail ``[addr + new_len, addr + old_len)`` is
      unmapped with ``do_munmap`` and ``addr`` returned (L570-L575). Nothing checks that
      ``addr`` is mapped at all: shrinking a hole succeeds;
    * growing: :func:`vma_to_resize` (L581); if the range ends where its VMA ends and the space
      above is free (:func:`vma_expandable`), the VMA is extended in place (``vma_adjust``,
      L589-L607: no merge with a VMA that starts right at the new end);
    * else, with ``MREMAP_MAYMOVE``, a new place is chosen by ``get_unmapped_area`` and
      :func:`move_vma` moves the mapping there (L616-L631); without it, ``-ENOMEM``.

    After the lock is released, a ``VM_LOCKED`` mapping that grew has its new pages faulted in
    (``mm_populate``, L639-L640).

    Kernel: ``SYSCALL_DEFINE5(mremap)`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L523>`_.
    """
    addr, old_len, new_len = addr & ULONG_MASK, old_len & ULONG_MASK, new_len & ULONG_MASK
    flags, new_addr = flags & ULONG_MASK, new_addr & ULONG_MASK
    if flags & ~(MREMAP_FIXED | MREMAP_MAYMOVE):
        return -errno.EINVAL
    if flags & MREMAP_FIXED and not flags & MREMAP_MAYMOVE:
        return -errno.EINVAL
    if offset_in_page(addr):
        return -errno.EINVAL
    old_len = PAGE_ALIGN(old_len) & ULONG_MASK  # unsigned long: wraps to 0 near 2**64
    new_len = PAGE_ALIGN(new_len) & ULONG_MASK
    if not new_len:
        return -errno.EINVAL
    if mm.mmap_sem.down_write_killable():
        return -errno.EINTR
    locked = False
    try:
        ret, locked, new_addr = _mremap_locked(mm, addr, old_len, new_len, flags, new_addr)
    finally:
        mm.mmap_sem.up_write()
    if ret < 0:
        return ret
    if locked and new_len > old_len:
        mm_populate(mm, new_addr + old_len, new_len - old_len)
    return ret


def _mremap_locked(mm: MmStruct, addr: int, old_len: int, new_len: int, flags: int,
                   new_addr: int) -> tuple[int, bool, int]:
    """The part of the system call under the write lock: ``(ret, locked, new_addr)``."""
    if flags & MREMAP_FIXED:
        ret, locked = mremap_to(mm, addr, old_len, new_addr, new_len)
        return ret, locked and ret >= 0, new_addr
    if old_len >= new_len:
        ret = do_munmap(mm, addr + new_len, old_len - new_len)
        if ret and old_len != new_len:
            return ret, False, new_addr
        return addr, False, new_addr
    vma = vma_to_resize(mm, addr, old_len, new_len)
    if isinstance(vma, int):
        return vma, False, new_addr
    if old_len == vma.vm_end - addr and vma_expandable(vma, new_len - old_len):
        mm.mm_rb.set_bounds(vma, vma.vm_start, addr + new_len)  # vma_adjust, nothing inserted
        if vma.vm_flags & VM_LOCKED:
            return addr, True, addr
        return addr, False, new_addr
    if not flags & MREMAP_MAYMOVE:
        return -errno.ENOMEM, False, new_addr
    map_flags = MAP_SHARED if vma.vm_flags & VM_MAYSHARE else 0
    pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    new_addr = get_unmapped_area(mm, vma.vm_file, 0, new_len, pgoff, map_flags)
    if new_addr < 0:
        return new_addr, False, new_addr
    ret, locked = move_vma(vma, addr, old_len, new_len, new_addr)
    return ret, locked and ret >= 0, new_addr


@traced
def mremap_to(mm: MmStruct, addr: int, old_len: int, new_addr: int,
              new_len: int) -> tuple[int, bool]:
    """``MREMAP_FIXED``: move ``[addr, addr + old_len)`` to ``new_addr``, resized to ``new_len``.

    Returns ``(new_addr or -errno, whether the mapping is VM_LOCKED)``. ``-EINVAL`` for an
    unaligned ``new_addr`` (L455), a destination that does not fit below ``TASK_SIZE`` (L458),
    or one that overlaps the source (L462). Then, in this order: whatever is mapped at the
    destination is unmapped (``do_munmap``, L465: this is how a mapping lands on top of another
    one); a shrink unmaps the source's tail first (L469-L474); :func:`vma_to_resize` checks the
    source (L476); ``get_unmapped_area`` with ``MAP_FIXED`` (and ``MAP_SHARED`` for a
    ``VM_MAYSHARE`` VMA) accepts the destination (L482-L490); :func:`move_vma` moves it (L492).
    A failure after the first ``do_munmap`` leaves the destination unmapped, as in the kernel.

    Kernel: ``mremap_to`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L443>`_.
    """
    if offset_in_page(new_addr):
        return -errno.EINVAL, False
    if new_len > mm.task_size or new_addr > mm.task_size - new_len:
        return -errno.EINVAL, False
    if (addr + old_len) & ULONG_MASK > new_addr and (new_addr + new_len) & ULONG_MASK > addr:
        return -errno.EINVAL, False
    ret = do_munmap(mm, new_addr, new_len)
    if ret:
        return ret, False
    if old_len >= new_len:
        ret = do_munmap(mm, addr + new_len, old_len - new_len)
        if ret and old_len != new_len:
            return ret, False
        old_len = new_len
    vma = vma_to_resize(mm, addr, old_len, new_len)
    if isinstance(vma, int):
        return vma, False
    map_flags = MAP_FIXED | (MAP_SHARED if vma.vm_flags & VM_MAYSHARE else 0)
    pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    ret = get_unmapped_area(mm, vma.vm_file, new_addr, new_len, pgoff, map_flags)
    if ret < 0:
        return ret, False
    return move_vma(vma, addr, old_len, new_len, new_addr)


@traced
def vma_to_resize(mm: MmStruct, addr: int, old_len: int, new_len: int) -> Vma | int:
    """The VMA that ``[addr, addr + old_len)`` lies in, if it may become ``new_len`` long;
    else ``-errno``.

    ``-EFAULT`` if no VMA contains ``addr`` (L385) or the range runs past the VMA's end ("We
    can't remap across vm area boundaries", L405); ``-EINVAL`` for ``old_len == 0`` on a private
    mapping (L396: duplicating one is refused), for a hugetlb VMA (L401) and for a new length
    whose file offset would wrap (L414). A range that keeps its size is accepted here (L408).
    One that changes size may not belong to a ``VM_DONTEXPAND`` or ``VM_PFNMAP`` VMA:
    ``-EFAULT`` (L417). So a VMA that ``remap_pfn_range`` filled (which sets both flags) can be
    moved, but only whole-size: the cramfs XIP VMAs of the fault-time split can. Not modelled:
    ``RLIMIT_MEMLOCK`` (``-EAGAIN``, L420), ``may_expand_vm`` (L429) and the commit charge of a
    ``VM_ACCOUNT`` VMA (L433), which the model never refuses.

    Kernel: ``vma_to_resize`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L378>`_.
    """
    vma = find_vma(mm, addr)
    if vma is None or vma.vm_start > addr:
        return -errno.EFAULT
    if not old_len and not vma.vm_flags & (VM_SHARED | VM_MAYSHARE):
        return -errno.EINVAL
    if vma.vm_flags & VM_HUGETLB:
        return -errno.EINVAL
    if old_len > vma.vm_end - addr:
        return -errno.EFAULT
    if new_len == old_len:
        return vma
    pgoff = vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT)
    if (pgoff + (new_len >> PAGE_SHIFT)) & ULONG_MASK < pgoff:
        return -errno.EINVAL
    if vma.vm_flags & (VM_DONTEXPAND | VM_PFNMAP):
        return -errno.EFAULT
    return vma


def vma_expandable(vma: Vma, delta: int) -> bool:
    """Can ``vma`` grow by ``delta`` bytes where it is?

    Not if its end would wrap (L506), if the next VMA starts below the new end (L508), or if
    ``get_unmapped_area`` with ``MAP_FIXED`` refuses the grown range (past ``TASK_SIZE``, L510).

    Kernel: ``vma_expandable`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L503>`_.
    """
    end = vma.vm_end + delta
    if end > ULONG_MASK:
        return False
    nxt = vma.vm_next
    if nxt is not None and nxt.vm_start < end:
        return False
    mm = vma_mm(vma)
    return get_unmapped_area(mm, None, vma.vm_start, end - vma.vm_start, 0, MAP_FIXED) >= 0


@traced
def move_vma(vma: Vma, old_addr: int, old_len: int, new_len: int,
             new_addr: int) -> tuple[int, bool]:
    """Move ``[old_addr, old_addr + old_len)`` of ``vma`` to ``new_addr``, ``new_len`` long.

    Returns ``(new_addr or -errno, whether the VMA is VM_LOCKED)``. In the kernel's order:

    1. ``-ENOMEM`` if the map count is within 3 of ``vm.max_map_count`` (the unmap below may
       split a VMA in three, L284);
    2. ``copy_vma`` (L299-L303): the new VMA, at the file offset of ``old_addr``; a copy of
       the old one in every field but its range and offset (``vm_ops``, ``vm_private_data``,
       flags, file, ``anon_vma``), or a neighbour extended by ``vma_merge`` when the flags,
       file and offsets allow (never for ``VM_SPECIAL`` VMAs such as ``VM_PFNMAP``);
    3. :func:`move_page_tables` (L305); if it could not move everything (a page table could
       not be allocated) the entries already moved are moved back and the *new* range is the
       one unmapped below, and the error is returned (L307-L324);
    4. ``VM_ACCOUNT`` is cleared on the old VMA so that the unmap does not give back the
       commit charge the new VMA still holds, and set again afterwards on the parts of the old
       VMA that remain (L331-L338, L363-L368);
    5. ``do_munmap`` of the old range (L356): its PTEs are empty by now; the old VMA, or the
       part of it that was moved, goes away.

    With per-VMA locks the old VMA is write-locked first (``vma_start_write``, `mm/mremap.c @
    v6.12.118 L759 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/mremap.c#L759>`_), so
    no fault under its VMA lock sees it while its page tables move.

    Not modelled: ``ksm_madvise`` (L294), the ``->mremap`` method (L309), ``arch_remap``,
    ``vm_stat_account`` (L350), ``untrack_pfn_moved`` (L353), ``locked_vm``.

    Kernel: ``move_vma`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L263>`_.
    """
    mm = vma_mm(vma)
    vm_flags = vma.vm_flags
    if mm.map_count >= mm.system.max_map_count - 3:
        return -errno.ENOMEM, False
    if mm.per_vma_locks:  # vma_start_write: mm/mremap.c @ v6.12.118 L759
        vma_start_write(vma)
    new_pgoff = vma.vm_pgoff + ((old_addr - vma.vm_start) >> PAGE_SHIFT)
    copied = copy_vma(vma, new_addr, new_len, new_pgoff)
    if copied is None:
        return -errno.ENOMEM, False
    new_vma, vma, need_rmap_locks = copied
    moved_len = move_page_tables(vma, old_addr, new_vma, new_addr, old_len, need_rmap_locks)
    err = -errno.ENOMEM if moved_len < old_len else 0
    if err:
        # Move back what was moved (the tables are there now), then unmap the new area.
        move_page_tables(new_vma, new_addr, vma, old_addr, moved_len, True)
        vma, old_len, old_addr, new_addr = new_vma, new_len, new_addr, err
    excess, split = 0, False
    if vm_flags & VM_ACCOUNT:
        vma.vm_flags &= ~VM_ACCOUNT
        excess = vma.vm_end - vma.vm_start - old_len
        split = old_addr > vma.vm_start and old_addr + old_len < vma.vm_end
    if do_munmap(mm, old_addr, old_len) < 0:
        excess = 0  # vm_unacct_memory: the model charges nothing
    if excess:
        vma.vm_flags |= VM_ACCOUNT
        if split:
            upper = vma.vm_next
            if upper is not None:
                upper.vm_flags |= VM_ACCOUNT
    return new_addr, bool(vm_flags & VM_LOCKED)


@traced
def move_page_tables(vma: Vma, old_addr: int, new_vma: Vma, new_addr: int, length: int,
                     need_rmap_locks: bool) -> int:
    """Move the page-table entries of ``[old_addr, old_addr + length)`` to ``new_addr``:
    how many bytes were done.

    One PTE table's span at a time (L214-L254): a span with no PTE table at the old address is
    skipped (``get_old_pmd``, L221); at the new address the pud, pmd and PTE tables are
    allocated (``alloc_new_pmd``, L224, and ``pte_alloc``, L245), and a failed allocation stops
    the move there. ``move_ptes`` (L115) then takes each non-empty entry out of the old table
    and writes it, unchanged (x86's ``move_pte`` is the identity, L176), at the new address;
    with ``CONFIG_MEM_SOFT_DIRTY`` a present entry is marked soft-dirty so that user space can
    see it moved (``move_soft_dirty_pte``, L100). The pages do not move and their map counts do
    not change: a flash frame stays a flash frame, now mapped at another address. The rmap locks
    (``need_rmap_locks``) only order the move against other CPUs' rmap walks; the model has no
    other CPU. Not modelled: huge PMDs, TLB flushes, MMU notifiers.

    Kernel: ``move_page_tables`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L196>`_.
    """
    mm = vma_mm(vma)
    pgd = mm.pgd
    soft_dirty = mm.system.soft_dirty
    old_end = old_addr + length
    while old_addr < old_end:
        extent = min(((old_addr + PMD_SIZE) & ~(PMD_SIZE - 1)) - old_addr, old_end - old_addr)
        if pgd.pmd_none(old_addr):  # get_old_pmd: no PTE table here, nothing to move
            old_addr, new_addr = old_addr + extent, new_addr + extent
            continue
        if pgd.pmd_alloc(new_addr) or pgd.pte_alloc(new_addr):
            break
        extent = min(extent, ((new_addr + PMD_SIZE) & ~(PMD_SIZE - 1)) - new_addr)
        _move_ptes(mm, old_addr, old_addr + extent, new_addr, soft_dirty)
        old_addr, new_addr = old_addr + extent, new_addr + extent
    return length + old_addr - old_end


def _move_ptes(mm: MmStruct, old_addr: int, old_end: int, new_addr: int,
               soft_dirty: bool) -> None:
    """``move_ptes``: each non-empty entry from ``old_addr`` on to ``new_addr`` on (both PTE
    tables exist)."""
    pgd = mm.pgd
    moves = [(addr, pte) for addr, pte in pgd.range(old_addr, old_end)]
    for addr, _pte in moves:
        pgd.pte_clear(addr)  # ptep_get_and_clear
    for addr, pte in moves:
        if soft_dirty and pte_present(pte):
            pte = Pte(pte.pfn, pte.bits | _PAGE_SOFT_DIRTY)
        pgd.set_pte_at(new_addr + (addr - old_addr), pte)

