"""The mm's structures: ``include/linux/mm_types.h`` @ v4.15, with the struct parts of ``mm.h``.

- :class:`Vma` is ``struct vm_area_struct`` and :class:`MmStruct` is ``struct mm_struct``
  (`include/linux/mm_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h>`_);
- :class:`VmOperations` (``struct vm_operations_struct``) and :class:`VmFault`
  (``struct vm_fault``) are declared in `include/linux/mm.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L327>`_;
- :class:`AnonVma` is ``struct anon_vma`` (`include/linux/rmap.h`);
- the small inline helpers that only read these structures: :func:`vma_pages`,
  :func:`vma_is_anonymous` (``mm.h``), :func:`linear_page_index` (``pagemap.h``).

The functions that change them live with the kernel file that changes them: :mod:`mmlab.mmap`
(``mm/mmap.c``), :mod:`mmlab.mprotect`, :mod:`mmlab.rmap`, :mod:`mmlab.memory`... The address
space a notebook uses, :class:`mmlab.mm.MM`, is an :class:`MmStruct` with the system calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from mmlab.constants import (
    FAULT_FLAG_VMA_LOCK,
    PAGE_ALIGN,
    PAGE_SHIFT,
    TASK_SIZE,
    VM_EXEC,
    VM_MAYSHARE,
    VM_READ,
    VM_WRITE,
)
from mmlab.errors import KernelBug
from mmlab.fs_types import File
from mmlab.mmap_lock import MmapLock
from mmlab.pagetable import PageTable, Pte
from mmlab.physmem import PAGE_MAPPING_ANON, Page, PhysMem
from mmlab.rwsem import RwSemaphore
from mmlab.system import System, default_system
from mmlab.trace import MmStructSnapshot, VmaSnapshot, VmFaultSnapshot, lock_state, traced
from mmlab.version import MMAP_LOCK_API, PER_VMA_LOCK, Version, has
from mmlab.vmatree import VmaTree

__all__ = [
    "DEFAULT_MMAP_BASE",
    "AnonVma",
    "MmStruct",
    "Vma",
    "VmFault",
    "VmOperations",
    "VmaLock",
    "linear_page_index",
    "release_fault_lock",
    "vma_assert_write_locked",
    "vma_end_read",
    "vma_is_anonymous",
    "vma_is_write_locked",
    "vma_mark_detached",
    "vma_mm",
    "vma_pages",
    "vma_start_read",
    "vma_start_write",
]

#: Where top-down allocation starts (``mm->mmap_base``) for a 64-bit process without address
#: randomisation (``setarch -R``, as under gdb): ``mmap_base()`` in arch/x86/mm/mmap.c leaves a
#: gap below the top of the 47-bit space for the stack, the 8 MiB stack rlimit plus the 1 MiB
#: guard gap, raised to its 128 MiB minimum: 0x7ffffffff000 - 0x8000000.
DEFAULT_MMAP_BASE = 0x7FFFF7FFF000


class AnonVma:
    """``struct anon_vma``: what an anonymous page's ``mapping`` points at.

    The kernel stores ``anon_vma | PAGE_MAPPING_ANON`` in ``page->mapping``; the model stores
    this object there, and its ``mapping_flags`` carry the tag that ``PageAnon`` tests. No
    reverse-map interval tree is kept: without fork, one anon_vma serves one VMA (or the
    neighbours that may merge with it). ``serial`` only tells them apart in printouts.

    Kernel: ``struct anon_vma`` in `include/linux/rmap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/rmap.h#L29>`_.
    """

    mapping_flags = PAGE_MAPPING_ANON

    def __init__(self, serial: int = 0) -> None:
        self.serial = serial

    def __repr__(self) -> str:
        return f"AnonVma#{self.serial}"


@dataclass(frozen=True, eq=False)
class VmOperations:
    """``struct vm_operations_struct``: what a driver or filesystem does for its VMAs.

    Each member is optional. ``fault(vmf) -> VM_FAULT_* bits``; ``map_pages(vmf, start_pgoff,
    end_pgoff)`` maps cached pages around a fault; ``split(vma, addr)`` may refuse a split with
    ``-errno``; a VMA whose ops have ``close`` is never merged; ``find_special_page(vma, addr)``
    names the page behind a special PTE; ``name(vma)`` is its ``/proc/PID/maps`` name.
    Frozen, like the kernel's ``const`` tables: give a VMA another ops object to change them.
    ``label`` is what the model prints for it.

    Kernel: ``struct vm_operations_struct`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L377>`_.
    """

    open: Callable[[Vma], None] | None = None
    close: Callable[[Vma], None] | None = None
    split: Callable[[Vma, int], int] | None = None
    fault: Callable[[VmFault], int] | None = None
    map_pages: Callable[[VmFault, int, int], None] | None = None
    page_mkwrite: Callable[[VmFault], int] | None = None
    pfn_mkwrite: Callable[[VmFault], int] | None = None
    name: Callable[[Vma], str | None] | None = None
    find_special_page: Callable[[Vma, int], Page | None] | None = None
    label: str = "vm_ops"

    def __repr__(self) -> str:
        return f"<{self.label}>"


class VmaLock(RwSemaphore):
    """``struct vma_lock``: the semaphore a VMA has of its own since v6.4 (per-VMA locks).

    Readers are faults handled under the VMA lock; a writer holds it only for a moment, in
    :func:`vma_start_write`. Its operations are not traced one by one: :func:`vma_start_read`,
    :func:`vma_end_read` and :func:`vma_start_write` are.

    Kernel: ``struct vma_lock`` in `include/linux/mm_types.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h#L663>`_.
    """

    def __init__(self) -> None:
        super().__init__(None, "vm_lock")

    def _note(self, op: str) -> None:
        return None


@dataclass(eq=False)
class Vma:
    """``struct vm_area_struct``: one contiguous range of an address space with one set of rules.

    ``vm_end`` is exclusive. ``vm_pgoff`` is the offset of ``vm_start`` in the file, in pages;
    for private anonymous VMAs it is ``vm_start >> PAGE_SHIFT``; after ``remap_pfn_range`` on a
    COW mapping it holds the first page frame number instead. ``vm_ops is None`` means anonymous
    memory, exactly as ``vma_is_anonymous()`` tests.

    The last three fields exist since v6.4 (:data:`mmlab.version.PER_VMA_LOCK`) and are unused
    before: ``vm_lock`` (the VMA's own lock, :class:`VmaLock`), ``vm_lock_seq`` (the mm's
    ``mm_lock_seq`` when the VMA was last write-locked; ``-1``, the kernel's ``UINT_MAX``, for
    never) and ``detached`` (taken out of the mm's tree by munmap), as in `include/linux/mm_types.h
    @ v6.12.118 L763 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h#L763>`_
    (``vm_lock_seq``).

    Kernel: ``struct vm_area_struct`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L280>`_.
    """

    vm_start: int
    vm_end: int
    vm_flags: int = 0
    vm_pgoff: int = 0
    vm_file: File | None = None
    vm_ops: VmOperations | None = None
    vm_private_data: object | None = None
    vm_page_prot: int = 0
    vm_mm: MmStruct | None = None
    anon_vma: AnonVma | None = None
    vm_lock: VmaLock = field(default_factory=VmaLock, repr=False)
    vm_lock_seq: int = -1
    detached: bool = False

    def __repr__(self) -> str:
        perms = _perms(self.vm_flags)
        name = f" {self.vm_file.f_path}" if self.vm_file is not None else ""
        return (
            f"Vma({self.vm_start:#x}-{self.vm_end:#x} {perms} pgoff={self.vm_pgoff:#x} "
            f"flags={self.vm_flags:#x}{name})"
        )

    def trace_snapshot(self) -> VmaSnapshot:
        """This VMA as it is now, for a trace to keep (:func:`mmlab.trace.freeze`).

        Model helper: no kernel counterpart (what ftrace would print of the VMA).
        """
        file = self.vm_file
        return VmaSnapshot(self.vm_start, self.vm_end, self.vm_flags, self.vm_pgoff,
                           file.f_path if file is not None else None, self.vm_ops is None,
                           _perms(self.vm_flags))

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


@dataclass(eq=False)
class VmFault:
    """``struct vm_fault``: one fault in progress.

    ``address`` is page aligned; ``pgoff`` is ``linear_page_index(vma, address)``;
    ``orig_pte`` the PTE seen when the fault started (``None`` if empty); ``page`` is what
    ``->fault`` returns (locked if it says ``VM_FAULT_LOCKED``); ``cow_page`` the new anonymous
    page of a COW fault. As at v4.15 every field is writable (a handler may rewrite ``vma`` and
    ``pgoff``). ``pmd``/``pte`` pointers and ``ptl`` are not modelled.

    Kernel: ``struct vm_fault`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L327>`_.
    """

    vma: Vma
    flags: int
    pgoff: int
    address: int
    gfp_mask: int = 0
    orig_pte: Pte | None = None
    cow_page: Page | None = None
    page: Page | None = None

    def trace_snapshot(self) -> VmFaultSnapshot:
        """This fault as it is now, its VMA and pages as snapshots (:func:`mmlab.trace.freeze`).

        Model helper: no kernel counterpart (what ftrace would print of the vm_fault).
        """
        return VmFaultSnapshot(
            self.vma.trace_snapshot(), self.flags, self.pgoff, self.address, self.gfp_mask,
            self.orig_pte, self.cow_page.trace_snapshot() if self.cow_page is not None else None,
            self.page.trace_snapshot() if self.page is not None else None)


class MmStruct:
    """``struct mm_struct``: one process's address space.

    Holds the VMAs (``mm_rb``, see :class:`~mmlab.vmatree.VmaTree`), the mmap lock
    ``mmap_sem`` (``mmap_lock`` is its post-v5.8 name), the page table ``pgd``, and the
    :class:`~mmlab.system.System` it runs on (its memory, sysctls, kernel version and
    architecture). Also the per-process fault counters ``maj_flt``/``min_flt`` (``task_struct``
    fields in the kernel) and ``cap_sys_rawio``: whether the process may map below
    ``mmap_min_addr`` (``CAP_SYS_RAWIO``, a capability of root's; off by default, as for a
    user's process).

    Kernel: ``struct mm_struct`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L356>`_.
    """

    def __init__(
        self,
        system: System | None = None,
        *,
        mmap_base: int = DEFAULT_MMAP_BASE,
        task_size: int = TASK_SIZE,
        cap_sys_rawio: bool = False,
    ) -> None:
        self.system = system if system is not None else default_system()
        self.mm_rb: VmaTree[Vma] = VmaTree()
        self.mmap_sem = MmapLock(self, per_vma_locks=has(self.system.version, PER_VMA_LOCK),
                                 api=has(self.system.version, MMAP_LOCK_API))
        self.pgd = PageTable()
        self.mmap_base = mmap_base
        #: Where bottom-up allocation starts (``TASK_UNMAPPED_BASE``: a third of the way up).
        self.mmap_legacy_base = PAGE_ALIGN(task_size // 3)
        self.task_size = task_size
        self.cap_sys_rawio = cap_sys_rawio
        self.def_flags = 0
        self.start_brk = self.brk = self.start_stack = 0
        self.maj_flt = 0
        self.min_flt = 0

    def __repr__(self) -> str:
        return (
            f"<{type(self).__name__} v{self.version[0]}.{self.version[1]}: {self.map_count} VMAs, "
            f"{self.mmap_sem!r}>"
        )

    def trace_snapshot(self) -> MmStructSnapshot:
        """How many VMAs this mm has and its lock state, for a trace to keep (the VMAs and PTEs
        themselves are in a step's ``before``/``after``).

        Model helper: no kernel counterpart (what ftrace would print of the mm).
        """
        return MmStructSnapshot(type(self).__name__, len(self.mm_rb), lock_state(self))

    @property
    def vmas(self) -> list[Vma]:
        """The VMAs in address order (a copy: the kernel's ``mm->mmap`` list walked)."""
        return list(self.mm_rb)

    @property
    def map_count(self) -> int:
        """Number of VMAs (``mm->map_count``)."""
        return len(self.mm_rb)

    @property
    def mmap_lock(self) -> MmapLock:
        """The lock under its v5.8+ name."""
        return self.mmap_sem

    @property
    def per_vma_locks(self) -> bool:
        """The machine's kernel tries faults under per-VMA locks (v6.4 on)."""
        return self.mmap_sem.per_vma_locks

    @property
    def physmem(self) -> PhysMem:
        """The machine's physical memory (``self.system.physmem``)."""
        return self.system.physmem

    @property
    def version(self) -> Version:
        """The kernel version of the machine (``self.system.version``)."""
        return self.system.version

    def __iter__(self) -> Iterator[Vma]:
        return iter(self.mm_rb)


def _perms(flags: int) -> str:
    """The permission column of ``/proc/PID/maps`` for ``flags`` (``r-xp``)."""
    return "".join(
        c if flags & bit else "-" for c, bit in (("r", VM_READ), ("w", VM_WRITE), ("x", VM_EXEC))
    ) + ("s" if flags & VM_MAYSHARE else "p")


def vma_mm(vma: Vma) -> MmStruct:
    """The address space ``vma`` belongs to.

    A kernel VMA always has its ``vm_mm``; a model VMA built by hand may have none, and code
    that needs one raises :class:`~mmlab.errors.KernelBug` (a NULL dereference in the kernel).

    Model helper: no kernel counterpart (``vma->vm_mm``).
    """
    if vma.vm_mm is None:
        raise KernelBug(f"{vma!r} belongs to no mm")
    return vma.vm_mm


def vma_pages(vma: Vma) -> int:
    """Number of pages in ``vma``.

    Kernel: ``vma_pages`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L2360>`_.
    """
    return (vma.vm_end - vma.vm_start) >> PAGE_SHIFT


def linear_page_index(vma: Vma, address: int) -> int:
    """The file page index that ``address`` maps, computed from ``vm_pgoff``.

    This is how a fault address becomes ``vmf->pgoff``: it trusts ``vm_pgoff`` to be a file
    offset, which is exactly what ``remap_pfn_range`` breaks.

    Kernel: ``linear_page_index`` in `include/linux/pagemap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pagemap.h#L453>`_.
    """
    return ((address - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff


def vma_is_anonymous(vma: Vma) -> bool:
    """True when ``vma`` has no ``vm_ops``.

    Kernel: ``vma_is_anonymous`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1471>`_.
    """
    return vma.vm_ops is None


# --- per-VMA locks (include/linux/mm.h @ v6.12.118): faults under one VMA's lock ---------------
def vma_is_write_locked(vma: Vma) -> bool:
    """Is ``vma`` write-locked now (its ``vm_lock_seq`` is the mm's current sequence)?

    ``__is_vma_write_locked`` asks this of a VMA whose mm the caller holds for writing; the
    model asks it at any time (a reader's :func:`vma_start_read` makes the same comparison).

    Kernel: ``__is_vma_write_locked`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L733>`_.
    """
    mm = vma_mm(vma)
    lock = mm.mmap_sem
    return lock.per_vma_locks and lock.writer and vma.vm_lock_seq == lock.mm_lock_seq


@traced
def vma_start_read(vma: Vma) -> bool:
    """Try to read-lock ``vma`` for a fault; False sends the fault to ``mmap_lock``.

    It fails when the VMA is write-locked (its ``vm_lock_seq`` equals the mm's sequence: a
    writer holds ``mmap_lock`` and has called :func:`vma_start_write` on it) or its semaphore
    cannot be taken at once (a writer is in :func:`vma_start_write` right now). It never waits.
    On a machine without per-VMA locks it always fails, as the kernel's stub does.

    Kernel: ``vma_start_read`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L692>`_.
    """
    mm = vma_mm(vma)
    lock = mm.mmap_sem
    if not lock.per_vma_locks:
        return False
    if vma.vm_lock_seq == lock.mm_lock_seq:
        return False
    if not vma.vm_lock.down_read_trylock():
        return False
    return True


@traced
def vma_end_read(vma: Vma) -> None:
    """Release a VMA read lock taken by :func:`vma_start_read`.

    Kernel: ``vma_end_read`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L725>`_.
    """
    vma.vm_lock.up_read()


@traced
def vma_start_write(vma: Vma) -> None:
    """Write-lock ``vma`` before changing it, until ``mmap_lock`` is released or downgraded.

    The caller holds ``mmap_lock`` for writing (the kernel WARNs otherwise; the model raises
    :class:`~mmlab.errors.KernelBug`). Already locked in this hold: nothing to do. Otherwise it
    takes the VMA's semaphore for writing, which waits for the faults that hold it for reading
    (:class:`~mmlab.errors.WouldSleep` in the model, which has no scheduler), stamps
    ``vm_lock_seq`` with the mm's sequence and releases the semaphore at once: from now on
    :func:`vma_start_read` fails on this VMA. A no-op on a machine without per-VMA locks.

    Kernel: ``vma_start_write`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L750>`_.
    """
    mm = vma_mm(vma)
    lock = mm.mmap_sem
    if not lock.per_vma_locks:
        return
    if not lock.writer:
        raise KernelBug(f"vma_start_write({vma!r}) without mmap_lock held for writing "
                        "(mmap_assert_write_locked: WARN_ON)")
    if vma.vm_lock_seq == lock.mm_lock_seq:
        return
    vma.vm_lock.down_write()
    vma.vm_lock_seq = lock.mm_lock_seq
    vma.vm_lock.up_write()


def vma_assert_write_locked(vma: Vma) -> None:
    """``VM_BUG_ON_VMA`` unless ``vma`` is write-locked (checked on per-VMA lock machines only).

    Kernel: ``vma_assert_write_locked`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L768>`_.
    """
    if vma_mm(vma).per_vma_locks and not vma_is_write_locked(vma):
        raise KernelBug(f"VM_BUG_ON_VMA: {vma!r} is not write-locked")


def vma_mark_detached(vma: Vma, detached: bool) -> None:
    """Mark ``vma`` as taken out of the mm's tree (it must be write-locked first).

    :func:`mmlab.memory_fault.lock_vma_under_rcu` checks the flag after locking a VMA it found,
    in case munmap removed it in between.

    Kernel: ``vma_mark_detached`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L781>`_.
    """
    if detached:
        vma_assert_write_locked(vma)
    vma.detached = detached


def release_fault_lock(vmf: VmFault) -> None:
    """Release whichever lock the fault holds: the VMA's (``FAULT_FLAG_VMA_LOCK``) or
    ``mmap_lock`` (v4.15's handlers call ``up_read(&mm->mmap_sem)`` directly).

    Kernel: ``release_fault_lock`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L789>`_.
    """
    if vmf.flags & FAULT_FLAG_VMA_LOCK:
        vma_end_read(vmf.vma)
    else:
        vma_mm(vmf.vma).mmap_sem.up_read()
