"""``vm_pgoff`` repurposed: what a VMA's ``vm_pgoff`` holds and who reads it.

A file VMA's ``vm_pgoff`` is the file page that ``vm_start`` maps. ``remap_pfn_range`` on a COW
mapping (private, may write) overwrites it with the first page frame number it maps, so that
``vm_normal_page`` can tell, without a spare PTE bit, a raw frame (``pfn == vm_pgoff + page
offset``: the **linear rule**) from an anonymous copy made by a write fault. Everything that
reads ``vm_pgoff`` as a file offset then reads a pfn: ``/proc/PID/maps`` prints a physical
address as the "offset", and ``linear_page_index`` sends ``filemap_fault`` far past the end of
the file.

* :class:`PgoffExplorer`: pick a VMA kind (file or remapped, private or shared), a page and
  whether page 1 was written; see ``vm_pgoff``, the index the kernel derives from it, what
  ``vm_normal_page`` answers with and without ``pte_special``, and the ``/proc/PID/maps`` line.
* :func:`page_rows` / :func:`format_page_rows`: the same facts for every page of one VMA.
* :func:`cow_copy_that_fits`: the linear rule broken on purpose (a COW copy whose pfn fits it);
  :func:`frame_books`: a frame as its PTEs and its ``struct page`` count it (the copy, leaked).
* :func:`unfaulted_split_mapping`: libc mapped by the 2017 patch's ``vm_end`` trick, untouched.
* :func:`captured_maps`: the ``/proc/PID/maps`` lines a real kernel printed for a scenario.
* :func:`linear_index_cases` and :class:`MapsOffsetDrill`: the self-check and the drill.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import json
import pathlib
import random
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mmlab import xip
from mmlab.constants import (
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_READ,
    PROT_WRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    is_cow_mapping,
)
from mmlab.fs_types import AddressSpace
from mmlab.memory import remap_pfn_range, vm_normal_page
from mmlab.mm import MM
from mmlab.mm_types import Vma, linear_page_index
from mmlab.pagetable import pte_present, pte_special
from mmlab.physmem import PageAnon, page_count, page_mapcount
from mmlab.procfs import format_vma
from mmlab.scenarios import scenario_image
from mmlab.system import System
from mmlab.uaccess import user_read, user_write
from mmlab.viz.base import PALETTE, Explorer, course_data, schematic_axes
from mmlab.viz.quiz import Drill
from mmlab.viz.style import KINDS as STYLE_KINDS
from mmlab.viz.style import (
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_patch,
    label_backing,
)

__all__ = [
    "CAPTURES",
    "FRAME_KINDS",
    "KINDS",
    "FrameBooks",
    "MapsOffsetDrill",
    "PageRow",
    "PgoffExplorer",
    "captured_maps",
    "cow_copy_that_fits",
    "format_page_rows",
    "frame_books",
    "linear_index_cases",
    "normal_page_reason",
    "page_rows",
    "pgoff_world",
    "unfaulted_split_mapping",
]

#: The four kinds of VMA the explorer compares: (label, path on the cramfs image, mmap flags).
#: The "file" kinds map a compressed file (always served by the page cache); the "remapped"
#: kinds map the XIP executable, which v4.15's cramfs maps whole with ``remap_pfn_range``.
KINDS: tuple[tuple[str, str, int], ...] = (
    ("file private", "/etc/motd.txt", MAP_PRIVATE),
    ("file shared", "/etc/motd.txt", MAP_SHARED),
    ("remapped private", "/bin/xipexe", MAP_PRIVATE),
    ("remapped shared", "/bin/xipexe", MAP_SHARED),
)

#: Pages every explorer mapping covers.
NPAGES = 3

#: The real-kernel captures of the XIP scenarios (Linux 6.1 under QEMU; see its README).
CAPTURES = course_data("kernel-captures", "xip-scenarios.json")


def captured_maps(name: str, path: pathlib.Path | str = CAPTURES) -> tuple[int, list[str]]:
    """``(physical base of the flash image, /proc/PID/maps lines)`` a real kernel printed right
    after the mmap of scenario ``name``.

    Model helper: no kernel counterpart (reads ``data/kernel-captures/xip-scenarios.json``).
    """
    capture = json.loads(pathlib.Path(path).read_text())
    for sc in capture["scenarios"]:
        if sc["name"] == name:
            return int(capture["phys_addr"]), list(sc["maps"])
    raise KeyError(f"no captured scenario {name!r}")


def pgoff_world(kind: str, file_page: int = 0, have_pte_special: bool = True,
                written: bool = False) -> tuple[MM, Vma]:
    """A fresh machine and process with one VMA of ``kind`` (see :data:`KINDS`), every page
    touched.

    The scenario image is mounted on flash ("mixedmap", v4.15); the file is mapped read-only,
    :data:`NPAGES` pages from page ``file_page``, and each page is read once. ``written`` (private
    kinds only) then makes the mapping writable with ``mprotect`` and writes one byte to page 1:
    a COW copy. Returns the process and the VMA.

    Model helper: no kernel counterpart (a user program on the board).
    """
    label, path, flags = _kind(kind)
    system = System(have_pte_special=have_pte_special)
    sb = xip.mount(scenario_image(), None, "mixedmap", system=system)
    mm = MM(system)
    addr = mm.mmap(0, NPAGES * PAGE_SIZE, PROT_READ, flags, sb.open(path), file_page * PAGE_SIZE)
    for i in range(NPAGES):
        user_read(mm, addr + i * PAGE_SIZE, 1)
    if written:
        if flags != MAP_PRIVATE:
            raise ValueError(f"a {label} mapping cannot be written: no VM_MAYWRITE")
        mm.mprotect(addr, NPAGES * PAGE_SIZE, PROT_READ | PROT_WRITE)
        user_write(mm, addr + PAGE_SIZE, b"!")
    vma = mm.find_vma(addr)
    assert vma is not None
    return mm, vma


def _kind(kind: str) -> tuple[str, str, int]:
    for entry in KINDS:
        if entry[0] == kind:
            return entry
    raise KeyError(f"no VMA kind {kind!r}; there are: {', '.join(k[0] for k in KINDS)}")


def normal_page_reason(vma: Vma, addr: int, pfn: int, special_bit: bool,
                       have_pte_special: bool) -> str:
    """Which rule of ``vm_normal_page`` decides for a PTE of ``pfn`` at ``addr`` in ``vma``, in
    words (the decision itself comes from the model's :func:`~mmlab.memory.vm_normal_page`).

    Kernel: ``_vm_normal_page`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L822>`_.
    """
    if have_pte_special:
        return "the PTE has the special bit" if special_bit else "no special bit: a normal page"
    if vma.vm_flags & VM_MIXEDMAP:
        return "VM_MIXEDMAP: normal iff pfn_valid"
    if vma.vm_flags & VM_PFNMAP:
        if pfn == linear_page_index(vma, addr):
            return "VM_PFNMAP and the linear rule holds: a raw frame"
        if not is_cow_mapping(vma.vm_flags):
            return "VM_PFNMAP, not a COW mapping: every PTE is raw"
        return "VM_PFNMAP, COW mapping, linear rule fails: a COW copy"
    return "an ordinary VMA: a normal page"


@dataclass(frozen=True)
class PageRow:
    """What one page of a VMA shows: its PTE's pfn and frame, the linear index, the verdict.

    ``frame`` is ``"flash"`` (no struct page), ``"page cache"`` or ``"anonymous copy"``;
    ``linear`` is ``vm_pgoff + page`` (a file page index, or the pfn the linear rule expects);
    ``normal`` what ``vm_normal_page`` returned on this machine (``"page 0x..."`` or ``"None"``)
    and ``reason`` the rule that decided.

    Model helper: no kernel counterpart.
    """

    page: int
    addr: int
    pfn: int | None
    frame: str
    linear: int
    normal: str
    reason: str

    @property
    def rule_holds(self) -> bool:
        """Does the PTE's pfn equal ``vm_pgoff + page`` (the linear rule)?"""
        return self.pfn is not None and self.pfn == self.linear


def _frame(mm: MM, pfn: int) -> str:
    mem = mm.physmem
    if mem.pfn_is_flash(pfn):
        return "flash"
    page = mem.pfn_to_page(pfn)
    if PageAnon(page):
        return "anonymous copy"
    return "page cache" if isinstance(page.mapping, AddressSpace) else "RAM"


def _linear_words(vma: Vma, row: PageRow, short: bool = False) -> str:
    """vm_pgoff + n, and what it means in this VMA."""
    head = f"vm_pgoff+{row.page} = {row.linear:#x}"
    if not vma.vm_flags & VM_PFNMAP:
        return head + (": file page" if short else
                       ": the file page index filemap_fault looks up (linear_page_index)")
    if not is_cow_mapping(vma.vm_flags):
        return head + (": file page" if short else
                       ": still the file page (not COW: vm_normal_page ignores it)")
    if row.rule_holds:
        return head + (" = pfn" if short else " = the PTE's pfn: the linear rule holds")
    return head + (" ≠ pfn" if short else " != the PTE's pfn: the linear rule fails")


def page_rows(mm: MM, vma: Vma) -> list[PageRow]:
    """One :class:`PageRow` per page of ``vma``: the PTE, the linear index and what the model's
    ``vm_normal_page`` answers (a bad PTE it reports goes to ``mm.system.dmesg``, as in the
    kernel).

    Model helper: no kernel counterpart.
    """
    rows = []
    special = mm.system.have_pte_special
    for i in range((vma.vm_end - vma.vm_start) >> PAGE_SHIFT):
        addr = vma.vm_start + i * PAGE_SIZE
        pte = mm.pgd.walk(addr)
        linear = linear_page_index(vma, addr)
        if pte is None or not pte_present(pte):
            rows.append(PageRow(i, addr, None, "not mapped", linear, "-", "no PTE"))
            continue
        page = vm_normal_page(vma, addr, pte)
        rows.append(PageRow(i, addr, pte.pfn, _frame(mm, pte.pfn), linear,
                            "None" if page is None else f"page {page.pfn:#x}",
                            normal_page_reason(vma, addr, pte.pfn, pte_special(pte), special)))
    return rows


def format_page_rows(rows: list[PageRow]) -> str:
    """The rows of :func:`page_rows` as a small table.

    Model helper: no kernel counterpart.
    """
    out = [f"{'page':>4}  {'PTE pfn':>8}  {'frame':<15} {'vm_pgoff+n':>10}  rule  "
           f"{'vm_normal_page':<14}  why"]
    for r in rows:
        pfn = "-" if r.pfn is None else f"{r.pfn:#x}"
        out.append(f"{r.page:>4}  {pfn:>8}  {r.frame:<15} {r.linear:>#10x}  "
                   f"{'yes' if r.rule_holds else 'no':<4}  {r.normal:<14}  {r.reason}")
    return "\n".join(out)


def cow_copy_that_fits(have_pte_special: bool = False) -> tuple[MM, Vma]:
    """The linear rule fooled: a COW copy lands on exactly the pfn the rule expects.

    On a machine without ``pte_special``, a private 2-page file mapping is remapped with
    ``remap_pfn_range`` onto RAM frames ``X - 1`` and ``X``, where ``X`` is a frame the page
    allocator will hand out next (nobody owns it: the raw mapping does not take a reference).
    A write to page 1 then copies it into a new anonymous page, which is frame ``X`` again:
    ``pfn == vm_pgoff + 1``, so ``vm_normal_page`` calls the copy a raw frame. The copy *is*
    mapped (one PTE, mapcount 1, refcount 1), but nothing that asks ``vm_normal_page`` sees it:
    when the VMA is unmapped, ``zap_pte_range`` clears the PTE and drops neither count, so the
    frame is never freed (:func:`frame_books` shows both moments). Returns the process and the
    VMA (page 1 written). With ``have_pte_special`` the same steps are harmless: the copy's PTE
    lacks the special bit.

    (``check_mm_invariants`` counts only the PTEs ``vm_normal_page`` recognises, so it reports
    the copy as mapped nowhere even while its PTE is there; after the unmap that is true.)

    Model helper: no kernel counterpart (a driver remapping RAM it does not own).
    """
    from mmlab.fs import file_from_bytes  # noqa: PLC0415 - only this demo needs it

    mm = MM(have_pte_special=have_pte_special)
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE,
                   file_from_bytes(b"r" * 2 * PAGE_SIZE, "/dev/ramwindow"), 0)
    vma = mm.find_vma(addr)
    assert vma is not None
    spare = mm.physmem.alloc_page()
    assert spare is not None
    target = spare.pfn
    mm.physmem.put_page(spare)  # back on top of the free list: the next allocation
    ret = remap_pfn_range(vma, addr, target - 1, 2 * PAGE_SIZE, vma.vm_page_prot)
    if ret:
        raise RuntimeError(f"remap_pfn_range returned {ret}")
    user_write(mm, addr + PAGE_SIZE, b"w")
    return mm, vma


