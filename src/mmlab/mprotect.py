"""Changing the protection of a range: ``mm/mprotect.c`` @ v4.15.

``do_mprotect_pkey`` walks the VMAs of the range and gives each part its new flags through
``mprotect_fixup``, which merges or splits VMAs (:mod:`mmlab.mmap`) and rewrites the present PTEs
(``change_protection``). The system call on top is :meth:`mmlab.mm.MM.mprotect`.

Kernel: `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c>`_.
"""

from __future__ import annotations

import errno

from mmlab import version
from mmlab.constants import (
    PAGE_ALIGN,
    PAGE_MASK,
    PAGE_SHIFT,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_READ,
    PROT_SEM,
    PROT_WRITE,
    ULONG_MASK,
    VM_ACCOUNT,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_HUGETLB,
    VM_LOCKED,
    VM_NORESERVE,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_WRITE,
    calc_vm_prot_bits,
)
from mmlab.gup import populate_vma_page_range
from mmlab.mm_types import MmStruct, Vma, vma_is_anonymous, vma_mm, vma_start_write
from mmlab.mmap import find_vma, split_vma, vma_merge, vma_set_page_prot, vma_wants_writenotify
from mmlab.trace import traced

__all__ = ["change_protection", "do_mprotect_pkey", "mprotect_fixup"]


@traced
def do_mprotect_pkey(mm: MmStruct, start: int, length: int, prot: int, pkey: int = -1) -> int:
    """The body of mprotect(2): 0 or ``-errno``.

    Checks in the kernel's order: ``PROT_GROWSDOWN`` with ``PROT_GROWSUP`` (``-EINVAL``), an
    unaligned start (``-EINVAL``), a zero length (0, nothing done), a range that wraps
    (``-ENOMEM``), unknown ``PROT_*`` bits (``-EINVAL``); then ``mmap_sem`` is taken for write
    (``-EINTR`` if killed) and a protection key other than -1 is refused (``-EINVAL``: the model
    allocates no keys). Then it walks the VMAs covering the range and calls
    :func:`mprotect_fixup` on each. A permission can only be added if its ``VM_MAY*`` bit is set
    (``-EACCES``): each ``VM_MAYx`` bit sits 4 bits above its ``VM_x``. A hole in the range gives
    ``-ENOMEM`` -- after the VMAs before the hole were already changed, as in the kernel. Not
    modelled: ``READ_IMPLIES_EXEC`` personalities and the LSM ``file_mprotect`` hook.

    Kernel: ``do_mprotect_pkey`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L393>`_.
    """
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
        return -errno.EINVAL
    if start & ~PAGE_MASK:
        return -errno.EINVAL
    if not length:
        return 0
    length = PAGE_ALIGN(length) & ULONG_MASK  # unsigned long: wraps to 0 near 2**64
    end = (start + length) & ULONG_MASK
    if end <= start:
        return -errno.ENOMEM
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):  # arch_validate_prot
        return -errno.EINVAL
    if mm.mmap_sem.down_write_killable():
        return -errno.EINTR
    try:
        if pkey != -1:  # mm_pkey_is_allocated
            return -errno.EINVAL
        return _mprotect_locked(mm, start, end, prot, grows)
    finally:
        mm.mmap_sem.up_write()


def _mprotect_locked(mm: MmStruct, start: int, end: int, prot: int, grows: int) -> int:
    tree = mm.mm_rb
    vma = find_vma(mm, start)
    if vma is None:
        return -errno.ENOMEM
    prev = tree.prev(vma)
    if grows & PROT_GROWSDOWN:
        if vma.vm_start >= end:
            return -errno.ENOMEM
        start = vma.vm_start
        if not vma.vm_flags & VM_GROWSDOWN:
            return -errno.EINVAL
    else:
        if vma.vm_start > start:
            return -errno.ENOMEM
        if grows & PROT_GROWSUP:
            return -errno.EINVAL  # no VM_GROWSUP on x86
    if start > vma.vm_start:
        prev = vma
    nstart = start
    while True:
        newflags = calc_vm_prot_bits(prot) | (vma.vm_flags & ~(VM_READ | VM_WRITE | VM_EXEC))
        if (newflags & ~(newflags >> 4)) & (VM_READ | VM_WRITE | VM_EXEC):
            return -errno.EACCES
        tmp = min(vma.vm_end, end)
        err, prev = mprotect_fixup(mm, vma, prev, nstart, tmp, newflags)
        if err:
            return err
        nstart = max(tmp, prev.vm_end)
        if nstart >= end:
            return 0
        vma = tree.next(prev)
        if vma is None or vma.vm_start != nstart:
            return -errno.ENOMEM


