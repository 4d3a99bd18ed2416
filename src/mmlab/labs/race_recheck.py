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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from mmlab.errors import KernelBug
from mmlab.race import RACES, Run, ThreadSpec, _execute
from mmlab.scenarios import Scenario, scenario, scenario_image

__all__ = ["LAB_RACES", "Replay", "ScheduleCheck", "check", "replay", "steps_of"]

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
        run, _ = _execute(threads, strategy, which, image, want)
    except KernelBug:
        run = None
    if run is not None and len(want) <= len(run.schedule):
        return Replay(race, strategy, want, run)
    if run is not None:
        return Replay(race, strategy, want, None,
                      f"the threads have finished after {len(run.schedule)} steps; the "
                      f"schedule has {len(want)}")
    depth = max(d for d in range(len(want)) if _runs(threads, strategy, which, image, want[:d]))
    _, choices = _execute(threads, strategy, which, image, want[:depth])
    possible = choices[depth] if depth < len(choices) else []
    why = (f"only thread {possible[0]} can run there (the other waits for mmap_sem or has "
           "finished)" if len(possible) == 1 else "that is not a thread of this race")
    return Replay(race, strategy, want, None,
                  f"step {depth} names thread {want[depth]}, which cannot run: {why}")


def _runs(threads: Sequence[ThreadSpec], strategy: str, which: Scenario, image: bytes,
          prefix: Sequence[int]) -> bool:
    """Can ``prefix`` be run at all?"""
    try:
        _execute(threads, strategy, which, image, prefix)
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
        run, choices = _execute(threads, strategy, which, image, prefix)
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
