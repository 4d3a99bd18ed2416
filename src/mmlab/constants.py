"""Flag values of the mm, one source of truth: ``include/linux/mm.h``, ``mman.h`` and the uapi.

Values are those of Linux v4.15 on x86-64 with 4-level paging:

- page size: ``PAGE_SHIFT`` in `arch/x86/include/asm/page_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/page_types.h#L10>`_;
- ``PAGE_ALIGN``, ``offset_in_page``, ``VM_*``, ``FAULT_FLAG_*``, ``VM_FAULT_*``:
  `include/linux/mm.h <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h>`_;
- ``PROT_*``, ``MAP_*``: `include/uapi/asm-generic/mman-common.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/asm-generic/mman-common.h>`_,
  `include/uapi/asm-generic/mman.h`, `arch/x86/include/uapi/asm/mman.h` and
  `include/uapi/linux/mman.h` (the ``MAP_HUGE_*`` size encoding, ``MREMAP_*``);
- ``LEGACY_MAP_MASK``, ``calc_vm_prot_bits``, ``calc_vm_flag_bits``: `include/linux/mman.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mman.h>`_.

The model has one page size (4 KiB, no huge pages). :mod:`mmlab.mm` re-exports every name here.
"""

from types import MappingProxyType

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "PAGE_MASK", "PAGE_ALIGN", "offset_in_page",
    "VM_NONE", "VM_READ", "VM_WRITE", "VM_EXEC", "VM_SHARED", "VM_MAYREAD", "VM_MAYWRITE",
    "VM_MAYEXEC", "VM_MAYSHARE", "VM_GROWSDOWN", "VM_UFFD_MISSING", "VM_PFNMAP", "VM_DENYWRITE",
    "VM_UFFD_WP", "VM_LOCKED", "VM_IO", "VM_SEQ_READ", "VM_RAND_READ", "VM_DONTCOPY",
    "VM_DONTEXPAND", "VM_LOCKONFAULT", "VM_ACCOUNT", "VM_NORESERVE", "VM_HUGETLB", "VM_SYNC",
    "VM_ARCH_1", "VM_PAT", "VM_WIPEONFORK", "VM_DONTDUMP", "VM_SOFTDIRTY", "VM_MIXEDMAP",
    "VM_HUGEPAGE", "VM_NOHUGEPAGE", "VM_MERGEABLE", "VM_GROWSUP", "VM_STACK", "VM_SPECIAL",
    "VM_FLAG_NAMES", "vm_flags_names", "is_cow_mapping",
    "PROT_NONE", "PROT_READ", "PROT_WRITE", "PROT_EXEC", "PROT_SEM", "PROT_GROWSDOWN",
    "PROT_GROWSUP",
    "MAP_SHARED", "MAP_PRIVATE", "MAP_SHARED_VALIDATE", "MAP_TYPE", "MAP_FIXED", "MAP_ANONYMOUS",
    "MAP_ANON", "MAP_32BIT", "MAP_GROWSDOWN", "MAP_DENYWRITE", "MAP_EXECUTABLE", "MAP_LOCKED",
    "MAP_NORESERVE", "MAP_POPULATE", "MAP_NONBLOCK", "MAP_STACK", "MAP_HUGETLB", "MAP_SYNC",
    "MAP_UNINITIALIZED", "MAP_HUGE_SHIFT", "MAP_HUGE_MASK", "MAP_HUGE_2MB", "MAP_HUGE_1GB",
    "LEGACY_MAP_MASK", "MREMAP_MAYMOVE", "MREMAP_FIXED",
    "DEFAULT_MAX_MAP_COUNT", "DEFAULT_MMAP_MIN_ADDR", "TASK_SIZE", "ULONG_MASK",
    "calc_vm_prot_bits", "calc_vm_flag_bits",
    "FAULT_FLAG_WRITE", "FAULT_FLAG_MKWRITE", "FAULT_FLAG_ALLOW_RETRY", "FAULT_FLAG_RETRY_NOWAIT",
    "FAULT_FLAG_KILLABLE", "FAULT_FLAG_TRIED", "FAULT_FLAG_USER", "FAULT_FLAG_REMOTE",
    "FAULT_FLAG_INSTRUCTION", "FAULT_FLAG_VMA_LOCK", "FAULT_FLAG_NAMES", "fault_flag_names",
    "VM_FAULT_OOM", "VM_FAULT_SIGBUS", "VM_FAULT_MAJOR", "VM_FAULT_WRITE", "VM_FAULT_HWPOISON",
    "VM_FAULT_HWPOISON_LARGE", "VM_FAULT_SIGSEGV", "VM_FAULT_NOPAGE", "VM_FAULT_LOCKED",
    "VM_FAULT_RETRY", "VM_FAULT_FALLBACK", "VM_FAULT_DONE_COW", "VM_FAULT_NEEDDSYNC",
    "VM_FAULT_COMPLETED", "VM_FAULT_ERROR", "VM_FAULT_NAMES", "VM_FAULT_SET_HINDEX",
    "VM_FAULT_GET_HINDEX",
    "vm_fault_names",
]  # fmt: skip

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)


