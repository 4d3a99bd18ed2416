"""The machine and what its kernel keeps once: ``mm/page_alloc.c``, ``mm/vmstat.c``, sysctls.

In the kernel these are globals spread over many files: the physical memory with its
``struct page`` array and allocator (``mm/page_alloc.c``), the event counters of ``/proc/vmstat``
(``mm/vmstat.c``), the ``/proc/sys/vm`` sysctls (``kernel/sysctl.c``: ``max_map_count``,
``mmap_min_addr``), the ``fault_around_bytes`` debugfs knob (``mm/memory.c``), the kernel log
(``dmesg``), and the inode number counter of ``get_next_ino`` (``fs/inode.c``). The model gathers
them in one :class:`System`: address spaces (:class:`~mmlab.mm.MM`) and mounted filesystems
belong to one, as processes and mounts share a machine.

A notebook rarely names it: ``MM()`` uses :func:`default_system`, one per Python process (as
:mod:`random` has one module-level generator). Pass ``system=System(...)`` to build an
independent world, e.g. an ARMv7 board next to an x86-64 PC, or a machine with little RAM.
Tests swap the default for a fresh one with :func:`set_default_system`.

The kernel version and the architecture's page-table policy are properties of the machine too:
:attr:`System.version` (see :mod:`mmlab.version`) and :attr:`System.have_pte_special`.
"""

from __future__ import annotations

from collections import Counter

from mmlab.constants import DEFAULT_MAX_MAP_COUNT, DEFAULT_MMAP_MIN_ADDR, PAGE_SIZE
from mmlab.pagetable import PTRS_PER_PTE
from mmlab.physmem import PhysMem
from mmlab.version import DEFAULT_VERSION, Version

__all__ = ["DEFAULT_FAULT_AROUND_BYTES", "System", "default_system", "set_default_system"]

#: ``fault_around_bytes`` at boot: 64 KiB, 16 pages (mm/memory.c @ v4.15 L3477).
DEFAULT_FAULT_AROUND_BYTES = 65536


