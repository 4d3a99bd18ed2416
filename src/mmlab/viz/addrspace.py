"""An address space as a strip of VMAs, and an explorer that runs system calls on one.

:func:`draw_address_space` draws the VMAs of a model mm (or a list of VMAs, or the VMAs of a
trace snapshot) as boxes along the address axis: each box labelled with its permissions, file
and ``vm_pgoff``, coloured by kind (anonymous, file, raw frames), the boundary addresses under
the boxes. Gaps of more than a few pages are compressed to a fixed width and marked with their
size, so a stack near ``0x7fff...`` and a heap near ``0x55...`` fit in one picture. An optional
address is marked together with what ``find_vma`` returns for it.

:class:`AddressSpaceExplorer` runs ``mmap``/``mprotect``/``munmap`` on a model :class:`MM` and
shows ``/proc/PID/maps``, the result of the last call and the VMA count after each call, so
splits and merges can be watched as they happen.

Also here, for the address-space chapter: the learner's ``find_vma`` check cases, two seeded
drills, and the side-by-side replay on this machine's kernel (:mod:`mmlab.live`) with its stored
fallback in ``data/course/01/``.

Kernel: ``struct vm_area_struct`` in `include/linux/mm_types.h @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L280>`_ and
``find_vma`` in `mm/mmap.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
"""

from __future__ import annotations

import errno
import json
import math
import os
import pathlib
import platform
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import ipywidgets as widgets
import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab import fs, procfs
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
    VM_MAYSHARE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    VM_WRITE,
)
from mmlab.mm import MM, System
from mmlab.mm_types import MmStruct, Vma
from mmlab.trace import PteSnapshot, VmaSnapshot
from mmlab.viz.base import PALETTE, Explorer, course_data, schematic_axes
from mmlab.viz.quiz import Drill
from mmlab.viz.style import (
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_collection,
    kind_patch,
    label_backing,
    text_width,
    wrap_to_width,
)

__all__ = [
    "BARE_HEX_DIGITS",
    "CALLS",
    "PROTS",
    "REPLAYS",
    "STRIP_KINDS",
    "AddressSpaceExplorer",
    "FindVmaDrill",
    "ReplayReport",
    "StripLayout",
    "StripView",
    "VmaBox",
    "VmaCountDrill",
    "draw_address_space",
    "draw_strip_legend",
    "render_fast",
    "find_vma_box",
    "find_vma_cases",
    "live_kernel_available",
    "my_find_vma_reference",
    "read_address",
    "replay",
    "run_replay",
    "stored_replay",
    "strip_layout",
    "vma_boxes",
    "write_fallback",
]

#: Gaps up to this many pages are drawn to scale; wider ones are compressed and marked.
SMALL_GAP_PAGES = 8

#: The system calls the explorer offers, in its menu order.
CALLS = ("mmap anonymous", "mmap a file", "mprotect", "munmap")

#: Protections the explorer offers: label -> ``PROT_*`` bits.
PROTS: MappingProxyType[str, int] = MappingProxyType({
    "--- PROT_NONE": PROT_NONE,
    "r-- PROT_READ": PROT_READ,
    "rw- PROT_READ|PROT_WRITE": PROT_READ | PROT_WRITE,
    "r-x PROT_READ|PROT_EXEC": PROT_READ | PROT_EXEC,
    "rwx PROT_READ|PROT_WRITE|PROT_EXEC": PROT_READ | PROT_WRITE | PROT_EXEC,
})


# --- what a box is ---------------------------------------------------------------------------
@dataclass(frozen=True)
class VmaBox:
    """What the strip draws of one VMA: its range, flags, ``vm_pgoff``, file name and kind.

    ``kind`` is ``"pfnmap"`` for raw frames (``VM_PFNMAP`` or ``VM_MIXEDMAP``), ``"file"`` for a
    VMA with a ``vm_file``, ``"anon"`` otherwise (the keys of :data:`~mmlab.viz.base.PALETTE`).

    Kernel: ``struct vm_area_struct`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L280>`_.
    """

    start: int
    end: int
    flags: int
    pgoff: int
    file: str | None

    @property
    def kind(self) -> str:
        """``"pfnmap"``, ``"file"`` or ``"anon"``."""
        if self.flags & (VM_PFNMAP | VM_MIXEDMAP):
            return "pfnmap"
        return "file" if self.file is not None else "anon"

    @property
    def perms(self) -> str:
        """The permission column of ``/proc/PID/maps`` (``r-xp``)."""
        return (("r" if self.flags & VM_READ else "-") + ("w" if self.flags & VM_WRITE else "-")
                + ("x" if self.flags & VM_EXEC else "-")
                + ("s" if self.flags & VM_MAYSHARE else "p"))

    @property
    def pages(self) -> int:
        """Size in pages (``vm_end`` is exclusive)."""
        return (self.end - self.start) >> PAGE_SHIFT

    def __str__(self) -> str:
        name = f" {os.path.basename(self.file)}" if self.file else ""
        return f"{self.start:x}-{self.end:x} {self.perms} pgoff={self.pgoff:#x}{name}"


VmaSource = MmStruct | Iterable[Vma | VmaSnapshot | VmaBox]


def vma_boxes(source: VmaSource) -> tuple[VmaBox, ...]:
    """The boxes of a model mm, of model VMAs, of trace snapshots' VMAs, in address order.

    Model helper: no kernel counterpart.
    """
    items = source.vmas if isinstance(source, MmStruct) else source
    out = []
    for v in items:
        if isinstance(v, VmaBox):
            out.append(v)
        elif isinstance(v, VmaSnapshot):
            out.append(VmaBox(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, v.file))
        else:
            name = v.vm_file.f_path if v.vm_file is not None else None
            out.append(VmaBox(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff, name))
    return tuple(sorted(out, key=lambda b: b.start))


