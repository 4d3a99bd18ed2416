"""Threads racing on a partly mapped cramfs VMA: every interleaving, under the rwsem rules.

The fault-time split (Nicolas Pitre, 2017-08-16) drops ``mmap_sem`` inside a fault handler and
takes it again for writing. Between the two, anything can happen: another thread faults on the
same VMA, or unmaps it, or changes its protection. The review rejected the design for that
reason. This module makes the objection concrete: :func:`explore` runs a small program per
thread (a page fault, a munmap, an mprotect, a re-mmap, an mremap) on one process of the model,
tries every order in which the threads' steps can run, and reports what each order led to.

The rules of the lock are the model's :class:`~mmlab.rwsem.RwSemaphore`'s: readers share it; a
writer waits until nobody holds it; ``down_write_killable`` gives up with ``-EINTR`` instead of
waiting when the thread has a fatal signal. A thread's step runs from one lock operation (or
other shared-state access) to the next, so the interleavings are those a scheduler could
produce at those points. Each interleaving is run from scratch on a fresh machine (no state is
copied), so a run is exactly what the model's functions do.

``version=`` runs the same threads on a newer kernel's rules (:mod:`mmlab.version`). From v6.4 a
fault first tries the VMA's own lock (``lock_vma_under_rcu``, then ``handle_mm_fault`` with
``FAULT_FLAG_VMA_LOCK``: two steps, the VMA read-locked between them) and falls back to
``mmap_sem`` when that fails or the handler answers ``VM_FAULT_RETRY``; a system call takes
``mmap_sem`` for writing in one step and does its work in the next, which waits until no fault
holds the read lock of a VMA it write-locks (``vma_start_write``; the model waits for the VMAs
in the call's range and the two that touch it, a superset of what the kernel locks); the split
handler waits there too before ``split_vma``. A VMA that changes while a fault holds its read
lock is reported: that is the rule per-VMA locks add (every change of a VMA goes through
``vma_start_write``). A fault may also touch a second, anonymous mapping of the same process
(``Fault(page, region="anon")``), to show which faults wait for which.

Model helper: no kernel counterpart (the kernel's threads and scheduler).
"""

from __future__ import annotations

import errno
import textwrap
from collections import Counter
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_USER,
    FAULT_FLAG_VMA_LOCK,
    FAULT_FLAG_WRITE,
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_MASK,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    VM_FAULT_COMPLETED,
    VM_FAULT_ERROR,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_RETRY,
    VM_READ,
    vm_fault_names,
)
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.filemap import generic_file_buffered_read, generic_file_vm_ops
from mmlab.fs_types import File
from mmlab.gup import FOLL_FORCE, FOLL_WRITE, check_vma_flags
from mmlab.memory import check_mm_invariants
from mmlab.memory_fault import finish_fault, handle_mm_fault, lock_vma_under_rcu
from mmlab.mm import MM
from mmlab.mm_types import Vma, VmFault, linear_page_index, vma_end_read
from mmlab.mmap import find_vma
from mmlab.pagetable import mmu_permits, pte_present
from mmlab.physmem import Page, PageLocked, unlock_page
from mmlab.scenarios import Scenario, scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read, user_write
from mmlab.version import (
    DEFAULT_VERSION,
    FAULT_ACCOUNTING_IN_CORE,
    MULTIPLE_FAULT_RETRIES,
    Version,
    has,
)
from mmlab.xip import (
    CRAMFS_VMASPLIT_OPS,
    CramfsSuperBlock,
    SplitFault,
    mount,
    vmasplit_fault_steps,
)

__all__ = [
    "RACES",
    "Fault",
    "Mprotect",
    "Mremap",
    "Munmap",
    "RaceReport",
    "Remap",
    "Run",
    "State",
    "Step",
    "VmaView",
    "explore",
    "fair_schedule",
    "race",
    "run_schedule",
    "steps_of",
]

#: The width a table's problem lines are wrapped to: mmlab.viz.quiz.OUTPUT_WIDTH, which the model
#: cannot import (a notebook's output breaks longer lines wherever the panel ends, in a word).
_TABLE_WIDTH = 88


# --- what a thread does ---------------------------------------------------------------------
#: Pages of the anonymous region a :class:`Fault` with ``region="anon"`` touches.
ANON_PAGES = 4

@dataclass(frozen=True)
class Fault:
    """A thread touching page ``page`` of the mapping (a read), as the CPU and the kernel do.

    ``allow_retry=False`` is a ``get_user_pages`` caller without ``nonblocking`` (a debugger
    reading ``/proc/PID/mem``): the handler may not drop ``mmap_sem``, and a ``VM_FAULT_RETRY``
    would come back as ``-EBUSY`` to a caller who then releases a lock it no longer holds. But
    ``__get_user_pages`` asks ``check_vma_flags`` first (`mm/gup.c @ v4.15 L544
    <https://elixir.bootlin.com/linux/v4.15/source/mm/gup.c#L544>`_), which refuses a ``VM_IO``
    or ``VM_PFNMAP`` VMA with ``-EFAULT``; the partly mapped VMA is both (``remap_pfn_range``),
    so such a caller never reaches the split handler: the patched 6.1 of
    ``data/kernel-captures/split-races.json`` answers the ``/proc/PID/mem`` read with ``EIO``.
    ``killed``: a SIGKILL arrives while the thread waits for
    the lock for writing. ``region="anon"``: the page is one of a second, anonymous private
    mapping of the process (four pages, read+write, away from the cramfs mapping, its page 0
    written before the threads start so that it has its ``anon_vma``); ``write``: the access
    writes.

    Model helper: no kernel counterpart.
    """

    page: int
    allow_retry: bool = True
    killed: bool = False
    region: str = "mapping"
    write: bool = False

    def __post_init__(self) -> None:
        if self.region not in ("mapping", "anon"):
            raise ValueError(f"Fault region {self.region!r}: 'mapping' or 'anon'")
        if self.region == "anon" and not 0 <= self.page < ANON_PAGES:
            raise ValueError(f"Fault page {self.page} of the anonymous region: 0 to "
                             f"{ANON_PAGES - 1}")

    @property
    def label(self) -> str:
        """What the thread does, in a few words."""
        extra = ("" if self.allow_retry else ", gup") + (", killed" if self.killed else "")
        if self.region == "anon":
            return f"{'write' if self.write else 'read'} anon page {self.page}{extra}"
        return f"{'write' if self.write else 'fault'} page {self.page}{extra}"


