"""What a real kernel printed for the races of :mod:`mmlab.race`.

``data/kernel-captures/split-races.json`` holds the races run on Debian's 6.1 built with the
2017 fault-time split (``tools/kernel-captures/split/``): for each race, strategy and layout,
one boot of two CPUs in which thread A faults (or reads ``/proc/PID/mem``) and sleeps in the
handler's window, widened to 200 ms, while thread B does its step; then what each thread got,
the maps before and after, and the console from the race's start (times removed).
``split-races.explained.json`` next to it is written by hand: for each run that printed
something, the lines worth reading and what each one says, and a one-line verdict.

Two layouts: ``"alone"``, the mapping above every other (the model's process has no other
VMA), and ``"typical"``, where mmap put it in a real process (the stack and the vDSO above).

Each capture ran one schedule: thread A (the model's thread 0) enters the handler's window and
thread B (thread 1) does its whole step there. :func:`window_run` replays that schedule on the
model, so the race explorer shows a capture only under the outcome class it belongs to.

Model helper: no kernel counterpart (the captures are files; this module reads them).
"""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from mmlab.errors import KernelBug
from mmlab.race import RACES, Run, race, run_schedule
from mmlab.viz.base import course_data

__all__ = [
    "LAYOUTS",
    "KernelLine",
    "KernelRun",
    "VerdictRow",
    "format_kernel_run",
    "format_verdicts",
    "kernel_runs",
    "kernel_says",
    "load_kernel_races",
    "verdict_rows",
    "window_run",
]

#: The layouts of the captured races, the model's world first.
LAYOUTS = ("alone", "typical")

_LAYOUT_WORDS: Mapping[str, str] = MappingProxyType({
    "alone": "the mapping alone at the top of the address space, as in the model's process "
             "(at 0xf0000000000000, above the stack: the program asked mmap for that address, "
             "which 5-level page tables allow)",
    "typical": "the mapping where mmap put it in a real process (stack and vDSO above)",
})


@dataclass(frozen=True)
class KernelLine:
    """One console line of a race, and what it says (empty when the notes say nothing).

    Model helper: no kernel counterpart.
    """

    text: str
    says: str = ""


@dataclass(frozen=True)
class KernelRun:
    """One race run on the real kernel: what the threads got and what the kernel printed.

    ``a``/``b``: each thread's line as the program printed it (``"fault page 3: SIGSEGV ..."``);
    ``a_shows``/``b_shows``: the file page its bytes were (``"libc.so.6 page 3"``) or its
    signal or errno; ``stuck``: the race's process had not exited 5 s later; ``console``: every
    line from the race's start; ``lines``: the explained ones, in console order, each text
    once;
    ``verdict``: one sentence, from the notes.

    Model helper: no kernel counterpart.
    """

    race: str
    strategy: str
    layout: str
    a: str | None
    b: str | None
    a_shows: str | None
    b_shows: str | None
    stuck: bool
    maps_before: tuple[str, ...]
    maps_after: tuple[str, ...]
    console: tuple[str, ...]
    verdict: str = ""
    lines: tuple[KernelLine, ...] = field(default=())

    @property
    def outcome(self) -> str:
        """The two threads in a few words: ``A fault page 3: SIGSEGV | B munmap pages 0-4: 0``
        (the program's "pages 0+5", first page and count, in the explorer's notation)."""
        def short(who: str, line: str | None, shows: str | None) -> str:
            if line is None:
                return f"{who}: never returned"
            what, _, result = line.partition(": ")
            # the program says "pages 0+5" (first page + count); the explorer "pages 0-4"
            what = re.sub(r"pages (\d+)\+(\d+)",
                          lambda m: f"pages {m[1]}-{int(m[1]) + int(m[2]) - 1}", what)
            return f"{who} {what}: {shows or result.split()[0]}"

        return (short("A", self.a, self.a_shows) + " | " + short("B", self.b, self.b_shows)
                + (" | the process is stuck" if self.stuck else ""))


