"""Lab 01: the copy-on-write rule of ``remap_pfn_range`` (mm/memory.c @ v4.15).

The learner writes ``remap_cow_rule(vm_flags, vm_start, vm_end, vm_pgoff, addr, size, pfn)``:
``-EINVAL`` when the rule refuses the call, else the VMA's ``vm_pgoff`` after it (the first
pfn for a COW mapping remapped whole, unchanged otherwise). :func:`check` compares it with what
the model's :func:`mmlab.memory.remap_pfn_range` does to a VMA with those fields.
:func:`mprotect_after_driver_mmap` shows what a driver that clears ``VM_MAYWRITE`` to get a
partial remap past the rule costs the program.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from mmlab.constants import (
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    VM_EXEC,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
)
from mmlab.fs import file_from_bytes
from mmlab.fs_types import File, FileOperations
from mmlab.memory import remap_pfn_range
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.system import System
from mmlab.viz.quiz import CheckResult, check_function

__all__ = ["FLAG_KINDS", "cases", "check", "driver_mapping", "model_answer",
           "mprotect_after_driver_mmap"]

_BASE = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYEXEC

#: The four kinds of VMA the cases are drawn from: (label, vm_flags).
FLAG_KINDS = (
    ("private, may write", _BASE | VM_MAYWRITE),
    ("private, may not write", _BASE),
    ("shared, may write", _BASE | VM_SHARED | VM_MAYSHARE | VM_MAYWRITE),
    ("shared read-only", _BASE | VM_MAYSHARE),
)


def model_answer(vm_flags: int, vm_start: int, vm_end: int, vm_pgoff: int, addr: int,
                 size: int, pfn: int) -> int:
    """Run the model's ``remap_pfn_range`` on a fresh VMA with these fields.

    Returns its error if it fails, else the VMA's ``vm_pgoff`` afterwards.

    Kernel: ``remap_pfn_range`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2045>`_.
    """
    mm = MM(System())
    vma = Vma(vm_start, vm_end, vm_flags, vm_pgoff, None, vm_mm=mm)
    ret = remap_pfn_range(vma, addr, pfn, size, vma.vm_page_prot)
    return ret if ret < 0 else vma.vm_pgoff


def cases(seed: int = 2017, count: int = 24) -> list[tuple[tuple, object]]:
    """``(args, expected)`` pairs: every flag kind with whole, unaligned-whole and partial ranges.

    The expected values come from :func:`model_answer` (the model), not from a second copy of
    the rule.

    Model helper: no kernel counterpart.
    """
    rng = random.Random(seed)
    out: list[tuple[tuple, object]] = []
    shapes = ("whole", "whole, size not page aligned", "head", "tail", "middle", "one page")
    for n in range(count):
        _label, flags = FLAG_KINDS[n % len(FLAG_KINDS)]
        shape = shapes[(n // len(FLAG_KINDS) + n) % len(shapes)]
        pages = rng.randint(3, 9)
        start = 0x40000000 + rng.randrange(0, 1 << 16) * PAGE_SIZE
        end = start + pages * PAGE_SIZE
        pgoff = rng.randrange(0, 64)
        pfn = 0x08000 + rng.randrange(0, 1 << 10)
        if shape == "whole":
            addr, size = start, pages * PAGE_SIZE
        elif shape == "whole, size not page aligned":
            addr, size = start, pages * PAGE_SIZE - rng.randint(1, PAGE_SIZE - 1)
        elif shape == "head":
            addr, size = start, (pages - 1) * PAGE_SIZE
        elif shape == "tail":
            addr, size = start + PAGE_SIZE, (pages - 1) * PAGE_SIZE
        elif shape == "middle":
            addr, size = start + PAGE_SIZE, (pages - 2) * PAGE_SIZE
        else:
            addr, size = start + (pages - 1) * PAGE_SIZE, PAGE_SIZE
        args = (flags, start, end, pgoff, addr, size, pfn)
        out.append((args, model_answer(*args)))
    return out


def check(fn: Callable[[int, int, int, int, int, int, int], int]) -> CheckResult:
    """Check a learner's ``remap_cow_rule`` against the model on :func:`cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="remap_cow_rule", hex_ints=True)


def driver_mapping(*, clear_maywrite: bool = True) -> tuple[MM, int]:
    """A program maps 4 pages of a file ``MAP_PRIVATE`` with ``PROT_READ | PROT_EXEC`` on a
    fresh model machine; returns the mm and the mapping's address.

    The file's driver, in its ``mmap`` method, clears ``VM_MAYWRITE`` (``clear_maywrite``) and
    then remaps the first 3 pages to the first frames of the flash chip with
    ``remap_pfn_range``, which accepts the partial range because the VMA is no longer a COW
    mapping (and so leaves ``vm_pgoff`` alone). Without ``clear_maywrite`` it maps nothing in
    place, as cramfs does when it cannot map the whole VMA: a partial remap of a COW mapping
    would be refused.

    Model helper: no kernel counterpart (the driver is the lab's own; ``remap_pfn_range`` is
    the model's, :func:`mmlab.memory.remap_pfn_range`).
    """
    mm = MM(System())
    flash_pfn = mm.physmem.flash_phys >> PAGE_SHIFT

    def driver_mmap(file: File, vma: Vma) -> int:
        if not clear_maywrite:
            return 0
        vma.vm_flags &= ~VM_MAYWRITE
        return remap_pfn_range(vma, vma.vm_start, flash_pfn, 3 * PAGE_SIZE, vma.vm_page_prot)

    file = file_from_bytes(bytes(4 * PAGE_SIZE), "/model/driver-file",
                           f_op=FileOperations(mmap=driver_mmap), system=mm.system)
    return mm, mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, file, 0)


def mprotect_after_driver_mmap(prot: int, *, clear_maywrite: bool = True) -> int:
    """The program of :func:`driver_mapping` calls ``mprotect(prot)`` on its whole mapping;
    returns what ``mprotect`` returns, 0 or ``-errno``. ``mprotect`` refuses a permission whose
    ``VM_MAY`` bit is clear (``-EACCES``): with ``clear_maywrite``, any ``PROT_WRITE``.

    Kernel: ``do_mprotect_pkey`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L393>`_.
    """
    mm, addr = driver_mapping(clear_maywrite=clear_maywrite)
    try:
        mm.mprotect(addr, 4 * PAGE_SIZE, prot)
    except OSError as exc:
        return -exc.errno
    return 0