def _pages(page: int, pages: int) -> str:
    """"page 3" or "pages 3-4"."""
    return f"page {page}" if pages == 1 else f"pages {page}-{page + pages - 1}"


@dataclass(frozen=True)
class Munmap:
    """A thread calling ``munmap`` on pages ``[page, page + pages)`` of the mapping.

    Model helper: no kernel counterpart.
    """

    page: int
    pages: int

    @property
    def label(self) -> str:
        return f"munmap {_pages(self.page, self.pages)}"


@dataclass(frozen=True)
class Mprotect:
    """A thread calling ``mprotect(prot)`` on pages ``[page, page + pages)`` of the mapping.

    Model helper: no kernel counterpart.
    """

    page: int
    pages: int
    prot: int = PROT_READ

    @property
    def label(self) -> str:
        return f"mprotect {_pages(self.page, self.pages)}"


@dataclass(frozen=True)
class Remap:
    """A thread mapping the same file (same descriptor) again over the mapping (``MAP_FIXED``).

    The old VMA is unmapped (its page tables may be freed) and a new one, with the same
    ``vm_ops`` and the same ``vm_file``, takes its place: both re-checks pass.

    Model helper: no kernel counterpart.
    """

    @property
    def label(self) -> str:
        return "mmap MAP_FIXED again"


@dataclass(frozen=True)
class Mremap:
    """A thread moving another mapping onto the faulting one: Al Viro's schedule.

    Before the threads start, ``path`` (a file of the same cramfs image) is mapped whole,
    read+exec and private, somewhere else (below the faulting mapping: ``mmap`` allocates top
    down); it is a partly mapped XIP VMA too when its file allows. The thread then calls
    ``mremap(that, size, size, MREMAP_MAYMOVE | MREMAP_FIXED, page of the faulting mapping)``:
    whatever is mapped there is unmapped, and a copy of the other VMA -- its ``vm_ops`` and
    ``vm_private_data`` (the split point) included -- takes its place, with its page-table
    entries. A ``path`` equal to the faulting mapping's file is mapped through the same open
    file (the same ``struct file``, as a loader mapping one library twice from one descriptor
    does): then even v3's ``vm_file`` re-check passes.

    Model helper: no kernel counterpart.
    """

    path: str
    page: int = 0

    @property
    def label(self) -> str:
        return f"mremap {self.path.rsplit('/', 1)[-1]} onto page {self.page}"


ThreadSpec = Fault | Munmap | Mprotect | Remap | Mremap


@dataclass
class _Outcome:
    """One thread's story in one interleaving."""

    result: str = "done"
    events: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    nopage: int = 0
    retries: int = 0
    split: bool = False
    waiting_for: Page | None = None  # a page-cache page whose lock the thread sleeps on
    handler: SplitFault | None = None  # the split handler's report while it runs
    #: 6.x: the VMA whose read lock the thread holds now, and what it looked like then.
    vma_locked: Vma | None = None
    vma_seen: tuple[object, ...] = ()
    #: 6.x: how the first try, under the VMA lock, ended: "under VMA lock" (finished there),
    #: "VMA lock RETRY → mmap_lock" (VM_FAULT_RETRY: it went on under mmap_lock) or "no VMA
    #: lock → mmap_lock" (lock_vma_under_rcu gave none); ``vma_lock_major``: that try was a
    #: major one (FAULT_FLAG_TRIED is set for the next).
    vma_lock: str = ""
    vma_lock_major: bool = False
    minflt: int = 0
    majflt: int = 0
    #: A problem seen at the end of a step but caused in an earlier one of this thread: the
    #: problem -> the labels that step may have (the thread's latest step with one of them is
    #: blamed). A valid read that gets SIGBUS in filemap_fault broke where the handler, under
    #: the write lock, changed the VMA from a split point that no longer fits it, not in the
    #: step where the read failed.
    blame: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def problems(self) -> list[str]:
        """What broke so far, including what the split handler found while it still runs."""
        return self.broken + (self.handler.broken if self.handler is not None else [])

    def summary(self) -> str:
        """The thread's story in a few words, in the order it happened. On 6.x it opens with how
        the VMA-lock try ended, then what happened under mmap_lock (``RETRY xN`` counts only
        the tries there); v4.15's words are chapter 7's."""
        if self.vma_lock:
            parts = [self.vma_lock]
            if self.split:
                parts.append("split")
            later = self.retries - self.vma_lock.startswith("VMA lock RETRY")
            if later:
                parts.append(f"RETRY x{later}")
            if self.nopage:
                parts.append(f"NOPAGE x{self.nopage}, refault")
            return ", ".join([*parts, self.result])
        parts = [self.result]
        if self.split:
            parts.insert(0, "split")
        if self.nopage:
            parts.insert(0, f"NOPAGE x{self.nopage}, refault")
        if self.retries:
            parts.insert(0, f"RETRY x{self.retries}")
        return ", ".join(parts)


@dataclass
class _World:
    """The machine, the process and the mapping every thread works on."""

    mm: MM
    sb: CramfsSuperBlock
    file: File
    base: int
    scenario: Scenario
    file_bytes: bytes
    #: For each :class:`Mremap` thread: the other mapping's file, address and size in pages.
    others: dict[int, tuple[File, int, int]] = field(default_factory=dict)
    #: What a successful mremap put where: (first page, end page, the file, its page shown at
    #: the first page), in pages of the faulting mapping; the later the move, the later in
    #: the list.
    moved: list[tuple[int, int, File, int]] = field(default_factory=list)
    #: Where the anonymous region starts (0 when no thread touches it).
    anon: int = 0

    def address(self, spec: Fault) -> int:
        """The address a fault touches."""
        base = self.anon if spec.region == "anon" else self.base
        return base + spec.page * PAGE_SIZE

    def expected(self, page: int) -> tuple[File, int] | None:
        """The file and file page the program mapped at ``page`` of the mapping (None outside
        it): the scenario's, or what an mremap moved there."""
        for first, end, file, file_page in reversed(self.moved):
            if first <= page < end:
                return file, file_page + page - first
        if 0 <= page < self.scenario.length // PAGE_SIZE:
            return self.file, self.scenario.offset // PAGE_SIZE + page
        return None


