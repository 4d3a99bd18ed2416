"""The strategies side by side, and the model held against a real kernel's captures.

The epilogue's material. :class:`StrategyRuns` runs each XIP scenario of :mod:`mmlab.scenarios`
under each strategy of :mod:`mmlab.xip` once and keeps the result; :class:`StrategyExplorer`
draws one scenario under ``"refuse"``, ``"split"`` and ``"mixedmap"`` (and ``"split-v3"`` on
request) as columns: the VMAs after the mmap and after the touches, where each touched page
came from and what fault it took, the RAM bill, and the cramfs log lines. :func:`summary_rows`
and :func:`format_summary` make the same comparison a table over every scenario.
:class:`RamDrill` drills the RAM bill. :func:`race_rows` counts, for the review's objections
(:data:`mmlab.race.RACES`), the interleavings in which each strategy breaks.

The second half compares the model with ``data/kernel-captures/``: what Debian's 6.1 kernel
(with its own ``fs/cramfs``, which still works as v4.15's ``"mixedmap"`` strategy) did in
every scenario under QEMU. :func:`capture_comparison` loads a capture, replays its programs on
the model (:func:`replay_capture`, the same machine layout as the guest's) and returns one
:class:`FieldRow` per compared field: the kernel's value, the model's, and whether they are
the same. :func:`data_dir` finds ``data/`` from the working directory (a notebook runs in
``notebooks/``) or from the package's own path.

Model helper: no kernel counterpart (drawings and comparisons of :mod:`mmlab.scenarios`).
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab.constants import PAGE_SHIFT
from mmlab.physmem import PhysMem
from mmlab.procfs import PM_PFRAME_MASK, PM_PRESENT
from mmlab.race import RACES, explore
from mmlab.scenarios import (
    SCENARIOS,
    Scenario,
    ScenarioRun,
    run_scenarios,
    scenario,
    scenario_image,
)
from mmlab.scenarios import (
    run_scenario as _run_scenario,
)
from mmlab.system import System
from mmlab.viz.base import PALETTE, Explorer, course_data, schematic_axes
from mmlab.viz.quiz import OUTPUT_WIDTH, Drill, wrap_output
from mmlab.viz.style import KINDS, Kind, box_label, draw_legend, first_fitting, kind_collection
from mmlab.viz.style import text_width as _text_width

__all__ = [
    "COLUMNS",
    "PAGE_KINDS",
    "STRATEGY_NOTES",
    "STRATEGY_SHORT",
    "VMA_KINDS",
    "FieldRow",
    "RaceRow",
    "RamDrill",
    "StrategyExplorer",
    "StrategyRuns",
    "SummaryRow",
    "capture_comparison",
    "capture_image",
    "capture_scenarios",
    "compare_capture",
    "comparison_counts",
    "data_dir",
    "format_counts",
    "format_race_rows",
    "format_rows",
    "format_summary",
    "load_capture",
    "race_rows",
    "ram_cases",
    "ram_differences",
    "replay_capture",
    "summary_rows",
]

#: Short labels for the explorer's column titles.
STRATEGY_SHORT: Mapping[str, str] = MappingProxyType({
    "refuse": "before the patch",
    "split": "seed, 2017-08-16",
    "split-v3": "v3, 2017-08-31",
    "mixedmap": "v4.15",
})

#: The strategies the explorer shows by default, oldest first.
COLUMNS = ("refuse", "split", "mixedmap")

#: One line per strategy: which code it is.
STRATEGY_NOTES: Mapping[str, str] = MappingProxyType({
    "refuse": "before the patch: all or nothing",
    "split": "the seed, 2017-08-16: split at fault time",
    "split-v3": "v3, 2017-08-31: the split, hardened",
    "mixedmap": "merged in v4.15: VM_MIXEDMAP",
})


# --- running the strategies once --------------------------------------------------------------
class StrategyRuns:
    """Each (scenario, strategy) run once on a fresh machine, then kept.

    Model helper: no kernel counterpart (a cache of :func:`mmlab.scenarios.run_scenario`).
    """

    def __init__(self, image: bytes | None = None) -> None:
        self.image = image if image is not None else scenario_image()
        self._runs: dict[tuple[str, str], ScenarioRun] = {}

    def get(self, name: str, strategy: str) -> ScenarioRun:
        """The run of scenario ``name`` under ``strategy`` (computed on first use)."""
        key = (name, strategy)
        if key not in self._runs:
            self._runs[key] = _run_scenario(name, strategy, image=self.image)
        return self._runs[key]

    def __len__(self) -> int:
        return len(self._runs)


@dataclass(frozen=True)
class SummaryRow:
    """One scenario under one strategy, in numbers.

    ``error``: the errno name of a failed open or mmap, else ``None``; ``vmas``: VMAs after
    the mmap and after the touches; ``flash``/``ram``: pages served in place / held in RAM
    after the touches; ``major``/``minor``: faults of all the touches; ``signals``: signals
    the touches got; ``log``: cramfs lines logged (mmap and touches).

    Model helper: no kernel counterpart.
    """

    scenario: str
    strategy: str
    error: str | None
    vmas: tuple[int, int]
    flash: int
    ram: int
    major: int
    minor: int
    signals: tuple[str, ...]
    log: int

    @property
    def cell(self) -> str:
        """The row as one short table cell."""
        if self.error:
            return self.error
        text = f"{self.flash}F {self.ram}R {self.major}M {self.minor}m"
        if self.vmas[1] != self.vmas[0]:
            text += f" {self.vmas[0]}->{self.vmas[1]}V"
        if self.signals:
            text += " " + ",".join(self.signals)
        return text


def _summary_row(run: ScenarioRun) -> SummaryRow:
    return SummaryRow(
        run.scenario.name, run.strategy, run.open_error or run.mmap_error,
        (len(run.maps), len(run.maps_after)), run.ram.flash, run.ram.ram,
        sum(t.majflt for t in run.touches), sum(t.minflt for t in run.touches),
        tuple(t.signal for t in run.touches if t.signal),
        len(run.kernel_log) + sum(len(t.kernel_log) for t in run.touches))


def summary_rows(strategies: Sequence[str] = COLUMNS,
                 scenarios: Sequence[Scenario] = SCENARIOS,
                 runs: StrategyRuns | None = None) -> list[SummaryRow]:
    """One :class:`SummaryRow` per scenario and strategy, scenario by scenario.

    Model helper: no kernel counterpart.
    """
    cache = runs if runs is not None else StrategyRuns()
    return [_summary_row(cache.get(sc.name, strategy))
            for sc in scenarios for strategy in strategies]


def format_summary(rows: Sequence[SummaryRow]) -> str:
    """The rows as a table: a line per scenario, a column per strategy.

    A cell reads ``3F 2R 2M 0m``: 3 pages from flash, 2 pages of RAM, 2 major and 0 minor
    faults; ``1->2V`` when the VMA count changed during the touches; a signal's name; or the
    errno of a failed open or mmap.

    Model helper: no kernel counterpart.
    """
    strategies = list(dict.fromkeys(r.strategy for r in rows))
    names = list(dict.fromkeys(r.scenario for r in rows))
    cells = {(r.scenario, r.strategy): r.cell for r in rows}
    width = max([len(c) for c in cells.values()] + [len(s) for s in strategies]) + 2
    lines = ["scenario".ljust(26) + "".join(s.ljust(width) for s in strategies)]
    for name in names:
        lines.append(name.ljust(26) + "".join(cells.get((name, s), "").ljust(width)
                                              for s in strategies))
    lines.append("F: pages from flash, R: pages of RAM, M/m: major/minor faults, "
                 "V: VMAs after mmap -> after the touches")
    lines.append("EROFS, EACCES: the open or the mmap failed with that errno (no mapping); "
                 "SIGBUS: a touch got that signal")
    return "\n".join(line.rstrip() for line in lines)


def ram_differences(rows: Sequence[SummaryRow], first: str = "split",
                    second: str = "mixedmap") -> list[str]:
    """The scenarios whose RAM pages after the touches differ between two strategies' rows.

    Model helper: no kernel counterpart.
    """
    ram = {(r.scenario, r.strategy): r.ram for r in rows}
    names = dict.fromkeys(r.scenario for r in rows)
    missing = [s for s in (first, second) if not any(k[1] == s for k in ram)]
    if missing:
        raise ValueError(f"no rows for strategy {missing[0]!r}; the rows have "
                         f"{sorted({k[1] for k in ram})}")
    return [n for n in names if ram.get((n, first)) != ram.get((n, second))]


def ram_cases(runs: StrategyRuns | None = None,
              strategies: Sequence[str] = COLUMNS) -> list[tuple[tuple[int, int, str], int]]:
    """Cases for ``my_strategy_ram(pages, xip_pages, strategy)``: RAM pages after reading.

    From every scenario that maps without error, touches each of its pages once (reads only)
    and gets no signal: ``pages`` is its page count, ``xip_pages`` how many of them the merged
    driver serves from flash, and the answer is what the model's run leaves in RAM under
    ``strategy``. Duplicate cases are dropped.

    Model helper: no kernel counterpart.
    """
    cache = runs if runs is not None else StrategyRuns()
    out: dict[tuple[int, int, str], int] = {}
    for sc in SCENARIOS:
        if sc.write or sc.open_write or sc.touch != tuple(range(sc.pages)):
            continue
        merged = cache.get(sc.name, "mixedmap")
        if merged.mmap_error or any(t.signal for t in merged.touches):
            continue
        for strategy in strategies:
            out.setdefault((sc.pages, merged.ram.flash, strategy),
                           cache.get(sc.name, strategy).ram.ram)
    return list(out.items())


class RamDrill(Drill):
    """Seeded problems: how many pages of RAM does a scenario hold under a strategy?

    Model helper: no kernel counterpart.
    """

    def __init__(self, seed: int = 2017, runs: StrategyRuns | None = None) -> None:
        self.runs = runs if runs is not None else StrategyRuns()
        self.names = [sc.name for sc in SCENARIOS
                      if not sc.open_write and sc.name != "shared-write-readonly-fd"]
        super().__init__(seed)

    def make(self) -> tuple[str, object]:
        """A scenario and a strategy; the answer is the RAM pages after its touches."""
        name = self.rng.choice(self.names)
        strategy = self.rng.choice(COLUMNS)
        sc = scenario(name)
        run = self.runs.get(name, strategy)
        text = (f"Scenario {name!r} ({sc.why}) pages touched: {list(sc.touch)}"
                + (f", written: {list(sc.write)}" if sc.write else "")
                + f". Under {strategy!r}, how many pages of RAM does the mapping hold after "
                "the touches?")
        self._run = (name, strategy)
        self._wrong = 0  # wrong answers to this problem: a hint first, the number after two
        return text, run.ram.ram

    def explain(self) -> str:
        """The current problem's run: what each touch found, and the RAM it left.

        Model helper: no kernel counterpart.
        """
        name, strategy = self._run
        run = self.runs.get(name, strategy)
        lines = [f"{name} under {strategy!r} ({STRATEGY_NOTES[strategy]}):"]
        lines += [f"  {t.kind} page {t.page}: " + (t.signal or f"{t.where}, {t.majflt} major, "
                                                    f"{t.minflt} minor fault(s)")
                  for t in run.touches]
        lines.append(f"  RAM {_count(run.ram.ram, 'page')} (page cache {run.ram.page_cache}, "
                     f"anonymous {run.ram.anonymous}), flash {_count(run.ram.flash, 'page')}")
        return "\n".join(lines)

    def feedback(self, given: object) -> str:
        """A sentence on an answer: not written yet; not a number of pages (a word, a negative
        number, a bool: what to write); right; or wrong, with a hint the first time (more or
        fewer than written, and where to look) and the model's count from the second wrong
        answer to the same problem on (``answer()`` gives it any time, on request).

        Model helper: no kernel counterpart.
        """
        if given is Ellipsis:
            return "Not answered yet: write a number of pages in the cell above."
        number = given.strip() if isinstance(given, str) else given
        if isinstance(number, str) and number.isdigit():
            number = int(number)
        if isinstance(number, bool) or not isinstance(number, int):
            return wrap_output(f"Write a number of pages in digits, such as 2, not {given!r}: "
                               "the question asks how many pages of RAM the mapping holds.")
        if number < 0:
            return f"A number of pages is 0 or more, not {number}."
        answer = int(str(self._answer))
        if number == answer:
            return f"Right: {_count(answer, 'page')} of RAM."
        self._wrong += 1
        if self._wrong == 1:
            more = "fewer" if number > answer else "more"
            return wrap_output(
                f"Not quite: you wrote {number}; the mapping holds {more} pages of RAM. Count "
                "only the pages a touch found in the page cache or copied: a page read from "
                "flash costs none. Try again; print(drill.explain()) goes through the touches "
                "one by one.")
        return wrap_output(f"Not quite: you wrote {number}, the model holds "
                           f"{_count(answer, 'page')} of RAM. print(drill.explain()) goes "
                           "through the touches one by one.")


# --- the explorer -----------------------------------------------------------------------------
def _vma_spans(run: ScenarioRun, after: bool) -> list[tuple[int, int, str, str]]:
    """``(first page, end page, offset column, kind)`` per VMA line; kind pfnmap/mixed/file."""
    if run.address is None:
        return []
    lines = run.maps_after if after else run.maps
    smaps = run.smaps_after if after else run.smaps
    out = []
    for line, entry in zip(lines, smaps, strict=True):
        span, _perms, offset = line.split()[:3]
        start, end = (int(x, 16) for x in span.split("-"))
        flags = str(entry["VmFlags"]).split()
        kind = "pfnmap" if "pf" in flags else "mixed" if "mm" in flags else "file"
        out.append(((start - run.address) >> PAGE_SHIFT, (end - run.address) >> PAGE_SHIFT,
                    offset, kind))
    return out


def _count(n: int, word: str) -> str:
    """``1 page``, ``2 pages``, ``0 pages``: a number and its noun, in the right form."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _fit(ax: Axes, text: str, width: float, size: float, family: str = "sans-serif") -> str:
    """``text``, cut short with "…" until it fits ``width`` data units of ``ax``."""
    if _text_width(ax, text, size, family=family) <= width:
        return text
    # the longest prefix that fits, by bisection (a prefix is never wider than a longer one):
    # a log line cut one character at a time took 35 measurements, most of a redraw's time
    fits, too_long = 0, len(text)
    while too_long - fits > 1:
        end = (fits + too_long) // 2
        if _text_width(ax, text[:end].rstrip() + "…", size, family=family) <= width:
            fits = end
        else:
            too_long = end
    return text[:fits].rstrip() + "…" if fits else "…"


