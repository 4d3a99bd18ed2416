"""The same story on today's kernel: the model's 6.x mode made visible, and this machine's.

* :class:`LockTimelineExplorer`: two threads of one process on a time line, under v4.15 and
  under 6.12, each step coloured by the lock its thread holds (``mmap_sem`` for reading or
  writing, its VMA's own lock, none) and each step a thread could not run drawn hatched: who
  waits for whom. The schedules are the model's (:func:`mmlab.race.fair_schedule`).
* :func:`fault_trace`, :func:`format_traces`: one fault, the same call, in each era, side by
  side.
* :func:`race_rows`, :func:`format_race_rows`: the review's races, on v4.15 and on 6.12.
* :func:`two_threads`, :func:`format_two_threads`: two threads faulting on the kernel
  running the notebook (their own fault counts, ``/proc/self/smaps``, the per-VMA lock counters
  of ``/proc/vmstat`` where the kernel has them), next to the model of that kernel; stored in
  ``data/course/09/`` (:func:`write_course_data`) for where no Linux kernel runs.
* :func:`pfn_mixup`: what the 2025 cramfs bug handed ``vmf_insert_mixed``.

Model helper: no kernel counterpart (drawings of :mod:`mmlab.race` and the 6.x mode of the
model, :mod:`mmlab.version`).
"""

from __future__ import annotations

import ctypes
import json
import mmap
import os
import pathlib
import resource
import sys
import tempfile
import textwrap
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab import fault, procfs, trace, version, xip
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
)
from mmlab.filemap import generic_file_buffered_read
from mmlab.fs import file_from_bytes
from mmlab.live import real_mprotect, this_machine
from mmlab.mm import MM
from mmlab.mmap_lock import API_NAMES
from mmlab.physmem import PhysMem
from mmlab.race import (
    RACES,
    Fault,
    Mprotect,
    Munmap,
    Run,
    Step,
    ThreadSpec,
    explore,
    fair_schedule,
    steps_of,
)
from mmlab.scenarios import run_scenarios, scenario, scenario_image
from mmlab.system import System
from mmlab.viz.base import (
    Explorer,
    course_data,
    kernel_source,
    live_or_stored,
    load_stored,
    schematic_axes,
)
from mmlab.viz.compare import FieldRow, capture_scenarios, compare_capture
from mmlab.viz.style import (
    PALETTE,
    Kind,
    box_label,
    draw_legend,
    kind_collection,
    kind_patch,
    text_width,
)

__all__ = [
    "COURSE_DATA",
    "ERAS",
    "LOCK_KINDS",
    "SCENES",
    "STEP_NAMES_6_12",
    "TRACE_NAMES_6_12",
    "LockTimelineExplorer",
    "RaceRow",
    "Scene",
    "can_run_live",
    "capture_612_comparison",
    "fault_recording",
    "fault_trace",
    "format_race_rows",
    "format_traces",
    "format_two_threads",
    "live_two_threads",
    "lock_kinds",
    "pfn_mixup",
    "race_rows",
    "step_label",
    "stored_two_threads",
    "two_threads",
    "write_course_data",
]

#: Where the chapter's fallback data lives (``data/course/09/`` of the checkout).
COURSE_DATA = course_data("course", "09")

#: The two kernels the chapter compares: the one of the story and the one read for today.
ERAS: Mapping[str, version.Version] = MappingProxyType(
    {"v4.15": version.V4_15, "v6.12": version.V6_12})

#: How a step is drawn: by the lock its thread holds while it runs, or that it waits (v4.15's
#: words; :func:`lock_kinds` gives each era's).
LOCK_KINDS: Mapping[str, Kind] = MappingProxyType({k.key: k for k in (
    Kind("lock-write", "holds mmap_sem for writing", "#eeae80", "xx", "W"),
    Kind("lock-read", "holds mmap_sem for reading", PALETTE["file"], None, "R"),
    Kind("lock-vma", "holds only its VMA's lock", PALETTE["anon"], "..", "V"),
    Kind("lock-none", "runs, no lock", PALETTE["meta"], None, "-"),
    Kind("wait", "waits (blocked)", None, "////", "", dashed=True),
)})



def lock_kinds(era: str) -> Mapping[str, Kind]:
    """:data:`LOCK_KINDS` as the era's kernel names its lock: ``mmap_sem`` on v4.15,
    ``mmap_lock`` on 6.12 (renamed in v5.8).

    Model helper: no kernel counterpart.
    """
    if era == "v4.15":
        return LOCK_KINDS
    return MappingProxyType({key: replace(kind, label=kind.label.replace("mmap_sem", "mmap_lock"))
                             for key, kind in LOCK_KINDS.items()})


#: The model's step labels (:mod:`mmlab.race`) as 6.12's code names what they do: the
#: explorer shows these on v6.12. ``down_read`` is the step that takes the lock and looks the
#: VMA up, ``lock_mm_and_find_vma`` in 6.12 (`mm/memory.c @ v6.12.118 L6211
#: <https://elixir.bootlin.com/linux/v6.12.118/source/mm/memory.c#L6211>`_); the others are the
#: mmap locking API's wrappers (:data:`mmlab.mmap_lock.API_NAMES`).
STEP_NAMES_6_12: Mapping[str, str] = MappingProxyType({
    "down_read": "lock_mm_and_find_vma",
    "up_read": "mmap_read_unlock",
    "down_write_killable": "mmap_write_lock_killable",
    "downgrade_write": "mmap_write_downgrade",
})

