"""Physical memory drawn: RAM frames with a ``struct page``, flash frames without, who maps them.

The model's :class:`~mmlab.physmem.PhysMem` has RAM (every frame has a ``struct page``:
``pfn_valid`` is true) and a flash window above it (no ``struct page``: ``pfn_valid`` is false);
one RAM frame is the shared zero page. :class:`PhysMemExplorer` draws the frames an mm's page
tables point at, each coloured by what maps it (anonymous memory, the page cache, raw flash
frames) and linked to the virtual page that maps it, and says for a chosen page what
``vm_normal_page`` makes of its PTE, and why.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab import fault, xip
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    is_cow_mapping,
)
from mmlab.memory import vm_normal_page
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.pagetable import Pte, pte_bits_names, pte_special
from mmlab.physmem import Page
from mmlab.physmem import frame_kind as physmem_frame_kind
from mmlab.scenarios import scenario_image
from mmlab.viz.base import PALETTE, Explorer, schematic_axes
from mmlab.viz.style import (
    KINDS,
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_collection,
    label_row,
)

__all__ = [
    "CHOSEN",
    "FRAME_KINDS",
    "KIND_COLOURS",
    "MappedFrame",
    "PhysMemExplorer",
    "explain_normal_page",
    "frame_kind",
    "mapped_frames",
    "vma_label",
    "xip_scene",
]

#: The colour of each kind of mapped frame.
KIND_COLOURS: Mapping[str, str] = MappingProxyType({
    "anonymous": PALETTE["anon"],
    "page cache": PALETTE["file"],
    "flash": PALETTE["flash"],
    "zero page": PALETTE["ram"],
    "raw RAM": PALETTE["pfnmap"],
})
_MAX_VIRT = 48
_MAX_RAM = 28
_MAX_FLASH = 24


def xip_scene(have_pte_special: bool = True) -> tuple[MM, dict[str, int]]:
    """The chapter's address space on a fresh machine, each mapping touched once.

    The scenario image is mounted on the machine's flash (``"mixedmap"``: v4.15's driver);
    mapped private: ``/bin/xipexe`` read+exec (4 pages, all XIP: ``remap_pfn_range``, so
    ``VM_PFNMAP``), ``/lib/libc.so.6`` read+exec (5 pages: text on flash through
    ``vm_insert_mixed``, data in the page cache; ``VM_MIXEDMAP``), ``/etc/motd.txt`` read
    (compressed: page cache) and 2 anonymous pages read+write. Touched: xipexe's first page,
    libc's first and fourth, motd's first, a write to the first anonymous page. Returns the mm
    and the start address of each mapping by name (``exe``, ``lib``, ``txt``, ``anon``).
    ``have_pte_special=False`` builds a classic ARM board instead of an x86 PC.

    Model helper: no kernel counterpart.
    """
    mm = MM(have_pte_special=have_pte_special)
    sb = xip.mount(scenario_image(), None, "mixedmap", system=mm.system)
    at = {
        "exe": mm.mmap(0, 4 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                       sb.open("/bin/xipexe")),
        "lib": mm.mmap(0, 5 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                       sb.open("/lib/libc.so.6")),
        "txt": mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, sb.open("/etc/motd.txt")),
        "anon": mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS),
    }
    for addr, write in ((at["exe"], False), (at["lib"], False), (at["lib"] + 3 * PAGE_SIZE, False),
                        (at["txt"], False), (at["anon"], True)):
        fault.do_page_fault(mm, addr, write=write)
    return mm, at


def frame_kind(mm: MM, pfn: int) -> str:
    """What the frame ``pfn`` holds: anonymous, page cache, flash, zero page or raw RAM.

    Model helper: no kernel counterpart.
    """
    return physmem_frame_kind(mm.physmem, pfn)


@dataclass(frozen=True)
class MappedFrame:
    """One present PTE of an mm: the virtual page, its VMA, the PTE and what it points at.

    ``page`` is what ``vm_normal_page`` returned (``None`` for a special mapping).

    Model helper: no kernel counterpart.
    """

    address: int
    vma: Vma
    pte: Pte
    kind: str
    pfn_valid: bool
    page: Page | None

    @property
    def pfn(self) -> int:
        """The frame number in the PTE."""
        return self.pte.pfn


def mapped_frames(mm: MM) -> list[MappedFrame]:
    """Every present PTE of ``mm`` in address order, with its frame's kind and struct page.

    Model helper: no kernel counterpart.
    """
    out = []
    for address, pte in mm.pgd.items():
        vma = mm.find_vma(address)
        if vma is None or vma.vm_start > address:
            continue
        out.append(MappedFrame(address, vma, pte, frame_kind(mm, pte.pfn),
                               mm.physmem.pfn_valid(pte.pfn), vm_normal_page(vma, address, pte)))
    return out


def vma_label(vma: Vma) -> str:
    """``7ffff7ffb000-7ffff7fff000 r-xp xipexe [PFNMAP]``: a VMA in one short line.

    Model helper: no kernel counterpart.
    """
    f = vma.vm_flags
    perms = "".join(c if f & bit else "-" for c, bit in (("r", 1), ("w", 2), ("x", 4)))
    perms += "s" if f & 8 else "p"
    name = os.path.basename(vma.vm_file.f_path) if vma.vm_file is not None else "[anon]"
    extra = " [PFNMAP]" if f & VM_PFNMAP else " [MIXEDMAP]" if f & VM_MIXEDMAP else ""
    return f"{vma.vm_start:x}-{vma.vm_end:x} {perms} {name}{extra}"


def explain_normal_page(mm: MM, vma: Vma, address: int, pte: Pte) -> tuple[Page | None, str]:
    """What ``vm_normal_page`` returns for this PTE, and the rule that decided it, in words.

    The page comes from the model's :func:`~mmlab.memory.vm_normal_page`; the reason follows
    the same two branches (with the special bit, as on x86; without it, as on classic ARM).

    Kernel: ``_vm_normal_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L822>`_.
    """
    page = vm_normal_page(vma, address, pte)
    mem = mm.physmem
    pfn = pte.pfn
    flags = vma.vm_flags
    if mm.system.have_pte_special:
        if not pte_special(pte):
            why = ("the PTE has no special bit, so the frame is a normal page: its struct "
                   "page is returned")
        elif flags & (VM_PFNMAP | VM_MIXEDMAP):
            kind = "VM_PFNMAP" if flags & VM_PFNMAP else "VM_MIXEDMAP"
            why = (f"the PTE carries the special bit (set when the raw frame was inserted) in "
                   f"a {kind} VMA: no struct page to hand out")
        else:
            why = "a special PTE outside PFNMAP/MIXEDMAP: only the zero page may be one"
        return page, "x86 (pte_special): " + why
    off = (address - vma.vm_start) >> PAGE_SHIFT
    if flags & VM_MIXEDMAP:
        why = (f"VM_MIXEDMAP: pfn_valid({pfn:#x}) is {mem.pfn_valid(pfn)}, so the frame is "
               + ("a normal page" if mem.pfn_valid(pfn) else "raw (no struct page)"))
    elif flags & VM_PFNMAP and pfn == vma.vm_pgoff + off:
        why = (f"VM_PFNMAP and the linear rule holds: pfn {pfn:#x} == vm_pgoff "
               f"{vma.vm_pgoff:#x} + page {off} of the VMA, so it is one of the raw frames "
               "remap_pfn_range put there")
    elif flags & VM_PFNMAP and not is_cow_mapping(flags):
        why = "VM_PFNMAP and not a COW mapping: every PTE in it is raw"
    elif mem.is_zero_pfn(pfn):
        why = "the zero page is never a normal page"
    elif flags & VM_PFNMAP:
        why = (f"VM_PFNMAP but pfn {pfn:#x} != vm_pgoff {vma.vm_pgoff:#x} + {off}: a COWed "
               "copy, a normal page")
    else:
        why = "an ordinary VMA: the frame is a normal page"
    return page, "no pte_special (classic ARM): " + why


class PhysMemExplorer(Explorer):
    """The frames an mm maps, RAM and flash, linked to its virtual pages; pick a VMA and a page.

    Controls: ``vma`` (an index into :attr:`vmas`, the VMAs with present pages) and ``page``
    (a present page of that VMA, by address).

    Kernel: ``_vm_normal_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L822>`_.
    """

    figsize = (9.0, 4.2)

    def __init__(self, mm: MM) -> None:
        super().__init__()
        self.mm = mm
        self.frames = mapped_frames(mm)
        seen: list[Vma] = []
        for f in self.frames:
            if not any(v is f.vma for v in seen):
                seen.append(f.vma)
        self.vmas: tuple[Vma, ...] = tuple(seen)
        self.chosen: MappedFrame | None = self.frames[0] if self.frames else None
        self._ram, self._flash = self._frames_to_draw()

    def _frames_to_draw(self) -> tuple[list[int], list[int]]:
        mem = self.mm.physmem
        mapped = {f.pfn for f in self.frames}
        ram_mapped = sorted(p for p in mapped if mem.pfn_valid(p))
        others = sorted(p.pfn for p in mem.allocated_pages() if p.pfn not in mapped)
        ram = sorted(set(ram_mapped + [mem.zero_pfn] + others[:max(0, _MAX_RAM - len(mapped))]))
        flash_mapped = sorted(p for p in mapped if mem.pfn_is_flash(p))
        top = max(flash_mapped, default=mem.flash_start_pfn)
        span = list(range(mem.flash_start_pfn, min(top + 1, mem.flash_start_pfn + _MAX_FLASH)))
        flash = sorted(set(span) | set(flash_mapped))
        self.hidden_ram = len(mem.allocated_pages()) - len(ram)
        return ram[:_MAX_RAM + len(ram_mapped)], flash

    def _frames_of(self, vma: Vma) -> list[MappedFrame]:
        return [f for f in self.frames if f.vma is vma]

    def make_controls(self) -> dict[str, widgets.Widget]:
        """A VMA, then a page of it."""
        vma_options = [(vma_label(v), i) for i, v in enumerate(self.vmas)]
        first = self.chosen.vma if self.chosen else None
        return {
            "vma": widgets.Dropdown(options=vma_options,
                                    value=self._vma_index(first) if vma_options else None,
                                    description="VMA", layout=widgets.Layout(width="34em")),
            "page": widgets.Dropdown(options=self._page_options(first),
                                     value=self.chosen.address if self.chosen else None,
                                     description="page"),
        }

    def _vma_index(self, vma: Vma | None) -> int | None:
        for i, v in enumerate(self.vmas):
            if v is vma:
                return i
        return None

    def _page_options(self, vma: Vma | None) -> list[tuple[str, int]]:
        if vma is None:
            return []
        return [(f"{f.address:#x}", f.address) for f in self._frames_of(vma)]

    def on_change(self, name: str, value: object) -> None:
        """A new VMA picks its first page; a new page is shown."""
        if name == "vma" and isinstance(value, int):
            vma = self.vmas[value]
            self.chosen = self._frames_of(vma)[0]
            with self.quietly():
                page = self.controls["page"]
                page.options = self._page_options(vma)  # type: ignore[attr-defined]
                page.value = self.chosen.address  # type: ignore[attr-defined]
        elif name == "page" and isinstance(value, int):
            for f in self.frames:
                if f.address == value:
                    self.chosen = f

    def describe(self) -> str:
        """The chosen page: its VMA, PTE, pfn, pfn_valid and what vm_normal_page returns."""
        f = self.chosen
        if f is None:
            return "no present pages in this mm: touch some memory first"
        mem = self.mm.physmem
        _, why = explain_normal_page(self.mm, f.vma, f.address, f.pte)
        page = "None (no struct page to use)" if f.page is None else \
            f"the struct page of frame {f.page.pfn:#x}"
        names = "|".join(pte_bits_names(f.pte.bits))
        return "\n".join([
            f"page {f.address:#x} in {vma_label(f.vma)}",
            f"PTE: pfn {f.pfn:#x}, {names}",
            f"pfn_valid({f.pfn:#x}) = {mem.pfn_valid(f.pfn)}: {f.kind}"
            + (" (flash: no struct page)" if f.kind == "flash" else ""),
            f"vm_normal_page -> {page}",
            f"  because {why}",
        ])

    def draw(self, fig: Figure) -> None:
        """Virtual pages on top (every page of each VMA, present or not), RAM and flash frames
        below (a gap where frame numbers jump), a line per present PTE, a legend of what is
        drawn."""
        ax = schematic_axes(fig, (0, 100), (0, 12))
        text = PALETTE["text"]
        boxes: dict[str, list[Rectangle]] = {}
        chosen_boxes: list[Rectangle] = []

        def box(x: float, y: float, w: float, h: float, key: str, chosen: bool) -> None:
            boxes.setdefault(key, []).append(Rectangle((x, y), w, h))
            if chosen:
                chosen_boxes.append(Rectangle((x, y), w, h))

        # top: the pages of each VMA, grouped by VMA
        ax.text(1, 11.4, "virtual pages, by VMA", fontsize=9, weight="bold", va="center",
                color=text)
        rows = [self._virtual_cells(vma) for vma in self.vmas]
        cells = sum(len(r) for r in rows)
        gap = 1.5
        cell = min(6.0, (98 - gap * max(len(self.vmas) - 1, 0)) / max(cells, 1))
        x = 1.0
        virt: dict[int, float] = {}
        spans: list[tuple[float, float]] = []
        names: list[str] = []
        for vma, row in zip(self.vmas, rows, strict=True):
            start = x
            for frame, count in row:
                if frame is None:
                    box(x, 8.0, cell, 1.6, "absent", False)
                    if count > 1:
                        label = first_fitting(ax, (f"{count} pages", f"×{count}", str(count)),
                                              cell * 0.9, 6.5)
                        if label:
                            box_label(ax, (x, 8.0, x + cell, 9.6), label, fontsize=6.5,
                                      color=PALETTE["muted"])
                else:
                    box(x, 8.0, cell, 1.6, _key(frame.kind), frame is self.chosen)
                    virt[frame.address] = x + cell / 2
                x += cell
            spans.append((start, x))
            name = vma_label(vma).split(" ", 2)[2]
            names.append(first_fitting(ax, (name, name.split(" ")[0]), max(x - start, 14), 7)
                         or "")
            x += gap
        label_row(ax, spans, names, 10.25, fontsize=7, rows=2, color=text)
        # bottom: RAM frames in use, then the flash window; a gap where the numbers jump
        mem = self.mm.physmem
        kinds = {f.pfn: f.kind for f in self.frames}
        chosen_pfn = self.chosen.pfn if self.chosen is not None else None
        jumps = sum(1 for seq in (self._ram, self._flash)
                    for a, b in zip(seq, seq[1:], strict=False) if b != a + 1)
        fcell = min(4.0, 92 / max(len(self._ram) + len(self._flash) + 0.4 * jumps, 1))
        ram_end = 1.0 + (len(self._ram) + 0.4 * sum(
            1 for a, b in zip(self._ram, self._ram[1:], strict=False) if b != a + 1)) * fcell
        flash_x = max(ram_end + 3, 40.0)
        flash_cell = min(fcell, (99 - flash_x) / max(len(self._flash) + 0.4 * jumps, 1))
        frame_x: dict[int, float] = {}
        # the frames, their numbers under them, and under those the headings (above the
        # frames, the PTE lines would cross them)
        y, h = 3.3, 1.7
        spans, labels, mapped_labels = [], [], []
        headings = []
        for title, pfns, x, width in (("RAM: a struct page for every frame", self._ram, 1.0,
                                       fcell),
                                      ("flash: no struct page", self._flash, flash_x,
                                       flash_cell)):
            headings.append((x, title))
            previous = None
            for pfn in pfns:
                if previous is not None and pfn != previous + 1:
                    x += 0.4 * width
                kind = kinds.get(pfn)
                if kind is not None:
                    key = _key(kind)
                elif pfn == mem.zero_pfn:
                    key = "zero"
                elif mem.pfn_valid(pfn):
                    key = "ram"
                else:
                    key = "unmapped"
                box(x, y, width, h, key, pfn == chosen_pfn)
                frame_x[pfn] = x + width / 2
                spans.append((x, x + width))
                labels.append(f"{pfn:#x}")
                mapped_labels.append(f"{pfn:#x}" if kind is not None or pfn == mem.zero_pfn
                                     else "")
                previous = pfn
                x += width
        # every frame's number where two lines hold them all; else those of the frames this
        # process maps (and the zero page), and the picture says so
        placed = label_row(ax, spans, labels, y - 0.4, fontsize=6.5, rows=2, color=text)
        notes = []
        if any(t is None for t in placed):
            for t in placed:
                if t is not None:
                    t.remove()
            placed = label_row(ax, spans, mapped_labels, y - 0.4, fontsize=6.5, rows=2,
                               color=text)
            if all(t is not None for t, want in zip(placed, mapped_labels, strict=True)
                   if want):
                notes.append("numbers under the frames this process maps")
            else:
                notes.append("too many frames to number each: alt_text() lists them")
        for x, title in headings:
            ax.text(x, 1.95, title, fontsize=8, weight="bold", va="center", color=text)
        if self.hidden_ram > 0:
            notes.append(f"+{self.hidden_ram} other RAM frames in use, not drawn")
        if notes:
            ax.text(99, 11.4, f"({'; '.join(notes)})", ha="right", va="center", fontsize=7,
                    color=PALETTE["muted"])
        # one line per PTE, the chosen one on top in red
        segments, colours, lws = [], [], []
        for f in sorted(self.frames, key=lambda f: f is self.chosen):
            if f.pfn in frame_x and f.address in virt:
                segments.append([(virt[f.address], 8.0), (frame_x[f.pfn], y + h)])
                chosen = f is self.chosen
                colours.append(PALETTE["highlight"] if chosen else PALETTE["muted"])
                lws.append(2.0 if chosen else 0.6)
        ax.add_collection(LineCollection(segments, colors=colours, linewidths=lws))
        for key, kind in FRAME_KINDS.items():
            if key in boxes:
                ax.add_collection(kind_collection(boxes[key], kind, linewidths=0.6))
        drawn = [kind for key, kind in FRAME_KINDS.items() if key in boxes]
        if chosen_boxes:
            ax.add_collection(kind_collection(chosen_boxes, CHOSEN, zorder=3))
            drawn.append(CHOSEN)
        draw_legend(ax, drawn, 1, 0.95, fontsize=7)

    def alt_text(self) -> str:
        """The description, and each drawn VMA page by page: its frame and what it holds."""
        lines = [self.describe()]
        for vma in self.vmas:
            present = {f.address: f for f in self._frames_of(vma)}
            pages = []
            for i in range((vma.vm_end - vma.vm_start) >> PAGE_SHIFT):
                f = present.get(vma.vm_start + i * PAGE_SIZE)
                pages.append(f"{i}: " + ("not present" if f is None else
                                         f"frame {f.pfn:#x} ({f.kind})"))
            lines.append(f"{vma_label(vma)}: " + ", ".join(pages))
        return "\n".join(lines)

    def _virtual_cells(self, vma: Vma) -> list[tuple[MappedFrame | None, int]]:
        """The cells drawn for ``vma``: ``(frame, 1)`` for a present page, ``(None, n)`` for
        ``n`` pages with no PTE (one cell each, or, in a VMA too long to draw page by page, one
        cell for a run of three or more)."""
        present = {f.address: f for f in self._frames_of(vma)}
        npages = (vma.vm_end - vma.vm_start) >> PAGE_SHIFT
        total = sum((v.vm_end - v.vm_start) >> PAGE_SHIFT for v in self.vmas)
        out: list[tuple[MappedFrame | None, int]] = []
        run = 0
        for i in range(npages):
            frame = present.get(vma.vm_start + i * PAGE_SIZE)
            if frame is None:
                run += 1
                continue
            out += _absent_cells(run, total > _MAX_VIRT)
            run = 0
            out.append((frame, 1))
        return out + _absent_cells(run, total > _MAX_VIRT)


def _absent_cells(run: int, squeeze: bool) -> list[tuple[MappedFrame | None, int]]:
    if squeeze and run >= 3:
        return [(None, run)]
    return [(None, 1)] * run


def _key(kind: str) -> str:
    """The key in :data:`FRAME_KINDS` of a :func:`frame_kind` answer."""
    return {"anonymous": "anon", "page cache": "file", "flash": "flash", "zero page": "zero",
            "raw RAM": "raw"}.get(kind, "ram")


#: How the explorer draws a page or a frame, by what it holds.
FRAME_KINDS: Mapping[str, Kind] = MappingProxyType({
    "anon": KINDS["anon"],
    "file": KINDS["file"],
    "flash": KINDS["flash"],
    "raw": Kind("raw", "raw RAM (no file, not anonymous)", PALETTE["pfnmap"], "\\\\\\", "R"),
    "zero": KINDS["zero"],
    "ram": KINDS["ram"],
    "unmapped": Kind("unmapped", "not mapped by this process", PALETTE["free"]),
    "absent": Kind("absent", "no PTE (not present)", None, dashed=True),
})
#: The chosen page and the frame its PTE points at.
CHOSEN = Kind("chosen", "the chosen page and its frame", None, edge=PALETTE["highlight"],
              edge_width=2.2)