def PAGE_ALIGN(addr: int) -> int:  # noqa: N802 - kernel name
    """Round ``addr`` up to the next page boundary.

    Kernel: ``PAGE_ALIGN`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L143>`_.
    """
    return (addr + PAGE_SIZE - 1) & PAGE_MASK


def offset_in_page(addr: int) -> int:
    """The byte offset of ``addr`` inside its page.

    Kernel: ``offset_in_page`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1228>`_.
    """
    return addr & (PAGE_SIZE - 1)


# --- vm_flags (include/linux/mm.h @ v4.15 L170-L282) ---------------------------------------
VM_NONE = 0x00000000
VM_READ = 0x00000001
VM_WRITE = 0x00000002
VM_EXEC = 0x00000004
VM_SHARED = 0x00000008
VM_MAYREAD = 0x00000010
VM_MAYWRITE = 0x00000020
VM_MAYEXEC = 0x00000040
VM_MAYSHARE = 0x00000080
VM_GROWSDOWN = 0x00000100
VM_UFFD_MISSING = 0x00000200
VM_PFNMAP = 0x00000400
VM_DENYWRITE = 0x00000800
VM_UFFD_WP = 0x00001000
VM_LOCKED = 0x00002000
VM_IO = 0x00004000
VM_SEQ_READ = 0x00008000
VM_RAND_READ = 0x00010000
VM_DONTCOPY = 0x00020000
VM_DONTEXPAND = 0x00040000
VM_LOCKONFAULT = 0x00080000
VM_ACCOUNT = 0x00100000
VM_NORESERVE = 0x00200000
VM_HUGETLB = 0x00400000
VM_SYNC = 0x00800000
VM_ARCH_1 = 0x01000000
VM_PAT = VM_ARCH_1  # x86's name for VM_ARCH_1
VM_WIPEONFORK = 0x02000000
VM_DONTDUMP = 0x04000000
#: With ``CONFIG_MEM_SOFT_DIRTY=y`` (x86-64 distribution kernels); 0 without it. Whether new
#: VMAs get it is the :class:`~mmlab.system.System`'s ``soft_dirty`` setting.
VM_SOFTDIRTY = 0x08000000
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000
VM_GROWSUP = VM_NONE  # x86 stacks grow down only

VM_STACK = VM_GROWSDOWN
#: Mappings that are never merged: their pages are not ordinary page-cache pages.
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP

#: Every flag with its name, in bit order, for printing.
VM_FLAG_NAMES = MappingProxyType(
    {
        value: name
        for name, value in sorted(
            ((n, v) for n, v in globals().items() if n.startswith("VM_") and isinstance(v, int)),
            key=lambda item: item[1],
        )
        if value and (value & (value - 1)) == 0 and name not in ("VM_PAT", "VM_STACK")
    }
)


def vm_flags_names(flags: int) -> list[str]:
    """``0x75`` -> ``['VM_READ', 'VM_EXEC', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC']``.

    Model helper: no kernel counterpart (``show_smap_vma_flags`` prints two-letter codes).
    """
    names = [name for bit, name in VM_FLAG_NAMES.items() if flags & bit]
    rest = flags & ~sum(VM_FLAG_NAMES)
    if rest:
        names.append(hex(rest))
    return names


def is_cow_mapping(flags: int) -> bool:
    """Private and possibly writable: a write will copy the page.

    Every ``MAP_PRIVATE`` file mapping is one, even a read-only one, because mmap(2) always sets
    ``VM_MAYWRITE`` for private mappings: a later ``mprotect(PROT_WRITE)`` must be able to work.

    Kernel: ``is_cow_mapping`` in `mm/internal.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/internal.h#L247>`_.
    """
    return (flags & (VM_SHARED | VM_MAYWRITE)) == VM_MAYWRITE


# --- mmap(2)/mprotect(2) arguments (x86-64) ---------------------------------------------
PROT_NONE = 0x0
PROT_READ = 0x1
PROT_WRITE = 0x2
PROT_EXEC = 0x4
PROT_SEM = 0x8
PROT_GROWSDOWN = 0x01000000
PROT_GROWSUP = 0x02000000

