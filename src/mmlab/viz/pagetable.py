"""The page-table walk drawn: a 48-bit address, its four indices, the tables, the PTE, the frame.

x86-64 with 4-level paging (v4.15 without ``CONFIG_X86_5LEVEL``) cuts a user address into five
fields: four 9-bit indices (pgd: bits 47-39, pud: 38-30, pmd: 29-21, pte: 20-12) and the 12-bit
offset inside the page. The p4d level of the generic code is folded into the pgd and has no
table of its own. :class:`PageTableWalkExplorer` follows one address through an mm's tables
(where the walk stops when a level is empty, the PTE, its bits, the frame and whether it is RAM
with a ``struct page`` or flash without one); :class:`AddressDrill` drills the split.

The second half holds the model against the machine: :func:`compare_pagemap` runs the same
mmap and touches on this process's kernel and on the model (:class:`mmlab.live.Replay`) and
reads both pagemaps; :func:`pagemap_comparison` falls back to the rows stored in
``data/course/02/pagemap.json`` where no Linux kernel is at hand.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import json
import os
import pathlib
import platform
import sys
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.mm import MM
from mmlab.pagetable import (
    PTRS_PER_PTE,
    Pte,
    pgd_index,
    pmd_index,
    pte_bits_names,
    pte_index,
    pud_index,
)
from mmlab.physmem import frame_kind
from mmlab.procfs import PM_FILE, PM_MMAP_EXCLUSIVE, PM_PFRAME_MASK, PM_PRESENT, PM_SOFT_DIRTY
from mmlab.viz.base import PALETTE, Explorer, course_data, live_or_stored, schematic_axes
from mmlab.viz.quiz import Drill
from mmlab.viz.style import (
    KINDS,
    Kind,
    box_label,
    draw_legend,
    kind_collection,
    kind_patch,
    label_backing,
    wrap_to_width,
)

__all__ = [
    "DATA_DIR",
    "FIELDS",
    "FRAME_KINDS",
    "PAGEMAP_STEPS",
    "AddressDrill",
    "PageTableWalkExplorer",
    "PagemapComparison",
    "PagemapRow",
    "WALK_KINDS",
    "Walk",
    "address_fields",
    "compare_pagemap",
    "live_kernel_available",
    "pagemap_comparison",
    "pagemap_flag_names",
    "parse_address",
    "stored_pagemap",
    "walk_address",
    "write_course_data",
]

#: The five fields of a user address: (name, high bit, low bit), most significant first.
FIELDS: tuple[tuple[str, int, int], ...] = (
    ("pgd", 47, 39),
    ("pud", 38, 30),
    ("pmd", 29, 21),
    ("pte", 20, 12),
    ("offset", 11, 0),
)
#: The four tables the walk reads, in order.
_TABLES = ("pgd", "pud", "pmd", "pte")
#: Highest user address + 1 with 4-level paging (bit 47 set means a kernel address).
_USER_END = 1 << 47
#: The ``page`` menu's value for "(typed address)" (no present page is at -1).
_TYPED = -1
#: The fallback data of this chapter (a checkout or an editable install).
DATA_DIR = course_data("course", "02")


def address_fields(address: int) -> tuple[int, int, int, int, int]:
    """The pgd, pud, pmd and pte indices of ``address`` and its offset in the page.

    Kernel: ``pgd_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L912>`_.
    """
    return (pgd_index(address), pud_index(address), pmd_index(address), pte_index(address),
            address & (PAGE_SIZE - 1))


def parse_address(text: str | int) -> int:
    """A user address from ``"0x7f3a5c2d1e8f"``, ``"7f3a5c2d1e8f"`` or an int.

    Raises ``ValueError`` naming what is wrong (not hex, negative, a kernel address).

    Model helper: no kernel counterpart.
    """
    if isinstance(text, int):
        value = text
    else:
        s = text.strip().lower().replace("_", "")
        try:
            value = int(s, 16)
        except ValueError:
            raise ValueError(f"{text!r} is not a hexadecimal address") from None
    if value < 0:
        raise ValueError(f"{value:#x} is negative")
    if value >= _USER_END:
        raise ValueError(f"{value:#x} is not a user address: with 4-level paging user "
                         f"addresses end at {_USER_END - 1:#x}")
    return value


@dataclass(frozen=True)
class Walk:
    """What a walk of one address found: its fields, how far it got, the PTE and the frame.

    ``levels`` counts the tables that exist on the way (1: only the pgd, 4: down to the PTE
    table); ``stop`` names the level whose entry was empty (``None`` when a PTE was found).
    ``where`` is ``"RAM"``, ``"zero page"``, ``"flash"`` or ``"nowhere"`` (no PTE).

    Kernel: ``follow_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4275>`_.
    """

    address: int
    fields: tuple[int, int, int, int, int]
    levels: int
    stop: str | None
    pte: Pte | None
    pfn_valid: bool
    where: str

    @property
    def pfn(self) -> int | None:
        """The frame number in the PTE, or None."""
        return None if self.pte is None else self.pte.pfn

    @property
    def phys(self) -> int | None:
        """The physical address: the frame's start plus the offset, or None."""
        return None if self.pte is None else (self.pte.pfn << PAGE_SHIFT) | self.fields[4]