@dataclass(frozen=True)
class FrameBooks:
    """One RAM frame, as the page tables and its ``struct page`` each count it.

    ``ptes``: how many present PTEs of the process point at the frame (a walk of its page
    tables); ``counted``: how many of those ``vm_normal_page`` turns into the frame's
    ``struct page``, which are the ones an unmap will uncount (``zap_pte_range`` asks it for
    every PTE it clears); ``mapcount`` and ``refcount``: ``page_mapcount`` and ``page_count``.
    The frame is free when ``refcount`` is 0.

    Model helper: no kernel counterpart.
    """

    pfn: int
    ptes: int
    counted: int
    mapcount: int
    refcount: int

    @property
    def leaked(self) -> bool:
        """Held (``refcount`` > 0) although no PTE maps it and nothing else owns it."""
        return self.refcount > 0 and self.ptes == 0

    def __str__(self) -> str:
        if self.ptes == 0:
            where = "no PTE maps it"
        elif self.ptes == 1:
            where = "mapped by 1 PTE, " + ("counted by vm_normal_page" if self.counted else
                                            "which vm_normal_page calls raw (not counted)")
        else:
            where = f"mapped by {self.ptes} PTEs, {self.counted} counted by vm_normal_page"
        if self.refcount == 0:
            return f"frame {self.pfn:#x}: {where}; free (refcount 0)"
        tail = ": a reference nobody will drop, never freed (leaked)" if self.leaked else ""
        return (f"frame {self.pfn:#x}: {where}; mapcount {self.mapcount}, "
                f"refcount {self.refcount}{tail}")