MAP_SHARED = 0x01
MAP_PRIVATE = 0x02
MAP_SHARED_VALIDATE = 0x03  # new in v4.15
MAP_TYPE = 0x0F
MAP_FIXED = 0x10
MAP_ANONYMOUS = 0x20
MAP_ANON = MAP_ANONYMOUS
MAP_32BIT = 0x40  # arch/x86/include/uapi/asm/mman.h
MAP_GROWSDOWN = 0x0100
MAP_DENYWRITE = 0x0800
MAP_EXECUTABLE = 0x1000
MAP_LOCKED = 0x2000
MAP_NORESERVE = 0x4000
MAP_POPULATE = 0x8000
MAP_NONBLOCK = 0x10000
MAP_STACK = 0x20000
MAP_HUGETLB = 0x40000
MAP_SYNC = 0x80000
#: 0x4000000 only with ``CONFIG_MMAP_ALLOW_UNINITIALIZED``, which needs a kernel without an MMU;
#: on every MMU kernel (x86-64 included) the uapi header defines it as 0.
MAP_UNINITIALIZED = 0x0

#: With ``MAP_HUGETLB``, bits 26..31 carry log2 of the huge page size (include/uapi/linux/mman.h).
MAP_HUGE_SHIFT = 26
MAP_HUGE_MASK = 0x3F
MAP_HUGE_2MB = 21 << MAP_HUGE_SHIFT
MAP_HUGE_1GB = 30 << MAP_HUGE_SHIFT

#: mremap(2)'s flags (include/uapi/linux/mman.h @ v4.15 L8-L9): the mapping may move; it moves
#: to the address given (which needs ``MREMAP_MAYMOVE`` too).
MREMAP_MAYMOVE = 1
MREMAP_FIXED = 2

#: The flags every mmap implementation has always accepted: what ``MAP_SHARED`` keeps and what
#: ``MAP_SHARED_VALIDATE`` accepts without the file's ``mmap_supported_flags``. 0x7c07f973 on
#: x86-64 (``MAP_32BIT`` and the two huge page sizes included, ``MAP_UNINITIALIZED`` being 0).
LEGACY_MAP_MASK = (
    MAP_SHARED
    | MAP_PRIVATE
    | MAP_FIXED
    | MAP_ANONYMOUS
    | MAP_DENYWRITE
    | MAP_EXECUTABLE
    | MAP_UNINITIALIZED
    | MAP_GROWSDOWN
    | MAP_LOCKED
    | MAP_NORESERVE
    | MAP_POPULATE
    | MAP_NONBLOCK
    | MAP_STACK
    | MAP_HUGETLB
    | MAP_32BIT
    | MAP_HUGE_2MB
    | MAP_HUGE_1GB
)

#: ``/proc/sys/vm/max_map_count`` default: USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN (mm.h L124).
DEFAULT_MAX_MAP_COUNT = 65535 - 5
#: ``/proc/sys/vm/mmap_min_addr`` default: ``CONFIG_DEFAULT_MMAP_MIN_ADDR``, 4096 in mm/Kconfig.
#: Debian and Ubuntu configure 65536; set the System's ``mmap_min_addr`` sysctl to match a machine.
DEFAULT_MMAP_MIN_ADDR = 4096

#: x86-64 user address space with 4-level paging: ``TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE``
#: (arch/x86/include/asm/processor.h L872, ``__VIRTUAL_MASK_SHIFT`` = 47).
TASK_SIZE = (1 << 47) - PAGE_SIZE

#: All 64 bits of an ``unsigned long``: the kernel's address arithmetic wraps around at 2**64.
ULONG_MASK = (1 << 64) - 1


def calc_vm_prot_bits(prot: int) -> int:
    """PROT_* -> VM_READ/VM_WRITE/VM_EXEC (no protection keys).

    Kernel: ``calc_vm_prot_bits`` in `include/linux/mman.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mman.h#L117>`_.
    """
    return (
        (VM_READ if prot & PROT_READ else 0)
        | (VM_WRITE if prot & PROT_WRITE else 0)
        | (VM_EXEC if prot & PROT_EXEC else 0)
    )


def calc_vm_flag_bits(flags: int) -> int:
    """MAP_* -> VM_GROWSDOWN/VM_DENYWRITE/VM_LOCKED/VM_SYNC.

    Kernel: ``calc_vm_flag_bits`` in `include/linux/mman.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mman.h#L129>`_.
    """
    return (
        (VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0)
        | (VM_DENYWRITE if flags & MAP_DENYWRITE else 0)
        | (VM_LOCKED if flags & MAP_LOCKED else 0)
        | (VM_SYNC if flags & MAP_SYNC else 0)
    )


