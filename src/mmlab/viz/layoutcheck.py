"""Is a picture right as it will be seen? Overlapping labels, collapsed spaces, stray labels.

A browser draws an SVG's text itself: it collapses runs of spaces (and drops leading and
trailing ones), so a row of values padded with spaces lands on the wrong boxes; and two labels
placed too close overlap. This module checks a drawn :class:`~matplotlib.figure.Figure` with
matplotlib's own text metrics (the same font the browser uses where DejaVu Sans is installed),
fast enough to run over every state of every explorer in the unit tests; the browser tests
check the same rules on the SVG as Chromium lays it out (``tests/browser/svgcheck.py``).

The rules, each a :class:`Problem` kind:

* ``overlap``: two text labels share more than a sliver of area;
* ``spacing``: a line of text has two spaces in a row, or starts or ends with a space;
* ``outside``: a label tagged with its box (:func:`mmlab.viz.style.box_label`) has its centre
  outside that box;
* ``clipped``: a label runs past the edge of the figure;
* ``legend``: a kind the picture draws (``gid="kind-<key>"``) is not in its legend
  (``gid="legend-<key>"``).

Model helper: no kernel counterpart (a check of the drawings).
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

__all__ = ["Label", "Problem", "figure_labels", "layout_problems", "spacing_problem"]

#: Overlaps smaller than this (in pixels, each way) are rounding, not a collision.
TOLERANCE = 1.0


@dataclass(frozen=True)
class Label:
    """One line-block of text as drawn: its text, its box in figure pixels, its tag.

    Model helper: no kernel counterpart.
    """

    text: str
    bbox: tuple[float, float, float, float]
    gid: str | None


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a picture: ``kind`` (see the module) and a sentence saying where.

    Model helper: no kernel counterpart.
    """

    kind: str
    message: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


def spacing_problem(line: str) -> bool:
    """Would a browser collapse or drop spaces of this line of SVG text?

    Model helper: no kernel counterpart.
    """
    return "  " in line or line != line.strip(" ")


def figure_labels(fig: Figure) -> list[Label]:
    """Every visible, non-empty text of ``fig`` with its extent (draws the figure once).

    Model helper: no kernel counterpart.
    """
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    renderer = canvas.get_renderer()
    hidden = _hidden_axis_texts(fig)
    out = []
    for text in fig.findobj(Text):
        if id(text) in hidden or not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        out.append(Label(text.get_text(), (box.x0, box.y0, box.x1, box.y1), text.get_gid()))
    return out


def _hidden_axis_texts(fig: Figure) -> set[int]:
    """Tick labels and axis labels of axes drawn without axes (a schematic), or hidden axes."""
    hidden: set[int] = set()
    for ax in fig.axes:
        texts: list[Text] = []
        for axis in (ax.xaxis, ax.yaxis):
            texts += [axis.label, axis.offsetText]
            texts += axis.get_ticklabels(minor=False) + axis.get_ticklabels(minor=True)
        if not ax.get_visible():
            texts += list(ax.texts) + [ax.title]
        if not ax.axison or not ax.get_visible():
            hidden.update(id(t) for t in texts)
    return hidden


def _kind_tags(fig: Figure) -> tuple[set[str], set[str]]:
    used, legend = set(), set()
    for artist in fig.findobj(lambda a: bool(a.get_gid())):
        gid = artist.get_gid() or ""
        if not artist.get_visible():
            continue
        if gid.startswith("kind-"):
            used.add(gid[5:])
        elif gid.startswith("legend-"):
            legend.add(gid[7:])
    return used, legend


def layout_problems(fig: Figure) -> list[Problem]:
    """Everything :mod:`this module <mmlab.viz.layoutcheck>` finds wrong with ``fig``.

    Model helper: no kernel counterpart.
    """
    labels = figure_labels(fig)
    problems: list[Problem] = []
    width, height = fig.bbox.width, fig.bbox.height
    for label in labels:
        for line in label.text.split("\n"):
            if line.strip() and spacing_problem(line):
                problems.append(Problem("spacing", f"{line!r} has spaces a browser collapses"))
        x0, y0, x1, y1 = label.bbox
        if x0 < -TOLERANCE or y0 < -TOLERANCE or x1 > width + TOLERANCE or \
                y1 > height + TOLERANCE:
            problems.append(Problem("clipped", f"{_short(label.text)!r} runs past the edge "
                                               f"of the picture"))
        if label.gid and label.gid.startswith("boxlabel_"):
            bx0, by0, bx1, by1 = (float(v) for v in label.gid.split("_")[1:5])
            cx, cy = (x0 + x1) / 2 / width, (y0 + y1) / 2 / height
            if not (bx0 - 1e-3 <= cx <= bx1 + 1e-3 and by0 - 1e-3 <= cy <= by1 + 1e-3):
                problems.append(Problem("outside", f"{_short(label.text)!r} is not on its box"))
    problems += _overlaps(labels)
    used, legend = _kind_tags(fig)
    for key in sorted(used - legend):
        problems.append(Problem("legend", f"the picture draws {key!r} but its legend "
                                          f"does not list it"))
    return problems


def _overlaps(labels: list[Label]) -> list[Problem]:
    out = []
    ordered = sorted(labels, key=lambda lab: lab.bbox[0])
    for i, a in enumerate(ordered):
        ax0, ay0, ax1, ay1 = a.bbox
        for b in ordered[i + 1:]:
            bx0, by0, bx1, by1 = b.bbox
            if bx0 >= ax1 - TOLERANCE:
                break
            dx = min(ax1, bx1) - max(ax0, bx0)
            dy = min(ay1, by1) - max(ay0, by0)
            if dx > TOLERANCE and dy > TOLERANCE:
                out.append(Problem("overlap", f"{_short(a.text)!r} and {_short(b.text)!r} "
                                              f"overlap"))
    return out


def _short(text: str) -> str:
    text = text.replace("\n", " / ")
    return text if len(text) <= 40 else text[:39] + "…"


def bbox_of(label: Label) -> Bbox:
    """The label's extent as a matplotlib :class:`~matplotlib.transforms.Bbox`.

    Model helper: no kernel counterpart.
    """
    return Bbox.from_extents(*label.bbox)