def _enabled(label: str, world: _World, spec: ThreadSpec, index: int, out: _Outcome) -> bool:
    sem = world.mm.mmap_sem
    if label == "lock_page":
        return out.waiting_for is None or not PageLocked(out.waiting_for)
    if label == "down_read":
        return not sem.writer
    if label == "down_write_killable":
        return (isinstance(spec, Fault) and spec.killed) or not sem.is_locked
    if label == "mmap_write_lock":
        return not sem.is_locked
    if label == "syscall":
        if sem.per_vma_locks and not isinstance(spec, Fault):  # holds mmap_sem: vma_start_write
            return not any(v.vm_lock.readers for v in _write_set(world, spec, index))
        return not sem.is_locked
    if label == "vma_start_write":
        vma = out.handler.write_locking if out.handler is not None else None
        return vma is None or not vma.vm_lock.readers
    return True


def _write_set(world: _World, spec: Munmap | Mprotect | Remap | Mremap, index: int) -> list[Vma]:
    """The VMAs a system call may write-lock: those in its ranges and the two touching each."""
    mm = world.mm
    if isinstance(spec, Munmap | Mprotect):
        ranges = [(world.base + spec.page * PAGE_SIZE,
                   world.base + (spec.page + spec.pages) * PAGE_SIZE)]
    elif isinstance(spec, Mremap):
        _file, addr, pages = world.others[index]
        dest = world.base + spec.page * PAGE_SIZE
        ranges = [(addr, addr + pages * PAGE_SIZE), (dest, dest + pages * PAGE_SIZE)]
    else:
        ranges = [(world.base, world.base + world.scenario.length)]
    found: list[Vma] = []
    for start, end in ranges:
        for vma in mm:
            if vma.vm_start <= end and vma.vm_end >= start and vma not in found:
                found.append(vma)
    return found


def _vma_fields(vma: Vma) -> tuple[object, ...]:
    return (vma.vm_start, vma.vm_end, vma.vm_pgoff, vma.vm_flags, vma.vm_ops, vma.vm_file,
            vma.detached)


def _fault_program(world: _World, spec: Fault, out: _Outcome) -> Generator[str, None, None]:
    """The x86 fault path (``__do_page_fault``) around the cramfs handler, step by step.

    From v6.4 each hardware fault first tries the VMA lock (:func:`_vma_lock_try`).
    """
    mm = world.mm
    sem = mm.mmap_sem
    addr = world.address(spec)
    many_retries = has(mm.version, MULTIPLE_FAULT_RETRIES)
    flags = FAULT_FLAG_KILLABLE | FAULT_FLAG_USER
    if spec.allow_retry:
        flags |= FAULT_FLAG_ALLOW_RETRY
    if spec.write:
        flags |= FAULT_FLAG_WRITE
    core_counts = has(mm.version, FAULT_ACCOUNTING_IN_CORE)
    for _attempt in range(4):  # each pass is one hardware fault; NOPAGE makes the CPU refault
        yield "fault"
        if mmu_permits(mm.pgd.walk(addr & PAGE_MASK), spec.write, True, False):
            return  # the access succeeds without a fault
        major = 0  # VM_FAULT_MAJOR of any try of this fault (v4.15 counts at the end)
        if sem.per_vma_locks and spec.allow_retry:  # a user fault (get_user_pages: no VMA lock)
            ret = yield from _vma_lock_try(world, spec, out, addr, flags)
            if ret is not None:
                if ret & VM_FAULT_ERROR:
                    return
                continue  # the CPU runs the access again: it goes on, or faults again
            if out.vma_lock_major:
                flags |= FAULT_FLAG_TRIED
        yield "down_read"
        sem.down_read()
        while True:  # retry:
            vma = find_vma(mm, addr)
            if vma is None or vma.vm_start > addr:
                yield "up_read"
                sem.up_read()
                out.result = "SIGSEGV"
                return
            if not spec.allow_retry and check_vma_flags(
                    vma, FOLL_FORCE | (FOLL_WRITE if spec.write else 0)):
                # __get_user_pages asks check_vma_flags before it faults anything in, and a
                # VM_IO | VM_PFNMAP VMA has no struct page to give: -EFAULT, the handler never
                # runs (on the patched 6.1, a read of /proc/PID/mem there gets EIO)
                yield "up_read"
                sem.up_read()
                out.result = "-EFAULT from get_user_pages (VM_IO | VM_PFNMAP)"
                return
            if vma.vm_ops is not CRAMFS_VMASPLIT_OPS or pte_present(mm.pgd.walk(addr)):
                yield from _wait_for_page(vma, addr, out)
                ret = _counted(mm, out, lambda v=vma, f=flags: handle_mm_fault(v, addr, f))
                major |= ret & VM_FAULT_MAJOR
                out.events.append(f"handle_mm_fault {vm_fault_names(ret) or 0}")
                if ret & VM_FAULT_RETRY:
                    if not many_retries:
                        raise KernelBug("a page-cache fault retried: not expected in these races")
                    flags |= FAULT_FLAG_TRIED  # filemap_fault gave up mmap_sem for the read
                    out.retries += 1
                    yield "down_read"
                    sem.down_read()
                    continue
                yield "up_read"
                sem.up_read()
                if ret & VM_FAULT_ERROR:
                    out.result = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                    return
                if not core_counts:
                    _count(out, major)
                break
            mm.pgd.pmd_alloc(addr)  # __handle_mm_fault: vmf->pmd
            pmd_before = mm.pgd.table_of("pmd", addr)
            vmf = VmFault(vma, flags, linear_page_index(vma, addr), addr & PAGE_MASK)
            rep = SplitFault()
            killed: Callable[[], bool] = lambda: spec.killed and sem.is_locked  # noqa: E731
            out.handler = rep
            ret = yield from vmasplit_fault_steps(vmf, killed, rep)
            major |= ret & VM_FAULT_MAJOR
            if core_counts and not ret & (VM_FAULT_RETRY | VM_FAULT_ERROR):  # mm_account_fault
                _count(out, ret & VM_FAULT_MAJOR or flags & FAULT_FLAG_TRIED)
            out.handler = None
            out.events += rep.events
            out.broken += rep.broken
            out.split |= rep.split
            if not flags & FAULT_FLAG_ALLOW_RETRY and "up_read" in rep.events:
                out.broken.append("the handler dropped mmap_sem although the caller did not "
                                  "allow it (no FAULT_FLAG_ALLOW_RETRY)")
            if ret & VM_FAULT_RETRY:
                if flags & FAULT_FLAG_ALLOW_RETRY:
                    if many_retries:  # v5.7 on: ALLOW_RETRY stays, TRIED is added
                        flags |= FAULT_FLAG_TRIED
                    else:
                        flags = (flags & ~FAULT_FLAG_ALLOW_RETRY) | FAULT_FLAG_TRIED
                    out.retries += 1
                    if spec.killed:
                        out.result = "killed (SIGKILL delivered; lock not held, as required)"
                        return
                    yield "down_read"
                    sem.down_read()
                    continue
                out.result = "-EBUSY to get_user_pages"
                yield "up_read"
                if sem.readers:
                    sem.up_read()
                    out.broken.append("get_user_pages's caller up_read()s a lock it no longer "
                                      "holds: another thread's read hold is released")
                else:
                    out.broken.append("get_user_pages's caller up_read()s a lock nobody holds "
                                      "(rwsem count underflow)")
                return
            if ret & VM_FAULT_NOPAGE:
                yield "up_read"
                sem.up_read()
                out.nopage += 1
                if not core_counts:
                    _count(out, major)
                break
            if ret & VM_FAULT_ERROR:
                now = find_vma(mm, addr)
                if now is not None and now.vm_start <= addr and now.vm_flags & VM_READ:
                    got = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                    acted = "down_write_killable" in rep.events  # under the write lock
                    if now.vm_file is not vma.vm_file and now.vm_file is not None:
                        why = (f"the handler applied the split point it decoded from "
                               f"{_name(vma.vm_file)}'s VMA before dropping mmap_sem to a VMA "
                               f"of {_name(now.vm_file)} that took its place meanwhile "
                               "(matching ->vm_ops is not enough)")
                    elif acted:
                        why = ("under the write lock the handler used the split point kept in "
                               "vm_private_data, which no longer matches the VMA it was copied "
                               "into")
                    else:
                        why = ("the split point kept in vm_private_data no longer matches the "
                               "VMA it was copied into")
                    # a problem tied to the step that changed the VMA says what came of it
                    out.broken.append(f"{why}: a valid read at page {spec.page} then got {got}"
                                      if acted else
                                      f"a valid read at page {spec.page} got {got}: {why}")
                    if acted:
                        out.blame[out.broken[-1]] = ("down_write_killable", "vma_start_write")
                yield "up_read"
                sem.up_read()
                out.result = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                return
            yield "finish_fault"
            if not core_counts:
                _count(out, major)
            if mm.pgd.table_of("pmd", addr) is not pmd_before:
                out.broken.append("finish_fault writes through vmf->pmd, computed before "
                                  "mmap_sem was dropped: that page table was freed meanwhile "
                                  "(use after free)")
            done = finish_fault(vmf)
            if vmf.page is not None:  # do_read_fault's end
                unlock_page(vmf.page)
                if done & (VM_FAULT_ERROR | VM_FAULT_NOPAGE | VM_FAULT_RETRY):
                    mm.physmem.put_page(vmf.page)  # another thread mapped it meanwhile
            yield "up_read"
            sem.up_read()
            break
    else:
        out.result = "still faulting after 4 tries"


