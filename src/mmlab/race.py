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

Model helper: no kernel counterpart (the kernel's threads and scheduler).
"""

from __future__ import annotations

import errno
from collections import Counter
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_USER,
    MAP_FIXED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_MASK,
    PAGE_SIZE,
    PROT_READ,
    VM_FAULT_ERROR,
    VM_FAULT_NOPAGE,
    VM_FAULT_RETRY,
    VM_READ,
    vm_fault_names,
)
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.filemap import generic_file_vm_ops
from mmlab.fs_types import File
from mmlab.memory import check_mm_invariants
from mmlab.memory_fault import finish_fault, handle_mm_fault
from mmlab.mm import MM
from mmlab.mm_types import VmFault, linear_page_index
from mmlab.mmap import find_vma
from mmlab.pagetable import pte_present
from mmlab.physmem import Page, PageLocked, unlock_page
from mmlab.scenarios import Scenario, scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read
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
    "explore",
    "race",
    "run_schedule",
]


# --- what a thread does ---------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """A thread touching page ``page`` of the mapping (a read), as the CPU and the kernel do.

    ``allow_retry=False`` is a ``get_user_pages`` caller without ``nonblocking``: the handler may
    not drop ``mmap_sem``, and a ``VM_FAULT_RETRY`` comes back as ``-EBUSY`` to a caller who then
    releases a lock it no longer holds. ``killed``: a SIGKILL arrives while the thread waits for
    the lock for writing.

    Model helper: no kernel counterpart.
    """

    page: int
    allow_retry: bool = True
    killed: bool = False

    @property
    def label(self) -> str:
        """What the thread does, in a few words."""
        extra = ("" if self.allow_retry else ", gup") + (", killed" if self.killed else "")
        return f"fault page {self.page}{extra}"


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

    def problems(self) -> list[str]:
        """What broke so far, including what the split handler found while it still runs."""
        return self.broken + (self.handler.broken if self.handler is not None else [])

    def summary(self) -> str:
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

    def expected(self, page: int) -> tuple[File, int] | None:
        """The file and file page the program mapped at ``page`` of the mapping (None outside
        it): the scenario's, or what an mremap moved there."""
        for first, end, file, file_page in reversed(self.moved):
            if first <= page < end:
                return file, file_page + page - first
        if 0 <= page < self.scenario.length // PAGE_SIZE:
            return self.file, self.scenario.offset // PAGE_SIZE + page
        return None


def _enabled(label: str, world: _World, spec: ThreadSpec, out: _Outcome) -> bool:
    sem = world.mm.mmap_sem
    if label == "lock_page":
        return out.waiting_for is None or not PageLocked(out.waiting_for)
    if label == "down_read":
        return not sem.writer
    if label == "down_write_killable":
        return (isinstance(spec, Fault) and spec.killed) or not sem.is_locked
    if label == "syscall":
        return not sem.is_locked
    return True


def _fault_program(world: _World, spec: Fault, out: _Outcome) -> Generator[str, None, None]:
    """The x86 fault path (``__do_page_fault``) around the cramfs handler, step by step."""
    mm = world.mm
    sem = mm.mmap_sem
    addr = world.base + spec.page * PAGE_SIZE
    flags = FAULT_FLAG_KILLABLE | FAULT_FLAG_USER
    if spec.allow_retry:
        flags |= FAULT_FLAG_ALLOW_RETRY
    for _attempt in range(4):  # each pass is one hardware fault; NOPAGE makes the CPU refault
        yield "fault"
        if pte_present(mm.pgd.walk(addr)):
            return  # the access succeeds without a fault
        yield "down_read"
        sem.down_read()
        while True:  # retry:
            vma = find_vma(mm, addr)
            if vma is None or vma.vm_start > addr:
                yield "up_read"
                sem.up_read()
                out.result = "SIGSEGV"
                return
            if vma.vm_ops is not CRAMFS_VMASPLIT_OPS or pte_present(mm.pgd.walk(addr)):
                mapping = vma.vm_file.f_mapping if vma.vm_file is not None else None
                page = mapping.pages.get(linear_page_index(vma, addr)) if mapping else None
                if page is not None and PageLocked(page):  # another fault is filling it
                    out.waiting_for = page
                    yield "lock_page"  # lock_page_or_retry would sleep until it is unlocked
                    out.waiting_for = None
                ret = handle_mm_fault(vma, addr, flags)
                out.events.append(f"handle_mm_fault {vm_fault_names(ret) or 0}")
                if ret & VM_FAULT_RETRY:
                    raise KernelBug("a page-cache fault retried: not expected in these races")
                yield "up_read"
                sem.up_read()
                if ret & VM_FAULT_ERROR:
                    out.result = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                    return
                break
            mm.pgd.pmd_alloc(addr)  # __handle_mm_fault: vmf->pmd
            pmd_before = mm.pgd.table_of("pmd", addr)
            vmf = VmFault(vma, flags, linear_page_index(vma, addr), addr & PAGE_MASK)
            rep = SplitFault()
            killed: Callable[[], bool] = lambda: spec.killed and sem.is_locked  # noqa: E731
            out.handler = rep
            ret = yield from vmasplit_fault_steps(vmf, killed, rep)
            out.handler = None
            out.events += rep.events
            out.broken += rep.broken
            out.split |= rep.split
            if not flags & FAULT_FLAG_ALLOW_RETRY and "up_read" in rep.events:
                out.broken.append("the handler dropped mmap_sem although the caller did not "
                                  "allow it (no FAULT_FLAG_ALLOW_RETRY)")
            if ret & VM_FAULT_RETRY:
                if flags & FAULT_FLAG_ALLOW_RETRY:
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
                break
            if ret & VM_FAULT_ERROR:
                now = find_vma(mm, addr)
                if now is not None and now.vm_start <= addr and now.vm_flags & VM_READ:
                    got = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                    if now.vm_file is not vma.vm_file and now.vm_file is not None:
                        out.broken.append(
                            f"a valid read at page {spec.page} got {got}: the handler applied "
                            f"the split point it decoded from {_name(vma.vm_file)}'s VMA before "
                            f"dropping mmap_sem to a VMA of {_name(now.vm_file)} that took its "
                            "place meanwhile (matching ->vm_ops is not enough)")
                    else:
                        out.broken.append(f"a valid read at page {spec.page} got {got}: the "
                                          "split point kept in vm_private_data no longer "
                                          "matches the VMA it was copied into")
                yield "up_read"
                sem.up_read()
                out.result = "+".join(vm_fault_names(ret & VM_FAULT_ERROR))
                return
            yield "finish_fault"
            if mm.pgd.table_of("pmd", addr) is not pmd_before:
                out.broken.append("finish_fault writes through vmf->pmd, computed before "
                                  "mmap_sem was dropped: that page table was freed meanwhile "
                                  "(use after free)")
            finish_fault(vmf)
            if vmf.page is not None:
                unlock_page(vmf.page)
            yield "up_read"
            sem.up_read()
            break
    else:
        out.result = "still faulting after 4 tries"


def _syscall_program(world: _World, spec: Munmap | Mprotect | Remap | Mremap, index: int,
                     out: _Outcome) -> Generator[str, None, None]:
    """A system call that takes ``mmap_sem`` for writing, runs, and releases it: one step."""
    mm = world.mm
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
    ``broken_at``, one entry per ``broken``: the index in ``schedule`` of the step during which
    it went wrong, or ``None`` for what the checks after the last step found (a lock left
    held, a broken invariant, wrong bytes). A thread that oopses stops at that step, as a
    kernel thread does; the others go on as far as the lock lets them.

    Model helper: no kernel counterpart.
    """

    schedule: list[tuple[int, str]]
    outcomes: tuple[str, ...]
    broken: tuple[str, ...]
    vmas: tuple[tuple[int, int, int], ...]
    broken_at: tuple[int | None, ...] = ()

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
        """The classes as text: count, then each thread's outcome, then what broke.

        Model helper: no kernel counterpart.
        """
        lines = [f"{self.interleavings} interleavings of: "
                 + " | ".join(t.label for t in self.threads) + f" ({self.strategy})"]
        for (outcomes, broken), n in self.classes.most_common():
            lines.append(f"{n:6}  " + "  |  ".join(outcomes))
            lines.extend(f"        BROKEN: {b}" for b in broken)
        return "\n".join(lines)


def _setup(strategy: str, which: Scenario, image: bytes,
           threads: Sequence[ThreadSpec]) -> _World:
    system = System()
    sb = mount(image, None, strategy, system=system)
    mm = MM(system)
    file = sb.open(which.path)
    base = mm.mmap(0, which.length, which.prot, which.flags, file, which.offset)
    world = _World(mm, sb, file, base, which, file.read(0, file.f_inode.i_size))
    for i, spec in enumerate(threads):
        if isinstance(spec, Mremap):
            other = file if spec.path == which.path else sb.open(spec.path)
            pages = -(-other.f_inode.i_size // PAGE_SIZE)
            addr = mm.mmap(0, pages * PAGE_SIZE, which.prot, which.flags, other, 0)
            world.others[i] = (other, addr, pages)
    return world


def _execute(threads: Sequence[ThreadSpec], strategy: str, which: Scenario, image: bytes,
             prefix: Sequence[int]) -> tuple[Run, list[list[int]]]:
    world = _setup(strategy, which, image, threads)
    outs = [_Outcome() for _ in threads]
    programs: list[Generator[str, None, None]] = [
        _fault_program(world, t, o) if isinstance(t, Fault) else _syscall_program(world, t, i, o)
        for i, (t, o) in enumerate(zip(threads, outs, strict=True))
    ]
    pending: list[str | None] = [next(p) for p in programs]
    schedule: list[tuple[int, str]] = []
    choices: list[list[int]] = []
    broken_at: dict[str, int] = {}
    while any(label is not None for label in pending):
        enabled = [i for i, label in enumerate(pending)
                   if label is not None and _enabled(label, world, threads[i], outs[i])]
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
        seen = len(outs[i].problems())
        try:
            pending[i] = programs[i].send(None)
        except StopIteration:
            pending[i] = None
        except KernelBug as bug:  # the model caught what would be an oops or a BUG()
            outs[i].result = "oops"
            outs[i].broken.append(f"oops: {bug}")
            pending[i] = None
        for problem in outs[i].problems()[seen:]:
            broken_at.setdefault(problem, depth)
    broken = [b for o in outs for b in o.problems()]
    sem = world.mm.mmap_sem
    if sem.is_locked:
        broken.append(f"mmap_sem left held at the end ({sem!r}): no other fault, mmap or munmap "
                      "of this process can take it again")
    problems = check_mm_invariants(world.mm)
    broken += [f"invariant: {p}" for p in problems
               if not (sem.is_locked and p.startswith("mmap_sem still held"))]
    for t, o in zip(threads, outs, strict=True):
        if isinstance(t, Fault) and o.result == "done" and not sem.is_locked:
            broken += _check_data(world, t)
    broken += _check_offsets(world)
    vmas = tuple(((v.vm_start - world.base) // PAGE_SIZE, (v.vm_end - world.base) // PAGE_SIZE,
                  v.vm_pgoff) for v in world.mm)
    found = tuple(dict.fromkeys(broken))
    run = Run(schedule, tuple(o.summary() for o in outs), found, vmas,
              tuple(broken_at.get(b) for b in found))
    return run, choices


def run_schedule(threads: Sequence[ThreadSpec], strategy: str, which: Scenario | str,
                 image: bytes | None, schedule: Sequence[int]) -> tuple[Run, list[list[int]]]:
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
                    schedule)


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


def explore(threads: Sequence[ThreadSpec], strategy: str = "split", *,
            which: Scenario | str = "libc-past-xip", image: bytes | None = None,
            limit: int = 50_000) -> RaceReport:
    """Run every interleaving of ``threads`` on a fresh mapping of ``which`` and group them.

    The mapping is the scenario's (by default ``libc-past-xip``: pages 0-2 on flash, 3-4
    not), mounted under ``strategy``. Schedules are enumerated depth first: each run follows a
    prefix of choices and then takes the lowest-numbered thread that can run; every other
    thread that could have run at a later point starts a new prefix. ``limit`` stops a race
    that has more interleavings than that (``ValueError``).

    Model helper: no kernel counterpart (the kernel's scheduler).
    """
    sc = scenario(which) if isinstance(which, str) else which
    img = image if image is not None else scenario_image()
    report = RaceReport(tuple(threads), strategy)
    stack: list[tuple[int, ...]] = [()]
    while stack:
        prefix = stack.pop()
        run, choices = _execute(threads, strategy, sc, img, prefix)
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


def race(name: str, strategy: str = "split") -> RaceReport:
    """:func:`explore` one of :data:`RACES` by name.

    Model helper: no kernel counterpart.
    """
    try:
        threads = RACES[name]
    except KeyError:
        raise KeyError(f"no race {name!r}; there are: {', '.join(RACES)}") from None
    return explore(threads, strategy)

