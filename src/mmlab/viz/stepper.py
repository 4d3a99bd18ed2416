"""Step through a recorded trace: each call, the mmap lock, the VMAs and the PTEs at that moment.

:class:`TraceStepper` takes a :class:`~mmlab.trace.Recorder` filled by ``with trace.record() as
t: ...`` and shows one step at a time: the calls around it indented by depth (a call graph),
the state of ``mmap_sem``, the VMA strip when the call was entered and when it returned
(drawn by :func:`mmlab.viz.addrspace.draw_address_space`, on one placement for the whole trace
so boxes do not jump), and the present PTEs. It works for any trace: an ``mprotect`` that
splits a VMA, a page fault, the cramfs fault-time split.

Calls that do not work on an mm (a page-cache lookup) have no snapshot of their own; the
stepper then shows the last state recorded before them, and says so.

Model helper: no kernel counterpart (ftrace's function graph tracer is the closest).
"""

from __future__ import annotations

import functools

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from mmlab.mm_types import MmStruct, Vma, VmFault
from mmlab.trace import MmSnapshot, Recorder, Step
from mmlab.viz.addrspace import (
    StripLayout,
    draw_address_space,
    render_fast,
    strip_layout,
    vma_boxes,
)
from mmlab.viz.base import PALETTE, Explorer, schematic_axes

__all__ = ["TraceStepper", "format_arg", "step_address", "step_states"]

#: How many calls of the call graph the picture shows around the current one.
WINDOW = 9

#: How many PTEs the picture lists (the text lists them all).
PTE_LINES = 4


def format_arg(value: object, when: MmSnapshot | None = None) -> str:
    """A short text for a traced argument or result (``mm``, ``vma[start-end]``, hex addresses).

    A trace keeps references to the VMAs it was given, not copies, and a VMA may have changed
    since (a split shrinks it). With ``when`` (the snapshot of the moment of the call) a VMA is
    shown with the range it had then, found by its ``vm_start``; if no VMA of the snapshot
    starts there, it is shown as plain ``vma`` rather than with a range it may not have had.

    Model helper: no kernel counterpart.
    """
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:#x}" if value >= 4096 else str(value)
    if isinstance(value, MmStruct):
        return "mm"
    if isinstance(value, Vma):
        if when is None:
            return f"vma[{value.vm_start:x}-{value.vm_end:x}]"
        then = [v for v in when.vmas if v.vm_start == value.vm_start]
        return f"vma[{then[0].vm_start:x}-{then[0].vm_end:x}]" if then else "vma"
    if isinstance(value, VmFault):
        return f"vmf@{value.address:#x}"
    if isinstance(value, str):
        return repr(value)
    return type(value).__name__.lower()


def step_address(step: Step) -> int | None:
    """The address a step works on, if it has one (``addr``, ``address``, ``start``, a vmf's).

    Model helper: no kernel counterpart.
    """
    for name in ("address", "addr", "start"):
        value = step.args.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    for value in step.args.values():
        if isinstance(value, VmFault):
            return value.address
    return None


def step_states(steps: tuple[Step, ...]) -> list[tuple[MmSnapshot | None, MmSnapshot | None]]:
    """For each step, the mm's state when it was entered and when it returned.

    The steps are in call order; their depths give the returns. Walking entries and returns
    in time order, a step without a snapshot of its own (no mm among its arguments) gets the
    last snapshot taken before that moment.

    Model helper: no kernel counterpart.
    """
    states: list[list[MmSnapshot | None]] = [[None, None] for _ in steps]
    last: MmSnapshot | None = None
    stack: list[int] = []

    def leave(index: int) -> None:
        nonlocal last
        snap = steps[index].after
        last = snap if snap is not None else last
        states[index][1] = last

    for i, step in enumerate(steps):
        while stack and steps[stack[-1]].depth >= step.depth:
            leave(stack.pop())
        last = step.before if step.before is not None else last
        states[i][0] = last
        stack.append(i)
    while stack:
        leave(stack.pop())
    return [(a, b) for a, b in states]


