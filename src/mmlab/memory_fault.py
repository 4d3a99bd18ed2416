"""The page-fault handlers of ``mm/memory.c`` @ v4.15: ``handle_mm_fault`` and ``do_*_fault``.

From ``handle_mm_fault`` down: ``handle_pte_fault`` dispatches on the PTE to
``do_anonymous_page``, ``do_fault`` (``do_read_fault`` with fault-around, ``do_cow_fault``,
``do_shared_fault``, all through ``__do_fault`` and ``finish_fault``) or ``do_wp_page`` (reuse,
copy, or the shared-writable paths). The architecture's entry above it is :mod:`mmlab.fault`
(x86 ``do_page_fault``); the PTE insert/zap half of the same kernel file is :mod:`mmlab.memory`.

Models, in `mm/memory.c <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c>`_:
``handle_mm_fault`` L4076, ``__handle_mm_fault`` L3987, ``handle_pte_fault`` L3899,
``do_fault`` L3703, ``do_shared_fault`` L3662, ``do_cow_fault`` L3623, ``do_read_fault``
L3596, ``do_fault_around`` L3541, ``finish_fault`` L3452, ``alloc_set_pte`` L3387,
``__do_fault`` L3197, ``do_anonymous_page`` L3083, ``do_wp_page`` L2690, ``wp_page_copy``
L2452.

On a machine with per-VMA locks (v6.4 on, :data:`mmlab.version.PER_VMA_LOCK`) the same handlers
follow the rules of 6.12 (Debian's 6.12.118, `mm/memory.c
<https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c>`_): ``lock_vma_under_rcu``
L6273 finds and read-locks the VMA for the x86 handler; a fault under that lock
(``FAULT_FLAG_VMA_LOCK``) gives up with ``VM_FAULT_RETRY``, after ``vma_end_read``, where it
needs more than the one VMA: ``vmf_can_call_fault`` L3279 before a ``->fault``,
``->page_mkwrite`` or ``->pfn_mkwrite`` of a VMA whose ``vm_ops`` has no ``->map_pages``, and
``__vmf_anon_prepare`` L3304 when an anonymous page is needed in a VMA without an ``anon_vma``
and ``mmap_lock`` cannot be had at once. From v5.9
(:data:`mmlab.version.FAULT_ACCOUNTING_IN_CORE`) ``handle_mm_fault`` L6080 counts the fault
itself (``mm_account_fault`` L5965).

Where the model simplifies: no swap (``do_swap_page`` is never reached), no NUMA hinting faults,
no huge pages (``VM_FAULT_FALLBACK`` never produced), no userfaultfd, no memcg charging, no
pkeys, no page-table locks (the model is single threaded: "re-check the PTE under the lock"
steps are kept where they can observe a change made by a ``->fault`` handler), no TLB.
"""

from __future__ import annotations

from mmlab.constants import (
    FAULT_FLAG_MKWRITE,
    FAULT_FLAG_RETRY_NOWAIT,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_VMA_LOCK,
    FAULT_FLAG_WRITE,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_FAULT_DONE_COW,
    VM_FAULT_ERROR,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_FAULT_WRITE,
    VM_SHARED,
    VM_WRITE,
)
from mmlab.errors import KernelBug
from mmlab.memory import arch_pte_mkspecial, maybe_mkwrite, mk_pte, vm_normal_page
from mmlab.mm_types import (
    MmStruct,
    Vma,
    VmFault,
    linear_page_index,
    vma_end_read,
    vma_mm,
    vma_start_read,
)
from mmlab.pagetable import (
    pfn_pte,
    pte_mkdirty,
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
    PhysMem,
    SetPageUptodate,
    lock_page,
    page_mapcount,
    trylock_page,
    unlock_page,
)
from mmlab.rmap import (
    anon_vma_prepare,
    page_add_file_rmap,
    page_add_new_anon_rmap,
    page_remove_rmap,
)
from mmlab.trace import traced
from mmlab.version import FAULT_ACCOUNTING_IN_CORE, has
from mmlab.vma_iter import mas_walk