class System:
    """One machine running one kernel: what every address space and mount on it shares.

    - ``version``: the kernel release the model imitates (default v4.15).
    - ``have_pte_special``: the architecture has a spare software PTE bit for "no struct page"
      mappings (``__HAVE_ARCH_PTE_SPECIAL``): True for x86-64; False for a classic ARMv7 board,
      where ``vm_normal_page`` must infer it from the VMA.
    - ``soft_dirty``: ``CONFIG_MEM_SOFT_DIRTY`` (new VMAs get ``VM_SOFTDIRTY``), set on x86-64
      distribution kernels.
    - ``pat``: x86's Page Attribute Table tracking: ``remap_pfn_range`` of a whole VMA marks it
      ``VM_PAT`` ("ar" in smaps' ``VmFlags``). Default: on where ``have_pte_special`` (x86-64),
      off on classic ARM, which has no PAT. Memory types themselves are not modelled.
    - ``physmem``: RAM and the flash window (:class:`~mmlab.physmem.PhysMem`).
    - the sysctls ``max_map_count`` (``/proc/sys/vm/max_map_count``), ``mmap_min_addr``
      (``/proc/sys/vm/mmap_min_addr``) and :attr:`fault_around_bytes`
      (``/sys/kernel/debug/fault_around_bytes``);
    - ``vmstat``: the ``/proc/vmstat`` event counters the model counts (``pgfault``,
      ``pgmajfault``);
    - ``dmesg``: kernel log lines (``print_bad_pte``'s "BUG: Bad page map" reports);
    - ``last_ino``: the counter behind :meth:`get_next_ino`.

    Kernel: ``sysctl_max_map_count`` in `mm/util.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/util.c#L519>`_.
    """

    def __init__(
        self,
        *,
        version: Version = DEFAULT_VERSION,
        have_pte_special: bool = True,
        soft_dirty: bool = True,
        pat: bool | None = None,
        physmem: PhysMem | None = None,
        max_map_count: int = DEFAULT_MAX_MAP_COUNT,
        mmap_min_addr: int = DEFAULT_MMAP_MIN_ADDR,
        fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES,
    ) -> None:
        self.version: Version = (version[0], version[1])
        self.have_pte_special = have_pte_special
        self.soft_dirty = soft_dirty
        self.pat = have_pte_special if pat is None else pat
        self.physmem = physmem if physmem is not None else PhysMem()
        self.max_map_count = max_map_count
        self.mmap_min_addr = mmap_min_addr
        self.fault_around_bytes = fault_around_bytes
        self.vmstat: Counter[str] = Counter()
        self.dmesg: list[str] = []
        self.last_ino = 0
        self._anon_vma_serial = 0

    def __repr__(self) -> str:
        arch = "x86-64" if self.have_pte_special else "no pte_special (ARMv7)"
        return (
            f"<System v{self.version[0]}.{self.version[1]} {arch}, {self.physmem!r}, "
            f"max_map_count={self.max_map_count}, mmap_min_addr={self.mmap_min_addr}, "
            f"fault_around_bytes={self.fault_around_bytes}>"
        )

    @property
    def fault_around_bytes(self) -> int:
        """How much fault-around maps (``/sys/kernel/debug/fault_around_bytes``).

        Setting it applies ``fault_around_bytes_set``: more than a PTE table's worth is refused
        (``ValueError``, the kernel's ``-EINVAL``), a value above one page is rounded down to a
        power of two, anything else becomes one page (fault-around off).

        Kernel: ``fault_around_bytes_set`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3492>`_.
        """
        return self._fault_around_bytes

    @fault_around_bytes.setter
    def fault_around_bytes(self, value: int) -> None:
        limit = PTRS_PER_PTE * PAGE_SIZE
        if value < 0:  # the debugfs file takes a u64: a negative number is a huge one
            raise ValueError(f"fault_around_bytes takes an unsigned number of bytes, not {value} "
                             f"(written as a u64 it would be {value & (1 << 64) - 1:#x}, more "
                             f"than one PTE table's {limit:#x}: -EINVAL)")
        if value // PAGE_SIZE > PTRS_PER_PTE:
            raise ValueError(f"fault_around_bytes {value:#x} is more than one PTE table "
                             f"({PTRS_PER_PTE} pages, {limit:#x} bytes): -EINVAL")
        self._fault_around_bytes = 1 << (value.bit_length() - 1) if value > PAGE_SIZE else PAGE_SIZE

    def get_next_ino(self) -> int:
        """A new inode number for a filesystem without its own (tmpfs, pipes, sockets).

        Kernel: ``get_next_ino`` in `fs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/inode.c#L854>`_.
        """
        self.last_ino += 1
        return self.last_ino

    def printk(self, line: str) -> None:
        """Append a line to the kernel log (:attr:`dmesg`).

        Kernel: ``printk`` in `kernel/printk/printk.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/printk/printk.c#L1823>`_.
        """
        self.dmesg.append(line)

    def next_anon_vma_serial(self) -> int:
        """A number to tell anon_vmas apart when printing them (the kernel prints addresses).

        Model helper: no kernel counterpart.
        """
        self._anon_vma_serial += 1
        return self._anon_vma_serial


#: The process-wide default machine: created on first use, swapped by tests. This is the one
#: piece of mutable state at module level, on purpose (like :mod:`random`'s generator).
_default: System | None = None


def default_system() -> System:
    """The machine ``MM()`` and the file helpers use when no ``system`` is given.

    Model helper: no kernel counterpart.
    """
    global _default
    if _default is None:
        _default = System()
    return _default


def set_default_system(system: System | None) -> System | None:
    """Make ``system`` the default (``None``: a fresh one on next use); returns the old one.

    Model helper: no kernel counterpart.
    """
    global _default
    previous, _default = _default, system
    return previous
