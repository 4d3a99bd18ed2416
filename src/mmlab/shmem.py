"""Shared anonymous memory: the tmpfs file behind it (``mm/shmem.c`` @ v4.15).

``mmap(MAP_SHARED | MAP_ANONYMOUS)`` gets a VMA backed by an unlinked tmpfs file
(``shmem_zero_setup``), so that processes sharing it after fork share its page cache: that is
why ``/proc/PID/maps`` names it ``/dev/zero (deleted)``. Its ``->fault`` (``shmem_fault``)
allocates zeroed pages instead of reading anything.

Kernel: `mm/shmem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/shmem.c>`_.
"""

from __future__ import annotations

from mmlab.constants import (
    PAGE_SIZE,
    VM_FAULT_LOCKED,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_SIGBUS,
)
from mmlab.errors import KernelBug
from mmlab.filemap import DIV_ROUND_UP, add_to_page_cache_lru, filemap_map_pages, find_get_page
from mmlab.fs_types import (
    FMODE_READ,
    FMODE_WRITE,
    MKDEV,
    AddressSpace,
    AddressSpaceOperations,
    File,
    FileOperations,
    Inode,
    SuperBlock,
)
from mmlab.mm_types import Vma, VmFault, VmOperations, vma_mm
from mmlab.physmem import SetPageUptodate, lock_page
from mmlab.trace import traced

__all__ = ["shmem_fault", "shmem_vm_ops", "shmem_zero_setup"]


@traced
def shmem_fault(vmf: VmFault) -> int:
    """``->fault`` of tmpfs/shared anonymous memory.

    A missing page is allocated, zeroed and added to the cache: no I/O, so the fault is minor.
    Beyond ``i_size`` → ``VM_FAULT_SIGBUS``; no memory → ``VM_FAULT_OOM``. Returns the page
    locked (``VM_FAULT_LOCKED``). Simplified: no swap, no huge pages, no fallocate holes.

    Kernel: ``shmem_fault`` in `mm/shmem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/shmem.c#L1922>`_.
    """
    vma = vmf.vma
    file = vma.vm_file
    if file is None:
        raise KernelBug("shmem_fault on a VMA without its tmpfs file")
    mapping = file.f_mapping
    physmem = vma_mm(vma).physmem
    if vmf.pgoff >= DIV_ROUND_UP(file.f_inode.i_size, PAGE_SIZE):
        return VM_FAULT_SIGBUS
    page = find_get_page(mapping, vmf.pgoff)
    if page is None:
        page = physmem.alloc_page()
        if page is None:
            return VM_FAULT_OOM
        physmem.clear_frame(page.pfn)
        SetPageUptodate(page)
        page.flags.add("PG_swapbacked")
        if add_to_page_cache_lru(page, mapping, vmf.pgoff):
            physmem.put_page(page)
            return VM_FAULT_NOPAGE  # raced: fault again
    else:
        lock_page(page)
    vmf.page = page
    return VM_FAULT_LOCKED


#: ``shmem_vm_ops`` (mm/shmem.c): fault + fault-around.
shmem_vm_ops = VmOperations(fault=shmem_fault, map_pages=filemap_map_pages, label="shmem_vm_ops")


def shmem_zero_setup(vma: Vma) -> int:
    """Back a shared anonymous VMA by an unlinked tmpfs file.

    That is why ``/proc/PID/maps`` names such memory ``/dev/zero (deleted)``. Sets ``vm_file``
    (size = the VMA) and :data:`shmem_vm_ops`; returns 0.

    Kernel: ``shmem_zero_setup`` in `mm/shmem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/shmem.c#L4282>`_.
    """
    size = vma.vm_end - vma.vm_start
    inode = Inode(
        i_ino=vma_mm(vma).system.get_next_ino(),
        i_size=size,
        i_sb=SuperBlock(MKDEV(0, 1)),
        i_mapping=AddressSpace(a_ops=AddressSpaceOperations(readpage=None)),
    )
    vma.vm_file = File(inode, FMODE_READ | FMODE_WRITE, FileOperations(), "/dev/zero (deleted)")
    vma.vm_ops = shmem_vm_ops
    return 0
