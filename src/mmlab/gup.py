"""Faulting pages in on behalf of a process: ``mm/gup.c`` @ v4.15, the populate path.

``mmap(MAP_POPULATE)`` and ``MAP_LOCKED`` end in ``mm_populate``: for every page of the range,
``__get_user_pages`` looks the page up in the page tables (``follow_page_mask``) and, where it
is missing (or read-only for a write), raises the fault a user access would have raised
(``faultin_page`` -> ``handle_mm_fault``). Private writable mappings are populated with write
faults, so their copy-on-write is broken up front; shared ones are only read.

Where the model simplifies: no ``get_user_pages`` with page references (``FOLL_GET``), no
mlock (``FOLL_MLOCK`` marks nothing), no ``mark_page_accessed``, no huge pages, no stack
expansion (``find_extend_vma`` is ``find_vma``); and populating stops after as many pages as the
machine has RAM frames (the kernel would go on, reclaiming or calling the OOM killer).

Kernel: `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c>`_.
"""

from __future__ import annotations

import errno

from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_RETRY_NOWAIT,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_WRITE,
    PAGE_SIZE,
    VM_EXEC,
    VM_FAULT_ERROR,
    VM_FAULT_HWPOISON,
    VM_FAULT_HWPOISON_LARGE,
    VM_FAULT_MAJOR,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_IO,
    VM_LOCKONFAULT,
    VM_MAYREAD,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
    is_cow_mapping,
)
from mmlab.errors import KernelBug
from mmlab.memory import vm_normal_page
from mmlab.memory_fault import handle_mm_fault
from mmlab.mm_types import MmStruct, Vma, vma_mm
from mmlab.mmap import find_vma
from mmlab.pagetable import pte_dirty, pte_present, pte_write
from mmlab.trace import traced
from mmlab.version import FAULT_ACCOUNTING_IN_CORE, has

__all__ = [
    "FOLL_COW",
    "FOLL_FORCE",
    "FOLL_GET",
    "FOLL_MLOCK",
    "FOLL_NOWAIT",
    "FOLL_POPULATE",
    "FOLL_REMOTE",
    "FOLL_TOUCH",
    "FOLL_TRIED",
    "FOLL_WRITE",
    "check_vma_flags",
    "faultin_page",
    "get_user_pages_populate",
    "mm_populate",
    "populate_vma_page_range",
    "vm_fault_to_errno",
]

# --- FOLL_* (include/linux/mm.h @ v4.15 L2422): how get_user_pages walks --------------------
FOLL_WRITE = 0x01
FOLL_TOUCH = 0x02
FOLL_GET = 0x04
FOLL_FORCE = 0x10
FOLL_NOWAIT = 0x20
FOLL_POPULATE = 0x40
FOLL_HWPOISON = 0x100
FOLL_TRIED = 0x800
FOLL_MLOCK = 0x1000
FOLL_REMOTE = 0x2000
FOLL_COW = 0x4000

#: ``-EHWPOISON`` (include/uapi/asm-generic/errno.h): memory page has hardware error.
EHWPOISON = 133


def vm_fault_to_errno(vm_fault: int, foll_flags: int) -> int:
    """The errno a failed fault means to get_user_pages: ``-ENOMEM``, ``-EFAULT`` or 0.

    Kernel: ``vm_fault_to_errno`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L2439>`_.
    """
    if vm_fault & VM_FAULT_OOM:
        return -errno.ENOMEM
    if vm_fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE):
        return -EHWPOISON if foll_flags & FOLL_HWPOISON else -errno.EFAULT
    if vm_fault & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV):
        return -errno.EFAULT
    return 0