#: How the explorer draws a VMA, by the flags ``smaps`` shows.
VMA_KINDS: Mapping[str, Kind] = MappingProxyType({
    "file": Kind("vma-file", "file VMA (page cache)", PALETTE["file"], "||"),
    "pfnmap": Kind("vma-pfnmap", "VM_PFNMAP VMA", PALETTE["pfnmap"]),
    "mixed": Kind("vma-mixed", "VM_MIXEDMAP VMA", PALETTE["pfnmap"], "///"),
})

#: How the explorer draws a page of the mapping, by where its (last) touch found it.
PAGE_KINDS: Mapping[str, Kind] = MappingProxyType({
    "flash": KINDS["flash"],
    "page cache": KINDS["file"],
    "anonymous": KINDS["anon"],
    "other": KINDS["ram"],
    "signal": Kind("sigbus", "the touch got SIGBUS", PALETTE["sigbus"], "xx", "S"),
    "untouched": Kind("untouched", "not touched", None, dashed=True),
})


class StrategyExplorer(Explorer):
    """One scenario under each strategy, drawn as columns.

    Each column shows, top to bottom: the VMAs right after the mmap and after the touches
    (:data:`VMA_KINDS`: pink ``VM_PFNMAP``, hatched pink ``VM_MIXEDMAP``, blue with vertical
    lines a plain file VMA; the label, on a white ground, is the offset column of
    ``/proc/PID/maps`` as it prints it), one
    box per page of the mapping drawn by where the touch found it (:data:`PAGE_KINDS`: flash,
    page cache, anonymous copy, SIGBUS, not touched) with the fault it took under it (``M``
    major, ``m`` minor, nothing: no fault), the RAM bill, and the cramfs log lines (cut to the
    column; in full in the text). The legend lists the kinds drawn. Runs are computed once per
    scenario and strategy (:class:`StrategyRuns`).

    Model helper: no kernel counterpart.
    """

    figsize = (10.0, 3.1)

    def __init__(self, name: str = "libc-past-xip", *, show_v3: bool = False,
                 runs: StrategyRuns | None = None) -> None:
        super().__init__()
        self.names = [sc.name for sc in SCENARIOS]
        scenario(name)
        self.name = name
        self.show_v3 = show_v3
        self.runs = runs if runs is not None else StrategyRuns()
        self._svgs: dict[tuple[str, bool], bytes] = {}

    def svg(self) -> bytes:
        """The picture as SVG, drawn once per scenario and column set, then kept (the runs do
        not change, so neither does the picture)."""
        key = (self.name, self.show_v3)
        if key not in self._svgs:
            self._svgs[key] = super().svg()
        return self._svgs[key]

    @property
    def strategies(self) -> tuple[str, ...]:
        """The columns shown now."""
        return ("refuse", "split", "split-v3", "mixedmap") if self.show_v3 else COLUMNS

    def run(self, strategy: str) -> ScenarioRun:
        """The current scenario's run under ``strategy``."""
        return self.runs.get(self.name, strategy)

    def make_controls(self) -> dict[str, widgets.Widget]:
        """The scenario, and whether v3 gets a column."""
        return {
            "scenario": widgets.Dropdown(options=self.names, value=self.name,
                                         description="scenario",
                                         layout=widgets.Layout(width="330px")),
            "split-v3": widgets.Checkbox(value=self.show_v3, description="show split-v3",
                                         indent=False),
        }

    def on_change(self, name: str, value: object) -> None:
        """Another scenario, or the v3 column on or off."""
        if name == "scenario":
            self.name = str(value)
        else:
            self.show_v3 = bool(value)

    def describe(self) -> str:
        """Per strategy: maps after the mmap and after the touches, touches, RAM, log."""
        sc = scenario(self.name)
        lines = [f"{sc.name}: {sc.why}"]
        for strategy in self.strategies:
            run = self.run(strategy)
            lines.append(f"--- {strategy} ({STRATEGY_NOTES[strategy]})")
            error = run.open_error or run.mmap_error
            if error:
                lines.append(f"  {'open' if run.open_error else 'mmap'} failed: {error}")
                continue
            lines += [f"  maps after mmap:    {line}" for line in run.maps]
            lines += [f"  maps after touches: {line}" for line in run.maps_after]
            touches = [f"{t.kind[0]}{t.page}:" + (t.signal or
                                                  f"{t.where} {t.majflt}M {t.minflt}m")
                       for t in run.touches]
            lines.append("  touches: " + ("; ".join(touches) or "none"))
            lines.append(f"  RAM {_count(run.ram.ram, 'page')} (page cache "
                         f"{run.ram.page_cache}, anonymous {run.ram.anonymous}), flash "
                         f"{_count(run.ram.flash, 'page')}")
            logs = run.kernel_log + [line for t in run.touches for line in t.kernel_log]
            lines += [f"  log: {line}" for line in logs]
        return "\n".join(lines)

    def draw(self, fig: Figure) -> None:
        """A label column, then a column per strategy; boxes drawn one collection per kind;
        the legend lists the kinds drawn."""
        ax = schematic_axes(fig, ylim=(3.0, 12.0))
        sc = scenario(self.name)
        for label, y in (("after mmap", 10.3), ("after touches", 9.3), ("pages", 8.3),
                         ("faults", 7.55), ("RAM", 6.9), ("log", 6.3)):
            ax.text(0.5, y, label, fontsize=7, color=PALETTE["muted"], va="center")
        boxes: dict[Kind, list[Rectangle]] = {}
        strategies = self.strategies
        width = 90.0 / len(strategies)
        for k, strategy in enumerate(strategies):
            self._column(ax, 10.0 + k * width, width - 2.0, strategy, sc, boxes)
        for kind, rects in boxes.items():
            ax.add_collection(kind_collection(rects, kind, linewidths=0.6))
        order = [*VMA_KINDS.values(), *PAGE_KINDS.values()]
        draw_legend(ax, [k for k in order if k in boxes], 0.5, 4.3, fontsize=7.5, right=99.5)

    def _column(self, ax: Axes, x0: float, w: float, strategy: str, sc: Scenario,
                boxes: dict[Kind, list[Rectangle]]) -> None:
        run = self.run(strategy)
        title = first_fitting(ax, (f"{strategy} ({STRATEGY_SHORT[strategy]})", strategy), w,
                              8.5, weight="bold") or strategy
        ax.text(x0, 11.4, title, fontsize=8.5, fontweight="bold", va="center")
        error = run.open_error or run.mmap_error
        if error:  # the "after mmap" row says why there is no VMA; nothing was touched
            ax.text(x0, 10.3, f"{'open' if run.open_error else 'mmap'} failed: {error}",
                    fontsize=8, color=PALETTE["highlight"], va="center")
            ax.text(x0, 9.3, "no mapping, nothing touched", fontsize=7.5,
                    color=PALETTE["muted"], va="center")
            return
        pw = w / max(1, sc.pages)
        for y, after in ((10.3, False), (9.3, True)):  # rows "after mmap", "after touches"
            for first, end, offset, kind in _vma_spans(run, after):
                left, right = x0 + first * pw, x0 + end * pw
                boxes.setdefault(VMA_KINDS[kind], []).append(
                    Rectangle((left, y - 0.35), right - left, 0.7))
                text = offset  # as maps prints it: 8 hex digits, 0800e000
                size = 7.0 if _text_width(ax, text, 7.0) <= right - left - 0.4 else 6.5
                # on a plain background: a hatched or striped VMA would cross its digits
                box_label(ax, (left, y - 0.35, right, y + 0.35), text, fontsize=size,
                          family="monospace",
                          bbox={"boxstyle": "square,pad=0.12", "facecolor": "white",
                                "edgecolor": "none"})
        touched = {t.page: t for t in run.touches}  # the last touch of a page: its kind
        for page in range(sc.pages):
            t = touched.get(page)
            key = ("untouched" if t is None else "signal" if t.signal else
                   t.where if t.where in PAGE_KINDS else "other")
            left = x0 + page * pw
            boxes.setdefault(PAGE_KINDS[key], []).append(
                Rectangle((left + 0.15, 7.95), pw - 0.3, 0.7))
            mark = "".join(u.signal[3:] if u.signal else "M" * u.majflt + "m" * u.minflt
                           for u in run.touches if u.page == page)
            if mark:  # a touched page with nothing under it took no fault
                box_label(ax, (left, 7.25, left + pw, 7.85), mark, fontsize=7)
        ax.text(x0, 6.9, f"RAM {run.ram.ram} · flash {run.ram.flash}", fontsize=7.5,
                va="center")
        logs = run.kernel_log + [line for t in run.touches for line in t.kernel_log]
        for i, line in enumerate(logs[:4]):
            ax.text(x0, 6.3 - i * 0.45, _fit(ax, line.removeprefix("cramfs: "), w, 7,
                                             "monospace"),
                    fontsize=7, va="center", family="monospace")