__all__ = [
    "alloc_set_pte",
    "do_anonymous_page",
    "do_cow_fault",
    "do_fault",
    "do_fault_around",
    "do_page_mkwrite",
    "do_read_fault",
    "do_shared_fault",
    "do_wp_page",
    "finish_fault",
    "handle_mm_fault",
    "handle_pte_fault",
    "lock_vma_under_rcu",
    "mm_account_fault",
    "vmf_anon_prepare",
    "vmf_can_call_fault",
    "wp_page_copy",
    "wp_page_shared",
    "wp_pfn_shared",
]


# --- helpers ---------------------------------------------------------------------------------
def _mem(vma: Vma) -> PhysMem:
    return vma_mm(vma).physmem


def alloc_set_pte(vmf: VmFault, page: Page, address: int | None = None) -> int:
    """Map ``page`` at the fault address.

    0, ``VM_FAULT_OOM`` (no page table) or ``VM_FAULT_NOPAGE`` (someone filled the PTE
    meanwhile). A write fault in a private VMA maps ``page`` (the COW copy) as a new anonymous
    page; otherwise it is a file page whose mapcount grows by one. The caller's page reference
    becomes the mapping's reference.

    Kernel: ``alloc_set_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3387>`_.
    """
    vma = vmf.vma
    mm = vma_mm(vma)
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
def handle_mm_fault(vma: Vma, address: int, flags: int) -> int:
    """Resolve a fault at ``address`` in ``vma`` with the mm's mmap_sem held for read.

    Counts ``pgfault``, asks ``arch_vma_access_permitted`` (always true: no pkeys), then
    ``__handle_mm_fault`` (no hugetlb). Returns ``VM_FAULT_*`` bits. If the result has
    ``VM_FAULT_RETRY``, the mmap_sem has been released.

    From v5.9 (:data:`mmlab.version.FAULT_ACCOUNTING_IN_CORE`) the count moves to the end, in
    :func:`mm_account_fault`, and includes the process's major/minor fault counters. With
    ``FAULT_FLAG_VMA_LOCK`` (v6.4 on) the caller holds the VMA's read lock instead of
    ``mmap_lock`` (``sanitize_fault_flags`` refuses it together with
    ``FAULT_FLAG_RETRY_NOWAIT``: ``VM_FAULT_SIGSEGV``), and a ``VM_FAULT_RETRY`` result means
    that the VMA lock has been released (`mm/memory.c @ v6.12.118 L6080
    <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L6080>`_).

    Kernel: ``handle_mm_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4076>`_.
    """
    mm = vma_mm(vma)
    if not has(mm.version, FAULT_ACCOUNTING_IN_CORE):
        mm.system.vmstat["pgfault"] += 1
        return __handle_mm_fault(vma, address, flags)
    if (flags & (FAULT_FLAG_VMA_LOCK | FAULT_FLAG_RETRY_NOWAIT)
            == FAULT_FLAG_VMA_LOCK | FAULT_FLAG_RETRY_NOWAIT):
        ret = VM_FAULT_SIGSEGV  # sanitize_fault_flags: WARN_ON_ONCE
    else:
        ret = __handle_mm_fault(vma, address, flags)
    mm_account_fault(mm, flags, ret)
    return ret


@traced
def mm_account_fault(mm: MmStruct, flags: int, ret: int) -> None:
    """Count a finished fault (v5.9 on): nothing while it retries; else ``pgfault``; and if it
    succeeded, a major fault when it was ``VM_FAULT_MAJOR`` or had been retried
    (``FAULT_FLAG_TRIED``), a minor one otherwise.

    The kernel counts the major/minor faults on the task (``current->maj_flt``); the model's
    are on the mm (:attr:`~mmlab.mm_types.MmStruct.maj_flt`). Perf events are not modelled.

    Kernel: ``mm_account_fault`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L5965>`_.
    """
    if ret & VM_FAULT_RETRY:
        return
    mm.system.vmstat["pgfault"] += 1
    if ret & VM_FAULT_ERROR:
        return
    if ret & VM_FAULT_MAJOR or flags & FAULT_FLAG_TRIED:
        mm.maj_flt += 1
    else:
        mm.min_flt += 1