def check_vma_flags(vma: Vma, gup_flags: int) -> int:
    """May get_user_pages touch this VMA this way? 0 or ``-EFAULT``.

    Never ``VM_IO``/``VM_PFNMAP`` (no struct pages to hand out). A write needs ``VM_WRITE``,
    or ``FOLL_FORCE`` on a COW mapping (the debugger's way to write to read-only text); a read
    needs ``VM_READ``, or ``FOLL_FORCE`` with ``VM_MAYREAD``.

    Kernel: ``check_vma_flags`` in `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L538>`_.
    """
    vm_flags = vma.vm_flags
    if vm_flags & (VM_IO | VM_PFNMAP):
        return -errno.EFAULT
    if gup_flags & FOLL_WRITE:
        if not vm_flags & VM_WRITE:
            if not gup_flags & FOLL_FORCE or not is_cow_mapping(vm_flags):
                return -errno.EFAULT
    elif not vm_flags & VM_READ:
        if not gup_flags & FOLL_FORCE or not vm_flags & VM_MAYREAD:
            return -errno.EFAULT
    return 0


def _follow_page(vma: Vma, address: int, foll_flags: int) -> int:
    """``follow_page_mask`` for the populate path: 1 page found, 0 fault needed, -EEXIST raw frame.

    A missing PTE, or a read-only one for a write (unless a forced write already broke COW:
    ``can_follow_write_pte``), needs a fault. A present PTE without a struct page that is not
    the zero page is a raw frame (``follow_pfn_pte``): nothing to fault in.
    """
    mm = vma_mm(vma)
    pte = mm.pgd.walk(address)
    if not pte_present(pte) or pte is None:
        return 0
    if foll_flags & FOLL_WRITE and not (
        pte_write(pte) or (foll_flags & FOLL_FORCE and foll_flags & FOLL_COW and pte_dirty(pte))
    ):
        return 0
    page = vm_normal_page(vma, address, pte)
    if page is None and not mm.physmem.is_zero_pfn(pte.pfn):
        return -errno.EEXIST
    return 1


@traced
def faultin_page(vma: Vma, address: int, foll_flags: int, nonblocking: list[int] | None) -> int:
    """Raise the fault a user access would have raised: 0, ``-EBUSY`` (retry) or ``-errno``.

    ``FOLL_WRITE`` becomes ``FAULT_FLAG_WRITE``; with ``nonblocking`` the fault may drop
    ``mmap_sem`` and ask for a retry (``FAULT_FLAG_ALLOW_RETRY``): then ``nonblocking[0]``
    becomes 0 and ``-EBUSY`` is returned. A major or minor fault is counted on the process
    (from v5.9 by ``handle_mm_fault`` itself, :data:`mmlab.version.FAULT_ACCOUNTING_IN_CORE`).
    (The kernel also sets ``FOLL_COW`` after a write fault broke COW in a VMA without
    ``VM_WRITE``; the populate path writes only where ``VM_WRITE`` is set, so it never needs it.)

    Kernel: ``faultin_page`` in `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L480>`_.
    """
    if (foll_flags & (FOLL_POPULATE | FOLL_MLOCK)) == FOLL_MLOCK:
        return -errno.ENOENT
    fault_flags = 0
    if foll_flags & FOLL_WRITE:
        fault_flags |= FAULT_FLAG_WRITE
    if foll_flags & FOLL_REMOTE:
        fault_flags |= FAULT_FLAG_REMOTE
    if nonblocking is not None:
        fault_flags |= FAULT_FLAG_ALLOW_RETRY
    if foll_flags & FOLL_NOWAIT:
        fault_flags |= FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_RETRY_NOWAIT
    if foll_flags & FOLL_TRIED:
        fault_flags |= FAULT_FLAG_TRIED
    mm = vma_mm(vma)
    ret = handle_mm_fault(vma, address, fault_flags)
    if ret & VM_FAULT_ERROR:
        err = vm_fault_to_errno(ret, foll_flags)
        if err:
            return err
        raise KernelBug(f"faultin_page: fault error {ret:#x} with no errno (BUG)")
    if not has(mm.version, FAULT_ACCOUNTING_IN_CORE):  # v5.9 on: handle_mm_fault counts
        if ret & VM_FAULT_MAJOR:
            mm.maj_flt += 1
        else:
            mm.min_flt += 1
    if ret & VM_FAULT_RETRY:
        if nonblocking is not None:
            nonblocking[0] = 0
        return -errno.EBUSY
    return 0