# --- the review's objections, counted ---------------------------------------------------------
@dataclass(frozen=True)
class RaceRow:
    """One named race of :data:`mmlab.race.RACES` under one strategy: interleavings tried,
    how many broke something, and the distinct problems found.

    Model helper: no kernel counterpart.
    """

    race: str
    strategy: str
    interleavings: int
    broken: int
    problems: tuple[str, ...]


def race_rows(names: Sequence[str] = tuple(RACES),
              strategies: Sequence[str] = ("split", "split-v3", "mixedmap")) -> list[RaceRow]:
    """Explore each race under each strategy (every interleaving) and count what broke.

    Model helper: no kernel counterpart (a summary of :func:`mmlab.race.explore`).
    """
    out = []
    for name in names:
        for strategy in strategies:
            report = explore(RACES[name], strategy)
            problems = tuple(dict.fromkeys(b for (_o, broken) in report.classes
                                           for b in broken))
            out.append(RaceRow(name, strategy, report.interleavings, report.broken_runs,
                               problems))
    return out


def format_race_rows(rows: Sequence[RaceRow], *, problems: bool = True,
                     width: int = OUTPUT_WIDTH) -> str:
    """The race rows as a table, each followed by its distinct problems, each in full, wrapped
    between words at ``width`` characters.

    Model helper: no kernel counterpart.
    """
    lines = [f"{'race':24} {'strategy':9} {'interleavings':>13} {'broken':>7}"]
    for r in rows:
        lines.append(f"{r.race:24} {r.strategy:9} {r.interleavings:13} {r.broken:7}")
        if problems:
            lines += [w for p in r.problems for w in textwrap.wrap(
                p, width, initial_indent="    - ", subsequent_indent="      ",
                break_long_words=False, break_on_hyphens=False)]
    return "\n".join(lines)


