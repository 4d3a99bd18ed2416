"""Lab 03: find a thread schedule that breaks the fault-time split's handler.

The seed's ``cramfs_vmasplit_fault`` drops ``mmap_sem``, takes it again for writing, and then
trusts that the VMA it finds is the one it left. The learner writes a schedule, a list of
thread indices (which thread runs its next step), for the races "munmap in the window" and
"mprotect in the window" of :data:`mmlab.race.RACES`; :func:`check` replays each schedule on the
model under the seed's strategy (``"split"``) and says what broke. A schedule may stop early:
the threads then run lowest index first, as :func:`mmlab.race.explore` does.

Replaying runs one interleaving the way :func:`mmlab.race.explore` runs each of its own: on a
fresh machine, the given order first, then the lowest runnable index.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mmlab.constants import MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PAGE_SIZE, PROT_READ
from mmlab.errors import KernelBug
from mmlab.fs_types import File
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.race import RACES, Run, ThreadSpec, run_schedule
from mmlab.scenarios import Scenario, scenario, scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read
from mmlab.viz.quiz import CheckResult
from mmlab.xip import CRAMFS_VMASPLIT_OPS, mount

__all__ = ["LAB_RACES", "WINDOW_EVENTS", "Replay", "ScheduleCheck", "WindowState", "check",
           "check_recheck", "replay", "steps_of", "v3_still_ours", "window_states"]

#: The races of the lab, in the order the notebook asks for them.
LAB_RACES = ("munmap in the window", "mprotect in the window")


@dataclass(frozen=True)
class Replay:
    """One schedule replayed: the run it picked, or why it could not run.

    ``problem`` is set when the schedule names a thread that cannot run at some step (it
    waits for the lock, or has finished); ``run`` is the interleaving otherwise.

    Model helper: no kernel counterpart.
    """

    race: str
    strategy: str
    schedule: tuple[int, ...]
    run: Run | None
    problem: str | None = None

    @property
    def broken(self) -> tuple[str, ...]:
        """What broke in the replayed run (empty if nothing did, or it could not run)."""
        return self.run.broken if self.run is not None else ()

    def __str__(self) -> str:
        threads = RACES[self.race]
        head = (f"{self.race} ({self.strategy}): thread 0 = {threads[0].label}, "
                f"thread 1 = {threads[1].label}")
        if self.run is None:
            return f"{head}\n  schedule {list(self.schedule)}: {self.problem}"
        lines = [head]
        for n, (i, label) in enumerate(self.run.schedule):
            mark = "" if n < len(self.schedule) else "   (default order)"
            lines.append(f"  {n:2}. thread {i}: {label}{mark}")
        lines.append("  outcomes: " + "  |  ".join(self.run.outcomes))
        if self.broken:
            lines += [f"  BROKEN: {b}" for b in self.broken]
        else:
            lines.append("  nothing broke")
        return "\n".join(lines)


def replay(race: str, schedule: Sequence[int], strategy: str = "split") -> Replay:
    """Replay ``schedule`` (thread indices, in order) of the race called ``race``.

    Model helper: no kernel counterpart.
    """
    threads = RACES[race]
    want = tuple(schedule)
    image = scenario_image()
    which = scenario("libc-past-xip")
    try:
        run, _ = run_schedule(threads, strategy, which, image, want)
    except KernelBug:
        run = None
    if run is not None and len(want) <= len(run.schedule):
        return Replay(race, strategy, want, run)
    if run is not None:
        return Replay(race, strategy, want, None,
                      f"the threads have finished after {len(run.schedule)} steps; the "
                      f"schedule has {len(want)}")
    depth = max(d for d in range(len(want)) if _runs(threads, strategy, which, image, want[:d]))
    _, choices = run_schedule(threads, strategy, which, image, want[:depth])
    possible = choices[depth] if depth < len(choices) else []
    why = (f"only thread {possible[0]} can run there (the other waits for mmap_sem or has "
           "finished)" if len(possible) == 1 else "that is not a thread of this race")
    return Replay(race, strategy, want, None,
                  f"step {depth} names thread {want[depth]}, which cannot run: {why}")


def _runs(threads: Sequence[ThreadSpec], strategy: str, which: Scenario, image: bytes,
          prefix: Sequence[int]) -> bool:
    """Can ``prefix`` be run at all?"""
    try:
        run_schedule(threads, strategy, which, image, prefix)
    except KernelBug:
        return False
    return True


def _all_runs(race: str, strategy: str) -> dict[tuple[int, ...], Run]:
    """Every interleaving of the race by its order of threads (depth first, as ``explore``)."""
    threads = RACES[race]
    image = scenario_image()
    which = scenario("libc-past-xip")
    out: dict[tuple[int, ...], Run] = {}
    stack: list[tuple[int, ...]] = [()]
    while stack:
        prefix = stack.pop()
        run, choices = run_schedule(threads, strategy, which, image, prefix)
        taken = tuple(i for i, _ in run.schedule)
        out[taken] = run
        for depth in range(len(prefix), len(taken)):
            stack += [(*taken[:depth], alt) for alt in choices[depth] if alt != taken[depth]]
    return out


def steps_of(race: str, strategy: str = "split") -> list[str]:
    """Every order of threads the race can run in, with its outcome: the whole search space.

    Model helper: no kernel counterpart.
    """
    runs = _all_runs(race, strategy)
    return [f"{list(order)}: {'BROKEN' if run.broken else 'fine'}"
            for order, run in sorted(runs.items())]


@dataclass(frozen=True)
class ScheduleCheck:
    """The lab's check: one replay per race, passed when it broke something.

    Model helper: no kernel counterpart.
    """

    replays: tuple[Replay, ...]

    @property
    def passed(self) -> int:
        """Schedules that broke the handler."""
        return sum(1 for r in self.replays if r.broken)

    @property
    def ok(self) -> bool:
        """Every schedule broke the handler."""
        return self.passed == len(self.replays)

    def __str__(self) -> str:
        lines = [f"{self.passed}/{len(self.replays)} schedules break the seed's handler."
                 + (" Well done." if self.ok else "")]
        lines += [str(r) for r in self.replays]
        return "\n\n".join(lines)


def check(schedules: Mapping[str, Sequence[int]], strategy: str = "split") -> ScheduleCheck:
    """Replay the learner's schedule for each race of :data:`LAB_RACES`.

    A missing race counts as the empty schedule (the default order, which breaks nothing).

    Model helper: no kernel counterpart.
    """
    return ScheduleCheck(tuple(replay(name, schedules.get(name, ()), strategy)
                               for name in LAB_RACES))


# --- part 2: the re-check -------------------------------------------------------------------
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
    report names the first event that went wrong, what came back and what was expected.

    Model helper: no kernel counterpart.
    """
    states = window_states()
    passed = 0
    first: str | None = None
    for st in states:
        try:
            got = fn(st.vma, st.address, st.file)
        except NotImplementedError:
            return CheckResult(0, len(states), None, not_done=True)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            first = first or (f"after '{st.event}' (find_vma gave {st.vma!r}), still_ours "
                              f"raised {type(exc).__name__}: {exc}; expected "
                              f"{v3_still_ours(st.vma, st.address, st.file)}")
            continue
        expected = v3_still_ours(st.vma, st.address, st.file)
        if bool(got) == expected:
            passed += 1
        elif first is None:
            first = (f"after '{st.event}' (find_vma gave {st.vma!r}), still_ours returned "
                     f"{got!r}; expected {expected}")
    return CheckResult(passed, len(states), first)
