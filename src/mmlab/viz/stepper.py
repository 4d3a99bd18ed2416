"""Step through a recorded trace in time order: each call's entry and return, the mmap lock, the
VMAs and the PTEs at that moment.

:class:`TraceStepper` takes a :class:`~mmlab.trace.Recorder` filled by ``with trace.record() as
t: ...`` and walks its :meth:`~mmlab.trace.Recorder.timeline`: every call has two positions, its
entry (``→ name(args)``, the state when it was called) and its return (``← name returned X``,
the state when it returned; ``NULL`` for a null pointer, ``raised ...`` for an exception); an
event such as a lock taken has one (``• up_write``). The picture shows the call graph around the
current position, indented by depth, the state of ``mmap_sem``, the VMA strip at that moment
(drawn by :func:`mmlab.viz.addrspace.draw_address_space`, on one placement for the whole trace so
boxes do not jump) and the present PTEs. Since every position shows the state of one moment and
the moments come in the order they happened, what the picture shows never goes back in time.
It works for any trace: an ``mprotect`` that splits a VMA, a page fault, the cramfs fault-time
split.

Arguments and results are the trace's snapshots (:func:`mmlab.trace.freeze`): a VMA is shown
with the range it had when the call was made, or when it returned. Calls that do not work on an
mm (a page-cache lookup) have no snapshot of the mm of their own; the stepper then shows the
last state recorded before them, and says so.

Every text of the picture is one label at an explicit place: no row of values relies on runs of
spaces (a browser collapses them), and labels are placed so that none overlaps another.

Model helper: no kernel counterpart (ftrace's function graph tracer is the closest).
"""

from __future__ import annotations

import errno
import functools
import os

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.textpath import TextToPath

from mmlab.constants import vm_fault_names
from mmlab.trace import (
    AddressSpaceSnapshot,
    FileSnapshot,
    FrozenObject,
    InodeSnapshot,
    MmSnapshot,
    MmStructSnapshot,
    PageSnapshot,
    Recorder,
    ReprSnapshot,
    Step,
    TraceEvent,
    VmaSnapshot,
    VmFaultSnapshot,
    freeze,
    timeline,
)
from mmlab.viz.addrspace import (
    StripLayout,
    draw_address_space,
    draw_strip_legend,
    render_fast,
    strip_layout,
    vma_boxes,
)
from mmlab.viz.base import PALETTE, Explorer, schematic_axes

__all__ = ["VM_FAULT_FUNCTIONS", "TraceStepper", "format_arg", "format_result", "step_address",
           "step_states", "trace_states"]

#: How many positions of the call graph the picture shows around the current one.
WINDOW = 25

#: In how many rows the picture lists PTEs (as many columns as fit; the text lists them all).
PTE_ROWS = 3

#: The traced functions whose ``int`` result is a set of ``VM_FAULT_*`` bits (``vm_fault_t``):
#: the fault handlers of mm/memory.c, mm/filemap.c, mm/shmem.c and the cramfs patch, and the
#: 6.x checks a fault makes under a VMA lock (``vmf_can_call_fault``, ``__vmf_anon_prepare``)
#: and ``vmf_insert_mixed`` (v4.20 on).
VM_FAULT_FUNCTIONS = frozenset({
    "handle_mm_fault", "__handle_mm_fault", "handle_pte_fault", "do_anonymous_page", "do_fault",
    "do_fault_around", "do_read_fault", "do_cow_fault", "do_page_mkwrite", "do_shared_fault",
    "__do_fault", "finish_fault", "wp_pfn_shared", "wp_page_shared", "wp_page_copy",
    "do_wp_page", "filemap_fault", "filemap_page_mkwrite", "shmem_fault",
    "cramfs_vmasplit_fault", "vmf_can_call_fault", "__vmf_anon_prepare", "vmf_insert_mixed",
})

#: Traced arguments that hold ``VM_FAULT_*`` bits (``mm_account_fault``'s ``ret``).
VM_FAULT_ARGS = frozenset({"ret"})

#: Font sizes (points; the widget shows the picture at 72 DPI, one point a pixel).
GRAPH_SIZE = 7.5
TEXT_SIZE = 7.5

