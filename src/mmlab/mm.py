"""VMAs and address spaces: ``vm_area_struct``, ``mm_struct``, and mmap/munmap/mprotect.

Models, at Linux v4.15:

- the structures in `include/linux/mm_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L280>`_;
- ``find_vma``, ``split_vma``, ``vma_merge``, ``do_mmap``, ``mmap_region``, ``do_munmap`` in
  `mm/mmap.c <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c>`_;
- ``do_mprotect_pkey`` and ``mprotect_fixup`` in
  `mm/mprotect.c <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L296>`_.

Kernel-internal functions return what the kernel returns (0 or ``-errno``); the user-level calls
:meth:`MM.mmap`, :meth:`MM.munmap` and :meth:`MM.mprotect` behave like the system calls: they
return an address or ``None`` and raise :class:`OSError` with the kernel's errno.

Where the model simplifies: one page size, no NUMA policies, no userfaultfd, no mlock
accounting or RLIMIT checks, no commit accounting (``VM_ACCOUNT`` is set and kept exactly as the
kernel does, but memory is never refused for it), no fork (so every ``anon_vma`` chain is a
single link), no stack guard gap, no address randomisation. Behaviour that differs between v4.15
and the kernel the tests run on is switched on ``MM.version`` (see :mod:`mmlab.version`).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from mmlab import constants as _constants
from mmlab import version as _version
from mmlab.constants import *  # noqa: F403 - mmlab.mm re-exports every constant
from mmlab.constants import (
    DEFAULT_MAX_MAP_COUNT,
    LEGACY_MAP_MASK,
    MAP_ANONYMOUS,
    MAP_DENYWRITE,
    MAP_EXECUTABLE,
    MAP_FIXED,
    MAP_HUGETLB,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_TYPE,
    MMAP_MIN_ADDR,
    PAGE_ALIGN,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_GROWSDOWN,
    PROT_GROWSUP,
    PROT_READ,
    PROT_SEM,
    PROT_WRITE,
    TASK_SIZE,
    VM_ACCOUNT,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_GROWSUP,
    VM_HUGETLB,
    VM_LOCKED,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_NORESERVE,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_SPECIAL,
    VM_WRITE,
    calc_vm_flag_bits,
    calc_vm_prot_bits,
    offset_in_page,
)
from mmlab.physmem import AnonVma
from mmlab.rwsem import KernelBug, RwSemaphore, WouldSleep
from mmlab.trace import traced
from mmlab.vmatree import VmaTree

__all__ = [n for n in vars(_constants) if not n.startswith("_") and n != "annotations"] + [
    "AnonVma",
    "KernelBug",
    "MM",
    "RwSemaphore",
    "Vma",
    "VmOperations",
    "WouldSleep",
    "anon_vma_prepare",
    "do_mmap",
    "do_mprotect",
    "do_munmap",
    "find_vma",
    "find_vma_prev",
    "get_unmapped_area",
    "linear_page_index",
    "mmap_region",
    "mprotect_fixup",
    "split_vma",
    "vm_get_page_prot",
    "vma_is_anonymous",
    "vma_merge",
    "vma_pages",
]

#: Where top-down allocation starts (``mm->mmap_base``); fixed here: the model has no ASLR.
DEFAULT_MMAP_BASE = 0x7F0000000000


@dataclass(eq=False)
class VmOperations:
    """``struct vm_operations_struct`` (include/linux/mm.h @ v4.15 L377).

    Each member is optional. ``fault(vmf) -> int`` returns VM_FAULT_* bits; ``split(vma, addr)``
    may refuse a split with ``-errno``; a VMA with ``close`` is never merged.

    Source: `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L377>`_.
    """

    open: Callable[[Vma], None] | None = None
    close: Callable[[Vma], None] | None = None
    split: Callable[[Vma, int], int] | None = None
    fault: Callable[[Any], int] | None = None
    map_pages: Callable[[Any, int, int], None] | None = None
    page_mkwrite: Callable[[Any], int] | None = None
    pfn_mkwrite: Callable[[Any], int] | None = None
    name: Callable[[Vma], str | None] | None = None
    label: str = "vm_ops"

    def __repr__(self) -> str:
        return f"<{self.label}>"


@dataclass(eq=False)
class Vma:
    """``struct vm_area_struct``: one contiguous range of an address space with one set of rules.

    ``vm_end`` is exclusive. ``vm_pgoff`` is the offset of ``vm_start`` in the file, in pages;
    for private anonymous VMAs it is ``vm_start >> PAGE_SHIFT``; after ``remap_pfn_range`` on a
    COW mapping it holds the first page frame number instead (the story of chapter 6).
    ``vm_ops is None`` means anonymous memory, exactly as ``vma_is_anonymous()`` tests.

    Source: `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L280>`_.
    """

    vm_start: int
    vm_end: int
    vm_flags: int = 0
    vm_pgoff: int = 0
    vm_file: Any = None
    vm_ops: VmOperations | None = None
    vm_private_data: Any = None
    vm_page_prot: int = 0
    vm_mm: MM | None = None
    anon_vma: AnonVma | None = None

    def __repr__(self) -> str:
        perms = "".join(
            c if self.vm_flags & bit else "-"
            for c, bit in (("r", VM_READ), ("w", VM_WRITE), ("x", VM_EXEC))
        ) + ("s" if self.vm_flags & VM_MAYSHARE else "p")
        name = f" {self.vm_file.f_path}" if self.vm_file is not None else ""
        return (
            f"Vma({self.vm_start:#x}-{self.vm_end:#x} {perms} pgoff={self.vm_pgoff:#x} "
            f"flags={self.vm_flags:#x}{name})"
        )

    @property
    def vm_next(self) -> Vma | None:
        """The next VMA in address order (a list pointer at v4.15, gone since v6.1)."""
        return self.vm_mm.mm_rb.next(self) if self.vm_mm is not None else None

    @property
    def vm_prev(self) -> Vma | None:
        """The previous VMA in address order."""
        return self.vm_mm.mm_rb.prev(self) if self.vm_mm is not None else None

    def __contains__(self, addr: int) -> bool:
        return self.vm_start <= addr < self.vm_end


def vma_pages(vma: Vma) -> int:
    """Number of pages in ``vma`` (``vma_pages``, include/linux/mm.h @ v4.15 L2360).

    Source: `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L2360>`_.
    """
    return (vma.vm_end - vma.vm_start) >> PAGE_SHIFT


def linear_page_index(vma: Vma, address: int) -> int:
    """The file page index that ``address`` maps, computed from ``vm_pgoff``.

    ``linear_page_index`` (include/linux/pagemap.h @ v4.15 L453). This is how a fault address
    becomes ``vmf->pgoff``: it trusts ``vm_pgoff`` to be a file offset, which is exactly what
    ``remap_pfn_range`` breaks.

    Source: `include/linux/pagemap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pagemap.h#L453>`_.
    """
    return ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff


def vma_is_anonymous(vma: Vma) -> bool:
    """True when ``vma`` has no ``vm_ops`` (``vma_is_anonymous``, mm.h @ v4.15 L1471).

    Source: `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1471>`_.
    """
    return vma.vm_ops is None


def vm_get_page_prot(vm_flags: int) -> int:
    """The PTE protection bits for ``vm_flags`` (``vm_get_page_prot``, mm/mmap.c @ v4.15).

    Uses x86's ``protection_map`` (arch/x86/include/asm/pgtable_types.h): a private writable
    mapping gets read-only PTEs (the first write faults and copies: COW); no ``VM_EXEC`` sets NX;
    no access at all gives ``PAGE_NONE`` (not present to the MMU).

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c>`_.
    """
    from mmlab import pagetable as pt

    r, w, x, shared = (
        vm_flags & VM_READ,
        vm_flags & VM_WRITE,
        vm_flags & VM_EXEC,
        vm_flags & VM_SHARED,
    )
    if not (r or w or x):
        return getattr(pt, "_PAGE_PROTNONE", 1 << 8) | pt._PAGE_ACCESSED
    prot = pt._PAGE_PRESENT | pt._PAGE_USER | pt._PAGE_ACCESSED
    if w and shared:
        prot |= pt._PAGE_RW
    if not x:
        prot |= pt._PAGE_NX
    return prot


def _vma_set_page_prot(vma: Vma) -> None:
    """``vma_set_page_prot`` (mm/mmap.c): recompute ``vm_page_prot`` after a flags change.

    The write-notify refinement (clearing write for shared mappings whose pages need dirty
    tracking) is not modelled.
    """
    vma.vm_page_prot = vm_get_page_prot(vma.vm_flags)


class MM:
    """``struct mm_struct``: one process's address space.

    Holds the VMAs (``mm_rb`` with ``vmas``/``map_count``), the mmap lock ``mmap_sem`` (an
    :class:`~mmlab.rwsem.RwSemaphore`; ``mmap_lock`` is its post-v5.8 name), the page table
    ``pgd``, the physical memory the faults draw from, and fault counters.

    ``version`` selects behaviour where kernels differ (default v4.15). ``have_pte_special``
    chooses the architecture: True for x86-64 (a software "special" PTE bit), False for a classic
    ARMv7 board, where ``vm_normal_page`` must use the VMA-flag rules.

    Source: `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L356>`_.
    """

    def __init__(
        self,
        *,
        version: tuple[int, int] = _version.DEFAULT_VERSION,
        physmem: Any = None,
        max_map_count: int = DEFAULT_MAX_MAP_COUNT,
        mmap_base: int = DEFAULT_MMAP_BASE,
        task_size: int = TASK_SIZE,
        have_pte_special: bool = True,
        soft_dirty: bool = True,
    ) -> None:
        from mmlab import pagetable
        from mmlab import physmem as physmem_module

        self.version = tuple(version)
        self.mm_rb = VmaTree()
        self.mmap_sem = RwSemaphore(self)
        self.pgd = pagetable.PageTable()
        self.physmem = physmem if physmem is not None else physmem_module.PhysMem()
        self.max_map_count = max_map_count
        self.mmap_base = mmap_base
        self.task_size = task_size
        self.have_pte_special = have_pte_special
        self.soft_dirty = soft_dirty
        self.def_flags = 0
        self.start_brk = self.brk = self.start_stack = 0
        self.maj_flt = 0
        self.min_flt = 0

    def __repr__(self) -> str:
        return (
            f"<MM v{self.version[0]}.{self.version[1]}: {self.map_count} VMAs, {self.mmap_sem!r}>"
        )

    # --- views -----------------------------------------------------------------------------
    @property
    def vmas(self) -> list[Vma]:
        """The VMAs in address order (a copy: the kernel's ``mm->mmap`` list walked)."""
        return list(self.mm_rb)

    @property
    def map_count(self) -> int:
        """Number of VMAs (``mm->map_count``)."""
        return len(self.mm_rb)

    @property
    def mmap_lock(self) -> RwSemaphore:
        """The lock under its v5.8+ name."""
        return self.mmap_sem

    def __iter__(self) -> Iterator[Vma]:
        return iter(self.mm_rb)

    def find_vma(self, addr: int) -> Vma | None:
        """Shorthand for :func:`find_vma`."""
        return find_vma(self, addr)

    # --- system calls ------------------------------------------------------------------------
    def mmap(
        self,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        file: Any = None,
        offset: int = 0,
    ) -> int:
        """mmap(2): map ``length`` bytes; returns the address or raises ``OSError``.

        Models ``sys_mmap`` (arch/x86/kernel/sys_x86_64.c) → ``sys_mmap_pgoff`` →
        ``vm_mmap_pgoff`` (mm/util.c) → :func:`do_mmap` with ``mmap_sem`` held for write, then
        ``mm_populate`` for ``MAP_POPULATE``/``MAP_LOCKED``. ``file`` stands for the fd: it is
        ignored with ``MAP_ANONYMOUS`` and required (``EBADF``) without.
        """
        addr, length, offset = _ulong(addr), _ulong(length), _ulong(offset)
        prot, flags = _uint(prot), _uint(flags)
        if offset & ~PAGE_MASK:
            _raise(-errno.EINVAL, "mmap")
        if not flags & MAP_ANONYMOUS:
            if file is None:
                _raise(-errno.EBADF, "mmap")
        else:
            file = None
            if flags & MAP_HUGETLB:
                _raise(-errno.EINVAL, "mmap (hugetlbfs is not modelled)")
        flags &= ~(MAP_EXECUTABLE | MAP_DENYWRITE)
        if self.mmap_sem.down_write_killable():
            _raise(-errno.EINTR, "mmap")
        try:
            ret, populate = do_mmap(self, file, addr, length, prot, flags, 0, offset >> PAGE_SHIFT)
        finally:
            self.mmap_sem.up_write()
        if ret < 0:
            _raise(ret, "mmap")
        if populate:
            _mm_populate(self, ret, populate)
        return ret

    def munmap(self, addr: int, length: int) -> None:
        """munmap(2): models ``vm_munmap`` → :func:`do_munmap` under ``mmap_sem`` for write."""
        addr, length = _ulong(addr), _ulong(length)
        if self.mmap_sem.down_write_killable():
            _raise(-errno.EINTR, "munmap")
        try:
            ret = do_munmap(self, addr, length)
        finally:
            self.mmap_sem.up_write()
        if ret:
            _raise(ret, "munmap")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2): ``do_mprotect_pkey`` (mm/mprotect.c @ v4.15); see :func:`do_mprotect`.

        Like the kernel, a failure part-way leaves the VMAs already changed as they are.
        """
        ret = do_mprotect(self, _ulong(addr), _ulong(length), _uint(prot))
        if ret:
            _raise(ret, "mprotect")


def _ulong(value: int) -> int:
    """A system call argument as the kernel sees an ``unsigned long`` (x86-64: 64 bits)."""
    if not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value & ((1 << 64) - 1)


def _uint(value: int) -> int:
    """A system call argument as the kernel sees an ``int`` flag word (32 bits)."""
    return _ulong(value) & 0xFFFFFFFF


def _raise(ret: int, what: str) -> None:
    code = -ret
    raise OSError(code, f"{what}: {os.strerror(code)} ({errno.errorcode.get(code, code)})")


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------


@traced
def find_vma(mm: MM, addr: int) -> Vma | None:
    """The first VMA with ``vm_end > addr``, or None (``find_vma``, mm/mmap.c @ v4.15 L2131).

    The result does not necessarily contain ``addr``: it may start above it (``addr`` is then
    in the gap below it); callers check ``vma.vm_start <= addr`` themselves. The kernel first
    tries a per-thread cache, then walks the rbtree; the model does two binary searches.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """
    return mm.mm_rb.find(addr)


def find_vma_prev(mm: MM, addr: int) -> tuple[Vma | None, Vma | None]:
    """``find_vma`` plus the VMA before it (``find_vma_prev``, mm/mmap.c @ v4.15).

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c>`_.
    """
    vma = mm.mm_rb.find(addr)
    prev = mm.mm_rb.prev(vma) if vma is not None else mm.mm_rb.last()
    return vma, prev


def _overlaps(mm: MM, start: int, end: int) -> bool:
    vma = mm.mm_rb.find(start)
    return vma is not None and vma.vm_start < end


# ---------------------------------------------------------------------------------------------
# Splitting and merging
# ---------------------------------------------------------------------------------------------


def _copy_vma(vma: Vma) -> Vma:
    return Vma(
        vma.vm_start,
        vma.vm_end,
        vma.vm_flags,
        vma.vm_pgoff,
        vma.vm_file,
        vma.vm_ops,
        vma.vm_private_data,
        vma.vm_page_prot,
        vma.vm_mm,
        vma.anon_vma,
    )


@traced
def __split_vma(mm: MM, vma: Vma, addr: int, new_below: int) -> int:  # noqa: N807
    """Cut ``vma`` in two at ``addr`` without the map-count check (mm/mmap.c @ v4.15 L2552).

    A new struct is made as a copy of ``vma``. With ``new_below`` it takes the lower part
    ``[vm_start, addr)`` and ``vma`` keeps the upper part; without, ``vma`` keeps the lower part
    and the new struct takes ``[addr, vm_end)`` with ``vm_pgoff`` advanced by the pages below
    ``addr``, which assumes ``vm_pgoff`` is a linear file offset. Every other field (flags, ops,
    file, private data) is copied, and page tables are not touched.

    v4.15 does not check that ``addr`` lies strictly inside ``vma`` (callers must); the model
    returns ``-EINVAL`` there as v6.x's ``WARN_ON`` checks do, instead of corrupting the mm.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2552>`_.
    """
    if addr & ~PAGE_MASK or not vma.vm_start < addr < vma.vm_end:
        return -errno.EINVAL
    if vma.vm_ops is not None and vma.vm_ops.split is not None:
        err = vma.vm_ops.split(vma, addr)
        if err:
            return err
    new = _copy_vma(vma)
    pages_below = (addr - vma.vm_start) >> PAGE_SHIFT
    tree = mm.mm_rb
    if new_below:
        new.vm_end = addr
        tree.set_bounds(vma, addr, vma.vm_end)
        vma.vm_pgoff += pages_below
    else:
        new.vm_start = addr
        new.vm_pgoff += pages_below
        tree.set_bounds(vma, vma.vm_start, addr)
    tree.insert(new)
    if new.vm_ops is not None and new.vm_ops.open is not None:
        new.vm_ops.open(new)
    return 0


split_vma_nocheck = __split_vma


@traced
def split_vma(mm: MM, vma: Vma, addr: int, new_below: int) -> int:
    """Split ``vma`` at ``addr``; ``-ENOMEM`` at the map-count limit (mm/mmap.c @ v4.15 L2621).

    See :func:`__split_vma` for who keeps which half. Not exported to modules at v4.15, which
    is why the seed mail's fault-time split only links with cramfs built in.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2621>`_.
    """
    if mm.map_count >= mm.max_map_count:
        return -errno.ENOMEM
    return __split_vma(mm, vma, addr, new_below)


def _mergeable_vma(vma: Vma, file: Any, vm_flags: int) -> bool:
    """``is_mergeable_vma``: same flags but VM_SOFTDIRTY, same file, no ``close`` method."""
    if (vma.vm_flags ^ vm_flags) & ~VM_SOFTDIRTY:
        return False
    if vma.vm_file is not file:
        return False
    return not (vma.vm_ops is not None and vma.vm_ops.close is not None)


def _mergeable_anon_vma(a: AnonVma | None, b: AnonVma | None) -> bool:
    """``is_mergeable_anon_vma``: either side has none yet, or both share one.

    The kernel also requires a single-link ``anon_vma_chain`` when one side is NULL; without
    fork every chain in the model is a single link.
    """
    return a is None or b is None or a is b


def _can_merge_before(vma: Vma, vm_flags: int, anon_vma: Any, file: Any, pgoff: int) -> bool:
    """``can_vma_merge_before``: the new range ends where ``vma`` starts, in file order too."""
    return (
        _mergeable_vma(vma, file, vm_flags)
        and _mergeable_anon_vma(anon_vma, vma.anon_vma)
        and vma.vm_pgoff == pgoff
    )


def _can_merge_after(vma: Vma, vm_flags: int, anon_vma: Any, file: Any, pgoff: int) -> bool:
    """``can_vma_merge_after``: the new range starts where ``vma`` ends, in file order too."""
    return (
        _mergeable_vma(vma, file, vm_flags)
        and _mergeable_anon_vma(anon_vma, vma.anon_vma)
        and vma.vm_pgoff + vma_pages(vma) == pgoff
    )


def _absorb(mm: MM, keep: Vma, start: int, end: int, pgoff: int) -> None:
    """Make ``keep`` cover ``[start, end)``: the part of ``__vma_adjust`` the model needs.

    VMAs wholly inside the new range are removed (their ``anon_vma`` passes to ``keep``, as
    ``anon_vma_clone`` does); a VMA that overlaps the range's end is trimmed from below, one that
    overlaps its start is trimmed from above.
    """
    tree = mm.mm_rb
    for other in list(_vmas_in(mm, start, end)):
        if other is keep:
            continue
        if keep.anon_vma is None and other.anon_vma is not None:
            keep.anon_vma = other.anon_vma
        if other.vm_start >= start and other.vm_end <= end:
            tree.remove(other)
            if other.vm_ops is not None and other.vm_ops.close is not None:
                other.vm_ops.close(other)
        elif other.vm_start < start:
            tree.set_bounds(other, other.vm_start, start)
        else:
            other.vm_pgoff += (end - other.vm_start) >> PAGE_SHIFT
            tree.set_bounds(other, end, other.vm_end)
    keep.vm_pgoff = pgoff
    tree.set_bounds(keep, start, end)


def _vmas_in(mm: MM, start: int, end: int) -> Iterator[Vma]:
    vma = mm.mm_rb.find(start)
    while vma is not None and vma.vm_start < end:
        yield vma
        vma = mm.mm_rb.next(vma)


@traced
def vma_merge(
    mm: MM,
    prev: Vma | None,
    addr: int,
    end: int,
    vm_flags: int,
    anon_vma: AnonVma | None,
    file: Any,
    pgoff: int,
) -> Vma | None:
    """Try to extend a neighbour over ``[addr, end)`` instead of making a new VMA.

    ``vma_merge`` (mm/mmap.c @ v4.15 L1099). ``prev`` is the VMA before the range (or the VMA
    the range starts inside, when mprotect changes the tail of a VMA). The range can join
    ``prev`` if it starts where ``prev`` ends, and/or the VMA after it (``next``) if it ends
    where ``next`` starts; "join" requires equal flags (but ``VM_SOFTDIRTY``), the same file,
    contiguous file offsets, compatible ``anon_vma``, and no ``close`` method. ``VM_SPECIAL``
    mappings never merge. Returns the VMA that now covers the range, or None.

    The eight cases of the kernel's comment reduce to: join both (1, 6), join ``prev`` (2, 5,
    7), join ``next`` (3, 8), or move the boundary between ``prev`` and ``next`` (4). In case 8
    the kernel keeps the ``next`` struct and frees the middle one; the model does the same.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1099>`_.
    """
    if vm_flags & VM_SPECIAL:
        return None
    pglen = (end - addr) >> PAGE_SHIFT
    tree = mm.mm_rb
    nxt = tree.next(prev) if prev is not None else tree.first()
    area = nxt
    if area is not None and area.vm_end == end:  # cases 6, 7, 8: area is replaced whole
        nxt = tree.next(area)

    if (
        prev is not None
        and prev.vm_end == addr
        and _can_merge_after(prev, vm_flags, anon_vma, file, pgoff)
    ):
        if (
            nxt is not None
            and end == nxt.vm_start
            and _can_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)
            and _mergeable_anon_vma(prev.anon_vma, nxt.anon_vma)
        ):
            _absorb(mm, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)  # cases 1, 6
        else:
            _absorb(mm, prev, prev.vm_start, end, prev.vm_pgoff)  # cases 2, 5, 7
        return prev

    if (
        nxt is not None
        and end == nxt.vm_start
        and _can_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)
    ):
        if prev is not None and addr < prev.vm_end:  # case 4: the boundary moves down
            tree.set_bounds(prev, prev.vm_start, addr)
            nxt.vm_pgoff -= pglen
            tree.set_bounds(nxt, addr, nxt.vm_end)
            if nxt.anon_vma is None:
                nxt.anon_vma = anon_vma
        else:  # cases 3, 8
            _absorb(mm, nxt, addr, nxt.vm_end, nxt.vm_pgoff - pglen)
        return nxt
    return None


@traced
def anon_vma_prepare(vma: Vma) -> int:
    """Give ``vma`` an ``anon_vma`` before its first anonymous page (mm/rmap.c @ v4.15).

    ``__anon_vma_prepare`` first tries to share a neighbour's (``find_mergeable_anon_vma``): a
    VMA right next to it, with the same file, flags equal except read/write/exec/soft-dirty,
    and contiguous ``vm_pgoff``; this keeps such neighbours mergeable later. Returns 0.

    Source: `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c>`_.
    """
    if vma.anon_vma is not None:
        return 0
    mm = vma.vm_mm
    ignore = VM_READ | VM_WRITE | VM_EXEC | VM_SOFTDIRTY

    def compatible(a: Vma, b: Vma) -> bool:
        return (
            a.vm_end == b.vm_start
            and a.vm_file is b.vm_file
            and not ((a.vm_flags ^ b.vm_flags) & ~ignore)
            and b.vm_pgoff == a.vm_pgoff + vma_pages(a)
        )

    if mm is not None:
        nxt, prev = mm.mm_rb.next(vma), mm.mm_rb.prev(vma)
        if nxt is not None and nxt.anon_vma is not None and compatible(vma, nxt):
            vma.anon_vma = nxt.anon_vma
            return 0
        if prev is not None and prev.anon_vma is not None and compatible(prev, vma):
            vma.anon_vma = prev.anon_vma
            return 0
    vma.anon_vma = AnonVma()
    return 0


# ---------------------------------------------------------------------------------------------
# mmap
# ---------------------------------------------------------------------------------------------


@traced
def get_unmapped_area(mm: MM, file: Any, addr: int, length: int, pgoff: int, flags: int) -> int:
    """Choose where a new mapping goes (``get_unmapped_area``, mm/mmap.c @ v4.15).

    With ``MAP_FIXED`` the caller's address is taken as is (``-EINVAL`` if not page aligned).
    Otherwise a free hint is honoured, else the highest free gap below ``mmap_base`` is used:
    x86-64's ``arch_get_unmapped_area_topdown`` without randomisation or the stack guard gap.
    A file's own ``get_unmapped_area`` method, if any, decides instead.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c>`_.
    """
    if length > mm.task_size:
        return -errno.ENOMEM
    get_area = None
    if file is not None and file.f_op.get_unmapped_area is not None:
        get_area = file.f_op.get_unmapped_area
    if get_area is not None:
        addr = get_area(file, addr, length, pgoff, flags)
    elif flags & MAP_FIXED:
        pass
    else:
        addr = _topdown_area(mm, addr, length)
    if addr < 0:
        return addr
    if addr > mm.task_size - length:
        return -errno.ENOMEM
    if offset_in_page(addr):
        return -errno.EINVAL
    return addr


def _topdown_area(mm: MM, hint: int, length: int) -> int:
    if hint:
        hint = PAGE_ALIGN(hint)
        if mm.task_size - length >= hint and not _overlaps(mm, hint, hint + length):
            return hint
    addr = mm.mm_rb.find_gap_topdown(length, max(PAGE_SIZE, MMAP_MIN_ADDR), mm.mmap_base)
    return -errno.ENOMEM if addr is None else addr


def _accountable_mapping(vm_flags: int) -> bool:
    """``accountable_mapping``: private writable memory is charged to the commit limit."""
    return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE


@traced
def do_mmap(
    mm: MM,
    file: Any,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    vm_flags: int,
    pgoff: int,
) -> tuple[int, int]:
    """The body of mmap(2): check arguments, build ``vm_flags``, call :func:`mmap_region`.

    ``do_mmap`` (mm/mmap.c @ v4.15 L1321); the caller holds ``mmap_sem`` for write. Returns
    ``(address or -errno, bytes to populate)``. Notable rules: a ``MAP_SHARED`` mapping of a file
    not opened for writing loses ``VM_MAYWRITE`` and ``VM_SHARED`` (so it can never become
    writable), while a ``MAP_PRIVATE`` one always keeps ``VM_MAYWRITE`` — which makes every
    private file mapping a COW mapping. Not modelled: ``READ_IMPLIES_EXEC``, mandatory locks,
    ``noexec`` mounts, mlock limits, pkeys.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1321>`_.
    """
    if not length:
        return -errno.EINVAL, 0
    if not flags & MAP_FIXED:
        addr = _round_hint_to_min(addr)
    length = PAGE_ALIGN(length)
    if not length or length >= 1 << 64:
        return -errno.ENOMEM, 0
    if pgoff + (length >> PAGE_SHIFT) >= 1 << 64:
        return -errno.EOVERFLOW, 0
    if mm.map_count > mm.max_map_count:
        return -errno.ENOMEM, 0

    addr = get_unmapped_area(mm, file, addr, length, pgoff, flags)
    if addr < 0:
        return addr, 0

    vm_flags |= (
        calc_vm_prot_bits(prot)
        | calc_vm_flag_bits(flags)
        | mm.def_flags
        | VM_MAYREAD
        | VM_MAYWRITE
        | VM_MAYEXEC
    )

    from mmlab.fs import FMODE_READ, FMODE_WRITE

    map_type = flags & MAP_TYPE
    if file is not None:
        if map_type in (MAP_SHARED, MAP_SHARED_VALIDATE):
            if map_type == MAP_SHARED:
                flags &= LEGACY_MAP_MASK
            elif flags & ~(LEGACY_MAP_MASK | file.f_op.mmap_supported_flags):
                return -errno.EOPNOTSUPP, 0
            if prot & PROT_WRITE and not file.f_mode & FMODE_WRITE:
                return -errno.EACCES, 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.f_mode & FMODE_WRITE:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif map_type != MAP_PRIVATE:
            return -errno.EINVAL, 0
        # what MAP_SHARED falls through to, and MAP_PRIVATE:
        if not file.f_mode & FMODE_READ:
            return -errno.EACCES, 0
        if file.f_op.mmap is None:
            return -errno.ENODEV, 0
        if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
            return -errno.EINVAL, 0
    else:
        if map_type == MAP_SHARED:
            if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
                return -errno.EINVAL, 0
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
        elif map_type == MAP_PRIVATE:
            pgoff = addr >> PAGE_SHIFT
        else:
            return -errno.EINVAL, 0

    if flags & MAP_NORESERVE:
        vm_flags |= VM_NORESERVE  # overcommit policy is "heuristic", the default

    addr = mmap_region(mm, file, addr, length, vm_flags, pgoff)
    populate = 0
    if addr >= 0 and (
        vm_flags & VM_LOCKED or flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE
    ):
        populate = length
    return addr, populate


def _round_hint_to_min(hint: int) -> int:
    """``round_hint_to_min``: a hint below ``mmap_min_addr`` is raised to it."""
    hint &= PAGE_MASK
    if hint and hint < MMAP_MIN_ADDR:
        return PAGE_ALIGN(MMAP_MIN_ADDR)
    return hint


@traced
def mmap_region(mm: MM, file: Any, addr: int, length: int, vm_flags: int, pgoff: int) -> int:
    """Make the VMA for a new mapping (``mmap_region``, mm/mmap.c @ v4.15 L1618).

    Order matters and is kept: unmap whatever was there (``MAP_FIXED``), add ``VM_ACCOUNT`` to
    private writable mappings, try :func:`vma_merge` *before* the file's ``->mmap`` runs (so a
    driver's later flag changes cannot affect that attempt), else make a VMA and call
    ``file->f_op->mmap`` (or, for shared anonymous memory, ``shmem_zero_setup``), then link
    it and add ``VM_SOFTDIRTY``. If ``->mmap`` fails the new VMA's page tables are torn down
    and the error is returned.

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1618>`_.
    """
    while _overlaps(mm, addr, addr + length):
        if do_munmap(mm, addr, length):
            return -errno.ENOMEM
    if _accountable_mapping(vm_flags):
        vm_flags |= VM_ACCOUNT

    prev = mm.mm_rb.find_prev(addr)
    vma = vma_merge(mm, prev, addr, addr + length, vm_flags, None, file, pgoff)
    if vma is None:
        vma = Vma(addr, addr + length, vm_flags, pgoff, vm_mm=mm)
        vma.vm_page_prot = vm_get_page_prot(vm_flags)
        if file is not None:
            vma.vm_file = file
            err = file.f_op.mmap(file, vma)
            if err:
                _unmap_region(mm, [vma], vma.vm_start, vma.vm_end)
                return err
            addr = vma.vm_start
            vm_flags = vma.vm_flags
        elif vm_flags & VM_SHARED:
            from mmlab import filemap

            filemap.shmem_zero_setup(vma)  # shared anonymous memory is a tmpfs file
        mm.mm_rb.insert(vma)
    if mm.soft_dirty:
        vma.vm_flags |= VM_SOFTDIRTY
    _vma_set_page_prot(vma)
    return addr


def _mm_populate(mm: MM, start: int, length: int) -> None:
    """``mm_populate``: fault in every page now (MAP_POPULATE, MAP_LOCKED).

    Simplification: the model stops after as many pages as it has RAM frames (the kernel would
    keep going, reclaiming or hitting the OOM killer).
    """
    from mmlab import fault

    ram = mm.physmem.ram_end_pfn - mm.physmem.ram_start_pfn
    end = start + min(length, ram * PAGE_SIZE)
    mm.mmap_sem.down_read()
    try:
        addr = start
        while addr < end:
            vma = find_vma(mm, addr)
            if vma is None or vma.vm_start > addr:
                break
            write = bool(vma.vm_flags & VM_WRITE) and not vma.vm_flags & VM_SHARED
            if vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC):
                flags = fault.FAULT_FLAG_WRITE if write else 0
                ret = fault.handle_mm_fault(vma, addr, flags)
                if ret & fault.VM_FAULT_ERROR:
                    break
            addr += PAGE_SIZE
    finally:
        mm.mmap_sem.up_read()


# ---------------------------------------------------------------------------------------------
# munmap
# ---------------------------------------------------------------------------------------------


@traced
def do_munmap(mm: MM, start: int, length: int) -> int:
    """Remove the mappings in ``[start, start+length)`` (``do_munmap``, mm/mmap.c @ v4.15 L2635).

    Nothing mapped there is not an error. A VMA that straddles ``start`` is split (the original
    struct keeps the part below), one that straddles the end is split again (a new struct for
    the part below the end); the VMAs inside are detached, their PTEs zapped and page tables
    freed. Splitting in the middle of a VMA needs a free map-count slot (``-ENOMEM``).

    Source: `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2635>`_.
    """
    if offset_in_page(start) or start > mm.task_size or length > mm.task_size - start:
        return -errno.EINVAL
    length = PAGE_ALIGN(length)
    if length == 0:
        return -errno.EINVAL
    end = start + length
    vma = mm.mm_rb.find(start)
    if vma is None or vma.vm_start >= end:
        return 0
    if start > vma.vm_start:
        if end < vma.vm_end and mm.map_count >= mm.max_map_count:
            return -errno.ENOMEM
        err = __split_vma(mm, vma, start, 0)
        if err:
            return err
    last = mm.mm_rb.find(end)
    if last is not None and end > last.vm_start:
        err = __split_vma(mm, last, end, 1)
        if err:
            return err
    doomed = list(_vmas_in(mm, start, end))
    for v in doomed:
        mm.mm_rb.remove(v)
    _unmap_region(mm, doomed, start, end)
    for v in doomed:
        if v.vm_ops is not None and v.vm_ops.close is not None:
            v.vm_ops.close(v)
    return 0


def _unmap_region(mm: MM, vmas: list[Vma], start: int, end: int) -> None:
    """``unmap_region``: zap the PTEs of ``vmas`` and free page tables no longer needed."""
    from mmlab import memory

    for v in vmas:
        memory.zap_page_range(v, v.vm_start, v.vm_end - v.vm_start)
    free = getattr(mm.pgd, "free_pgtables", None)
    if free is not None:
        free(start, end)


# ---------------------------------------------------------------------------------------------
# mprotect
# ---------------------------------------------------------------------------------------------


@traced
def do_mprotect(mm: MM, start: int, length: int, prot: int) -> int:
    """The body of mprotect(2) (``do_mprotect_pkey``, mm/mprotect.c @ v4.15).

    Walks the VMAs covering the range and calls :func:`mprotect_fixup` on each. A permission can
    only be added if its ``VM_MAY*`` bit is set (``-EACCES``): each ``VM_MAYx`` bit sits 4 bits
    above its ``VM_x``. A hole in the range gives ``-ENOMEM`` — after the VMAs before the hole
    were already changed, as in the kernel. Takes ``mmap_sem`` for write.

    Source: `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c>`_.
    """
    if start & ~PAGE_MASK:
        return -errno.EINVAL
    if not length:
        return 0
    length = PAGE_ALIGN(length)
    end = start + length
    if end <= start:
        return -errno.ENOMEM
    grows = prot & (PROT_GROWSDOWN | PROT_GROWSUP)
    prot &= ~(PROT_GROWSDOWN | PROT_GROWSUP)
    if grows == (PROT_GROWSDOWN | PROT_GROWSUP):
        return -errno.EINVAL
    if prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM):
        return -errno.EINVAL
    if mm.mmap_sem.down_write_killable():
        return -errno.EINTR
    try:
        return _mprotect_locked(mm, start, end, prot, grows)
    finally:
        mm.mmap_sem.up_write()


def _mprotect_locked(mm: MM, start: int, end: int, prot: int, grows: int) -> int:
    tree = mm.mm_rb
    vma = tree.find(start)
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
    mm: MM, vma: Vma, prev: Vma | None, start: int, end: int, newflags: int
) -> tuple[int, Vma]:
    """Give ``[start, end)`` of ``vma`` new flags (``mprotect_fixup``, mm/mprotect.c L296).

    Returns ``(0 or -errno, the VMA now covering the range)`` (the kernel returns the latter
    through ``pprev``). Making a private mapping writable adds ``VM_ACCOUNT``; v4.15 never takes
    it away again, while newer kernels drop it from a private anonymous VMA that never had a page
    (so it can merge again with read-only neighbours; see :mod:`mmlab.version`). It tries
    :func:`vma_merge` first, otherwise splits off the parts outside the range
    (:func:`split_vma`, which can fail at the map-count limit). Then it rewrites the PTEs.

    Source: `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L296>`_.
    """
    oldflags = vma.vm_flags
    if newflags == oldflags:
        return 0, vma
    if newflags & VM_WRITE:
        if not oldflags & (VM_ACCOUNT | VM_WRITE | VM_HUGETLB | VM_SHARED | VM_NORESERVE):
            newflags |= VM_ACCOUNT
    elif (
        _version.has(mm.version, _version.MPROTECT_UNACCOUNTS_UNFAULTED)
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
    vma.vm_flags = newflags
    _vma_set_page_prot(vma)
    _change_protection(vma, start, end, vma.vm_page_prot)
    return 0, vma


def _change_protection(vma: Vma, start: int, end: int, newprot: int) -> None:
    """``change_protection``: rewrite the present PTEs of the range with the new protection."""
    vma.vm_mm.pgd.change_protection(start, end, newprot)