def _wait_for_page(vma: Vma, addr: int, out: _Outcome) -> Generator[str, None, None]:
    """Sleep (a ``"lock_page"`` step) while another fault holds the page-cache page's lock."""
    mapping = vma.vm_file.f_mapping if vma.vm_file is not None else None
    page = mapping.pages.get(linear_page_index(vma, addr)) if mapping else None
    if page is not None and PageLocked(page):  # another fault is filling it
        out.waiting_for = page
        yield "lock_page"  # lock_page_or_retry would sleep until it is unlocked
        out.waiting_for = None


def _count(out: _Outcome, major: int) -> None:
    """One fault more for the thread: major or minor."""
    if major:
        out.majflt += 1
    else:
        out.minflt += 1


def _counted(mm: MM, out: _Outcome, call: Callable[[], int]) -> int:
    """Run ``call`` and add the faults it counted on the mm to the thread's own counts."""
    before = (mm.min_flt, mm.maj_flt)
    ret = call()
    out.minflt += mm.min_flt - before[0]
    out.majflt += mm.maj_flt - before[1]
    return ret


def _vma_lock_try(world: _World, spec: Fault, out: _Outcome, addr: int,
                  flags: int) -> Generator[str, None, int | None]:
    """v6.4 on: ``lock_vma_under_rcu``, then ``handle_mm_fault`` under the VMA lock.

    ``lock_vma_under_rcu`` runs in the ``"fault"`` step itself; ``handle_mm_fault`` is a step
    of its own, the VMA read-locked in between. Returns the fault's
    ``VM_FAULT_*`` code when it finished there (success, an error or
    NOPAGE), None when it must go on under ``mmap_sem`` (no VMA lock, or ``VM_FAULT_RETRY``:
    ``out.vma_lock_major`` then says whether the try was a major one).
    """
    mm = world.mm
    vma = lock_vma_under_rcu(mm, addr)  # in the "fault" step: nothing shared happens between
    if vma is None:
        out.vma_lock = "no VMA lock → mmap_lock"
        out.events.append("lock_vma_under_rcu: NULL")
        return None
    out.vma_locked, out.vma_seen = vma, _vma_fields(vma)
    out.events.append("lock_vma_under_rcu")
    yield from _wait_for_page(vma, addr, out)
    yield "handle_mm_fault"  # a step while the VMA is read-locked: writers wait, or change it
    if _vma_fields(vma) != out.vma_seen:
        out.broken.append(
            f"the VMA {_span(world, vma)} changed while this thread held its VMA lock (a change "
            "made without vma_start_write): the fault works on a VMA under change")
    ret = _counted(mm, out, lambda: handle_mm_fault(vma, addr, flags | FAULT_FLAG_VMA_LOCK))
    out.events.append(f"handle_mm_fault VMA_LOCK {vm_fault_names(ret) or 0}")
    if not ret & (VM_FAULT_RETRY | VM_FAULT_COMPLETED):
        vma_end_read(vma)
    out.vma_locked, out.vma_seen = None, ()
    if not ret & VM_FAULT_RETRY:
        out.vma_lock = "under VMA lock"
        if ret & VM_FAULT_ERROR:
            out.result = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
        return ret
    out.retries += 1
    out.vma_lock = "VMA lock RETRY → mmap_lock"
    out.vma_lock_major = bool(ret & VM_FAULT_MAJOR)
    return None


def _span(world: _World, vma: Vma) -> str:
    """A VMA's pages relative to the cramfs mapping ("at pages 3-4"), or to the anonymous
    region ("anon pages 0-3")."""
    if world.anon and world.anon <= vma.vm_start < world.anon + ANON_PAGES * PAGE_SIZE:
        base, where = world.anon, "anon pages"
    else:
        base, where = world.base, "at pages"
    first = (vma.vm_start - base) // PAGE_SIZE
    last = (vma.vm_end - base) // PAGE_SIZE - 1
    return f"{where} {first}-{last}"


