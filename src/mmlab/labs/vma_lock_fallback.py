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
back); :func:`decide` also says which rule decided it, read off the trace of that run
(:data:`RULES`), and :func:`check` names that rule under a failing case.
:func:`handler_with_map_pages` runs the 2017 handler under a VMA lock and says which of its
calls went wrong first.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from types import MappingProxyType

from mmlab import fault, trace
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    VM_FAULT_RETRY,
)
from mmlab.errors import KernelBug, WouldSleep
from mmlab.filemap import filemap_map_pages, generic_file_buffered_read
from mmlab.mm import MM
from mmlab.mm_types import VmOperations, vma_start_write
from mmlab.mmap import find_vma
from mmlab.mmap_lock import API_NAMES
from mmlab.scenarios import scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_write
from mmlab.version import V6_12
from mmlab.viz.quiz import CheckResult, check_function, same_value
from mmlab.xip import cramfs_vmasplit_fault, mount

__all__ = ["KINDS", "LOCKS", "RULES", "WRITERS", "HandlerRun", "as_6_12", "cases", "check",
           "decide", "handler_with_map_pages", "run_case"]

#: What can be at the faulting address.
KINDS = ("anon", "file", "split", "gap")
#: The answers a fault_lock gives: the lock a fault ends under.
LOCKS = ("vma", "mmap_lock")
#: Who holds mmap_lock for writing meanwhile.
WRITERS = (None, "other", "this")

#: The page the fault touches, of each mapping (libc's page 4 is past its XIP part).
PAGE = 4

#: The rule that decides a case, by the name :func:`decide` gives it: the four rules of the lab
#: (chapter 9's list) and the cases where the fault stays under its VMA lock.
RULES: Mapping[str, str] = MappingProxyType({
    "no-vma-lock": "rule 1: lock_vma_under_rcu gives no VMA lock (nothing is mapped there, or "
                   "another thread write-locked this VMA), so the fault takes mmap_lock",
    "no-map-pages": "rule 2: the VMA's vm_ops have ->fault but no ->map_pages, so "
                    "vmf_can_call_fault sends the fault to mmap_lock before ->fault runs",
    "anon-vma-trylock": "rule 3: a new anonymous page needs the VMA's anon_vma, which needs "
                        "mmap_lock for a moment; the trylock fails while another thread holds "
                        "it for writing, so the fault retries under mmap_lock",
    "cold-page": "rule 4: the page is not in the page cache, so filemap_fault gives up the VMA "
                 "lock to read it and the fault retries under mmap_lock",
    "anon-vma-made": "rule 3, the trylock succeeds: nobody holds mmap_lock for writing, so the "
                     "anon_vma is made and the fault stays under its VMA lock",
    "anon-vma-there": "the VMA has its anon_vma already: the new anonymous page needs nothing "
                      "but the VMA lock",
    "zero-page": "the zero page: a read of anonymous memory that was never written maps the "
                 "zero page, which needs no page of its own and no anon_vma",
    "fault-around": "a read of a cached page: fault-around maps it (->map_pages), ->fault is "
                    "never called, nothing needs mmap_lock",
})


def run_case(kind: str, access: str, anon_vma: bool, cached: bool,
             writer: str | None) -> str:
    """The lock a fault ends under on 6.12, as the model's x86 handler runs it: ``"vma"`` or
    ``"mmap_lock"``.

    Model helper: no kernel counterpart.
    """
    return decide(kind, access, anon_vma, cached, writer)[0]


