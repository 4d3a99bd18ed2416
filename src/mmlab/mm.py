"""The address space to use: :class:`MM`, the system calls of ``mm/mmap.c``, ``mm/util.c``.

This is the module a notebook imports. :class:`MM` is an ``mm_struct``
(:class:`~mmlab.mm_types.MmStruct`) with the system calls as methods: they take ``mmap_sem``
as the kernel does, call the kernel-internal functions of :mod:`mmlab.mmap`,
:mod:`mmlab.mprotect`, :mod:`mmlab.mremap` and :mod:`mmlab.gup`, and behave like the system
calls: they return an address or ``None`` and raise :class:`OSError` with the kernel's errno.
:meth:`MM.read` and :meth:`MM.write` are a program's loads and stores (:mod:`mmlab.uaccess`),
page faults included.

It also re-exports, for one-line imports: every constant of :mod:`mmlab.constants`, the
structures (:class:`Vma`, :class:`VmOperations`, :class:`AnonVma`), the ``mm/mmap.c`` functions
(:func:`find_vma`, :func:`split_vma`, :func:`vma_merge`, ...), :class:`~mmlab.system.System`
and the model's exceptions.

Kernel: the system calls ``mmap`` (x86's ``SYSCALL_DEFINE6(mmap)`` in `arch/x86/kernel/sys_x86_64.c
<https://elixir.bootlin.com/linux/v4.15/source/arch/x86/kernel/sys_x86_64.c#L91>`_,
then ``vm_mmap_pgoff`` in `mm/util.c`), ``munmap`` (``SYSCALL_DEFINE2(munmap)`` in `mm/mmap.c
<https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2752>`_)
``mprotect`` (``SYSCALL_DEFINE3(mprotect)`` in `mm/mprotect.c
<https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L514>`_) and ``mremap``
(``SYSCALL_DEFINE5(mremap)`` in `mm/mremap.c
<https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L523>`_) @ v4.15.
"""


import errno
import os

from mmlab import constants
from mmlab.constants import *  # noqa: F403 - mmlab.mm re-exports every constant
from mmlab.errors import KernelBug, SignalDelivered, WouldSleep
from mmlab.fs_types import File
from mmlab.gup import mm_populate
from mmlab.mm_types import (
    DEFAULT_MMAP_BASE,
    AnonVma,
    MmStruct,
    Vma,
    VmOperations,
    linear_page_index,
    vma_is_anonymous,
    vma_pages,
)
from mmlab.mmap import (
    do_mmap,
    do_munmap,
    find_vma,
    find_vma_prev,
    get_unmapped_area,
    mmap_region,
    split_vma,
    vm_get_page_prot,
    vma_merge,
)
from mmlab.mprotect import do_mprotect_pkey, mprotect_fixup
from mmlab.mremap import sys_mremap
from mmlab.rmap import anon_vma_prepare
from mmlab.rwsem import RwSemaphore
from mmlab.system import System
from mmlab.uaccess import user_read, user_write
from mmlab.version import Version

__all__ = [
    *constants.__all__,
    "DEFAULT_MMAP_BASE",
    "AnonVma",
    "KernelBug",
    "MM",
    "MmStruct",
    "RwSemaphore",
    "SignalDelivered",
    "System",
    "Vma",
    "VmOperations",
    "WouldSleep",
    "anon_vma_prepare",
    "do_mmap",
    "do_mprotect_pkey",
    "do_munmap",
    "find_vma",
    "find_vma_prev",
    "get_unmapped_area",
    "linear_page_index",
    "mmap_region",
    "mprotect_fixup",
    "split_vma",
    "vm_get_page_prot",
    "vma_is_anonymous",
    "vma_merge",
    "vma_pages",
]


