"""What a drawn explorer shows, read back from its figure: for tests that a picture is *right*
(labels on the right boxes, legends that list exactly what is drawn), not only clean."""

from __future__ import annotations

from dataclasses import dataclass

from matplotlib.collections import Collection
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.text import Text

from mmlab.viz.base import Explorer


@dataclass(frozen=True)
class Shown:
    """A text as drawn: its string and its centre in data units of the picture's axes."""

    text: str
    x: float
    y: float
    tagged: bool


def draw(explorer: Explorer) -> tuple[Figure, list[str]]:
    """Draw the current picture; return the figure and what the layout checker finds."""
    problems = [str(p) for p in explorer.layout_problems()]
    return explorer._figure, problems  # noqa: SLF001 - the test reads what was drawn


def texts(fig: Figure) -> list[Shown]:
    """Every visible text of the first axes, with its centre as drawn (data units)."""
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    to_data = ax.transData.inverted()
    out = []
    for t in ax.findobj(Text):
        if not t.get_visible() or not t.get_text().strip() or t.axes is not ax:
            continue
        box = t.get_window_extent(renderer)
        x, y = to_data.transform(((box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2))
        out.append(Shown(t.get_text(), float(x), float(y),
                         (t.get_gid() or "").startswith("boxlabel_")))
    return out


def kinds(fig: Figure) -> tuple[set[str], set[str]]:
    """The kinds drawn (``kind-<key>``) and the kinds in the legend (``legend-<key>``)."""
    used, legend = set(), set()
    for artist in fig.findobj(lambda a: bool(a.get_gid()) and a.get_visible()):
        gid = artist.get_gid()
        if gid.startswith("kind-"):
            used.add(gid[5:])
        elif gid.startswith("legend-"):
            legend.add(gid[7:])
    return used, legend


def boxes_of(fig: Figure, key: str) -> list[tuple[float, float, float, float]]:
    """The boxes drawn as kind ``key``: ``(x0, y0, x1, y1)`` in data units."""
    out = []
    for artist in fig.findobj(lambda a: a.get_gid() == f"kind-{key}"):
        patches = artist.get_paths() if isinstance(artist, Collection) else [artist.get_path()]
        transform = (artist.get_patch_transform() if isinstance(artist, Patch)
                     else None)
        for path in patches:
            verts = transform.transform(path.vertices) if transform is not None \
                else path.vertices
            xs, ys = verts[:, 0], verts[:, 1]
            out.append((float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())))
    return out


def is_hollow_dashed(fig: Figure, key: str) -> bool:
    """Is every box of kind ``key`` drawn without fill and with a dashed outline?"""
    found = False
    for artist in fig.findobj(lambda a: a.get_gid() == f"kind-{key}"):
        found = True
        if isinstance(artist, Collection):
            faces = artist.get_facecolors()
            if len(faces) and any(f[3] > 0 for f in faces):
                return False
            styles = artist.get_linestyles()
            if not all(dashes is not None and len(dashes) for _off, dashes in styles):
                return False
        else:
            if artist.get_fill() or artist.get_linestyle() not in ("--", "dashed"):
                return False
    return found


def inside(shown: Shown, box: tuple[float, float, float, float]) -> bool:
    """Is the text's centre in the box?"""
    x0, y0, x1, y1 = box
    return x0 <= shown.x <= x1 and y0 <= shown.y <= y1
