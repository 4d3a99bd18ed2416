"""A program's loads and stores through the MMU (``arch/x86/include/asm/uaccess.h`` @ v4.15).

:func:`user_read` and :func:`user_write` access user memory page by page the way a program's
instructions (or a system call's ``copy_from_user``/``copy_to_user``) would: through the page
tables, with the accessed and dirty bits set as the MMU sets them, and a page fault
(:func:`mmlab.fault.do_page_fault`) whenever the PTE does not allow the access. A fault that ends
in a signal stops the access with :class:`~mmlab.errors.SignalDelivered`.

Kernel counterpart: the MMU itself, and the uaccess helpers of
`arch/x86/include/asm/uaccess.h @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/uaccess.h>`_.
"""

from __future__ import annotations

from mmlab.constants import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE, TASK_SIZE
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.fault import do_page_fault
from mmlab.mm_types import MmStruct
from mmlab.pagetable import Pte, mmu_permits, pte_mkdirty, pte_mkyoung

__all__ = ["user_read", "user_write"]


def _touch(mm: MmStruct, addr: int, write: bool, exec_: bool) -> Pte:
    """Make one page accessible as the CPU would: fault until the PTE allows the access."""
    for _ in range(4):
        pte = mm.pgd.walk(addr & PAGE_MASK) if 0 <= addr < TASK_SIZE else None
        if mmu_permits(pte, write, True, exec_):
            return pte
        res = do_page_fault(mm, addr, write=write, exec_=exec_)
        if not res.ok:
            raise SignalDelivered(res)
    raise KernelBug(f"fault loop at {addr:#x}: the PTE never allowed the access")


def user_read(mm: MmStruct, addr: int, length: int, *, exec_: bool = False) -> bytes:
    """Load ``length`` bytes at user address ``addr`` the way a program would.

    Each page is accessed through the page tables; a missing or insufficient PTE raises a page
    fault (:func:`do_page_fault`); a signal ends the access with :class:`SignalDelivered`.
    ``exec_`` models an instruction fetch. Sets the accessed bit like the MMU does.

    Model helper: no kernel counterpart.
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


def user_write(mm: MmStruct, addr: int, data: bytes) -> None:
    """Store ``data`` at user address ``addr`` the way a program would (faulting as needed).

    Sets the accessed and dirty bits like the MMU. Raises :class:`SignalDelivered` on a signal.

    Model helper: no kernel counterpart.
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