def frame_books(mm: MM, pfn: int) -> FrameBooks:
    """:class:`FrameBooks` of RAM frame ``pfn`` in process ``mm``.

    Counts the present PTEs of every VMA of ``mm`` that point at ``pfn`` and asks the model's
    ``vm_normal_page`` about each (as ``zap_pte_range`` does when it unmaps:
    `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L1307>`_),
    then reads the frame's ``struct page``. ``pfn`` must be a RAM frame (it has a
    ``struct page``).

    Model helper: no kernel counterpart.
    """
    mem = mm.physmem
    if not mem.pfn_valid(pfn):
        raise ValueError(f"frame {pfn:#x} has no struct page: frame_books needs a RAM frame")
    ptes = counted = 0
    for vma in mm.vmas:
        for addr, pte in mm.pgd.range(vma.vm_start, vma.vm_end):
            if pte_present(pte) and pte.pfn == pfn:
                ptes += 1
                page = vm_normal_page(vma, addr, pte)
                counted += page is not None and page.pfn == pfn
    page = mem.pfn_to_page(pfn)
    return FrameBooks(pfn, ptes, counted, page_mapcount(page), page_count(page))


def unfaulted_split_mapping() -> tuple[MM, Vma]:
    """``/lib/libc.so.6`` (5 pages, the first 3 XIP) mapped by the 2017 patch ("split"),
    before any fault: one VMA whose first 3 pages are remapped from flash and whose
    ``vm_pgoff`` is the pfn of the first, with the last 2 pages not mapped yet.

    Model helper: no kernel counterpart (the program of the ``libc-past-xip`` scenario).
    """
    sb = xip.mount(scenario_image(), None, "split", system=System())
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, sb.open("/lib/libc.so.6"), 0)
    vma = mm.find_vma(addr)
    assert vma is not None
    return mm, vma


