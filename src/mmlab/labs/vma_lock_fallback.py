"""Lab 07: which lock does a 6.12 fault end under? The fallback rules of per-VMA locks.

A user-mode fault on a 6.12 kernel leaves its VMA's lock for ``mmap_lock`` when the VMA, the
access or another thread asks for it. The learner writes
``fault_lock(kind, access, anon_vma, cached, writer)``: the lock under which the fault of one
thread is finished, ``"vma"`` (it never took ``mmap_lock``) or ``"mmap_lock"`` (it fell back,
or never got a VMA lock). The inputs:

* ``kind``: what is at the address: ``"anon"`` (a private anonymous mapping), ``"file"`` (a
  private read+write mapping of a cramfs file, served by the page cache: ``generic_file_vm_ops``,
  which has ``->map_pages``), ``"split"`` (a library mapped under the 2017 split: its VMA has
  ``cramfs_vmasplit_ops``, only ``->fault``; read only) or ``"gap"`` (nothing);
* ``access``: ``"read"`` or ``"write"``;
* ``anon_vma``: the VMA already has its ``anon_vma`` (a page of it was written before);
* ``cached``: the file page is in the page cache already (a ``read(2)`` put it there);
* ``writer``: another thread holds ``mmap_lock`` for writing: ``None`` (nobody),
  ``"other"`` (it is changing another VMA: it called ``vma_start_write`` on that one) or
  ``"this"`` (it called ``vma_start_write`` on this VMA).

:func:`run_case` runs each case on a fresh 6.12 machine of the model and reads the answer off
the x86 handler's result (a fault that must wait for the writer's ``mmap_lock`` is one that fell
back). :func:`handler_with_map_pages` runs the 2017 handler under a VMA lock.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable

from mmlab import fault
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
)
from mmlab.errors import KernelBug, WouldSleep
from mmlab.filemap import filemap_map_pages, generic_file_buffered_read
from mmlab.mm import MM
from mmlab.mm_types import VmOperations, vma_start_write
from mmlab.mmap import find_vma
from mmlab.scenarios import scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_write
from mmlab.version import V6_12
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.xip import cramfs_vmasplit_fault, mount

__all__ = ["KINDS", "WRITERS", "cases", "check", "handler_with_map_pages", "run_case"]

#: What can be at the faulting address.
KINDS = ("anon", "file", "split", "gap")
#: Who holds mmap_lock for writing meanwhile.
WRITERS = (None, "other", "this")

#: The page the fault touches, of each mapping (libc's page 4 is past its XIP part).
PAGE = 4


def run_case(kind: str, access: str, anon_vma: bool, cached: bool,
             writer: str | None) -> str:
    """The lock a fault ends under on 6.12, as the model's x86 handler runs it: ``"vma"`` or
    ``"mmap_lock"``.

    Model helper: no kernel counterpart.
    """
    if kind not in KINDS or access not in ("read", "write") or writer not in WRITERS:
        raise ValueError(f"no such case: {kind!r}, {access!r}, writer {writer!r}")
    system = System(version=V6_12)
    mm = MM(system)
    other = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    if kind in ("file", "split"):
        sb = mount(scenario_image(), None, "split" if kind == "split" else "mixedmap",
                   system=system)
        sc = scenario("libc-past-xip")
        file = sb.open(sc.path)
        if cached:
            generic_file_buffered_read(file, PAGE * PAGE_SIZE, PAGE_SIZE, physmem=system.physmem)
        prot = sc.prot if kind == "split" else PROT_READ | PROT_WRITE
        base = mm.mmap(other - 64 * PAGE_SIZE, sc.length, prot, MAP_PRIVATE, file, 0)
    else:
        base = mm.mmap(other - 64 * PAGE_SIZE, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS)
    if anon_vma and kind in ("anon", "file"):
        user_write(mm, base, b"\x01")  # page 0 written: the VMA gets its anon_vma
    address = base + PAGE * PAGE_SIZE
    if kind == "gap":
        address = base - 8 * PAGE_SIZE
    if writer is not None:
        mm.mmap_sem.down_write()
        target = find_vma(mm, other if writer == "other" else address)
        if target is not None:
            vma_start_write(target)
    try:
        res = fault.do_page_fault(mm, address, write=access == "write")
    except WouldSleep:  # it fell back to mmap_lock and waits there for the writer
        return "mmap_lock"
    return "vma" if res.vma_lock else "mmap_lock"


def cases() -> list[tuple[tuple, str]]:
    """Every combination the check runs, with the model's answer (the read-only library is
    only read; ``cached`` matters only for a file, ``anon_vma`` only where a write needs it).

    Model helper: no kernel counterpart.
    """
    out = []
    for kind in KINDS:
        for access in ("read", "write"):
            if kind == "split" and access == "write":
                continue
            for anon_vma in (False, True):
                for cached in (False, True):
                    for writer in WRITERS:
                        args = (kind, access, anon_vma, cached, writer)
                        out.append((args, run_case(*args)))
    return out


def check(fn: Callable[[str, str, bool, bool, str | None], str]) -> CheckResult:
    """Check a learner's ``fault_lock`` against the model's runs of :func:`cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="fault_lock")


def handler_with_map_pages() -> str:
    """The 2017 handler with ``->map_pages`` added to its ops, faulted on page 4 on 6.12.

    ``vmf_can_call_fault`` then lets ``cramfs_vmasplit_fault`` run under the VMA lock, and its
    first lock operation, ``up_read(&mm->mmap_sem)``, releases a lock the fault does not hold.
    Returns what the model saw (an oops, as text).

    Model helper: no kernel counterpart.
    """
    system = System(version=V6_12)
    sb = mount(scenario_image(), None, "split", system=system)
    mm = MM(system)
    sc = scenario("libc-past-xip")
    base = mm.mmap(0, sc.length, sc.prot, sc.flags, sb.open(sc.path), sc.offset)
    vma = find_vma(mm, base)
    assert vma is not None
    vma.vm_ops = VmOperations(fault=cramfs_vmasplit_fault, map_pages=filemap_map_pages,
                              label="cramfs_vmasplit_ops + map_pages")
    try:
        res = fault.do_page_fault(mm, base + PAGE * PAGE_SIZE)
    except KernelBug as bug:
        return f"oops: {bug}"
    return f"no oops: {res}"