def walk_address(mm: MM, address: int) -> Walk:
    """Walk ``mm``'s tables for ``address`` level by level, noting where it stops.

    Kernel: ``follow_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4275>`_.
    """
    pt = mm.pgd
    fields = address_fields(address)
    # The pud table exists iff the pgd entry is filled. PageTable.table_of only answers for
    # "pmd" and "pte", so the pud level is asked through the table's own lookup.
    if pt._pud(address, False) is None:  # noqa: SLF001 - no public accessor for this level
        levels, stop = 1, "pgd"
    elif pt.table_of("pmd", address) is None:
        levels, stop = 2, "pud"
    elif pt.table_of("pte", address) is None:
        levels, stop = 3, "pmd"
    else:
        levels, stop = 4, None
    pte = pt.walk(address) if levels == 4 else None
    if levels == 4 and pte is None:
        stop = "pte"
    mem = mm.physmem
    valid = pte is not None and mem.pfn_valid(pte.pfn)
    if pte is None:
        where = "nowhere"
    elif mem.is_zero_pfn(pte.pfn):
        where = "zero page"
    elif valid:
        where = "RAM"
    elif mem.pfn_is_flash(pte.pfn):
        where = "flash"
    else:
        where = "no memory"
    return Walk(address, fields, levels, stop, pte, valid, where)


def _where_words(walk: Walk) -> str:
    if walk.pte is None:
        return ""
    pfn = walk.pte.pfn
    if walk.where == "flash":
        return f"frame {pfn:#x} is flash: pfn_valid is false, there is no struct page"
    if walk.where == "zero page":
        return f"frame {pfn:#x} is the shared zero page (RAM, reserved struct page)"
    if walk.where == "RAM":
        return f"frame {pfn:#x} is RAM: pfn_valid is true, it has a struct page"
    return f"frame {pfn:#x} is neither RAM nor flash"