#: Where things go, in the axes' units (x 0-100, y 0-10).
_GRAPH_X0, _GRAPH_X1 = 0.6, 36.0
_RIGHT_X0, _RIGHT_X1 = 38.5, 99.0
_STRIP = (_RIGHT_X0 + 0.5, _RIGHT_X1 - 1.0, 5.35, 7.05)


def _vm_fault_text(value: int) -> str:
    names = vm_fault_names(value)
    return "|".join(names) if names else "0"


def _vm_fault_long(value: int) -> str:
    """``VM_FAULT_RETRY (0x400)``, as a fault handler's result reads everywhere; ``0``."""
    names = vm_fault_names(value)
    if not names:
        return str(value)
    return "|".join(f"VM_FAULT_{n}" for n in names) + f" ({value:#x})"


def _is_flags(name: str) -> bool:
    return name.endswith(("flags", "prot", "gfp_mask")) or name == "prot"


def format_arg(value: object, name: str = "") -> str:
    """A short text for a traced argument or result (``mm``, ``vma[start-end]``, hex addresses).

    A step's arguments and result are snapshots (:func:`mmlab.trace.freeze`), so a VMA is shown
    with the range it had at that moment; a live model object is frozen first (shown as it is
    now). ``None`` is ``NULL``; numbers are in hex from 4096 up, and always when ``name`` (the
    argument's) says they are flags (``flags``, ``vm_flags``, ``prot``, ``gfp_mask``...); an
    argument that holds ``VM_FAULT_*`` bits (:data:`VM_FAULT_ARGS`) reads as a fault handler's
    result does: ``VM_FAULT_RETRY (0x400)``.

    Model helper: no kernel counterpart.
    """
    if hasattr(value, "trace_snapshot") and not isinstance(value, type):
        value = freeze(value)
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        if name in VM_FAULT_ARGS:
            return _vm_fault_long(value)
        return f"{value:#x}" if value >= 4096 or (value > 9 and _is_flags(name)) else str(value)
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bytes):
        return f"{len(value)} bytes"
    if isinstance(value, MmStructSnapshot):
        return "mm"
    if isinstance(value, VmaSnapshot):
        return f"vma[{value.vm_start:x}-{value.vm_end:x}]"
    if isinstance(value, VmFaultSnapshot):
        return f"vmf@{value.address:#x}"
    if isinstance(value, PageSnapshot):
        return f"page[pfn {value.pfn:#x}]"
    if isinstance(value, FileSnapshot):
        return f"file[{os.path.basename(value.f_path)}]"
    if isinstance(value, InodeSnapshot):
        return f"inode[{value.i_ino}]"
    if isinstance(value, AddressSpaceSnapshot):
        return f"mapping[ino {value.host_ino}]"
    if isinstance(value, tuple):
        return "(" + ", ".join(format_arg(v) for v in value) + ")"
    if isinstance(value, FrozenObject):
        shown = [f"{k}={_vm_fault_text(v)}" if k == "ret" and isinstance(v, int) else
                 f"{k}={format_arg(v, k)}" for k, v in value.fields if v and k != "address"]
        return f"{value.kind}(" + ", ".join(shown) + ")"
    if isinstance(value, ReprSnapshot):
        return value.kind.lower()
    pfn = getattr(value, "pfn", None)
    if isinstance(pfn, int):
        return f"{type(value).__name__.lower()}[pfn {pfn:#x}]"
    return type(value).__name__.lower()


def _result_text(step: Step, short: bool) -> str:
    """A call's result: VM_FAULT_* names for a fault handler's, -E... for an error code."""
    value = step.result
    if isinstance(value, int) and not isinstance(value, bool):
        if step.name in VM_FAULT_FUNCTIONS and value > 0:
            if short:
                return _vm_fault_text(value)
            return _vm_fault_long(value)
        if -4095 <= value < 0 and -value in errno.errorcode:
            name = f"-{errno.errorcode[-value]}"
            return name if short else f"{name} ({value})"
    if short and isinstance(value, VmaSnapshot):
        return f"{value.vm_start:x}-{value.vm_end:x}"
    return format_arg(value)