def find_vma_box(boxes: Sequence[VmaBox], addr: int) -> VmaBox | None:
    """The first box with ``end > addr`` (it may start above ``addr``), or None.

    Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """
    for box in sorted(boxes, key=lambda b: b.start):
        if box.end > addr:
            return box
    return None


# --- where things go -------------------------------------------------------------------------
@dataclass(frozen=True)
class StripLayout:
    """How addresses map to x positions: pieces ``(lo, hi, x0, x1, compressed)`` in order.

    Inside a piece the mapping is linear; a compressed piece is a wide gap drawn narrow.

    Model helper: no kernel counterpart.
    """

    pieces: tuple[tuple[int, int, float, float, bool], ...]
    x0: float
    x1: float

    def x_of(self, addr: int) -> float:
        """The x position of ``addr`` (clamped to the strip)."""
        if not self.pieces:
            return (self.x0 + self.x1) / 2
        if addr <= self.pieces[0][0]:
            return self.pieces[0][2]
        for lo, hi, a, b, _ in self.pieces:
            if lo <= addr <= hi:
                return a + (b - a) * (addr - lo) / max(hi - lo, 1)
        return self.pieces[-1][3]


def _weight(pages: float) -> float:
    return pages if pages <= 64 else 64 + 16 * math.log2(pages / 64)


def strip_layout(boxes: Sequence[VmaBox], x0: float, x1: float,
                 extra: Iterable[int] = ()) -> StripLayout:
    """Place ``boxes`` (and the ``extra`` addresses) between ``x0`` and ``x1``.

    Mapped stretches get a width that grows with their size (logarithmically past 64 pages,
    and never less than 3% of the strip); gaps of up to :data:`SMALL_GAP_PAGES` pages are drawn
    to scale, wider ones get a fixed small width.

    Model helper: no kernel counterpart.
    """
    covered = sorted((b.start, b.end) for b in boxes)
    points = {p for iv in covered for p in iv}
    for addr in extra:
        page = addr & ~(PAGE_SIZE - 1)
        points |= {page, page + PAGE_SIZE}
    marks = sorted(points)
    if len(marks) < 2:
        return StripLayout((), x0, x1)
    segments = []
    for lo, hi in zip(marks, marks[1:], strict=False):
        mapped = any(s <= lo and hi <= e for s, e in covered)
        pages = (hi - lo) / PAGE_SIZE
        if mapped:
            segments.append((lo, hi, _weight(pages), False))
        elif pages <= SMALL_GAP_PAGES:
            segments.append((lo, hi, pages, False))
        else:
            segments.append((lo, hi, -1.0, True))  # fixed width, set below
    total = sum(w for *_, w, c in segments if not c) or 1.0
    gap_w = max(total * 0.06, 1.0)
    floor = 0.03 * (total + gap_w * sum(c for *_, c in segments))
    weights = [gap_w if c else max(w, floor) for *_, w, c in segments]
    scale = (x1 - x0) / sum(weights)
    pieces = []
    x = x0
    for (lo, hi, _, compressed), w in zip(segments, weights, strict=True):
        pieces.append((lo, hi, x, x + w * scale, compressed))
        x += w * scale
    return StripLayout(tuple(pieces), x0, x1)


