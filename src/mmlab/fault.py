"""The page-fault path: x86 ``__do_page_fault`` → ``handle_mm_fault`` → ``handle_pte_fault`` →
``do_anonymous_page`` / ``do_fault`` (read, COW, shared) / ``do_wp_page``.

Sources (all @ v4.15):

- `mm/memory.c <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4076>`_:
  ``handle_mm_fault`` L4076, ``__handle_mm_fault`` L3987, ``handle_pte_fault`` L3899,
  ``do_fault`` L3703, ``do_shared_fault`` L3662, ``do_cow_fault`` L3623, ``do_read_fault``
  L3596, ``do_fault_around`` L3541, ``finish_fault`` L3452, ``alloc_set_pte``,
  ``__do_fault`` L3197, ``do_anonymous_page`` L3083, ``do_wp_page`` L2690, ``wp_page_copy``
  L2450.
- `include/linux/mm.h <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L296>`_:
  ``FAULT_FLAG_*`` L296, ``struct vm_fault`` L327, ``VM_FAULT_*`` L1183.
- `arch/x86/mm/fault.c <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c#L1238>`_:
  ``__do_page_fault`` L1238, ``access_error``, ``mm_fault_error``.

Simplifications (kernel-facts §11): no swap (``do_swap_page`` is never reached), no NUMA hinting
faults, no huge pages (``VM_FAULT_FALLBACK`` never produced), no userfaultfd, no memcg charging,
no pkeys, no page-table locks (the model is single threaded: "re-check the PTE under the lock"
steps are kept where they can observe a change made by a ``->fault`` handler), no TLB. The
stack is not expanded: a fault below a ``VM_GROWSDOWN`` VMA is a ``bad_area`` here. Kernel-mode
faults are assumed to come from a uaccess with an exception-table entry: errors there are
"fixed up" (``kernel_fixup``; the syscall would return ``-EFAULT``) instead of oopsing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from mmlab.constants import (
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    TASK_SIZE,
    VM_EXEC,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from mmlab.memory import (
    anon_vma_prepare,
    linear_page_index,
    maybe_mkwrite,
    mk_pte,
    page_add_file_rmap,
    page_add_new_anon_rmap,
    page_remove_rmap,
    vm_normal_page,
)
from mmlab.pagetable import (
    _PAGE_PRESENT,
    KernelBug,
    Pte,
    pfn_pte,
    pte_access_permitted,
    pte_mkdirty,
    pte_mkspecial,
    pte_mkyoung,
    pte_none,
    pte_present,
    pte_same,
    pte_write,
)
from mmlab.physmem import (
    Page,
    PageAnon,
    PageLocked,
    SetPageUptodate,
    lock_page,
    page_mapcount,
    trylock_page,
    unlock_page,
)
from mmlab.trace import traced

# --- VM_FAULT_* (include/linux/mm.h @ v4.15 L1183) ----------------------------------------
VM_FAULT_OOM = 0x0001
VM_FAULT_SIGBUS = 0x0002
VM_FAULT_MAJOR = 0x0004
VM_FAULT_WRITE = 0x0008
VM_FAULT_HWPOISON = 0x0010
VM_FAULT_HWPOISON_LARGE = 0x0020
VM_FAULT_SIGSEGV = 0x0040
VM_FAULT_NOPAGE = 0x0100
VM_FAULT_LOCKED = 0x0200
VM_FAULT_RETRY = 0x0400
VM_FAULT_FALLBACK = 0x0800
VM_FAULT_DONE_COW = 0x1000
VM_FAULT_NEEDDSYNC = 0x2000
VM_FAULT_HWPOISON_LARGE_MASK = 0xF000
VM_FAULT_ERROR = (
    VM_FAULT_OOM
    | VM_FAULT_SIGBUS
    | VM_FAULT_SIGSEGV
    | VM_FAULT_HWPOISON
    | VM_FAULT_HWPOISON_LARGE
    | VM_FAULT_FALLBACK
)

#: Names as ``VM_FAULT_RESULT_TRACE`` prints them.
VM_FAULT_NAMES: dict[int, str] = {
    VM_FAULT_OOM: "OOM",
    VM_FAULT_SIGBUS: "SIGBUS",
    VM_FAULT_MAJOR: "MAJOR",
    VM_FAULT_WRITE: "WRITE",
    VM_FAULT_HWPOISON: "HWPOISON",
    VM_FAULT_HWPOISON_LARGE: "HWPOISON_LARGE",
    VM_FAULT_SIGSEGV: "SIGSEGV",
    VM_FAULT_NOPAGE: "NOPAGE",
    VM_FAULT_LOCKED: "LOCKED",
    VM_FAULT_RETRY: "RETRY",
    VM_FAULT_FALLBACK: "FALLBACK",
    VM_FAULT_DONE_COW: "DONE_COW",
    VM_FAULT_NEEDDSYNC: "NEEDDSYNC",
}


def vm_fault_names(ret: int) -> list[str]:
    """``0x204`` -> ``['MAJOR', 'LOCKED']``.

    Kernel: ``VM_FAULT_RESULT_TRACE`` in `include/linux/mm.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h>`_.
    """
    return [name for bit, name in VM_FAULT_NAMES.items() if ret & bit]


# --- FAULT_FLAG_* (include/linux/mm.h @ v4.15 L296) ----------------------------------------
FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_MKWRITE = 0x02
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_RETRY_NOWAIT = 0x08
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_TRIED = 0x20
FAULT_FLAG_USER = 0x40
FAULT_FLAG_REMOTE = 0x80
FAULT_FLAG_INSTRUCTION = 0x100

FAULT_FLAG_NAMES: dict[int, str] = {
    FAULT_FLAG_WRITE: "WRITE",
    FAULT_FLAG_MKWRITE: "MKWRITE",
    FAULT_FLAG_ALLOW_RETRY: "ALLOW_RETRY",
    FAULT_FLAG_RETRY_NOWAIT: "RETRY_NOWAIT",
    FAULT_FLAG_KILLABLE: "KILLABLE",
    FAULT_FLAG_TRIED: "TRIED",
    FAULT_FLAG_USER: "USER",
    FAULT_FLAG_REMOTE: "REMOTE",
    FAULT_FLAG_INSTRUCTION: "INSTRUCTION",
}


def fault_flag_names(flags: int) -> list[str]:
    """``0x55`` -> ``['WRITE', 'ALLOW_RETRY', 'KILLABLE', 'USER']``.

    Kernel: ``FAULT_FLAG_*`` in `include/linux/mm.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h>`_.
    """
    return [name for bit, name in FAULT_FLAG_NAMES.items() if flags & bit]


# --- x86 page-fault error code (arch/x86/include/asm/traps.h @ v4.15) ----------------------
X86_PF_PROT = 1 << 0
X86_PF_WRITE = 1 << 1
X86_PF_USER = 1 << 2
X86_PF_RSVD = 1 << 3
X86_PF_INSTR = 1 << 4
X86_PF_PK = 1 << 5

#: ``/sys/kernel/debug/fault_around_bytes`` (mm/memory.c): 64 KiB = 16 pages by default.
#: Set it to ``PAGE_SIZE`` to switch fault-around off, as the debugfs knob does.
fault_around_bytes = 65536

#: Event counters (``/proc/vmstat``): ``pgfault``, ``pgmajfault``.
vmstat: Counter[str] = Counter()


@dataclass
class VmFault:
    """``struct vm_fault`` (include/linux/mm.h @ v4.15 L327): one fault in progress.

    ``address`` is page aligned; ``pgoff`` is ``linear_page_index(vma, address)``;
    ``orig_pte`` the PTE seen when the fault started (``None`` if empty); ``page`` is what
    ``->fault`` returns (locked if it says ``VM_FAULT_LOCKED``); ``cow_page`` the new anonymous
    page of a COW fault. As at v4.15 every field is writable (the seed's handler rewrites
    ``vma`` and ``pgoff``). ``pmd``/``pte`` pointers and ``ptl`` are not modelled.

    Kernel: ``struct vm_fault`` in `include/linux/mm.h @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L327>`_.
    """

    vma: Any
    flags: int
    pgoff: int
    address: int
    gfp_mask: int = 0
    orig_pte: Pte | None = None
    cow_page: Page | None = None
    page: Page | None = None


@dataclass
class FaultResult:
    """What :func:`do_page_fault` did.

    ``ret``: the ``VM_FAULT_*`` bits of the last ``handle_mm_fault`` call (0 if none ran);
    ``signal``: ``None``, ``"SIGSEGV"`` or ``"SIGBUS"``; ``si_code``: ``"SEGV_MAPERR"``,
    ``"SEGV_ACCERR"``, ``"BUS_ADRERR"`` or ``None``; ``major``: a major fault was counted;
    ``retries``: how many times the handler went back to ``retry:``; ``error_code``: the x86
    error code; ``oom``: user-mode ``VM_FAULT_OOM`` (``pagefault_out_of_memory``);
    ``kernel_fixup``: a kernel-mode fault that would be fixed up (``-EFAULT``);
    ``no_fault``: the PTE already allowed the access, so the CPU would not have faulted.

    Model helper: no kernel function of this name.
    """

    address: int
    ret: int = 0
    signal: str | None = None
    si_code: str | None = None
    major: bool = False
    retries: int = 0
    error_code: int = 0
    oom: bool = False
    kernel_fixup: bool = False
    no_fault: bool = False

    @property
    def ok(self) -> bool:
        """No signal, no OOM, no fixup: the access can be restarted and will succeed."""
        return self.signal is None and not self.oom and not self.kernel_fixup

    def __repr__(self) -> str:
        names = "|".join(vm_fault_names(self.ret)) or "0"
        return (
            f"FaultResult({self.address:#x}, ret={self.ret:#x} [{names}], signal={self.signal}, "
            f"major={self.major}, retries={self.retries})"
        )


# --- helpers ---------------------------------------------------------------------------------
def _mem(vma: Any) -> Any:
    return vma.vm_mm.physmem


def _mkspecial(mm: Any, pte: Pte) -> Pte:
    return pte_mkspecial(pte) if mm.have_pte_special else pte


def alloc_set_pte(vmf: VmFault, page: Page, address: int | None = None) -> int:
    """Map ``page`` at the fault address (``alloc_set_pte``, mm/memory.c).

    0, ``VM_FAULT_OOM`` (no page table) or ``VM_FAULT_NOPAGE`` (someone filled the PTE
    meanwhile). A write fault in a private VMA maps ``page`` (the COW copy) as a new anonymous
    page; otherwise it is a file page whose mapcount grows by one. The caller's page reference
    becomes the mapping's reference.

    Kernel: ``alloc_set_pte`` in `mm/memory.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_.
    """
    vma = vmf.vma
    mm = vma.vm_mm
    addr = vmf.address if address is None else address
    if mm.pgd.pte_alloc(addr):
        return VM_FAULT_OOM
    if not pte_none(mm.pgd.walk(addr)):
        return VM_FAULT_NOPAGE
    entry = mk_pte(page, vma.vm_page_prot)
    write = vmf.flags & FAULT_FLAG_WRITE
    if write:
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    if write and not vma.vm_flags & VM_SHARED:
        page_add_new_anon_rmap(page, vma, addr)
    else:
        page_add_file_rmap(page)
    mm.pgd.set_pte_at(addr, entry)
    return 0


# --- the generic part -------------------------------------------------------------------------
@traced
def handle_mm_fault(vma: Any, address: int, flags: int) -> int:
    """Resolve a fault at ``address`` in ``vma`` with the mm's mmap_sem held for read.

    `handle_mm_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4076>`_:
    counts ``pgfault``, asks ``arch_vma_access_permitted`` (always true: no pkeys), then
    ``__handle_mm_fault`` (no hugetlb). Returns ``VM_FAULT_*`` bits. If the result has
    ``VM_FAULT_RETRY``, the mmap_sem has been released.
    """
    vmstat["pgfault"] += 1
    return __handle_mm_fault(vma, address, flags)


@traced
def __handle_mm_fault(vma: Any, address: int, flags: int) -> int:
    """Build the ``struct vm_fault`` and make sure the upper page tables exist.

    `__handle_mm_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3987>`_:
    ``vmf.address = address & PAGE_MASK``, ``vmf.pgoff = linear_page_index(vma, address)``;
    allocating the pud/pmd tables may fail → ``VM_FAULT_OOM``. No transparent huge pages: goes
    straight to :func:`handle_pte_fault`.
    """
    vmf = VmFault(
        vma=vma,
        flags=flags,
        pgoff=linear_page_index(vma, address & PAGE_MASK),
        address=address & PAGE_MASK,
    )
    if vma.vm_mm.pgd.pmd_alloc(vmf.address):
        return VM_FAULT_OOM
    return handle_pte_fault(vmf)


@traced
def handle_pte_fault(vmf: VmFault) -> int:
    """Dispatch on the PTE (``handle_pte_fault``, mm/memory.c L3899).

    `handle_pte_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3899>`_.
    Empty PTE: anonymous VMA (``vm_ops is None``) → :func:`do_anonymous_page`, else
    :func:`do_fault`. Present PTE and a write to a read-only entry → :func:`do_wp_page`.
    Otherwise the fault was spurious (another thread fixed it, or only the accessed/dirty bits
    needed setting): mark the entry young (and dirty for a write) and return 0. Swap entries and
    NUMA hinting are not modelled.
    """
    vma = vmf.vma
    mm = vma.vm_mm
    pte = mm.pgd.walk(vmf.address)
    if pte_none(pte):
        vmf.orig_pte = None
        if vma.vm_ops is None:
            return do_anonymous_page(vmf)
        return do_fault(vmf)
    vmf.orig_pte = pte
    if not pte_present(pte):
        raise KernelBug(f"non-present PTE {pte!r}: swap entries are not modelled")
    entry = pte
    if vmf.flags & FAULT_FLAG_WRITE:
        if not pte_write(pte):
            return do_wp_page(vmf)
        entry = pte_mkdirty(entry)
    entry = pte_mkyoung(entry)
    if entry != pte:
        mm.pgd.set_pte_at(vmf.address, entry)  # ptep_set_access_flags
    return 0


@traced
def do_anonymous_page(vmf: VmFault) -> int:
    """First touch of a page in an anonymous VMA (``do_anonymous_page``, mm/memory.c L3083).

    `do_anonymous_page @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3083>`_.

    - A ``VM_SHARED`` VMA without ``vm_ops`` is a bug in the mapping → ``VM_FAULT_SIGBUS``
      (real shared anonymous memory has shmem ops: see :func:`mmlab.filemap.shmem_zero_setup`).
    - No page table and none can be allocated → ``VM_FAULT_OOM``.
    - Read fault: map the shared zero page read-only (a special PTE on x86), no allocation.
    - Write fault: ``anon_vma_prepare``, allocate a zeroed page (``None`` → ``VM_FAULT_OOM``),
      map it writable and dirty if the VMA has ``VM_WRITE``, as a new anonymous page.
    Returns 0 on success (also when the PTE was meanwhile filled: nothing to do).
    """
    vma = vmf.vma
    mm = vma.vm_mm
    mem = mm.physmem
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    if mm.pgd.pte_alloc(vmf.address):
        return VM_FAULT_OOM
    if not vmf.flags & FAULT_FLAG_WRITE:
        entry = _mkspecial(mm, pfn_pte(mem.my_zero_pfn(vmf.address), vma.vm_page_prot))
        if not pte_none(mm.pgd.walk(vmf.address)):
            return 0
        mm.pgd.set_pte_at(vmf.address, entry)
        return 0
    if anon_vma_prepare(vma):
        return VM_FAULT_OOM
    page = mem.alloc_page()  # alloc_zeroed_user_highpage_movable
    if page is None:
        return VM_FAULT_OOM
    mem.clear_frame(page.pfn)
    SetPageUptodate(page)
    entry = mk_pte(page, vma.vm_page_prot)
    if vma.vm_flags & VM_WRITE:
        entry = maybe_mkwrite(pte_mkdirty(entry), vma)
    if not pte_none(mm.pgd.walk(vmf.address)):
        mem.put_page(page)
        return 0
    page_add_new_anon_rmap(page, vma, vmf.address)
    mm.pgd.set_pte_at(vmf.address, entry)
    return 0


@traced
def do_fault(vmf: VmFault) -> int:
    """First touch of a page in a VMA with ``vm_ops`` (``do_fault``, mm/memory.c L3703).

    `do_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3703>`_.
    No ``->fault`` → ``VM_FAULT_SIGBUS`` ("the VMA was not fully populated on mmap() or is
    missing VM_DONTEXPAND"); read → :func:`do_read_fault`; write in a private VMA →
    :func:`do_cow_fault`; write in a shared VMA → :func:`do_shared_fault`.
    """
    vma = vmf.vma
    if vma.vm_ops is None or vma.vm_ops.fault is None:
        return VM_FAULT_SIGBUS
    if not vmf.flags & FAULT_FLAG_WRITE:
        return do_read_fault(vmf)
    if not vma.vm_flags & VM_SHARED:
        return do_cow_fault(vmf)
    return do_shared_fault(vmf)


@traced
def do_fault_around(vmf: VmFault) -> int:
    """Map already-cached pages around the fault (``do_fault_around``, mm/memory.c L3541).

    `do_fault_around @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3541>`_.
    The window is ``fault_around_bytes`` (16 pages) aligned down, clipped to the VMA and to the
    PTE table; ``vm_ops.map_pages(vmf, start_pgoff, end_pgoff)`` maps what it can without
    sleeping or reading. If the faulting address got a PTE, returns ``VM_FAULT_NOPAGE``
    (fault solved), else 0 (go on with ``->fault``).
    """
    vma = vmf.vma
    address = vmf.address
    nr_pages = fault_around_bytes >> PAGE_SHIFT
    mask = ~(nr_pages * PAGE_SIZE - 1) & PAGE_MASK
    start_addr = max(address & mask, vma.vm_start)
    off = ((address - start_addr) >> PAGE_SHIFT) & 511
    start_pgoff = vmf.pgoff - off
    end_pgoff = start_pgoff - ((start_addr >> PAGE_SHIFT) & 511) + 511
    end_pgoff = min(
        end_pgoff,
        ((vma.vm_end - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff - 1,
        start_pgoff + nr_pages - 1,
    )
    if vma.vm_mm.pgd.pte_alloc(address):
        return 0
    vmf.address = start_addr
    try:
        vma.vm_ops.map_pages(vmf, start_pgoff, end_pgoff)
    finally:
        vmf.address = address
    return 0 if pte_none(vma.vm_mm.pgd.walk(address)) else VM_FAULT_NOPAGE


@traced
def do_read_fault(vmf: VmFault) -> int:
    """Read fault on a file page (``do_read_fault``, mm/memory.c L3596).

    `do_read_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3596>`_.
    Fault-around first if the VMA has ``map_pages`` and ``fault_around_bytes`` covers more than
    a page; then ``__do_fault`` (ERROR/NOPAGE/RETRY are returned as they are), ``finish_fault``
    maps the page, the page is unlocked, and on a failure to map its reference is dropped.
    """
    vma = vmf.vma
    if getattr(vma.vm_ops, "map_pages", None) and fault_around_bytes >> PAGE_SHIFT > 1:
        ret = do_fault_around(vmf)
        if ret:
            return ret
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    ret |= finish_fault(vmf)
    unlock_page(vmf.page)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        _mem(vma).put_page(vmf.page)
    return ret


@traced
def do_cow_fault(vmf: VmFault) -> int:
    """Write fault on a private file mapping: copy the file page (``do_cow_fault``, L3623).

    `do_cow_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3623>`_.
    ``anon_vma_prepare``; allocate ``cow_page`` (``None`` → ``VM_FAULT_OOM``); ``__do_fault``
    gets the file page; its contents are copied into ``cow_page``, which ``finish_fault`` maps
    as a new anonymous page; the file page is unlocked and released — it stays in the page
    cache, unchanged. ``VM_FAULT_DONE_COW`` from the handler means it did the copy itself.
    """
    vma = vmf.vma
    mem = _mem(vma)
    if anon_vma_prepare(vma):
        return VM_FAULT_OOM
    vmf.cow_page = mem.alloc_page()
    if vmf.cow_page is None:
        return VM_FAULT_OOM
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        mem.put_page(vmf.cow_page)
        return ret
    if ret & VM_FAULT_DONE_COW:
        return ret
    mem.copy_frame(vmf.cow_page.pfn, vmf.page.pfn)  # copy_user_highpage
    SetPageUptodate(vmf.cow_page)
    ret |= finish_fault(vmf)
    unlock_page(vmf.page)
    mem.put_page(vmf.page)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        mem.put_page(vmf.cow_page)
    return ret


@traced
def do_page_mkwrite(vmf: VmFault) -> int:
    """Tell the filesystem a page is about to become writable (``do_page_mkwrite``).

    `do_page_mkwrite @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_.
    Calls ``vm_ops.page_mkwrite`` with ``FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE``; on success
    the page is returned locked (``VM_FAULT_LOCKED``); a page truncated meanwhile gives
    ``VM_FAULT_NOPAGE``.
    """
    page = vmf.page
    old_flags = vmf.flags
    vmf.flags = FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE
    try:
        ret = vmf.vma.vm_ops.page_mkwrite(vmf)
    finally:
        vmf.flags = old_flags
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
        return ret
    if not ret & VM_FAULT_LOCKED:
        lock_page(page)
        if page.mapping is None:
            unlock_page(page)
            return VM_FAULT_NOPAGE
        ret |= VM_FAULT_LOCKED
    elif not PageLocked(page):
        raise KernelBug("page_mkwrite returned VM_FAULT_LOCKED with an unlocked page")
    return ret


def _fault_dirty_shared_page(vma: Any, page: Page) -> None:
    # fault_dirty_shared_page (mm/memory.c): dirty the page, unlock it. No writeback.
    page.flags.add("PG_dirty")
    unlock_page(page)


@traced
def do_shared_fault(vmf: VmFault) -> int:
    """Write fault on a shared file mapping (``do_shared_fault``, mm/memory.c L3662).

    `do_shared_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3662>`_.
    ``__do_fault``; if the VMA has ``page_mkwrite`` the page is unlocked and the filesystem
    asked (a failure releases the page and returns its code); ``finish_fault`` maps the page
    writable; the page is marked dirty and unlocked (``fault_dirty_shared_page``; no writeback
    in the model).
    """
    vma = vmf.vma
    mem = _mem(vma)
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    if getattr(vma.vm_ops, "page_mkwrite", None):
        unlock_page(vmf.page)
        tmp = do_page_mkwrite(vmf)
        if not tmp or tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            mem.put_page(vmf.page)
            return tmp
    ret |= finish_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        unlock_page(vmf.page)
        mem.put_page(vmf.page)
        return ret
    _fault_dirty_shared_page(vma, vmf.page)
    return ret


@traced
def __do_fault(vmf: VmFault) -> int:
    """Call the VMA's ``->fault`` (``__do_fault``, mm/memory.c L3197).

    `__do_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3197>`_.
    ERROR, NOPAGE, RETRY or DONE_COW results are returned unchanged (with RETRY the handler
    has released mmap_sem). Otherwise ``vmf.page`` must be set; it is locked here unless the
    handler returned it locked (``VM_FAULT_LOCKED``). Hardware poisoning is not modelled.
    """
    ret = vmf.vma.vm_ops.fault(vmf)
    if not isinstance(ret, int):
        raise KernelBug(f"->fault returned {ret!r}, not VM_FAULT_* bits")
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY | VM_FAULT_DONE_COW):
        return ret
    if vmf.page is None:
        raise KernelBug("->fault returned success without a page (and without VM_FAULT_NOPAGE)")
    if not ret & VM_FAULT_LOCKED:
        lock_page(vmf.page)
    elif not PageLocked(vmf.page):
        raise KernelBug("->fault returned VM_FAULT_LOCKED with an unlocked page")
    return ret


@traced
def finish_fault(vmf: VmFault) -> int:
    """Install the PTE for the page the fault produced (``finish_fault``, mm/memory.c L3452).

    `finish_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3452>`_.
    Maps ``cow_page`` for a write fault in a private VMA, else ``page``, via
    :func:`alloc_set_pte`. Returns 0, ``VM_FAULT_OOM`` or ``VM_FAULT_NOPAGE``.
    """
    if vmf.flags & FAULT_FLAG_WRITE and not vmf.vma.vm_flags & VM_SHARED:
        page = vmf.cow_page
    else:
        page = vmf.page
    if page is None:
        raise KernelBug("finish_fault without a page")
    return alloc_set_pte(vmf, page)


# --- write-protect faults -------------------------------------------------------------------
def _wp_page_reuse(vmf: VmFault) -> None:
    # wp_page_reuse (mm/memory.c): make the existing PTE young, dirty and writable.
    vma = vmf.vma
    entry = maybe_mkwrite(pte_mkdirty(pte_mkyoung(vmf.orig_pte)), vma)
    vma.vm_mm.pgd.set_pte_at(vmf.address, entry)


def _finish_mkwrite_fault(vmf: VmFault) -> int:
    # finish_mkwrite_fault: re-check the PTE, then reuse it.
    if not pte_same(vmf.vma.vm_mm.pgd.walk(vmf.address), vmf.orig_pte):
        return VM_FAULT_NOPAGE
    _wp_page_reuse(vmf)
    return 0


@traced
def wp_pfn_shared(vmf: VmFault) -> int:
    """Write to a raw frame in a shared writable VMA (``wp_pfn_shared``, mm/memory.c).

    Calls ``vm_ops.pfn_mkwrite`` if present, then makes the PTE writable; no copy is made.

    Kernel: ``wp_pfn_shared`` in `mm/memory.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_.
    """
    vma = vmf.vma
    pfn_mkwrite = getattr(vma.vm_ops, "pfn_mkwrite", None) if vma.vm_ops else None
    if pfn_mkwrite:
        vmf.flags |= FAULT_FLAG_MKWRITE
        ret = pfn_mkwrite(vmf)
        if ret & VM_FAULT_ERROR:
            return ret
        return _finish_mkwrite_fault(vmf)
    _wp_page_reuse(vmf)
    return VM_FAULT_WRITE


@traced
def wp_page_shared(vmf: VmFault) -> int:
    """Write to a page-cache page in a shared writable VMA (``wp_page_shared``).

    ``page_mkwrite`` if the VMA has one, then the PTE is made writable and the page dirtied.

    Kernel: ``wp_page_shared`` in `mm/memory.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_.
    """
    vma = vmf.vma
    mem = _mem(vma)
    page = vmf.page
    mem.get_page(page)
    if getattr(vma.vm_ops, "page_mkwrite", None):
        tmp = do_page_mkwrite(vmf)
        if not tmp or tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            mem.put_page(page)
            return tmp
        tmp = _finish_mkwrite_fault(vmf)
        if tmp & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            unlock_page(page)
            mem.put_page(page)
            return tmp
    else:
        _wp_page_reuse(vmf)
        lock_page(page)
    _fault_dirty_shared_page(vma, page)
    mem.put_page(page)
    return VM_FAULT_WRITE


@traced
def wp_page_copy(vmf: VmFault) -> int:
    """Break COW: copy the old frame into a new anonymous page (``wp_page_copy``, L2450).

    `wp_page_copy @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2450>`_.
    ``vmf.page`` is the old page (holding a reference taken by the caller) or ``None`` for a raw
    frame (PFNMAP/MIXEDMAP without struct page: the data is copied from the frame itself, as
    ``cow_user_page`` copies from the user address). The zero page is replaced by a zeroed page.
    The new page is mapped writable and dirty as a new anonymous page; the old page loses this
    mapping and the reference. Returns ``VM_FAULT_WRITE``, or ``VM_FAULT_OOM``.
    """
    vma = vmf.vma
    mm = vma.vm_mm
    mem = mm.physmem
    old_page = vmf.page
    if anon_vma_prepare(vma):
        if old_page is not None:
            mem.put_page(old_page)
        return VM_FAULT_OOM
    new_page = mem.alloc_page()
    if new_page is None:
        if old_page is not None:
            mem.put_page(old_page)
        return VM_FAULT_OOM
    if mem.is_zero_pfn(vmf.orig_pte.pfn):
        mem.clear_frame(new_page.pfn)
    else:
        mem.copy_frame(new_page.pfn, vmf.orig_pte.pfn)  # cow_user_page
    SetPageUptodate(new_page)
    page_copied = False
    if pte_same(mm.pgd.walk(vmf.address), vmf.orig_pte):
        entry = maybe_mkwrite(pte_mkdirty(mk_pte(new_page, vma.vm_page_prot)), vma)
        mm.pgd.pte_clear(vmf.address)  # ptep_clear_flush_notify
        page_add_new_anon_rmap(new_page, vma, vmf.address)
        mm.pgd.set_pte_at(vmf.address, entry)
        if old_page is not None:
            page_remove_rmap(old_page)
        page_copied = True
    # The kernel's tail: drop the page that is no longer needed (the old one, which lost this
    # mapping, or the unused copy), then the reference the caller took on the old page.
    to_free = old_page if page_copied else new_page
    if to_free is not None:
        mem.put_page(to_free)
    if old_page is not None:
        mem.put_page(old_page)
    return VM_FAULT_WRITE if page_copied else 0


@traced
def do_wp_page(vmf: VmFault) -> int:
    """Write to a present read-only PTE (``do_wp_page``, mm/memory.c L2690).

    `do_wp_page @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2690>`_.

    - ``vm_normal_page`` gives ``None`` (raw frame, zero page): in a shared writable VMA
      :func:`wp_pfn_shared` makes the PTE writable, else :func:`wp_page_copy` copies.
    - An anonymous page mapped only here is reused: the PTE just becomes writable
      (``reuse_swap_page`` without swap: ``page_mapcount == 1``).
    - A page in a shared writable VMA: :func:`wp_page_shared`.
    - Anything else (a page-cache page in a private VMA, a shared anonymous page): copy.
    """
    vma = vmf.vma
    mem = _mem(vma)
    vmf.page = vm_normal_page(vma, vmf.address, vmf.orig_pte)
    shared_writable = (vma.vm_flags & (VM_WRITE | VM_SHARED)) == (VM_WRITE | VM_SHARED)
    if vmf.page is None:
        if shared_writable:
            return wp_pfn_shared(vmf)
        return wp_page_copy(vmf)
    page = vmf.page
    if PageAnon(page):
        if trylock_page(page):
            if page_mapcount(page) == 1:  # reuse_swap_page
                unlock_page(page)
                _wp_page_reuse(vmf)
                return VM_FAULT_WRITE
            unlock_page(page)
    elif shared_writable:
        return wp_page_shared(vmf)
    mem.get_page(page)
    return wp_page_copy(vmf)


# --- the architecture entry (x86) -------------------------------------------------------------
def access_error(error_code: int, vma: Any) -> bool:
    """Does the VMA forbid this access? (x86 ``access_error``, arch/x86/mm/fault.c).

    A write needs ``VM_WRITE``. A read of a *present* page faulted because of its protection
    (an instruction fetch from an NX page, say) is an error. A read of a not-present page needs
    one of ``VM_READ|VM_EXEC|VM_WRITE``. Note that v4.15 does not compare an instruction fetch
    with ``VM_EXEC`` here: the page is mapped NX and the *next* fault (present, PROT|INSTR) fails.

    Kernel: ``access_error`` in `arch/x86/mm/fault.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c>`_.
    """
    if error_code & X86_PF_PK:
        return True
    if error_code & X86_PF_WRITE:
        return not vma.vm_flags & VM_WRITE
    if error_code & X86_PF_PROT:
        return True
    return not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)


def x86_error_code(mm: Any, address: int, write: bool, exec_: bool, user: bool) -> int:
    """The error code the CPU pushes for this access: PROT if the PTE was present.

    Kernel: ``enum x86_pf_error_code`` in `arch/x86/mm/fault.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c>`_.
    """
    code = 0
    pte = mm.pgd.walk(address & PAGE_MASK) if 0 <= address < (1 << 48) else None
    if pte is not None and pte.bits & _PAGE_PRESENT:
        code |= X86_PF_PROT
    if write:
        code |= X86_PF_WRITE
    if user:
        code |= X86_PF_USER
    if exec_:
        code |= X86_PF_INSTR
    return code


def _signal(res: FaultResult, user: bool, sig: str, code: str) -> FaultResult:
    if user:
        res.signal, res.si_code = sig, code
    else:
        res.kernel_fixup = True  # no_context → fixup_exception → -EFAULT
    return res


@traced
def do_page_fault(
    mm: Any,
    address: int,
    write: bool = False,
    exec_: bool = False,
    user: bool = True,
    *,
    fatal_signal_pending: bool = False,
) -> FaultResult:
    """The x86 page-fault handler for a user address (``__do_page_fault``).

    `__do_page_fault @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c#L1238>`_.

    1. If the PTE already allows the access the CPU would not fault: ``no_fault`` result,
       nothing else happens. An address at or above ``TASK_SIZE`` from user mode → SIGSEGV.
    2. ``flags = ALLOW_RETRY | KILLABLE`` (+ ``USER``, ``WRITE``, ``INSTRUCTION``).
    3. mmap_sem for read: ``down_read_trylock``, else ``down_read``.
    4. ``find_vma``; none, or ``vm_start > address`` → ``bad_area``: up_read, SIGSEGV
       (SEGV_MAPERR). Stack expansion of ``VM_GROWSDOWN`` VMAs is not modelled (also
       bad_area).
    5. ``access_error`` → SIGSEGV (SEGV_ACCERR).
    6. ``handle_mm_fault``. On ``VM_FAULT_RETRY`` the handler has released mmap_sem: if
       ``ALLOW_RETRY`` is still set it is cleared, ``TRIED`` set, and unless a fatal signal is
       pending the handler goes back to ``retry:`` (blocking ``down_read``, new ``find_vma``).
       Otherwise it returns without touching the lock (user mode: the fatal signal kills).
    7. Else ``up_read``; error bits: OOM → ``pagefault_out_of_memory`` (no signal, ``oom``),
       SIGBUS/HWPOISON → SIGBUS (BUS_ADRERR), SIGSEGV → SIGSEGV (SEGV_MAPERR).
    8. Success: ``mm.maj_flt`` or ``mm.min_flt`` grows (``VM_FAULT_MAJOR`` of any try).

    After it returns, the mmap_sem is as it was before — unless a ``->fault`` handler broke the
    locking rules, which the model then shows rather than hides.
    """
    address = int(address)
    res = FaultResult(address=address)
    if address >= TASK_SIZE or address < 0:
        # fault_in_kernel_space: a user access to a kernel address (bad_area_nosemaphore)
        res.error_code = (X86_PF_WRITE if write else 0) | (X86_PF_USER if user else 0)
        if not user:
            raise KernelBug(f"unable to handle kernel paging request at {address:#x}")
        return _signal(res, user, "SIGSEGV", "SEGV_MAPERR")
    error_code = x86_error_code(mm, address, write, exec_, user)
    res.error_code = error_code
    if pte_access_permitted(mm.pgd.walk(address & PAGE_MASK), write, user, exec_):
        res.no_fault = True
        return res
    flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE
    if user:
        flags |= FAULT_FLAG_USER
    if write:
        flags |= FAULT_FLAG_WRITE
    if exec_:
        flags |= FAULT_FLAG_INSTRUCTION
    from mmlab.mm import find_vma  # late: mm imports this package's lower layers

    sem = mm.mmap_sem
    if not sem.down_read_trylock():
        sem.down_read()
    major = 0
    while True:
        vma = find_vma(mm, address)
        if vma is None or vma.vm_start > address:
            # bad_area (a VM_GROWSDOWN VMA would be expanded here: not modelled)
            sem.up_read()
            return _signal(res, user, "SIGSEGV", "SEGV_MAPERR")
        if access_error(error_code, vma):
            sem.up_read()  # bad_area_access_error
            return _signal(res, user, "SIGSEGV", "SEGV_ACCERR")
        fault = handle_mm_fault(vma, address, flags)
        res.ret = fault
        major |= fault & VM_FAULT_MAJOR
        if fault & VM_FAULT_RETRY:
            if flags & FAULT_FLAG_ALLOW_RETRY:
                flags &= ~FAULT_FLAG_ALLOW_RETRY
                flags |= FAULT_FLAG_TRIED
                if not fatal_signal_pending:
                    res.retries += 1
                    sem.down_read()  # retry:
                    continue
            if not flags & FAULT_FLAG_USER:
                res.kernel_fixup = True  # no_context(..., SIGBUS, BUS_ADRERR)
            return res
        break
    sem.up_read()
    if fault & VM_FAULT_ERROR:
        # mm_fault_error
        if fault & VM_FAULT_OOM:
            if not user:
                res.kernel_fixup = True
            else:
                res.oom = True  # pagefault_out_of_memory(): the OOM killer decides
            return res
        if fault & (VM_FAULT_SIGBUS | VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE):
            return _signal(res, user, "SIGBUS", "BUS_ADRERR")
        if fault & VM_FAULT_SIGSEGV:
            return _signal(res, user, "SIGSEGV", "SEGV_MAPERR")
        raise KernelBug(f"mm_fault_error: unexpected fault code {fault:#x} (BUG)")
    if major:
        res.major = True
        mm.maj_flt += 1
    else:
        mm.min_flt += 1
    return res


# --- user accesses ----------------------------------------------------------------------------
class SignalDelivered(Exception):  # noqa: N818 - it is a signal, not an error
    """A user access ended in a signal (or an OOM kill); ``result`` is the last fault.

    Model helper: no kernel function of this name.
    """

    def __init__(self, result: FaultResult) -> None:
        super().__init__(f"{result.signal or 'OOM'} at {result.address:#x} ({result!r})")
        self.result = result
        self.signal = result.signal


def _touch(mm: Any, addr: int, write: bool, exec_: bool) -> Pte:
    """Make one page accessible as the CPU would: fault until the PTE allows the access."""
    for _ in range(4):
        pte = mm.pgd.walk(addr & PAGE_MASK) if 0 <= addr < TASK_SIZE else None
        if pte_access_permitted(pte, write, True, exec_):
            return pte
        res = do_page_fault(mm, addr, write=write, exec_=exec_)
        if not res.ok:
            raise SignalDelivered(res)
    raise KernelBug(f"fault loop at {addr:#x}: the PTE never allowed the access")


def user_read(mm: Any, addr: int, length: int, *, exec_: bool = False) -> bytes:
    """Load ``length`` bytes at user address ``addr`` the way a program would.

    Each page is accessed through the page tables; a missing or insufficient PTE raises a page
    fault (:func:`do_page_fault`); a signal ends the access with :class:`SignalDelivered`.
    ``exec_`` models an instruction fetch. Sets the accessed bit like the MMU does.

    Model helper: no kernel function of this name.
    """
    out = bytearray()
    mem = mm.physmem
    while length > 0:
        pte = _touch(mm, addr, False, exec_)
        off = addr & (PAGE_SIZE - 1)
        n = min(length, PAGE_SIZE - off)
        out += mem.read_phys((pte.pfn << PAGE_SHIFT) + off, n)
        young = pte_mkyoung(pte)
        if young != pte:
            mm.pgd.set_pte_at(addr & PAGE_MASK, young)
        addr += n
        length -= n
    return bytes(out)


def user_write(mm: Any, addr: int, data: bytes) -> None:
    """Store ``data`` at user address ``addr`` the way a program would (faulting as needed).

    Sets the accessed and dirty bits like the MMU. Raises :class:`SignalDelivered` on a signal.

    Model helper: no kernel function of this name.
    """
    mv = memoryview(bytes(data))
    mem = mm.physmem
    while len(mv):
        pte = _touch(mm, addr, True, False)
        off = addr & (PAGE_SIZE - 1)
        n = min(len(mv), PAGE_SIZE - off)
        mem.write_phys((pte.pfn << PAGE_SHIFT) + off, bytes(mv[:n]))
        new = pte_mkdirty(pte_mkyoung(pte))
        if new != pte:
            mm.pgd.set_pte_at(addr & PAGE_MASK, new)
        addr += n
        mv = mv[n:]


__all__ = [name for name in globals() if name.isupper() and name.startswith(("VM_", "FAULT_"))] + [
    "FaultResult",
    "KernelBug",
    "SignalDelivered",
    "VmFault",
    "access_error",
    "do_anonymous_page",
    "do_cow_fault",
    "do_fault",
    "do_page_fault",
    "do_read_fault",
    "do_shared_fault",
    "do_wp_page",
    "fault_flag_names",
    "finish_fault",
    "handle_mm_fault",
    "handle_pte_fault",
    "user_read",
    "user_write",
    "vm_fault_names",
    "wp_page_copy",
]