# --- FAULT_FLAG_* (include/linux/mm.h @ v4.15 L296): why a fault handler is running ---------
FAULT_FLAG_WRITE = 0x01
FAULT_FLAG_MKWRITE = 0x02
FAULT_FLAG_ALLOW_RETRY = 0x04
FAULT_FLAG_RETRY_NOWAIT = 0x08
FAULT_FLAG_KILLABLE = 0x10
FAULT_FLAG_TRIED = 0x20
FAULT_FLAG_USER = 0x40
FAULT_FLAG_REMOTE = 0x80
FAULT_FLAG_INSTRUCTION = 0x100
#: Since v6.4 (per-VMA locks, see :data:`mmlab.version.PER_VMA_LOCK`): the fault is handled
#: under the VMA's own lock, not ``mmap_lock``. The bits above keep their v4.15 values in 6.12
#: (``enum fault_flag``, `include/linux/mm_types.h @ v6.12.118 L1448
#: <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h#L1448>`_).
FAULT_FLAG_VMA_LOCK = 1 << 12

#: Names as ``FAULT_FLAG_TRACE`` prints them.
FAULT_FLAG_NAMES = MappingProxyType(
    {
        FAULT_FLAG_WRITE: "WRITE",
        FAULT_FLAG_MKWRITE: "MKWRITE",
        FAULT_FLAG_ALLOW_RETRY: "ALLOW_RETRY",
        FAULT_FLAG_RETRY_NOWAIT: "RETRY_NOWAIT",
        FAULT_FLAG_KILLABLE: "KILLABLE",
        FAULT_FLAG_TRIED: "TRIED",
        FAULT_FLAG_USER: "USER",
        FAULT_FLAG_REMOTE: "REMOTE",
        FAULT_FLAG_INSTRUCTION: "INSTRUCTION",
        FAULT_FLAG_VMA_LOCK: "VMA_LOCK",
    }
)


def fault_flag_names(flags: int) -> list[str]:
    """``0x55`` -> ``['WRITE', 'ALLOW_RETRY', 'KILLABLE', 'USER']``.

    Kernel: ``FAULT_FLAG_TRACE`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L306>`_.
    """
    return [name for bit, name in FAULT_FLAG_NAMES.items() if flags & bit]


# --- VM_FAULT_* (include/linux/mm.h @ v4.15 L1183): what a fault handler did ----------------
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
#: Not in v4.15: "->fault completed, meanwhile mmap lock released" (the handler gave up the
#: lock *and* finished the fault, so the caller must neither retry nor unlock). ``enum
#: vm_fault_reason`` in `include/linux/mm_types.h @ v6.12.118 L1331
#: <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h#L1331>`_, added by
#: commit d92725256b4f "mm: avoid unnecessary page fault retires on shared memory types"
#: (Peter Xu, 2022). ``VM_FAULT_WRITE`` (0x0008) is gone by 6.12.
VM_FAULT_COMPLETED = 0x4000
VM_FAULT_ERROR = (
    VM_FAULT_OOM
    | VM_FAULT_SIGBUS
    | VM_FAULT_SIGSEGV
    | VM_FAULT_HWPOISON
    | VM_FAULT_HWPOISON_LARGE
    | VM_FAULT_FALLBACK
)

#: Names as ``VM_FAULT_RESULT_TRACE`` prints them.
VM_FAULT_NAMES = MappingProxyType(
    {
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
        VM_FAULT_COMPLETED: "COMPLETED",
    }
)


def VM_FAULT_SET_HINDEX(hindex: int) -> int:  # noqa: N802 - kernel name
    """Encode the huge page size index of a poisoned large page into bits 12..15.

    Only meaningful together with ``VM_FAULT_HWPOISON_LARGE``; the model has no huge pages.

    Kernel: ``VM_FAULT_SET_HINDEX`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1220>`_.
    """
    return hindex << 12


def VM_FAULT_GET_HINDEX(fault: int) -> int:  # noqa: N802 - kernel name
    """The huge page size index that :func:`VM_FAULT_SET_HINDEX` encoded.

    Kernel: ``VM_FAULT_GET_HINDEX`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1221>`_.
    """
    return (fault >> 12) & 0xF


def vm_fault_names(ret: int) -> list[str]:
    """``0x204`` -> ``['MAJOR', 'LOCKED']``.

    Kernel: ``VM_FAULT_RESULT_TRACE`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1204>`_.
    """
    return [name for bit, name in VM_FAULT_NAMES.items() if ret & bit]