def _size_text(nbytes: int) -> str:
    for unit, shift in (("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if nbytes >= 1 << shift:
            return f"{nbytes / (1 << shift):.3g} {unit}"
    return f"{nbytes} B"


#: How the strip draws a VMA, by :attr:`VmaBox.kind`, and the marks it adds.
STRIP_KINDS: MappingProxyType[str, Kind] = MappingProxyType({
    "anon": Kind("anon", "anonymous VMA", PALETTE["anon"], "..", "A"),
    "file": Kind("file", "file VMA", PALETTE["file"], None, "F"),
    "pfnmap": Kind("pfnmap", "raw frames (PFNMAP/MIXEDMAP)", PALETTE["pfnmap"], "\\\\\\", "R"),
    "noaccess": Kind("noaccess", "no access (---)", None, "//"),
    "pte": Kind("pte", "present PTE", PALETTE["text"]),
    "preview": Kind("preview", "where the next call acts", None, dashed=True,
                    edge=PALETTE["muted"], edge_width=1.2),
    "found": Kind("found", "the VMA find_vma returns", None, edge=PALETTE["highlight"],
                  edge_width=2.2),
})


def draw_address_space(
    ax: Axes,
    source: VmaSource,
    *,
    highlight: int | None = None,
    area: tuple[float, float, float, float] = (2.0, 98.0, 3.5, 6.5),
    layout: StripLayout | None = None,
    ptes: Sequence[PteSnapshot] = (),
    preview: tuple[int, int] | None = None,
    legend: bool = True,
    title: str | None = None,
    label: str | None = None,
    outline: bool = True,
) -> StripLayout:
    """Draw the strip of ``source`` on ``ax`` inside ``area`` = ``(x0, x1, y0, y1)``.

    ``highlight``: an address to mark, with the VMA ``find_vma`` returns for it outlined;
    ``ptes``: present page-table entries, drawn as dark marks along the bottom of their page;
    ``preview``: an address range drawn dashed (where the next call will act); ``layout``: reuse
    a placement (to keep several strips aligned); ``label``: the text at the highlighted
    address (default: what ``find_vma`` returns; ``""`` for none); ``outline``: outline the
    VMA ``find_vma`` returns; ``title``: a line above the strip's left end; ``legend``: the
    kinds drawn, at the top right of the axes (with ``False``, draw them elsewhere with
    :func:`draw_strip_legend`). Each VMA is drawn as its kind (:data:`STRIP_KINDS`), labelled
    with as much of its permissions, file and ``vm_pgoff`` as fits in it; the boundary addresses
    go under the strip on as many lines as they need. Returns the layout used.

    Model helper: no kernel counterpart.
    """
    boxes = vma_boxes(source)
    x0, x1, y0, y1 = area
    extra = [a for a in ((highlight,) if highlight is not None else ()) if a is not None]
    if preview is not None:
        extra += [preview[0], max(preview[1] - 1, preview[0])]
    if layout is None:
        layout = strip_layout(boxes, x0, x1, extra)
    text = PALETTE["text"]
    unit_x, unit_y = _units(ax)
    title_end = x0
    if title:
        ax.text(x0, y1 + 0.35, title, fontsize=8, color=text, va="bottom")
        title_end = x0 + text_width(ax, title, 8) + 8 * unit_x
    if not layout.pieces:
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, "no VMAs", ha="center", va="center",
                fontsize=9, color=PALETTE["muted"])
        if legend:
            draw_strip_legend(ax)
        return layout
    mid = (y0 + y1) / 2
    under: list[tuple[float, str, bool]] = []  # (x, text, tick) of the labels under the strip
    for lo, hi, a, b, compressed in layout.pieces:
        if compressed:
            ax.plot([a, b], [mid, mid], color=PALETTE["muted"], lw=0.8, ls=":")
            ax.text((a + b) / 2, mid, "≈", ha="center", va="center", fontsize=11,
                    color=PALETTE["muted"])
            under.append(((a + b) / 2, _size_text(hi - lo), False))
    found = find_vma_box(boxes, highlight) if highlight is not None else None
    by_kind: dict[str, list[Rectangle]] = {}
    for box in boxes:
        a, b = layout.x_of(box.start), layout.x_of(box.end)
        rect = Rectangle((a, y0), b - a, y1 - y0)
        by_kind.setdefault(box.kind, []).append(rect)
        if box.perms.startswith("---"):
            by_kind.setdefault("noaccess", []).append(Rectangle((a, y0), b - a, y1 - y0))
        lines = _box_lines(ax, box, (b - a) * 0.92, (y1 - y0) / (7 * 1.25 * unit_y))
        if lines:
            box_label(ax, (a, y0, b, y1), "\n".join(lines), fontsize=7,
                      linespacing=1.15, **label_backing(STRIP_KINDS[box.kind]))
    for key in ("anon", "file", "pfnmap", "noaccess"):
        if key in by_kind:
            ax.add_collection(kind_collection(by_kind[key], STRIP_KINDS[key]))
    for addr in sorted({p for bx in boxes for p in (bx.start, bx.end)}):
        under.append((layout.x_of(addr), f"{addr:x}", True))
    _labels_under(ax, sorted(under), y0, (ax.get_xlim()[0], ax.get_xlim()[1]))
    if ptes:
        marks = []
        for pte in ptes:
            a, b = layout.x_of(pte.address), layout.x_of(pte.address + PAGE_SIZE)
            marks.append(Rectangle((a + 0.1, y0 + 0.05), max(b - a - 0.2, 0.2),
                                   (y1 - y0) * 0.12))
        ax.add_collection(kind_collection(marks, STRIP_KINDS["pte"], linewidths=0))
    if preview is not None:
        a, b = layout.x_of(preview[0]), layout.x_of(preview[1])
        ax.add_patch(kind_patch((a, y0 - 0.1), b - a, y1 - y0 + 0.2, STRIP_KINDS["preview"]))
    if highlight is not None:
        hl = PALETTE["highlight"]
        x = layout.x_of(highlight)
        ax.plot([x, x], [y0 - 0.2, y1 + 0.3], color=hl, lw=1.5)
        where = label if label is not None else f"find_vma({highlight:#x}) → " + (
            "NULL" if found is None else
            f"{found.start:x}-{found.end:x}" + ("" if found.start <= highlight else
                                                 " (does not contain it)"))
        if where:
            _highlight_label(ax, where, x, y1 + 0.35, (x0, x1), title_end, unit_y)
        if found is not None and outline:
            a, b = layout.x_of(found.start), layout.x_of(found.end)
            ax.add_patch(kind_patch((a, y0), b - a, y1 - y0, STRIP_KINDS["found"], zorder=3))
    if legend:
        draw_strip_legend(ax)
    return layout


def draw_strip_legend(ax: Axes, x: float | None = None, y: float | None = None, *,
                      align: str = "right", fontsize: float = 7) -> float:
    """The legend of the strips drawn on ``ax``: every kind of :data:`STRIP_KINDS` the axes
    show, from ``(x, y)`` (default: the top right corner, entries right to left). Returns the
    ``y`` of its last row (see :func:`mmlab.viz.style.draw_legend`).

    Model helper: no kernel counterpart.
    """
    drawn = {a.get_gid() for a in ax.get_children() if a.get_visible() and a.get_gid()}
    kinds = [k for k in STRIP_KINDS.values() if f"kind-{k.key}" in drawn]
    if align == "right":  # entries go right to left: the first kind ends up leftmost
        kinds.reverse()
    x_lo, x_hi = ax.get_xlim()
    if x is None:
        x = x_hi - 1.0 if align == "right" else x_lo + 1.0
    if y is None:
        y = ax.get_ylim()[1] - 0.7
    return draw_legend(ax, kinds, x, y, fontsize=fontsize, align=align) if kinds else y


def _units(ax: Axes) -> tuple[float, float]:
    """Data units of ``ax`` per point, across and up."""
    fig = ax.figure
    x_lo, x_hi = ax.get_xlim()
    y_lo, y_hi = ax.get_ylim()
    return (abs(x_hi - x_lo) / (ax.get_position().width * fig.get_figwidth() * 72),
            abs(y_hi - y_lo) / (ax.get_position().height * fig.get_figheight() * 72))


def _box_lines(ax: Axes, box: VmaBox, width: float, room: float) -> list[str]:
    """What fits of a VMA's label in ``width`` (data units), at most ``room`` lines: its
    permissions, then its file's name and its ``vm_pgoff``, each shortened or left out if too
    wide (nothing at all if the permissions do not fit: a lone number would read as anything)."""
    if text_width(ax, box.perms, 7) > width or room < 1:
        return []
    candidates = [[box.perms]]
    if box.file:
        name = os.path.basename(box.file)
        candidates.append([name] + [name[:k] + "…" for k in range(len(name) - 1, 2, -1)])
    candidates.append([f"pgoff {box.pgoff:#x}", f"{box.pgoff:#x}"])
    lines = []
    for options in candidates:
        if len(lines) >= int(room):
            break
        fitting = first_fitting(ax, options, width, 7)
        if fitting is not None:
            lines.append(fitting)
    return lines


def _labels_under(ax: Axes, items: list[tuple[float, str, bool]], y0: float,
                  bounds: tuple[float, float]) -> None:
    """Addresses (with a tick up to the strip) and gap sizes under the strip, each on the
    first of three lines where it does not touch its neighbour, kept inside ``bounds``."""
    unit_x, unit_y = _units(ax)
    size = 6.5
    step = size * 1.3 * unit_y
    room = size * 0.6 * unit_x
    ends = [-float("inf")] * 3
    lo, hi = bounds
    for x, text, tick in items:
        width = text_width(ax, text, size)
        left = min(max(x - width / 2, lo + 0.3), hi - 0.3 - width)
        for row in range(3):
            if left >= ends[row] + room:
                ends[row] = left + width
                y = y0 - 0.3 - row * step
                if tick:
                    ax.plot([x, x], [y0 - 0.1, y], color=PALETTE["muted"], lw=0.5)
                ax.text(left, y, text, ha="left", va="top", fontsize=size,
                        color=PALETTE["text"] if tick else PALETTE["muted"])
                break


def _highlight_label(ax: Axes, text: str, x: float, y: float, span: tuple[float, float],
                     title_end: float, unit_y: float) -> None:
    """The text at the highlighted address: over it if it fits in the strip's span, else
    pushed inside the span; right of the title if it would cover it, else on the line above."""
    width = text_width(ax, text, 7)
    lo, hi = span
    left = min(max(x - width / 2, lo), hi - width)
    if left < title_end:
        left = title_end
        if left + width > hi:
            left = min(max(x - width / 2, lo), hi - width)
            y += 7 * 1.5 * unit_y
    ax.text(left, y, text, ha="left", va="bottom", fontsize=7, color=PALETTE["highlight"])


def render_fast(explorer: Explorer, fmt: str = "png") -> bytes:
    """``explorer``'s picture (``Explorer.png`` or ``Explorer.svg``) with font hinting off.

    Text is most of what a schematic costs to draw, and FreeType's hinting most of what text
    costs: without it a PNG is about a third faster, and as readable at 72 DPI. An SVG keeps its
    text as text (the browser draws it) instead of turning each glyph into a path.

    Model helper: no kernel counterpart.
    """
    with matplotlib.rc_context({"text.hinting": "no_hinting", "svg.fonttype": "none"}):
        return getattr(Explorer, fmt)(explorer)


#: Bare digits (no ``0x``) read as hex: with a letter a-f, a leading zero (``/proc/PID/maps``
#: pads to 8 digits) or this many digits or more; shorter runs of 0-9 are decimal.
BARE_HEX_DIGITS = 9


def read_address(text: str, base: int = 0) -> tuple[int, str]:
    """The address a learner typed, and how it was read (a note, empty when it is plain).

    ``0x7f0000016000`` is hex; ``7f0000016000`` too, as ``/proc/PID/maps`` prints it: bare
    digits are hex when they hold a letter a-f, start with 0 or are
    :data:`BARE_HEX_DIGITS` digits or more, else decimal (``4096``); ``+N`` is page ``N``
    from ``base``; a leading ``-`` makes it negative (which no address is: ``MM.find_vma``
    says so). Underscores are ignored. Raises ``ValueError`` naming the text and the forms it
    takes.

    Model helper: no kernel counterpart.
    """
    s = text.strip().replace("_", "")
    if s.startswith("+"):
        try:
            return base + int(s[1:], 0) * PAGE_SIZE, ""
        except ValueError:
            pass
    else:
        sign, digits = (-1, s[1:]) if s.startswith("-") else (1, s)
        if digits.lower().startswith("0x") and _is_hex(digits[2:]):
            return sign * int(digits[2:], 16), ""
        if _is_hex(digits):
            if digits.isdigit() and not digits.startswith("0") \
                    and len(digits) < BARE_HEX_DIGITS:
                return sign * int(digits), (f"{text.strip()!r} read as decimal (write 0x for "
                                            "hex)")
            return sign * int(digits, 16), (f"{text.strip()!r} read as hex (bare digits with "
                                            f"a-f, a leading 0 or {BARE_HEX_DIGITS}+ digits are "
                                            "hex)")
    raise ValueError(f"cannot read {text.strip()!r} as an address: type hex (0x7f0000003000, "
                     "or 7f0000003000 as /proc/PID/maps prints it), decimal (4096) or +N for "
                     "page N from the base")


def _is_hex(digits: str) -> bool:
    return bool(digits) and all(c in "0123456789abcdefABCDEF" for c in digits)


class StripView(Explorer):
    """A still picture of an address space: the strip, an optional address, the maps lines.

    ``source`` is a model mm (drawn as it is now) or a list of VMAs; ``highlight`` marks an
    address and outlines what ``find_vma`` returns for it.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 2.0)

    def __init__(self, source: VmaSource, highlight: int | None = None) -> None:
        super().__init__()
        self.source, self.highlight = source, highlight

    def png(self) -> bytes:
        """The picture as PNG (see :func:`render_fast`)."""
        return render_fast(self, "png")

    def svg(self) -> bytes:
        """The picture as SVG, where the base class draws the live widget in SVG."""
        return render_fast(self, "svg")

    def draw(self, fig: Figure) -> None:
        """The strip."""
        ax = schematic_axes(fig)
        draw_address_space(ax, self.source, highlight=self.highlight, area=(2, 98, 3.4, 6.1))

    def describe(self) -> str:
        """The maps lines (for an mm) or the VMAs, and find_vma's answer."""
        if isinstance(self.source, MmStruct):
            lines = procfs.format_maps(self.source).rstrip("\n").splitlines()
        else:
            lines = [str(b) for b in vma_boxes(self.source)]
        if self.highlight is not None:
            found = find_vma_box(vma_boxes(self.source), self.highlight)
            lines.append(f"find_vma({self.highlight:#x}) → "
                         + ("NULL" if found is None else f"{found.start:x}-{found.end:x}"))
        return "\n".join(lines)


# --- the explorer ----------------------------------------------------------------------------
#: Where the explorer puts page 0 of an empty address space.
DEFAULT_BASE = 0x7F0000000000


@dataclass
class _Call:
    text: str
    result: str
    before: int
    after: int
    what: str


class AddressSpaceExplorer(Explorer):
    """Run ``mmap``/``mprotect``/``munmap`` on a model mm and watch its VMAs split and merge.

    Controls: the call, its start page (from ``base``), its number of pages, its protection,
    the file page (``vm_pgoff``) for a file mapping, "Run", an address for ``find_vma`` (read
    by :func:`read_address` when the learner presses Enter or leaves the box; one ``find_vma``
    refuses is shown as an error, the last good one stays marked) and "Reset" (a fresh, empty
    address space; the history starts again from it). Every mmap uses ``MAP_FIXED`` at
    the chosen page, so the learner decides where things go. ``base`` is the start of the first VMA
    of ``mm`` if it has one, else ``0x7f0000000000``.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 3.0)

    def __init__(self, mm: MM | None = None, *, base: int | None = None,
                 file_pages: int = 16) -> None:
        super().__init__()
        self.mm = mm if mm is not None else MM(System())
        if base is None:
            vmas = self.mm.vmas
            base = vmas[0].vm_start if vmas else DEFAULT_BASE
        self.base = base
        self.file_pages = file_pages
        self.file = self._make_file()
        self.call, self.page, self.npages = CALLS[0], 0, 4
        self.prot, self.file_page = PROT_READ | PROT_WRITE, 0
        self.address: int | None = None
        self.address_error = ""
        self.address_note = ""
        self.history: list[_Call] = []

    def _make_file(self) -> fs.File:
        content = b"".join(bytes([i + 1]) * PAGE_SIZE for i in range(self.file_pages))
        return fs.file_from_bytes(content, "/model/data.bin", system=self.mm.system)

    def png(self) -> bytes:
        """The picture as PNG (drawn with hinting off, see :func:`render_fast`)."""
        return render_fast(self, "png")

    def svg(self) -> bytes:
        """The picture as SVG, where the base class draws the live widget in SVG."""
        return render_fast(self, "svg")

    # --- controls ----------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Call, page, pages, protection, file page, Run, address, Reset."""
        short = widgets.Layout(width="230px")
        return {
            "call": widgets.Dropdown(options=CALLS, value=self.call, description="call",
                                     layout=short),
            "page": widgets.IntSlider(value=self.page, min=0, max=31, description="start page"),
            "npages": widgets.IntSlider(value=self.npages, min=1, max=16, description="pages"),
            # wide enough for the longest option, "rwx PROT_READ|PROT_WRITE|PROT_EXEC"
            "prot": widgets.Dropdown(options=list(PROTS.items()), value=self.prot,
                                     description="prot", layout=widgets.Layout(width="400px")),
            "file_page": widgets.IntSlider(value=self.file_page, min=0,
                                           max=self.file_pages - 1, description="file page"),
            "run": widgets.Button(description="Run", button_style="primary"),
            # read on Enter or when the box loses focus: read on every keystroke, a slow
            # typist saw find_vma of each prefix ("still showing" the last valid one)
            "address": widgets.Text(
                value="", placeholder="0x7f0000003000, 7f0000003000 or +3, then Enter",
                description="find_vma", layout=widgets.Layout(width="330px"),
                continuous_update=False,
                tooltip=("an address: 0x hex; bare digits with a-f, a leading 0 or "
                         f"{BARE_HEX_DIGITS}+ digits are hex too (as /proc/PID/maps prints "
                         "them), shorter ones decimal; +N is page N from the base")),
            "reset": widgets.Button(description="Reset"),
        }

    def on_change(self, name: str, value: object) -> None:
        """Remember the new control value (the address is parsed as hex or decimal)."""
        if name == "address":
            self.set_address(str(value))
        elif name in ("page", "npages", "prot", "file_page"):
            setattr(self, name, int(value))  # type: ignore[call-overload]
        elif name == "call":
            self.call = str(value)

    def set_address(self, text: str) -> None:
        """Read the address box (see :func:`read_address`) and check it with ``MM.find_vma``'s
        rule (``0 <= addr < task_size``). A text that is not an address leaves the last good
        address marked and says why (:attr:`address_error`); an empty box clears both."""
        text = text.strip()
        if not text:
            self.address, self.address_error, self.address_note = None, "", ""
            return
        try:
            addr, note = read_address(text, self.base)
        except ValueError as exc:
            self.address_error = str(exc)
            return
        try:
            self.mm.find_vma(addr)  # raises ValueError with the rule for a non-user address
        except ValueError as exc:
            # a surprise worth saying: bare digits read as hex ("99999999999" is 0x99999999999)
            hexed = note and "as hex" in note
            self.address_error = f"{note}: {exc}" if hexed else str(exc)
            return
        self.address, self.address_error, self.address_note = addr, "", note

    def _address_error_line(self) -> str:
        """The address error as the text and the picture show it (empty without one)."""
        if not self.address_error:
            return ""
        still = (f"still showing find_vma({self.address:#x})" if self.address is not None
                 else "no address marked")
        return f"! {self.address_error}; {still}"

    def on_press(self, name: str) -> None:
        """Run the chosen call, or reset the address space."""
        if name == "run":
            self.run()
        elif name == "reset":
            self.mm = MM(System())
            self.file = self._make_file()
            # the calls before belong to the address space that is gone: the history and the
            # VMA counts start again, from the reset
            self.history = [_Call("reset", "a new, empty address space", 0, 0, "")]

    # --- the model ---------------------------------------------------------------------------
    def run(self) -> int:
        """Run the call the controls describe; returns its value (0, an address or -errno)."""
        addr = self.base + self.page * PAGE_SIZE
        length = self.npages * PAGE_SIZE
        prot = _prot_text(self.prot)
        before = self.mm.map_count
        try:
            if self.call == "mmap anonymous":
                text = (f"mmap({addr:#x}, {length:#x}, {prot}, "
                        "MAP_PRIVATE|MAP_ANONYMOUS|MAP_FIXED, -1, 0)")
                ret = self.mm.mmap(addr, length, self.prot,
                                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
            elif self.call == "mmap a file":
                offset = self.file_page * PAGE_SIZE
                text = (f"mmap({addr:#x}, {length:#x}, {prot}, MAP_PRIVATE|MAP_FIXED, fd, "
                        f"{offset:#x})")
                ret = self.mm.mmap(addr, length, self.prot, MAP_PRIVATE | MAP_FIXED, self.file,
                                   offset)
            elif self.call == "mprotect":
                text = f"mprotect({addr:#x}, {length:#x}, {prot})"
                self.mm.mprotect(addr, length, self.prot)
                ret = 0
            else:
                text = f"munmap({addr:#x}, {length:#x})"
                self.mm.munmap(addr, length)
                ret = 0
            result = f"{ret:#x}" if ret else "0"
        except OSError as exc:
            ret = -exc.errno
            result = f"-1 {errno.errorcode.get(exc.errno, exc.errno)} ({os.strerror(exc.errno)})"
        after = self.mm.map_count
        self.history.append(_Call(text, result, before, after,
                                  _what_happened(self.call, before, after, ret)))
        return ret

    def found(self) -> Vma | None:
        """What ``find_vma`` returns for the chosen address (None without an address, or for
        one ``find_vma`` refuses)."""
        if self.address is None:
            return None
        try:
            return self.mm.find_vma(self.address)
        except ValueError:  # set from code past set_address: the picture says NULL too
            return None

    # --- drawing -----------------------------------------------------------------------------
    def draw(self, fig: Figure) -> None:
        """The strip, the chosen address, where the next call acts, the VMA counts."""
        ax = schematic_axes(fig)
        start = self.base + self.page * PAGE_SIZE
        draw_address_space(ax, self.mm, highlight=self.address, area=(2, 98, 4.2, 6.9),
                           preview=(start, start + self.npages * PAGE_SIZE), legend=False)
        counts = [f"{c.after} (reset)" if c.text == "reset" else str(c.after)
                  for c in self.history[-12:]]
        line = "VMA count: " + (" → ".join(counts) if counts else str(self.mm.map_count))
        if self.history:
            last = self.history[-1]
            if last.text == "reset":
                line += f"; last: reset ({last.result})"
            else:
                line += f"; last: {last.text.split('(')[0]} = {last.result.split(' (')[0]}"
                if last.what:
                    line += f" ({last.what})"
        ax.text(2, 9.4, line, fontsize=8, color=PALETTE["text"], va="center")
        error = self._address_error_line()
        if error:
            ax.text(2, 8.35, wrap_to_width(ax, error, 96, 7.5), fontsize=7.5, va="center",
                    color=PALETTE["highlight"], linespacing=1.2)
        draw_strip_legend(ax, 2, 0.7, align="left")

    def describe(self) -> str:
        """The last call and its result, find_vma's answer, the maps lines, the history."""
        out = [f"next call ({self.call}, dashed): pages {self.page}..{self.page + self.npages} "
               f"from base {self.base:#x} (end exclusive)"]
        if self.history:
            last = self.history[-1]
            out.append(f"last call: {last.text} = {last.result}")
            if last.text != "reset":
                out.append(f"VMAs: {last.before} → {last.after}"
                           + (f" ({last.what})" if last.what else ""))
        else:
            out.append(f"no call yet; VMAs: {self.mm.map_count}")
        if self.address_error:
            out.append(self._address_error_line())
        if self.address is not None:
            vma = self.found()
            if vma is None:
                line = f"find_vma({self.address:#x}) → NULL (no VMA ends above it)"
            else:
                inside = "contains it" if vma.vm_start <= self.address else (
                    "does NOT contain it: the address is in the gap below it")
                line = (f"find_vma({self.address:#x}) → {vma.vm_start:x}-{vma.vm_end:x} "
                        f"({inside})")
            out.append(line + (f"; {self.address_note}" if self.address_note else ""))
        out.append("/proc/PID/maps:")
        maps = procfs.format_maps(self.mm).rstrip("\n")
        out.append(maps or "(empty)")
        if len(self.history) > 1:
            out.append("history: " + " | ".join(
                f"{c.text.split('(')[0]} → {c.after}" for c in self.history[-8:]))
        return "\n".join(out)


def _prot_text(prot: int) -> str:
    names = [n for n, bit in (("PROT_READ", PROT_READ), ("PROT_WRITE", PROT_WRITE),
                              ("PROT_EXEC", PROT_EXEC)) if prot & bit]
    return "|".join(names) or "PROT_NONE"


def _what_happened(call: str, before: int, after: int, ret: int) -> str:
    if ret < 0:
        return "failed"
    delta = after - before
    if call.startswith("mmap"):
        return {1: "a new VMA"}.get(delta, "split" if delta > 1 else "merged or replaced")
    if delta > 0:
        return "split"
    if delta < 0:
        return "merged" if call == "mprotect" else "removed"
    return "same count"


# --- self-checks -----------------------------------------------------------------------------
def my_find_vma_reference(vmas: Sequence[tuple[int, int]], addr: int) -> tuple[int, int] | None:
    """The answer :func:`find_vma_cases` expects, on ``(start, end)`` pairs in address order.

    Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """
    box = find_vma_box([VmaBox(s, e, 0, 0, None) for s, e in vmas], addr)
    return None if box is None else (box.start, box.end)


def _model_mm(layout: Sequence[tuple[int, int]]) -> MM:
    """A model mm with anonymous VMAs at ``(page, npages)``, alternating protections so that
    neighbours do not merge."""
    mm = MM(System())
    for i, (page, npages) in enumerate(layout):
        prot = PROT_READ if i % 2 else PROT_READ | PROT_WRITE
        mm.mmap(DEFAULT_BASE + page * PAGE_SIZE, npages * PAGE_SIZE, prot,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    return mm


def find_vma_cases() -> list[tuple[tuple[list[tuple[int, int]], int], tuple[int, int] | None]]:
    """About ten ``((vmas, addr), expected)`` cases for a learner's ``my_find_vma``.

    The VMAs are mapped on a model mm and the expected answers come from the model's
    ``find_vma``: inside a VMA, at ``vm_start``, at ``vm_end`` (exclusive), in a gap, below
    everything, above everything, in an empty address space.

    Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """
    layouts = ([(0, 4), (8, 2), (12, 4)], [(2, 1), (3, 5)], [])
    probes = ((0, 3.5, 4, 5, 9.99, 10, 16, -1), (2, 3, 8, 0), (0,))
    cases = []
    for layout, pages in zip(layouts, probes, strict=True):
        mm = _model_mm(layout)
        vmas = [(v.vm_start, v.vm_end) for v in mm.vmas]
        for page in pages:
            addr = DEFAULT_BASE + int(page * PAGE_SIZE)
            vma = mm.find_vma(addr)
            cases.append(((vmas, addr), None if vma is None else (vma.vm_start, vma.vm_end)))
    return cases


class FindVmaDrill(Drill):
    """Which VMA does ``find_vma`` return? Answer with its first page, or ``None`` for NULL.

    The VMAs and the address are given in pages from a base; the answer is checked against the
    model's ``find_vma`` on an mm with those VMAs.

    Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """

    def make(self) -> tuple[str, object]:
        """Three or four VMAs with gaps, and an address (often in a gap)."""
        layout, page = [], self.rng.randrange(0, 3)
        for _ in range(self.rng.randrange(3, 5)):
            n = self.rng.randrange(1, 5)
            layout.append((page, n))
            page += n + self.rng.randrange(1, 4)
        probe = self.rng.randrange(0, page + 2) + self.rng.choice((0, 0.5))
        mm = _model_mm(layout)
        vma = mm.find_vma(DEFAULT_BASE + int(probe * PAGE_SIZE))
        answer = None if vma is None else (vma.vm_start - DEFAULT_BASE) // PAGE_SIZE
        vmas = ", ".join(f"[{p}, {p + n})" for p, n in layout)
        return (f"VMAs (in pages, end exclusive): {vmas}. Which VMA does find_vma return for "
                f"the address at page {probe:g}? Give its first page, or None.", answer)


class VmaCountDrill(Drill):
    """How many VMAs after these calls? The model runs them to get the answer.

    Model helper: no kernel counterpart.
    """

    def make(self) -> tuple[str, object]:
        """An anonymous mapping, then two or three mprotect/munmap calls inside it."""
        n = self.rng.randrange(6, 13)
        mm = MM(System())
        mm.mmap(DEFAULT_BASE, n * PAGE_SIZE, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
        lines = [f"mmap {n} pages rw- anonymous at page 0"]
        for _ in range(self.rng.randrange(2, 4)):
            page = self.rng.randrange(0, n)
            count = self.rng.randrange(1, max(2, n - page))
            addr, length = DEFAULT_BASE + page * PAGE_SIZE, count * PAGE_SIZE
            if self.rng.random() < 0.3:
                mm.munmap(addr, length)
                lines.append(f"munmap pages {page}..{page + count}")
            else:
                label, prot = self.rng.choice(list(PROTS.items())[:3])
                try:
                    mm.mprotect(addr, length, prot)
                except OSError:
                    lines.append(f"mprotect pages {page}..{page + count} to {label[:3]} "
                                 "(fails: part of it is unmapped)")
                    continue
                lines.append(f"mprotect pages {page}..{page + count} to {label[:3]}")
        return ("; then ".join(lines) + ". How many VMAs now? (page ranges end exclusive)",
                mm.map_count)


# --- the model next to this machine's kernel -------------------------------------------------
def _anon(page: int, n: int, prot: int = PROT_READ | PROT_WRITE) -> tuple[object, ...]:
    return ("mmap", page, n, prot, MAP_PRIVATE, "anon", 0)


#: The sequences the chapter replays on both sides (operations as :mod:`mmlab.live` takes them).
REPLAYS: MappingProxyType[str, tuple[tuple[object, ...], ...]] = MappingProxyType({
    "mmap": (_anon(4, 8),),
    "mprotect splits": (_anon(4, 8), ("mprotect", 7, 1, PROT_READ)),
    "mprotect back merges": (_anon(4, 8), ("mprotect", 7, 1, PROT_READ),
                             ("mprotect", 7, 1, PROT_READ | PROT_WRITE)),
    "munmap makes a hole": (_anon(4, 8), ("munmap", 6, 2)),
    "a file at an offset": (("mmap", 10, 4, PROT_READ, MAP_PRIVATE, "A", 3),),
})

#: Where the stored replays live (the fallback when no Linux kernel can be asked).
FALLBACK = course_data("course", "01", "replays.json")


@dataclass
class ReplayReport:
    """One replayed sequence: each call's return value on both sides, and the maps lines after it.

    ``source`` says where the kernel side came from (this machine, or the stored file).

    Model helper: no kernel counterpart.
    """

    name: str
    source: str
    steps: list[dict[str, object]] = field(default_factory=list)

    @property
    def agree(self) -> bool:
        """Did the model and the kernel agree at every step (return value and lines)?"""
        return all(s["real"] == s["model"] and s["real_lines"] == s["model_lines"]
                   for s in self.steps)

    def __str__(self) -> str:
        from mmlab.live import format_op  # live needs ctypes: loaded only when a replay prints

        out = [f"{self.name!r} — kernel side: {self.source}"]
        for i, s in enumerate(self.steps, 1):
            out.append(f"step {i}: {format_op(tuple(s['op']))}: the kernel returned "
                       f"{_ret(s['real'])}, the model {_ret(s['model'])}")
            out += [f"   {line}" for line in s["real_lines"]]  # type: ignore[union-attr]
            if s["real_lines"] == s["model_lines"] and s["real"] == s["model"]:
                out.append("   model: the same lines (mismatch: none)")
            else:
                out.append("   model differs:")
                out += [f"   {line}" for line in s["model_lines"]]  # type: ignore[union-attr]
        return "\n".join(out)


def _ret(value: object) -> str:
    if isinstance(value, int) and value < 0:
        return f"-{errno.errorcode.get(-value, -value)}"
    if isinstance(value, int) and value > 0 or value == "address":  # stored replays say so
        return "an address"
    return str(value)


def live_kernel_available() -> bool:
    """Can this process ask a Linux kernel (not a browser kernel, ``/proc/self/maps`` there)?

    Model helper: no kernel counterpart.
    """
    return (sys.platform == "linux" and os.path.exists("/proc/self/maps")
            and platform.machine() != "wasm32")


def run_replay(name: str) -> ReplayReport:
    """Run the sequence ``REPLAYS[name]`` on this machine's kernel and on the model.

    Model helper: no kernel counterpart.
    """
    from mmlab import live  # needs ctypes and libc: only when asked

    report = ReplayReport(name, f"this machine's kernel, Linux {platform.release()}")
    with live.Replay(pages=32) as rep:
        rep.add_file("A", 16)
        for op in REPLAYS[name]:
            real, model = rep.run_real(op), rep.run_model(op)
            report.steps.append({
                "op": list(op), "real": "address" if real > 0 else real,
                "model": "address" if model > 0 else model,
                "real_lines": rep.real_lines(), "model_lines": rep.model_lines(),
            })
    return report


def stored_replay(name: str, path: pathlib.Path | None = None) -> ReplayReport:
    """The stored replay of ``name`` (from ``data/course/01/replays.json``).

    Model helper: no kernel counterpart.
    """
    data = json.loads((path or FALLBACK).read_text())
    entry = data["replays"][name]
    return ReplayReport(name, f"stored, recorded on Linux {data['kernel']}", entry)


def replay(name: str) -> ReplayReport:
    """The replay of ``name`` on this machine if it can run, else the stored one.

    Model helper: no kernel counterpart.
    """
    if name not in REPLAYS:
        raise KeyError(f"no replay {name!r}; there are: {', '.join(map(repr, REPLAYS))}")
    if live_kernel_available():
        try:
            return run_replay(name)
        except OSError:
            pass
    return stored_replay(name)


def write_fallback(path: pathlib.Path | None = None) -> dict[str, object]:
    """Run every sequence of :data:`REPLAYS` here and store them as the fallback JSON.

    Model helper: no kernel counterpart.
    """
    data: dict[str, object] = {"kernel": platform.release(),
                               "replays": {n: run_replay(n).steps for n in REPLAYS}}
    target = path or FALLBACK
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n")
    return data