def format_result(step: Step) -> str:
    """What a call gave back, in words: ``returned 0``, ``returned NULL``, ``returned
    VM_FAULT_MAJOR|VM_FAULT_LOCKED (0x204)``, ``returned -ENOMEM (-12)``, ``returned`` (a void
    function) or ``raised SignalDelivered: ...``.

    Model helper: no kernel counterpart.
    """
    if step.error is not None:
        return f"raised {type(step.error).__name__}: {step.error}"
    if step.void and step.result is None:
        return "returned"
    return "returned " + _result_text(step, short=False)


def _short_result(step: Step) -> str:
    """The result as the call graph shows it after ``←`` (short)."""
    if step.error is not None:
        return f"raised {type(step.error).__name__}"
    if step.void and step.result is None:
        return ""
    return _result_text(step, short=True)


def _range(v: VmaSnapshot) -> str:
    return f"{v.vm_start:x}-{v.vm_end:x}"


def _changes(name: str, then: object, now: object) -> list[str]:
    """What changed in argument ``name`` between two snapshots, field by field for a VMA and a
    vm_fault (``vmf->pgoff 0x800f → 0x3``); nothing for an mm (the strip shows it)."""
    if then == now or isinstance(now, MmStructSnapshot):
        return []
    if isinstance(then, VmaSnapshot) and isinstance(now, VmaSnapshot):
        out = []
        if (then.vm_start, then.vm_end) != (now.vm_start, now.vm_end):
            out.append(f"{name} {_range(then)} → {_range(now)}")
        for field in ("vm_pgoff", "vm_flags"):
            a, b = getattr(then, field), getattr(now, field)
            if a != b:
                out.append(f"{name}->{field} {a:#x} → {b:#x}")
        return out
    if isinstance(then, VmFaultSnapshot) and isinstance(now, VmFaultSnapshot):
        out = []
        if (then.vma.vm_start, then.vma.vm_end) != (now.vma.vm_start, now.vma.vm_end):
            out.append(f"{name}->vma {_range(then.vma)} → {_range(now.vma)}")
        for field in ("pgoff", "flags"):
            a, b = getattr(then, field), getattr(now, field)
            if a != b:
                out.append(f"{name}->{field} {a:#x} → {b:#x}")
        for field in ("page", "cow_page"):
            a, b = getattr(then, field), getattr(now, field)
            if a != b:
                out.append(f"{name}->{field} {format_arg(a)} → {format_arg(b)}")
        return out
    return [f"{name} {format_arg(then, name)} → {format_arg(now, name)}"]


def _locks(events: tuple[TraceEvent, ...]) -> list[tuple[str, str, str]]:
    """The mmap lock at each moment: its name, its state and the per-VMA locks held; a call
    with no mm keeps the last ones known."""
    out, last = [], ("mmap_sem", "?", "")
    for e in events:
        ret = e.what == "return"
        lock = e.step.lock_on_return if ret else e.step.lock
        if lock != "?":
            last = (e.step.lock_name, lock, e.step.vma_lock_on_return if ret else e.step.vma_lock)
        out.append(last)
    return out


def _lock_words(name: str, lock: str, vma_lock: str) -> str:
    """``lock=read`` (v4.15's ``mmap_sem``), ``mmap_lock=free, VMA lock: libc.so.6 ... (read)``."""
    words = f"lock={lock}" if name == "mmap_sem" else f"{name}={lock}"
    return words + (f", VMA lock: {vma_lock}" if vma_lock else "")


def step_address(step: Step) -> int | None:
    """The address a step works on, if it has one (``addr``, ``address``, ``start``, a vmf's).

    Model helper: no kernel counterpart.
    """
    for name in ("address", "addr", "start"):
        value = step.args.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    for value in step.args.values():
        if isinstance(value, VmFaultSnapshot):
            return value.address
    return None


def trace_states(events: list[TraceEvent]) -> list[tuple[MmSnapshot | None, bool]]:
    """For each moment of a timeline, the mm's state then and whether it was recorded then.

    An entry has its step's ``before``, a return its ``after``, an event its own snapshot; a
    moment without one (no mm among the call's arguments, or ``snapshots=False``) gets the last
    state recorded before it, with ``False``.

    Model helper: no kernel counterpart.
    """
    out: list[tuple[MmSnapshot | None, bool]] = []
    last: MmSnapshot | None = None
    for event in events:
        snap = event.step.after if event.what == "return" else event.step.before
        if snap is not None:
            last = snap
        out.append((last, snap is not None))
    return out


