"""What an explorer's picture holds, read back from the drawn figure (for the picture tests).

The explorers tag what they draw (``kind-<key>``, ``legend-<key>``, ``boxlabel_...``: see
:mod:`mmlab.viz.style`), so a test can ask which kinds a picture draws, what its legend lists,
and which label sits on which box, without parsing an image. :func:`look` draws the current
state once and reads it all.
"""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.text import Text

from mmlab.viz.base import Explorer
from mmlab.viz.layoutcheck import Problem


@dataclass(frozen=True)
class BoxLabel:
    """A label drawn on a box: its text and the box, in figure fractions (y upward)."""

    text: str
    box: tuple[float, float, float, float]
    artist: Text

    @property
    def centre(self) -> tuple[float, float]:
        x0, y0, x1, y1 = self.box
        return (x0 + x1) / 2, (y0 + y1) / 2


@dataclass(frozen=True)
class Picture:
    """One drawn state: its layout problems, texts, box labels, kinds drawn and in the legend."""

    problems: list[Problem]
    texts: list[Text]
    box_labels: list[BoxLabel]
    used: set[str]
    legend: set[str]

    @property
    def smallest_font(self) -> float:
        """The smallest font size of any text, in points."""
        return min(t.get_fontsize() for t in self.texts)

    def strings(self) -> list[str]:
        """Every text, in drawing order."""
        return [t.get_text() for t in self.texts]


def look(explorer: Explorer) -> Picture:
    """Draw the explorer's current state once (as ``svg()`` does) and read the picture."""
    problems = explorer.layout_problems()
    fig = explorer._figure
    drawn = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()
             and t.axes is not None and t in t.axes.texts]
    labels = []
    for t in drawn:
        gid = t.get_gid() or ""
        if gid.startswith("boxlabel_"):
            x0, y0, x1, y1 = (float(v) for v in gid.split("_")[1:5])
            labels.append(BoxLabel(t.get_text(), (x0, y0, x1, y1), t))
    used, legend = set(), set()
    for artist in fig.findobj(lambda a: bool(a.get_gid())):
        gid = artist.get_gid()
        if gid.startswith("kind-"):
            used.add(gid[5:])
        elif gid.startswith("legend-"):
            legend.add(gid[7:])
    return Picture(problems, drawn, labels, used, legend)