@traced
def lock_vma_under_rcu(mm: MmStruct, address: int) -> Vma | None:
    """Find the VMA that contains ``address`` and read-lock it, or None (v6.4 on).

    Under RCU, without ``mmap_lock``: :func:`~mmlab.vma_iter.mas_walk` (no VMA there, a gap →
    None), :func:`~mmlab.mm_types.vma_start_read` (write-locked, being changed → None), then
    the checks made under the VMA lock: a VMA detached by munmap meanwhile is unlocked and the
    walk starts again (``vma_lock_miss``); an address no longer inside it → unlock, None. Every
    None counts ``vma_lock_abort`` in the machine's vmstat (the kernel counts these events only
    with ``CONFIG_PER_VMA_LOCK_STATS``). None sends the fault to ``mmap_lock``. In 6.12 the VMA
    may be anonymous without an ``anon_vma``, or file-backed: the handlers decide later
    (:func:`vmf_can_call_fault`, :func:`vmf_anon_prepare`).

    Kernel: ``lock_vma_under_rcu`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L6273>`_.
    """
    vmstat = mm.system.vmstat
    while True:
        vma = mas_walk(mm, address)
        if vma is None or not vma_start_read(vma):
            break
        if vma.detached:
            vma_end_read(vma)
            vmstat["vma_lock_miss"] += 1
            continue
        if not vma.vm_start <= address < vma.vm_end:
            vma_end_read(vma)
            break
        return vma
    vmstat["vma_lock_abort"] += 1
    return None


@traced
def vmf_can_call_fault(vmf: VmFault) -> int:
    """May this fault call into the VMA's ``vm_ops`` (``->fault`` and its kin) under the lock
    it holds? 0 if yes; else ``vma_end_read`` and ``VM_FAULT_RETRY``: try again under
    ``mmap_lock``.

    Under ``mmap_lock`` (no ``FAULT_FLAG_VMA_LOCK``): always yes. Under a VMA lock: only when the
    ``vm_ops`` have a ``->map_pages``, which the kernel takes as the sign that they were checked
    not to need ``mmap_lock`` ("all vm_ops that have a ->map_pages have been audited"). The
    2017 handler's ``cramfs_vmasplit_ops`` has only ``->fault``: it always falls back here.

    Kernel: ``vmf_can_call_fault`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L3279>`_.
    """
    vma = vmf.vma
    ops = vma.vm_ops
    if (ops is not None and ops.map_pages is not None) or not vmf.flags & FAULT_FLAG_VMA_LOCK:
        return 0
    vma_end_read(vma)
    return VM_FAULT_RETRY


@traced
def __vmf_anon_prepare(vmf: VmFault) -> int:  # noqa: N807 - kernel name
    """Give the VMA an ``anon_vma`` before an anonymous page goes in: 0, OOM or RETRY.

    Already there: 0. Under a VMA lock, :func:`~mmlab.rmap.anon_vma_prepare` (which looks at the
    neighbouring VMAs) needs ``mmap_lock`` too: taken with a trylock only, and if that fails
    the fault retries under ``mmap_lock``.

    Kernel: ``__vmf_anon_prepare`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L3304>`_.
    """
    vma = vmf.vma
    if vma.anon_vma is not None:
        return 0
    sem = vma_mm(vma).mmap_sem
    locked = bool(vmf.flags & FAULT_FLAG_VMA_LOCK)
    if locked and not sem.down_read_trylock():
        return VM_FAULT_RETRY
    ret = VM_FAULT_OOM if anon_vma_prepare(vma) else 0
    if locked:
        sem.up_read()
    return ret


def vmf_anon_prepare(vmf: VmFault) -> int:
    """:func:`__vmf_anon_prepare`, releasing the VMA lock when it asks for a retry.

    Kernel: ``vmf_anon_prepare`` in `mm/internal.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/internal.h#L365>`_.
    """
    ret = __vmf_anon_prepare(vmf)
    if ret & VM_FAULT_RETRY:
        vma_end_read(vmf.vma)
    return ret


def _anon_prepare(vmf: VmFault) -> int:
    """v4.15's ``anon_vma_prepare`` (OOM or 0); with per-VMA locks :func:`vmf_anon_prepare`."""
    if vma_mm(vmf.vma).per_vma_locks:
        return vmf_anon_prepare(vmf)
    return VM_FAULT_OOM if anon_vma_prepare(vmf.vma) else 0