def _syscall_program(world: _World, spec: Munmap | Mprotect | Remap | Mremap, index: int,
                     out: _Outcome) -> Generator[str, None, None]:
    """A system call that takes ``mmap_sem`` for writing, runs, and releases it: one step.

    From v6.4: two, ``"mmap_write_lock"`` (the lock taken) and ``"syscall"`` (the work, once no
    fault holds a VMA lock it needs, and the release).
    """
    mm = world.mm
    if mm.mmap_sem.per_vma_locks:
        yield "mmap_write_lock"
        mm.mmap_sem.down_write()
        yield "syscall"
        mm.mmap_sem.up_write()  # the call below takes it again itself, in the same step
    else:
        yield "syscall"
    try:
        if isinstance(spec, Munmap):
            mm.munmap(world.base + spec.page * PAGE_SIZE, spec.pages * PAGE_SIZE)
        elif isinstance(spec, Mprotect):
            mm.mprotect(world.base + spec.page * PAGE_SIZE, spec.pages * PAGE_SIZE, spec.prot)
        elif isinstance(spec, Mremap):
            file, addr, pages = world.others[index]
            mm.mremap(addr, pages * PAGE_SIZE, pages * PAGE_SIZE,
                      MREMAP_MAYMOVE | MREMAP_FIXED, world.base + spec.page * PAGE_SIZE)
            world.moved.append((spec.page, spec.page + pages, file, 0))
        else:
            sc = world.scenario
            mm.mmap(world.base, sc.length, sc.prot, sc.flags | MAP_FIXED, world.file, sc.offset)
    except OSError as err:
        out.result = f"-{errno.errorcode.get(err.errno or 0, err.errno)}"
    out.events.append(spec.label)