@cache
def decide(kind: str, access: str, anon_vma: bool, cached: bool,
           writer: str | None) -> tuple[str, str]:
    """:func:`run_case` and the rule that decided it: a key of :data:`RULES`, read off the
    trace of the run (which call gave the VMA lock up, or what the fault did under it).

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
    with trace.record(snapshots=False) as rec:
        try:
            res = fault.do_page_fault(mm, address, write=access == "write")
            lock = "vma" if res.vma_lock else "mmap_lock"
        except WouldSleep:  # it fell back to mmap_lock and waits there for the writer
            lock = "mmap_lock"
    return lock, _rule(rec, lock)


def _rule(rec: trace.Recorder, lock: str) -> str:
    """Which rule of :data:`RULES` the recorded fault followed."""
    first = {}
    for step in rec.steps:
        first.setdefault(step.name, step)
    if first["lock_vma_under_rcu"].result is None:
        return "no-vma-lock"
    gave_up = [s.name for s in rec.steps if s.name in (
        "vmf_can_call_fault", "__vmf_anon_prepare", "filemap_fault")
        and isinstance(s.result, int) and s.result & VM_FAULT_RETRY]
    if gave_up:
        return {"vmf_can_call_fault": "no-map-pages", "__vmf_anon_prepare": "anon-vma-trylock",
                "filemap_fault": "cold-page"}[gave_up[0]]
    if lock != "vma":
        raise ValueError("a fault left its VMA lock without a rule saying why")
    if "__vmf_anon_prepare" in first and "mmap_read_trylock" in first:
        return "anon-vma-made"
    if "do_anonymous_page" in first and not first["do_page_fault"].args.get("write"):
        return "zero-page"
    if "do_anonymous_page" in first or "do_cow_fault" in first:
        return "anon-vma-there"
    return "fault-around"


def cases() -> list[tuple[tuple[str, str, bool, bool, str | None], str]]:
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
    """Check a learner's ``fault_lock`` against the model's runs of :func:`cases`; under the
    first failing case, the rule that decides it (:data:`RULES`) when the function answered
    with the other lock; when it answered something else (``True``, ``None``...), only that
    the answer is one of the two locks' names; when it raised, the error alone.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="fault_lock", explain=_why_this_lock)


def _why_this_lock(args: tuple, got: object) -> str:
    """What :func:`check` adds under a wrong answer: the rule deciding the case, or, for an
    answer that names no lock, what ``fault_lock`` answers with."""
    if not any(same_value(got, lock) for lock in LOCKS):
        return 'fault_lock answers with the name of a lock: "vma" or "mmap_lock".'
    return f"What decides it: {RULES[decide(*args)[1]]}."


@dataclass(frozen=True)
class HandlerRun:
    """What :func:`handler_with_map_pages` saw: ``text``, the oops (or the result) as the model
    reported it; ``call``, the handler's first call that went wrong, in 6.12's name
    (``"mmap_read_unlock"``: the 2017 code's ``up_read``), or ``""`` if none did.

    Model helper: no kernel counterpart.
    """

    text: str
    call: str

    def __str__(self) -> str:
        """The text, and the 2017 code's name of the call when 6.12 names it otherwise."""
        old = next((k for k, v in API_NAMES.items() if v == self.call), None)
        if old is None:
            return self.text
        return f"{self.text}\n({self.call} is 6.12's name for the 2017 code's {old})"


def as_6_12(name: object) -> object:
    """A learner's name for one of the handler's lock calls in 6.12's words: ``"up_read"``,
    ``" Up_Read "`` or ``"up_read(&mm->mmap_sem)"`` is ``"mmap_read_unlock"``
    (:data:`~mmlab.mmap_lock.API_NAMES`; case and spaces do not matter); another text is
    kept, in lower case (its name before any ``(``); anything else (``...``, no guess yet) is
    returned as it is.

    Model helper: no kernel counterpart.
    """
    if not isinstance(name, str):
        return name
    bare = name.strip().split("(")[0].strip().lower()
    return API_NAMES.get(bare, bare)


def handler_with_map_pages() -> HandlerRun:
    """The 2017 handler with ``->map_pages`` added to its ops, faulted on page 4 on 6.12.

    ``vmf_can_call_fault`` then lets ``cramfs_vmasplit_fault`` run under the VMA lock, and its
    first lock operation, ``up_read(&mm->mmap_sem)`` (``mmap_read_unlock`` in 6.12's words),
    releases a lock the fault does not hold: the model stops there (an oops).

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
    except KernelBug as bug:  # "mmap_read_unlock(mmap_lock) without a read hold"
        return HandlerRun(f"oops: {bug}", str(bug).split("(")[0])
    return HandlerRun(f"no oops: {res}", "")