# --- the model against the captures -----------------------------------------------------------
def data_dir(start: pathlib.Path | str | None = None) -> pathlib.Path:
    """The checkout's ``data/`` folder (the one holding ``kernel-captures/``).

    Looked for in ``start`` (default: the working directory) and its parent (a notebook runs
    in ``notebooks/``), then next to the package (``src/mmlab/../../data``, an editable
    install). :class:`FileNotFoundError` names the places tried.

    Model helper: no kernel counterpart.
    """
    if start is None:
        found = course_data("kernel-captures")
        if found.is_dir():
            return found.parent
        raise FileNotFoundError(f"no data/kernel-captures/ (last looked in {found})")
    here = pathlib.Path(start)
    tried = [here / "data", here.parent / "data", course_data()]
    for place in tried:
        if (place / "kernel-captures").is_dir():
            return place
    raise FileNotFoundError("no data/kernel-captures/ in " + ", ".join(map(str, tried)))


def load_capture(name: str = "xip-scenarios",
                 directory: pathlib.Path | str | None = None) -> dict:
    """The capture ``data/kernel-captures/<name>.json``, as a dict (JSON ``schema: 1``).

    Model helper: no kernel counterpart.
    """
    base = pathlib.Path(directory) if directory is not None else data_dir()
    return json.loads((base / "kernel-captures" / f"{name}.json").read_text())