# --- running and exploring ------------------------------------------------------------------
@dataclass
class Run:
    """One interleaving: the order the steps ran in, and how it ended.

    ``schedule`` lists ``(thread index, step label)`` in order; ``outcomes`` one summary per
    thread; ``broken`` what went wrong that a kernel would not survive or not notice;
    ``vmas`` the mapping's ``(start page, end page, vm_pgoff)`` triples at the end;
    ``faults`` the (minor, major) fault counts of each thread; ``broken_at``, one entry per
    ``broken``: the index in ``schedule`` of the step during which it went wrong, or ``None``
    for what the checks after the last step found (a lock left held, a broken invariant, wrong
    bytes). A thread that oopses stops at that step, as a
    kernel thread does; the others go on as far as the lock lets them.

    Model helper: no kernel counterpart.
    """

    schedule: list[tuple[int, str]]
    outcomes: tuple[str, ...]
    broken: tuple[str, ...]
    vmas: tuple[tuple[int, int, int], ...]
    broken_at: tuple[int | None, ...] = ()
    #: (minor, major) faults each thread counted (a fault thread; 0, 0 for the others).
    faults: tuple[tuple[int, int], ...] = ()

    @property
    def first_broken_step(self) -> int | None:
        """The index of the first step during which something went wrong, if any.

        Model helper: no kernel counterpart.
        """
        steps = [i for i in self.broken_at if i is not None]
        return min(steps) if steps else None

    @property
    def key(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """What makes two runs the same outcome class.

        Model helper: no kernel counterpart.
        """
        return self.outcomes, self.broken


@dataclass(frozen=True)
class VmaView:
    """One VMA of the process at a moment of a run, as plain values (not the live VMA).

    ``first`` and ``end`` are pages of the cramfs mapping (``end`` excluded; a VMA elsewhere,
    the anonymous region or the file an mremap moves, has pages outside ``[0, mapping's
    pages)``, negative below it); ``pgoff`` its ``vm_pgoff`` (a PFN for the part
    ``remap_pfn_range`` mapped); ``ops`` its ``vm_ops``: ``"split"`` (the seed's
    ``cramfs_vmasplit_ops``), ``"page-cache"`` (``generic_file_vm_ops``), ``"none"`` (NULL);
    ``file`` the name of its file, ``""`` for an anonymous VMA.

    Model helper: no kernel counterpart (a line of ``/proc/PID/maps``, in pages).
    """

    first: int
    end: int
    pgoff: int
    ops: str
    file: str

    @property
    def pages(self) -> str:
        """"page 3" or "pages 0-4"."""
        return _pages(self.first, self.end - self.first)


@dataclass(frozen=True)
class State:
    """The process between two steps of a run: who holds ``mmap_sem``, and its VMAs.

    ``readers``: the threads holding ``mmap_sem`` for reading (a thread twice if it holds it
    twice); ``writer``: the thread holding it for writing, or None. The rwsem itself counts
    readers without names: a thread's holds are the lock operations its own steps made (a
    thread that releases a hold it does not have, as ``get_user_pages``'s caller after
    ``-EBUSY``, takes away the lowest-numbered other reader's). ``vmas``: every VMA of the
    process, lowest address first.

    Model helper: no kernel counterpart.
    """

    readers: tuple[int, ...] = ()
    writer: int | None = None
    vmas: tuple[VmaView, ...] = ()

    def lock_text(self) -> str:
        """Who holds ``mmap_sem``: "free", "held for writing by thread 0", "held for reading
        by threads 0, 1".

        Model helper: no kernel counterpart.
        """
        if self.writer is not None:
            return f"held for writing by thread {self.writer}"
        if not self.readers:
            return "free"
        many = "threads" if len(self.readers) > 1 else "thread"
        return f"held for reading by {many} " + ", ".join(str(t) for t in self.readers)


@dataclass(frozen=True)
class Step:
    """One step of a run, as :func:`steps_of` records it for a picture.

    ``thread`` ran ``label``; ``pending`` is every thread's next step at that moment (None for a
    thread that has finished), ``enabled`` the threads that could run (a pending thread not in
    it waits: for ``mmap_sem``, a VMA lock or a page); ``mmap_sem`` the lock's state before the
    step ("free", "read x2", "write"); ``vma_locks`` who held which VMA's read lock;
    ``before`` and ``after`` the :class:`State` before and after the step (the lock's holders
    by thread, the VMAs).

    Model helper: no kernel counterpart.
    """

    thread: int
    label: str
    pending: tuple[str | None, ...]
    enabled: tuple[int, ...]
    mmap_sem: str
    vma_locks: tuple[tuple[int, str], ...]
    before: State = State()
    after: State = State()

    def waiting(self) -> tuple[int, ...]:
        """The threads that had a step to run but could not.

        Model helper: no kernel counterpart.
        """
        return tuple(i for i, label in enumerate(self.pending)
                     if label is not None and i not in self.enabled)


@dataclass
class RaceReport:
    """Every interleaving of a race, grouped by outcome.

    ``interleavings``: how many distinct schedules exist; ``classes``: how many ran into each
    outcome class (per-thread summaries, then the problems found); ``examples``: the first
    run of each class, to step through.

    Model helper: no kernel counterpart.
    """

    threads: tuple[ThreadSpec, ...]
    strategy: str
    version: Version = DEFAULT_VERSION
    interleavings: int = 0
    classes: Counter = field(default_factory=Counter)
    examples: dict = field(default_factory=dict)

    @property
    def broken_runs(self) -> int:
        """Interleavings in which something broke.

        Model helper: no kernel counterpart.
        """
        return sum(n for (_, broken), n in self.classes.items() if broken)

    def table(self) -> str:
        """The classes as text: a header naming the strategy and the mm rules the threads ran
        under (``(split-v3, mm of v4.15)``: the kernel whose locking and VMA code the model
        followed, :attr:`version`, not a kernel that carried the split), then per class its
        count, each thread's outcome and what broke.

        Model helper: no kernel counterpart.
        """
        lines = [f"{self.interleavings} interleavings of: "
                 + " | ".join(t.label for t in self.threads)
                 + f" ({self.strategy}, mm of v{self.version[0]}.{self.version[1]})"]
        for (outcomes, broken), n in self.classes.most_common():
            lines.append(f"{n:6}  " + "  |  ".join(outcomes))
            lines.extend(textwrap.fill(f"BROKEN: {b}", _TABLE_WIDTH, initial_indent=" " * 8,
                                       subsequent_indent=" " * 16, break_long_words=False,
                                       break_on_hyphens=False) for b in broken)
        return "\n".join(lines)


def _setup(strategy: str, which: Scenario, image: bytes,
           threads: Sequence[ThreadSpec], version: Version = DEFAULT_VERSION,
           cached: Sequence[int] = (), before: Sequence[Munmap | Mprotect] = ()) -> _World:
    system = System(version=version)
    sb = mount(image, None, strategy, system=system)
    mm = MM(system)
    file = sb.open(which.path)
    base = mm.mmap(0, which.length, which.prot, which.flags, file, which.offset)
    world = _World(mm, sb, file, base, which, file.read(0, file.f_inode.i_size))
    for page in cached:  # read(2) of those pages of the mapping: they are in the page cache
        generic_file_buffered_read(file, which.offset + page * PAGE_SIZE, PAGE_SIZE,
                                   physmem=system.physmem)
    for call in before:  # system calls made before the threads start
        start, length = base + call.page * PAGE_SIZE, call.pages * PAGE_SIZE
        if isinstance(call, Munmap):
            mm.munmap(start, length)
        else:
            mm.mprotect(start, length, call.prot)
    for i, spec in enumerate(threads):
        if isinstance(spec, Mremap):
            other = file if spec.path == which.path else sb.open(spec.path)
            pages = -(-other.f_inode.i_size // PAGE_SIZE)
            addr = mm.mmap(0, pages * PAGE_SIZE, which.prot, which.flags, other, 0)
            world.others[i] = (other, addr, pages)
    if any(isinstance(t, Fault) and t.region == "anon" for t in threads):
        length = ANON_PAGES * PAGE_SIZE
        world.anon = mm.mmap(base - 64 * PAGE_SIZE, length, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS)
        user_write(mm, world.anon, b"\x01")  # page 0 in: the region has its anon_vma
    return world


def _execute(threads: Sequence[ThreadSpec], strategy: str, which: Scenario, image: bytes,
             prefix: Sequence[int], version: Version = DEFAULT_VERSION,
             frames: list[Step] | None = None, cached: Sequence[int] = (),
             before: Sequence[Munmap | Mprotect] = ()) -> tuple[Run, list[list[int]]]:
    world = _setup(strategy, which, image, threads, version, cached, before)
    outs = [_Outcome() for _ in threads]
    programs: list[Generator[str, None, None]] = [
        _fault_program(world, t, o) if isinstance(t, Fault) else _syscall_program(world, t, i, o)
        for i, (t, o) in enumerate(zip(threads, outs, strict=True))
    ]
    pending: list[str | None] = [next(p) for p in programs]
    schedule: list[tuple[int, str]] = []
    choices: list[list[int]] = []
    broken_at: dict[str, int] = {}
    holds = _Holds([0] * len(threads))  # who holds mmap_sem, for the frames only
    while any(label is not None for label in pending):
        enabled = [i for i, label in enumerate(pending)
                   if label is not None and _enabled(label, world, threads[i], i, outs[i])]
        if not enabled:
            for i, label in enumerate(pending):
                if label is not None:
                    outs[i].result = f"deadlock (waiting in {label})"
            break
        depth = len(schedule)
        i = prefix[depth] if depth < len(prefix) else enabled[0]
        if i not in enabled:
            raise KernelBug(f"schedule prefix names thread {i}, which cannot run")
        choices.append(enabled)
        schedule.append((i, pending[i] or ""))
        if frames is not None:
            state = frames[-1].after if frames else _state(world, holds)
            frames.append(Step(i, pending[i] or "", tuple(pending), tuple(enabled),
                               _lock_text(world), _vma_locks(world, outs), state))
        sem_before = (world.mm.mmap_sem.readers, world.mm.mmap_sem.writer)
        seen = len(outs[i].problems())
        try:
            pending[i] = programs[i].send(None)
        except StopIteration:
            pending[i] = None
        except KernelBug as bug:  # the model caught what would be an oops or a BUG()
            outs[i].result = "oops"
            outs[i].broken.append(f"oops: {bug}")
            pending[i] = None
        if frames is not None:
            _hold(holds, i, sem_before, (world.mm.mmap_sem.readers, world.mm.mmap_sem.writer))
            frames[-1] = replace(frames[-1], after=_state(world, holds))
        for j, other in enumerate(outs):  # a VMA changed under another thread's VMA lock
            if j != i and other.vma_locked is not None and (
                    _vma_fields(other.vma_locked) != other.vma_seen):
                other.broken.append(
                    f"thread {j}'s VMA {_span(world, other.vma_locked)} changed while it held "
                    f"the VMA's read lock: thread {i} changed it without vma_start_write")
                other.vma_seen = _vma_fields(other.vma_locked)
                broken_at.setdefault(other.broken[-1], depth)
        for problem in outs[i].problems()[seen:]:
            blamed = outs[i].blame.get(problem, ())
            at = next((j for j in range(depth, -1, -1)
                       if schedule[j][0] == i and schedule[j][1] in blamed), depth)
            broken_at.setdefault(problem, at)
    broken = [b for o in outs for b in o.problems()]
    held = [v for v in world.mm if v.vm_lock.readers]
    if held:
        broken.append(f"a VMA lock left held at the end ({len(held)} VMA): munmap and mprotect "
                      "of it would wait for ever")
    sem = world.mm.mmap_sem
    if sem.is_locked:
        broken.append(f"mmap_sem left held at the end ({sem!r}): no other fault, mmap or munmap "
                      "of this process can take it again")
    problems = check_mm_invariants(world.mm)
    broken += [f"invariant: {p}" for p in problems
               if not (sem.is_locked and p.startswith("mmap_sem still held"))]
    for t, o in zip(threads, outs, strict=True):
        if isinstance(t, Fault) and o.result == "done" and not sem.is_locked \
                and t.region == "mapping":
            broken += _check_data(world, t)
    broken += _check_offsets(world)
    vmas = tuple(((v.vm_start - world.base) // PAGE_SIZE, (v.vm_end - world.base) // PAGE_SIZE,
                  v.vm_pgoff) for v in world.mm)
    found = tuple(dict.fromkeys(broken))
    run = Run(schedule, tuple(o.summary() for o in outs), found, vmas,
              tuple(broken_at.get(b) for b in found), tuple((o.minflt, o.majflt) for o in outs))
    return run, choices


@dataclass
class _Holds:
    """Who holds ``mmap_sem`` during a run: read holds per thread, the writer."""

    reads: list[int]
    writer: int | None = None


def _hold(holds: _Holds, thread: int, before: tuple[int, bool], after: tuple[int, bool]) -> None:
    """Credit ``thread`` with what its step did to ``mmap_sem`` (``before``, ``after``: the
    lock's readers and writer before and after the step)."""
    (readers, writer), (readers_now, writer_now) = before, after
    if writer_now and not writer:
        holds.writer = thread
    elif writer and not writer_now:
        holds.writer = None
    change = readers_now - readers
    if change > 0:
        holds.reads[thread] += change
    for _ in range(-change):  # its own hold first, else another thread's (the rwsem has no names)
        t = thread if holds.reads[thread] else next(
            (j for j, n in enumerate(holds.reads) if n), None)
        if t is not None:
            holds.reads[t] -= 1


def _view(world: _World, vma: Vma) -> VmaView:
    ops = ("split" if vma.vm_ops is CRAMFS_VMASPLIT_OPS else
           "page-cache" if vma.vm_ops is generic_file_vm_ops else
           "none" if vma.vm_ops is None else str(getattr(vma.vm_ops, "label", "other")))
    return VmaView((vma.vm_start - world.base) // PAGE_SIZE,
                   (vma.vm_end - world.base) // PAGE_SIZE, vma.vm_pgoff, ops,
                   _name(vma.vm_file) if vma.vm_file is not None else "")


def _state(world: _World, holds: _Holds) -> State:
    readers = tuple(t for t, n in enumerate(holds.reads) for _ in range(n))
    return State(readers, holds.writer, tuple(_view(world, v) for v in world.mm))


def _lock_text(world: _World) -> str:
    sem = world.mm.mmap_sem
    return "write" if sem.writer else f"read x{sem.readers}" if sem.readers else "free"


def _vma_locks(world: _World, outs: Sequence[_Outcome]) -> tuple[tuple[int, str], ...]:
    """(thread, the VMA whose read lock it holds) for each thread holding one."""
    return tuple((i, _span(world, o.vma_locked)) for i, o in enumerate(outs)
                 if o.vma_locked is not None)


def run_schedule(threads: Sequence[ThreadSpec], strategy: str, which: Scenario | str,
                 image: bytes | None, schedule: Sequence[int], *,
                 version: Version = DEFAULT_VERSION, cached: Sequence[int] = (),
                 before: Sequence[Munmap | Mprotect] = ()) -> tuple[Run, list[list[int]]]:
    """Run one interleaving: the threads named by ``schedule`` (thread indices, in order),
    then the lowest-numbered thread that can run, to the end.

    Returns the :class:`Run` and, for each step taken, the threads that could have run there.
    A schedule that names a thread which cannot run at that point (it waits for the lock, or
    has finished) raises :class:`~mmlab.errors.KernelBug`. This is what :func:`explore` does
    for each prefix it tries; a lab or a widget can replay a learner's schedule with it.

    Model helper: no kernel counterpart (the kernel's scheduler).
    """
    sc = scenario(which) if isinstance(which, str) else which
    return _execute(threads, strategy, sc, image if image is not None else scenario_image(),
                    schedule, version, cached=cached, before=before)


def steps_of(threads: Sequence[ThreadSpec], strategy: str, schedule: Sequence[int], *,
             which: Scenario | str = "libc-past-xip", version: Version = DEFAULT_VERSION,
             image: bytes | None = None, cached: Sequence[int] = (),
             before: Sequence[Munmap | Mprotect] = ()) -> tuple[Run, list[Step]]:
    """:func:`run_schedule`, with each step's :class:`Step` (who ran, who waited, the locks).

    Model helper: no kernel counterpart.
    """
    sc = scenario(which) if isinstance(which, str) else which
    frames: list[Step] = []
    run, _ = _execute(threads, strategy, sc, image if image is not None else scenario_image(),
                      schedule, version, frames, cached, before)
    return run, frames


def fair_schedule(threads: Sequence[ThreadSpec], strategy: str, *,
                  which: Scenario | str = "libc-past-xip", version: Version = DEFAULT_VERSION,
                  image: bytes | None = None, limit: int = 200,
                  cached: Sequence[int] = (), before: Sequence[Munmap | Mprotect] = (),
                  first: tuple[int, str] | None = None) -> list[int]:
    """A round-robin schedule: at each step the thread that can run and ran least recently.

    The order a fair scheduler on as many CPUs as threads would give: every thread moves as
    soon as the locks let it, so who waits for whom shows. ``first=(thread, label)`` runs that
    thread alone until its next step is ``label`` (say, until the split handler holds
    ``mmap_sem`` for writing), then goes round. ``limit`` caps the steps.

    Model helper: no kernel counterpart (the kernel's scheduler).
    """
    sc = scenario(which) if isinstance(which, str) else which
    img = image if image is not None else scenario_image()
    schedule: list[int] = []
    last_ran = {i: -1 for i in range(len(threads))}
    alone = first
    while len(schedule) < limit:
        run, choices = _execute(threads, strategy, sc, img, schedule, version, cached=cached,
                                before=before)
        if len(choices) <= len(schedule):
            return schedule
        if alone is not None and (alone[0] not in choices[len(schedule)] or (
                schedule and run.schedule[len(schedule) - 1][0] == alone[0]
                and _next_label(run, alone[0], len(schedule)) == alone[1])):
            alone = None
        pick = alone[0] if alone is not None else min(choices[len(schedule)],
                                                       key=lambda i: (last_ran[i], i))
        last_ran[pick] = len(schedule)
        schedule.append(pick)
    raise ValueError(f"more than {limit} steps")


def _check_data(world: _World, spec: Fault) -> list[str]:
    """The page a finished fault made present must show the file's bytes: those of the
    mapping's file, or of the file an mremap moved there."""
    addr = world.base + spec.page * PAGE_SIZE
    if world.mm.find_vma(addr) is None or world.mm.find_vma(addr).vm_start > addr:
        return []
    try:
        got = user_read(world.mm, addr, PAGE_SIZE)
    except SignalDelivered as sig:
        return [f"page {spec.page} reads as {sig.signal} after the fault succeeded"]
    expected = world.expected(spec.page)
    if expected is None:
        return []
    file, file_page = expected
    want = file.read(file_page * PAGE_SIZE, PAGE_SIZE)
    if got[:len(want)] != want:
        return [f"page {spec.page} shows the wrong bytes after the fault (not those of page "
                f"{file_page} of {_name(file)}, which the program mapped there)"]
    return []


def _name(file: File) -> str:
    return file.f_path.rsplit("/", 1)[-1]


def _check_offsets(world: _World) -> list[str]:
    """Each page-cache VMA of the mapping must read the file the program mapped there, from
    the file page the program mapped there (its ``vm_pgoff``, the offset /proc/PID/maps
    shows, is what ``filemap_fault`` reads)."""
    problems = []
    for vma in world.mm:
        if vma.vm_ops is not generic_file_vm_ops or vma.vm_file is None:
            continue
        page = (vma.vm_start - world.base) // PAGE_SIZE
        expected = world.expected(page)
        if expected is None:
            continue
        file, file_page = expected
        if vma.vm_file is not file or vma.vm_pgoff != file_page:
            end = (vma.vm_end - world.base) // PAGE_SIZE
            problems.append(
                f"the page-cache VMA at pages {page}-{end - 1} reads {_name(vma.vm_file)} from "
                f"its page {vma.vm_pgoff}, but the program mapped page {file_page} of "
                f"{_name(file)} there: /proc/PID/maps shows that offset and faults read the "
                "wrong file pages")
    return problems


def _next_label(run: Run, thread: int, depth: int) -> str | None:
    """The label of ``thread``'s first step at or after ``depth`` in ``run``."""
    return next((label for i, label in run.schedule[depth:] if i == thread), None)


def explore(threads: Sequence[ThreadSpec], strategy: str = "split", *,
            which: Scenario | str = "libc-past-xip", image: bytes | None = None,
            limit: int = 50_000, version: Version = DEFAULT_VERSION,
            cached: Sequence[int] = (), before: Sequence[Munmap | Mprotect] = ()) -> RaceReport:
    """Run every interleaving of ``threads`` on a fresh mapping of ``which`` and group them.

    The mapping is the scenario's (by default ``libc-past-xip``: pages 0-2 on flash, 3-4
    not), mounted under ``strategy``. Schedules are enumerated depth first: each run follows a
    prefix of choices and then takes the lowest-numbered thread that can run; every other
    thread that could have run at a later point starts a new prefix. ``limit`` stops a race
    that has more interleavings than that (``ValueError``). ``version`` is the kernel whose
    rules the threads follow (see the module's docstring); ``cached`` lists pages of the mapping
    that a read(2) put in the page cache before the threads start, ``before`` system calls made
    then (a :class:`Munmap` or :class:`Mprotect`, in the mapping's pages).

    Model helper: no kernel counterpart (the kernel's scheduler).
    """
    sc = scenario(which) if isinstance(which, str) else which
    img = image if image is not None else scenario_image()
    report = RaceReport(tuple(threads), strategy, (version[0], version[1]))
    stack: list[tuple[int, ...]] = [()]
    while stack:
        prefix = stack.pop()
        run, choices = _execute(threads, strategy, sc, img, prefix, version, cached=cached,
                                before=before)
        report.interleavings += 1
        if report.interleavings > limit:
            raise ValueError(f"more than {limit} interleavings")
        report.classes[run.key] += 1
        report.examples.setdefault(run.key, run)
        taken = [i for i, _ in run.schedule]
        for depth in range(len(prefix), len(taken)):
            for alt in choices[depth]:
                if alt != taken[depth]:
                    stack.append((*taken[:depth], alt))
    return report


#: Named races: the two-thread race of the mail, and the review's objections made concrete.
RACES: Mapping[str, tuple[ThreadSpec, ...]] = MappingProxyType({
    "two faults": (Fault(3), Fault(4)),
    "same page": (Fault(3), Fault(3)),
    "munmap in the window": (Fault(3), Munmap(0, 5)),
    "mprotect in the window": (Fault(4), Mprotect(3, 2, PROT_READ)),
    "remap in the window": (Fault(4), Remap()),
    # Al Viro's schedule (review of v2, 2017-08-28): another cramfs file's split VMA moved over
    # ours, whose page 3 then holds ld-tail's page 1, moved with its PTE (page 3, not 4, so that
    # v3's refault after NOPAGE needs no fault of its own); then libc itself, mapped again from
    # the same open file and moved there: both re-checks pass.
    "mremap in the window": (Fault(3), Mremap("/lib/ld-tail.so", 2)),
    "mremap of the same file": (Fault(3), Mremap("/lib/libc.so.6", 0)),
    "fatal signal": (Fault(3, killed=True), Fault(4)),
    "get_user_pages": (Fault(3, allow_retry=False, killed=True), Fault(4)),
})


def race(name: str, strategy: str = "split", *, version: Version = DEFAULT_VERSION,
         cached: Sequence[int] = ()) -> RaceReport:
    """:func:`explore` one of :data:`RACES` by name, on the rules of ``version``.

    Model helper: no kernel counterpart.
    """
    try:
        threads = RACES[name]
    except KeyError:
        raise KeyError(f"no race {name!r}; there are: {', '.join(RACES)}") from None
    return explore(threads, strategy, version=version, cached=cached)