@traced
def mprotect_fixup(
    mm: MmStruct, vma: Vma, prev: Vma | None, start: int, end: int, newflags: int
) -> tuple[int, Vma]:
    """Give ``[start, end)`` of ``vma`` new flags.

    Returns ``(0 or -errno, the VMA now covering the range)`` (the kernel returns the latter
    through ``pprev``). Making a private mapping writable adds ``VM_ACCOUNT``; v4.15 never takes
    it away again, while newer kernels drop it from a private anonymous VMA that never had a page
    (so it can merge again with read-only neighbours; see :mod:`mmlab.version`). It tries
    :func:`vma_merge` first, otherwise splits off the parts outside the range
    (:func:`split_vma`, which can fail at the map-count limit). Then it rewrites the PTEs.
    With per-VMA locks the VMA is write-locked before its flags change (`mm/mprotect.c @
    v6.12.118 L676 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/mprotect.c#L676>`_).

    Kernel: ``mprotect_fixup`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L296>`_.
    """
    oldflags = vma.vm_flags
    if newflags == oldflags:
        return 0, vma
    if newflags & VM_WRITE:
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            newflags |= VM_ACCOUNT
    elif (
        version.has(mm.version, version.MPROTECT_UNACCOUNTS_UNFAULTED)
        and oldflags & VM_ACCOUNT
        and vma_is_anonymous(vma)
        and vma.anon_vma is None
    ):
        newflags &= ~VM_ACCOUNT

    pgoff = vma.vm_pgoff + ((start - vma.vm_start) >> PAGE_SHIFT)
    merged = vma_merge(mm, prev, start, end, newflags, vma.anon_vma, vma.vm_file, pgoff)
    if merged is not None:
        vma = merged
    else:
        if start != vma.vm_start:
            err = split_vma(mm, vma, start, 1)
            if err:
                return err, vma
        if end != vma.vm_end:
            err = split_vma(mm, vma, end, 0)
            if err:
                return err, vma
    if mm.per_vma_locks:  # vma_start_write: mm/mprotect.c @ v6.12.118 L676
        vma_start_write(vma)
    vma.vm_flags = newflags
    dirty_accountable = vma_wants_writenotify(vma, vma.vm_page_prot)
    vma_set_page_prot(vma)
    change_protection(vma, start, end, vma.vm_page_prot, dirty_accountable)
    if (oldflags & (VM_WRITE | VM_SHARED | VM_LOCKED)) == VM_LOCKED and newflags & VM_WRITE:
        populate_vma_page_range(vma, start, end, None)  # break COW now, not at the first write
    return 0, vma


def change_protection(
    vma: Vma, start: int, end: int, newprot: int, dirty_accountable: bool = False
) -> int:
    """Rewrite the present PTEs of ``[start, end)`` with the new protection; how many changed.

    Each entry keeps its frame, caching, special, accessed and dirty bits (``pte_modify``); with
    ``dirty_accountable`` a dirty entry is made writable at once (see
    :meth:`mmlab.pagetable.PageTable.change_protection`). Not modelled: NUMA hinting, the
    saved-write bit.

    Kernel: ``change_protection`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L281>`_.
    """
    return vma_mm(vma).pgd.change_protection(
        start,
        end,
        newprot,
        dirty_accountable=dirty_accountable,
        vma_softdirty=bool(vma.vm_flags & VM_SOFTDIRTY),
    )