class PageTableWalkExplorer(Explorer):
    """Pick an address; see its five fields, the four tables, the PTE and the frame.

    Controls: ``address`` (a hex text) and ``page`` (one of the mm's present pages; choosing
    one keeps the current offset). ``PageTableWalkExplorer(mm, 0x7ffff7ffb123)``.

    Kernel: ``follow_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4275>`_.
    """

    figsize = (9.0, 3.9)

    def __init__(self, mm: MM, address: int | None = None) -> None:
        super().__init__()
        self.mm = mm
        self.pages: tuple[int, ...] = tuple(a for a, _ in mm.pgd.items()[:64])
        if address is None:
            address = self.pages[0] if self.pages else 0x7F3A5C2D1E8F
        self.address = parse_address(address)
        self.error: str | None = None
        self.walk = walk_address(mm, self.address)

    def make_controls(self) -> dict[str, widgets.Widget]:
        """An address to type and a list of the present pages."""
        # "(typed address)" has a value of its own: a Dropdown shows a value of None as blank
        options: list[tuple[str, int]] = [("(typed address)", _TYPED)]
        options += [(f"{a:#014x}", a) for a in self.pages]
        return {
            "address": widgets.Text(value=f"{self.address:#x}", description="address",
                                    continuous_update=False),
            "page": widgets.Dropdown(options=options, value=self._page_choice(),
                                     description="page"),
        }

    def _page_choice(self) -> int:
        """The ``page`` menu's value for the current address: its page if present, else
        "(typed address)"."""
        page = self.address & ~(PAGE_SIZE - 1)
        return page if page in self.pages else _TYPED

    def on_change(self, name: str, value: object) -> None:
        """Follow a new address (typed, or a present page with the current offset)."""
        if name == "address":
            try:
                self._go(parse_address(str(value)))
                self.error = None
            except ValueError as exc:
                self.error = str(exc)
                return
            self._sync("page", self._page_choice())
            return
        if name == "page" and isinstance(value, int) and value != _TYPED:
            self._go(value | (self.address & (PAGE_SIZE - 1)))
            self.error = None
            self._sync("address", f"{self.address:#x}")

    def _sync(self, name: str, value: object) -> None:
        """Show ``value`` in another control without reacting to it."""
        self.set_quietly(name, value)

    def _go(self, address: int) -> None:
        self.address = address
        self.walk = walk_address(self.mm, address)

    def describe(self) -> str:
        """The fields, the walk level by level, the PTE and the frame, in words."""
        w = self.walk
        g, u, m, t, off = w.fields
        lines = []
        if self.error:
            lines.append(f"! {self.error}; still showing {w.address:#x}")
        lines.append(f"address {w.address:#x} = pgd {g} | pud {u} | pmd {m} | pte {t} | "
                     f"offset {off:#x}")
        steps = []
        below = {"pgd": "pud table", "pud": "pmd table", "pmd": "PTE table", "pte": "PTE"}
        for level, index in zip(_TABLES, w.fields[:4], strict=True):
            if level == w.stop:
                steps.append(f"{level}[{index}] empty: the walk stops")
                break
            steps.append(f"{level}[{index}] -> {below[level]}")
        lines.append("walk: " + "; ".join(steps))
        if w.pte is None:
            lines.append("no PTE: an access here faults (the fault handler fills the missing "
                         "tables and the entry, if a VMA allows the access)")
        else:
            names = "|".join(pte_bits_names(w.pte.bits)) or "none"
            lines.append(f"PTE {w.pte.val:#018x}: {names}; pfn {w.pte.pfn:#x} -> "
                         f"physical {w.phys:#x}")
            lines.append(_where_words(w))
        return "\n".join(lines)

    def draw(self, fig: Figure) -> None:
        """The address bar, the four tables, the PTE and the frame."""
        ax = schematic_axes(fig, (0, 100), (0, 12))
        w = self.walk
        text = PALETTE["text"]
        ax.text(1, 11.4, f"address {w.address:#014x}; tables of {PTRS_PER_PTE} entries",
                fontsize=9, color=text, weight="bold", va="center")
        if self.error:
            ax.text(1, 10.6, wrap_to_width(ax, self.error, 97, 8), fontsize=8, va="center",
                    color=PALETTE["highlight"])
        # 1. the address, 48 bits wide, cut into its fields
        scale = 98.0 / 48
        fields: list[Rectangle] = []
        centres = []
        x = 1.0
        for (name, hi, lo), value in zip(FIELDS, w.fields, strict=True):
            width = (hi - lo + 1) * scale
            fields.append(Rectangle((x, 7.8), width, 2.1))
            shown = f"{value:#x}" if name == "offset" else str(value)
            box_label(ax, (x, 7.8, x + width, 9.9), f"{name} {hi}-{lo}\n{shown}",
                      fontsize=8.5, linespacing=1.5)
            centres.append(x + width / 2)
            x += width
        ax.add_collection(kind_collection(fields, WALK_KINDS["field"]))
        drawn = [WALK_KINDS["field"]]
        # 2. the four tables, left to right, then the frame
        box_w, gap = 15.0, 4.5
        links = []
        arrows = []
        tables: dict[str, list[Rectangle]] = {"table": [], "absent": []}
        stop: Rectangle | None = None
        for i, (level, index) in enumerate(zip(_TABLES, w.fields[:4], strict=True)):
            bx = 1 + i * (box_w + gap)
            exists = i < w.levels
            stopped = level == w.stop
            tables["table" if exists else "absent"].append(Rectangle((bx, 3.6), box_w, 3.4))
            if stopped:
                stop = Rectangle((bx, 3.6), box_w, 3.4)
            title = level.upper()
            if exists:
                entry = "empty: stop" if stopped else "-> frame" if level == "pte" else "-> next"
                label = f"{title}\n[{index}]\n{entry}"
            else:
                label = f"{title}\nnone"
            box_label(ax, (bx, 3.6, bx + box_w, 7.0), label, fontsize=8.5, linespacing=1.6,
                      color=text if exists else PALETTE["muted"])
            links.append([(centres[i], 7.8), (bx + box_w / 2, 7.0)])
            if exists and not stopped:
                arrows.append((bx + box_w, bx + box_w + gap))
        for key, rects in tables.items():
            if rects:
                ax.add_collection(kind_collection(rects, WALK_KINDS[key], linewidths=0.9))
                drawn.append(WALK_KINDS[key])
        if stop is not None:
            ax.add_collection(kind_collection([stop], WALK_KINDS["stop"], zorder=3))
            drawn.append(WALK_KINDS["stop"])
        if w.pte is not None:
            fx = 1 + 4 * (box_w + gap)
            fw = 99 - fx
            kind = FRAME_KINDS.get(frame_kind(self.mm.physmem, w.pte.pfn), WALK_KINDS["none"])
            ax.add_patch(kind_patch((fx, 3.6), fw, 3.4, kind, linewidth=0.9))
            drawn.append(kind)
            page = "no struct page" if w.where == "flash" else "struct page"
            box_label(ax, (fx, 3.6, fx + fw, 7.0),
                      f"pfn {w.pte.pfn:#x}\nphys {w.phys:#x}\n{w.where}: {page}",
                      fontsize=8.5, linespacing=1.6, **label_backing(kind))
            links.append([(centres[4], 7.8), (fx + fw / 2, 7.0)])
            names = " ".join(pte_bits_names(w.pte.bits))
            ax.text(1, 2.1, wrap_to_width(ax, f"PTE {w.pte.val:#018x}; bits: {names}", 97, 8.5),
                    fontsize=8.5, va="center", color=text)
        else:
            ax.text(1, 2.1, wrap_to_width(
                ax, f"no PTE: the walk stopped at the {w.stop} level (a fault here fills what "
                "is missing, if a VMA allows the access)", 97, 9), fontsize=9, va="center",
                color=PALETTE["highlight"])
        ax.add_collection(LineCollection(links, colors=PALETTE["muted"], linewidths=0.6))
        if arrows:  # shafts and heads as two artists: far cheaper than one arrow patch each
            ax.add_collection(LineCollection([[(x0, 5.3), (x1, 5.3)] for x0, x1 in arrows],
                                             colors="black", linewidths=1.0))
            ax.scatter([x1 - 0.4 for _, x1 in arrows], [5.3] * len(arrows), marker=">",
                       s=30, c="black")
        draw_legend(ax, drawn, 1, 0.75, fontsize=7.5)