@traced
def get_user_pages_populate(
    mm: MmStruct, start: int, nr_pages: int, gup_flags: int, nonblocking: list[int] | None
) -> int:
    """``__get_user_pages`` without page references: how many pages are now in, or ``-errno``.

    Walks page by page: a new VMA is checked with :func:`check_vma_flags`; a page that
    ``follow_page`` does not find is faulted in (:func:`faultin_page`) and looked up again; a raw
    frame is skipped. A fault that fails ends the walk (with the count so far, or the error if
    nothing was done); a fault that dropped the lock ends it with the count so far.

    Kernel: ``__get_user_pages`` in `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L638>`_.
    """
    done = 0
    vma: Vma | None = None
    while nr_pages:
        if vma is None or start >= vma.vm_end:
            vma = find_vma(mm, start)  # find_extend_vma without stack expansion
            if vma is None or vma.vm_start > start or check_vma_flags(vma, gup_flags):
                return done or -errno.EFAULT
        while True:
            found = _follow_page(vma, start, gup_flags)
            if found:
                break
            ret = faultin_page(vma, start, gup_flags, nonblocking)
            if ret == 0:
                continue
            if ret == -errno.EBUSY:
                return done
            if ret == -errno.ENOENT:
                break
            return done or ret
        done += 1
        start += PAGE_SIZE
        nr_pages -= 1
    return done


@traced
def populate_vma_page_range(vma: Vma, start: int, end: int, nonblocking: list[int] | None) -> int:
    """Fault in ``[start, end)`` of ``vma``: how many pages, or ``-errno``.

    Private writable VMAs are populated with write faults (COW broken now); shared ones with
    reads, so that nothing is dirtied for nothing. ``FOLL_FORCE`` lets any VMA with some access
    be populated.

    Kernel: ``populate_vma_page_range`` in `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L1181>`_.
    """
    gup_flags = FOLL_TOUCH | FOLL_POPULATE | FOLL_MLOCK
    if vma.vm_flags & VM_LOCKONFAULT:
        gup_flags &= ~FOLL_POPULATE
    if (vma.vm_flags & (VM_WRITE | VM_SHARED)) == VM_WRITE:
        gup_flags |= FOLL_WRITE
    if vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
        gup_flags |= FOLL_FORCE
    return get_user_pages_populate(
        vma_mm(vma), start, (end - start) // PAGE_SIZE, gup_flags, nonblocking
    )


@traced
def mm_populate(mm: MmStruct, start: int, length: int) -> int:
    """Fault in every page of ``[start, start + length)`` now, ignoring errors; returns 0.

    ``__mm_populate(start, len, ignore_errors=1)``: takes ``mmap_sem`` for read, walks the
    VMAs of the range (skipping ``VM_IO``/``VM_PFNMAP`` ones) and populates each part with
    :func:`populate_vma_page_range`. A fault that dropped the lock makes it take the lock again
    and go on where it stopped; a failure moves on to the next VMA.

    Kernel: ``__mm_populate`` in `mm/gup.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L1227>`_.
    """
    ram = mm.physmem.ram_end_pfn - mm.physmem.ram_start_pfn
    end = start + min(length, ram * PAGE_SIZE)
    locked = [0]
    vma: Vma | None = None
    nstart = start
    while nstart < end:
        if not locked[0]:
            locked[0] = 1
            mm.mmap_sem.down_read()
            vma = find_vma(mm, nstart)
        elif vma is not None and nstart >= vma.vm_end:
            vma = mm.mm_rb.next(vma)
        if vma is None or vma.vm_start >= end:
            break
        nend = min(end, vma.vm_end)
        if vma.vm_flags & (VM_IO | VM_PFNMAP):
            nstart = nend
            continue
        nstart = max(nstart, vma.vm_start)
        ret = populate_vma_page_range(vma, nstart, nend, locked)
        if ret < 0:
            nstart = nend  # ignore_errors: continue at the next VMA
            continue
        nstart += ret * PAGE_SIZE
    if locked[0]:
        mm.mmap_sem.up_read()
    return 0