def _content_checks(name: str, base: pathlib.Path) -> list[dict]:
    path = base / "kernel-captures" / f"{name}.content-checks.json"
    return json.loads(path.read_text()) if path.exists() else []


def capture_image(capture: dict, directory: pathlib.Path | str | None = None) -> bytes:
    """The image the capture mounted (checked against its sha256).

    Model helper: no kernel counterpart.
    """
    base = pathlib.Path(directory) if directory is not None else data_dir()
    for where in (base / "kernel-captures" / capture["image"], base / capture["image"]):
        if where.exists():
            image = where.read_bytes()
            if hashlib.sha256(image).hexdigest() != capture["image_sha256"]:
                raise ValueError(f"{where}: not the image the capture mounted (sha256)")
            return image
    raise FileNotFoundError(f"image {capture['image']} not found under {base}")


def capture_scenarios(capture: dict) -> list[Scenario]:
    """The capture's programs as :class:`~mmlab.scenarios.Scenario` objects, in its order.

    The touches are the ones the probe made; a scenario that touched nothing (its mmap or
    open failed) keeps the course's touches, so the model's run is the same program.

    Model helper: no kernel counterpart.
    """
    known = {s.name: s for s in SCENARIOS}
    out = []
    for sc in capture["scenarios"]:
        reads = tuple(t["page"] for t in sc["touched"] if t["kind"] == "read")
        writes = tuple(t["page"] for t in sc["touched"] if t["kind"] == "write")
        if not sc["touched"] and sc["name"] in known:
            reads, writes = known[sc["name"]].touch, known[sc["name"]].write
        out.append(Scenario(sc["name"], sc["path"], sc["offset"], sc["length"], sc["prot"],
                            sc["flags"], "", reads, writes, sc["open_write"]))
    return out