def step_label(label: str, kernel: version.Version = version.V6_12) -> str:
    """A step label of :func:`mmlab.race.steps_of` (the model names its steps as v4.15's code
    does: ``down_read``, ``up_read``, ``down_write_killable``, ``downgrade_write``) as the
    code of ``kernel`` (a version, as ``steps_of`` takes it) names that step:
    :data:`STEP_NAMES_6_12` from 6.12 on, as the explorer shows them; the label itself on an
    older kernel.

    Model helper: no kernel counterpart.
    """
    return STEP_NAMES_6_12.get(label, label) if kernel >= version.V6_12 else label


#: Up to this many steps, every column of the time line has its number under it (more: every
#: fifth, so that the numbers stay readable).
NUMBER_EVERY_STEP = 20

#: The step the learner is on: an outline around its column.
CURRENT = Kind("current", "the step shown below", None, None, "", edge=PALETTE["highlight"],
               edge_width=2.0)


@dataclass(frozen=True)
class Scene:
    """A pair of threads the explorer runs, with the words for them.

    ``first``: per era, which thread runs alone until which of its steps before the scheduler
    goes round (so the story starts where it is interesting), or None.

    Model helper: no kernel counterpart.
    """

    title: str
    threads: tuple[ThreadSpec, ...]
    strategy: str
    names: tuple[str, ...]
    cached: tuple[int, ...] = ()
    before: tuple[Munmap | Mprotect, ...] = ()
    first: Mapping[str, tuple[int, str] | None] = field(
        default_factory=lambda: MappingProxyType({}))


#: The scenes of the explorer.
SCENES: Mapping[str, Scene] = MappingProxyType({s.title: s for s in (
    Scene("the 2017 handler splits libc; another thread writes to its heap",
          (Fault(3), Fault(1, region="anon", write=True)), "split",
          ("fault on libc page 3 (the handler)", "write to an anonymous page"),
          first=MappingProxyType({"v4.15": (0, "downgrade_write"),
                                  "v6.12": (0, "downgrade_write")})),
    Scene("mprotect splits libc while another thread faults on it",
          (Fault(4), Mprotect(3, 2)), "mixedmap", ("fault on libc page 4", "mprotect pages 3-4"),
          cached=(4,), first=MappingProxyType({"v4.15": (0, "up_read"),
                                               "v6.12": (0, "handle_mm_fault")})),
    Scene("two faults on two different VMAs",
          (Fault(4), Fault(1, region="anon", write=True)), "mixedmap",
          ("fault on libc page 4", "write to an anonymous page"), cached=(4,)),
)})


#: How much a hold lets a thread do, to pick the strongest it holds during a step.
_STRENGTH: Mapping[str, int] = MappingProxyType({"": 0, "vma": 1, "read": 2, "write": 3})


def _held_after(label: str, before: str) -> tuple[str, str]:
    """What a thread holds during a step named ``label`` and after it, from what it held
    before. One rule for every step: during the step it holds the strongest lock it has at any
    moment of it, so a step that takes a lock shows that lock, and a step that lets a lock go
    (``up_read``) or downgrades it (``downgrade_write``) shows the lock it held until the
    step's end. A system call's step takes ``mmap_sem`` for writing and lets it go within the
    step (v4.15: down_write, the change, up_write; 6.12 took it in ``mmap_write_lock`` before).
    """
    within = ""
    if label in ("down_read", "downgrade_write", "finish_fault"):
        after = "read"
    elif label in ("down_write_killable", "vma_start_write", "mmap_write_lock"):
        after = "write"
    elif label == "syscall":
        within, after = "write", ""
    elif label == "up_read" or (label == "handle_mm_fault" and before == "vma"):
        after = ""  # lets go at the end of the step (vma_end_read, for a VMA lock)
    else:
        after = before
    return max((before, within, after), key=_STRENGTH.__getitem__), after


