"""Page size, VM_* flags, PROT_* and MAP_* values: one source of truth for the whole model.

Values are those of Linux v4.15 on x86-64:

- ``VM_*``: `include/linux/mm.h @ v4.15
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L170>`_
- ``PROT_*``, ``MAP_*``: `include/uapi/asm-generic/mman-common.h @ v4.15
  <https://elixir.bootlin.com/linux/v4.15/source/include/uapi/asm-generic/mman-common.h>`_
  and `arch/x86/include/uapi/asm/mman.h`.

The model has one page size (4 KiB, no huge pages). :mod:`mmlab.mm` re-exports every name here.
"""

from __future__ import annotations

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
PAGE_MASK = ~(PAGE_SIZE - 1)


def PAGE_ALIGN(addr: int) -> int:  # noqa: N802 - kernel name
    """Round ``addr`` up to the next page boundary (``PAGE_ALIGN`` in include/linux/mm.h)."""
    return (addr + PAGE_SIZE - 1) & PAGE_MASK


def offset_in_page(addr: int) -> int:
    """The byte offset of ``addr`` inside its page."""
    return addr & (PAGE_SIZE - 1)


# --- vm_flags (include/linux/mm.h @ v4.15, L170-L216) -------------------------------------
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
VM_SOFTDIRTY = 0x08000000  # CONFIG_MEM_SOFT_DIRTY=y, as on x86-64 distribution kernels
VM_MIXEDMAP = 0x10000000
VM_HUGEPAGE = 0x20000000
VM_NOHUGEPAGE = 0x40000000
VM_MERGEABLE = 0x80000000
VM_GROWSUP = VM_NONE  # x86 stacks grow down only

VM_STACK = VM_GROWSDOWN
#: Mappings that are never merged (mm.h L282): their pages are not ordinary page-cache pages.
VM_SPECIAL = VM_IO | VM_DONTEXPAND | VM_PFNMAP | VM_MIXEDMAP

#: Every flag with its name, in bit order, for printing.
VM_FLAG_NAMES: dict[int, str] = {
    value: name
    for name, value in sorted(
        ((n, v) for n, v in globals().items() if n.startswith("VM_") and isinstance(v, int)),
        key=lambda item: item[1],
    )
    if value and (value & (value - 1)) == 0 and name not in ("VM_PAT", "VM_STACK")
}


def vm_flags_names(flags: int) -> list[str]:
    """``0x75`` -> ``['VM_READ', 'VM_EXEC', 'VM_MAYREAD', 'VM_MAYWRITE', 'VM_MAYEXEC']``."""
    names = [name for bit, name in VM_FLAG_NAMES.items() if flags & bit]
    rest = flags & ~sum(VM_FLAG_NAMES)
    if rest:
        names.append(hex(rest))
    return names


def is_cow_mapping(flags: int) -> bool:
    """Private and possibly writable: a write will copy the page (``mm/internal.h @ v4.15`` L247).

    Every ``MAP_PRIVATE`` file mapping is one, even a read-only one, because mmap(2) always sets
    ``VM_MAYWRITE`` for private mappings: a later ``mprotect(PROT_WRITE)`` must be able to work.
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
MAP_32BIT = 0x40
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

MAP_UNINITIALIZED = 0x4000000  # only honoured on !MMU kernels

#: The flags MAP_SHARED accepted before MAP_SHARED_VALIDATE existed (include/linux/mman.h).
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
)

#: /proc/sys/vm/max_map_count default: USHRT_MAX - MAPCOUNT_ELF_CORE_MARGIN (mm.h L123).
DEFAULT_MAX_MAP_COUNT = 65535 - 5

#: x86-64 user address space: 47 bits (TASK_SIZE_MAX = (1 << 47) - PAGE_SIZE).
TASK_SIZE = (1 << 47) - PAGE_SIZE
#: Lowest address mmap will hand out (/proc/sys/vm/mmap_min_addr default).
MMAP_MIN_ADDR = 65536


def calc_vm_prot_bits(prot: int) -> int:
    """PROT_* -> VM_READ/VM_WRITE/VM_EXEC (``calc_vm_prot_bits``, include/linux/mman.h L117)."""
    return (
        (VM_READ if prot & PROT_READ else 0)
        | (VM_WRITE if prot & PROT_WRITE else 0)
        | (VM_EXEC if prot & PROT_EXEC else 0)
    )


def calc_vm_flag_bits(flags: int) -> int:
    """MAP_* -> VM_* (``calc_vm_flag_bits``, include/linux/mman.h L129)."""
    return (
        (VM_GROWSDOWN if flags & MAP_GROWSDOWN else 0)
        | (VM_DENYWRITE if flags & MAP_DENYWRITE else 0)
        | (VM_LOCKED if flags & MAP_LOCKED else 0)
        | (VM_SYNC if flags & MAP_SYNC else 0)
    )
