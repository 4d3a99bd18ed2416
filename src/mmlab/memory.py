"""Putting PTEs in and taking them out: ``mm/memory.c`` @ v4.15, the half that is not faults.

Models ``vm_normal_page``, ``remap_pfn_range``, ``vm_insert_mixed``, ``vm_insert_pfn``,
``vm_insert_page`` (with ``insert_page``/``insert_pfn``), ``zap_page_range`` and
``print_bad_pte`` from `mm/memory.c <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_;
the fault handlers of the same file are :mod:`mmlab.memory_fault`.

**The vm_pgoff story.** A PTE that maps a frame without a ``struct page`` (flash, device
memory) must never have its refcount or mapcount touched. x86 (and arm64, and ARM with LPAE)
marks such PTEs with a spare software bit, ``_PAGE_SPECIAL``. A classic ARMv7 board, where
cramfs XIP lives, has no spare bit, so ``vm_normal_page`` has to *infer* specialness from the
VMA: in a ``VM_MIXEDMAP`` VMA a PTE is normal iff its pfn has a struct page; in a ``VM_PFNMAP``
VMA every PTE that follows the linear rule ``pfn == vm_pgoff + (addr - vm_start) / PAGE_SIZE``
is raw, and any other PTE must be an anonymous copy made by a COW fault. For that rule to work,
``remap_pfn_range`` stores the first pfn in ``vm_pgoff`` -- but only for COW (private,
may-write) mappings, the only ones that can contain copies, and only if the whole VMA is mapped,
because one ``vm_pgoff`` describes one run of frames starting at ``vm_start``. The price:
``vm_pgoff`` no longer is the file offset. ``/proc/PID/maps`` shows the physical address, a later
``filemap_fault`` would look up page "pfn + n" of the file (beyond EOF: SIGBUS), and
``split_vma`` gives the upper half "pfn + pages". (The comment above ``vm_normal_page`` in
mm/memory.c explains the same scheme.)

The machine's :attr:`~mmlab.system.System.have_pte_special` chooses the policy: True is x86-64
(the bit exists, as with ``__HAVE_ARCH_PTE_SPECIAL``), False is classic ARMv7 (``pte_mkspecial``
does nothing and the VMA rules above decide).

Where the model simplifies: no TLB gathering (pages are freed at once when zapped), no PAT
tracking (``track_pfn_*`` are no-ops), no rss counters, no mmu notifiers, no ``VM_SOFTDIRTY``
handling, no device-public pages; ``print_bad_pte`` writes to the system's ``dmesg``.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable

from mmlab.constants import (
    PAGE_ALIGN,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
    VM_IO,
    VM_MIXEDMAP,
    VM_PAT,
    VM_PFNMAP,
    VM_SEQ_READ,
    VM_WRITE,
    is_cow_mapping,
)
from mmlab.errors import KernelBug
from mmlab.fs_types import AddressSpace
from mmlab.mm_types import MmStruct, Vma, vma_mm
from mmlab.pagetable import (
    Pte,
    pfn_pte,
    pte_dirty,
    pte_mkdevmap,
    pte_mkdirty,
    pte_mkspecial,
    pte_mkwrite,
    pte_mkyoung,
    pte_none,
    pte_present,
    pte_special,
    pte_young,
)
from mmlab.pfn_t import PFN_DEV, PFN_MAP, pfn_t_devmap, pfn_t_to_pfn, phys_to_pfn_t
from mmlab.physmem import Page, PageAnon, mark_page_accessed, page_mapcount
from mmlab.rmap import page_add_file_rmap, page_remove_rmap
from mmlab.trace import traced

__all__ = [
    "PFN_DEV",
    "PFN_MAP",
    "arch_pte_mkspecial",
    "check_mm_invariants",
    "insert_page",
    "insert_pfn",
    "maybe_mkwrite",
    "mk_pte",
    "phys_to_pfn_t",
    "print_bad_pte",
    "remap_pfn_range",
    "unmap_single_vma",
    "vm_insert_mixed",
    "vm_insert_page",
    "vm_insert_pfn",
    "vm_normal_page",
    "vmf_insert_mixed",
    "zap_page_range",
]


# --- small helpers --------------------------------------------------------------------------
def print_bad_pte(vma: Vma, addr: int, pte: Pte | None, page: Page | None) -> None:
    """Log a PTE that makes no sense ("BUG: Bad page map in process ..."); does not oops.

    v4.15 prints three ``pr_alert`` lines, "BUG: Bad page map in process %s  pte:%08llx
    pmd:%08llx", "addr:%p vm_flags:%08lx anon_vma:%p mapping:%p index:%lx" and "file:%pD
    fault:%pf mmap:%pf readpage:%pf", then a stack dump, at most 60 reports a minute, and taints
    the kernel (``TAINT_BAD_PAGE``). The model writes one line to the machine's kernel log
    (:attr:`mmlab.system.System.dmesg`): the first two joined, without ``pmd`` and ``index``,
    the process called "model", the address in hex (v4.15's ``%p`` hashes it).

    Kernel: ``print_bad_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L721>`_.
    """
    val = 0 if pte is None else pte.val
    mapping = None if page is None else page.mapping
    vma_mm(vma).system.printk(
        f"BUG: Bad page map in process model  pte:{val:08x} addr:{addr:#x} "
        f"vm_flags:{vma.vm_flags:08x} anon_vma:{vma.anon_vma!r} mapping:{mapping!r}"
    )


def arch_pte_mkspecial(mm: MmStruct, pte: Pte) -> Pte:
    """``pte_mkspecial`` as this machine's architecture does it.

    x86 (``have_pte_special``) sets bit 9; classic ARMv7 has no such bit and returns the
    entry unchanged, leaving ``vm_normal_page`` to the VMA rules.

    Kernel: ``pte_mkspecial`` in `arch/arm/include/asm/pgtable-2level.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/arm/include/asm/pgtable-2level.h#L217>`_.
    """
    return pte_mkspecial(pte) if mm.system.have_pte_special else pte


def mk_pte(page: Page, prot: int) -> Pte:
    """A PTE mapping ``page`` with ``prot``.

    Kernel: ``mk_pte`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L737>`_.
    """
    return pfn_pte(page.pfn, prot)


def maybe_mkwrite(pte: Pte, vma: Vma) -> Pte:
    """Make the entry writable if the VMA allows writes.

    Kernel: ``maybe_mkwrite`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L681>`_.
    """
    return pte_mkwrite(pte) if vma.vm_flags & VM_WRITE else pte


# --- vm_normal_page ------------------------------------------------------------------------
@traced
def vm_normal_page(vma: Vma, addr: int, pte: Pte) -> Page | None:
    """The ``struct page`` behind a PTE, or ``None`` for a "special" mapping.

    With the special bit (x86): a PTE without it is normal; a special PTE gives ``None``
    (``vm_ops.find_special_page`` is asked first if present), and one in a VMA that is neither
    PFNMAP nor MIXEDMAP is a bad PTE unless it maps the zero page. Without it (classic ARMv7),
    in this order: ``VM_MIXEDMAP`` -> ``None`` unless ``pfn_valid``, and a valid frame's struct
    page at once, with no further test (so there even the zero page is normal);
    ``VM_PFNMAP`` -> special if the linear rule holds (``pfn == vm_pgoff + page offset in the
    VMA``) or if the VMA is not a COW mapping, otherwise on to the tests below (a COWed page);
    then, in any other VMA, the zero page is special.

    A PTE still normal after these rules (all but the ``VM_MIXEDMAP`` case) is checked only
    against ``highest_memmap_pfn``: above it, a bad PTE is logged and ``None`` returned; at or
    below it, its struct page is returned. (For a frame below that limit which has no struct
    page, the kernel would hand out a bogus pointer; the model's ``pfn_to_page`` raises
    :class:`~mmlab.errors.KernelBug` instead.) The model has no device-public memory (HMM), so
    the special-bit path never finds one of its pages. (``vm_normal_page`` itself is a macro
    around ``_vm_normal_page``: include/linux/mm.h L1253.)

    Kernel: ``_vm_normal_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L822>`_.
    """
    return _vm_normal_page(vma, addr, pte)


def _vm_normal_page(vma: Vma, addr: int, pte: Pte) -> Page | None:
    """:func:`vm_normal_page` without the trace, for the zap and invariant loops."""
    mm = vma_mm(vma)
    mem = mm.physmem
    pfn = pte.pfn
    if mm.system.have_pte_special:
        if pte_special(pte):
            if vma.vm_ops is not None and vma.vm_ops.find_special_page is not None:
                return vma.vm_ops.find_special_page(vma, addr)
            if vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP):
                return None
            if not mem.is_zero_pfn(pfn):
                print_bad_pte(vma, addr, pte, None)
            return None
    else:
        if vma.vm_flags & VM_MIXEDMAP:
            return mem.pfn_to_page(pfn) if mem.pfn_valid(pfn) else None
        if vma.vm_flags & VM_PFNMAP:
            if pfn == vma.vm_pgoff + ((addr - vma.vm_start) >> PAGE_SHIFT):
                return None
            if not is_cow_mapping(vma.vm_flags):
                return None
        if mem.is_zero_pfn(pfn):
            return None
    if pfn > mem.highest_memmap_pfn:  # check_pfn
        print_bad_pte(vma, addr, pte, None)
        return None
    return mem.pfn_to_page(pfn)


# --- inserting PTEs ---------------------------------------------------------------------------
@traced
def remap_pfn_range(vma: Vma, addr: int, pfn: int, size: int, prot: int) -> int:
    """Map ``size`` bytes of raw frames ``pfn``, ``pfn + 1``, ... at ``addr``.

    1. In a COW mapping (``is_cow_mapping``: private, may become writable — every MAP_PRIVATE
       file mapping) the range must be the whole VMA, else ``-EINVAL`` and nothing changes;
       then ``vma.vm_pgoff = pfn`` so that ``vm_normal_page``'s linear rule can recognise the
       raw frames (see the module docstring). A shared mapping may be remapped partially and
       keeps its ``vm_pgoff``.
    2. On x86 (``System.pat``) a range that is the whole VMA marks it ``VM_PAT``
       (``track_pfn_remap``; memory types are not modelled). ``VM_IO | VM_PFNMAP |
       VM_DONTEXPAND | VM_DONTDUMP`` are set.
    3. Every PTE in the range must be empty — the kernel ``BUG_ON``s otherwise (the model raises
       :class:`KernelBug`, after having written the PTEs before it, as the kernel would) — and
       becomes ``pte_mkspecial(pfn_pte(pfn + i, prot))`` (no special bit on classic ARM).
    4. A page-table allocation failure returns ``-ENOMEM``; PTEs already written, the flags and
       the new ``vm_pgoff`` stay (mmap's error path unmaps the VMA).

    The model skips PAT tracking (``track_pfn_remap`` always succeeds) and cache flushing.
    Must be called with the mm's mmap_sem held (the kernel-doc says so; not checked).

    Kernel: ``remap_pfn_range`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2045>`_.
    """
    end = addr + PAGE_ALIGN(size)
    if is_cow_mapping(vma.vm_flags):
        if addr != vma.vm_start or end != vma.vm_end:
            return -errno.EINVAL
        vma.vm_pgoff = pfn
    mm = vma_mm(vma)
    if mm.system.pat and addr == vma.vm_start and end == vma.vm_end:
        vma.vm_flags |= VM_PAT  # track_pfn_remap (arch/x86/mm/pat.c)
    vma.vm_flags |= VM_IO | VM_PFNMAP | VM_DONTEXPAND | VM_DONTDUMP
    if addr >= end:
        raise KernelBug(f"remap_pfn_range: BUG_ON(addr >= end) with addr={addr:#x} size={size}")
    pgd = mm.pgd
    while addr != end:
        old = pgd.walk(addr)
        if not pte_none(old):
            raise KernelBug(
                f"remap_pfn_range: BUG_ON(!pte_none(*pte)) at {addr:#x}: {old!r} already there"
            )
        err = pgd.set_pte_at(addr, arch_pte_mkspecial(mm, pfn_pte(pfn, prot)))
        if err:
            return err
        pfn += 1
        addr += PAGE_SIZE
    return 0


def insert_page(vma: Vma, addr: int, page: Page, prot: int) -> int:
    """Map a refcounted page: 0, ``-EINVAL`` (anonymous
    page), ``-ENOMEM`` (no page table) or ``-EBUSY`` (PTE already populated).

    Kernel: ``insert_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1703>`_.
    """
    if PageAnon(page):
        return -errno.EINVAL
    mm = vma_mm(vma)
    if mm.pgd.pte_alloc(addr):
        return -errno.ENOMEM
    if not pte_none(mm.pgd.walk(addr)):
        return -errno.EBUSY
    mm.physmem.get_page(page)
    page_add_file_rmap(page)
    mm.pgd.set_pte_at(addr, mk_pte(page, prot))
    return 0


def insert_pfn(vma: Vma, addr: int, pfn: int, prot: int, mkwrite: bool = False) -> int:
    """Map a raw frame with a special PTE: 0, ``-ENOMEM`` or ``-EBUSY``.

    ``pfn`` is a ``pfn_t``. A ``PFN_DEV|PFN_MAP`` frame gets a devmap PTE (only where the
    architecture has the bit: x86-64, not classic ARM). With ``mkwrite`` (DAX write faults) the
    entry is made young, dirty and writable (if the VMA allows), and an existing entry for the
    same frame is upgraded that way instead of refused; another frame there is refused.

    Kernel: ``insert_pfn`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1781>`_.
    """
    mm = vma_mm(vma)
    if mm.pgd.pte_alloc(addr):
        return -errno.ENOMEM
    old = mm.pgd.walk(addr)
    if not pte_none(old):
        if not mkwrite or old is None or old.pfn != pfn_t_to_pfn(pfn):
            return -errno.EBUSY
        entry = old
    elif _pte_devmap_supported(mm) and pfn_t_devmap(pfn):
        entry = pte_mkdevmap(pfn_pte(pfn_t_to_pfn(pfn), prot))
    else:
        entry = arch_pte_mkspecial(mm, pfn_pte(pfn_t_to_pfn(pfn), prot))
    if mkwrite:
        entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(entry)), vma)
    mm.pgd.set_pte_at(addr, entry)
    return 0


def _pte_devmap_supported(mm: MmStruct) -> bool:
    """``__HAVE_ARCH_PTE_DEVMAP``: x86-64 has the bit; classic ARM (no special bit) has not,
    so there ``pfn_t_devmap`` is always false."""
    return mm.system.have_pte_special


@traced
def vm_insert_mixed(vma: Vma, addr: int, pfn: int) -> int:
    """Insert one frame into a ``VM_MIXEDMAP`` VMA (what merged cramfs uses for partial XIP).

    ``__vm_insert_mixed`` with ``mkwrite`` false. ``pfn`` is a ``pfn_t`` (see
    :func:`phys_to_pfn_t`) or a plain frame number.

    - The VMA must have ``VM_MIXEDMAP`` (``BUG_ON``: :class:`KernelBug`).
    - ``addr`` outside ``[vm_start, vm_end)`` → ``-EFAULT``.
    - Without a PTE special bit (classic ARM), a frame that has a struct page is inserted as a
      refcounted normal page (``insert_page``), because ``vm_normal_page`` will treat it as one.
    - Otherwise (x86 for every frame, ARM for frames without struct page, e.g. flash) a special
      PTE is installed (``insert_pfn``).
    - A populated PTE gives ``-EBUSY``; no page table → ``-ENOMEM``.

    No COW restriction and no ``vm_pgoff`` change: this is why merged cramfs can map part of a
    MAP_PRIVATE VMA directly and leave the rest to ``filemap_fault``.

    Kernel: ``vm_insert_mixed`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1933>`_.
    """
    if not vma.vm_flags & VM_MIXEDMAP:
        raise KernelBug("vm_insert_mixed: BUG_ON(!(vma->vm_flags & VM_MIXEDMAP))")
    if addr < vma.vm_start or addr >= vma.vm_end:
        return -errno.EFAULT
    mm = vma_mm(vma)
    prot = vma.vm_page_prot
    plain = pfn_t_to_pfn(pfn)
    devmap = _pte_devmap_supported(mm) and pfn_t_devmap(pfn)
    if not mm.system.have_pte_special and not devmap and mm.physmem.pfn_valid(plain):
        return insert_page(vma, addr, mm.physmem.pfn_to_page(plain), prot)
    return insert_pfn(vma, addr, pfn, prot)


@traced
def vmf_insert_mixed(vma: Vma, addr: int, pfn: int) -> int:
    """:func:`vm_insert_mixed` as v4.20 on has it: it answers with ``VM_FAULT_*`` bits.

    ``VM_FAULT_NOPAGE`` when the frame is mapped (or the PTE was already populated: another
    thread got there first, and this is not an error any more); ``VM_FAULT_SIGBUS`` for an
    address outside the VMA, or a VMA without ``VM_MIXEDMAP`` and a frame that is not device
    memory (``vm_mixed_ok``, where v4.15 had a ``BUG_ON``); ``VM_FAULT_OOM`` when no page table
    could be allocated. Callers outside a fault handler, such as cramfs's ``->mmap``, turn an
    error into an errno with ``vm_fault_to_errno``. The frame is still a ``pfn_t`` in 6.12
    (``phys_to_pfn_t``); from v6.17 it is a plain frame number (see the chapter on the 2025
    cramfs fix).

    Kernel: ``vmf_insert_mixed`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L2521>`_.
    """
    if not (vma.vm_flags & VM_MIXEDMAP or pfn_t_devmap(pfn)):  # vm_mixed_ok
        return VM_FAULT_SIGBUS
    if addr < vma.vm_start or addr >= vma.vm_end:
        return VM_FAULT_SIGBUS
    mm = vma_mm(vma)
    plain = pfn_t_to_pfn(pfn)
    if not mm.system.have_pte_special and not pfn_t_devmap(pfn) and mm.physmem.pfn_valid(plain):
        err = insert_page(vma, addr, mm.physmem.pfn_to_page(plain), vma.vm_page_prot)
    else:
        err = insert_pfn(vma, addr, pfn, vma.vm_page_prot)
    if err == -errno.ENOMEM:
        return VM_FAULT_OOM
    if err < 0 and err != -errno.EBUSY:
        return VM_FAULT_SIGBUS
    return VM_FAULT_NOPAGE


@traced
def vm_insert_pfn(vma: Vma, addr: int, pfn: int) -> int:
    """Insert one raw frame (``vm_insert_pfn``, mm/memory.c L1850, through ``vm_insert_pfn_prot``).

    ``BUG``s (:class:`KernelBug`) unless exactly one of VM_PFNMAP/VM_MIXEDMAP is set, on a
    VM_PFNMAP COW mapping, and on a frame with a struct page in a VM_MIXEDMAP VMA.
    ``-EFAULT`` outside the VMA, ``-EBUSY`` if the PTE is populated.

    Kernel: ``vm_insert_pfn`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1850>`_.
    """
    flags = vma.vm_flags
    if not flags & (VM_PFNMAP | VM_MIXEDMAP):
        raise KernelBug("vm_insert_pfn: BUG_ON(!(vm_flags & (VM_PFNMAP|VM_MIXEDMAP)))")
    if (flags & (VM_PFNMAP | VM_MIXEDMAP)) == (VM_PFNMAP | VM_MIXEDMAP):
        raise KernelBug("vm_insert_pfn: BUG_ON(both VM_PFNMAP and VM_MIXEDMAP)")
    if flags & VM_PFNMAP and is_cow_mapping(flags):
        raise KernelBug("vm_insert_pfn: BUG_ON(VM_PFNMAP in a COW mapping)")
    if flags & VM_MIXEDMAP and vma_mm(vma).physmem.pfn_valid(pfn):
        raise KernelBug("vm_insert_pfn: BUG_ON(VM_MIXEDMAP && pfn_valid(pfn))")
    if addr < vma.vm_start or addr >= vma.vm_end:
        return -errno.EFAULT
    return insert_pfn(vma, addr, pfn | PFN_DEV, vma.vm_page_prot)


@traced
def vm_insert_page(vma: Vma, addr: int, page: Page) -> int:
    """Insert a single page with a struct page.

    ``-EFAULT`` outside the VMA, ``-EINVAL`` for a page with no references or an anonymous
    page. The first call on a VMA sets ``VM_MIXEDMAP``, which needs ``mmap_sem`` held for write
    (the kernel ``BUG``s if a read trylock succeeds) and no ``VM_PFNMAP``.

    Kernel: ``vm_insert_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1765>`_.
    """
    if addr < vma.vm_start or addr >= vma.vm_end:
        return -errno.EFAULT
    if page._refcount <= 0:
        return -errno.EINVAL
    if not vma.vm_flags & VM_MIXEDMAP:
        if vma_mm(vma).mmap_sem.down_read_trylock():
            raise KernelBug("vm_insert_page: BUG_ON(down_read_trylock(&mm->mmap_sem))")
        if vma.vm_flags & VM_PFNMAP:
            raise KernelBug("vm_insert_page: BUG_ON(vma->vm_flags & VM_PFNMAP)")
        vma.vm_flags |= VM_MIXEDMAP
    return insert_page(vma, addr, page, vma.vm_page_prot)


# --- removing PTEs ----------------------------------------------------------------------------
def _zap_pte_range(vma: Vma, start: int, end: int) -> None:
    mm = vma_mm(vma)
    pgd = mm.pgd
    mem = mm.physmem
    for addr, pte in list(pgd.range(start, end)):
        if not pte_present(pte):
            pgd.pte_clear(addr)  # swap/migration entries are not modelled
            continue
        page = _vm_normal_page(vma, addr, pte)
        pgd.pte_clear(addr)
        if page is None:
            continue
        if not PageAnon(page):
            if pte_dirty(pte):
                page.flags.add("PG_dirty")
            if pte_young(pte) and not vma.vm_flags & VM_SEQ_READ:
                mark_page_accessed(page)
        page_remove_rmap(page)
        if page_mapcount(page) < 0:
            print_bad_pte(vma, addr, pte, page)
            page._mapcount = -1
        mem.put_page(page)


@traced
def unmap_single_vma(vma: Vma, start_addr: int, end_addr: int) -> None:
    """Zap the part of ``[start_addr, end_addr)`` that lies in ``vma`` (mm/memory.c).

    ``unmap_single_vma`` → ``unmap_page_range`` → ``zap_pte_range``: each present PTE is cleared; if
    ``vm_normal_page`` finds a struct page, its mapcount and refcount drop (the page is freed
    when nothing else holds it; a dirty PTE marks a file page dirty, a young one referenced).
    Special/raw PTEs are just cleared: their frames are not the VM's business.

    Kernel: ``unmap_single_vma`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1515>`_.
    """
    start = max(vma.vm_start, start_addr)
    if start >= vma.vm_end:
        return
    end = min(vma.vm_end, end_addr)
    if end <= vma.vm_start:
        return
    if start != end:
        _zap_pte_range(vma, start, end)


@traced
def zap_page_range(vma: Vma, start: int, size: int) -> None:
    """Remove the user pages in ``[start, start + size)``.

    Like the kernel, it walks ``vma`` and the VMAs after it (found by address at or above
    ``vma.vm_end``) while they start below the end of the range, and calls
    :func:`unmap_single_vma` for each. A VMA already removed from ``mm.vmas`` is only zapped if
    it is the one passed in: call this once per detached VMA. Page tables are not freed here
    (``free_pgtables`` does that).

    Kernel: ``zap_page_range`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1596>`_.
    """
    end = start + size
    unmap_single_vma(vma, start, end)
    mm_rb = vma_mm(vma).mm_rb
    pos = vma.vm_end
    while pos < end:
        nxt = mm_rb.find(pos)  # the next VMA (vma->vm_next), found by address
        if nxt is None or nxt.vm_start >= end:
            break
        if nxt is not vma:
            unmap_single_vma(nxt, start, end)
        pos = nxt.vm_end


# --- invariants ------------------------------------------------------------------------------
def check_mm_invariants(
    *mms: MmStruct, extra_cached: Iterable[Page] = (), extra_refs: dict[int, int] | None = None
) -> list[str]:
    """Check page counts against the page tables of ``mms`` (which share one System).

    Collects, over all the given mms, how many PTEs map each *normal* page (by
    :func:`vm_normal_page`'s rules for the VMA holding the PTE) and every page a page cache
    holds (plus ``extra_cached``), and hands them to
    :meth:`mmlab.physmem.PhysMem.check_refcounts` (``extra_refs``: pfn -> references the caller
    knows it holds). Also reports PTEs outside every VMA, special PTEs (x86 policy) in VMAs that
    are neither PFNMAP nor MIXEDMAP (the zero page excepted), page-cache entries whose page says
    otherwise, and a held mmap_sem. Returns the list of problems; empty means consistent.

    Model helper: no kernel counterpart (``CONFIG_DEBUG_VM`` checks some of this piecemeal).
    """
    problems: list[str] = []
    if not mms:
        return problems
    system = mms[0].system
    mem = system.physmem
    mapped: dict[int, int] = {}
    mapped_files: dict[int, AddressSpace] = {}
    for mm in mms:
        if mm.system is not system:
            problems.append("mms do not share one System")
            continue
        sem = mm.mmap_sem
        if sem.readers or sem.writer:
            problems.append(f"mmap_sem still held: readers={sem.readers} writer={sem.writer}")
        covered = 0
        for vma in mm.vmas:
            if vma.vm_file is not None:
                mapping = vma.vm_file.f_mapping
                mapped_files[id(mapping)] = mapping
            for addr, pte in mm.pgd.range(vma.vm_start, vma.vm_end):
                covered += 1
                if (
                    system.have_pte_special
                    and pte_special(pte)
                    and not vma.vm_flags & (VM_PFNMAP | VM_MIXEDMAP)
                    and not mem.is_zero_pfn(pte.pfn)
                ):
                    problems.append(f"special PTE {pte!r} at {addr:#x} in an ordinary VMA")
                page = _vm_normal_page(vma, addr, pte)
                if page is not None:
                    mapped[page.pfn] = mapped.get(page.pfn, 0) + 1
        if covered != mm.pgd.nr_ptes_mapped:
            stray = mm.pgd.nr_ptes_mapped - covered
            problems.append(f"{stray} PTE(s) outside every VMA")
    for mapping in mapped_files.values():
        for index, page in mapping.pages.items():
            if page.index != index or page.mapping is not mapping:
                problems.append(f"{page!r} cached at index {index} of the wrong mapping/index")
    cached = [*extra_cached, *(p for p in mem.allocated_pages() if _in_page_cache(p))]
    problems += mem.check_refcounts(mapped, cached, extra_refs)
    return problems


def _in_page_cache(page: Page) -> bool:
    mapping = page.mapping
    return isinstance(mapping, AddressSpace) and mapping.pages.get(page.index) is page
