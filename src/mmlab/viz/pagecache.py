"""The page cache, drawn: one file, its cached pages, and the PTEs of the VMAs that map it.

:class:`PageCacheExplorer` maps one file with one or two VMAs of a model process (by default a
small in-memory file from :func:`mmlab.fs.file_from_bytes`; :meth:`PageCacheExplorer.cramfs`
takes a file of the XIP scenario image on flash instead) and lets a learner touch a page through
a VMA (a load or a store), read(2) a page through the page cache, and change
``fault_around_bytes``. The picture shows the file's pages in a row (cached or not, and in which
frame), and under it, for each VMA, the PTEs: pointing at a page-cache page (put there by the
touch itself or by fault-around), at a private anonymous copy, or at flash. The text says what
the last action did, from the functions that ran (:func:`mmlab.trace.record`), and the
counters.

:class:`RamCostExplorer` draws the RAM bill of one XIP scenario (:mod:`mmlab.scenarios`) under
``"refuse"`` and ``"mixedmap"``: pages served from flash against pages copied into RAM.

The rest is what chapter material needs: :func:`fault_around_window` (the rule of
``do_fault_around``) with :func:`fault_around_cases` measured on the model,
:class:`FaultCountDrill`, and the smaps comparison with the running kernel
(:func:`smaps_comparison`, stored in ``data/course/04/`` by :func:`write_course_data`).

Model helper: no kernel counterpart (drawings of :mod:`mmlab.filemap` and
:mod:`mmlab.memory_fault`).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab import trace
from mmlab.constants import (
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
)
from mmlab.fault import do_page_fault
from mmlab.filemap import generic_file_buffered_read
from mmlab.fs import file_from_bytes
from mmlab.fs_types import File
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.pagetable import PTRS_PER_PTE
from mmlab.physmem import frame_kind
from mmlab.procfs import SMAPS_FIELDS
from mmlab.scenarios import RamUse, Scenario, ScenarioRun, run_scenario, scenario, scenario_image
from mmlab.system import DEFAULT_FAULT_AROUND_BYTES, System, default_system
from mmlab.viz.base import (
    PALETTE,
    Explorer,
    course_data,
    kernel_source,
    live_or_stored,
    load_stored,
    schematic_axes,
)
from mmlab.viz.quiz import Drill
from mmlab.viz.style import (
    KINDS,
    Kind,
    box_label,
    draw_legend,
    first_fitting,
    kind_collection,
    kind_patch,
    label_backing,
    label_row,
    text_width,
    wrap_to_width,
)
from mmlab.xip import mount

__all__ = [
    "COURSE_DATA",
    "FAULT_AROUND_CHOICES",
    "Action",
    "FaultCountDrill",
    "PageCacheExplorer",
    "RamCostExplorer",
    "SMAPS_STEPS",
    "VmaSpec",
    "can_run_live",
    "count_faults",
    "explain_loads",
    "fault_around_cases",
    "fault_around_window",
    "format_smaps",
    "live_smaps_comparison",
    "ram_cost",
    "scenario_calls",
    "smaps_comparison",
    "stored_smaps_comparison",
    "touch_outcomes",
    "write_course_data",
]

#: Where the chapter's fallback data lives (``data/course/04/`` of the checkout).
COURSE_DATA = course_data("course", "04")

#: The fault-around sizes the explorer offers: label -> ``fault_around_bytes``.
FAULT_AROUND_CHOICES = (
    ("off (1 page)", PAGE_SIZE),
    ("4 pages", 4 * PAGE_SIZE),
    ("16 pages (default)", DEFAULT_FAULT_AROUND_BYTES),
    ("64 pages", 64 * PAGE_SIZE),
)

#: Where the explorer's VMAs start: 2 MiB apart, so each sits at the start of its own PTE table
#: and fault-around windows fall on round page numbers.
_VMA_BASE = 0x40000000
_VMA_STRIDE = 0x200000

#: The functions whose runs the explorer reports.
_WATCHED = ("filemap_fault", "do_fault_around", "filemap_map_pages", "page_cache_read",
            "do_cow_fault", "do_wp_page", "do_shared_fault")


@dataclass(frozen=True)
class VmaSpec:
    """One VMA of the explorer: a label, the file page it starts at, its length, prot, flags.

    Model helper: no kernel counterpart.
    """

    label: str
    file_page: int
    npages: int
    prot: int = PROT_READ
    flags: int = MAP_PRIVATE

    @property
    def perms(self) -> str:
        """The permissions as ``/proc/PID/maps`` prints them (``r--p``)."""
        return ("r" if self.prot & PROT_READ else "-") + ("w" if self.prot & PROT_WRITE else "-") \
            + ("x" if self.prot & PROT_EXEC else "-") + ("p" if self.flags & MAP_PRIVATE else "s")


@dataclass
class Action:
    """What the last touch or read(2) did.

    ``kind``: ``"read"``/``"write"`` (a touch through VMA ``vma``) or ``"read(2)"``;
    ``outcome``: ``"major"``, ``"minor"``, ``"none"`` (no fault), a signal name, ``"outside"``
    (the VMA does not cover the page), or for read(2) ``"cached"``/``"read"``;
    ``around``: file pages that fault-around mapped; ``calls``: the watched functions that ran,
    in order; ``frame``: the frame the touched page ended up in.

    Model helper: no kernel counterpart.
    """

    kind: str
    page: int
    vma: str | None = None
    address: int | None = None
    outcome: str = "none"
    around: list[int] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    frame: int | None = None


def _default_content(npages: int) -> bytes:
    return b"".join(bytes([65 + i % 26]) * PAGE_SIZE for i in range(npages))


#: The drawing's short names for :func:`mmlab.physmem.frame_kind`'s answers (else "cache").
_WHERE = MappingProxyType({"flash": "flash", "zero page": "zero", "anonymous": "anon"})

class PageCacheExplorer(Explorer):
    """One file, its page cache, and one or two VMAs mapping it; touch, read(2), fault-around.

    ``vmas`` lists the VMAs (default: ``A``, the whole file read-only and private, and ``B``,
    the whole file read-write and private, so a store makes a COW copy). Each VMA starts at the
    beginning of a PTE table (``misalign`` pages later, to see fault-around clipped by the
    VMA). :meth:`touch` and :meth:`read` are what the buttons do.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 3.6)

    def __init__(self, file: File | None = None, *, npages: int = 20,
                 vmas: Sequence[VmaSpec] | None = None, system: System | None = None,
                 fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES, misalign: int = 0,
                 opener: Callable[[], tuple[File, System]] | None = None) -> None:
        super().__init__()
        self._opener = opener
        self._given = (file, system)
        self.npages_default = npages
        self.specs = list(vmas) if vmas is not None else [
            VmaSpec("A", 0, npages), VmaSpec("B", 0, npages, PROT_READ | PROT_WRITE)]
        if not 1 <= len(self.specs) <= 2:
            raise ValueError("one or two VMAs")
        self.misalign = misalign
        self.fault_around_bytes = fault_around_bytes
        self.selected_vma = self.specs[0].label
        self.selected_page = 0
        self.access = "read"
        self._setup()

    # --- building the world -----------------------------------------------------------------
    @classmethod
    def cramfs(cls, path: str = "/lib/libc.so.6", strategy: str = "refuse", *,
               vmas: Sequence[VmaSpec] | None = None,
               fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES,
               misalign: int = 0) -> PageCacheExplorer:
        """A file of the XIP scenario image, mounted from flash under ``strategy``.

        ``"refuse"`` leaves a partly XIP file to the page cache; ``"mixedmap"`` maps its XIP
        pages from flash at mmap time. The default VMA is the whole file, read+exec, private.
        Each reset mounts the image again on a fresh machine.
        """
        image = scenario_image()

        def opener() -> tuple[File, System]:
            system = System()
            sb = mount(image, strategy=strategy, system=system)
            return sb.open(path), system

        file, _ = opener()
        npages = -(-file.f_inode.i_size // PAGE_SIZE)
        return cls(npages=npages, vmas=vmas or [VmaSpec("A", 0, npages, PROT_READ | PROT_EXEC)],
                   opener=opener, fault_around_bytes=fault_around_bytes, misalign=misalign)

    def _setup(self) -> None:
        file, system = self._given
        if self._opener is not None:
            self.file, self.system = self._opener()
        elif file is None:
            self.system = system if system is not None else System()
            self.file = file_from_bytes(_default_content(self.npages_default), "/data/file",
                                        system=self.system)
        else:  # the caller's file: its page cache is its own, and stays
            self.file = file
            self.system = system if system is not None else default_system()
        self.system.fault_around_bytes = self.fault_around_bytes
        self.npages = -(-self.file.f_inode.i_size // PAGE_SIZE)
        self.mm = MM(self.system)
        self.vmas: dict[str, Vma] = {}
        for i, spec in enumerate(self.specs):
            start = _VMA_BASE + i * _VMA_STRIDE + self.misalign * PAGE_SIZE
            addr = self.mm.mmap(start, spec.npages * PAGE_SIZE, spec.prot,
                                spec.flags | MAP_FIXED, self.file, spec.file_page * PAGE_SIZE)
            vma = self.mm.find_vma(addr)
            assert vma is not None
            self.vmas[spec.label] = vma
        self.how: dict[str, dict[int, str]] = {s.label: {} for s in self.specs}
        self.last: Action | None = None

    def reset(self) -> None:
        """Start again: a new process (no PTEs, counters at zero) and, unless the file was
        given, a new machine with an empty page cache."""
        for vma in list(self.vmas.values()):
            self.mm.munmap(vma.vm_start, vma.vm_end - vma.vm_start)
        self._setup()

    # --- what a learner does ------------------------------------------------------------------
    def _spec(self, label: str) -> VmaSpec:
        """The VMA called ``label``, or an error that lists the VMAs there are."""
        for spec in self.specs:
            if spec.label == label:
                return spec
        names = ", ".join(repr(s.label) for s in self.specs)
        raise KeyError(f"no VMA {label!r} here; the VMAs are {names}")

    def _file_page(self, page: int) -> int:
        """``page`` if it is a page of the file, or an error that says where the file ends."""
        npages = self.npages
        if not isinstance(page, int) or isinstance(page, bool):
            raise TypeError(f"a file page is a number, not {type(page).__name__}")
        if not 0 <= page < npages:
            raise ValueError(f"file page {page} is not in the file: it has {npages} pages "
                             f"(0 to {npages - 1})")
        return page

    def address_of(self, label: str, page: int) -> int | None:
        """The address where VMA ``label`` maps file page ``page`` (None if it does not)."""
        spec = self._spec(label)
        if not spec.file_page <= page < spec.file_page + spec.npages:
            return None
        return self.vmas[label].vm_start + ((page - spec.file_page) << PAGE_SHIFT)

    def ptes(self, label: str) -> dict[int, tuple[int, str]]:
        """File page -> (frame, where) for each present PTE of VMA ``label``.

        ``where`` is ``"cache"`` (a page-cache page), ``"anon"`` (a private copy), ``"flash"``
        or ``"zero"``.
        """
        vma = self.vmas[label]
        physmem = self.system.physmem
        out: dict[int, tuple[int, str]] = {}
        for addr, pte in self.mm.pgd.range(vma.vm_start, vma.vm_end):
            pfn = pte.pfn
            where = _WHERE.get(frame_kind(physmem, pfn), "cache")
            out[((addr - vma.vm_start) >> PAGE_SHIFT) + vma.vm_pgoff] = (pfn, where)
        return out

    def cached(self) -> dict[int, int]:
        """File page -> frame of each page in the file's page cache."""
        return {i: p.pfn for i, p in sorted(self.file.f_mapping.pages.items())}

    def touch(self, label: str, page: int, write: bool = False) -> Action:
        """Load from (or store to) file page ``page`` through VMA ``label``: one access.

        A page of the file that the VMA does not map is an ``"outside"`` touch (nothing
        happens); a page past the end of the file, or a VMA that is not there, is an error
        that says so."""
        self._spec(label)
        self._file_page(page)
        self._follow(vma=label, page=page, access="write" if write else "read")
        action = Action("write" if write else "read", page, label)
        addr = self.address_of(label, page)
        self.last = action
        if addr is None:
            action.outcome = "outside"
            return action
        action.address = addr
        before = self.ptes(label)
        with trace.record(snapshots=False) as rec:
            result = do_page_fault(self.mm, addr, write=write)
        action.calls = [n for n in rec.names if n in _WATCHED]
        after = self.ptes(label)
        if result.signal is not None:
            action.outcome = result.signal
        elif result.no_fault:
            action.outcome = "none"
        else:
            action.outcome = "major" if result.major else "minor"
        how = self.how[label]
        for index in list(how):
            if index not in after:
                del how[index]
        # a cached page that fault-around maps before ->fault is called (the touch then
        # finds its PTE there) was mapped by fault-around, the touched page included
        by_around = "do_fault_around" in action.calls and "filemap_fault" not in action.calls
        for index, entry in after.items():
            if before.get(index) != entry:
                how[index] = "around" if index != page or by_around else "touch"
                if index != page:
                    action.around.append(index)
        action.around.sort()
        if page in after:
            action.frame = after[page][0]
        return action

    def read(self, page: int) -> Action:
        """read(2) of file page ``page`` (``generic_file_buffered_read``): fills the cache.

        A page past the end of the file is an error that says so (read(2) would return 0
        bytes there and cache nothing)."""
        self._file_page(page)
        self._follow(page=page)
        action = Action("read(2)", page)
        was_cached = page in self.file.f_mapping.pages
        with trace.record(snapshots=False) as rec:
            generic_file_buffered_read(self.file, page * PAGE_SIZE, PAGE_SIZE,
                                       physmem=self.system.physmem)
        action.calls = [n for n in rec.names if n in _WATCHED]
        action.outcome = "cached" if was_cached else "read"
        cached = self.file.f_mapping.pages.get(page)
        action.frame = cached.pfn if cached is not None else None
        self.last = action
        return action

    def set_fault_around(self, nbytes: int) -> None:
        """Set ``fault_around_bytes`` (the debugfs knob) on this machine: a number of BYTES.

        As the kernel's ``fault_around_bytes_set`` does, a value above a page is rounded down
        to a power of two and one over 512 pages is refused (``ValueError``). Unlike the kernel,
        which takes a value under a page (``4``) as one page, fault-around off, this refuses it
        with a ``ValueError`` that says so: a learner who writes ``set_fault_around(4)`` means
        4 pages, and would otherwise see fault-around vanish without a word.

        Kernel: ``fault_around_bytes_set`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3492>`_.
        """
        if isinstance(nbytes, bool) or not isinstance(nbytes, int):
            raise TypeError(f"set_fault_around takes a number of bytes, not "
                            f"{type(nbytes).__name__}: e.g. set_fault_around(4 * 4096)")
        if 0 <= nbytes < PAGE_SIZE:
            raise ValueError(
                f"set_fault_around takes bytes, and {nbytes} is less than one page "
                f"({PAGE_SIZE}). For {nbytes} pages write set_fault_around({nbytes} * 4096); "
                f"to turn fault-around off, set_fault_around(4096) (the kernel's debugfs file "
                f"takes any value up to a page as one page: off)")
        self.system.fault_around_bytes = nbytes  # rounded as the kernel does, or refused
        self.fault_around_bytes = self.system.fault_around_bytes
        self._follow(fault_around_bytes=self.fault_around_bytes)

    def _follow(self, **values: object) -> None:
        """Remember what was done (from a button or from code) and show it in the controls,
        quietly: one action, one redraw (the button's), and none for a call from code."""
        if "vma" in values:
            self.selected_vma = str(values["vma"])
        if "page" in values:
            self.selected_page = int(values["page"])  # type: ignore[call-overload]
        if "access" in values:
            self.access = str(values["access"])
        if self._controls is None:
            return
        with self.quietly():
            for name, value in values.items():
                control = self._controls[name]
                if name == "fault_around_bytes":
                    options = list(control.options)  # type: ignore[attr-defined]
                    if all(v != value for _label, v in options):
                        pages = int(value) // PAGE_SIZE  # type: ignore[call-overload]
                        control.options = [*options, (_count(pages, "page"), value)]  # type: ignore[attr-defined]
                control.value = value  # type: ignore[attr-defined]

    # --- counters -----------------------------------------------------------------------------
    def counters(self) -> dict[str, int]:
        """Major and minor faults, page-cache pages, anonymous copies, flash PTEs, RAM pages."""
        anon = flash = 0
        for label in self.vmas:
            for _pfn, where in self.ptes(label).values():
                anon += where == "anon"
                flash += where == "flash"
        cache = len(self.file.f_mapping.pages)
        return {"maj_flt": self.mm.maj_flt, "min_flt": self.mm.min_flt, "page_cache": cache,
                "anonymous": anon, "flash": flash, "ram": cache + anon}

    # --- the widget ---------------------------------------------------------------------------
    def make_controls(self) -> dict[str, widgets.Widget]:
        """VMA, page, load/store, the buttons, fault-around size."""
        return {
            "vma": widgets.Dropdown(options=[s.label for s in self.specs],
                                    value=self.selected_vma, description="VMA",
                                    layout=widgets.Layout(width="220px")),
            "page": widgets.IntSlider(min=0, max=self.npages - 1, value=self.selected_page,
                                      description="file page"),
            "access": widgets.ToggleButtons(options=["read", "write"], value=self.access,
                                            layout=widgets.Layout(width="auto"),
                                            style={"button_width": "60px"}),
            "touch": widgets.Button(description="touch", button_style="primary"),
            "read(2)": widgets.Button(description="read(2)"),
            "fault_around_bytes": widgets.Dropdown(
                options=list(FAULT_AROUND_CHOICES), value=self.fault_around_bytes,
                description="fault-around"),
            "reset": widgets.Button(description="reset"),
        }

    def on_change(self, name: str, value: object) -> None:
        """Remember the selection, or set the fault-around size."""
        if name == "vma":
            self.selected_vma = str(value)
        elif name == "page":
            self.selected_page = int(value)  # type: ignore[call-overload]
        elif name == "access":
            self.access = str(value)
        elif name == "fault_around_bytes":
            self.set_fault_around(int(value))  # type: ignore[call-overload]

    def on_press(self, name: str) -> None:
        """Touch, read(2) or reset."""
        if name == "touch":
            self.touch(self.selected_vma, self.selected_page, self.access == "write")
        elif name == "read(2)":
            self.read(self.selected_page)
        elif name == "reset":
            self.reset()

    def describe(self) -> str:
        """What the last action did, and the counters."""
        c = self.counters()
        nbytes = self.system.fault_around_bytes
        lines = [self._describe_last()]
        lines.append(f"fault_around_bytes {nbytes} ({_count(nbytes // PAGE_SIZE, 'page')}). "
                     f"Faults: major {c['maj_flt']}, minor {c['min_flt']} "
                     f"(mm.maj_flt, mm.min_flt). RAM pages used: {c['ram']} "
                     f"(page cache {c['page_cache']}, anonymous copies {c['anonymous']}); "
                     f"pages mapped from flash: {c['flash']}.")
        return "\n".join(lines)

    def _describe_start(self) -> str:
        """Before any touch: what mmap() itself did (a cramfs driver may map flash pages at
        mmap time), and what the page cache already holds."""
        cached = sorted(self.file.f_mapping.pages)
        cache = ("the page cache is empty" if not cached else
                 f"the page cache already holds {_count(len(cached), 'page')} "
                 f"({_ranges(cached)}) from before")
        done = []
        for label, vma in self.vmas.items():
            flash = sorted(i for i, (_pfn, where) in self.ptes(label).items()
                           if where == "flash")
            if not flash:
                continue
            how = ("vm_insert_mixed for each XIP page, so VM_MIXEDMAP"
                   if vma.vm_flags & VM_MIXEDMAP else "remap_pfn_range, so VM_PFNMAP"
                   if vma.vm_flags & VM_PFNMAP else "its ->mmap")
            done.append(f"file {_count(len(flash), 'page', 'pages')} {_ranges(flash)} of VMA "
                        f"{label} from flash ({how})")
        if not done:
            return f"Nothing touched yet: mmap() read nothing and set no PTE; {cache}."
        return ("Nothing touched yet. mmap() itself mapped " + "; ".join(done)
                + f". It read nothing into RAM: {cache}, and the other pages have no PTE.")

    def _describe_read(self, a: Action) -> str:
        """read(2): the page cache, and what each VMA's next touch of the page does."""
        readpage = getattr(self.file.f_mapping.a_ops.readpage, "__name__", "->readpage")
        if a.outcome == "cached":
            head = (f"read(2) of file page {a.page}: already cached (frame {a.frame:#x}), "
                    "copied out with no I/O. No PTE changed.")
        else:
            head = (f"read(2) of file page {a.page}: not cached, so page_cache_read put it in "
                    f"frame {a.frame:#x} and {readpage} filled it. No PTE changed.")
        fates: dict[str, list[str]] = {}
        for label in self.vmas:
            if self.address_of(label, a.page) is None:
                continue
            entry = self.ptes(label).get(a.page)
            fate = ("cached" if entry is None else "flash" if entry[1] == "flash"
                    else "anon" if entry[1] == "anon" else "mapped")
            fates.setdefault(fate, []).append(label)
        words = {
            "cached": "a touch through VMA {} finds it cached (a minor fault, or none if "
                      "fault-around maps it first)",
            "flash": "VMA {} maps this page from flash: a touch there does not fault and never "
                     "uses this RAM copy (the PTE points at flash)",
            "anon": "VMA {} has a private copy of this page: a touch there uses the copy",
            "mapped": "VMA {} already maps this page: a touch there does not fault",
        }
        later = [words[fate].format(" or ".join(labels)) for fate, labels in fates.items()]
        return head + "".join(f" {s[0].upper()}{s[1:]}." for s in later)

    def _describe_last(self) -> str:
        a = self.last
        if a is None:
            return self._describe_start()
        readpage = getattr(self.file.f_mapping.a_ops.readpage, "__name__", "->readpage")
        if a.kind == "read(2)":
            return self._describe_read(a)
        head = f"{a.kind} of file page {a.page} through VMA {a.vma}"
        if a.outcome == "outside":
            return f"{head}: VMA {a.vma} does not map that page."
        head += f" ({a.address:#x})"
        if a.outcome == "none":
            return f"{head}: no fault: the PTE was already there and allows it."
        if a.outcome not in ("major", "minor"):
            perms = self._spec(a.vma or "").perms
            why = {"SIGSEGV": f"VMA {a.vma} is {perms}, it does not allow a {a.kind}",
                   "SIGBUS": "the page lies past the end of the file"}.get(a.outcome, "")
            return (f"{head}: {a.outcome}" + (f": {why}" if why else "")
                    + ". Nothing was mapped; the picture marks the refused access.")
        parts = [f"{head}: {a.outcome} fault."]
        if "do_fault_around" in a.calls:
            if a.around:
                parts.append("Fault-around (do_fault_around, filemap_map_pages) mapped cached "
                             f"{_count(len(a.around), 'page', 'pages')} {_ranges(a.around)}.")
            else:
                parts.append("Fault-around found no other cached page to map.")
        if "filemap_fault" in a.calls:
            if "page_cache_read" in a.calls:
                parts.append(f"filemap_fault found page {a.page} missing: page_cache_read "
                             f"allocated frame {self._cache_frame(a.page)} and {readpage} "
                             "filled it.")
            else:
                parts.append(f"filemap_fault found page {a.page} in the page cache.")
        elif "do_fault_around" in a.calls:
            parts.append(f"Page {a.page} was cached, so fault-around itself mapped it: "
                         "->fault was never called.")
        if "do_cow_fault" in a.calls or "do_wp_page" in a.calls:
            parts.append(f"Copy-on-write: the store went to a private anonymous copy in frame "
                         f"{a.frame:#x}; the page cache keeps the file's bytes. (A store fault "
                         "does no fault-around.)")
        return " ".join(parts)

    def _cache_frame(self, page: int) -> str:
        cached = self.file.f_mapping.pages.get(page)
        return f"{cached.pfn:#x}" if cached is not None else "?"

    def draw(self, fig: Figure) -> None:
        """The file's pages with their frames, and each VMA's PTEs under them.

        One column per file page. The top row is the page cache: a box per cached page with its
        frame number (hex), a hollow dashed box where the page is not cached. Under it, a row
        per VMA: a box per PTE, drawn as what it points at (the page-cache page above it, a
        private anonymous copy, flash), with the frame number where it is not the one above; a
        hollow dashed box where there is no PTE. The last page touched or read is outlined.
        """
        ax = schematic_axes(fig)
        n = self.npages
        left, right = 15.0, 99.0
        w = (right - left) / n
        cached = self.cached()
        last = self.last
        boxes: dict[str, list[Rectangle]] = {}
        labels: list[tuple[tuple[float, float, float, float], str, Kind]] = []
        hits: list[Rectangle] = []
        pad = min(0.1, w * 0.05)

        def cell(i: int, y0: float, h: float) -> tuple[float, float, float, float]:
            return (left + i * w + pad, y0, left + (i + 1) * w - pad, y0 + h)

        def add(kind: str, box: tuple[float, float, float, float]) -> None:
            x0, y0, x1, y1 = box
            boxes.setdefault(kind, []).append(Rectangle((x0, y0), x1 - x0, y1 - y0))

        # the file-page axis: every page's number, or every 2nd, 5th, 10th... where they crowd
        size = 7.0
        widest = text_width(ax, str(n - 1), size) + text_width(ax, "0", size)
        step = next(k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, n) if k * w >= widest)
        axis_y = 8.75
        label_row(ax, [(left + i * w, left + (i + 1) * w) for i in range(n)],
                  [str(i) if i % step == 0 else "" for i in range(n)], axis_y, fontsize=size,
                  color=PALETTE["muted"])
        # the page cache
        cache_y, cache_h = 6.75, 1.6
        for i in range(n):
            box = cell(i, cache_y, cache_h)
            if i in cached:
                add("cache", box)
                labels.append((box, f"{cached[i]:x}", _PTE_KINDS["cache"]))
            else:
                add("absent", box)
            if last is not None and last.page == i and last.kind == "read(2)":
                hits.append(Rectangle(box[:2], box[2] - box[0], box[3] - box[1]))
        row_labels = [("file page", axis_y), ("page cache", cache_y + cache_h * 0.7),
                      ("(frame, hex)", cache_y + cache_h * 0.3)]
        # the PTEs of each VMA
        band = 4.5 / len(self.specs)
        for r, spec in enumerate(self.specs):
            h = min(1.6, band - 0.5)
            y = cache_y - 0.55 - (r + 1) * band + (band - h) / 2
            ptes = self.ptes(spec.label)
            how = self.how[spec.label]
            row_labels += [(f"VMA {spec.label} {spec.perms}", y + h * 0.7), ("PTEs", y + h * 0.3)]
            for i in range(spec.file_page, min(n, spec.file_page + spec.npages)):
                box = cell(i, y, h)
                if (last is not None and last.vma == spec.label and last.page == i
                        and last.kind != "read(2)"):
                    hits.append(Rectangle(box[:2], box[2] - box[0], box[3] - box[1]))
                    if last.outcome in _REFUSED:  # the access the kernel refused: a cross
                        add(_REFUSED[last.outcome].key, box)
                entry = ptes.get(i)
                if entry is None:
                    add("absent", box)
                    continue
                pfn, where = entry
                add("around" if where == "cache" and how.get(i) == "around" else where, box)
                if where != "cache" or cached.get(i) != pfn:
                    # a page-cache PTE points at the frame drawn above it; others say theirs
                    labels.append((box, f"{pfn:x}", _PTE_KINDS[where]))
        for text, y in row_labels:
            ax.text(0.5, y, text, fontsize=8, va="center", color=PALETTE["text"])
        for key in _PTE_KIND_ORDER:
            if key in boxes:
                ax.add_collection(kind_collection(boxes[key], _PTE_KINDS[key],
                                                  linewidths=0.6))
        refused = [kind for kind in _REFUSED.values() if kind.key in boxes]
        for kind in refused:
            ax.add_collection(kind_collection(boxes[kind.key], kind, zorder=2.5))
        if hits:
            ax.add_collection(kind_collection(hits, _LAST, zorder=3))
        unlabelled = _frame_labels(ax, labels, size)
        c = self.counters()
        status = (f"faults: major {c['maj_flt']}, minor {c['min_flt']}; RAM "
                  f"{_count(c['ram'], 'page')} (page cache {c['page_cache']}, anonymous "
                  f"{c['anonymous']})")
        if last is not None and last.outcome in _REFUSED:
            status += f"; last touch: {last.outcome}"
        if unlabelled:
            status += "; frames not written (too many pages): see .cached() and .ptes()"
        ax.text(0.5, 9.55, status, va="center", fontsize=8, color=PALETTE["text"])
        kinds = [_PTE_KINDS[k] for k in _PTE_KIND_ORDER if k in boxes] + refused
        if hits:
            kinds.append(_LAST)
        draw_legend(ax, kinds, 0.5, 0.95, fontsize=7)

    def alt_text(self) -> str:
        """The description, and what the picture shows page by page."""
        cached = self.cached()
        lines = [self.describe(),
                 "page cache (file page: frame): " + (", ".join(
                     f"{i}: {pfn:#x}" for i, pfn in cached.items()) or "empty")]
        for spec in self.specs:
            ptes = self.ptes(spec.label)
            how = self.how[spec.label]
            lines.append(f"PTEs of VMA {spec.label} (file page: frame, what): " + (", ".join(
                f"{i}: {pfn:#x} {_PTE_KINDS[where].label}"
                + (" by fault-around" if how.get(i) == "around" else "")
                for i, (pfn, where) in sorted(ptes.items())) or "none"))
        return "\n".join(lines)


def _frame_labels(ax: Axes,
                  labels: list[tuple[tuple[float, float, float, float], str, Kind]],
                  size: float) -> bool:
    """Write each frame number on its box (of that kind): across it where it fits, else up
    it, else not at all. Returns True if some number did not fit."""
    missing = False
    fig = ax.figure
    px_x = ax.get_position().width * fig.get_figwidth() * 72 / 100
    px_y = ax.get_position().height * fig.get_figheight() * 72 / 10
    for box, text, kind in labels:
        x0, y0, x1, y1 = box
        width = text_width(ax, text, size)
        if width <= (x1 - x0) * 0.92:
            box_label(ax, box, text, fontsize=size, **label_backing(kind))
        elif size * 1.2 <= (x1 - x0) * px_x and width * px_x <= (y1 - y0) * px_y * 0.92:
            box_label(ax, box, text, fontsize=size, rotation=90, **label_backing(kind))
        else:
            missing = True
    return missing


#: What a box of the page-cache picture can be, by what :meth:`PageCacheExplorer.ptes` says the
#: frame is (and "around": a page-cache page mapped by fault-around), in legend order.
_PTE_KINDS = MappingProxyType({
    "cache": KINDS["file"],
    "around": Kind("around", "page cache, mapped by fault-around", PALETTE["file"], "||||", "C"),
    "anon": Kind("anon", "private anonymous copy (RAM)", PALETTE["anon"], "..", "A"),
    "flash": KINDS["flash"],
    "zero": KINDS["zero"],
    "absent": Kind("absent", "not cached / no PTE", None, None, "", dashed=True),
})
_PTE_KIND_ORDER = ("cache", "around", "anon", "flash", "zero", "absent")
_LAST = Kind("last", "last touch or read(2)", None, edge=PALETTE["highlight"], edge_width=2.0)
#: The mark of a touch the kernel refused with a signal: a cross over the page's PTE.
_REFUSED = MappingProxyType({
    "SIGSEGV": Kind("sigsegv", "refused: SIGSEGV (the VMA forbids it)", None, "xx", "S",
                    edge=PALETTE["highlight"], edge_width=1.2),
    "SIGBUS": Kind("sigbus", "refused: SIGBUS (past the end of the file)", PALETTE["sigbus"],
                   "xx", "S", edge=PALETTE["highlight"], edge_width=1.2),
})


def _ranges(pages: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` -> ``"1-3, 7"``."""
    out: list[str] = []
    run: list[int] = []
    for p in sorted(pages):
        if run and p == run[-1] + 1:
            run.append(p)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [p]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ", ".join(out)


def _count(n: int, word: str, plural: str | None = None) -> str:
    """``1 page``, ``3 pages``; with ``plural`` given, only the word (``page``/``pages``)."""
    if plural is not None:
        return word if n == 1 else plural
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- the rule of fault-around ------------------------------------------------------------------
def fault_around_window(address: int, vm_start: int, vm_end: int,
                        fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES) -> tuple[int, int]:
    """The addresses of the first and last page fault-around considers for a read fault.

    The window is ``fault_around_bytes`` long and naturally aligned (the fault's address
    rounded down to it), but never starts before ``vm_start``; it ends at the first of: the
    window's size counted from its start, the end of the VMA, the end of the PTE table (512
    pages) the start lies in. (With ``fault_around_bytes`` of one page, ``do_read_fault`` skips
    fault-around: the window is the faulting page alone.)

    Kernel: ``do_fault_around`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L3541>`_.
    """
    page = address & ~(PAGE_SIZE - 1)
    nr_pages = max(1, fault_around_bytes >> PAGE_SHIFT)
    if nr_pages == 1:
        return page, page
    start = max(page & ~(nr_pages * PAGE_SIZE - 1), vm_start)
    table_end = (start | ((PTRS_PER_PTE - 1) << PAGE_SHIFT)) & ~(PAGE_SIZE - 1)
    last = min(table_end, vm_end - PAGE_SIZE, start + (nr_pages - 1) * PAGE_SIZE)
    return start, last


def fault_around_cases(count: int = 10, seed: int = 415) -> list[tuple[tuple[int, int, int, int],
                                                                       tuple[int, int]]]:
    """Cases ``((address, vm_start, vm_end, fault_around_bytes), (first, last))`` measured on
    the model: a fully cached file is mapped, one read fault taken, and the first and last
    mapped pages read back from the page table.

    Model helper: no kernel counterpart (checks :func:`fault_around_window` and a learner's
    version of it against :func:`mmlab.memory_fault.do_fault_around`).
    """
    import random

    rng = random.Random(seed)
    fixed = [(0x40000000, 0, 20, 5, 16), (0x40000000, 3, 20, 5, 16), (0x40000000, 0, 8, 5, 16),
             (0x40000000, 0, 40, 21, 16), (0x40000000, 500, 530, 505, 16),
             (0x40000000, 0, 40, 9, 4), (0x40000000, 2, 100, 70, 64), (0x40000000, 0, 20, 7, 1)]
    specs = fixed[:count]
    while len(specs) < count:
        first = rng.randrange(0, 40)
        npages = rng.randrange(1, 40)
        specs.append((0x40000000, first, first + npages, first + rng.randrange(npages),
                      rng.choice((1, 2, 4, 8, 16, 32, 64))))
    cases = []
    for base, first, end, fault, nr in specs:
        system = System(fault_around_bytes=nr * PAGE_SIZE)
        npages = end - first
        file = file_from_bytes(bytes(npages * PAGE_SIZE), system=system)
        for i in range(npages):
            generic_file_buffered_read(file, i * PAGE_SIZE, 1, physmem=system.physmem)
        mm = MM(system)
        vm_start = base + first * PAGE_SIZE
        mm.mmap(vm_start, npages * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_FIXED, file)
        address = base + fault * PAGE_SIZE + 0x123
        do_page_fault(mm, address, write=False)
        mapped = [a for a, _pte in mm.pgd.range(vm_start, vm_start + npages * PAGE_SIZE)]
        cases.append(((address, vm_start, vm_start + npages * PAGE_SIZE, nr * PAGE_SIZE),
                      (min(mapped), max(mapped))))
    return cases


# --- major, minor, none -----------------------------------------------------------------------
def count_faults(npages: int, touches: Sequence[int], *, read_first: Sequence[int] = (),
                 fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES,
                 misalign: int = 0) -> tuple[int, int]:
    """``(major, minor)`` faults of loads from ``touches`` (file pages) of a private read-only
    mapping of a fresh ``npages``-page file, after read(2) of the pages ``read_first``.

    Model helper: no kernel counterpart (a program's accesses, run on the model).
    """
    explorer = _run_loads(npages, touches, read_first, fault_around_bytes, misalign)[0]
    return explorer.mm.maj_flt, explorer.mm.min_flt


def _run_loads(npages: int, touches: Sequence[int], read_first: Sequence[int],
               fault_around_bytes: int, misalign: int = 0,
               ) -> tuple[PageCacheExplorer, list[Action]]:
    """The loads of :func:`count_faults`, run; the explorer after them and each load's action."""
    explorer = PageCacheExplorer(npages=npages, vmas=[VmaSpec("A", 0, npages)],
                                 fault_around_bytes=fault_around_bytes, misalign=misalign)
    for page in read_first:
        explorer.read(page)
    return explorer, [explorer.touch("A", page) for page in touches]


def explain_loads(npages: int, touches: Sequence[int], *, read_first: Sequence[int] = (),
                  fault_around_bytes: int = DEFAULT_FAULT_AROUND_BYTES) -> list[str]:
    """One line per load of :func:`count_faults`: major, minor or no fault, and why (was the
    page cached, who put its PTE there), then the totals.

    Model helper: no kernel counterpart (the loads run on the model, each one explained).
    """
    _explorer, actions = _run_loads(npages, touches, read_first, fault_around_bytes)
    nr = max(1, fault_around_bytes // PAGE_SIZE)
    cached = set(read_first)
    mapped: dict[int, str] = {}  # page -> which load put its PTE there, and how
    lines = []
    if read_first:
        lines.append(f"read(2) of {_count(len(read_first), 'page', 'pages')} "
                     f"{_ranges(read_first)}: now in the page cache, no PTE (read(2) maps "
                     "nothing)")
    for k, a in enumerate(actions, 1):
        head = f"load {k}, page {a.page}:"
        if a.outcome == "none":
            lines.append(f"{head} no fault: its PTE is there already ({mapped[a.page]})")
            continue
        if a.outcome == "major":
            why = "major: not cached, so filemap_fault read it from the file"
        elif "filemap_fault" in a.calls:
            why = "minor: cached, filemap_fault found it (no read)"
        else:
            why = "minor: cached, fault-around mapped it (no read, ->fault not called)"
        was = "cached by read(2)" if a.page in read_first else \
            "cached by an earlier major fault" if a.page in cached else ""
        if was and a.outcome == "minor":
            why += f"; it was {was}"
        if a.around:
            why += (f"; fault-around also mapped cached {_count(len(a.around), 'page', 'pages')} "
                    f"{_ranges(a.around)} (the {nr}-page window, cached pages only)")
        elif nr > 1 and "do_fault_around" in a.calls:
            why += (f"; fault-around mapped no other page (none in its {nr}-page window is "
                    "both cached and without a PTE)")
        lines.append(f"{head} {why}")
        cached.add(a.page)
        mapped.setdefault(a.page, f"its own fault at load {k}")
        for page in a.around:
            mapped.setdefault(page, f"fault-around at load {k}")
    major = sum(a.outcome == "major" for a in actions)
    minor = sum(a.outcome == "minor" for a in actions)
    lines.append(f"total: ({major}, {minor}) = (major, minor)")
    return lines


_PAIR = re.compile(r"\(?\s*(\d+)\s*,\s*(\d+)\s*\)?")


def _as_pair(given: object) -> tuple[int, int] | None:
    """``given`` as two ints: a tuple or list of two ints, or text like ``"5, 0"``."""
    if isinstance(given, str):
        match = _PAIR.fullmatch(given.strip())
        return (int(match.group(1)), int(match.group(2))) if match else None
    if isinstance(given, tuple | list) and len(given) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in given):
        return int(given[0]), int(given[1])
    return None


class FaultCountDrill(Drill):
    """How many major and minor faults? A file, maybe some read(2)s first, then loads.

    The answer is a pair ``(major, minor)``, run on the model (:func:`count_faults`);
    :meth:`feedback` says what is right or wrong in an answer, :meth:`explain` walks through
    each load.

    Model helper: no kernel counterpart.
    """

    def make(self) -> tuple[str, object]:
        """A file of 8-24 pages, a fault-around size, read(2)s, and four to six loads."""
        rng = self.rng
        npages = rng.randrange(8, 25)
        nr = rng.choice((1, 4, 16, 16))
        read_first = sorted(rng.sample(range(npages), rng.randrange(0, 4)))
        pool = list(range(npages))
        touches = [rng.choice(pool) for _ in range(rng.randrange(4, 7))]
        if read_first and rng.random() < 0.7:
            touches[rng.randrange(len(touches))] = rng.choice(read_first)
        self._setup = (npages, touches, read_first, nr * PAGE_SIZE)
        answer = count_faults(npages, touches, read_first=read_first,
                              fault_around_bytes=nr * PAGE_SIZE)
        reads = (f"read(2) of file pages {', '.join(map(str, read_first))}"
                 if read_first else "no read(2)")
        text = (f"A {npages}-page file (nothing cached) is mapped whole, read-only, private, "
                f"at an address aligned to 2 MiB; fault_around_bytes is {nr * PAGE_SIZE} "
                f"({_count(nr, 'page')}). First {reads}; then loads from pages "
                f"{', '.join(map(str, touches))}, in that order. How many (major, minor) "
                "faults?")
        return text, answer

    def same(self, given: object, answer: object) -> bool:
        """A pair of two ints (a tuple, a list, or text like ``"5, 0"``)."""
        return _as_pair(given) == answer

    def explain(self) -> str:
        """Each load of the current problem: major, minor or no fault, and why; the totals."""
        npages, touches, read_first, nbytes = self._setup
        return "\n".join(explain_loads(npages, touches, read_first=read_first,
                                        fault_around_bytes=nbytes))

    def feedback(self, given: object) -> str:
        """A sentence on an answer: right, not a pair (and what to write), or which count is
        off, with the expected pair and where to look (once the learner has tried)."""
        if given is Ellipsis:
            return "Not answered yet: write a pair (major, minor)."
        pair = _as_pair(given)
        answer = self._answer
        assert isinstance(answer, tuple)
        if pair is None:
            return (f"Write a pair (major, minor), e.g. (2, 1), not {given!r}: the question "
                    "asks for the major and the minor faults separately.")
        if pair == answer:
            return f"Right: {answer} (major, minor)."
        wrong = [name for name, mine, want in zip(("major", "minor"), pair, answer,
                                                  strict=True) if mine != want]
        which = " and ".join(wrong)
        return (f"Not quite: you wrote {pair}, the model counts {answer} (major, minor); "
                f"your {which} count{'s are' if len(wrong) > 1 else ' is'} off. "
                "drill.explain() goes through the loads one by one.")


# --- what XIP saves --------------------------------------------------------------------------
def ram_cost(name: str, strategies: Sequence[str] = ("refuse", "mixedmap"),
             image: bytes | None = None) -> dict[str, tuple[RamUse, int, str | None]]:
    """Strategy -> ``(RamUse, smaps Rss in kB, error)`` for scenario ``name`` after its touches.

    Model helper: no kernel counterpart (a summary of :func:`mmlab.scenarios.run_scenario`).
    """
    return {strategy: _cost_of(run_scenario(name, strategy, image=image))
            for strategy in strategies}


def _cost_of(run: ScenarioRun) -> tuple[RamUse, int, str | None]:
    rss = sum(int(e["Rss"]) for e in run.smaps_after)
    return run.ram, rss, run.open_error or run.mmap_error


_PROT_NAMES = ((PROT_READ, "PROT_READ"), (PROT_WRITE, "PROT_WRITE"), (PROT_EXEC, "PROT_EXEC"))


def scenario_calls(sc: Scenario) -> str:
    """What scenario ``sc``'s program does, in one line: its open, its mmap, its touches.

    Model helper: no kernel counterpart (the probe program of :mod:`mmlab.scenarios`).
    """
    prot = "|".join(n for bit, n in _PROT_NAMES if sc.prot & bit) or "PROT_NONE"
    share = "MAP_SHARED" if sc.flags & MAP_SHARED else "MAP_PRIVATE"
    first = sc.offset // PAGE_SIZE
    what = [f"open {sc.path}" + (" O_RDWR" if sc.open_write else " O_RDONLY"),
            f"mmap {_count(sc.pages, 'page')} from file page {first}, {prot}, {share}"]
    if sc.touch:
        what.append(f"read {_count(len(sc.touch), 'page', 'pages')} {_ranges(sc.touch)}")
    if sc.write:
        what.append(f"write {_count(len(sc.write), 'page', 'pages')} {_ranges(sc.write)}")
    if not sc.touch and not sc.write:
        what.append("no touch")
    return "; ".join(what)


#: Why a scenario's open or mmap failed, by errno name (the kernel's reason, in words).
_FAILURES = MappingProxyType({
    "EROFS": "open(O_RDWR) refused: cramfs is a read-only file system, so there is no "
             "mapping",
    "EACCES": "mmap refused: a shared writable mapping needs a descriptor opened for "
              "writing (do_mmap), so there is no mapping",
})


def touch_outcomes(run: ScenarioRun) -> str:
    """The touches of a scenario run and where each page ended up, runs of pages grouped:
    ``read pages 0-2: flash; read pages 3-4: page cache`` or ``read page 0: SIGBUS``.

    Model helper: no kernel counterpart (a summary of :attr:`ScenarioRun.touches`).
    """
    groups: list[tuple[str, str, list[int]]] = []
    for t in run.touches:
        outcome = t.signal or (t.where if t.where is not None else "?")
        if groups and groups[-1][:2] == (t.kind, outcome) and groups[-1][2][-1] == t.page - 1:
            groups[-1][2].append(t.page)
        else:
            groups.append((t.kind, outcome, [t.page]))
    return "; ".join(f"{kind} {_count(len(pages), 'page', 'pages')} {_ranges(pages)}: {outcome}"
                     for kind, outcome, pages in groups)


def _failure_text(error: str) -> str:
    return _FAILURES.get(error, f"open or mmap failed: {error}")


class RamCostExplorer(Explorer):
    """One XIP scenario under each strategy: what the program does, what each touch got, and
    the pages served from flash against those held in RAM, as bars.

    Model helper: no kernel counterpart.
    """

    figsize = (7.0, 2.6)

    def __init__(self, name: str = "libc-past-xip",
                 strategies: Sequence[str] = ("refuse", "mixedmap")) -> None:
        super().__init__()
        from mmlab.scenarios import SCENARIOS

        self.names = [s.name for s in SCENARIOS]
        self.strategies = tuple(strategies)
        self.name = name
        self._image_bytes = scenario_image()
        self._runs: dict[str, dict[str, ScenarioRun]] = {}

    @property
    def runs(self) -> dict[str, ScenarioRun]:
        """The current scenario's run per strategy (each run once, then kept)."""
        if self.name not in self._runs:
            self._runs[self.name] = {s: run_scenario(self.name, s, image=self._image_bytes)
                                     for s in self.strategies}
        return self._runs[self.name]

    @property
    def cost(self) -> dict[str, tuple[RamUse, int, str | None]]:
        """The current scenario's cost per strategy (see :func:`ram_cost`)."""
        return {strategy: _cost_of(run) for strategy, run in self.runs.items()}

    def make_controls(self) -> dict[str, widgets.Widget]:
        """The scenario."""
        return {"scenario": widgets.Dropdown(options=self.names, value=self.name,
                                             description="scenario")}

    def on_change(self, name: str, value: object) -> None:
        """Another scenario."""
        self.name = str(value)

    def describe(self) -> str:
        """The scenario, its calls, and per strategy: its touches, RAM and flash pages, Rss."""
        sc = scenario(self.name)
        lines = [f"{self.name}: {sc.why}", f"  the program: {scenario_calls(sc)}"]
        for strategy, run in self.runs.items():
            ram, rss, error = _cost_of(run)
            if error:
                lines.append(f"  {strategy:9} {_failure_text(error)} ({error})")
                continue
            touches = touch_outcomes(run)
            lines.append(f"  {strategy:9} " + (f"touches: {touches}; " if touches else "")
                         + f"after them RAM {_count(ram.ram, 'page')} (page cache "
                         f"{ram.page_cache}, anonymous {ram.anonymous}), from flash "
                         f"{_count(ram.flash, 'page')}; smaps Rss {rss} kB")
        return "\n".join(lines)

    def draw(self, fig: Figure) -> None:
        """The scenario in a line; one stacked bar per strategy: flash, page cache, anonymous,
        and touches that got a signal; the legend under them."""
        ax = schematic_axes(fig)
        sc = scenario(self.name)
        ax.text(1, 9.55, first_fitting(ax, (f"{self.name}: {sc.why}", sc.why), 98, 8,
                                       weight="bold") or sc.why,
                fontsize=8, va="center", color=PALETTE["text"], weight="bold")
        ax.text(1, 9.1, wrap_to_width(ax, scenario_calls(sc), 98, 7), fontsize=7, va="top",
                color=PALETTE["muted"], linespacing=1.15)
        runs = self.runs
        signals = {k: sum(1 for t in run.touches if t.signal) for k, run in runs.items()}
        most = max([run.ram.flash + run.ram.ram + signals[k] for k, run in runs.items()] + [1])
        scale = 62 / most
        band = 6.2 / max(1, len(runs))
        drawn: list[Kind] = []
        for k, (strategy, run) in enumerate(runs.items()):
            ram, _rss, error = _cost_of(run)
            y = 7.95 - (k + 1) * band + 0.3
            h = band - 0.8
            ax.text(1, y + h / 2, strategy, va="center", fontsize=9, color=PALETTE["text"])
            x = 16.0
            if error:
                ax.text(x, y + h / 2, wrap_to_width(ax, f"{_failure_text(error)} ({error})",
                                                    82, 8),
                        va="center", fontsize=8, color=PALETTE["muted"])
                continue
            sigbus = sum(1 for t in run.touches if t.signal == "SIGBUS")
            other = signals[strategy] - sigbus
            for count, kind, word in ((ram.flash, KINDS["flash"], "flash"),
                                      (ram.page_cache, KINDS["file"], "page cache"),
                                      (ram.anonymous, _PTE_KINDS["anon"], "anonymous"),
                                      (sigbus, _COST_KINDS["sigbus"], "SIGBUS"),
                                      (other, _COST_KINDS["signal"], "signal")):
                if not count:
                    continue
                ax.add_patch(kind_patch((x, y), count * scale, h, kind, linewidth=0.5))
                if kind not in drawn:
                    drawn.append(kind)
                text = first_fitting(ax, (f"{count} {word}", str(count)), count * scale * 0.9,
                                     8)
                if text is not None:
                    box_label(ax, (x, y, x + count * scale, y + h), text, fontsize=8,
                              **label_backing(kind))
                x += count * scale
            ax.text(x + 1, y + h / 2, f"RAM: {_count(ram.ram, 'page')}", va="center",
                    fontsize=8, color=PALETTE["text"])
        if drawn:
            draw_legend(ax, drawn, 16.0, 1.0, fontsize=7.5)


#: The bars' kinds for touches that got a signal (no page to count: a touch that failed).
_COST_KINDS = MappingProxyType({
    "sigbus": Kind("sigbus", "touched, got SIGBUS (past the end of the file)", PALETTE["sigbus"],
                   "xx", "S"),
    "signal": Kind("signal", "touched, got SIGSEGV", None, "xx", "S", edge=PALETTE["highlight"],
                   edge_width=1.2),
})


# --- the model's smaps next to the kernel's ----------------------------------------------------
def can_run_live() -> bool:
    """Is this a Linux machine with a ``/proc/self/maps`` (not a browser kernel)?

    Model helper: no kernel counterpart.
    """
    return sys.platform == "linux" and os.path.exists("/proc/self/maps")


def _smaps_ops(shift: int) -> list[tuple[object, ...]]:
    """The chapter's sequence: a 16-page file mapped twice (A read-only, B writable), then a
    load in A, a store in B, a load in B. ``shift`` puts both VMAs on 64 KiB boundaries."""
    return [
        ("mmap", shift, 16, PROT_READ, MAP_PRIVATE, "data", 0),
        ("mmap", shift + 16, 16, PROT_READ | PROT_WRITE, MAP_PRIVATE, "data", 0),
        ("touch", shift + 5, False),
        ("touch", shift + 18, True),
        ("touch", shift + 20, False),
    ]


def live_smaps_comparison() -> dict[str, object]:
    """Run the chapter's sequence on this machine's kernel and on the model; both smaps.

    The sequence: a 16-page file just written (so its pages sit in the page cache, dirty) is
    mapped twice, A read-only and B writable, both private and 64 KiB aligned; then a load from
    A, a store to B and a load from B. Returns ``{"source": "live", "steps": [...],
    "stages": [{"after": step, "kernel": [...], "model": [...]}, ...], "mismatch": None or
    text}``, smaps taken after the first load and at the end; each entry has ``vma``
    (``"A"``/``"B"``), the counters in kB and ``VmFlags``. Raises :class:`OSError` where no
    real kernel can run it.

    Model helper: no kernel counterpart.
    """
    if not can_run_live():
        raise OSError("no Linux /proc here")
    from mmlab import live

    with live.Replay() as replay:
        replay.add_file("data", 16)
        shift = (-(replay.base >> PAGE_SHIFT)) % 16
        ops = _smaps_ops(shift)

        def mine(entries: list[dict[str, int | str]]) -> list[dict[str, int | str]]:
            out = []
            for e in entries:
                start, end = int(e["start"]), int(e["end"])
                if start in (shift, shift + 16) and end - start == 16:
                    row: dict[str, int | str] = {"vma": "A" if start == shift else "B"}
                    row.update({k: e[k] for k in (*SMAPS_FIELDS, "VmFlags")})
                    out.append(row)
            return out

        stages: list[dict[str, object]] = []
        mismatches: list[str] = []
        for upto, after in ((3, SMAPS_STEPS[2]), (5, SMAPS_STEPS[4])):
            mismatch = replay.run(ops[len(replay.log):upto])
            if mismatch is not None:
                mismatches.append(str(mismatch))
            stages.append({"after": after, "kernel": mine(replay.real_smaps()),
                           "model": mine(replay.model_smaps())})
        return {"source": "live", "steps": list(SMAPS_STEPS), "stages": stages,
                "mismatch": "\n".join(mismatches) or None}


#: The chapter's sequence in words (see :func:`live_smaps_comparison`).
SMAPS_STEPS = ("mmap A: file pages 0-15, PROT_READ, MAP_PRIVATE",
               "mmap B: file pages 0-15, PROT_READ|PROT_WRITE, MAP_PRIVATE",
               "load from A, file page 5", "store to B, file page 2",
               "load from B, file page 4")


def stored_smaps_comparison(directory: pathlib.Path | str = COURSE_DATA) -> dict[str, object]:
    """The comparison as stored in ``smaps.json`` (made by :func:`write_course_data`).

    Model helper: no kernel counterpart.
    """
    return load_stored(pathlib.Path(directory) / "smaps.json")


def smaps_comparison() -> dict[str, object]:
    """Live where a real kernel runs this notebook, else the stored capture.

    Model helper: no kernel counterpart.
    """
    return live_or_stored(live_smaps_comparison, stored_smaps_comparison,
                          available=can_run_live())


def format_smaps(data: dict[str, object]) -> str:
    """The kernel's and the model's smaps side by side, one field a line, after each stage.

    Model helper: no kernel counterpart.
    """
    where = kernel_source(data)
    lines = [f"kernel: {where}"]
    stages = data["stages"]
    assert isinstance(stages, list)
    for stage in stages:
        lines.append(f"after: {stage['after']}")
        for k_entry, m_entry in zip(stage["kernel"], stage["model"], strict=False):
            lines.append(f"  VMA {k_entry['vma']}:{'kernel':>26}{'model':>20}")
            for key in (*SMAPS_FIELDS, "VmFlags"):
                unit = "" if key == "VmFlags" else " kB"
                same = "" if k_entry[key] == m_entry[key] else "   <- differs"
                lines.append(f"    {key:15}{str(k_entry[key]) + unit:>18}"
                             f"{str(m_entry[key]) + unit:>20}{same}")
    return "\n".join(lines)


def write_course_data(directory: pathlib.Path | str = COURSE_DATA) -> list[pathlib.Path]:
    """Regenerate ``data/course/04/`` (needs a Linux kernel): ``smaps.json``.

    Model helper: no kernel counterpart.
    """
    data = live_smaps_comparison()
    data.pop("source")
    data["machine"] = f"Linux {os.uname().release}"
    path = pathlib.Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    out = path / "smaps.json"
    out.write_text(json.dumps(data, indent=1) + "\n")
    return [out]