def linear_index_cases(seed: int = 6) -> list[tuple[tuple[int, int, int], int]]:
    """Cases ``((vm_start, vm_pgoff, addr), index)`` for a learner's ``linear_page_index``; the
    expected index is the model's :func:`~mmlab.mm_types.linear_page_index`.

    Model helper: no kernel counterpart.
    """
    rng = random.Random(seed)
    cases = []
    fixed = [(0x7FFFF7FFB000, 0, 0x7FFFF7FFB000), (0x7FFFF7FFB000, 1, 0x7FFFF7FFD000),
             (0x7FFFF7FFA000, 0x800E, 0x7FFFF7FFD000), (0x40000000, 0x10001, 0x40002ABC),
             (0x7F0000000000, 3, 0x7F0000000FFF)]
    for _ in range(7):
        start = rng.randrange(0x10000, 0x7FFFF000) << PAGE_SHIFT
        pgoff = rng.choice([rng.randrange(0, 64), rng.randrange(0x8000, 0xA000)])
        fixed.append((start, pgoff, start + rng.randrange(0, 16 * PAGE_SIZE)))
    for start, pgoff, addr in fixed:
        vma = Vma(start, start + 64 * PAGE_SIZE, vm_pgoff=pgoff)
        cases.append(((start, pgoff, addr), linear_page_index(vma, addr)))
    return cases


