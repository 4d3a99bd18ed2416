"""The whole story in one picture: where each page of a mapped file lives, under each strategy.

:class:`XipGlance` runs one of the XIP scenarios (:mod:`mmlab.scenarios`) under one of the
strategies of :mod:`mmlab.xip` and draws the mapping page by page: served straight from flash,
copied into RAM by the page cache, or a private copy; with the VMAs the kernel ended up with and
their ``/proc/PID/maps`` offsets. Switching between ``"refuse"``, ``"split"`` and
``"mixedmap"`` shows in one glance what the course is about: the pages that cost no RAM, and
what each design does to the VMA.

Model helper: no kernel counterpart (a drawing of :func:`mmlab.scenarios.run_scenario`).
"""

from __future__ import annotations

import ipywidgets as widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab.constants import PAGE_SIZE
from mmlab.scenarios import SCENARIOS, ScenarioRun, run_scenario, scenario_image
from mmlab.viz.base import PALETTE, Explorer, schematic_axes

__all__ = ["STRATEGY_LABELS", "XipGlance"]

#: The strategies the glance offers, with the words a newcomer reads.
STRATEGY_LABELS = (
    ("before the 2017 patch", "refuse"),
    ("the 2017 patch (split)", "split"),
    ("Linux 4.15 (mixed map)", "mixedmap"),
)

_WHERE_COLOUR = (
    ("flash", PALETTE["flash"]),
    ("page cache", PALETTE["file"]),
    ("anonymous", PALETTE["anon"]),
)


class XipGlance(Explorer):
    """One scenario under one strategy: each page's home, the VMAs, the RAM it costs.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 2.6)

    def __init__(self, name: str = "libc-past-xip", strategy: str = "split") -> None:
        super().__init__()
        self._image_bytes = scenario_image()
        self._runs: dict[tuple[str, str], ScenarioRun] = {}
        self.name = name
        self.strategy = strategy
        self.run = self._run()

    def _run(self) -> ScenarioRun:
        key = (self.name, self.strategy)
        if key not in self._runs:
            self._runs[key] = run_scenario(self.name, self.strategy, image=self._image_bytes)
        return self._runs[key]

    def make_controls(self) -> dict[str, widgets.Widget]:
        mapped = [s.name for s in SCENARIOS if s.touch and not s.open_write]
        return {
            "scenario": widgets.Dropdown(options=mapped, value=self.name,
                                         description="scenario"),
            "strategy": widgets.ToggleButtons(options=list(STRATEGY_LABELS),
                                              value=self.strategy, description="kernel",
                                              style={"button_width": "auto"}),
        }

    def on_change(self, name: str, value: object) -> None:
        if name == "scenario":
            self.name = str(value)
        else:
            self.strategy = str(value)
        self.run = self._run()

    def draw(self, fig: Figure) -> None:
        run = self.run
        sc = run.scenario
        pages = sc.pages
        width = 80 / max(pages, 1)
        ax = schematic_axes(fig)
        ax.text(0, 9.3, f"{sc.path}: {sc.why}", fontsize=9, va="top", color=PALETTE["text"])
        where = {t.page: t.where for t in run.touches if t.kind == "read"}
        where.update({t.page: t.where for t in run.touches if t.kind == "write" and t.where})
        for i in range(pages):
            colour = dict(_WHERE_COLOUR).get(where.get(i) or "", PALETTE["free"])
            ax.add_patch(Rectangle((2 + i * width, 3.6), width * 0.92, 2.2, facecolor=colour,
                                   edgecolor=PALETTE["muted"]))
            ax.text(2 + (i + 0.46) * width, 4.7, f"page {i}", ha="center", va="center",
                    fontsize=8)
        base = run.address or 0
        for vma in run.vmas:
            x0 = 2 + (vma.vm_start - base) // PAGE_SIZE * width
            x1 = 2 + (vma.vm_end - base) // PAGE_SIZE * width
            ax.add_patch(Rectangle((x0, 6.2), x1 - x0 - width * 0.08, 1.2, fill=False,
                                   edgecolor=PALETTE["text"]))
            perms = "".join(c if vma.vm_flags & bit else "-" for c, bit in
                            (("r", 1), ("w", 2), ("x", 4)))
            ax.text((x0 + x1) / 2, 6.8, f"VMA {perms}  offset {vma.vm_pgoff << 12:08x}",
                    ha="center", va="center", fontsize=8)
        for k, (label, colour) in enumerate(_WHERE_COLOUR):
            ax.add_patch(Rectangle((2 + k * 22, 0.6), 3, 1.6, facecolor=colour))
            ax.text(6 + k * 22, 1.4, label, va="center", fontsize=8)
        ram = run.ram
        ax.text(84, 4.7, f"RAM pages: {ram.ram}\nflash pages: {ram.flash}", va="center",
                fontsize=9, color=PALETTE["text"])

    def describe(self) -> str:
        run = self.run
        ram = run.ram
        lines = [f"{run.scenario.name} under {run.strategy!r}: {ram.flash} page(s) read in "
                 f"place from flash, {ram.ram} page(s) of RAM "
                 f"({ram.page_cache} page cache, {ram.anonymous} private copies)",
                 "/proc/PID/maps after the touches:", *run.maps_after,
                 "cramfs said:", *(run.kernel_log or ["(nothing)"])]
        return "\n".join(lines)