class LockTimelineExplorer(Explorer):
    """Two threads of one process on a time line, on v4.15 or 6.12: who holds which lock, who
    waits (the chapter's picture of why per-VMA locks came).

    Controls: the scene, the kernel, and the step (a slider and two buttons); the text under
    the picture says what the current step does and who waits for what.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 3.9)

    def __init__(self, scene: str | None = None, era: str = "v4.15") -> None:
        super().__init__()
        self.scene = scene or next(iter(SCENES))
        if self.scene not in SCENES:
            raise KeyError(f"no scene {self.scene!r}; there are: {', '.join(SCENES)}")
        if era not in ERAS:
            raise KeyError(f"no era {era!r}: {', '.join(ERAS)}")
        self.era = era
        self._runs: dict[tuple[str, str], tuple[Run, list[Step]]] = {}
        self._held: dict[tuple[str, str, bool], list[list[str]]] = {}
        for name in SCENES:  # all six runs now (0.2 s), so that no change of a control waits
            for key in ERAS:
                self.timeline(name, key)
        self.index = 1

    # --- the model ---------------------------------------------------------------------------
    def timeline(self, scene: str | None = None, era: str | None = None
                 ) -> tuple[Run, list[Step]]:
        """The run of a scene on an era's kernel (the current ones by default), kept."""
        key = (scene or self.scene, era or self.era)
        if key not in self._runs:
            s = SCENES[key[0]]
            ver = ERAS[key[1]]
            schedule = fair_schedule(s.threads, s.strategy, version=ver, cached=s.cached,
                                     before=s.before, first=s.first.get(key[1]))
            self._runs[key] = steps_of(s.threads, s.strategy, schedule, version=ver,
                                       cached=s.cached, before=s.before)
        return self._runs[key]

    @property
    def run(self) -> Run:
        """The current scene's run on the current kernel."""
        return self.timeline()[0]

    @property
    def steps(self) -> list[Step]:
        """Its steps."""
        return self.timeline()[1]

    def held(self, before: bool = False) -> list[list[str]]:
        """For each step, what each thread holds while it runs (the running thread) or before
        (the others, including one that waits): "write", "read", "vma" or "". ``before``: what
        each thread held just before the step, the running one too (both kept per run)."""
        key = (self.scene, self.era, before)
        if key not in self._held:
            self._held[key] = self._compute_held(before)
        return [list(row) for row in self._held[key]]

    def _compute_held(self, before: bool) -> list[list[str]]:
        run, steps = self.timeline()
        now = ["" for _ in SCENES[self.scene].threads]
        out = []
        for k, step in enumerate(steps):
            if before:
                out.append(list(now))
            t = step.thread
            running, after = _held_after(step.label, now[t])
            locks = dict(steps[k + 1].vma_locks) if k + 1 < len(steps) else {}
            if t in locks and after not in ("read", "write"):  # lock_vma_under_rcu got it
                after = "vma"
                running = max((running, after), key=_STRENGTH.__getitem__)
            during = list(now)
            during[t] = running
            if not before:
                out.append(during)
            now[t] = after
        return out

    def lock_name(self) -> str:
        """The mm's lock as the current era names it: ``mmap_sem`` or ``mmap_lock``."""
        return "mmap_sem" if self.era == "v4.15" else "mmap_lock"

    def step_name(self, label: str, thread: int) -> str:
        """A step's label as the current era's code names it (:data:`STEP_NAMES_6_12` on
        6.12); a system call's step says which call and what it does with the lock."""
        spec = SCENES[self.scene].threads[thread]
        if label == "syscall":
            call = spec.label.split(" ")[0] if not isinstance(spec, Fault) else "syscall"
            if self.era == "v4.15":
                return f"{call} (down_write, changes the VMAs, up_write)"
            return f"{call} (vma_start_write, changes the VMAs, mmap_write_unlock)"
        if label == "mmap_write_lock":
            return "mmap_write_lock (for the " + spec.label.split(" ")[0] + ")"
        return step_label(label, ERAS[self.era])

    def why(self, k: int, thread: int) -> str:
        """Why ``thread`` cannot run at step ``k`` (from 0): what it is about to do, the lock it
        waits for and who holds it."""
        step = self.steps[k]
        label = step.pending[thread] or ""
        held = self.held(before=True)[k]  # the lock state that kept it from running
        threads = SCENES[self.scene].threads
        lock = self.lock_name()

        def holders(modes: tuple[str, ...]) -> str:
            found = [f"thread {t}" + ("'s fault" if isinstance(threads[t], Fault) else "")
                     for t, h in enumerate(held) if t != thread and h in modes]
            return " and ".join(found) or "another thread"

        def how() -> str:
            modes = {h for t, h in enumerate(held) if t != thread and h in ("read", "write")}
            return "for writing" if modes == {"write"} else "for reading" if modes else ""

        if label in ("down_read", "down_write_killable", "mmap_write_lock"):
            name = self.step_name(label, thread).split(" (")[0]
            return f"{name}: {lock} is held {how() or f'({step.mmap_sem})'} by " \
                   f"{holders(('read', 'write'))}"
        if label == "syscall" and self.era == "v4.15":
            return f"down_write: mmap_sem is held {how()} by {holders(('read', 'write'))}"
        if label in ("syscall", "vma_start_write"):
            readers = ", ".join(f"thread {t}'s fault ({where})" for t, where in step.vma_locks
                                if t != thread) or "a fault"
            also = (f"; thread {thread} holds {lock} for writing meanwhile"
                    if held[thread] == "write" else "")
            return f"vma_start_write: {readers} holds the VMA's read lock{also}"
        if label == "lock_page":
            return "lock_page: another fault is reading the page"
        return label

    def waits(self, thread: int) -> int:
        """How many steps ``thread`` had something to do but could not run."""
        return sum(thread in step.waiting() for step in self.steps)

    # --- controls ----------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Scene, kernel, step."""
        return {
            "scene": widgets.Dropdown(options=list(SCENES), value=self.scene,
                                      description="threads",
                                      layout=widgets.Layout(width="520px")),
            # its label and buttons on one line, which wraps as a whole (JupyterLab draws a
            # ToggleButtons as a block: the label ended one line, the buttons began the next)
            "era": widgets.ToggleButtons(options=list(ERAS), value=self.era,
                                         description="kernel",
                                         style={"button_width": "70px"},
                                         layout=widgets.Layout(display="flex",
                                                               flex_flow="row nowrap",
                                                               align_items="center",
                                                               flex="0 0 auto", width="auto")),
            "previous": widgets.Button(description="◀ step"),
            "next": widgets.Button(description="step ▶"),
            "step": widgets.IntSlider(value=self.index, min=1, max=len(self.steps),
                                      description="step"),
        }

    def on_change(self, name: str, value: object) -> None:
        """A new scene or kernel shows its whole run; the slider picks a step."""
        if name == "scene":
            self.scene = str(value)
        elif name == "era":
            self.era = str(value)
        if name in ("scene", "era"):
            self.index = min(self.index, len(self.steps))
            self._sync()
        elif name == "step":
            self.index = int(value)  # type: ignore[call-overload]

    def on_press(self, name: str) -> None:
        """One step back or forward."""
        self.index = max(1, min(len(self.steps), self.index + (1 if name == "next" else -1)))
        self._sync()

    def _sync(self) -> None:
        with self.quietly():
            slider = self.controls["step"]
            slider.max = len(self.steps)  # type: ignore[attr-defined]
            slider.value = self.index  # type: ignore[attr-defined]

    # --- drawing -----------------------------------------------------------------------------
    def draw(self, fig: Figure) -> None:
        """Two lanes of boxes, one column per step; the current step outlined; the legend."""
        ax = schematic_axes(fig, ylim=(0, 14))
        scene = SCENES[self.scene]
        steps = self.steps
        held = self.held()
        ax.text(1, 13.2, f"{self.era}: {scene.title}", fontsize=9, weight="bold",
                color=PALETTE["text"], va="center")
        left, right = 23.0, 99.0
        width = (right - left) / len(steps)
        lanes = {0: (9.2, 11.4), 1: (5.6, 7.8)}
        for t, (y0, y1) in lanes.items():
            ax.text(1, (y0 + y1) / 2 + 0.55, f"thread {t}", fontsize=8, weight="bold",
                    color=PALETTE["text"], va="center")
            ax.text(1, (y0 + y1) / 2 - 0.55, _short(ax, scene.names[t], 21), fontsize=7,
                    color=PALETTE["muted"], va="center")
        kinds = lock_kinds(self.era)
        boxes: dict[str, list[Rectangle]] = {k: [] for k in kinds}
        for k, step in enumerate(steps):
            x = left + k * width
            for t, (y0, y1) in lanes.items():
                kind = {"write": "lock-write", "read": "lock-read", "vma": "lock-vma"}.get(
                    held[k][t], "lock-none")
                height = y1 - y0
                if t in step.waiting():  # hatched; a lock it holds meanwhile shows under it
                    boxes["wait"].append(Rectangle((x + width * 0.08, y0), width * 0.84,
                                                   height))
                    if kind == "lock-none":
                        continue
                    height *= 0.35
                elif t != step.thread:  # holds its lock while the other thread runs
                    if kind == "lock-none":
                        continue
                    height *= 0.35
                boxes[kind].append(Rectangle((x + width * 0.08, y0), width * 0.84, height))
        for key, rects in boxes.items():
            if rects:
                ax.add_collection(kind_collection(rects, kinds[key]))
        current = self.index - 1
        ax.add_patch(kind_patch((left + current * width, 5.2), width, 6.6, CURRENT,
                                facecolor="none"))
        for k in range(0, len(steps), 1 if len(steps) <= NUMBER_EVERY_STEP else 5):
            box_label(ax, (left + k * width, 4.4, left + (k + 1) * width, 5.1), str(k + 1),
                      fontsize=6.5, color=PALETTE["muted"])
        for row, words in enumerate((
                "steps, in the order they ran; a tall box: the thread runs that step, in the "
                "colour of the strongest lock it holds during it,",
                "a lock it lets go (or downgrades) at the step's end included; a short box: it "
                "holds that lock while the other thread runs")):
            ax.text(left, 4.0 - 0.62 * row, words, fontsize=7, color=PALETTE["muted"],
                    va="top")
        shown = [kinds[k] for k, rects in boxes.items() if rects] + [CURRENT]
        draw_legend(ax, shown, 1, 2.3, right=99, fontsize=7)
        step = steps[current]
        line = f"step {self.index}: thread {step.thread} {self.step_name(step.label, step.thread)}"
        waiting = step.waiting()
        if waiting:
            line += f"; thread {waiting[0]} waits ({self.why(current, waiting[0])})"
        ax.text(1, 0.5, _short(ax, line, 98), fontsize=7.5, color=PALETTE["text"],
                va="center")

    def describe(self) -> str:
        """The run in words: each thread's outcome and waits, then every step (the current one
        marked)."""
        run, steps = self.timeline()
        lines = [f"{self.era}, {self.scene}: {len(steps)} steps"]
        for t, outcome in enumerate(run.outcomes):
            minor, major = run.faults[t]
            waits = self.waits(t)
            lines.append(f"  thread {t} ({SCENES[self.scene].names[t]}): {outcome}; waited "
                         f"{waits} step{'' if waits == 1 else 's'}; faults counted: {minor} "
                         f"minor, {major} major")
        for problem in run.broken:
            lines.append(f"  BROKEN: {problem}")
        lines.append(f"the steps (▶ the one outlined in the picture, step {self.index}):")
        for k, step in enumerate(steps):
            extra = ""
            if step.waiting():
                extra = f"   (thread {step.waiting()[0]} waits: {self.why(k, step.waiting()[0])})"
            mark = "▶" if k + 1 == self.index else " "
            lines.append(f" {mark}{k + 1:2}. thread {step.thread}: "
                         f"{self.step_name(step.label, step.thread)}{extra}")
        return "\n".join(lines)