def _can_call(vmf: VmFault) -> int:
    """:func:`vmf_can_call_fault` on per-VMA lock machines; nothing to check on v4.15."""
    return vmf_can_call_fault(vmf) if vma_mm(vmf.vma).per_vma_locks else 0


@traced
def __handle_mm_fault(vma: Vma, address: int, flags: int) -> int:
    """Build the ``struct vm_fault`` and make sure the upper page tables exist.

    ``vmf.address = address & PAGE_MASK``, ``vmf.pgoff = linear_page_index(vma, address)``;
    allocating the pud/pmd tables may fail → ``VM_FAULT_OOM``. No transparent huge pages: goes
    straight to :func:`handle_pte_fault`.

    Kernel: ``__handle_mm_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3987>`_.
    """
    vmf = VmFault(
        vma=vma,
        flags=flags,
        pgoff=linear_page_index(vma, address & PAGE_MASK),
        address=address & PAGE_MASK,
    )
    if vma_mm(vma).pgd.pmd_alloc(vmf.address):
        return VM_FAULT_OOM
    return handle_pte_fault(vmf)


@traced
def handle_pte_fault(vmf: VmFault) -> int:
    """Dispatch on the PTE.

    Empty PTE: anonymous VMA (``vm_ops is None``) → :func:`do_anonymous_page`, else
    :func:`do_fault`. Present PTE and a write to a read-only entry → :func:`do_wp_page`.
    Otherwise the fault was spurious (another thread fixed it, or only the accessed/dirty bits
    needed setting): mark the entry young (and dirty for a write) and return 0. Swap entries and
    NUMA hinting are not modelled.

    Kernel: ``handle_pte_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3899>`_.
    """
    vma = vmf.vma
    mm = vma_mm(vma)
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
    """First touch of a page in an anonymous VMA.

    - A ``VM_SHARED`` VMA without ``vm_ops`` is a bug in the mapping → ``VM_FAULT_SIGBUS``
      (real shared anonymous memory has shmem ops: see :func:`mmlab.shmem.shmem_zero_setup`).
    - No page table and none can be allocated → ``VM_FAULT_OOM``.
    - Read fault: map the shared zero page read-only (a special PTE on x86), no allocation.
    - Write fault: ``anon_vma_prepare``, allocate a zeroed page (``None`` → ``VM_FAULT_OOM``),
      map it writable and dirty if the VMA has ``VM_WRITE``, as a new anonymous page.

    Returns 0 on success (also when the PTE was meanwhile filled: nothing to do).

    Kernel: ``do_anonymous_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3083>`_.
    """
    vma = vmf.vma
    mm = vma_mm(vma)
    mem = mm.physmem
    if vma.vm_flags & VM_SHARED:
        return VM_FAULT_SIGBUS
    if mm.pgd.pte_alloc(vmf.address):
        return VM_FAULT_OOM
    if not vmf.flags & FAULT_FLAG_WRITE:
        entry = arch_pte_mkspecial(mm, pfn_pte(mem.my_zero_pfn(vmf.address), vma.vm_page_prot))
        if not pte_none(mm.pgd.walk(vmf.address)):
            return 0
        mm.pgd.set_pte_at(vmf.address, entry)
        return 0
    ret = _anon_prepare(vmf)
    if ret:
        return ret
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
    """First touch of a page in a VMA with ``vm_ops``.

    No ``->fault`` → ``VM_FAULT_SIGBUS`` ("the VMA was not fully populated on mmap() or is
    missing VM_DONTEXPAND"); read → :func:`do_read_fault`; write in a private VMA →
    :func:`do_cow_fault`; write in a shared VMA → :func:`do_shared_fault`.

    Kernel: ``do_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3703>`_.
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
    """Map already-cached pages around the fault.

    The window starts at the address aligned down to ``fault_around_bytes`` (16 pages), or at
    ``vm_start`` where that aligned start lies below the VMA, and runs 16 pages from its start,
    ending earlier at the VMA's end or the PTE table's (so a window moved up to ``vm_start``
    still counts 16 pages); ``vm_ops.map_pages(vmf, start_pgoff, end_pgoff)`` maps what it can
    without sleeping or reading. If the faulting address got a PTE, returns
    ``VM_FAULT_NOPAGE`` (fault solved), else 0 (go on with ``->fault``).

    Kernel: ``do_fault_around`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3541>`_.
    """
    vma = vmf.vma
    address = vmf.address
    nr_pages = vma_mm(vma).system.fault_around_bytes >> PAGE_SHIFT
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
    if vma_mm(vma).pgd.pte_alloc(address):
        return 0
    vmf.address = start_addr
    try:
        vma.vm_ops.map_pages(vmf, start_pgoff, end_pgoff)
    finally:
        vmf.address = address
    return 0 if pte_none(vma_mm(vma).pgd.walk(address)) else VM_FAULT_NOPAGE


@traced
def do_read_fault(vmf: VmFault) -> int:
    """Read fault on a file page.

    Fault-around first if the VMA has ``map_pages`` and ``fault_around_bytes`` covers more than
    a page; then ``__do_fault`` (ERROR/NOPAGE/RETRY are returned as they are), ``finish_fault``
    maps the page, the page is unlocked, and on a failure to map its reference is dropped.

    Kernel: ``do_read_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3596>`_.
    """
    vma = vmf.vma
    ops = vma.vm_ops
    if (
        ops is not None
        and ops.map_pages is not None
        and vma_mm(vma).system.fault_around_bytes >> PAGE_SHIFT > 1
    ):
        ret = do_fault_around(vmf)
        if ret:
            return ret
    ret = _can_call(vmf)
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
    """Write fault on a private file mapping: copy the file page.

    ``anon_vma_prepare``; allocate ``cow_page`` (``None`` → ``VM_FAULT_OOM``); ``__do_fault``
    gets the file page; its contents are copied into ``cow_page``, which ``finish_fault`` maps
    as a new anonymous page; the file page is unlocked and released — it stays in the page
    cache, unchanged. ``VM_FAULT_DONE_COW`` from the handler means it did the copy itself.

    Kernel: ``do_cow_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3623>`_.
    """
    vma = vmf.vma
    mem = _mem(vma)
    ret = _can_call(vmf)
    if not ret:
        ret = _anon_prepare(vmf)
    if ret:
        return ret
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
    """Tell the filesystem a page is about to become writable.

    Calls ``vm_ops.page_mkwrite`` with ``FAULT_FLAG_WRITE | FAULT_FLAG_MKWRITE``; on success
    the page is returned locked (``VM_FAULT_LOCKED``); a page truncated meanwhile gives 0,
    which the callers read as "retry the fault".

    Kernel: ``do_page_mkwrite`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2346>`_.
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
            return 0  # retry
        ret |= VM_FAULT_LOCKED
    elif not PageLocked(page):
        raise KernelBug("page_mkwrite returned VM_FAULT_LOCKED with an unlocked page")
    return ret