def replay_capture(capture: dict, directory: pathlib.Path | str | None = None
                   ) -> tuple[System, list[ScenarioRun]]:
    """Run the capture's programs on the model, one after the other, as the probe did.

    The machine is laid out like the guest: the flash window at the capture's physical
    address (``0x10000000``), the MTD named as there, the driver the guest ran: the merged
    (``"mixedmap"``) one, or the capture's ``strategy`` (``"split"``, ``"split-v3"``: Debian's
    6.1 built with the 2017 fault-time split, ``tools/kernel-captures/split/``).

    Model helper: no kernel counterpart (the probe of ``tools/kernel-captures``).
    """
    phys = capture["phys_addr"]
    system = System(physmem=PhysMem(flash_phys=phys, flash_size=32 << 20))
    runs = run_scenarios(capture_scenarios(capture), capture.get("strategy", "mixedmap"),
                         image=capture_image(capture, directory), system=system,
                         phys_addr=phys, mtd_name=capture["mtd_name"])
    return system, runs


@dataclass(frozen=True)
class FieldRow:
    """One compared field: the kernel's value and the model's, as text, and whether equal.

    Virtual addresses are shown relative to each mapping's start (``+0x1000``), since the
    guest's layout differs from the model's.

    Model helper: no kernel counterpart.
    """

    scenario: str
    field: str
    kernel: str
    model: str
    same: bool