class MapsOffsetDrill(Drill):
    """What does ``/proc/PID/maps`` print as the offset? A cramfs file whose XIP blocks start
    at a physical address is mapped private or shared, from some file page: private (COW) ->
    the physical address of the first mapped page; shared -> the file offset. A learner may
    answer with the number (``0x...`` as an int) or the 8 hex digits as a string;
    :meth:`answer` gives it as the column prints it (``"08003000"``), :meth:`feedback` judges
    an answer and :meth:`explain` works it out.

    Model helper: no kernel counterpart.
    """

    def make(self) -> tuple[str, object]:
        """A new mapping and its maps offset."""
        base = self.rng.choice([0x08000000, 0x10000000, 0x20000000])
        first = base + self.rng.randrange(1, 64) * PAGE_SIZE
        page = self.rng.randrange(0, 4)
        private = self.rng.random() < 0.6
        self._setup = (first, page, private)
        kind = "MAP_PRIVATE" if private else "MAP_SHARED"
        text = (f"A cramfs file's first block lies at physical {first:#010x} (flash), all its "
                f"pages XIP. A program maps 2 pages of it, read-only, {kind}, from file offset "
                f"{page * PAGE_SIZE:#x}; cramfs maps the whole VMA with remap_pfn_range. What "
                "offset does /proc/PID/maps print?")
        return text, first + page * PAGE_SIZE if private else page * PAGE_SIZE

    @staticmethod
    def _number(given: object) -> int | None:
        """An int, or a hex string with or without ``0x`` (as the column prints it)."""
        if isinstance(given, bool):
            return None
        if isinstance(given, int):
            return given
        if isinstance(given, str):
            try:
                return int(given.strip(), 16)
            except ValueError:
                return None
        return None

    def same(self, given: object, answer: object) -> bool:
        """An int, or a hex string with or without ``0x``."""
        return self._number(given) == answer

    def answer(self) -> str:
        """The answer as ``/proc/PID/maps`` prints it: eight hex digits (``"08003000"``)."""
        return f"{self._answer:08x}"

    def explain(self) -> str:
        """Why the column shows what it shows, for the current problem."""
        first, page, private = self._setup
        if private:
            return (f"MAP_PRIVATE: a COW mapping (private, and it may become writable), so "
                    f"remap_pfn_range puts the pfn of vm_start's page in vm_pgoff. vm_start maps "
                    f"file offset {page * PAGE_SIZE:#x}, which lies at physical {first:#x} + "
                    f"{page * PAGE_SIZE:#x} = {first + page * PAGE_SIZE:#x}; the column prints "
                    f"vm_pgoff << 12 in 8 hex digits: {self.answer()}.")
        return (f"MAP_SHARED of a cramfs file (opened read-only: the mount allows nothing else): "
                f"not a COW mapping, so remap_pfn_range "
                f"leaves vm_pgoff alone and the column shows the file offset, "
                f"{page * PAGE_SIZE:#x}, in 8 hex digits: {self.answer()}.")

    def feedback(self, given: object) -> str:
        """A sentence on an answer: not written yet, not a number, right, or wrong (with the
        column as the kernel prints it: the learner has tried)."""
        if given is Ellipsis:
            return "Not answered yet: write the offset as 0x... or as 8 hex digits in quotes."
        mine = self._number(given)
        if mine is None:
            return (f"Write the offset as a number (0x08003000) or as the column's 8 hex digits "
                    f"in quotes (\"08003000\"), not {given!r}.")
        if mine == self._answer:
            return f"Right: the column shows {self.answer()}."
        return (f"Not quite: you wrote {mine:08x}, the column shows {self.answer()}. Private or "
                "shared? Then: which page does vm_start map? print(drill.explain()) works it "
                "out.")