def step_states(steps: tuple[Step, ...]) -> list[tuple[MmSnapshot | None, MmSnapshot | None]]:
    """For each step, the mm's state when it was entered and when it returned.

    Walks the entries and returns in time order (:func:`mmlab.trace.timeline`): a step without
    a snapshot of its own (no mm among its arguments) gets the last snapshot taken before that
    moment.

    Model helper: no kernel counterpart.
    """
    events = timeline(steps)
    states: list[list[MmSnapshot | None]] = [[None, None] for _ in steps]
    for event, (snap, _own) in zip(events, trace_states(events), strict=True):
        if event.what in ("entry", "note"):
            states[event.index][0] = snap
        if event.what in ("return", "note"):
            states[event.index][1] = snap
    return [(a, b) for a, b in states]


@functools.lru_cache(maxsize=8)
def _lp_height(size: float) -> float:
    """Height in points of a line of monospace text at ``size``, as matplotlib spaces lines."""
    _, height, _ = TextToPath().get_text_width_height_descent(
        "lp", FontProperties(family="monospace", size=size), ismath=False)
    return height


#: Room left for a browser's monospace font, which may be wider than matplotlib's (a fallback
#: font, hinting at small sizes rounds each advance up to a whole pixel).
_WIDTH_MARGIN = 1.12


@functools.lru_cache(maxsize=8)
def _char_width(size: float, bold: bool = False) -> float:
    """Advance of one monospace character at ``size``, in points, with a margin."""
    width, _, _ = TextToPath().get_text_width_height_descent(
        "M" * 20, FontProperties(family="monospace", size=size,
                                 weight="bold" if bold else "normal"), ismath=False)
    return width / 20 * _WIDTH_MARGIN


def _units_per_point(ax: Axes) -> tuple[float, float]:
    """How many data units of ``ax`` one point is, along x and along y."""
    fig = ax.figure
    pos = ax.get_position()
    px_x = pos.width * fig.get_figwidth() * fig.dpi / (ax.get_xlim()[1] - ax.get_xlim()[0])
    px_y = pos.height * fig.get_figheight() * fig.dpi / (ax.get_ylim()[1] - ax.get_ylim()[0])
    pt = fig.dpi / 72
    return pt / px_x, pt / px_y


