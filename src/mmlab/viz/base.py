"""What every drawing of the course shares: a picture, a text, controls, and a static fallback.

An :class:`Explorer` keeps some state (an address, a chosen file, a step number), draws it with
matplotlib and describes it in a line of text. Shown in a notebook with a kernel, it is a live
widget: controls above, the picture and the text below, redrawn on every change. Shown where no
kernel runs (a docs page, a notebook opened read-only), the same display carries a PNG of the
current state, so a reader still sees the picture.

Tests and benchmarks drive it the way a learner does: :meth:`Explorer.set` changes a control,
:meth:`Explorer.press` presses a button, then :attr:`Explorer.text` and :meth:`Explorer.png`
show what changed (the live widget shows the same picture as SVG, :meth:`Explorer.svg`).
Each redraw's duration is kept in :attr:`Explorer.update_times` (the goal is
well under 100 ms for the model step and the redraw together).

The figure is a plain :class:`matplotlib.figure.Figure` on the Agg canvas, not pyplot: no global
figure registry, nothing that leaks between explorers, and the same picture everywhere.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import ipywidgets as widgets
import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmlab.viz.layoutcheck import Problem, layout_problems
from mmlab.viz.style import PALETTE

__all__ = ["DPI", "PALETTE", "STATIC_DPI", "Explorer", "course_data", "kernel_source",
           "live_or_stored", "load_stored", "schematic_axes"]

#: Resolution of every picture: small PNGs that redraw fast and read well in a notebook.
DPI = 72

#: Resolution of the static picture (a docs page): twice :data:`DPI`, shown at the figure's
#: size in CSS pixels (96 to the inch), so that 7 pt text is 9.3 px tall, and sharp.
STATIC_DPI = 2 * DPI


def course_data(*parts: str) -> Path:
    """A file or folder of the repository's ``data/``, found wherever the course runs.

    Looked for in ``$MMLAB_DATA``, then ``data/`` in the working directory and up to two
    levels above it (a chapter runs in ``notebooks/``, a lab in ``notebooks/labs/``; JupyterLite
    serves ``data/`` next to ``notebooks/``), then next to the package (an editable install).
    If none has it, the last candidate is returned, so that opening it names where it was
    expected.

    Model helper: no kernel counterpart.
    """
    here = Path.cwd()
    roots = [Path(os.environ["MMLAB_DATA"])] if os.environ.get("MMLAB_DATA") else []
    roots += [here / "data", here.parent / "data", here.parent.parent / "data",
              Path(__file__).resolve().parents[3] / "data"]
    for root in roots:
        if root.joinpath(*parts).exists():
            return root.joinpath(*parts)
    return roots[-1].joinpath(*parts)


_Comparison = TypeVar("_Comparison")


def live_or_stored(live: Callable[[], _Comparison], stored: Callable[[], _Comparison], *,
                   available: bool) -> _Comparison:
    """A comparison with the real kernel: ``live()`` where ``available`` says this machine's
    kernel can be read and reading it works, else ``stored()`` (a browser kernel, a machine
    without ``/proc``, or an ``OSError`` on the way).

    Model helper: no kernel counterpart.
    """
    if available:
        try:
            return live()
        except OSError:
            pass
    return stored()


def load_stored(path: Path | str) -> dict[str, object]:
    """A comparison stored as JSON by a ``write_course_data``, marked ``"source": "stored"``.

    Model helper: no kernel counterpart.
    """
    data = json.loads(Path(path).read_text())
    data["source"] = "stored"
    return data


def kernel_source(data: Mapping[str, object]) -> str:
    """Where a comparison's kernel side comes from, in words: this machine's kernel, or the
    machine a stored one was made on.

    Model helper: no kernel counterpart.
    """
    return ("this machine's kernel" if data.get("source") == "live"
            else f"stored from {data.get('machine', 'a real kernel')}")


def schematic_axes(fig: Figure, xlim: tuple[float, float] = (0, 100),
                   ylim: tuple[float, float] = (0, 10)) -> Axes:
    """One full-figure axes with no ticks or frame: the canvas of a schematic drawing.

    Model helper: no kernel counterpart.
    """
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98))
    ax.set_axis_off()
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    return ax


class Explorer:
    """A drawing with controls; subclasses say what to draw, describe and offer.

    Subclasses implement :meth:`draw` (onto a cleared figure) and :meth:`describe` (one or a
    few lines of plain text), and may offer controls by returning them from
    :meth:`make_controls` (name -> widget); a value widget calls :meth:`on_change` with its
    name and new value, a button :meth:`on_press` with its name. Both then redraw.

    Model helper: no kernel counterpart.
    """

    #: Figure size in inches (at :data:`DPI`).
    figsize: tuple[float, float] = (9.0, 3.0)

    def __init__(self) -> None:
        self._figure = Figure(figsize=self.figsize, dpi=DPI)
        FigureCanvasAgg(self._figure)
        self._controls: dict[str, widgets.Widget] | None = None
        self._image: widgets.Image | None = None
        self._label: widgets.HTML | None = None
        self._box: widgets.VBox | None = None
        self.update_times: list[float] = []
        self._quiet = False

    # --- what subclasses provide -------------------------------------------------------------
    def draw(self, fig: Figure) -> None:
        """Draw the current state on ``fig`` (already cleared)."""
        raise NotImplementedError

    def describe(self) -> str:
        """The current state in plain text (shown under the picture; what tests read)."""
        raise NotImplementedError

    def make_controls(self) -> dict[str, widgets.Widget]:
        """The controls, by name, in display order (none by default)."""
        return {}

    def on_change(self, name: str, value: object) -> None:
        """A control called ``name`` now has ``value``: update the state."""

    def on_press(self, name: str) -> None:
        """The button called ``name`` was pressed: update the state."""

    # --- what everybody uses -----------------------------------------------------------------
    @property
    def text(self) -> str:
        """The current description (:meth:`describe`)."""
        return self.describe()

    @property
    def controls(self) -> dict[str, widgets.Widget]:
        """The controls by name (made on first use, wired to redraw)."""
        if self._controls is None:
            self._controls = dict(self.make_controls())
            for name, control in self._controls.items():
                if isinstance(control, widgets.Button):
                    control.on_click(self._pressed_handler(name))
                else:
                    control.observe(self._changed_handler(name), names="value")
        return self._controls

    def png(self) -> bytes:
        """The picture of the current state, as PNG bytes (the static fallback)."""
        return self._render("png")

    def svg(self) -> bytes:
        """The picture of the current state, as SVG (what the live widget shows: sharp at any
        zoom, and faster to make than a PNG)."""
        return self._render("svg")

    def static_png(self) -> bytes:
        """The picture at :data:`STATIC_DPI`: the static fallback of a docs page."""
        return self._render("png", STATIC_DPI)

    def _render(self, fmt: str, dpi: int = DPI) -> bytes:
        # Text is most of what a schematic costs: SVG keeps it as text (the browser draws it,
        # five times smaller than glyph paths), and PNG skips FreeType's hinting.
        with matplotlib.rc_context({"svg.fonttype": "none", "text.hinting": "none"}):
            fig = self._figure
            fig.clear()
            self.draw(fig)
            out = io.BytesIO()
            fig.savefig(out, format=fmt, dpi=dpi)
        return out.getvalue()

    def layout_problems(self) -> list[Problem]:
        """What :mod:`mmlab.viz.layoutcheck` finds wrong with the current picture (overlapping
        labels, spaces a browser collapses, labels off their boxes, kinds missing from the
        legend): an empty list for a picture that reads right."""
        with matplotlib.rc_context({"svg.fonttype": "none", "text.hinting": "none"}):
            fig = self._figure
            fig.clear()
            self.draw(fig)
            return layout_problems(fig)

    def alt_text(self) -> str:
        """A text alternative to the picture, for readers who cannot see it (screen readers,
        the static page): by default the description under the picture."""
        return self.describe()

    def set(self, **values: object) -> None:
        """Change controls as a learner would (``explorer.set(address=0x7f0000001000)``)."""
        for name, value in values.items():
            control = self.controls.get(name)
            if control is None:
                raise KeyError(f"no control {name!r}; there are: {', '.join(self.controls)}")
            control.value = value  # type: ignore[attr-defined]

    def set_quietly(self, name: str, value: object) -> None:
        """Change a control's value without calling :meth:`on_change` or redrawing (for an
        explorer that moves one control from another's handler)."""
        with self.quietly():
            self.controls[name].value = value  # type: ignore[attr-defined]

    @contextmanager
    def quietly(self) -> Iterator[None]:
        """Within this block, control changes (values, options) neither call
        :meth:`on_change` nor redraw: one learner action, one redraw."""
        self._quiet = True
        try:
            yield
        finally:
            self._quiet = False

    def press(self, name: str) -> None:
        """Press the button called ``name``."""
        button = self.controls.get(name)
        if not isinstance(button, widgets.Button):
            raise KeyError(f"no button {name!r}")
        button.click()

    def widget(self) -> widgets.VBox:
        """The live widget: controls, picture, text."""
        if self._box is None:
            self._image = widgets.Image(format="svg+xml", value=self.svg())
            self._label = widgets.HTML(self._label_html())
            parts: list[widgets.Widget] = []
            if self.controls:
                parts.append(widgets.HBox(list(self.controls.values()),
                                          layout=widgets.Layout(flex_flow="row wrap")))
            parts += [self._image, self._label]
            self._box = widgets.VBox(parts)
        return self._box

    def refresh(self) -> None:
        """Redraw the picture and the text (after the state changed from code)."""
        start = time.perf_counter()
        if self._image is not None:
            self._image.value = self.svg()
        if self._label is not None:
            self._label.value = self._label_html()
        self.update_times.append(time.perf_counter() - start)

    def _label_html(self) -> str:
        # JupyterLab breaks output text anywhere (word-break: break-all): keep words whole
        return ("<pre style='margin:0;line-height:1.25;white-space:pre-wrap;"
                "word-break:normal;overflow-wrap:break-word'>"
                f"{html.escape(self.describe())}</pre>")

    def _changed_handler(self, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            if self._quiet:
                return
            start = time.perf_counter()
            self.on_change(name, change["new"])
            self.refresh()
            self.update_times[-1] = time.perf_counter() - start
        return handler

    def _pressed_handler(self, name: str) -> Callable[[widgets.Button], None]:
        def handler(_button: widgets.Button) -> None:
            start = time.perf_counter()
            self.on_press(name)
            self.refresh()
            self.update_times[-1] = time.perf_counter() - start
        return handler

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        """The widget where a kernel runs, with a PNG and the text for everywhere else."""
        bundle = dict(self.widget()._repr_mimebundle_())
        data = self.static_png()
        png = base64.b64encode(data).decode("ascii")
        bundle["image/png"] = png
        alt = html.escape(self.alt_text(), quote=True)
        # shown at the figure's size in CSS pixels (the PNG's width says it), never wider
        # than the page: 7 pt text is then 9.3 px tall, drawn with twice the pixels
        width = round(int.from_bytes(data[16:20], "big") * 96 / STATIC_DPI)
        bundle["text/html"] = (f'<figure class="mmlab-picture" style="margin:0">'
                               f'<img src="data:image/png;base64,{png}" width="{width}" '
                               f'style="max-width:100%;height:auto" alt="{alt}">'
                               '<figcaption style="text-align:left">'
                               f"{self._label_html()}</figcaption></figure>")
        bundle["text/plain"] = self.describe()
        return bundle
