"""Lab 03: a split point gone stale without a race, a race of one's own, v3's re-check.

The seed's ``cramfs_vmasplit_fault`` keeps its split point as a page count from ``vm_start``,
drops ``mmap_sem``, takes it again for writing, and trusts that the VMA it finds is the one it
left. The lab has three parts:

* :func:`unmap_first_page`: no race at all: a program unmaps the first page of a partly mapped
  libc, then reads the rest; which file page each read shows, under the seed and under v3.
* :func:`check_own_race`: the learner designs a race of their own (two threads: a fault, and a
  ``munmap`` or ``mprotect`` that is not one of :data:`mmlab.race.RACES`) and a schedule that
  runs the system call in the handler's window; it passes when the seed breaks and v3 does
  not. A schedule is a list of thread indices (which thread runs its next step); one that stops
  early goes on lowest index first, as :func:`mmlab.race.explore` does.
* :func:`check_recheck`: the learner writes v3's re-check of the VMA found under the write lock.

Replaying runs one interleaving the way :func:`mmlab.race.explore` runs each of its own: on a
fresh machine, the given order first, then the lowest runnable index.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mmlab.constants import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ
from mmlab.errors import KernelBug, SignalDelivered
from mmlab.fs_types import File
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.pagetable import pte_present
from mmlab.race import RACES, Fault, Mprotect, Munmap, Run, ThreadSpec, run_schedule
from mmlab.scenarios import Scenario, scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read
from mmlab.viz.quiz import CheckResult, wrap_output
from mmlab.xip import CRAMFS_VMASPLIT_OPS, mount

__all__ = ["WINDOW_EVENTS", "OwnRaceCheck", "Replay", "WindowState", "as_file_page",
           "check_own_race", "check_recheck", "replay", "unmap_first_page", "v3_still_ours",
           "window_states"]


@dataclass(frozen=True)
class Replay:
    """One schedule replayed: the run it picked, or why it could not run.

    ``problem`` is set when the schedule names a thread that cannot run at some step (it
    waits for the lock, or has finished); ``run`` is the interleaving otherwise.

    Model helper: no kernel counterpart.
    """

    race: str | tuple[ThreadSpec, ...]
    strategy: str
    schedule: tuple[int, ...]
    run: Run | None
    problem: str | None = None

    @property
    def threads(self) -> tuple[ThreadSpec, ...]:
        """The threads replayed (a named race's, or the ones given)."""
        return tuple(RACES[self.race]) if isinstance(self.race, str) else self.race

    @property
    def broken(self) -> tuple[str, ...]:
        """What broke in the replayed run (empty if nothing did, or it could not run)."""
        return self.run.broken if self.run is not None else ()

    def __str__(self) -> str:
        threads = self.threads
        name = self.race if isinstance(self.race, str) else "your race"
        head = (f"{name} ({self.strategy}): "
                + ", ".join(f"thread {i} = {t.label}" for i, t in enumerate(threads)))
        if self.run is None:
            return f"{head}\n  schedule {list(self.schedule)}: {self.problem}"
        lines = [head]
        for n, (i, label) in enumerate(self.run.schedule):
            mark = "" if n < len(self.schedule) else "   (default order)"
            lines.append(f"  {n + 1:2}. thread {i}: {label}{mark}")
            lines += [f"      BROKEN here: {b}" for b, at in
                      zip(self.run.broken, self.run.broken_at, strict=True) if at == n]
        lines.append("  outcomes: " + "  |  ".join(self.run.outcomes))
        if self.broken:
            lines += [f"  BROKEN after the last step: {b}" for b, at in
                      zip(self.run.broken, self.run.broken_at, strict=True) if at is None]
        else:
            lines.append("  nothing broke")
        if any("OOM" in text for text in (*self.run.outcomes, *self.broken)):
            lines.append("  OOM: split_vma failed, the fault returned VM_FAULT_OOM (OOM in the "
                         "glossary)")
        return "\n".join(lines)


def replay(race: str | Sequence[ThreadSpec], schedule: Sequence[int],
           strategy: str = "split") -> Replay:
    """Replay ``schedule`` (thread indices, in order) of the race called ``race``, or of the
    threads ``race`` lists.

    Model helper: no kernel counterpart.
    """
    threads = RACES[race] if isinstance(race, str) else tuple(race)
    key: str | tuple[ThreadSpec, ...] = race if isinstance(race, str) else threads
    want = tuple(schedule)
    image = scenario_image()
    which = scenario("libc-past-xip")
    try:
        run, _ = run_schedule(threads, strategy, which, image, want)
    except KernelBug:
        run = None
    if run is not None and len(want) <= len(run.schedule):
        return Replay(key, strategy, want, run)
    if run is not None:
        return Replay(key, strategy, want, None,
                      f"the threads have finished after {len(run.schedule)} steps; the "
                      f"schedule has {len(want)}")
    depth = max(d for d in range(len(want)) if _runs(threads, strategy, which, image, want[:d]))
    _, choices = run_schedule(threads, strategy, which, image, want[:depth])
    possible = choices[depth] if depth < len(choices) else []
    why = (f"only thread {possible[0]} can run there (the other waits for mmap_sem or has "
           "finished)" if len(possible) == 1 else "that is not a thread of this race")
    return Replay(key, strategy, want, None,
                  f"step {depth} names thread {want[depth]}, which cannot run: {why}")


def _runs(threads: Sequence[ThreadSpec], strategy: str, which: Scenario, image: bytes,
          prefix: Sequence[int]) -> bool:
    """Can ``prefix`` be run at all?"""
    try:
        run_schedule(threads, strategy, which, image, prefix)
    except KernelBug:
        return False
    return True


# --- part 1: no race at all -------------------------------------------------------------------
def unmap_first_page(strategy: str = "split", pages: Sequence[int] = (4,)) -> list[str]:
    """Map libc as the chapter does (``libc-past-xip``), ``munmap`` its page 0, then read each of
    ``pages`` (page numbers of the original mapping) in turn: one line per read, saying which
    page of the file it shows ("file page 3"), or "zeros", or the signal.

    One thread, no lock dropped while anything else runs: what goes stale is the split point
    kept as a page count from ``vm_start``, which the ``munmap`` moved.

    Model helper: no kernel counterpart (a program's ``munmap`` and reads).
    """
    which = scenario("libc-past-xip")
    sb = mount(scenario_image(), None, strategy, system=System())
    mm = MM(sb.system)
    file = sb.open(which.path)
    base = mm.mmap(0, which.length, which.prot, which.flags, file, which.offset)
    data = file.read(0, file.f_inode.i_size)
    file_pages = [data[i:i + PAGE_SIZE].ljust(PAGE_SIZE, b"\0")
                  for i in range(0, len(data), PAGE_SIZE)]
    mm.munmap(base, PAGE_SIZE)
    lines = []
    for page in pages:
        try:
            got = user_read(mm, base + page * PAGE_SIZE, PAGE_SIZE)
        except SignalDelivered as sig:
            lines.append(f"page {page}: {sig.signal}")
            continue
        if got in file_pages:
            shown = f"file page {file_pages.index(got)}"
        else:
            shown = "zeros" if not any(got) else "bytes of no file page"
        lines.append(f"page {page}: {shown}")
    return lines


def as_file_page(guess: object) -> object:
    """A guess of a file page written as the lines of :func:`unmap_first_page` name it
    (``"file page 3"``, ``"page 3"``) read as its number; anything else comes back as it is.

    Model helper: no kernel counterpart.
    """
    if isinstance(guess, str):
        match = re.fullmatch(r"\s*(?:file\s+)?page\s+(\d+)\s*", guess, re.IGNORECASE)
        if match:
            return int(match.group(1))
    return guess


# --- part 2: a race of your own -----------------------------------------------------------------
@dataclass(frozen=True)
class OwnRaceCheck:
    """The check of a race designed by the learner: the replays under the seed and v3, and
    what is wrong with the design, if anything.

    Model helper: no kernel counterpart.
    """

    seed: Replay | None
    v3: Replay | None
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """A race of one's own, run in the window, that breaks the seed and not v3."""
        return not self.problems

    def __str__(self) -> str:
        if self.ok:
            head = "Well done: the seed breaks, v3 does not, and the chapter did not show it."
        else:
            head = "Not yet:\n" + "\n".join(f"  - {p}" for p in self.problems)
        return wrap_output("\n\n".join([head] + [str(r) for r in (self.seed, self.v3)
                                                if r is not None]))


def _in_window(run: Run) -> bool:
    """Does thread 1's system call run after the handler's ``up_read`` and before its
    ``down_write_killable`` (thread 0's steps just before and just after it)?"""
    steps = run.schedule
    call = next((n for n, (i, label) in enumerate(steps) if i == 1 and label == "syscall"),
                None)
    if call is None:
        return False
    before = [label for i, label in steps[:call] if i == 0]
    after = [label for i, label in steps[call + 1:] if i == 0]
    return bool(before and after) and before[-1] == "up_read" and \
        after[0] == "down_write_killable"


def _mapping_pages() -> tuple[int, tuple[int, ...]]:
    """The lab's mapping (``libc-past-xip`` under the seed): how many pages it has, and which
    of them ``mmap`` already mapped from flash (their PTEs are present before any fault)."""
    which = scenario("libc-past-xip")
    sb = mount(scenario_image(), None, "split", system=System())
    mm = MM(sb.system)
    base = mm.mmap(0, which.length, which.prot, which.flags, sb.open(which.path), which.offset)
    pages = which.length // PAGE_SIZE
    return pages, tuple(p for p in range(pages)
                        if pte_present(mm.pgd.walk(base + p * PAGE_SIZE)))


def check_own_race(threads: Sequence[ThreadSpec], schedule: Sequence[int]) -> OwnRaceCheck:
    """Check a race the learner designed: thread 0 a :class:`~mmlab.race.Fault`, thread 1 a
    :class:`~mmlab.race.Munmap` or :class:`~mmlab.race.Mprotect` that none of the chapter's
    races (:data:`mmlab.race.RACES`) runs, and a schedule that runs the system call in the handler's
    window (between its ``up_read`` and its ``down_write_killable``) and breaks the seed's
    handler but not v3's. A fault on a page outside the mapping, or on one mapped from flash
    since the ``mmap``, is named as such: no handler runs there, so there is no window. A call
    on pages outside the mapping (or on no page at all) is refused before anything runs.

    Model helper: no kernel counterpart.
    """
    threads = tuple(threads or ())
    problems: list[str] = []
    if len(threads) != 2 or not isinstance(threads[0], Fault) \
            or not isinstance(threads[1], Munmap | Mprotect):
        problems.append("my_race must be two threads: a Fault(page), then a Munmap(page, pages) "
                        "or an Mprotect(page, pages)")
        return OwnRaceCheck(None, None, tuple(problems))
    fault = threads[0]
    if fault.region == "mapping":
        pages, flash = _mapping_pages()
        if not 0 <= fault.page < pages:
            problems.append(f"Fault({fault.page}): page {fault.page} is outside the mapping "
                            f"(pages 0 to {pages - 1}): no VMA covers it, the thread gets "
                            "SIGSEGV and no handler runs, so there is no window")
            return OwnRaceCheck(None, None, tuple(problems))
        if fault.page in flash:
            problems.append(f"Fault({fault.page}): page {fault.page} is mapped from flash "
                            f"since the mmap (pages {flash[0]} to {flash[-1]}): reading it does "
                            "not fault, so the split handler never runs; fault on a page it "
                            "serves")
            return OwnRaceCheck(None, None, tuple(problems))
    call = threads[1]
    pages, _ = _mapping_pages()
    if not 0 <= call.page < pages or call.pages < 1 or call.page + call.pages > pages:
        name = type(call).__name__
        problems.append(f"{name}({call.page}, {call.pages}): thread 1's call must name pages "
                        f"of the mapping: a first page from 0 to {pages - 1}, and 1 page or "
                        f"more, none past page {pages - 1}")
        return OwnRaceCheck(None, None, tuple(problems))
    taken = next((name for name, race in RACES.items() if threads[1] in race), None)
    if taken is not None:
        problems.append(f"the chapter's race {taken!r} already puts {threads[1].label} in the "
                        "window: find another call")
    seed = replay(threads, schedule, "split")
    v3 = replay(threads, schedule, "split-v3")
    if seed.run is None:
        problems.append(f"the schedule cannot run: {seed.problem}")
        return OwnRaceCheck(seed, None, tuple(problems))
    if not _in_window(seed.run):
        problems.append("thread 1's call does not run in the handler's window: it must come "
                        "right after thread 0's up_read in the handler, before its "
                        "down_write_killable")
    if not seed.broken:
        problems.append("nothing breaks under the seed")
    if v3.run is None:
        problems.append(f"under v3 the schedule cannot run: {v3.problem}")
    elif v3.broken:
        problems.append("v3 breaks too: find one that v3's fixes close")
    return OwnRaceCheck(seed, v3, tuple(problems))


# --- part 3: the re-check -------------------------------------------------------------------
#: What another thread does in the handler's window, as the lab names it.
WINDOW_EVENTS = (
    "nothing",
    "munmap of the whole mapping",
    "munmap of pages 3-4 (the part not on flash)",
    "munmap of page 3 alone (the faulting page)",
    "munmap of pages 0-2 (the part on flash)",
    "mprotect of pages 3-4",
    "another thread's fault on page 4 split the VMA first",
    "mmap MAP_FIXED of another cramfs file (lib/gappy.so) over pages 0-3",
    "mmap MAP_FIXED of anonymous memory over pages 0-4",
    "mmap MAP_FIXED of the same file again",
)


@dataclass(frozen=True)
class WindowState:
    """What the handler sees after ``down_write_killable``: the VMA ``find_vma`` returns now.

    ``vma`` is ``find_vma(mm, address)`` after ``event`` ran in the window (``None`` when no VMA
    ends above the address); ``file`` is the file the fault started on.

    Model helper: no kernel counterpart.
    """

    event: str
    mm: MM
    vma: Vma | None
    address: int
    file: File


def window_states(strategy: str = "split") -> list[WindowState]:
    """Each event of :data:`WINDOW_EVENTS`, run on a fresh ``libc-past-xip`` mapping.

    The fault is on page 3 (the first page the split handler serves); the other thread's call
    runs whole, as it can between the handler's ``up_read`` and ``down_write_killable``.

    Model helper: no kernel counterpart.
    """
    which = scenario("libc-past-xip")
    out: list[WindowState] = []
    for event in WINDOW_EVENTS:
        sb = mount(scenario_image(), None, strategy, system=System())
        mm = MM(sb.system)
        file = sb.open(which.path)
        base = mm.mmap(0, which.length, which.prot, which.flags, file, which.offset)
        address = base + 3 * PAGE_SIZE
        if event.startswith("munmap of the whole"):
            mm.munmap(base, 5 * PAGE_SIZE)
        elif event.startswith("munmap of pages 3-4"):
            mm.munmap(base + 3 * PAGE_SIZE, 2 * PAGE_SIZE)
        elif event.startswith("munmap of page 3 alone"):
            mm.munmap(base + 3 * PAGE_SIZE, PAGE_SIZE)
        elif event.startswith("munmap of pages 0-2"):
            mm.munmap(base, 3 * PAGE_SIZE)
        elif event.startswith("mprotect"):
            mm.mprotect(base + 3 * PAGE_SIZE, 2 * PAGE_SIZE, PROT_READ)
        elif event.startswith("another thread"):
            user_read(mm, base + 4 * PAGE_SIZE, 1)
        elif "gappy" in event:
            mm.mmap(base, 4 * PAGE_SIZE, which.prot, MAP_PRIVATE | MAP_FIXED,
                    sb.open("/lib/gappy.so"), 0)
        elif "anonymous" in event:
            mm.mmap(base, 5 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        elif "same file" in event:
            mm.mmap(base, which.length, which.prot, which.flags | MAP_FIXED, file, which.offset)
        out.append(WindowState(event, mm, mm.find_vma(address), address, file))
    return out


def v3_still_ours(vma: Vma | None, address: int, file: File) -> bool:
    """v3's re-check: a VMA that covers the address, still has the split ops, maps ``file``.

    The same test as the ``"split-v3"`` branch of :func:`mmlab.xip.vmasplit_fault_steps`.

    Patch: ``cramfs_vmasplit_fault`` in the v3 posting, as quoted in the review (LKML,
    2017-08-31), never merged.
    """
    return (vma is not None and vma.vm_start <= address
            and vma.vm_ops is CRAMFS_VMASPLIT_OPS and vma.vm_file is file)


def check_recheck(fn: Callable[[Vma | None, int, File], bool]) -> CheckResult:
    """Check a learner's ``still_ours(vma, address, file)`` on every state of the window.

    Each case is one :data:`WINDOW_EVENTS` entry; the answer is :func:`v3_still_ours`'s. The
    report names the first event that went wrong, the call (the VMA ``find_vma`` gave, the
    address in hex, the fault's file by its path), what came back and what was expected.

    Model helper: no kernel counterpart.
    """
    states = window_states()
    passed = 0
    first: str | None = None
    for st in states:
        call = (f"still_ours(vma={st.vma!r}, address={st.address:#x}, "
                f"file=File({st.file.f_path!r}))")
        expected = v3_still_ours(st.vma, st.address, st.file)
        try:
            got = fn(st.vma, st.address, st.file)
        except NotImplementedError:
            return CheckResult(0, len(states), None, not_done=True)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            first = first or (f"after '{st.event}': {call} raised {type(exc).__name__}: {exc}; "
                              f"expected {expected}")
            continue
        if bool(got) == expected:
            passed += 1
        elif first is None:
            first = f"after '{st.event}': {call} returned {got!r}; expected {expected}"
    return CheckResult(passed, len(states), first)
