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

from collections.abc import Mapping
from dataclasses import replace
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab.constants import PAGE_SIZE
from mmlab.physmem import frame_kind
from mmlab.scenarios import SCENARIOS, ScenarioRun, run_scenario, scenario_image
from mmlab.viz.base import PALETTE, Explorer, schematic_axes
from mmlab.viz.style import (
    KINDS,
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_collection,
    kind_patch,
    label_backing,
    wrap_to_width,
)

__all__ = ["PAGE_KINDS", "STRATEGY_LABELS", "VMA_KIND", "XipGlance", "page_homes"]

#: The strategies the glance offers, with the words a newcomer reads; each label ends with the
#: strategy's name in :mod:`mmlab.xip`, which the text under the picture uses ("under 'refuse'").
STRATEGY_LABELS = (
    ("before the 2017 patch (refuse)", "refuse"),
    ("the 2017 patch (split)", "split"),
    ("Linux 4.15 (mixedmap)", "mixedmap"),
)

#: How the glance draws a page of the mapping, by what its PTE points at after the touches
#: (:func:`mmlab.physmem.frame_kind`), or why it has none.
PAGE_KINDS: Mapping[str, Kind] = MappingProxyType({
    # chapter 0 comes before struct page (chapter 2): the legend says what a newcomer needs
    "flash": replace(KINDS["flash"], label="flash (read in place: no RAM)"),
    "page cache": KINDS["file"],
    "anonymous": Kind("anon", "private copy (RAM)", PALETTE["anon"], "..", "A"),
    "zero page": KINDS["zero"],
    "SIGBUS": KINDS["sigbus"],
    "SIGSEGV": Kind("sigsegv", "touch refused: SIGSEGV", PALETTE["sigbus"], "++", "S"),
    "absent": Kind("absent", "not present (not touched)", None, None, "", dashed=True),
})
#: The VMAs, drawn as outlines over the pages they cover.
VMA_KIND = Kind("vma", "a VMA: its permissions and the offset /proc/PID/maps shows", None,
                edge=PALETTE["text"], edge_width=1.0)


def page_homes(run: ScenarioRun) -> list[str]:
    """For each page of the mapping, what its PTE points at after the touches (a key of
    :data:`PAGE_KINDS`): ``"flash"``, ``"page cache"``, ``"anonymous"``, ``"zero page"``; for
    a page with no PTE, the signal its touch got (``"SIGBUS"``) or ``"absent"``.

    Model helper: no kernel counterpart.
    """
    pages = run.scenario.pages
    if run.address is None:
        return []
    signals = {t.page: t.signal for t in run.touches if t.signal}
    out = []
    for i in range(pages):
        pte = run.mm.pgd.walk(run.address + i * PAGE_SIZE)
        if pte is not None:
            kind = frame_kind(run.mm.physmem, pte.pfn)
            out.append(kind if kind in PAGE_KINDS else "page cache")
        else:
            out.append(signals.get(i) if signals.get(i) in PAGE_KINDS else "absent")
    return out


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
            # a row of its own: the label stays with its buttons when they wrap
            "strategy": widgets.ToggleButtons(options=list(STRATEGY_LABELS),
                                              value=self.strategy, description="kernel",
                                              style={"button_width": "auto"},
                                              layout=widgets.Layout(width="100%")),
        }

    def on_change(self, name: str, value: object) -> None:
        if name == "scenario":
            self.name = str(value)
        else:
            self.strategy = str(value)
        self.run = self._run()

    def draw(self, fig: Figure) -> None:
        """The mapping's pages, each drawn as where its PTE points; the VMAs over them; the
        pages of RAM and of flash they cost; a legend of what is drawn."""
        run = self.run
        sc = run.scenario
        pages = sc.pages
        width = 80 / max(pages, 1)
        ax = schematic_axes(fig)
        text = PALETTE["text"]
        title = wrap_to_width(ax, f"{sc.path}: {sc.why}", 97, 9)
        ax.text(1, 9.7, title, fontsize=9, va="top", color=text, linespacing=1.3)
        homes = page_homes(run)
        drawn: dict[str, list[Rectangle]] = {}
        if not homes:
            ax.text(2, 4.7, f"no mapping: {run.open_error or run.mmap_error}", va="center",
                    fontsize=9, color=PALETTE["muted"])
        for i, home in enumerate(homes):
            box = (2 + i * width, 3.6, 2 + (i + 0.92) * width, 5.8)
            drawn.setdefault(home, []).append(Rectangle(box[:2], box[2] - box[0], 2.2))
            label = first_fitting(ax, (f"page {i}", str(i)), (box[2] - box[0]) * 0.9, 8)
            if label:
                box_label(ax, box, label, fontsize=8, **label_backing(PAGE_KINDS[home]))
        for home, rects in drawn.items():
            ax.add_collection(kind_collection(rects, PAGE_KINDS[home]))
        base = run.address or 0
        for vma in run.vmas:
            x0 = 2 + (vma.vm_start - base) // PAGE_SIZE * width
            x1 = 2 + (vma.vm_end - base) // PAGE_SIZE * width - width * 0.08
            ax.add_patch(kind_patch((x0, 6.2), x1 - x0, 1.2, VMA_KIND))
            perms = "".join(c if vma.vm_flags & bit else "-" for c, bit in
                            (("r", 1), ("w", 2), ("x", 4)))
            offset = f"{vma.vm_pgoff << 12:08x}"
            label = first_fitting(ax, (f"VMA {perms}, offset {offset}", f"{perms} {offset}",
                                       offset, perms), (x1 - x0) * 0.94, 8)
            if label:
                box_label(ax, (x0, 6.2, x1, 7.4), label, fontsize=8)
        ram = run.ram
        ax.text(84, 4.7, f"RAM pages: {ram.ram}\nflash pages: {ram.flash}", va="center",
                fontsize=9, color=text, linespacing=1.4)
        kinds = [PAGE_KINDS[k] for k in PAGE_KINDS if k in drawn]
        if run.vmas:
            kinds.append(VMA_KIND)
        draw_legend(ax, kinds, 2, 1.9, fontsize=7.5)

    def alt_text(self) -> str:
        """The description, and each page's home as drawn."""
        homes = page_homes(self.run)
        where = ", ".join(f"page {i}: {PAGE_KINDS[h].label}" for i, h in enumerate(homes))
        return self.describe() + ("\npages: " + where if where else "")

    def describe(self) -> str:
        run = self.run
        ram = run.ram
        lines = [f"{run.scenario.name} under {run.strategy!r}: {ram.flash} page(s) read in "
                 f"place from flash, {ram.ram} page(s) of RAM "
                 f"({ram.page_cache} page cache, {ram.anonymous} private copies)",
                 "/proc/PID/maps after the touches:", *run.maps_after,
                 "cramfs said:", *(run.kernel_log or ["(nothing)"])]
        return "\n".join(lines)

