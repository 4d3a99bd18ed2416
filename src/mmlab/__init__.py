"""mmlab: Linux memory management (v4.15) as a Python model you can run, break and draw.

Quick start::

    from mmlab.mm import MM, PROT_READ, PROT_WRITE, MAP_PRIVATE, MAP_ANONYMOUS
    from mmlab import fault, procfs, trace

    mm = MM()                                                    # an address space
    addr = mm.mmap(0, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    mm.mprotect(addr + 4096, 4096, PROT_READ)                    # splits the VMA in three
    with trace.record() as t:                                    # watch the kernel work
        print(fault.do_page_fault(mm, addr, write=True))         # a write fault
    print(t.names)       # ['do_page_fault', 'down_read_trylock', 'find_vma', ...]
    print(procfs.format_maps(mm))                                # /proc/PID/maps, exactly

Where each part of the kernel lives (Linux v4.15 source file -> mmlab module):

========================================  ================  =======================================
kernel file @ v4.15                       module            what it holds
========================================  ================  =======================================
include/linux/mm.h (flags), mman.h, uapi  ``constants``     PAGE_*, VM_*, PROT_*, MAP_*, VM_FAULT_*
include/asm-generic/bug.h                 ``errors``        KernelBug, WouldSleep, SignalDelivered
(releases after v4.15)                    ``version``       behaviour switches, with their commits
kernel/trace/ (ftrace)                    ``trace``         record every modelled call
arch/x86/include/asm/pgtable*.h           ``pagetable``     Pte, pte_* helpers, PageTable
include/linux/pfn_t.h                     ``pfn_t``         pfn_t, PFN_DEV, PFN_MAP
mm/page_alloc.c, page-flags.h             ``physmem``       struct page, RAM and flash
kernel/locking/rwsem.c                    ``rwsem``         the mmap_sem
mm/mmap.c (mm_rb), lib/rbtree.c           ``vmatree``       the VMAs in address order
(globals of many files)                   ``system``        System: RAM, sysctls, vmstat, dmesg
include/linux/mmap_lock.h (v6.x)          ``mmap_lock``     mmap_lock and its per-VMA sequence
include/linux/mm_types.h, mm.h            ``mm_types``      Vma, MmStruct, VmOperations, VmFault
include/linux/fs.h                        ``fs_types``      File, Inode, AddressSpace
mm/rmap.c                                 ``rmap``          anon_vma_prepare, mapcounts
include/linux/mm.h (v6.x), maple tree     ``vma_iter``      vma_lookup, VmaIterator, mas_walk
mm/memory.c (PTEs in and out)             ``memory``        remap_pfn_range, vm_insert_mixed, zap
mm/memory.c (the fault handlers)          ``memory_fault``  handle_mm_fault, do_*_fault, do_wp_page
mm/filemap.c                              ``filemap``       page cache, filemap_fault
mm/truncate.c                             ``truncate``      invalidate_mapping_pages
mm/shmem.c                                ``shmem``         shared anonymous memory
mm/mmap.c                                 ``mmap``          find_vma, split_vma, vma_merge, do_mmap
mm/mprotect.c                             ``mprotect``      do_mprotect_pkey, mprotect_fixup
mm/mremap.c                               ``mremap``        sys_mremap, move_vma, move_page_tables
mm/gup.c                                  ``gup``           mm_populate (MAP_POPULATE)
arch/x86/mm/fault.c                       ``fault``         do_page_fault, access_error
asm/uaccess.h (and the MMU)               ``uaccess``       user_read, user_write
fs/proc/task_mmu.c                        ``procfs``        /proc/PID/maps
fs/ramfs/, fs/ext4/file.c (mmap)          ``fs``            file_from_bytes, file_from_path
mm/util.c, the mm syscalls                ``mm``            MM: the address space to use
include/uapi/linux/cramfs_fs.h            ``cramfs``        the cramfs format (stands alone)
fs/cramfs/inode.c + the 2017 patch       ``xip``           mount on flash, cramfs_physmem_mmap x3
(programs on the board)                   ``scenarios``     the XIP scenarios, run on the model
(threads and the scheduler)               ``race``          every interleaving of racing threads
(the running kernel, via ctypes)          ``live``          compare with /proc/self/maps
(drawings of all of the above)            ``viz``           pictures, explorers, self-checks
(exercises on the model)                  ``labs``          the labs' automatic checks
(course tooling)                          ``workshop``      the workshop copy, the answer key
(course tooling)                          ``lite``          the course as a JupyterLite site
(course tooling)                          ``workcopy``      the learner's own copy (make lab)
(course tooling)                          ``coursetime``    how long each chapter takes a learner
========================================  ================  =======================================

Each module imports only the modules above it in this table (``make lint`` checks it), so a
reader can start at the top and a contributor knows what a new module may use.

Submodules load on first use, so ``import mmlab`` stays cheap and ``mmlab.trace``,
``mmlab.mm`` and the others work without importing each one first.
"""

import importlib
from types import ModuleType

__version__ = "0.1.0"

#: The submodules, in the order of the map above (lowest first).
SUBMODULES = (
    "constants",
    "errors",
    "version",
    "trace",
    "pagetable",
    "pfn_t",
    "physmem",
    "rwsem",
    "vmatree",
    "system",
    "mmap_lock",
    "mm_types",
    "fs_types",
    "rmap",
    "vma_iter",
    "memory",
    "memory_fault",
    "filemap",
    "truncate",
    "shmem",
    "mmap",
    "mprotect",
    "mremap",
    "gup",
    "fault",
    "uaccess",
    "procfs",
    "fs",
    "mm",
    "cramfs",
    "xip",
    "scenarios",
    "race",
    "live",
    "viz",
    "labs",
    "workshop",
    "lite",
    "workcopy",
    "coursetime",
    "cli",
)

__all__ = ["SUBMODULES", "__version__"]


def __getattr__(name: str) -> ModuleType:
    if name in SUBMODULES:
        return importlib.import_module(f"mmlab.{name}")
    raise AttributeError(f"module 'mmlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *SUBMODULES})