def _explained(path: Path) -> dict[tuple[str, str, str], dict]:
    if not path.exists():
        return {}
    notes = json.loads(path.read_text())
    return {(n["race"], n["strategy"], n["layout"]): n for n in notes["runs"]}


def load_kernel_races(directory: Path | str | None = None) -> list[KernelRun]:
    """Every run of ``split-races.json`` with its notes; an empty list when it is missing.

    ``directory`` is a ``data/`` folder (default: the course's, :func:`course_data`).

    Model helper: no kernel counterpart.
    """
    base = Path(directory) if directory is not None else course_data()
    path = base / "kernel-captures" / "split-races.json"
    if not path.exists():
        return []
    notes = _explained(base / "kernel-captures" / "split-races.explained.json")
    out = []
    for r in json.loads(path.read_text())["runs"]:
        key = (r["race"], r["strategy"], r["layout"])
        note = notes.get(key, {})
        says = {n["match"]: n["says"] for n in note.get("lines", [])}
        explained = [text for text in r["console"] if any(k in text for k in says)]
        lines = tuple(KernelLine(text, says[max((k for k in says if k in text), key=len)])
                      for i, text in enumerate(explained) if text not in explained[:i])
        out.append(KernelRun(r["race"], r["strategy"], r["layout"], r["a"], r["b"],
                             r.get("a_shows"), r.get("b_shows"), bool(r["timeout"]),
                             tuple(r["maps_before"]), tuple(r["maps_after"]),
                             tuple(r["console"]), note.get("verdict", ""), lines))
    return out


def kernel_runs(name: str, strategy: str,
                runs: Sequence[KernelRun] | None = None) -> list[KernelRun]:
    """The runs of race ``name`` under ``strategy``, in :data:`LAYOUTS` order.

    Model helper: no kernel counterpart.
    """
    runs = load_kernel_races() if runs is None else runs
    chosen = [r for r in runs if r.race == name and r.strategy == strategy]
    return sorted(chosen, key=lambda r: LAYOUTS.index(r.layout))


def format_kernel_run(run: KernelRun, *, width: int = 96) -> str:
    """The run as text: the layout, the threads' outcome, the verdict, then each explained
    console line (wrapped between words, never cut: a note may discuss its end) with what it
    says under it (wrapped), ``width`` characters a line.

    Model helper: no kernel counterpart.
    """
    out = textwrap.wrap(f"{run.layout}: {_LAYOUT_WORDS.get(run.layout, run.layout)}", width,
                        subsequent_indent="  ")
    out.append(f"  {run.outcome}")
    if run.verdict:
        out += textwrap.wrap(f"verdict: {run.verdict}", width, initial_indent="  ",
                             subsequent_indent="    ")
    for line in run.lines:
        out += textwrap.wrap(line.text, width, initial_indent="  | ",
                             subsequent_indent="  |   ", break_long_words=False,
                             break_on_hyphens=False) or ["  | "]
        if line.says:
            out += textwrap.wrap(f"← {line.says}", width, initial_indent="  |   ",
                                 subsequent_indent="  |     ")
    hidden = len(run.console) - len(run.lines)
    if hidden > 0:
        out.append(f"  ({hidden} more console lines in data/kernel-captures/split-races.json)")
    return "\n".join(out)


def window_run(name: str, strategy: str) -> Run:
    """The model's run of race ``name`` under ``strategy`` on the schedule the real kernel ran:
    thread 0 (the capture's thread A) runs up to and including its ``up_read`` (the window
    opens), thread 1 (thread B) runs every step it can, then the lowest-numbered thread that
    can run, to the end. A thread 0 that never reaches ``up_read`` (a caller refused before the
    handler) runs to its end first, as thread B waits for a window that never opens.

    Model helper: no kernel counterpart (the capture's schedule, tools/kernel-captures/split/).
    """
    try:
        threads = RACES[name]
    except KeyError:
        raise KeyError(f"no race {name!r}; there are: {', '.join(RACES)}") from None
    run, _ = run_schedule(threads, strategy, "libc-past-xip", None, [])
    opens = next((j for j, (t, label) in enumerate(run.schedule)
                  if t == 0 and label == "up_read"), None)
    if opens is None or len(threads) < 2:
        return run
    prefix = [t for t, _label in run.schedule[:opens + 1]]
    for _ in range(64):  # thread 1's steps, while it has one and can take it
        if not any(t == 1 for t, _label in run.schedule[len(prefix):]):
            break
        try:
            run, _ = run_schedule(threads, strategy, "libc-past-xip", None, [*prefix, 1])
        except KernelBug:  # thread 1 waits (a lock, a page): the window is over for it
            break
        prefix.append(1)
    return run