def _short(ax: Axes, text: str, width: float) -> str:
    """``text`` cut with "…" to fit ``width`` data units at 7-7.5 pt."""
    if text_width(ax, text, 7.5) <= width:
        return text
    while len(text) > 1 and text_width(ax, text + "…", 7.5) > width:
        text = text[:-1].rstrip()
    return text + "…"


# --- one fault in each era --------------------------------------------------------------------
def fault_trace(era: str, strategy: str = "mixedmap", page: int = 4,
                cached: tuple[int, ...] = ()) -> tuple[list[tuple[int, str]], fault.FaultResult,
                                                       dict[str, int]]:
    """One read of ``page`` of libc (the ``libc-past-xip`` scenario, mounted under
    ``strategy``) on a fresh machine of ``era``: the traced calls ``(depth, name)``, the
    result, and the machine's ``/proc/vmstat`` counters afterwards.

    Model helper: no kernel counterpart.
    """
    rec, res, vmstat = fault_recording(era, strategy, page, cached, snapshots=False)
    return [(s.depth, s.name) for s in rec.steps], res, vmstat


def fault_recording(era: str, strategy: str = "mixedmap", page: int = 4,
                    cached: tuple[int, ...] = (), *, snapshots: bool = True
                    ) -> tuple[trace.Recorder, fault.FaultResult, dict[str, int]]:
    """:func:`fault_trace` with the whole recording (for :class:`~mmlab.viz.stepper.TraceStepper`).

    Model helper: no kernel counterpart.
    """
    system = System(version=ERAS[era])
    sb = xip.mount(scenario_image(), None, strategy, system=system)
    mm = MM(system)
    sc = scenario("libc-past-xip")
    file = sb.open(sc.path)
    for p in cached:
        generic_file_buffered_read(file, sc.offset + p * PAGE_SIZE, PAGE_SIZE,
                                   physmem=system.physmem)
    addr = mm.mmap(0, sc.length, sc.prot, sc.flags, file, sc.offset)
    with trace.record(snapshots=snapshots) as rec:
        res = fault.do_page_fault(mm, addr + page * PAGE_SIZE)
    return rec, res, dict(system.vmstat)