def _fault_dirty_shared_page(vma: Vma, page: Page) -> None:
    # fault_dirty_shared_page (mm/memory.c): dirty the page, unlock it. No writeback.
    page.flags.add("PG_dirty")
    unlock_page(page)


@traced
def do_shared_fault(vmf: VmFault) -> int:
    """Write fault on a shared file mapping.

    ``__do_fault``; if the VMA has ``page_mkwrite`` the page is unlocked and the filesystem
    asked (a failure releases the page and returns its code); ``finish_fault`` maps the page
    writable; the page is marked dirty and unlocked (``fault_dirty_shared_page``; no writeback
    in the model).

    Kernel: ``do_shared_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3662>`_.
    """
    vma = vmf.vma
    mem = _mem(vma)
    ret = _can_call(vmf)
    if ret:
        return ret
    ret = __do_fault(vmf)
    if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
        return ret
    if vma.vm_ops is not None and vma.vm_ops.page_mkwrite is not None:
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
    """Call the VMA's ``->fault``.

    ERROR, NOPAGE, RETRY or DONE_COW results are returned unchanged (with RETRY the handler
    has released mmap_sem). Otherwise ``vmf.page`` must be set; it is locked here unless the
    handler returned it locked (``VM_FAULT_LOCKED``). Hardware poisoning is not modelled.

    Kernel: ``__do_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3197>`_.
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
    """Install the PTE for the page the fault produced.

    Maps ``cow_page`` for a write fault in a private VMA, else ``page``, via
    :func:`alloc_set_pte`. Returns 0, ``VM_FAULT_OOM`` or ``VM_FAULT_NOPAGE``.

    Kernel: ``finish_fault`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3452>`_.
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
    vma_mm(vma).pgd.set_pte_at(vmf.address, entry)