def _relative_maps(lines: Sequence[str], base: int) -> list[str]:
    out = []
    for line in lines:
        span, rest = line.split(" ", 1)
        start, end = (int(x, 16) - base for x in span.split("-"))
        out.append(f"+{start:#x}-+{end:#x} {' '.join(rest.split())}")
    return out


def _relative_log(lines: Sequence[str], base: int) -> list[str]:
    """Every address of the mapping in the lines written as ``<start+0x...>`` (the split's
    "fault: addr=... vma=...-... split=..." lines hold several)."""

    def rel(m: re.Match[str]) -> str:
        value = int(m.group(0), 16)
        return f"<start+{value - base:#x}>" if base <= value < base + (16 << 20) else m.group(0)

    return [re.sub(r"0x[0-9a-f]+", rel, line) for line in lines]


def _relative_smaps(entries: Sequence[dict], base: int) -> list[dict]:
    return [{**{k: v for k, v in e.items() if k not in ("start", "end")},
             "start": e["start"] - base, "end": e["end"] - base} for e in entries]


def _frame(pfn: int | None, flash: range) -> str:
    # pagemap's bit 63 clear: no frame at all (a VM_PFNMAP range is walked as a hole), not a
    # frame number hidden from an unprivileged reader (the probe reads as root)
    if pfn is None:
        return "not present"
    return f"flash pfn {pfn:#x}" if pfn in flash else "a RAM page"


def _or(value: object, instead: str | None) -> object:
    """``value``, or what a null of the capture means there (``instead``) when it is None."""
    return instead if value is None and instead is not None else value


def _show(value: object) -> str:
    # as a learner reads it: an errno or a signal by its name (EROFS, not 'EROFS'), nothing as
    # "none" (no error, no signal, no log line), not Python's None or []
    if value is None or value == []:
        return "none"
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return " | ".join(value)
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return " | ".join(", ".join(f"{k} {v}" for k, v in d.items()) for d in value)
    return repr(value)


def compare_capture(capture: dict, system: System, runs: Sequence[ScenarioRun],
                    checks: Sequence[dict] = ()) -> list[FieldRow]:
    """Every field of the capture next to the model's replay (:func:`replay_capture`).

    Compared: the mount's log; per scenario the open and mmap errno, the cramfs log of the
    mmap, the maps lines and smaps entries after the mmap and after the touches, the list of
    touches; per touch the signal, the (minor, major) faults, whether the bytes match
    read(2), whether the bytes past EOF are zero, the cramfs log, the maps after the access
    (the split captures have them: the split happens at a fault), the frame pagemap shows
    (not present, a flash pfn, or a RAM page) and, where ``checks`` (the capture's
    ``content-checks.json``) has it, whether the bytes match the image.

    Model helper: no kernel counterpart.
    """
    rows: list[FieldRow] = []

    def same(name: str, what: str, kernel: object, model: object) -> None:
        rows.append(FieldRow(name, what, _show(kernel), _show(model), kernel == model))

    same("(mount)", "cramfs log", capture["mount"]["kernel_log"], system.dmesg[:2])
    first = capture["phys_addr"] >> PAGE_SHIFT
    flash = range(first, first + ((32 << 20) >> PAGE_SHIFT))
    truth = {(c["scenario"], c["page"], c["kind"]): c["mapped_matches_image"] for c in checks}
    for sc, run in zip(capture["scenarios"], runs, strict=True):
        name = sc["name"]
        same(name, "open errno", sc["open_errno"], run.open_error)
        same(name, "mmap errno", sc["mmap_errno"], run.mmap_error)
        if sc["address"] is None or run.address is None:
            continue
        k, m = sc["address"], run.address
        same(name, "cramfs log", _relative_log(sc["kernel_log"], k),
             _relative_log(run.kernel_log, m))
        same(name, "maps", _relative_maps(sc["maps"], k), _relative_maps(run.maps, m))
        same(name, "maps after", _relative_maps(sc["maps_after"], k),
             _relative_maps(run.maps_after, m))
        same(name, "smaps", _relative_smaps(sc["smaps"], k), _relative_smaps(run.smaps, m))
        same(name, "smaps after", _relative_smaps(sc["smaps_after"], k),
             _relative_smaps(run.smaps_after, m))
        same(name, "touches", [(t["page"], t["kind"]) for t in sc["touched"]],
             [(t.page, t.kind) for t in run.touches])
        for kt, mt in zip(sc["touched"], run.touches, strict=False):
            what = f"{kt['kind']} page {kt['page']}"
            same(name, f"{what}: signal", kt["signal"], mt.signal)
            same(name, f"{what}: faults (minor, major)", (kt["minflt"], kt["majflt"]),
                 (mt.minflt, mt.majflt))
            # a null means the page was not read (a signal) or, past EOF, had no byte there
            k_no = f"not read ({kt['signal']})" if kt["signal"] else None
            m_no = f"not read ({mt.signal})" if mt.signal else None
            same(name, f"{what}: matches read(2)", _or(kt["matches_read"], k_no),
                 _or(mt.matches_read, m_no))
            same(name, f"{what}: zero past EOF",
                 _or(kt["zero_past_eof"], k_no or "no byte past EOF"),
                 _or(mt.zero_past_eof, m_no or "no byte past EOF"))
            same(name, f"{what}: cramfs log", _relative_log(kt["kernel_log"], k),
                 _relative_log(mt.kernel_log, m))
            if "maps" in kt:  # the split captures: the maps right after this access
                same(name, f"{what}: maps", _relative_maps(kt["maps"], k),
                     _relative_maps(mt.maps, m))
            pfn = mt.pagemap & PM_PFRAME_MASK if mt.pagemap & PM_PRESENT else None
            same(name, f"{what}: pagemap frame", _frame(kt["pfn"], flash), _frame(pfn, flash))
            key = (name, kt["page"], kt["kind"])
            if key in truth:
                same(name, f"{what}: matches the image", _or(truth[key], k_no),
                     _or(mt.matches_image, m_no))
    return rows