class MM(MmStruct):
    """A process's address space, with the system calls that change it.

    ``MM()`` runs on the default machine (:func:`mmlab.system.default_system`), so that all the
    address spaces of a notebook share one physical memory, as processes do. ``MM(system)``
    puts it on another machine. A kernel version and an architecture belong to the machine:
    ``MM(version=(6, 1))`` or ``MM(have_pte_special=False)`` without a ``system`` builds a new
    machine with that setting (an ARMv7 board is not the PC next to it).
    ``cap_sys_rawio``: the process may map below ``mmap_min_addr`` (root's capability).

    Kernel: ``struct mm_struct`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L356>`_.
    """

    def __init__(
        self,
        system: System | None = None,
        *,
        version: Version | None = None,
        have_pte_special: bool | None = None,
        mmap_base: int = DEFAULT_MMAP_BASE,
        task_size: int = constants.TASK_SIZE,
        cap_sys_rawio: bool = False,
    ) -> None:
        machine: dict[str, object] = {}
        if version is not None:
            machine["version"] = (version[0], version[1])
        if have_pte_special is not None:
            machine["have_pte_special"] = have_pte_special
        if machine and system is None:
            system = System(**machine)  # type: ignore[arg-type]
        elif machine and system is not None:
            differs = [k for k, v in machine.items() if getattr(system, k) != v]
            if differs:
                raise ValueError(f"{', '.join(differs)} belong to the System: set them there")
        super().__init__(
            system, mmap_base=mmap_base, task_size=task_size, cap_sys_rawio=cap_sys_rawio
        )

    def find_vma(self, addr: int) -> Vma | None:
        """Shorthand for :func:`mmlab.mmap.find_vma`, for a user address.

        The kernel's ``addr`` is an ``unsigned long``: a negative number is not an address, and
        an address at or above this mm's ``task_size`` is a kernel address that no VMA covers.
        Both are refused here with that rule (``ValueError``), rather than answered with a VMA
        a learner would take for the kernel's answer.

        Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
        """
        if not isinstance(addr, int) or isinstance(addr, bool):
            raise TypeError(f"find_vma takes an address (an int), not {type(addr).__name__}")
        if addr < 0:
            raise ValueError(f"{addr} is not an address: find_vma takes an unsigned long, "
                             f"from 0 up to the end of user space ({self.task_size:#x})")
        if addr >= self.task_size:
            raise ValueError(f"{addr:#x} is a kernel address: user space ends at TASK_SIZE "
                             f"{self.task_size:#x}, and no VMA lies above it (the kernel's "
                             "find_vma would return NULL)")
        return find_vma(self, addr)

    # --- system calls ------------------------------------------------------------------------
    def mmap(
        self,
        addr: int,
        length: int,
        prot: int,
        flags: int,
        file: File | None = None,
        offset: int = 0,
    ) -> int:
        """mmap(2): map ``length`` bytes; returns the address or raises ``OSError``.

        ``sys_mmap`` (arch/x86/kernel/sys_x86_64.c) refuses an unaligned offset; ``mmap_pgoff``
        wants a file unless ``MAP_ANONYMOUS`` (``EBADF``; ``file`` stands for the fd) and
        refuses ``MAP_HUGETLB`` on a file that is not on hugetlbfs (the model has none);
        ``vm_mmap_pgoff`` (mm/util.c) calls :func:`do_mmap` with ``mmap_sem`` held for write,
        then :func:`mmlab.gup.mm_populate` for ``MAP_POPULATE``/``MAP_LOCKED``.

        Kernel: ``vm_mmap_pgoff`` in `mm/util.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/util.c#L320>`_.
        """
        addr, length, offset = _ulong(addr), _ulong(length), _ulong(offset)
        prot, flags = _ulong(prot), _ulong(flags)
        if file is not None and not isinstance(file, File):
            what = f"the {type(file).__name__} {file!r}"
            raise TypeError(
                f"mmap's file must be an open file (it stands for the fd), not {what}: open "
                "one first, e.g. sb.open('/lib/libc.so.6') on a mounted cramfs "
                "(mmlab.xip.mount) or mmlab.fs.file_from_path(path) / file_from_bytes(data, name)")
        if offset & ~constants.PAGE_MASK:
            _raise(-errno.EINVAL, "mmap")
        if not flags & constants.MAP_ANONYMOUS:
            if file is None:
                _raise(-errno.EBADF, "mmap")
            if flags & constants.MAP_HUGETLB:
                _raise(-errno.EINVAL, "mmap (MAP_HUGETLB on a file not on hugetlbfs)")
        else:
            file = None
            if flags & constants.MAP_HUGETLB:
                _raise(-errno.EINVAL, "mmap (hugetlbfs is not modelled)")
        flags &= ~(constants.MAP_EXECUTABLE | constants.MAP_DENYWRITE)
        if self.mmap_sem.down_write_killable():
            _raise(-errno.EINTR, "mmap")
        try:
            ret, populate = do_mmap(
                self, file, addr, length, prot, flags, 0, offset >> constants.PAGE_SHIFT
            )
        finally:
            self.mmap_sem.up_write()
        if ret < 0:
            _raise(ret, "mmap")
        if populate:
            mm_populate(self, ret, populate)
        return ret

    def munmap(self, addr: int, length: int) -> None:
        """munmap(2): :func:`do_munmap` under ``mmap_sem`` held for write.

        Kernel: ``vm_munmap`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2736>`_.
        """
        addr, length = _ulong(addr), _ulong(length)
        if self.mmap_sem.down_write_killable():
            _raise(-errno.EINTR, "munmap")
        try:
            ret = do_munmap(self, addr, length)
        finally:
            self.mmap_sem.up_write()
        if ret:
            _raise(ret, "munmap")

    def mprotect(self, addr: int, length: int, prot: int) -> None:
        """mprotect(2): :func:`mmlab.mprotect.do_mprotect_pkey` with no protection key.

        Like the kernel, a failure part-way leaves the VMAs already changed as they are.

        Kernel: ``SYSCALL_DEFINE3(mprotect)`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L514>`_.
        """
        ret = do_mprotect_pkey(self, _ulong(addr), _ulong(length), _ulong(prot), -1)
        if ret:
            _raise(ret, "mprotect")

    def mremap(self, old_address: int, old_size: int, new_size: int, flags: int,
               new_address: int = 0) -> int:
        """mremap(2): shrink, grow or move a mapping; returns its address or raises ``OSError``.

        :func:`mmlab.mremap.sys_mremap` (it takes ``mmap_sem`` for writing itself). ``flags``
        is 0, ``MREMAP_MAYMOVE``, or ``MREMAP_MAYMOVE | MREMAP_FIXED`` with ``new_address``.

        Kernel: ``SYSCALL_DEFINE5(mremap)`` in `mm/mremap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mremap.c#L523>`_.
        """
        ret = sys_mremap(self, _ulong(old_address), _ulong(old_size), _ulong(new_size),
                         _ulong(flags), _ulong(new_address))
        if ret < 0:
            _raise(ret, "mremap")
        return ret

    def read(self, addr: int, length: int, *, exec_: bool = False) -> bytes:
        """Load ``length`` bytes as the program would (see :func:`mmlab.uaccess.user_read`).

        Model helper: no kernel counterpart (a program's loads, through the MMU).
        """
        return user_read(self, addr, length, exec_=exec_)

    def write(self, addr: int, data: bytes) -> None:
        """Store ``data`` as the program would (see :func:`mmlab.uaccess.user_write`).

        Model helper: no kernel counterpart (a program's stores, through the MMU).
        """
        user_write(self, addr, data)


def _ulong(value: int) -> int:
    """A system call argument as the kernel sees an ``unsigned long`` (x86-64: 64 bits).

    mmap(2)'s and mprotect(2)'s ``prot`` and ``flags`` are ``unsigned long`` too
    (``SYSCALL_DEFINE6(mmap, ...)`` in arch/x86/kernel/sys_x86_64.c): a bit above 31 is kept,
    and refused where the kernel refuses unknown bits.
    """
    if not isinstance(value, int):
        raise TypeError(f"expected an integer, got {type(value).__name__}")
    return value & constants.ULONG_MASK


def _raise(ret: int, what: str) -> None:
    code = -ret
    raise OSError(code, f"{what}: {os.strerror(code)} ({errno.errorcode.get(code, code)})")