def _finish_mkwrite_fault(vmf: VmFault) -> int:
    # finish_mkwrite_fault: re-check the PTE, then reuse it.
    if not pte_same(vma_mm(vmf.vma).pgd.walk(vmf.address), vmf.orig_pte):
        return VM_FAULT_NOPAGE
    _wp_page_reuse(vmf)
    return 0


@traced
def wp_pfn_shared(vmf: VmFault) -> int:
    """Write to a raw frame in a shared writable VMA.

    Calls ``vm_ops.pfn_mkwrite`` if present, then makes the PTE writable; no copy is made.

    Kernel: ``wp_pfn_shared`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2621>`_.
    """
    vma = vmf.vma
    pfn_mkwrite = vma.vm_ops.pfn_mkwrite if vma.vm_ops is not None else None
    if pfn_mkwrite:
        ret = _can_call(vmf)
        if ret:
            return ret
        vmf.flags |= FAULT_FLAG_MKWRITE
        ret = pfn_mkwrite(vmf)
        if ret & (VM_FAULT_ERROR | VM_FAULT_NOPAGE):
            return ret
        return _finish_mkwrite_fault(vmf)
    _wp_page_reuse(vmf)
    return VM_FAULT_WRITE


@traced
def wp_page_shared(vmf: VmFault) -> int:
    """Write to a page-cache page in a shared writable VMA.

    ``page_mkwrite`` if the VMA has one, then the PTE is made writable and the page dirtied.

    Kernel: ``wp_page_shared`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2639>`_.
    """
    vma = vmf.vma
    mem = _mem(vma)
    page = vmf.page
    mem.get_page(page)
    if vma.vm_ops is not None and vma.vm_ops.page_mkwrite is not None:
        tmp = _can_call(vmf)
        if tmp:
            mem.put_page(page)
            return tmp
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
    """Break COW: copy the old frame into a new anonymous page.

    ``vmf.page`` is the old page (holding a reference taken by the caller) or ``None`` for a raw
    frame (PFNMAP/MIXEDMAP without struct page: the data is copied from the frame itself, as
    ``cow_user_page`` copies from the user address). The zero page is replaced by a zeroed page.
    The new page is mapped writable and dirty as a new anonymous page; the old page loses this
    mapping and the reference. Returns ``VM_FAULT_WRITE``, or ``VM_FAULT_OOM``.

    Kernel: ``wp_page_copy`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2452>`_.
    """
    vma = vmf.vma
    mm = vma_mm(vma)
    mem = mm.physmem
    old_page = vmf.page
    ret = _anon_prepare(vmf)
    if ret:
        if old_page is not None:
            mem.put_page(old_page)
        return ret
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
    """Write to a present read-only PTE.

    - ``vm_normal_page`` gives ``None`` (raw frame, zero page): in a shared writable VMA
      :func:`wp_pfn_shared` makes the PTE writable, else :func:`wp_page_copy` copies.
    - An anonymous page mapped only here is reused: the PTE just becomes writable
      (``reuse_swap_page`` without swap: ``page_mapcount <= 1``). Its page lock is taken for
      the test; if someone holds it, the fault waits and gives up (0) if the PTE changed.
    - A page in a shared writable VMA: :func:`wp_page_shared`.
    - Anything else (a page-cache page in a private VMA, a shared anonymous page): copy.

    Kernel: ``do_wp_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2690>`_.
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
        if not trylock_page(page):
            # Someone holds the page lock: wait for it (the model's holder finishes at once),
            # then make sure the PTE did not change meanwhile.
            mem.get_page(page)
            lock_page(page)
            if not pte_same(vma_mm(vma).pgd.walk(vmf.address), vmf.orig_pte):
                unlock_page(page)
                mem.put_page(page)
                return 0
            mem.put_page(page)
        if page_mapcount(page) <= 1:  # reuse_swap_page: no swap, so the mapcount decides
            unlock_page(page)
            _wp_page_reuse(vmf)
            return VM_FAULT_WRITE
        unlock_page(page)
    elif shared_writable:
        return wp_page_shared(vmf)
    mem.get_page(page)
    return wp_page_copy(vmf)
