"""The x86 page-fault handler: ``arch/x86/mm/fault.c`` @ v4.15, down to ``handle_mm_fault``.

:func:`do_page_fault` is what the CPU's page-fault exception runs: it decides whether the access
may go on (``find_vma``, ``access_error``), calls the generic :func:`handle_mm_fault`
(:mod:`mmlab.memory_fault`), retries once if the handler had to drop ``mmap_sem``, and turns
errors into signals (``mm_fault_error``, ``do_sigbus``) or, for a fault taken by kernel code on
a user address, into an exception-table fixup.

This module also re-exports the generic fault API (``handle_mm_fault``, :class:`VmFault`, the
``VM_FAULT_*`` and ``FAULT_FLAG_*`` values and the ``do_*_fault`` handlers), so that
``from mmlab.fault import ...`` reaches the whole fault path.

Models, in `arch/x86/mm/fault.c
<https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c>`_: ``__do_page_fault``
L1238, ``access_error`` L1170, ``mm_fault_error`` L1029, ``do_sigbus`` L997; the error code
bits are ``enum x86_pf_error_code`` (arch/x86/include/asm/traps.h L158).

Where the model simplifies: the stack is not expanded (a fault below a ``VM_GROWSDOWN`` VMA is a
``bad_area``); kernel-mode faults on user addresses are assumed to come from a uaccess with an
exception-table entry, so errors there are "fixed up" (``kernel_fixup``: the system call would
return ``-EFAULT``) instead of oopsing; no vmalloc faults, SMAP, prefetch or kprobes checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from mmlab import version
from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_INSTRUCTION,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_MKWRITE,
    FAULT_FLAG_NAMES,
    FAULT_FLAG_REMOTE,
    FAULT_FLAG_RETRY_NOWAIT,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_USER,
    FAULT_FLAG_VMA_LOCK,
    FAULT_FLAG_WRITE,
    PAGE_MASK,
    TASK_SIZE,
    VM_EXEC,
    VM_FAULT_COMPLETED,
    VM_FAULT_DONE_COW,
    VM_FAULT_ERROR,
    VM_FAULT_FALLBACK,
    VM_FAULT_GET_HINDEX,
    VM_FAULT_HWPOISON,
    VM_FAULT_HWPOISON_LARGE,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NAMES,
    VM_FAULT_NEEDDSYNC,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SET_HINDEX,
    VM_FAULT_SIGBUS,
    VM_FAULT_SIGSEGV,
    VM_FAULT_WRITE,
    VM_READ,
    VM_WRITE,
    fault_flag_names,
    vm_fault_names,
)
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.memory_fault import (
    alloc_set_pte,
    do_anonymous_page,
    do_cow_fault,
    do_fault,
    do_read_fault,
    do_shared_fault,
    do_wp_page,
    finish_fault,
    handle_mm_fault,
    handle_pte_fault,
    lock_vma_under_rcu,
    wp_page_copy,
)
from mmlab.mm_types import MmStruct, Vma, VmFault, vma_end_read
from mmlab.mmap import find_vma
from mmlab.pagetable import _PAGE_PRESENT, mmu_permits
from mmlab.trace import traced

__all__ = [
    "FAULT_FLAG_ALLOW_RETRY",
    "FAULT_FLAG_INSTRUCTION",
    "FAULT_FLAG_KILLABLE",
    "FAULT_FLAG_MKWRITE",
    "FAULT_FLAG_NAMES",
    "FAULT_FLAG_REMOTE",
    "FAULT_FLAG_RETRY_NOWAIT",
    "FAULT_FLAG_TRIED",
    "FAULT_FLAG_USER",
    "FAULT_FLAG_WRITE",
    "VM_FAULT_DONE_COW",
    "VM_FAULT_ERROR",
    "VM_FAULT_FALLBACK",
    "VM_FAULT_GET_HINDEX",
    "VM_FAULT_HWPOISON",
    "VM_FAULT_HWPOISON_LARGE",
    "VM_FAULT_LOCKED",
    "VM_FAULT_MAJOR",
    "VM_FAULT_NAMES",
    "VM_FAULT_NEEDDSYNC",
    "VM_FAULT_NOPAGE",
    "VM_FAULT_OOM",
    "VM_FAULT_RETRY",
    "VM_FAULT_SET_HINDEX",
    "VM_FAULT_SIGBUS",
    "VM_FAULT_SIGSEGV",
    "VM_FAULT_WRITE",
    "X86_PF_INSTR",
    "X86_PF_PK",
    "X86_PF_PROT",
    "X86_PF_RSVD",
    "X86_PF_USER",
    "X86_PF_WRITE",
    "FaultResult",
    "KernelBug",
    "SignalDelivered",
    "VmFault",
    "access_error",
    "alloc_set_pte",
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
    "vm_fault_names",
    "wp_page_copy",
    "x86_error_code",
]

# --- the error code the CPU pushes (enum x86_pf_error_code, arch/x86/mm/fault.c @ v4.15) -----
X86_PF_PROT = 1 << 0
X86_PF_WRITE = 1 << 1
X86_PF_USER = 1 << 2
X86_PF_RSVD = 1 << 3
X86_PF_INSTR = 1 << 4
X86_PF_PK = 1 << 5


@dataclass
class FaultResult:
    """What :func:`do_page_fault` did.

    ``ret``: the ``VM_FAULT_*`` bits of the last ``handle_mm_fault`` call (0 if none ran);
    ``signal``: ``None``, ``"SIGSEGV"`` or ``"SIGBUS"``; ``si_code``: ``"SEGV_MAPERR"``,
    ``"SEGV_ACCERR"``, ``"BUS_ADRERR"``, ``"BUS_MCEERR_AR"`` (hardware-poisoned memory) or
    ``None``; ``major``: a major fault was counted; ``retries``: how many times the handler went
    back to ``retry:``; ``error_code``: the x86 error code; ``oom``: user-mode
    ``VM_FAULT_OOM`` (``pagefault_out_of_memory``); ``kernel_fixup``: a kernel-mode fault that
    would be fixed up (``-EFAULT``); ``no_fault``: the PTE already allowed the access, so the
    CPU would not have faulted; ``vma_lock``: the fault was handled to the end under a per-VMA
    lock, never touching ``mmap_lock`` (6.x).

    Model helper: no kernel counterpart (the kernel's result is the signal it queues).
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
    vma_lock: bool = False

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


def access_error(error_code: int, vma: Vma) -> bool:
    """Does the VMA forbid this access? (x86 ``access_error``, arch/x86/mm/fault.c).

    A write needs ``VM_WRITE``. A read of a *present* page faulted because of its protection
    (an instruction fetch from an NX page, say) is an error. A read of a not-present page needs
    one of ``VM_READ|VM_EXEC|VM_WRITE``. Note that v4.15 does not compare an instruction fetch
    with ``VM_EXEC`` here: the page is mapped NX and the *next* fault (present, PROT|INSTR) fails.

    Kernel: ``access_error`` in `arch/x86/mm/fault.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c#L1170>`_.
    """
    if error_code & X86_PF_PK:
        return True
    if error_code & X86_PF_WRITE:
        return not vma.vm_flags & VM_WRITE
    if error_code & X86_PF_PROT:
        return True
    return not vma.vm_flags & (VM_READ | VM_EXEC | VM_WRITE)


def x86_error_code(mm: MmStruct, address: int, write: bool, exec_: bool, user: bool) -> int:
    """The error code the CPU pushes for this access: PROT if the PTE was present.

    Kernel: ``enum x86_pf_error_code`` in `arch/x86/include/asm/traps.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/traps.h#L158>`_.
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
    mm: MmStruct,
    address: int,
    write: bool = False,
    exec_: bool = False,
    user: bool = True,
    *,
    fatal_signal_pending: bool = False,
) -> FaultResult:
    """The x86 page-fault handler for a user address.

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
    7. Else ``up_read``; error bits (``mm_fault_error``; a kernel-mode fault with a fatal
       signal pending is simply fixed up): OOM → ``pagefault_out_of_memory`` (no signal, ``oom``),
       SIGBUS → SIGBUS (``BUS_ADRERR``), HWPOISON → SIGBUS (``BUS_MCEERR_AR``: the memory is
       broken), SIGSEGV → SIGSEGV (``SEGV_MAPERR``).
    8. Success: ``mm.maj_flt`` or ``mm.min_flt`` grows (``VM_FAULT_MAJOR`` of any try).

    After it returns, the mmap_sem is as it was before — unless a ``->fault`` handler broke the
    locking rules, which the model then shows rather than hides.

    **On a newer machine** the same call follows ``do_user_addr_fault`` (`arch/x86/mm/fault.c
    @ v6.12.118 L1209 <https://elixir.bootlin.com/linux/v6.12.118/source/arch/x86/mm/fault.c#L1209>`_)
    where the releases differ (:mod:`mmlab.version`):

    - v6.4 on (per-VMA locks), for a user-mode fault, *before* step 3:
      :func:`~mmlab.memory_fault.lock_vma_under_rcu` (L1327). A VMA → ``access_error`` (SIGSEGV
      after ``vma_end_read``), then ``handle_mm_fault`` with ``FAULT_FLAG_VMA_LOCK`` (L1336),
      ``vma_end_read`` unless the result has ``VM_FAULT_RETRY`` or ``VM_FAULT_COMPLETED`` (the
      lock is already gone then); no ``VM_FAULT_RETRY`` → done, without ever touching
      ``mmap_lock`` (``vma_lock_success``). ``VM_FAULT_RETRY`` → ``vma_lock_retry``,
      ``FAULT_FLAG_TRIED`` if the try was ``VM_FAULT_MAJOR``, a fatal signal ends it there, and
      the fault starts again under ``mmap_lock`` (L1356 ``lock_mmap:``). No VMA (a gap, or a
      VMA being changed) → straight to ``mmap_lock``. Kernel-mode faults always take
      ``mmap_lock``.
    - v5.7 on: a ``VM_FAULT_RETRY`` under ``mmap_lock`` keeps ``ALLOW_RETRY`` and adds
      ``TRIED``, so the fault may retry again (L1410); ``VM_FAULT_COMPLETED`` returns at once,
      the lock already released (L1402).
    - v5.9 on: the fault is counted by :func:`~mmlab.memory_fault.handle_mm_fault`
      (``mm_account_fault``), not here: a retried fault counts as major.

    ``FaultResult.vma_lock`` says whether the fault was finished under the VMA lock.

    Kernel: ``__do_page_fault`` in `arch/x86/mm/fault.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/mm/fault.c#L1238>`_.
    """
    address = int(address)
    res = FaultResult(address=address)
    if address >= TASK_SIZE or address < 0:
        # fault_in_kernel_space: a user access to a kernel address (bad_area_nosemaphore),
        # reported as a protection fault so as not to leak the kernel's page-table layout
        res.error_code = (X86_PF_WRITE if write else 0) | (X86_PF_USER | X86_PF_PROT if user else 0)
        if not user:
            raise KernelBug(f"unable to handle kernel paging request at {address:#x}")
        return _signal(res, user, "SIGSEGV", "SEGV_MAPERR")
    error_code = x86_error_code(mm, address, write, exec_, user)
    res.error_code = error_code
    if mmu_permits(mm.pgd.walk(address & PAGE_MASK), write, user, exec_):
        res.no_fault = True
        return res
    flags = FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE
    if user:
        flags |= FAULT_FLAG_USER
    if write:
        flags |= FAULT_FLAG_WRITE
    if exec_:
        flags |= FAULT_FLAG_INSTRUCTION
    core_counts = version.has(mm.version, version.FAULT_ACCOUNTING_IN_CORE)
    many_retries = version.has(mm.version, version.MULTIPLE_FAULT_RETRIES)
    counted = (mm.maj_flt, mm.min_flt)
    major = 0
    if mm.per_vma_locks and user:
        vmstat = mm.system.vmstat
        vma = lock_vma_under_rcu(mm, address)
        if vma is not None:
            if access_error(error_code, vma):
                vma_end_read(vma)  # bad_area_access_error(..., NULL, vma)
                vmstat["vma_lock_success"] += 1
                return _signal(res, user, "SIGSEGV", "SEGV_ACCERR")
            fault = handle_mm_fault(vma, address, flags | FAULT_FLAG_VMA_LOCK)
            res.ret = fault
            major |= fault & VM_FAULT_MAJOR
            if not fault & (VM_FAULT_RETRY | VM_FAULT_COMPLETED):
                vma_end_read(vma)
            if not fault & VM_FAULT_RETRY:
                vmstat["vma_lock_success"] += 1
                res.vma_lock = True
                return _finish(mm, res, fault, user, fatal_signal_pending, major, counted,
                               core_counts)
            vmstat["vma_lock_retry"] += 1
            if fault & VM_FAULT_MAJOR:
                flags |= FAULT_FLAG_TRIED
            if fatal_signal_pending:  # fault_signal_pending
                if not user:
                    res.kernel_fixup = True
                return res
            res.retries += 1
    sem = mm.mmap_sem
    if not sem.down_read_trylock():
        sem.down_read()
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
        if many_retries:
            if fault & VM_FAULT_RETRY and fatal_signal_pending:  # fault_signal_pending
                if not user:
                    res.kernel_fixup = True
                return res
            if fault & VM_FAULT_COMPLETED:
                return _finish(mm, res, fault, user, fatal_signal_pending, major, counted,
                               core_counts)
            if fault & VM_FAULT_RETRY:
                flags |= FAULT_FLAG_TRIED
                res.retries += 1
                if not (mm.per_vma_locks and sem.down_read_trylock()):
                    sem.down_read()  # retry: lock_mm_and_find_vma, a trylock first from 6.4
                continue
            break
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
    return _finish(mm, res, fault, user, fatal_signal_pending, major, counted, core_counts)


def _finish(mm: MmStruct, res: FaultResult, fault: int, user: bool, fatal_signal_pending: bool,
            major: int, counted: tuple[int, int], core_counts: bool) -> FaultResult:
    """The end of the handler, the lock released: ``mm_fault_error`` or the fault counts."""
    if fault & VM_FAULT_ERROR:
        # mm_fault_error
        if fatal_signal_pending and not user:
            res.kernel_fixup = True  # no_context: the task is dying anyway
            return res
        if fault & VM_FAULT_OOM:
            if not user:
                res.kernel_fixup = True
            else:
                res.oom = True  # pagefault_out_of_memory(): the OOM killer decides
            return res
        if fault & (VM_FAULT_HWPOISON | VM_FAULT_HWPOISON_LARGE):  # do_sigbus
            return _signal(res, user, "SIGBUS", "BUS_MCEERR_AR")
        if fault & VM_FAULT_SIGBUS:
            return _signal(res, user, "SIGBUS", "BUS_ADRERR")
        if fault & VM_FAULT_SIGSEGV:
            return _signal(res, user, "SIGSEGV", "SEGV_MAPERR")
        raise KernelBug(f"mm_fault_error: unexpected fault code {fault:#x} (BUG)")
    if core_counts:  # handle_mm_fault counted it (mm_account_fault)
        res.major = mm.maj_flt > counted[0]
    elif major:
        res.major = True
        mm.maj_flt += 1
    else:
        mm.min_flt += 1
    return res