#: The boxes of the walk: the address's fields, the tables, where the walk stops.
WALK_KINDS: Mapping[str, Kind] = MappingProxyType({
    "field": Kind("field", "a field of the address: its bits, its value", PALETTE["free"]),
    "table": Kind("table", "a page-table page (RAM)", PALETTE["meta"]),
    "absent": Kind("absent", "no table: the walk never gets there", None, dashed=True),
    "stop": Kind("stop", "the empty entry that ends the walk", None,
                 edge=PALETTE["highlight"], edge_width=2.2),
    "none": Kind("nomem", "no memory at this frame", None, "xx"),
})
#: The frame at the end of the walk, by :func:`mmlab.physmem.frame_kind`.
FRAME_KINDS: Mapping[str, Kind] = MappingProxyType({
    "flash": KINDS["flash"],
    "page cache": KINDS["file"],
    "anonymous": KINDS["anon"],
    "zero page": KINDS["zero"],
    "raw RAM": Kind("rawram", "RAM with a struct page, of no file", PALETTE["ram"], None, "M"),
})


class AddressDrill(Drill):
    """"Address 0x7f3a5c2d1e8f: its four indices and its offset?" Answer: a tuple of five ints.

    Kernel: ``pgd_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L912>`_.
    """

    def make(self) -> tuple[str, object]:
        """A user address (mostly where mmap puts things, 0x7f...) and its five fields."""
        rng = self.rng
        if rng.random() < 0.7:
            address = 0x7F0000000000 | rng.randrange(1 << 40)
        else:
            address = rng.randrange(0x400000, _USER_END)
        return (f"address {address:#x} -> its (pgd, pud, pmd, pte, offset)? "
                "Answer with a tuple of five ints.", address_fields(address))

    def same(self, given: object, answer: object) -> bool:
        """Any sequence of five ints equal to the fields counts."""
        if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != 5:
            return False
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in given):
            return False
        return tuple(given) == answer

    def feedback(self, given: object) -> str:
        """A sentence on an answer: right; not five numbers (and what to write); or which of
        the five fields are wrong, each with what to check (an index over 511, an offset over
        0xfff), without giving the value away (:meth:`answer` does, on request).

        Model helper: no kernel counterpart.
        """
        if given is Ellipsis:
            return "Not answered yet: write five numbers, (pgd, pud, pmd, pte, offset)."
        answer = self._answer
        assert isinstance(answer, tuple)
        if not isinstance(given, Sequence) or isinstance(given, str) or len(given) != 5 \
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in given):
            return (f"Write five numbers in parentheses, (pgd, pud, pmd, pte, offset), not "
                    f"{given!r}.")
        if tuple(given) == answer:
            return f"Right: {_fields_text(answer)}."
        wrong, right = [], []
        for name, mine, want in zip(_FIELD_NAMES, given, answer, strict=True):
            if mine == want:
                right.append(name)
            elif name == "offset":
                wrong.append("the offset: " + (
                    f"it is 12 bits, at most 0xfff, and {mine:#x} is more"
                    if not 0 <= mine < PAGE_SIZE else "the low 12 bits, bits 11-0"))
            else:
                wrong.append(f"the {name} index: " + (
                    f"an index is 9 bits, at most 511, and {mine} ({mine:#x}) is more"
                    if not 0 <= mine < 512 else f"bits {_FIELD_BITS[name]}"))
        lines = ["Not yet. Wrong: " + "; ".join(wrong) + "."]
        if right:
            lines.append("Right: " + ", ".join(right) + ".")
        lines.append("9 bits do not fall on hex digits: write the address in binary, or shift "
                     "and mask. drill.answer() shows the answer.")
        return "\n".join(lines)