#: How the explorer draws a page by what its PTE points at, the chosen page, and the two
#: verdicts of ``vm_normal_page``.
FRAME_KINDS: MappingProxyType[str, Kind] = MappingProxyType({
    "flash": STYLE_KINDS["flash"],
    "page cache": STYLE_KINDS["file"],
    "anonymous copy": Kind("anon", "anonymous copy (RAM)", STYLE_KINDS["anon"].face,
                           STYLE_KINDS["anon"].hatch, "A"),
    "RAM": STYLE_KINDS["ram"],
    "not mapped": STYLE_KINDS["absent"],
})
_CHOSEN = Kind("chosen-page", "the chosen page", None, edge=PALETTE["highlight"],
               edge_width=2.5)
_VERDICTS = MappingProxyType({
    "raw": Kind("verdict-raw", "vm_normal_page: None (taken as a raw frame)", PALETTE["pfnmap"],
                "\\\\\\"),
    "page": Kind("verdict-page", "vm_normal_page: a struct page (a normal page)", PALETTE["ram"]),
})


class PgoffExplorer(Explorer):
    """One VMA of a chosen kind; pick a page: ``vm_pgoff``, the linear index, the PTE's pfn,
    ``vm_normal_page`` with and without ``pte_special``, and the ``/proc/PID/maps`` line.

    Controls: ``kind`` (:data:`KINDS`), ``page`` (0 to 2 within the VMA), ``file_page`` (the
    mapping starts at file page 0 or 1), ``written`` (private kinds: page 1 was written after
    an ``mprotect``). Worlds are built once per combination and kept.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 3.6)

    def __init__(self, kind: str = "remapped private", page: int = 0, file_page: int = 0,
                 written: bool = False) -> None:
        super().__init__()
        _kind(kind)
        self.kind, self.page, self.file_page, self.written = kind, page, file_page, written
        self._worlds: dict[tuple[str, int, bool, bool], tuple[MM, Vma, list[PageRow]]] = {}

    # --- the state ------------------------------------------------------------------------
    def world(self, have_pte_special: bool) -> tuple[MM, Vma, list[PageRow]]:
        """The process, VMA and page rows of the current choice on one kind of machine."""
        written = self.written and _kind(self.kind)[2] == MAP_PRIVATE
        key = (self.kind, self.file_page, written, have_pte_special)
        if key not in self._worlds:
            mm, vma = pgoff_world(self.kind, self.file_page, have_pte_special, written)
            self._worlds[key] = (mm, vma, page_rows(mm, vma))
        return self._worlds[key]

    def row(self, have_pte_special: bool = True) -> PageRow:
        """The chosen page's row on a machine with (or without) ``pte_special``."""
        return self.world(have_pte_special)[2][self.page]

    def maps_line(self) -> str:
        """The VMA's ``/proc/PID/maps`` line."""
        return format_vma(self.world(True)[1])

    # --- Explorer --------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """Kind, page, file page, written."""
        return {
            "kind": widgets.Dropdown(options=[k[0] for k in KINDS], value=self.kind,
                                     description="VMA", layout=widgets.Layout(width="230px")),
            "page": widgets.IntSlider(value=self.page, min=0, max=NPAGES - 1, description="page"),
            "file_page": widgets.Dropdown(options=[0, 1], value=self.file_page,
                                          description="file page",
                                          layout=widgets.Layout(width="150px")),
            "written": widgets.Checkbox(value=self.written, description="page 1 written (COW)"),
        }

    def on_change(self, name: str, value: object) -> None:
        """Update the chosen kind, page, file page or written flag."""
        if name == "kind":
            self.kind = str(value)
        elif name == "page":
            self.page = int(value)  # type: ignore[call-overload]
        elif name == "file_page":
            self.file_page = int(value)  # type: ignore[call-overload]
        elif name == "written":
            self.written = bool(value)

    def describe(self) -> str:
        """vm_pgoff, the linear index, the PTE, both verdicts and the maps line."""
        _mm, vma, _rows = self.world(True)
        x86, arm = self.row(True), self.row(False)
        cow = is_cow_mapping(vma.vm_flags)
        remapped = bool(vma.vm_flags & VM_PFNMAP)
        if remapped and cow:
            holds = "a pfn: remap_pfn_range stored it (COW mapping)"
        elif remapped:
            holds = "the file page: not a COW mapping, remap_pfn_range left it"
        else:
            holds = "the file page the VMA starts at"
        note = ""
        if _kind(self.kind)[2] == MAP_SHARED and self.written:
            note = " (a shared read-only mapping cannot be written: nothing copied)"
        pfn = "none" if x86.pfn is None else f"{x86.pfn:#x}"
        return "\n".join([
            f"{self.kind}, page {self.page} of {NPAGES}{note}: PTE pfn {pfn} ({x86.frame}); "
            f"COW mapping: {'yes' if cow else 'no'}",
            f"vm_pgoff = {vma.vm_pgoff:#x}: {holds}",
            _linear_words(vma, x86),
            f"vm_normal_page, x86 (pte_special): {x86.normal}: {x86.reason}",
            f"vm_normal_page, classic ARM (no spare bit): {arm.normal}: {arm.reason}",
            f"/proc/PID/maps: {self.maps_line()}",
        ])

    def draw(self, fig: Figure) -> None:
        """The VMA's pages (what each PTE points at, the chosen one outlined), the linear index
        under each, the two verdicts of ``vm_normal_page``, the maps line."""
        ax = schematic_axes(fig, (0, 100), (0, 13))
        _mm, vma, rows = self.world(True)
        ax.text(1, 12.3, f"{self.kind}: vm_pgoff = {vma.vm_pgoff:#x}", fontsize=11,
                color=PALETTE["text"], va="center")
        width, y0, y1 = 18.0, 7.4, 10.9
        band = (y1 - y0) / 3
        drawn: list[Kind] = []
        for r in rows:
            x = 2 + r.page * (width + 2)
            chosen = r.page == self.page
            kind = FRAME_KINDS[r.frame]
            drawn.append(kind)
            ax.add_patch(kind_patch((x, y0), width, y1 - y0, kind))
            backing = label_backing(kind)
            pfn = "-" if r.pfn is None else f"pfn {r.pfn:#x}"
            for i, (text, size) in enumerate(((f"page {r.page}", 9), (pfn, 9), (r.frame, 8))):
                top = y1 - i * band
                box_label(ax, (x, top - band, x + width, top), text, fontsize=size, **backing)
            words = _linear_words(vma, r, short=True)
            size = 8 if first_fitting(ax, [words], width + 1.5, 8) else 7
            box_label(ax, (x, 6.2, x + width, 7.2), words, fontsize=size,
                      color=PALETTE["highlight"] if chosen else PALETTE["muted"])
        chosen_x = 2 + self.page * (width + 2)
        ax.add_patch(kind_patch((chosen_x, y0), width, y1 - y0, _CHOSEN))
        legend = [*dict.fromkeys(drawn), _CHOSEN]
        y = 10.6
        for kind in legend:  # one entry a line, beside the pages
            draw_legend(ax, [kind], 65, y, fontsize=7.5)
            y -= 0.9
        self._draw_verdicts(ax)
        ax.text(2, 0.7, " ".join(self.maps_line().split()), fontsize=8, family="monospace",
                va="center")

    def _draw_verdicts(self, ax: Axes) -> None:
        x86, arm = self.row(True), self.row(False)
        drawn = []
        for y, title, r in ((5.0, "x86 (pte_special)", x86),
                            (3.4, "classic ARM (no spare bit)", arm)):
            raw = r.normal == "None"
            kind = _VERDICTS["raw" if raw else "page"]
            drawn.append(kind)
            ax.add_patch(kind_patch((2, y - 0.65), 96, 1.3, kind))
            verdict = "None (raw frame)" if raw else f"struct {r.normal}"
            text = f"vm_normal_page, {title}: {verdict}: {r.reason}"
            size = 9 if first_fitting(ax, [text], 94, 9) else 8
            ax.text(3, y, text, fontsize=size, va="center", color=PALETTE["text"],
                    **label_backing(kind))
        draw_legend(ax, list(dict.fromkeys(drawn)), 2, 1.9, fontsize=7.5)

    def alt_text(self) -> str:
        """The description, and each page of the VMA as the picture draws it."""
        _mm, vma, rows = self.world(True)
        pages = "; ".join(f"page {r.page}: {'-' if r.pfn is None else hex(r.pfn)} "
                          f"({r.frame}), {_linear_words(vma, r, short=True)}" for r in rows)
        return f"{self.describe()}\nthe pages: {pages}"