#: Calls left out of the side-by-side traces (page-cache plumbing, the same in both eras).
PLUMBING = frozenset({"find_get_page", "add_to_page_cache_lru", "__handle_mm_fault",
                      "handle_pte_fault"})

#: The model's functions that 6.12 has under another name (the model keeps v4.15's): the x86
#: handler, the read of a cold page-cache page (6.12's filemap_fault puts the folio in the cache
#: itself, then reads it) and cramfs's read of a page. :func:`format_traces` shows 6.12's names
#: in its 6.12 column, and says so. In 6.12: ``do_user_addr_fault`` (`arch/x86/mm/fault.c
#: @ v6.12.118 L1209 <https://elixir.bootlin.com/linux/v6.12.118/source/arch/x86/mm/fault.c#L1209>`_),
#: ``filemap_read_folio`` (`mm/filemap.c @ v6.12.118 L2373
#: <https://elixir.bootlin.com/linux/v6.12.118/source/mm/filemap.c#L2373>`_), ``cramfs_read_folio``
#: (`fs/cramfs/inode.c @ v6.12.118 L821
#: <https://elixir.bootlin.com/linux/v6.12.118/source/fs/cramfs/inode.c#L821>`_).
TRACE_NAMES_6_12: Mapping[str, str] = MappingProxyType({
    "do_page_fault": "do_user_addr_fault",
    "page_cache_read": "filemap_read_folio",
    "cramfs_readpage": "cramfs_read_folio",
})


