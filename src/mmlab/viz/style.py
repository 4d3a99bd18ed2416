"""How every drawing of the course encodes meaning: colours, patterns, legends, labels on boxes.

A learner must be able to read a picture in the browser, in print, and without telling red from
green. So each *kind* of thing the course draws (a flash page, a page-cache page, an anonymous
page, ...) is a :class:`Kind`: a fill from the Okabe-Ito palette (chosen to stay distinct for
the common colour-vision deficiencies), a hatch pattern, and a letter, so that colour is never
the only carrier. A drawing that uses a kind lists it in its legend (:func:`draw_legend`);
:mod:`mmlab.viz.layoutcheck` and the browser tests hold every drawing to that.

The conventions are carried into the SVG a browser draws through matplotlib's ``gid``:

* a patch or collection of one kind has ``gid="kind-<key>"`` (:func:`kind_patch`,
  :func:`kind_collection`); a legend swatch has ``gid="legend-<key>"``;
* a label that belongs to a box has ``gid="boxlabel_<x0>_<y0>_<x1>_<y1>"``, the box in figure
  fractions (:func:`box_label`), so a checker can find where its centre must lie.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from matplotlib.axes import Axes
from matplotlib.collections import PatchCollection
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch, Rectangle
from matplotlib.text import Text
from matplotlib.textpath import TextToPath

__all__ = [
    "KINDS",
    "OKABE_ITO",
    "PALETTE",
    "Kind",
    "box_label",
    "draw_legend",
    "first_fitting",
    "kind_collection",
    "kind_patch",
    "label_backing",
    "label_row",
    "text_width",
    "wrap_to_width",
]

#: The Okabe-Ito palette (Okabe & Ito, "Color Universal Design", 2002): eight colours that
#: stay distinguishable for protanopes, deuteranopes and tritanopes.
OKABE_ITO: Mapping[str, str] = MappingProxyType({
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
})

#: One colour per role, the same in every drawing. Fills are light tints of the Okabe-Ito
#: colours (black text stays readable on them); lines and highlights use the full colours.
PALETTE: Mapping[str, str] = MappingProxyType({
    "anon": "#7fd0b8",        # anonymous memory: bluish green
    "file": "#a9d8f4",        # file-backed, the page cache: sky blue
    "flash": "#f3cd72",       # the flash chip, no struct page: orange
    "ram": "#c8c8c8",         # a RAM frame in use by something not drawn
    "free": "#ffffff",        # unused
    "pfnmap": "#e6bcd3",      # raw frames (VM_PFNMAP / VM_MIXEDMAP): reddish purple
    "zero": "#f7f2a0",        # the shared zero page: yellow
    "compressed": "#7fb8d8",  # compressed bytes on flash: blue
    "meta": "#d0d0d0",        # metadata
    "sigbus": "#eeae80",      # a page past the end of the file: vermillion
    "highlight": "#D55E00",   # what the learner picked: vermillion
    "text": "#222222",
    "muted": "#6e6e6e",       # secondary text (dark enough to read: 5:1 on white)
    "edge": "#555555",        # box outlines
})


@dataclass(frozen=True)
class Kind:
    """One kind of thing a drawing shows, with every way it is told apart.

    ``key`` names it in ``gid`` tags; ``label`` is its legend text; ``face`` its fill (``None``
    for a hollow box: absent, not present); ``hatch`` a matplotlib hatch pattern (``None`` for
    plain); ``letter`` a one-letter mark for boxes too small for words; ``dashed`` draws the
    outline dashed (things that are not there); ``edge`` and ``edge_width`` give the outline a
    colour and width of its own (a mark drawn around a box: what the learner picked, where the
    next call acts).

    Model helper: no kernel counterpart.
    """

    key: str
    label: str
    face: str | None
    hatch: str | None = None
    letter: str = ""
    dashed: bool = False
    edge: str | None = None
    edge_width: float | None = None

    @property
    def hatch_colour(self) -> str:
        """The colour of the hatch lines: dark enough to see, light enough for text on top."""
        return "#8a8a8a" if self.face is None else "#6b6b6b"


#: The kinds the course draws in more than one picture. A drawing with kinds of its own
#: (the regions of a cramfs image) makes its own :class:`Kind` objects the same way.
KINDS: Mapping[str, Kind] = MappingProxyType({
    k.key: k for k in (
        Kind("flash", "flash (in place, no struct page)", PALETTE["flash"], "///", "F"),
        Kind("file", "page cache (RAM)", PALETTE["file"], None, "C"),
        Kind("anon", "anonymous (RAM)", PALETTE["anon"], "..", "A"),
        Kind("pfnmap", "raw frames", PALETTE["pfnmap"], "\\\\\\", "R"),
        Kind("zero", "zero page", PALETTE["zero"], "oo", "0"),
        Kind("ram", "other RAM in use", PALETTE["ram"], None, "M"),
        Kind("free", "free", PALETTE["free"], None, ""),
        Kind("absent", "not present", None, None, "", dashed=True),
        Kind("sigbus", "past EOF: SIGBUS", PALETTE["sigbus"], "xx", "S"),
        Kind("compressed", "compressed", PALETTE["compressed"], "--", "Z"),
        Kind("meta", "metadata", PALETTE["meta"], None, "M"),
    )
})


def _style(kind: Kind) -> dict[str, object]:
    return {
        "facecolor": kind.face if kind.face is not None else "none",
        "fill": kind.face is not None,
        "hatch": kind.hatch,
        "hatchcolor": kind.hatch_colour,
        "edgecolor": kind.edge if kind.edge is not None else
        PALETTE["edge"] if not kind.dashed else PALETTE["muted"],
        "linestyle": "--" if kind.dashed else "-",
    }


def kind_patch(xy: tuple[float, float], width: float, height: float, kind: Kind,
               **extra: object) -> Rectangle:
    """A rectangle drawn as ``kind`` (fill, hatch, outline), tagged ``kind-<key>``.

    ``extra`` overrides the style (``lw=2``, ``edgecolor=...``). Add it with ``ax.add_patch``.

    Model helper: no kernel counterpart.
    """
    style = {"linewidth": kind.edge_width or 0.8, **_style(kind), **extra}
    patch = Rectangle(xy, width, height, **style)  # type: ignore[arg-type]
    patch.set_gid(f"kind-{kind.key}")
    return patch


def kind_collection(patches: Sequence[Patch], kind: Kind, **extra: object) -> PatchCollection:
    """Many boxes of one kind as one collection (fast to draw), tagged ``kind-<key>``.

    A collection has one hatch, so a drawing makes one collection per kind.

    Model helper: no kernel counterpart.
    """
    style = _style(kind)
    collection = PatchCollection(
        patches, facecolors=style["facecolor"] if kind.face is not None else "none",
        edgecolors=style["edgecolor"],
        linewidths=extra.pop("linewidths", kind.edge_width or 0.8),
        linestyles=style["linestyle"], hatch=kind.hatch, **extra)  # type: ignore[arg-type]
    if kind.hatch:
        collection.set_hatchcolor(kind.hatch_colour)
    collection.set_gid(f"kind-{kind.key}")
    return collection


@functools.lru_cache(maxsize=4096)
def _width_points(text: str, size: float, family: str, weight: str) -> float:
    width, _height, _descent = TextToPath().get_text_width_height_descent(
        text, FontProperties(family=family, size=size, weight=weight), ismath=False)
    return width


def text_width(ax: Axes, text: str, size: float, *, family: str = "sans-serif",
               weight: str = "normal") -> float:
    """The width of one line of ``text`` at ``size`` points, in data units of ``ax``.

    Measured with the font matplotlib draws with (the browser draws an SVG's text with the same
    family when it has it), so a drawing can place labels side by side without overlap.

    Model helper: no kernel counterpart.
    """
    fig = ax.figure
    px_per_unit = (ax.get_position().width * fig.get_figwidth() * fig.dpi
                   / abs(ax.get_xlim()[1] - ax.get_xlim()[0]))
    widest = max((_width_points(line, size, family, weight) for line in text.split("\n")),
                 default=0.0)
    return widest * fig.dpi / 72 / px_per_unit


def box_label(ax: Axes, box: tuple[float, float, float, float], text: str, *,
              fontsize: float = 7, **extra: object) -> Text:
    """``text`` centred on ``box`` = ``(x0, y0, x1, y1)`` (data units), tagged with the box.

    The tag lets :mod:`mmlab.viz.layoutcheck` and the browser tests check that the label's
    centre lies in its box as the browser draws it.

    Model helper: no kernel counterpart.
    """
    x0, y0, x1, y1 = box
    to_figure = ax.transData + ax.figure.transFigure.inverted()
    (fx0, fy0), (fx1, fy1) = to_figure.transform([(x0, y0), (x1, y1)])
    fx0, fx1 = sorted((fx0, fx1))
    fy0, fy1 = sorted((fy0, fy1))
    options: dict[str, object] = {"ha": "center", "va": "center", "color": PALETTE["text"],
                                  **extra}
    label = ax.text((x0 + x1) / 2, (y0 + y1) / 2, text, fontsize=fontsize, **options)
    label.set_gid(f"boxlabel_{fx0:.4f}_{fy0:.4f}_{fx1:.4f}_{fy1:.4f}")
    return label


def draw_legend(ax: Axes, kinds: Iterable[Kind], x: float, y: float, *,
                fontsize: float = 7, right: float | None = None, align: str = "left",
                swatch: tuple[float, float] | None = None, row_gap: float | None = None,
                letters: bool = False) -> float:
    """Draw a swatch and a label per kind from ``(x, y)`` (the centre line of the first row).

    Entries go left to right (``align="right"``: right to left from ``x``), spaced by the
    measured width of their labels, and wrap onto a new row below before ``right`` (default:
    the right edge of the axes). Each swatch is drawn exactly as the picture draws the kind
    (fill, hatch, dashed outline) and tagged ``legend-<key>``; ``letters`` adds each kind's
    letter to its label (for drawings that mark small boxes with letters). Returns the ``y``
    of the last row, so a caller can place things under it.

    Model helper: no kernel counterpart.
    """
    x_lo, x_hi = sorted(ax.get_xlim())
    y_lo, y_hi = ax.get_ylim()
    down = -1.0 if y_hi > y_lo else 1.0
    fig = ax.figure
    unit_x = abs(x_hi - x_lo) / (ax.get_position().width * fig.get_figwidth() * 72)
    unit_y = abs(y_hi - y_lo) / (ax.get_position().height * fig.get_figheight() * 72)
    sw_w, sw_h = swatch if swatch is not None else (fontsize * 1.6 * unit_x,
                                                     fontsize * 1.0 * unit_y)
    gap = fontsize * 0.5 * unit_x
    spacing = fontsize * 1.4 * unit_x
    row_step = row_gap if row_gap is not None else fontsize * 1.7 * unit_y
    limit = right if right is not None else x_hi
    cursor, row_y = x, y
    for kind in kinds:
        label = kind.label + (f" ({kind.letter})" if letters and kind.letter else "")
        width = sw_w + gap + text_width(ax, label, fontsize)
        if align == "right":
            if cursor - width < x_lo and cursor != x:
                cursor, row_y = x, row_y + down * row_step
            left = cursor - width
            cursor = left - spacing
        else:
            if cursor + width > limit and cursor != x:
                cursor, row_y = x, row_y + down * row_step
            left = cursor
            cursor = left + width + spacing
        patch = kind_patch((left, row_y - sw_h / 2), sw_w, sw_h, kind,
                           linewidth=min(kind.edge_width, 1.6) if kind.edge_width else 0.6)
        patch.set_gid(f"legend-{kind.key}")
        ax.add_patch(patch)
        ax.text(left + sw_w + gap, row_y, label, fontsize=fontsize, va="center", ha="left",
                color=PALETTE["text"])
    return row_y


def label_backing(kind: Kind) -> dict[str, object]:
    """Text options for a label on a box of ``kind`` (pass them to :func:`box_label` or
    ``ax.text``): on a hatched box, a patch of the plain fill behind the text keeps the hatch
    lines off the letters; nothing for a plain box.

    Model helper: no kernel counterpart.
    """
    if not kind.hatch or kind.face is None:
        return {}
    return {"bbox": {"facecolor": kind.face, "edgecolor": "none", "pad": 2.0}}


def first_fitting(ax: Axes, candidates: Iterable[str], width: float, fontsize: float, *,
                  weight: str = "normal") -> str | None:
    """The first of ``candidates`` (longest first, say) whose one line fits in ``width`` data
    units of ``ax`` at ``fontsize``; ``None`` if none does.

    Model helper: no kernel counterpart.
    """
    for text in candidates:
        if text_width(ax, text, fontsize, weight=weight) <= width:
            return text
    return None


def wrap_to_width(ax: Axes, text: str, width: float, fontsize: float, *,
                  weight: str = "normal") -> str:
    """``text`` with newlines put between words so that each line fits in ``width`` data units
    of ``ax`` at ``fontsize`` (a single word wider than that keeps a line of its own).

    Model helper: no kernel counterpart.
    """
    lines: list[str] = []
    for paragraph in text.split("\n"):
        line = ""
        for word in paragraph.split():
            candidate = f"{line} {word}" if line else word
            if line and text_width(ax, candidate, fontsize, weight=weight) > width:
                lines.append(line)
                line = word
            else:
                line = candidate
        lines.append(line)
    return "\n".join(lines)


def label_row(ax: Axes, spans: Sequence[tuple[float, float]], texts: Sequence[str], y: float,
              *, fontsize: float = 7, rows: int = 1, row_step: float | None = None,
              gap: float | None = None, **extra: object) -> list[Text | None]:
    """One label per column: ``texts[i]`` centred on ``spans[i]`` = ``(x0, x1)`` (data units,
    left to right), on the line ``y``, each its own text (never one text padded with spaces).

    A label may be wider than its column; it then goes to the first of ``rows`` lines (each
    ``row_step`` below the one before; default: 1.25 lines of text) where it keeps ``gap``
    (default: a third of the font size) from the label before it, and is left out (``None``)
    if no line has room. An empty text draws nothing. Each label is tagged with its column and
    line (:func:`box_label`), so the checkers see that it sits on its column.

    Model helper: no kernel counterpart.
    """
    fig = ax.figure
    y_lo, y_hi = ax.get_ylim()
    unit_y = abs(y_hi - y_lo) / (ax.get_position().height * fig.get_figheight() * 72)
    unit_x = abs(ax.get_xlim()[1] - ax.get_xlim()[0]) / (
        ax.get_position().width * fig.get_figwidth() * 72)
    down = -1.0 if y_hi > y_lo else 1.0
    step = row_step if row_step is not None else fontsize * 1.25 * unit_y
    room = gap if gap is not None else fontsize / 3 * unit_x
    ends = [-float("inf")] * rows
    out: list[Text | None] = []
    for (x0, x1), text in zip(spans, texts, strict=True):
        if not text:
            out.append(None)
            continue
        half = text_width(ax, text, fontsize) / 2
        centre = (x0 + x1) / 2
        for row in range(rows):
            if centre - half >= ends[row] + room:
                ends[row] = centre + half
                row_y = y + down * row * step
                out.append(box_label(ax, (x0, row_y - step / 2, x1, row_y + step / 2), text,
                                     fontsize=fontsize, **extra))
                break
        else:
            out.append(None)
    return out