def kernel_says(name: str, strategy: str, runs: Sequence[KernelRun] | None = None) -> str:
    """What the real kernel printed for race ``name`` under ``strategy``, both layouts, for the
    race explorer to show under the class :func:`window_run` falls in; "" when the race was
    not run.

    Model helper: no kernel counterpart.
    """
    chosen = kernel_runs(name, strategy, runs)
    if not chosen:
        return ""
    head = (f"On a real kernel (Debian's 6.1 with the 2017 patch, {strategy}; two CPUs): the "
            "schedule of this class, thread A (thread 0) held in the window for 200 ms while "
            "thread B (thread 1) does its step; data/kernel-captures/split-races.json. Each "
            "layout below is one run; a line starting with | is the kernel's console, the "
            "← under it what the line says:")
    return "\n".join([*textwrap.wrap(head, 96), *(format_kernel_run(r) for r in chosen)])


@dataclass(frozen=True)
class VerdictRow:
    """One race under one strategy: the model's verdict next to the real kernel's.

    ``broken``/``interleavings``: the model's count of broken interleavings; ``problem``: the
    first problem it names; ``kernel``: layout -> the real run's ``(outcome, verdict)``.

    Model helper: no kernel counterpart.
    """

    race: str
    strategy: str
    interleavings: int
    broken: int
    problem: str
    kernel: dict[str, tuple[str, str]]


def verdict_rows(names: Sequence[str] = tuple(RACES),
                 strategies: Sequence[str] = ("split", "split-v3"),
                 runs: Sequence[KernelRun] | None = None) -> list[VerdictRow]:
    """For each race and strategy: the model's exploration and the real kernel's runs.

    Model helper: no kernel counterpart.
    """
    runs = load_kernel_races() if runs is None else runs
    out = []
    for name in names:
        for strategy in strategies:
            report = race(name, strategy)
            problems = [p for (_o, broken), _n in report.classes.most_common() for p in broken]
            kernel = {r.layout: (r.outcome, r.verdict) for r in kernel_runs(name, strategy, runs)}
            out.append(VerdictRow(name, strategy, report.interleavings, report.broken_runs,
                                  problems[0] if problems else "", kernel))
    return out


def format_verdicts(rows: Sequence[VerdictRow], *, width: int = 100) -> str:
    """The rows as text, one block per race and strategy: the model's count and first problem
    (clipped), then per layout the kernel's outcome and its verdict (wrapped), ``width``
    characters a line at most.

    Model helper: no kernel counterpart.
    """
    indent = " " * 11

    def clip(text: str) -> str:
        room = width - len(indent)
        return text if len(text) <= room else text[:room - 1] + "…"

    out = []
    for r in rows:
        model = (f"{r.broken} of {r.interleavings} interleavings broken"
                 + (f": {r.problem}" if r.problem else ""))
        out.append(f"{r.race} ({r.strategy})")
        out.append("  model:   " + clip(model))
        if not r.kernel:
            out.append("  kernel:  not run")
        for layout in LAYOUTS:
            if layout in r.kernel:
                outcome, verdict = r.kernel[layout]
                out.append(f"  {layout + ':':8} " + clip(outcome))
                out += textwrap.wrap(verdict, width, initial_indent=indent,
                                     subsequent_indent=indent)
    return "\n".join(out)