def _names_6_12(calls: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """A 6.12 trace with 6.12's names (:data:`TRACE_NAMES_6_12`), and the x86 handler's
    taking of ``mmap_lock`` and ``find_vma`` (depth 1) shown inside ``lock_mm_and_find_vma``,
    the function 6.12 does them in."""
    out: list[tuple[int, str]] = []
    k = 0
    while k < len(calls):
        depth, name = calls[k]
        if depth == 1 and name.startswith(("mmap_read_trylock", "mmap_read_lock")):
            end = k
            while calls[end][1] != "find_vma":
                end += 1
            out.append((1, "lock_mm_and_find_vma"))
            out += [(d + 1, n) for d, n in calls[k:end + 1]]
            k = end + 1
            continue
        out.append((depth, TRACE_NAMES_6_12.get(name, name)))
        k += 1
    return out


def format_traces(strategy: str = "mixedmap", page: int = 4, cached: tuple[int, ...] = (),
                  width: int = 44) -> str:
    """The same fault traced on v4.15 and on 6.12, one call a line, side by side; the 6.12
    column in 6.12's names (:func:`_names_6_12`; a note under it lists them).

    Model helper: no kernel counterpart.
    """
    cols, feet = [], []
    renamed: set[str] = set()
    for era in ERAS:
        calls, res, vmstat = fault_trace(era, strategy, page, cached)
        head = f"{era}:"
        if era != "v4.15":
            renamed |= {name for _, name in calls if name in TRACE_NAMES_6_12}
            calls = _names_6_12(calls)
            head = f"{era} (in 6.12's names):"
        cols.append([head] + [f"{'  ' * min(d, 6)}{name}" for d, name in calls
                              if name not in PLUMBING])
        feet.append([f"major={res.major} retries={res.retries}",
                     f"under the VMA lock to the end: {res.vma_lock}",
                     ", ".join(f"{k} {v}" for k, v in sorted(vmstat.items()))])
    height = max(len(c) for c in cols)
    cols = [c + [""] * (height - len(c)) + foot for c, foot in zip(cols, feet, strict=True)]
    rows = max(len(c) for c in cols)
    out = []
    for i in range(rows):
        a = cols[0][i] if i < len(cols[0]) else ""
        b = cols[1][i] if i < len(cols[1]) else ""
        out.append(f"{a[:width]:<{width}}  {b}".rstrip())
    note = _trace_note(renamed, {name for line in cols[1] for name in line.split()})
    if note:
        out += [""] + textwrap.wrap(note, 2 * width + 2)
    return "\n".join(out)


def _trace_note(renamed: set[str], shown: set[str]) -> str:
    """The note under the traces: which of the 6.12 column's calls the model names otherwise,
    only for the calls ``shown`` in that column (``renamed``: the model's names it replaced)."""
    parts = []
    names = ", ".join(f"{a} → {TRACE_NAMES_6_12[a]}" for a in TRACE_NAMES_6_12 if a in renamed)
    if names:
        parts.append("the model's names → 6.12's: " + names)
    if "lock_mm_and_find_vma" in shown:
        parts.append("the lock taken and find_vma are in lock_mm_and_find_vma")
    api = ", ".join(f"{new} for {old}" for old, new in API_NAMES.items()
                    if " " not in old and new in shown)
    if api:
        parts.append(f"the lock's calls are the mmap_lock API's ({api})")
    return "6.12 column, " + "; ".join(parts) + "." if parts else ""


# --- the review's races in each era -----------------------------------------------------------
@dataclass(frozen=True)
class RaceRow:
    """One race under one strategy: broken interleavings of all, per era.

    Model helper: no kernel counterpart.
    """

    race: str
    strategy: str
    old: tuple[int, int]
    new: tuple[int, int]


def race_rows(names: tuple[str, ...] = ("munmap in the window", "mprotect in the window",
                                        "remap in the window", "mremap in the window",
                                        "mremap of the same file"),
              strategies: tuple[str, ...] = ("split", "split-v3"),
              cached: tuple[int, ...] = ()) -> list[RaceRow]:
    """Explore each race of :data:`mmlab.race.RACES` under each strategy on v4.15 and 6.12.

    Model helper: no kernel counterpart.
    """
    rows = []
    for name in names:
        for strategy in strategies:
            counts = []
            for ver in ERAS.values():
                rep = explore(RACES[name], strategy, version=ver, cached=cached)
                counts.append((rep.broken_runs, rep.interleavings))
            rows.append(RaceRow(name, strategy, counts[0], counts[1]))
    return rows


def format_race_rows(rows: list[RaceRow]) -> str:
    """The rows as a table: broken of all, on each kernel.

    Model helper: no kernel counterpart.
    """
    out = [f"{'race':25} {'strategy':9} {'v4.15 broken':>13} {'v6.12 broken':>13}"]
    for r in rows:
        out.append(f"{r.race:25} {r.strategy:9} {f'{r.old[0]} of {r.old[1]}':>13} "
                   f"{f'{r.new[0]} of {r.new[1]}':>13}")
    return "\n".join(out)


# --- cramfs's XIP today -----------------------------------------------------------------------
def pfn_mixup(phys: int = 0x1000_0000) -> dict[str, int]:
    """What ``vmf_insert_mixed`` needs (a frame number) and what cramfs passed it in 6.17.0-2
    (a physical address): the XIP page at ``phys`` and the frame the bug asked for instead.

    Commit 21aa65bf82a7 "mm: remove callers of pfn_t functionality" (v6.17) replaced
    ``phys_to_pfn_t(address + off, 0)`` by ``address + off``; commit 20a8e0454d83 "cramfs: fix
    incorrect physical page address calculation" made it ``PHYS_PFN(address + off)``.

    Model helper: no kernel counterpart.
    """
    right = phys >> PAGE_SHIFT
    return {"phys": phys, "right_pfn": right, "passed": phys,
            "mapped_phys": phys << PAGE_SHIFT}


# --- the model against Debian's 6.12 ----------------------------------------------------------
def capture_612_comparison(era: str = "v6.12") -> list[FieldRow]:
    """``data/kernel-captures-612/``, what Debian's 6.12 kernel did with the course's XIP
    scenarios (``tools/kernel-captures-612/``), replayed on a model machine of ``era`` laid out
    like the guest, every field compared (as :func:`mmlab.viz.compare.capture_comparison` does
    for the 6.1 captures).

    Model helper: no kernel counterpart.
    """
    base = course_data("kernel-captures-612")
    capture = json.loads((base / "xip-scenarios.json").read_text())
    image = (base / capture["image"]).read_bytes()
    phys = capture["phys_addr"]
    system = System(version=ERAS[era], physmem=PhysMem(flash_phys=phys, flash_size=32 << 20))
    runs = run_scenarios(capture_scenarios(capture), "mixedmap", image=image, system=system,
                         phys_addr=phys, mtd_name=capture["mtd_name"])
    checks = json.loads((base / "xip-scenarios.content-checks.json").read_text())
    return compare_capture(capture, system, runs, checks)


# --- the learner's own kernel -----------------------------------------------------------------
#: Pages each thread touches.
PAGES = 8


def can_run_live() -> bool:
    """Is this a Linux machine with ``/proc`` and per-thread resource usage (not a browser)?

    Model helper: no kernel counterpart.
    """
    return (sys.platform == "linux" and os.path.exists("/proc/self/smaps")
            and hasattr(resource, "RUSAGE_THREAD"))


def _usage() -> tuple[int, int]:
    r = resource.getrusage(resource.RUSAGE_THREAD)  # type: ignore[attr-defined]
    return r.ru_minflt, r.ru_majflt


def _vma_lock_counters() -> dict[str, int]:
    with open("/proc/vmstat") as f:
        rows = dict(line.split() for line in f if line.strip())
    return {k: int(v) for k, v in rows.items() if k.startswith("vma_lock")}


def _sum_smaps(entries: list[dict[str, int | str]], start: int, end: int) -> dict[str, int]:
    """Rss and Anonymous (kB) of the entries that overlap ``[start, end)``."""
    rows = [e for e in entries if int(e["start"]) < end and int(e["end"]) > start]
    return {key: sum(int(e[key]) for e in rows) for key in ("Rss", "Anonymous")}


def live_two_threads() -> dict[str, object]:
    """Two threads of this Python process fault on this machine's kernel (Python's global
    interpreter lock lets one of them run at a time, so their faults do not overlap): one writes
    every page of a fresh anonymous mapping (eight pages between two ``PROT_NONE`` guard pages,
    a VMA of its own), the other reads every page of a file mapping (a
    file just written, so its pages are in the page cache). Each counts its own faults
    (``getrusage(RUSAGE_THREAD)``); then ``/proc/self/smaps`` of both mappings and the
    ``vma_lock_*`` counters of ``/proc/vmstat`` (present only with
    ``CONFIG_PER_VMA_LOCK_STATS``). The model of this kernel (:func:`mmlab.live.this_machine`)
    runs the same accesses at the same addresses. Raises :class:`OSError` where no real kernel
    can run it.

    Model helper: no kernel counterpart.
    """
    if not can_run_live():
        raise OSError("needs a Linux kernel with /proc and RUSAGE_THREAD")
    length = PAGES * PAGE_SIZE
    data = bytes(range(256)) * (length // 256)
    fd, path = tempfile.mkstemp(prefix="mmlab-ch09-")
    try:
        os.write(fd, data)
        os.fsync(fd)
        # 8 pages between two PROT_NONE guard pages: a VMA of their own (no merge with a
        # neighbour), so that smaps counts exactly them
        region = mmap.mmap(-1, length + 2 * PAGE_SIZE,
                           flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        base = _address(region)
        for guard in (base, base + length + PAGE_SIZE):
            if real_mprotect(guard, PAGE_SIZE, PROT_NONE):
                raise OSError("mprotect of a guard page failed")
        anon = memoryview(region)[PAGE_SIZE:PAGE_SIZE + length]
        # writable (private: nothing reaches the file) only so that ctypes can take its address
        mapped = mmap.mmap(fd, length, flags=mmap.MAP_PRIVATE,
                           prot=mmap.PROT_READ | mmap.PROT_WRITE)
        addrs = {"anon": base + PAGE_SIZE, "file": _address(mapped)}
        counts: dict[str, tuple[int, int]] = {}
        before = _vma_lock_counters()

        def writer() -> None:
            start = _usage()
            for i in range(PAGES):
                anon[i * PAGE_SIZE] = 1
            end = _usage()
            counts["anon"] = (end[0] - start[0], end[1] - start[1])

        def reader() -> None:
            start = _usage()
            total = 0
            for i in range(PAGES):
                total += mapped[i * PAGE_SIZE]
            end = _usage()
            counts["file"] = (end[0] - start[0], end[1] - start[1])

        threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        after = _vma_lock_counters()
        real = procfs.read_smaps()
        smaps = {k: _sum_smaps(real, a, a + length) for k, a in addrs.items()}
        model = _model_two_threads(addrs, data)
        anon.release()
        region.close()
        mapped.close()
    finally:
        os.close(fd)
        os.unlink(path)
    release = os.uname().release
    return {"source": "live", "machine": f"Linux {release}", "release": release,
            "threads": {k: list(v) for k, v in counts.items()},
            "smaps": smaps,
            "vma_lock_counters": {k: after[k] - before.get(k, 0) for k in after},
            "model": model}


def _address(m: mmap.mmap) -> int:
    return ctypes.addressof(ctypes.c_char.from_buffer(m))


def _model_two_threads(addrs: dict[str, int], data: bytes) -> dict[str, object]:
    """The same accesses on the model of this machine's kernel, at the same addresses."""
    system = this_machine()
    mm = MM(system)
    length = len(data)
    file = file_from_bytes(data, "/tmp/mmlab-ch09", system=system)
    generic_file_buffered_read(file, 0, length, physmem=system.physmem)  # just written: cached
    region = addrs["anon"] - PAGE_SIZE
    mm.mmap(region, length + 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
            MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    for guard in (region, region + length + PAGE_SIZE):
        mm.mprotect(guard, PAGE_SIZE, PROT_NONE)
    mm.mmap(addrs["file"], length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, file, 0)
    out: dict[str, object] = {"version": f"{system.version[0]}.{system.version[1]}",
                              "per_vma_locks": mm.per_vma_locks}
    counts = {}
    under_vma_lock = {}
    for name, write in (("anon", True), ("file", False)):
        before = (mm.min_flt, mm.maj_flt)
        locked = faulted = 0
        for i in range(PAGES):
            res = fault.do_page_fault(mm, addrs[name] + i * PAGE_SIZE, write=write)
            locked += res.vma_lock
            faulted += not res.no_fault
        counts[name] = [mm.min_flt - before[0], mm.maj_flt - before[1]]
        under_vma_lock[name] = [locked, faulted]
    out["threads"] = counts
    out["under_vma_lock"] = under_vma_lock
    entries = [procfs.smaps_entry(vma) for vma in mm]
    out["smaps"] = {name: _sum_smaps(entries, addr, addr + length) for name, addr in addrs.items()}
    out["vma_lock_counters"] = {k: v for k, v in system.vmstat.items() if k.startswith("vma_lock")}
    return out


def stored_two_threads(directory: pathlib.Path | str = COURSE_DATA) -> dict[str, object]:
    """The comparison as stored in ``two-threads.json`` (made by :func:`write_course_data`).

    Model helper: no kernel counterpart.
    """
    return load_stored(pathlib.Path(directory) / "two-threads.json")


def two_threads() -> dict[str, object]:
    """Live where a real Linux kernel runs this notebook, else the stored capture.

    Model helper: no kernel counterpart.
    """
    return live_or_stored(live_two_threads, stored_two_threads, available=can_run_live())


def format_two_threads(data: dict[str, object]) -> str:
    """The kernel's counts next to the model's, one line each.

    Model helper: no kernel counterpart.
    """
    where = kernel_source(data)
    model = data["model"]
    assert isinstance(model, dict)
    threads, smaps = data["threads"], data["smaps"]
    assert isinstance(threads, dict) and isinstance(smaps, dict)
    rules = ("6.x rules (read from 6.12)" if model["per_vma_locks"] else
             f"v4.15's rules and the later changes it knows up to {model['version']}")
    lines = [f"kernel: {where} ({data['release']}); model: {rules}, "
             f"per-VMA locks: {'yes' if model['per_vma_locks'] else 'no'}", "",
             f"{'':38}{'kernel':>18}{'model':>18}"]
    for name, what in (("anon", "thread 0 writes 8 anonymous pages"),
                       ("file", "thread 1 reads 8 cached file pages")):
        k, m = threads[name], model["threads"][name]
        lines.append(f"{what:38}{f'{k[0]} minor, {k[1]} major':>18}"
                     f"{f'{m[0]} minor, {m[1]} major':>18}")
    for name in ("anon", "file"):
        for key in ("Rss", "Anonymous"):
            k_val = smaps[name].get(key, 0)
            m_val = model["smaps"][name][key]
            lines.append(f"{f'smaps, {name} mapping, {key}':38}{f'{k_val} kB':>18}"
                         f"{f'{m_val} kB':>18}")
    counters = data["vma_lock_counters"]
    assert isinstance(counters, dict)
    if counters:
        lines.append("/proc/vmstat (during the two threads): "
                     + ", ".join(f"{k} +{v}" for k, v in sorted(counters.items())))
    else:
        lines.append("/proc/vmstat has no vma_lock_* counters: this kernel was built without "
                     "CONFIG_PER_VMA_LOCK_STATS")
    lines.append("model: faults finished under the VMA lock: "
                 + ", ".join(f"{k} {v[0]} of {v[1]}" for k, v in model["under_vma_lock"].items())
                 + "; model's counters: "
                 + (", ".join(f"{k} {v}" for k, v in sorted(model["vma_lock_counters"].items()))
                    or "none (no per-VMA locks)"))
    return "\n".join(lines)


def write_course_data(directory: pathlib.Path | str = COURSE_DATA) -> list[pathlib.Path]:
    """Regenerate ``data/course/09/`` (needs a Linux kernel): ``two-threads.json``.

    Model helper: no kernel counterpart.
    """
    data = live_two_threads()
    data.pop("source")
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    out = path / "two-threads.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    return [out]