def capture_comparison(name: str = "xip-scenarios",
                       directory: pathlib.Path | str | None = None) -> list[FieldRow]:
    """Load capture ``name``, replay it on the model, and compare every field.

    Model helper: no kernel counterpart.
    """
    base = pathlib.Path(directory) if directory is not None else data_dir()
    capture = load_capture(name, base)
    system, runs = replay_capture(capture, base)
    return compare_capture(capture, system, runs, _content_checks(name, base))


def comparison_counts(rows: Sequence[FieldRow]) -> dict[str, tuple[int, int]]:
    """Scenario -> ``(fields compared, fields the same)``, in the capture's order.

    Model helper: no kernel counterpart.
    """
    out: dict[str, tuple[int, int]] = {}
    for row in rows:
        n, ok = out.get(row.scenario, (0, 0))
        out[row.scenario] = (n + 1, ok + row.same)
    return out


def format_counts(counts: Mapping[str, tuple[int, int]]) -> str:
    """:func:`comparison_counts` as lines, ``libc-past-xip  43 of 43 fields the same``, and a
    total.

    Model helper: no kernel counterpart.
    """
    lines = [f"{name:26} {same:3} of {_count(compared, 'field')} the same"
             for name, (compared, same) in counts.items()]
    compared = sum(c for c, _ in counts.values())
    same = sum(s for _, s in counts.values())
    lines.append(f"total: {same} of {_count(compared, 'field')} the same")
    return "\n".join(lines)


def format_rows(rows: Sequence[FieldRow], *, scenario_name: str | None = None,
                field_contains: str = "", only_different: bool = False,
                width: int = OUTPUT_WIDTH) -> str:
    """The rows as text, optionally filtered: per scenario a heading, then one field a line,
    its value once where the kernel and the model agree, ``kernel:`` and ``model:`` lines
    marked ``NO`` where they differ. Nothing is cut: a value of several lines (``maps``,
    ``smaps``: `` | ``-joined) gets a line each, and a value too long for the line goes under
    its field, wrapped at ``width`` characters between words. An empty selection says so.

    Model helper: no kernel counterpart.
    """
    chosen = [r for r in rows
              if (scenario_name is None or r.scenario == scenario_name)
              and field_contains in r.field and (r.same is False or not only_different)]
    if not chosen:
        what = "no field differs" if only_different else "no field matches"
        return f"{what} ({_count(len(rows), 'field')} compared)."
    name_w = max(len(r.field) for r in chosen) + 2
    room = width - 2 - name_w

    def value_lines(label: str, value: str) -> list[str]:
        parts = [f"{label}{part}" for part in value.split(" | ")]
        return [w for part in parts for w in textwrap.wrap(
            part, width - 6, subsequent_indent="  ", break_long_words=False,
            break_on_hyphens=False) or [part]]

    lines: list[str] = []
    for scenario_name_ in dict.fromkeys(r.scenario for r in chosen):
        mine = [r for r in chosen if r.scenario == scenario_name_]
        lines.append(f"{scenario_name_}: {_count(len(mine), 'field')}, "
                     f"{sum(r.same for r in mine)} the same on the kernel and the model")
        for r in mine:
            values = (value_lines("", r.kernel) if r.same else
                      value_lines("kernel: ", r.kernel) + value_lines("model:  ", r.model))
            mark = "  " if r.same else "NO"
            if all(len(v) <= room for v in values):
                lines.append(f"{mark}{r.field:{name_w}}{values[0]}")
                lines += [" " * (2 + name_w) + v for v in values[1:]]
            else:
                lines.append(f"{mark}{r.field}")
                lines += ["      " + v for v in values]
    lines.append(f"{_count(len(chosen), 'field')} shown, {sum(r.same for r in chosen)} the same.")
    return "\n".join(lines)