@functools.lru_cache(maxsize=8)
def _lp_height(size: float) -> float:
    """Height in points of a line of monospace text at ``size``, as matplotlib spaces lines."""
    _, height, _ = TextToPath().get_text_width_height_descent(
        "lp", FontProperties(family="monospace", size=size), ismath=False)
    return height


def _line_height(ax: Axes, size: float) -> float:
    """The distance between two lines of monospace text at ``size``, in data units of ``ax``."""
    fig = ax.figure
    px_per_unit = (ax.get_position().height * fig.get_figheight() * fig.dpi
                   / (ax.get_ylim()[1] - ax.get_ylim()[0]))
    return _lp_height(size) * fig.dpi / 72 / px_per_unit


class TraceStepper(Explorer):
    """Previous / next / a slider over the steps of a recorded trace.

    The picture shows the call graph around the current step, ``mmap_sem`` at entry and on
    return, the VMA strip at both moments (the step's address marked) and the present PTEs;
    the text says ``step i/n: name(args) lock=...``, the result, and the VMAs and PTEs.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 4.0)

    def __init__(self, recorder: Recorder, *, start: int = 0) -> None:
        super().__init__()
        self.steps = tuple(recorder.steps)
        if not self.steps:
            raise ValueError("the recording has no steps: call something inside trace.record()")
        self.states = step_states(self.steps)
        self.index = max(0, min(start, len(self.steps) - 1))
        self._layout: StripLayout | None = None
        self._pictures: dict[tuple[int, str], bytes] = {}
        self._indent = 0

    # --- controls ----------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Previous, next, and a slider over the steps (numbered from 1)."""
        return {
            "previous": widgets.Button(description="◀ previous"),
            "next": widgets.Button(description="next ▶"),
            "step": widgets.IntSlider(value=self.index + 1, min=1, max=len(self.steps),
                                      description="step"),
        }

    def on_change(self, name: str, value: object) -> None:
        """The slider moved."""
        if name == "step":
            self.index = int(value) - 1  # type: ignore[call-overload]

    def on_press(self, name: str) -> None:
        """One step back or forward (the slider follows)."""
        delta = -1 if name == "previous" else 1
        self.go(self.index + delta)

    def go(self, index: int) -> None:
        """Show step ``index`` (from 0; clamped)."""
        self.index = max(0, min(index, len(self.steps) - 1))
        slider = self.controls["step"]
        if slider.value != self.index + 1:
            slider.value = self.index + 1

    # --- what it shows -----------------------------------------------------------------------
    @property
    def step(self) -> Step:
        """The current step."""
        return self.steps[self.index]

    def layout(self) -> StripLayout:
        """One placement for every snapshot of the trace (computed once)."""
        if self._layout is None:
            boxes = {b for pair in self.states for snap in pair if snap is not None
                     for b in vma_boxes(snap.vmas)}
            extra = [a for s in self.steps if (a := step_address(s)) is not None]
            self._layout = strip_layout(sorted(boxes, key=lambda b: b.start), 34, 98, extra)
        return self._layout

    def headline(self) -> str:
        """``step i/n: name(args) lock=...``."""
        s = self.step
        when = self.states[self.index][0]
        args = ", ".join(f"{k}={format_arg(v, when)}" for k, v in s.args.items())
        return f"step {self.index + 1}/{len(self.steps)}: {s.name}({args}) lock={s.lock}"

    def outcome(self) -> str:
        """What the current call returned (or raised)."""
        s = self.step
        if s.error is not None:
            return f"raised {type(s.error).__name__}: {s.error}"
        return "returned " + format_arg(s.result) if s.result is not None else "returned"

    def png(self) -> bytes:
        """The picture of the current step as PNG (each step drawn once, then kept)."""
        return self._picture("png")

    def svg(self) -> bytes:
        """The same as SVG, where the base class draws the live widget in SVG."""
        return self._picture("svg")

    def _picture(self, fmt: str) -> bytes:
        key = (self.index, fmt)
        if key not in self._pictures:
            self._pictures[key] = render_fast(self, fmt)
        return self._pictures[key]

    def draw(self, fig: Figure) -> None:
        """Call graph and lock on the left, the strips at entry and on return on the right."""
        ax = schematic_axes(fig)
        text, muted, hl = PALETTE["text"], PALETTE["muted"], PALETTE["highlight"]
        n, i = len(self.steps), self.index
        first = max(0, min(i - WINDOW // 2, n - WINDOW))
        ax.text(1, 9.5, f"step {i + 1}/{n}", fontsize=9, weight="bold", color=text, va="center")
        line_h = 1.2 * _line_height(ax, 7.5)
        self._indent = min(self.steps[j].depth for j in range(first, min(n, first + WINDOW)))
        groups = (("\n".join(self._graph_line(j) for j in range(first, i)), first, text, "normal"),
                  (self._graph_line(i), i, hl, "bold"),
                  ("\n".join(self._graph_line(j) for j in range(i + 1, min(n, first + WINDOW))),
                   i + 1, muted, "normal"))
        for lines, top, colour, weight in groups:
            if lines:
                ax.text(1, 9.0 - line_h * (top - first), lines, fontsize=7.5, color=colour,
                        va="top", weight=weight, family="monospace", linespacing=1.2,
                        transform=ax.transData)
        before, after = self.states[i]
        lock_after = after.lock if after is not None else "?"
        colour = {"free": PALETTE["anon"], "write": hl}.get(self.step.lock, PALETTE["file"])
        ax.text(34, 9.5, f" mmap_sem: {self.step.lock} ", fontsize=9, va="center", color=text,
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 2})
        ax.text(55, 9.5, f"on return: {lock_after}     {self.outcome()[:40]}", fontsize=8,
                va="center", color=text)
        address = step_address(self.step)
        layout = self.layout()
        own = self.step.before is not None
        note = "" if own else " (no mm in this call: the last state recorded)"
        is_find = self.step.name.startswith("find_vma")
        mark = None if is_find or address is None else f"{address:#x}"
        for snap, title, area, label in (
                (before, "when called" + note, (34, 98, 5.6, 7.0), mark),
                (after, "when it returned", (34, 98, 2.0, 3.4), None if is_find else "")):
            if snap is None:
                ax.text(66, area[2] + 0.7, "no snapshot recorded", ha="center", fontsize=8,
                        color=muted)
                continue
            draw_address_space(ax, snap.vmas, highlight=address, area=area, layout=layout,
                               ptes=snap.ptes, legend=False, title=title, label=label,
                               outline=is_find)
        self._draw_ptes(ax, before, after)

    def _graph_line(self, j: int) -> str:
        s = self.steps[j]
        return " " * (s.depth - self._indent) + ("▶ " if j == self.index else "  ") + s.name

    def _draw_ptes(self, ax: Axes, before: MmSnapshot | None,
                   after: MmSnapshot | None) -> None:
        if after is None:
            return
        old = {p.address for p in before.ptes} if before is not None else set()
        lines = [f"present PTEs on return: {len(after.ptes)}  (+ new)"]
        lines += [f"{'+' if p.address not in old else ' '} {p.address:x} → {p.pfn:#x}"
                  for p in after.ptes[:PTE_LINES]]
        if len(after.ptes) > PTE_LINES:
            lines.append(f"  … {len(after.ptes) - PTE_LINES} more")
        ax.text(1, 3.2, "\n".join(lines), fontsize=7, family="monospace", va="top",
                color=PALETTE["text"], linespacing=1.1)

    def describe(self) -> str:
        """The headline, the outcome, the VMAs and PTEs on return."""
        before, after = self.states[self.index]
        out = [self.headline(), f"  {self.outcome()}; lock on return: "
               f"{after.lock if after is not None else '?'}"]
        if self.step.before is None:
            out.append("  (this call has no mm among its arguments: the state shown is the "
                       "last one recorded)")
        if after is None:
            out.append("  no snapshot (recorded with snapshots=False?)")
            return "\n".join(out)
        out.append(f"VMAs when it returned ({len(after.vmas)}):")
        out += [f"  {b}" for b in vma_boxes(after.vmas)]
        old = {p.address for p in before.ptes} if before is not None else set()
        out.append(f"present PTEs ({len(after.ptes)}): " + (", ".join(
            f"{'+' if p.address not in old else ''}{p.address:x}→{p.pfn:#x}"
            for p in after.ptes) or "none"))
        return "\n".join(out)