def _fit(text: str, chars: int) -> str:
    """``text`` cut to ``chars`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= chars else text[: max(chars - 1, 0)].rstrip() + "…"


def _wrap(parts: list[str], chars: int, lines: int) -> list[str]:
    """Join ``parts`` with ", " into at most ``lines`` lines of ``chars`` characters."""
    out = [""]
    for i, part in enumerate(parts):
        piece = part + ("," if i < len(parts) - 1 else "")
        if out[-1] and len(out[-1]) + 1 + len(piece) > chars and len(out) < lines:
            out.append("")
        out[-1] = f"{out[-1]} {piece}" if out[-1] else piece
    return [_fit(line, chars) for line in out]


class TraceStepper(Explorer):
    """Previous / next / a slider over the moments of a recorded trace, in time order.

    Each call has two positions, its entry and its return; an event (a lock taken) has one.
    The picture shows the call graph around the current position (indented by depth, ``→``
    for an entry, ``←`` for a return with what it returned), ``mmap_sem`` at that moment, the
    VMA strip then (the call's address marked) and the present PTEs; the text says ``step i/n:
    → name(args)`` or ``step i/n: ← name returned X``, the lock, the VMAs and the PTEs.

    ``start`` is the index of a step in ``recorder.steps`` (call order, as ``recorder.names``
    numbers them): the stepper opens at its entry. :attr:`index` is the current position.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 4.0)

    def __init__(self, recorder: Recorder, *, start: int = 0) -> None:
        super().__init__()
        self.steps = tuple(recorder.steps)
        if not self.steps:
            raise ValueError("the recording has no steps: call something inside trace.record()")
        self.positions: tuple[TraceEvent, ...] = tuple(timeline(self.steps))
        moments = trace_states(list(self.positions))
        self.states: tuple[MmSnapshot | None, ...] = tuple(s for s, _ in moments)
        self.own_state: tuple[bool, ...] = tuple(own for _, own in moments)
        held = _locks(self.positions)
        #: At each position: the mmap lock's state, its name, and the per-VMA locks held.
        self.locks: tuple[str, ...] = tuple(lock for _, lock, _ in held)
        self.lock_names: tuple[str, ...] = tuple(name for name, _, _ in held)
        self.vma_locks: tuple[str, ...] = tuple(vma for _, _, vma in held)
        self._entry_pos = {e.index: p for p, e in enumerate(self.positions)
                           if e.what in ("entry", "note")}
        self._return_pos = {e.index: p for p, e in enumerate(self.positions)
                            if e.what in ("return", "note")}
        start = max(0, min(start, len(self.steps) - 1))
        self.index = self._entry_pos.get(start, 0)
        self._layout: StripLayout | None = None
        self._pictures: dict[tuple[int, str], bytes] = {}

    # --- controls ----------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Previous, next, and a slider over the positions (numbered from 1)."""
        return {
            "previous": widgets.Button(description="◀ previous"),
            "next": widgets.Button(description="next ▶"),
            "step": widgets.IntSlider(value=self.index + 1, min=1, max=len(self.positions),
                                      description="step"),
        }

    def on_change(self, name: str, value: object) -> None:
        """The slider moved."""
        if name == "step":
            self.index = max(0, min(int(value) - 1,  # type: ignore[call-overload]
                                    len(self.positions) - 1))

    def on_press(self, name: str) -> None:
        """One position back or forward (the slider follows)."""
        delta = -1 if name == "previous" else 1
        self.go(self.index + delta)

    def go(self, index: int) -> None:
        """Show position ``index`` (from 0; clamped)."""
        self.index = max(0, min(index, len(self.positions) - 1))
        slider = self.controls["step"]
        if slider.value != self.index + 1:
            slider.value = self.index + 1

    def position_of(self, step: int, what: str = "entry") -> int:
        """The position of step ``step``'s ``"entry"`` or ``"return"`` (an event has one)."""
        table = self._entry_pos if what == "entry" else self._return_pos
        if what not in ("entry", "return") or step not in table:
            raise ValueError(f"step {step} has no {what!r} in this trace "
                             f"({len(self.steps)} steps; what is 'entry' or 'return')")
        return table[step]

    # --- what it shows -----------------------------------------------------------------------
    @property
    def event(self) -> TraceEvent:
        """The current position: its kind (``"entry"``, ``"return"``, ``"note"``) and step."""
        return self.positions[self.index]

    @property
    def step(self) -> Step:
        """The step of the current position."""
        return self.event.step

    @property
    def state(self) -> MmSnapshot | None:
        """The mm's VMAs, PTEs and lock at the current position."""
        return self.states[self.index]

    def layout(self) -> StripLayout:
        """One placement for every snapshot of the trace (computed once)."""
        if self._layout is None:
            boxes = {b for snap in self.states if snap is not None for b in vma_boxes(snap.vmas)}
            extra = [a for s in self.steps if (a := step_address(s)) is not None]
            self._layout = strip_layout(sorted(boxes, key=lambda b: b.start), _STRIP[0],
                                        _STRIP[1], extra)
        return self._layout

    def call_text(self, step: Step | None = None) -> str:
        """``name(arg=value, ...)`` with the arguments as they were when it was called."""
        s = step if step is not None else self.step
        args = ", ".join(f"{k}={format_arg(v, k)}" for k, v in s.args.items())
        return f"{s.name}({args})"

    def changed_args(self, step: Step | None = None) -> list[str]:
        """What the call changed in its arguments (``vma 1000-9000 → 1000-4000``,
        ``vmf->pgoff 0x800f → 0x3``): each argument at entry against the same on return."""
        s = step if step is not None else self.step
        if s.args_on_return is None or s.kind == "note":
            return []
        out = []
        for k, now in s.args_on_return.items():
            out += _changes(k, s.args.get(k), now)
        return out

    def headline(self) -> str:
        """``step i/n: → name(args)``, ``step i/n: ← name returned X`` or ``step i/n: • name``."""
        e, s = self.event, self.step
        where = f"step {self.index + 1}/{len(self.positions)}:"
        lock = self.lock_text()
        if e.what == "entry":
            return f"{where} → {self.call_text()} {lock}"
        if e.what == "note":
            return f"{where} • {s.name} {lock}"
        return f"{where} ← {s.name} {format_result(s)}; {lock}"

    def lock_text(self, position: int | None = None) -> str:
        """The locks at a position (the current one by default): ``lock=read`` on v4.15;
        ``mmap_lock=free, VMA lock: libc.so.6 7ffff7ffa000-7ffff7fff000 (read)`` on 6.x."""
        p = self.index if position is None else position
        return _lock_words(self.lock_names[p], self.locks[p], self.vma_locks[p])

    def outcome(self) -> str:
        """What the current call returned (or raised), once it has returned."""
        if self.event.what == "entry":
            return "running"
        return format_result(self.step)

    def png(self) -> bytes:
        """The picture of the current position as PNG (each drawn once, then kept)."""
        return self._picture("png")

    def svg(self) -> bytes:
        """The same as SVG, where the base class draws the live widget in SVG."""
        return self._picture("svg")

    def _picture(self, fmt: str) -> bytes:
        key = (self.index, fmt)
        if key not in self._pictures:
            self._pictures[key] = render_fast(self, fmt)
        return self._pictures[key]

    # --- the picture -------------------------------------------------------------------------
    def draw(self, fig: Figure) -> None:
        """The call graph on the left; the lock, the call, the strip and the PTEs on the right."""
        ax = schematic_axes(fig)
        ux, uy = _units_per_point(ax)
        self._draw_graph(ax, ux, uy)
        self._draw_header(ax, ux, uy)
        self._draw_strip(ax, ux)
        self._draw_vma_lock(ax, ux)
        self._draw_ptes(ax, ux, uy)

    def _graph_line(self, p: int) -> str:
        e = self.positions[p]
        s = e.step
        if e.what == "entry":
            return f"→ {s.name}"
        if e.what == "note":
            return f"• {s.name}: lock {s.lock}"
        short = _short_result(s)
        return f"← {s.name}" + (f" = {short}" if short else "")

    def _draw_graph(self, ax: Axes, ux: float, uy: float) -> None:
        text, muted, hl = PALETTE["text"], PALETTE["muted"], PALETTE["highlight"]
        n, i = len(self.positions), self.index
        first = max(0, min(i - WINDOW // 2, n - WINDOW))
        shown = range(first, min(n, first + WINDOW))
        ax.text(_GRAPH_X0, 9.55, f"step {i + 1}/{n}", fontsize=9, weight="bold", color=text,
                va="center")
        x = _GRAPH_X0 + 11.0
        for key in ("→ entered", "← returned", "• event"):
            ax.text(x, 9.55, key, fontsize=TEXT_SIZE, family="monospace", color=muted,
                    va="center")
            x += (len(key) + 1.5) * _char_width(TEXT_SIZE) * ux
        base = min(s.depth for s in self.steps)
        line = 1.25 * _lp_height(GRAPH_SIZE) * uy
        indent = 1.5 * _char_width(GRAPH_SIZE) * ux
        x_text = _GRAPH_X0 + 1.6
        for row, p in enumerate(shown):
            y = 9.0 - line * row
            current = p == i
            if current:
                ax.text(_GRAPH_X0, y, "▶", fontsize=GRAPH_SIZE, color=hl, va="top",
                        family="monospace")
            depth = min(self.positions[p].step.depth - base, 12)
            x = x_text + indent * depth
            chars = int((_GRAPH_X1 - x) / (_char_width(GRAPH_SIZE, current) * ux))
            ax.text(x, y, _fit(self._graph_line(p), chars), fontsize=GRAPH_SIZE,
                    family="monospace", va="top", color=hl if current else
                    (text if p < i else muted), weight="bold" if current else "normal")

    def _draw_header(self, ax: Axes, ux: float, uy: float) -> None:
        text, hl = PALETTE["text"], PALETTE["highlight"]
        e, s = self.event, self.step
        lock, name = self.locks[self.index], self.lock_names[self.index]
        colour = {"free": PALETTE["anon"], "write": hl}.get(lock, PALETTE["file"])
        badge = f"{name}: {lock}"
        ax.text(_RIGHT_X0, 9.55, badge, fontsize=9, va="center",
                color="white" if lock == "write" else text,
                bbox={"facecolor": colour, "edgecolor": "none", "pad": 2})
        chars = int((_RIGHT_X1 - _RIGHT_X0) / (_char_width(TEXT_SIZE) * ux))
        line = 1.25 * _lp_height(TEXT_SIZE) * uy
        if e.what == "entry":
            lines = self._call_lines(s, chars)
        elif e.what == "note":
            lines = [_fit(f"• {s.name}: {name} now {s.lock}", chars)]
        else:
            lines = [_fit(f"← {s.name} {format_result(s)}", chars)]
            changed = self.changed_args(s)
            if changed:
                lines += _wrap(["changed: " + changed[0], *changed[1:]], chars, 2)
        for row, content in enumerate(lines[:3]):
            ax.text(_RIGHT_X0, 8.85 - line * row, content, fontsize=TEXT_SIZE,
                    family="monospace", va="center", color=text,
                    weight="bold" if row == 0 else "normal")

    def _draw_vma_lock(self, ax: Axes, ux: float) -> None:
        """6.x: a second badge, ``VMA lock: libc.so.6 (read)``, right of the mmap lock's (the
        strip's legend goes under the strip in such a trace); the text gives the ranges."""
        vma_lock = self.vma_locks[self.index]
        if not vma_lock:
            return
        parts = [(p.split(" ")[0], p.rsplit(" ", 1)[-1]) for p in vma_lock.split("; ")]
        shown = []
        for name, mode in dict.fromkeys(parts):  # libc.so.6 ×2 (write): both halves of a split
            n = parts.count((name, mode))
            shown.append(f"{name} ×{n} {mode}" if n > 1 else f"{name} {mode}")
        badge = f"{self.lock_names[self.index]}: {self.locks[self.index]}"
        width = _char_width(9) * ux
        x = _RIGHT_X0 + (len(badge) + 2.5) * width
        room = int((_RIGHT_X1 - x) / width)  # the strip's legend is under the strip then
        write = "(write)" in vma_lock
        ax.text(x, 9.55, _fit("VMA lock: " + "; ".join(shown), room), fontsize=9, va="center",
                color="white" if write else PALETTE["text"],
                bbox={"facecolor": PALETTE["highlight"] if write else PALETTE["file"],
                      "edgecolor": "none", "pad": 2})

    @staticmethod
    def _call_lines(s: Step, chars: int) -> list[str]:
        """The call's text in one or two lines: ``→ name(a=1, b=2)``."""
        parts = [f"{k}={format_arg(v, k)}" for k, v in s.args.items()]
        head = f"→ {s.name}("
        if not parts:
            return [_fit(head + ")", chars)]
        joined = head + ", ".join(parts) + ")"
        if len(joined) <= chars:
            return [joined]
        out = _wrap([head + parts[0], *parts[1:]], chars - 1, 3)
        return [*out[:-1], out[-1] if out[-1].endswith("…") else out[-1] + ")"]

    def _draw_strip(self, ax: Axes, ux: float) -> None:
        text, muted, hl = PALETTE["text"], PALETTE["muted"], PALETTE["highlight"]
        e, s = self.event, self.step
        snap = self.state
        when = {"entry": f"when {s.name} was called", "return": f"when {s.name} returned",
                "note": f"after {s.name}"}[e.what]
        count = "" if snap is None else f" ({len(snap.vmas)})"
        title = f"VMAs {when}{count}"
        if not self.own_state[self.index] and snap is not None:
            title = f"VMAs{count}: the last state recorded (no mm in this call)"
        address = step_address(s)
        mark = f"address {address:#x}" if address is not None else ""
        width = _char_width(TEXT_SIZE) * ux
        chars = int((_RIGHT_X1 - _RIGHT_X0) / width)
        room = chars - (len(mark) + 2 if mark else 0)
        ax.text(_RIGHT_X0, 7.55, _fit(title, room), fontsize=TEXT_SIZE, family="monospace",
                va="center", color=text)
        if mark:
            ax.text(_RIGHT_X1, 7.55, mark, fontsize=TEXT_SIZE, family="monospace", va="center",
                    ha="right", color=hl)
        if snap is None:
            ax.text((_STRIP[0] + _STRIP[1]) / 2, (_STRIP[2] + _STRIP[3]) / 2,
                    "no snapshot recorded (trace.record(snapshots=False))", ha="center",
                    va="center", fontsize=TEXT_SIZE, color=muted)
            return
        is_find = s.name.startswith("find_vma")
        # a trace with per-VMA locks (6.x) has a second badge on the top row: the strip's
        # legend goes under the strip instead, for the whole trace (nothing jumps)
        below = any(self.vma_locks)
        draw_address_space(ax, snap.vmas, highlight=address, area=_STRIP, layout=self.layout(),
                           ptes=snap.ptes, legend=not below, title=None, label="",
                           outline=is_find and e.what == "return")
        if below:
            draw_strip_legend(ax, _RIGHT_X1, 4.3)

    def _draw_ptes(self, ax: Axes, ux: float, uy: float) -> None:
        text, muted = PALETTE["text"], PALETTE["muted"]
        snap = self.state
        if snap is None:
            return
        e = self.event
        at_entry = self.states[self._entry_pos[e.index]] if e.what == "return" else None
        old = {p.address for p in at_entry.ptes} if at_entry is not None else None
        new = [p for p in snap.ptes if old is not None and p.address not in old]
        head = f"present PTEs (dark marks in the strip): {len(snap.ptes)}"
        if old is not None:
            head += f", {len(new)} new during this call (+)"
        head = _fit(head, int((_RIGHT_X1 - _RIGHT_X0) / (_char_width(TEXT_SIZE) * ux)))
        line = 1.25 * _lp_height(TEXT_SIZE) * uy
        y = 3.55
        width = _char_width(TEXT_SIZE) * ux
        ax.text(_RIGHT_X0, y, head, fontsize=TEXT_SIZE, family="monospace", va="center",
                color=text)
        texts = [f"{p.address:x} → pfn {p.pfn:#x}" for p in snap.ptes]
        col_w = (max(map(len, texts), default=20) + 4) * width
        cols = max(1, int((_RIGHT_X1 - _RIGHT_X0) // col_w))
        rows = PTE_ROWS
        listed = snap.ptes[: rows * cols]
        for k, pte in enumerate(listed):
            x = _RIGHT_X0 + (k // rows) * col_w
            yy = y - line * (1.2 + k % rows)
            if old is not None and pte.address not in old:
                ax.text(x, yy, "+", fontsize=TEXT_SIZE, family="monospace", va="center",
                        color=text, weight="bold")
            ax.text(x + 2 * width, yy, texts[k], fontsize=TEXT_SIZE, family="monospace",
                    va="center", color=text)
        if len(snap.ptes) > len(listed):
            ax.text(_RIGHT_X0, y - line * (1.2 + rows), f"… {len(snap.ptes) - len(listed)} "
                    "more (listed in the text below)", fontsize=TEXT_SIZE, family="monospace",
                    va="center", color=muted)

    # --- the text ----------------------------------------------------------------------------
    def describe(self) -> str:
        """The headline, what the call changed, the VMAs and PTEs at this moment."""
        e = self.event
        out = [self.headline()]
        if e.what == "return":
            entry = self.lock_text(self._entry_pos[e.index])
            out.append(f"  called as {self.call_text()}; on entry: {entry}")
            changed = self.changed_args()
            if changed:
                out.append("  changed by the call: " + ", ".join(changed))
        snap = self.state
        if not self.own_state[self.index]:
            out.append("  (this call has no mm among its arguments: the state shown is the "
                       "last one recorded)")
        if snap is None:
            out.append("  no snapshot (recorded with snapshots=False?)")
            return "\n".join(out)
        when = {"entry": "when it was called", "return": "when it returned",
                "note": "now"}[e.what]
        line = f"VMAs {when}: {len(snap.vmas)}"
        if e.what == "return":
            at_entry = self.states[self._entry_pos[e.index]]
            if at_entry is not None and len(at_entry.vmas) != len(snap.vmas):
                line += f" ({len(at_entry.vmas)} when it was called)"
        out.append(line)
        out += [f"  {b}" for b in vma_boxes(snap.vmas)]
        old: set[int] = set()
        if e.what == "return":
            at_entry = self.states[self._entry_pos[e.index]]
            old = {p.address for p in at_entry.ptes} if at_entry is not None else set()
        out.append(f"present PTEs ({len(snap.ptes)}): " + (", ".join(
            f"{'+' if e.what == 'return' and p.address not in old else ''}"
            f"{p.address:x}→{p.pfn:#x}" for p in snap.ptes) or "none"))
        return "\n".join(out)