_FIELD_NAMES = ("pgd", "pud", "pmd", "pte", "offset")
_FIELD_BITS = MappingProxyType({"pgd": "47-39", "pud": "38-30", "pmd": "29-21",
                                "pte": "20-12"})


def _fields_text(fields: Sequence[int]) -> str:
    """``pgd 254, pud 233, pmd 225, pte 209, offset 0xe8f``."""
    *indices, offset = fields
    return ", ".join(f"{n} {v}" for n, v in zip(_FIELD_NAMES, indices, strict=False)) \
        + f", offset {offset:#x}"


# --- the model against this machine's /proc/self/pagemap --------------------------------------
#: An operation of :class:`mmlab.live.Replay` (``("mmap", page, npages, prot, flags, src, file
#: page)``, ``("touch", page, write)``, ...).
Op = tuple[object, ...]

#: The touches the chapter compares: 2 anonymous pages, 4 pages of a private file mapping
#: (the file's pages are in the page cache: it was just written), a write to the first
#: anonymous page and a read of the file's first page. Pages are counted in the Replay region.
PAGEMAP_STEPS: tuple[Op, ...] = (
    ("mmap", 0, 2, 3, 2, "anon", 0),   # PROT_READ|PROT_WRITE, MAP_PRIVATE, anonymous
    ("mmap", 2, 4, 1, 2, "A", 0),      # PROT_READ, MAP_PRIVATE, file A pages 0-3
    ("touch", 0, True),                # write the first anonymous page
    ("touch", 2, False),               # read the file's first page
)
_REGION_PAGES = 8
_FLAG_NAMES = ((PM_PRESENT, "present"), (PM_FILE, "file-page"),
               (PM_MMAP_EXCLUSIVE, "exclusive"), (PM_SOFT_DIRTY, "soft-dirty"))


def pagemap_flag_names(entry: int) -> str:
    """``present,file-page`` for a pagemap entry (the flags, not the frame); ``-`` for none.

    Kernel: ``pte_to_pagemap_entry`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L1257>`_.
    """
    return ",".join(name for bit, name in _FLAG_NAMES if entry & bit) or "-"


@dataclass(frozen=True)
class PagemapRow:
    """One page of the region: the kernel's pagemap entry and the model's.

    Model helper: no kernel counterpart.
    """

    page: int
    real: int
    model: int

    @property
    def same_flags(self) -> bool:
        """Do the flag bits (everything but the frame number) agree?"""
        return self.real & ~PM_PFRAME_MASK == self.model & ~PM_PFRAME_MASK


@dataclass(frozen=True)
class PagemapComparison:
    """The rows of a comparison and where they come from.

    ``live``: read just now from this process; otherwise loaded from the stored data.
    ``real_pfns``: the reader could see frame numbers (root); ``kernel``: the kernel release.

    Model helper: no kernel counterpart.
    """

    rows: tuple[PagemapRow, ...]
    live: bool
    real_pfns: bool
    kernel: str

    @property
    def agree(self) -> bool:
        """Every page's flags agree."""
        return all(r.same_flags for r in self.rows)

    def table(self) -> str:
        """The rows as a small text table."""
        head = f"{'page':>4}  {'kernel flags':<32} {'model flags':<32} {'kernel pfn':>10} " \
               f"{'model pfn':>9}"
        out = [head]
        for r in self.rows:
            rp = r.real & PM_PFRAME_MASK
            real_pfn = f"{rp:#x}" if self.real_pfns and r.real & PM_PRESENT else "-"
            model_pfn = f"{r.model & PM_PFRAME_MASK:#x}" if r.model & PM_PRESENT else "-"
            mark = "" if r.same_flags else "   <- differs"
            out.append(f"{r.page:>4}  {pagemap_flag_names(r.real):<32} "
                       f"{pagemap_flag_names(r.model):<32} {real_pfn:>10} {model_pfn:>9}{mark}")
        source = "read just now from /proc/self/pagemap" if self.live else \
            "stored data (data/course/02/pagemap.json)"
        out.append(f"kernel {self.kernel}, {source}; "
                   f"{'flags agree' if self.agree else 'flags DIFFER'}")
        return "\n".join(out)


def live_kernel_available() -> bool:
    """Can this notebook read the real kernel's ``/proc/self`` (Linux, not a browser kernel)?

    Model helper: no kernel counterpart.
    """
    return sys.platform == "linux" and os.path.exists("/proc/self/maps") \
        and os.path.exists("/proc/self/pagemap")


def compare_pagemap(steps: Sequence[Op] = PAGEMAP_STEPS,
                    pages: int = _REGION_PAGES) -> PagemapComparison:
    """Run ``steps`` on this machine's kernel and on the model; both pagemaps, page by page.

    Needs Linux (:func:`live_kernel_available`). Raises ``RuntimeError`` if the maps lines
    already disagree (then the pagemaps would mean nothing).

    Model helper: no kernel counterpart.
    """
    from mmlab import live  # ctypes and libc: only where a real kernel is asked

    with live.Replay(pages=pages) as replay:
        replay.add_file("A", 4)
        mismatch = replay.run(steps)
        if mismatch is not None:
            raise RuntimeError(f"the maps lines differ:\n{mismatch}")
        real = replay.real_pagemap(0, pages)
        model = replay.model_pagemap(0, pages)
    rows = tuple(PagemapRow(i, r, m) for i, (r, m) in enumerate(zip(real, model, strict=True)))
    shown = any(r.real & PM_PFRAME_MASK for r in rows)
    return PagemapComparison(rows, True, shown, platform.release())


def stored_pagemap(path: pathlib.Path | None = None) -> PagemapComparison:
    """The comparison stored by :func:`write_course_data` (for machines without Linux).

    Model helper: no kernel counterpart.
    """
    with open(path or DATA_DIR / "pagemap.json") as f:
        data = json.load(f)
    rows = tuple(PagemapRow(int(r["page"]), int(r["real"]), int(r["model"]))
                 for r in data["rows"])
    return PagemapComparison(rows, False, bool(data["real_pfns"]), str(data["kernel"]))


def pagemap_comparison() -> PagemapComparison:
    """Live where the real kernel can be read, else the stored rows.

    Model helper: no kernel counterpart.
    """
    return live_or_stored(compare_pagemap, stored_pagemap, available=live_kernel_available())


def write_course_data(path: pathlib.Path | None = None) -> pathlib.Path:
    """Run :func:`compare_pagemap` here and store it as the chapter's fallback data.

    Model helper: no kernel counterpart.
    """
    target = path or DATA_DIR / "pagemap.json"
    comparison = compare_pagemap()
    data = {
        "what": "mmlab.viz.pagetable.compare_pagemap(): PAGEMAP_STEPS in a Replay of "
                f"{_REGION_PAGES} pages; real and model /proc/self/pagemap entries per page",
        "steps": [list(s) for s in PAGEMAP_STEPS],
        "kernel": comparison.kernel,
        "real_pfns": comparison.real_pfns,
        "rows": [asdict(r) for r in comparison.rows],
    }
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(data, indent=1) + "\n")
    return target
