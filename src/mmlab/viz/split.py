"""The fault-time split, drawn: the packed split point, the vm_end cheat, the handler's
return paths, two threads racing through its unlocked window, and the tail check the mail
changes.

* :class:`PackingExplorer`: ``vm_private_data`` bit by bit (the seed's 16/16 packing, v3's 12 +
  virtual page number), packed by :func:`mmlab.xip.split_private_data` and unpacked again.
* :func:`vm_end_story`, :func:`remap_partial_cow`: ``vm_end`` before, during and after
  ``remap_pfn_range`` in the patch's ``cramfs_physmem_mmap``, and why it has to cheat.
* :func:`split_fault_trace`: a fault on libc's page 3, recorded for the generic
  :class:`~mmlab.viz.stepper.TraceStepper`; :func:`handler_return_paths`: every way out of
  ``cramfs_vmasplit_fault``, each reached on the model.
* :class:`RaceExplorer`: the interleavings of :data:`mmlab.race.RACES` under "split" and
  "split-v3", as outcome classes with a bar each, and an example schedule to step through.
* :func:`tail_check_table`, :func:`tail_lab_leak`: the ``(pages - 1)`` → ``(max_pages - 1)``
  hunk, decided by the model for every starting ``vm_pgoff``.
* :func:`pack_cases`, :func:`unpack_cases`, :class:`PackDrill`: the self-check.

Model helper: no kernel counterpart (drawings of the model).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from mmlab import trace
from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    FAULT_FLAG_USER,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    vm_fault_names,
)
from mmlab.cramfs.tree import Dir
from mmlab.cramfs.tree import File as TreeFile
from mmlab.cramfs.writer import build_image
from mmlab.fault import do_page_fault
from mmlab.memory import remap_pfn_range, zap_page_range
from mmlab.mm import MM
from mmlab.mm_types import Vma, VmFault, linear_page_index, vma_is_anonymous
from mmlab.physmem import frame_kind
from mmlab.race import RACES, RaceReport, Run, State, VmaView, race, steps_of
from mmlab.scenarios import Scenario, run_scenario, scenario_image
from mmlab.system import System
from mmlab.trace import Recorder, Step
from mmlab.uaccess import user_read
from mmlab.viz.base import PALETTE, Explorer, schematic_axes
from mmlab.viz.kernelraces import kernel_says, load_kernel_races, window_run
from mmlab.viz.quiz import OUTPUT_WIDTH, Drill, learner_value, wrap_output
from mmlab.viz.style import Kind, box_label, draw_legend, kind_collection, text_width
from mmlab.xip import (
    CramfsInode,
    CramfsSuperBlock,
    SplitFault,
    cramfs_get_block_range,
    cramfs_last_page_is_shared,
    mount,
    seed_last_page_is_shared,
    split_private_data,
    vmasplit_fault_steps,
)

__all__ = [
    "LIBC",
    "MAX_SPLIT_PGOFF",
    "DirectPartFault",
    "PackDrill",
    "PackingExplorer",
    "RACE_KINDS",
    "RaceExplorer",
    "RemapCheat",
    "ReturnPath",
    "TailRow",
    "VmEndRow",
    "direct_part_fault",
    "format_return_paths",
    "format_tail_table",
    "format_vm_end_story",
    "handler_return_paths",
    "libc_mapping",
    "pack_cases",
    "packed_fields_hint",
    "remap_partial_cow",
    "split_fault_trace",
    "tail_check_table",
    "tail_lab_image",
    "tail_lab_leak",
    "unpack_cases",
    "unpack_seed",
    "vm_end_story",
]

#: The file the chapter maps: 5 pages, pages 0-2 XIP, 3-4 compressed.
LIBC = "/lib/libc.so.6"

#: The largest page index of a cramfs file: ``size`` is a 24-bit field (< 16 MiB).
MAX_FILE_PAGE = ((1 << 24) - 1) >> PAGE_SHIFT

#: The largest ``split_pgoff`` (``vm_pgoff + pages``): a 4096-page file mapped from flash to its
#: end by a VMA longer than the file. It needs 13 bits.
MAX_SPLIT_PGOFF = MAX_FILE_PAGE + 1

_RX = PROT_READ | PROT_EXEC


# --- the mmap side ---------------------------------------------------------------------------
def libc_mapping(strategy: str = "split", *,
                 system: System | None = None) -> tuple[CramfsSuperBlock, MM, int]:
    """Mount the scenario image under ``strategy`` and map all of libc (5 pages, read+exec,
    private) in a new process: ``(superblock, mm, address)``.

    Model helper: no kernel counterpart (what the dynamic loader does on the board).
    """
    sb = mount(scenario_image(), None, strategy, system=system or System())
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, _RX, MAP_PRIVATE, sb.open(LIBC), 0)
    return sb, mm, addr


def unpack_seed(value: int, vm_start: int, strategy: str = "split") -> tuple[int, int]:
    """``(split_pgoff, split_addr)`` from a packed ``vm_private_data``, as the handler decodes it.

    The seed: pgoff in bits 0-15, page index within the VMA from bit 16 (the address is
    ``vm_start`` plus that many pages). v3: pgoff in bits 0-11, the virtual page number of the
    split point from bit 12 (``vm_start`` is not needed).

    Patch: ``cramfs_vmasplit_fault``'s decoding in the fault-time split (LKML, 2017-08-16) and
    in its v3 as quoted in the review of 2017-08-31, never merged.
    """
    if strategy == "split-v3":
        return value & 0xFFF, (value >> 12) << PAGE_SHIFT
    return value & 0xFFFF, vm_start + (value >> 16) * PAGE_SIZE


def packed_fields_hint(guess: object, value: int, strategy: str = "split") -> str:
    """For a packed ``vm_private_data`` guessed wrong, which field differs: each field of the
    guess next to the right one (``split_pgoff`` in the low bits, the split point above), so
    the learner sees where the reasoning parted; "" for a right guess, no guess (``...``), or
    something that is not a number.

    Model helper: no kernel counterpart (it reads the packing of the patch's
    ``cramfs_physmem_mmap``: the seed's 16 + 16 bits, LKML 2017-08-16; v3's 12 bits and a
    virtual page number, 2017-08-31).
    """
    number = learner_value(guess) if guess is not Ellipsis else None
    if isinstance(number, bool) or not isinstance(number, int) or number == value:
        return ""
    low = 12 if strategy == "split-v3" else 16
    high_name = "virtual page number" if strategy == "split-v3" else "split_page"
    mask = (1 << low) - 1
    parts = []
    for name, bits, mine, right in (
            ("split_pgoff", f"bits 0-{low - 1}", number & mask, value & mask),
            (high_name, f"bits {low}+", number >> low, value >> low)):
        verdict = "right" if mine == right else f"it should be {_both(right)}"
        parts.append(f"{name} ({bits}): yours is {_both(mine)}, {verdict}")
    return wrap_output("Field by field: " + "; ".join(parts) + ".")


class PackingExplorer(Explorer):
    """``vm_private_data`` bit by bit: choose the split page and the split pgoff, see the packed
    value, each bit in its field, and what the handler unpacks from it.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 2.6)

    def __init__(self, split_page: int = 3, split_pgoff: int = 3, strategy: str = "split",
                 vm_start: int = 0x7FFFF7FFA000, vma_pages: int = 5, file_pages: int = 5) -> None:
        super().__init__()
        self.split_page, self.split_pgoff = split_page, split_pgoff
        self.strategy, self.vm_start = strategy, vm_start
        #: The VMA's length in pages (libc's 5): a split point at or past its end is refused.
        self.vma_pages = vma_pages
        #: The mapped file's length in pages (libc.so.6: 5): a split pgoff at or past it makes
        #: every page above the split point read past the file's end.
        self.file_pages = file_pages

    #: The split page slider's end: past libc's 5-page VMA, every value the text asks for
    #: within a pixel's reach (a 0-4096 slider moved 33 pages a pixel).
    SPLIT_PAGE_MAX = 8

    def make_controls(self) -> dict[str, widgets.Widget]:
        """The split page (a slider over the VMA and a little past it), the split pgoff (a box
        to type in, 0 to 4096, the arrow keys move it by one), the packing."""
        return {
            "split_page": widgets.IntSlider(value=self.split_page, min=0,
                                            max=max(self.SPLIT_PAGE_MAX, self.split_page),
                                            description="split page"),
            "split_pgoff": widgets.BoundedIntText(value=self.split_pgoff, min=0,
                                                  max=MAX_SPLIT_PGOFF, description="split pgoff",
                                                  layout=widgets.Layout(width="180px")),
            "strategy": widgets.ToggleButtons(options=[("seed (16 + 16)", "split"),
                                                       ("v3 (12 + vpn)", "split-v3")],
                                              value=self.strategy),
        }

    def on_change(self, name: str, value: object) -> None:
        """A slider or the packing changed."""
        if name == "strategy":
            self.strategy = str(value)
        else:
            setattr(self, name, int(value))  # type: ignore[call-overload]

    @property
    def value(self) -> int:
        """The packed ``vm_private_data`` (by :func:`mmlab.xip.split_private_data`).

        A ``split_pgoff`` too wide for v3's 12 bits is packed as v3's code would do it, OR-ed
        into the split point's bits (the model's :func:`~mmlab.xip.split_private_data` refuses
        it): the picture shows the overlap.
        """
        if self.overlaps:
            return self.split_pgoff | (((self.vm_start >> PAGE_SHIFT) + self.split_page) << 12)
        return split_private_data(self.split_pgoff, self.split_page, self.vm_start,
                                  self.strategy)

    @property
    def overlaps(self) -> bool:
        """Does ``split_pgoff`` spill into the split point's bits (v3 with 4096)?"""
        return self.split_pgoff >= 1 << self.low_bits

    @property
    def low_bits(self) -> int:
        """How many low bits hold the pgoff: 16 in the seed, 12 in v3."""
        return 12 if self.strategy == "split-v3" else 16

    def field_kinds(self) -> tuple[Kind, Kind]:
        """The two fields of the packed value as drawn: (split point, split pgoff)."""
        low = self.low_bits
        nbits = 48 if self.strategy == "split-v3" else 32
        split_field = "virtual page number" if self.strategy == "split-v3" else "split page"
        return (Kind("split-field", f"bits {low}-{nbits - 1}: {split_field}", PALETTE["flash"],
                     None, "S"),
                Kind("pgoff-field", f"bits 0-{low - 1}: split pgoff", PALETTE["file"], None, "P"))

    def draw(self, fig: Figure) -> None:
        """One box per bit (high bits left) holding its 0 or 1, the bit numbers at the field
        edges, the hex digit under each group of four bits, and the two fields named."""
        ax = schematic_axes(fig)
        value, low = self.value, self.low_bits
        nbits = 48 if self.strategy == "split-v3" else 32
        width = 98.0 / nbits
        split_kind, pgoff_kind = self.field_kinds()

        def left(bit: int) -> float:
            return 1 + (nbits - 1 - bit) * width

        fields = ((split_kind, range(low, nbits)), (pgoff_kind, range(0, low)))
        for kind, bits in fields:
            ax.add_collection(kind_collection(
                [Rectangle((left(bit), 4.9), width, 2.2) for bit in bits], kind))
        ax.plot([left(low - 1)] * 2, [4.6, 7.4], color=PALETTE["text"], lw=1.6)
        for bit in range(nbits):
            on = (value >> bit) & 1
            box_label(ax, (left(bit), 4.9, left(bit) + width, 7.1), "1" if on else "0",
                      fontsize=8, family="monospace", weight="bold" if on else "normal",
                      color=PALETTE["text"] if on else PALETTE["muted"])
        if self.overlaps:  # the pgoff's bit that lands on the split point's lowest bit
            ax.add_patch(Rectangle((left(low), 4.75), width, 2.5, facecolor="none",
                                   edgecolor=PALETTE["highlight"], linewidth=2.0, zorder=4))
            box_label(ax, (left(low) - 3 * width, 3.0, left(low) + 4 * width, 3.6),
                      f"split pgoff's bit {low}", fontsize=7, color=PALETTE["highlight"])
        for bit in sorted({nbits - 1, low, low - 1, 0}):  # bit numbers at the field edges
            box_label(ax, (left(bit), 7.2, left(bit) + width, 7.9), str(bit), fontsize=7,
                      color=PALETTE["muted"])
        for nibble in range(nbits // 4):  # one hex digit under each group of four bits
            x0 = left(4 * nibble + 3)
            box_label(ax, (x0, 3.6, x0 + 4 * width, 4.7),
                      f"{(value >> (4 * nibble)) & 0xF:x}", fontsize=9, family="monospace")
        split_field = "virtual page number" if self.strategy == "split-v3" else "split page"
        for (x0, x1), text in (  # both fields in one form: hex, then decimal
                ((left(nbits - 1), left(low) + width),
                 f"bits {low}-{nbits - 1}: {split_field} = {_both(value >> low)}"),
                ((left(low - 1), left(0) + width),
                 f"bits 0-{low - 1}: split pgoff = {_both(value & ((1 << low) - 1))}")):
            ax.plot([x0 + 0.2, x1 - 0.2], [8.1, 8.1], color=PALETTE["edge"], lw=0.8)
            box_label(ax, (x0, 8.2, x1, 9.6), text, fontsize=9)
        pgoff, addr = unpack_seed(value, self.vm_start, self.strategy)
        ax.text(1, 2.5, f"vm_private_data = {value:#x}", fontsize=10, weight="bold",
                color=PALETTE["text"], va="center")
        draw_legend(ax, [pgoff_kind, split_kind], 99, 2.5, align="right", fontsize=8)
        refused = self.refusal()
        meant = self.vm_start + self.split_page * PAGE_SIZE
        wrong = self.overlaps and (pgoff, addr) != (self.split_pgoff, meant)
        note = refused or (f"meant: {self.split_pgoff} at {meant:#x}" if wrong else "") \
            or self.at_start() or self.past_eof()
        ax.text(1, 0.8, f"unpacked: split_pgoff = {pgoff}, split_addr = {addr:#x}"
                + (f" ({note})" if note else ""), va="center", fontsize=9,
                color=PALETTE["highlight"] if note else PALETTE["text"])

    def refusal(self) -> str:
        """Why the handler would answer ``VM_FAULT_SIGSEGV`` for this value, or "": no split
        point (0), or a split point at or past the end of the VMA (:attr:`vma_pages` pages).

        Patch: ``cramfs_vmasplit_fault``'s first test (LKML, 2017-08-16).
        """
        if not self.value:
            return '0: "no split point" → SIGSEGV'
        _pgoff, addr = unpack_seed(self.value, self.vm_start, self.strategy)
        if addr >= self.vm_start + self.vma_pages * PAGE_SIZE:
            return f"at or past the {self.vma_pages}-page VMA's end → SIGSEGV"
        return ""

    def at_start(self) -> str:
        """What a split point at ``vm_start`` (split page 0 with a non-zero value) does, or "":
        every fault is at or above it, so the seed splits at the VMA's first address, leaving a
        lower part of no pages (the defect of the mprotect race; v4.15's ``__split_vma`` does
        not check, the model's refuses: ``VM_FAULT_OOM``); v3 has nothing below to split and
        makes the whole VMA the page-cache one.

        Patch: ``cramfs_vmasplit_fault`` (LKML, 2017-08-16; v3, 2017-08-31).
        """
        if self.refusal():
            return ""
        _pgoff, addr = unpack_seed(self.value, self.vm_start, self.strategy)
        if addr != self.vm_start:
            return ""
        if self.strategy == "split-v3":
            return "split point at vm_start: v3 makes the whole VMA page cache"
        return "split point at vm_start: a split with nothing below (section 3)"

    def past_eof(self) -> str:
        """What a split pgoff at or past the end of the file (:attr:`file_pages`) does, or "":
        the upper VMA gets it as ``vm_pgoff``, so every page above the split point asks
        ``filemap_fault`` for a page past ``i_size``, which answers ``VM_FAULT_SIGBUS``
        (``mm/filemap.c`` @ v4.15, L2508). Only for a split point the handler accepts.

        Patch: ``cramfs_vmasplit_fault`` (LKML, 2017-08-16), ``new_vma->vm_pgoff = split_pgoff``.
        """
        if self.refusal():
            return ""
        pgoff, _addr = unpack_seed(self.value, self.vm_start, self.strategy)
        if pgoff < self.file_pages:
            return ""
        return f"file page {pgoff} is past libc's {self.file_pages} pages → SIGBUS above the split"

    def alt_text(self) -> str:
        """The description, and the bits as the picture shows them, high bit first."""
        nbits = 48 if self.strategy == "split-v3" else 32
        bits = format(self.value, f"0{nbits}b")
        low = self.low_bits
        return (self.describe() + f"\nthe picture: bits {nbits - 1}..{low} = "
                f"{bits[:nbits - low]}, bits {low - 1}..0 = {bits[nbits - low:]}")

    def describe(self) -> str:
        """The packing formula, the value, the two fields, and the unpacked split point."""
        value, low = self.value, self.low_bits
        pgoff, addr = unpack_seed(value, self.vm_start, self.strategy)
        if self.strategy == "split-v3":
            vpn = (self.vm_start >> PAGE_SHIFT) + self.split_page
            lines = [f"v3: split_pgoff | (split_vpn << 12) = {self.split_pgoff} | "
                     f"({vpn:#x} << 12) = {value:#x}",
                     f"  bits 0-11  split_pgoff: {value & 0xFFF}",
                     f"  bits 12+   virtual page number of the split point: {value >> 12:#x}"]
        else:
            lines = [f"seed: split_pgoff + (split_page << 16) = {self.split_pgoff} + "
                     f"({self.split_page} << 16) = {value:#x}",
                     f"  bits 0-15  split_pgoff: {value & 0xFFFF}",
                     f"  bits 16-31 split_page:  {value >> 16}"]
        lines.append(f"  unpacked: split_pgoff = {pgoff}, split_addr = {addr:#x} "
                     f"(vm_start {self.vm_start:#x})")
        if not value:
            lines.append("  value 0: the handler reads it as \"no split point\" and returns "
                         "VM_FAULT_SIGSEGV")
        elif self.refusal():
            lines.append(f"  the split point {addr:#x} is at or past the end of this "
                         f"{self.vma_pages}-page VMA (vm_end "
                         f"{self.vm_start + self.vma_pages * PAGE_SIZE:#x}): the handler "
                         "returns VM_FAULT_SIGSEGV")
        elif self.at_start():
            if self.strategy == "split-v3":
                lines += ["  split page 0: the split point is vm_start, nothing lies below it: "
                          "v3 splits nothing",
                          "    and makes the whole VMA the page-cache VMA (what it does in the "
                          "mprotect race of section 3)"]
            else:
                lines += ["  split page 0 with a non-zero value: the split point is vm_start, "
                          "every fault is",
                          "    at or above it, and the seed calls split_vma at the VMA's first "
                          "address: a lower",
                          "    part of no pages, the defect of the mprotect race in section 3 "
                          "(v4.15's __split_vma",
                          "    does not check; the model refuses: VM_FAULT_OOM)"]
        if self.past_eof():
            lines.append(f"  split_pgoff {pgoff} is at or past the end of libc.so.6 "
                         f"({self.file_pages} pages, 0 to {self.file_pages - 1}): the upper VMA "
                         f"would start at file page {pgoff}, and filemap_fault answers "
                         "VM_FAULT_SIGBUS for every page above the split point")
        lines.append(f"  a cramfs file has at most {MAX_FILE_PAGE + 1} pages (24-bit size): "
                     f"split_pgoff is at most {MAX_SPLIT_PGOFF}, 13 bits")
        if self.overlaps:
            vpn = (self.vm_start >> PAGE_SHIFT) + self.split_page
            moved = ("the split point's page number is even, so that bit was 0: the OR sets it "
                     "and the split point moves one page up" if vpn % 2 == 0 else
                     "the split point's page number is odd, so that bit was 1 already: the "
                     "split point stays (move split page by one to see the other case)")
            lines.append(f"  split_pgoff {self.split_pgoff} does not fit in {low} bits: its bit "
                         f"{low} is OR-ed into the split point's lowest bit; {moved}. The "
                         f"handler decodes the split point as {addr:#x}, with split_pgoff "
                         f"{pgoff}")
        else:
            lines.append(f"  split_pgoff {self.split_pgoff} fits in {low} bits")
        return "\n".join(lines)


@dataclass(frozen=True)
class VmEndRow:
    """One traced call during an ``mmap`` of libc, and the VMA's ``vm_end`` when it was called.

    Model helper: no kernel counterpart.
    """

    name: str
    depth: int
    vm_end: int | None
    vm_start: int | None


class _VmaWatch(list[Step]):
    """A recorder's step list that notes the mapped VMA's ``vm_end`` as each step is added."""

    def __init__(self) -> None:
        super().__init__()
        self.vma: Vma | None = None
        self.rows: list[VmEndRow] = []

    def append(self, step: Step) -> None:  # noqa: D401 - list protocol
        super().append(step)
        if self.vma is None:
            # the live VMA, not the step's snapshot of it: its vm_end is read at each later step
            self.vma = next((v for v in step.live_args.values() if isinstance(v, Vma)), None)
        vma = self.vma
        self.rows.append(VmEndRow(step.name, step.depth, vma.vm_end if vma else None,
                                  vma.vm_start if vma else None))


def vm_end_story(strategy: str = "split") -> list[VmEndRow]:
    """``mmap`` of all of libc under ``strategy``, traced with :func:`mmlab.trace.record`; for each
    call, the new VMA's ``vm_end`` at that moment (``None`` before the VMA exists).

    Under "split" ``remap_pfn_range`` sees a VMA of 3 pages, the calls before and after one of
    5: the patch shrinks ``vm_end`` around the call and restores it.

    Model helper: no kernel counterpart (the trace of ``seed_physmem_mmap``).
    """
    sb = mount(scenario_image(), None, strategy, system=System())
    mm = MM(sb.system)
    file = sb.open(LIBC)
    watch = _VmaWatch()
    with trace.record(snapshots=False) as rec:
        rec.steps = watch
        mm.mmap(0, 5 * PAGE_SIZE, _RX, MAP_PRIVATE, file, 0)
    return list(watch.rows)


def format_vm_end_story(rows: Sequence[VmEndRow]) -> str:
    """The rows as a call graph with ``vm_end`` and the VMA's size in pages.

    Model helper: no kernel counterpart.
    """
    out = [f"{'call':40} vm_end          pages"]
    for r in rows:
        end = "(no VMA yet)" if r.vm_end is None else f"{r.vm_end:#x}"
        pages = "" if r.vm_end is None or r.vm_start is None else \
            str((r.vm_end - r.vm_start) // PAGE_SIZE)
        out.append(f"{'  ' * r.depth + r.name:40} {end:15} {pages}")
    return "\n".join(out)


@dataclass(frozen=True)
class RemapCheat:
    """``remap_pfn_range`` of libc's 3 XIP pages into its 5-page private VMA, without and with
    the patch's ``vm_end`` cheat.

    Model helper: no kernel counterpart.
    """

    without: int
    with_cheat: int
    vm_end_during: int
    vm_end_after: int
    vm_pgoff_after: int
    ptes: int


def remap_partial_cow() -> RemapCheat:
    """Try the patch's call by hand on a mapping that nothing was mapped into yet (``"refuse"``).

    First on the 5-page VMA as it is: a COW mapping must be remapped whole (`mm/memory.c line
    2073 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2073>`_), so ``-EINVAL``.
    Then as the patch does it: ``vm_end`` shrunk to the 3 mappable pages, the call, ``vm_end``
    restored.

    Kernel: ``remap_pfn_range`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2045>`_.
    """
    sb, mm, addr = libc_mapping("refuse")
    vma = mm.find_vma(addr)
    assert vma is not None
    inode = sb.open(LIBC).f_inode
    assert isinstance(inode, CramfsInode)
    offset, pages = cramfs_get_block_range(inode, 0, 5)
    pfn = (sb.linear_phys_addr + offset) >> PAGE_SHIFT
    full_end = vma.vm_end
    mm.mmap_sem.down_write()
    without = remap_pfn_range(vma, vma.vm_start, pfn, pages * PAGE_SIZE, vma.vm_page_prot)
    vma.vm_end = vma.vm_start + pages * PAGE_SIZE  # the cheat
    during = vma.vm_end
    with_cheat = remap_pfn_range(vma, vma.vm_start, pfn, pages * PAGE_SIZE, vma.vm_page_prot)
    vma.vm_end = full_end  # restored
    mm.mmap_sem.up_write()
    ptes = sum(1 for _ in mm.pgd.range(vma.vm_start, vma.vm_end))
    return RemapCheat(without, with_cheat, during, vma.vm_end, vma.vm_pgoff, ptes)


# --- the fault side --------------------------------------------------------------------------
def split_fault_trace(strategy: str = "split", page: int = 3) -> tuple[Recorder, str]:
    """Map libc under ``strategy`` and record a read fault on ``page``: ``(recorder, result)``.

    The recorder (with snapshots) is what :class:`~mmlab.viz.stepper.TraceStepper` steps
    through; the result is the fault's summary.

    Model helper: no kernel counterpart (``trace.record()`` around ``do_page_fault``).
    """
    _sb, mm, addr = libc_mapping(strategy)
    with trace.record() as rec:
        res = do_page_fault(mm, addr + page * PAGE_SIZE)
    return rec, repr(res)


@dataclass(frozen=True)
class DirectPartFault:
    """What a fault in the directly mapped part would do once the split has set its ``vm_ops``
    to NULL (:func:`direct_part_fault`).

    ``vm_ops``: the lower VMA's ops after the split (``None``); ``anonymous``: what
    ``vma_is_anonymous`` says of it; ``path``: the fault handlers called, in order; ``frame``:
    what the page's new PTE points at; ``before``/``after``: the page's first bytes as the
    program read them before its PTE was emptied and after the fault.

    Model helper: no kernel counterpart.
    """

    vm_ops: object
    anonymous: bool
    path: tuple[str, ...]
    frame: str
    before: bytes
    after: bytes


def direct_part_fault(page: int = 1) -> DirectPartFault:
    """Split libc the seed's way (a read of page 3), then empty the PTE of ``page`` of the
    directly mapped part by hand and read that page again.

    Nothing in v4.15 empties a PTE of a ``VM_PFNMAP`` VMA that stays mapped (the pages have no
    ``struct page`` to reclaim, and ``madvise(MADV_DONTNEED)`` refuses ``VM_PFNMAP``), which is
    why the seed's comment says the direct part "should no longer ever fault": this shows what
    would happen if it did. With ``vm_ops`` NULL, ``handle_pte_fault`` takes the VMA for
    anonymous memory and ``do_anonymous_page`` maps the shared zero page for a read.

    Model helper: no kernel counterpart (``zap_page_range`` by hand, then ``do_page_fault``).
    """
    _sb, mm, addr = libc_mapping("split")
    do_page_fault(mm, addr + 3 * PAGE_SIZE)  # the split
    vma = mm.find_vma(addr)
    assert vma is not None and vma.vm_end == addr + 3 * PAGE_SIZE
    target = addr + page * PAGE_SIZE
    before = user_read(mm, target, 8)
    zap_page_range(vma, target, PAGE_SIZE)
    with trace.record(snapshots=False) as rec:
        do_page_fault(mm, target)
    path = tuple(n for n in rec.names if n in ("handle_mm_fault", "handle_pte_fault",
                                                "do_anonymous_page", "do_fault",
                                                "__do_fault", "filemap_fault"))
    pte = mm.pgd.walk(target)
    assert pte is not None
    return DirectPartFault(vma.vm_ops, vma_is_anonymous(vma), path,
                           frame_kind(mm.physmem, pte.pfn), before, user_read(mm, target, 8))


@dataclass(frozen=True)
class ReturnPath:
    """One way out of ``cramfs_vmasplit_fault``, as reached on the model.

    ``events``: the handler's steps; ``ret``: its ``VM_FAULT_*`` bits; ``ours``: whether the
    faulting thread still holds ``mmap_sem`` for read when the handler returns.

    Model helper: no kernel counterpart.
    """

    name: str
    how: str
    ret: int
    events: tuple[str, ...]
    ours: bool


def _vmf(mm: MM, addr: int) -> VmFault:
    vma = mm.find_vma(addr)
    assert vma is not None
    return VmFault(vma, FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE | FAULT_FLAG_USER,
                   linear_page_index(vma, addr), addr)


def handler_return_paths(strategy: str = "split") -> tuple[ReturnPath, ...]:
    """Drive the patch's handler (:func:`mmlab.xip.vmasplit_fault_steps`) down each of its return
    paths, one fresh libc mapping each, entered as ``__do_fault`` enters it (``mmap_sem`` held
    for read):

    * success: split, ``downgrade_write``, ``filemap_fault``;
    * ``VM_FAULT_SIGSEGV``: no split point in ``vm_private_data``;
    * ``VM_FAULT_RETRY``: another reader holds the lock, and a fatal signal arrives while
      ``down_write_killable`` waits;
    * ``VM_FAULT_NOPAGE``: while the handler is between ``up_read`` and
      ``down_write_killable``, another thread's fault on page 4 splits the VMA;
    * ``VM_FAULT_OOM``: the process is at ``max_map_count``, ``split_vma`` refuses.

    Patch: ``cramfs_vmasplit_fault`` of the fault-time split (LKML, 2017-08-16), never merged.
    """
    paths: list[ReturnPath] = []

    def run(name: str, how: str, mm: MM, vmf: VmFault, *, signal: bool = False,
            meanwhile: int | None = None, extra_reader: bool = False) -> None:
        sem = mm.mmap_sem
        sem.down_read()
        if extra_reader:
            sem.down_read()
        rep = SplitFault()
        steps = vmasplit_fault_steps(vmf, (lambda: sem.is_locked) if signal else None, rep)
        try:
            while True:
                label = next(steps)
                if label == "down_write_killable" and meanwhile is not None:
                    do_page_fault(mm, meanwhile)  # another thread, in the unlocked window
        except StopIteration as done:
            ret = int(done.value)
        held = sem.readers - (1 if extra_reader else 0)
        paths.append(ReturnPath(name, how, ret, tuple(rep.events), held == 1))

    _sb, mm, addr = libc_mapping(strategy)
    run("success", "first fault on page 3", mm, _vmf(mm, addr + 3 * PAGE_SIZE))
    _sb, mm, addr = libc_mapping(strategy)
    vmf = _vmf(mm, addr + 3 * PAGE_SIZE)
    vmf.vma.vm_private_data = None
    run("SIGSEGV", "vm_private_data holds no split point", mm, vmf)
    _sb, mm, addr = libc_mapping(strategy)
    run("RETRY", "fatal signal while down_write_killable waits for another reader", mm,
        _vmf(mm, addr + 3 * PAGE_SIZE), signal=True, extra_reader=True)
    _sb, mm, addr = libc_mapping(strategy)
    run("NOPAGE", "another thread's fault on page 4 splits the VMA in the unlocked window", mm,
        _vmf(mm, addr + 3 * PAGE_SIZE), meanwhile=addr + 4 * PAGE_SIZE)
    _sb, mm, addr = libc_mapping(strategy)
    mm.system.max_map_count = mm.map_count
    run("OOM", "the process is at max_map_count: split_vma fails", mm,
        _vmf(mm, addr + 3 * PAGE_SIZE))
    return tuple(paths)


def format_return_paths(paths: Sequence[ReturnPath]) -> str:
    """One block per path: what led there, the handler's steps, the code, the lock.

    Model helper: no kernel counterpart.
    """
    out = []
    for p in paths:
        lock = "still held for read" if p.ours else "RELEASED (not held)"
        out.append(f"{p.name:8} {p.how}\n         {' → '.join(p.events)}\n"
                   f"         returns {'|'.join(vm_fault_names(p.ret)) or '0'}; "
                   f"this thread's mmap_sem: {lock}")
    return "\n".join(out)


# --- two threads ------------------------------------------------------------------------------
#: Long outcome words and their short forms, for the bars and the outcome menu.
_SHORT = (
    (" (SIGKILL delivered; lock not held, as required)", ""),
    ("-EFAULT from get_user_pages (VM_IO | VM_PFNMAP)", "gup: -EFAULT"),
    ("-EBUSY to get_user_pages", "gup: -EBUSY"),
)


def _short(outcome: str) -> str:
    for long, short in _SHORT:
        outcome = outcome.replace(long, short)
    return outcome


def _fit(ax: Axes, text: str, width: float, size: float, family: str = "sans-serif") -> str:
    """``text``, cut short with "…" until it fits ``width`` data units of ``ax``."""
    if text_width(ax, text, size, family=family) <= width:
        return text
    for end in range(len(text) - 1, 0, -1):
        short = text[:end].rstrip() + "…"
        if text_width(ax, short, size, family=family) <= width:
            return short
    return "…"


def _wrap(ax: Axes, text: str, width: float, size: float) -> list[str]:
    """``text`` cut at spaces into lines that fit ``width`` data units of ``ax``."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(ax, f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines


def _both(value: int) -> str:
    """A field's value in hex, then in decimal (``0x1000 = 4096``); a virtual page number,
    address-sized, in hex alone."""
    return str(value) if value <= 9 else f"{value:#x}" if value > 0xFFFF else \
        f"{value:#x} = {value}"


#: The mark of the step during which a run broke, in the schedule and its description.
BROKE_MARK = "✖"

#: The mark of the step during which a killed thread's SIGKILL ended its wait for the lock.
KILL_MARK = "†"



#: The outcome classes of a race, as the bars draw them.
RACE_KINDS: MappingProxyType[str, Kind] = MappingProxyType({
    "ok": Kind("race-ok", "every thread ends well", PALETTE["file"], None, "O"),
    "broken": Kind("race-broken", "something broke", PALETTE["sigbus"], "xx", "B"),
})


class RaceExplorer(Explorer):
    """The interleavings of a race as outcome classes (one bar each, red where something broke)
    and the example schedule of one class, step by step.

    The picture lists every step of the example schedule (it grows to hold them), then a last
    row for what the explorer does after the run: it reads back each page a fault finished on
    and checks the locks, the VMAs and the page tables. ✖ marks the step during which something
    broke (that last row for what the checks found), † the step during which a killed thread's
    SIGKILL ended its wait for the write lock; under the bars, what broke, in full. Under the
    schedule, the state once the steps shown have run (:meth:`state_lines`): who holds
    ``mmap_sem``, who waits, and each VMA of the process (pages, ``vm_pgoff``, ops).

    Each (race, strategy) is explored once, when first chosen, and kept: the big races take
    0.3-0.5 s, a second visit answers at once. :meth:`precompute` explores them all up front.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 4.2)
    STRATEGIES = ("split", "split-v3")
    #: Height of the picture per unit of its y axis, in inches (4.2 in for 14 units).
    INCH_PER_UNIT = 0.3
    #: Lines of "what broke" the picture holds at most; the text under it has them all.
    NOTE_LINES = 12
    #: The last row of the schedule: what the explorer does after the threads have ended.
    AFTER = "after the run: read-back, checks"

    def __init__(self, name: str = "two faults", strategy: str = "split") -> None:
        super().__init__()
        self._reports: dict[tuple[str, str], RaceReport] = {}
        #: (race, strategy, class) -> the states of its example run: before the first step,
        #: then after each step, with who waits there.
        self._states: dict[tuple[str, str, int], list[tuple[State, tuple[tuple[int, str], ...]]]]
        self._states = {}
        self.name, self.strategy = name, strategy
        self.klass = 0
        self.index = 0

    # --- the model ---------------------------------------------------------------------------
    def report(self, name: str | None = None, strategy: str | None = None) -> RaceReport:
        """The exploration of ``name`` under ``strategy`` (the current ones by default), kept."""
        key = (name or self.name, strategy or self.strategy)
        if key not in self._reports:
            self._reports[key] = race(*key)
        return self._reports[key]

    def precompute(self) -> None:
        """Explore every race under both strategies now (about 3 s), so no change waits."""
        for name in RACES:
            for strategy in self.STRATEGIES:
                self.report(name, strategy)

    def classes(self) -> list[tuple[tuple[tuple[str, ...], tuple[str, ...]], int]]:
        """The outcome classes of the current race, most frequent first: (key, count)."""
        return self.report().classes.most_common()

    @property
    def run(self) -> Run:
        """The example run of the chosen class."""
        key = self.classes()[self.klass][0]
        return self.report().examples[key]

    def killed_at(self, run: Run | None = None) -> int | None:
        """The index of the step during which a killed thread's SIGKILL ended its wait for the
        write lock (its ``down_write_killable`` returned ``-EINTR``), or None."""
        run = run if run is not None else self.run
        threads = self.report().threads
        for t, spec in enumerate(threads):
            if not getattr(spec, "killed", False):
                continue
            if not any(w in run.outcomes[t] for w in ("RETRY", "killed", "-EBUSY")):
                continue  # it got the lock before the signal mattered
            return next((j for j, (thread, label) in enumerate(run.schedule)
                         if thread == t and label == "down_write_killable"), None)
        return None

    def states(self) -> list[tuple[State, tuple[tuple[int, str], ...]]]:
        """The chosen class's example run, state by state: entry ``k`` is the state once ``k``
        steps have run (who holds ``mmap_sem``, the VMAs) and the threads that wait then,
        each with the step it waits to run. Replayed once per class with
        :func:`~mmlab.race.steps_of`, and kept."""
        key = (self.name, self.strategy, self.klass)
        if key not in self._states:
            run = self.run
            threads = self.report().threads
            _, frames = steps_of(threads, self.strategy, [t for t, _ in run.schedule])
            out = []
            for k in range(len(frames) + 1):
                state = frames[k - 1].after if k else frames[0].before
                if k < len(frames):
                    waits = tuple((t, frames[k].pending[t] or "") for t in frames[k].waiting())
                else:  # after the last step only a deadlocked thread still waits
                    waits = tuple((t, o.removeprefix("deadlock (waiting in ").rstrip(")"))
                                  for t, o in enumerate(run.outcomes)
                                  if o.startswith("deadlock"))
                out.append((state, waits))
            self._states[key] = out
        return self._states[key]

    def state_lines(self) -> list[str]:
        """The state once :attr:`index` steps have run, in a few lines of at most 88 columns:
        who holds ``mmap_sem`` and who waits, then each VMA (pages of the mapping, vm_pgoff,
        vm_ops, file)."""
        state, waits = self.states()[self.index]
        if self.index:
            thread, label = self.run.schedule[self.index - 1]
            head = f"after step {self.index} (thread {thread}: {label}):"
        else:
            head = "before the first step:"
        waiting = "; ".join(f"thread {t} waits to run {label}" for t, label in waits)
        lock = f"mmap_sem: {state.lock_text()}; {waiting or 'nobody waits'}"
        return [f"  {head}",
                *textwrap.wrap(lock, OUTPUT_WIDTH, initial_indent=" " * 4,
                               subsequent_indent=" " * 6),
                "    VMAs:" + ("" if state.vmas else " none"),
                *(f"      {_vma_line(v)}" for v in state.vmas)]

    def notes(self, run: Run | None = None) -> list[str]:
        """What broke in ``run`` (the chosen class's example), one sentence each, with where:
        the step (numbered from 1, with its thread and label) or after the run."""
        run = run if run is not None else self.run
        out = []
        for problem, at in zip(run.broken, run.broken_at, strict=True):
            if at is None:
                where = "after the run (the explorer's read-back and checks)"
            else:
                thread, label = run.schedule[at]
                where = f"at step {at + 1} (thread {thread}: {label})"
            out.append(f"{BROKE_MARK} {where}: {problem}")
        return out

    # --- controls ----------------------------------------------------------------------------
    def _class_options(self) -> list[tuple[str, int]]:
        options = []
        for i, ((outcomes, broken), n) in enumerate(self.classes()):
            label = f"{i + 1}: {n} × " + " | ".join(_short(o) for o in outcomes)
            options.append((label + (" BROKEN" if broken else ""), i))
        return options

    def make_controls(self) -> dict[str, widgets.Widget]:
        """Race, strategy, outcome class, and the step of its example schedule."""
        wide = widgets.Layout(width="520px")
        return {
            "race": widgets.Dropdown(options=list(RACES), value=self.name, description="race"),
            "strategy": widgets.ToggleButtons(options=list(self.STRATEGIES),
                                              value=self.strategy),
            "klass": widgets.Dropdown(options=self._class_options(), value=self.klass,
                                      description="outcome", layout=wide),
            "previous": widgets.Button(description="◀ step"),
            "next": widgets.Button(description="step ▶"),
            "step": widgets.IntSlider(value=self.index, min=0, max=len(self.run.schedule),
                                      description="steps run"),
        }

    def on_change(self, name: str, value: object) -> None:
        """A new race or strategy resets the class and the step; a new class resets the step."""
        if name in ("race", "strategy"):
            if name == "race":
                self.name = str(value)
            else:
                self.strategy = str(value)
            self.klass = 0
            self.index = 0
            with self.quietly():
                self.controls["klass"].options = self._class_options()  # type: ignore[attr-defined]
                self.controls["klass"].value = 0  # type: ignore[attr-defined]
            self._sync_slider()
        elif name == "klass":
            self.klass = int(value)  # type: ignore[call-overload]
            self.index = 0
            self._sync_slider()
        elif name == "step":
            self.index = int(value)  # type: ignore[call-overload]

    def on_press(self, name: str) -> None:
        """One step of the schedule back or forward."""
        self.index = max(0, min(len(self.run.schedule),
                                self.index + (1 if name == "next" else -1)))
        self._sync_slider()

    def _sync_slider(self) -> None:
        with self.quietly():
            slider = self.controls["step"]
            slider.max = len(self.run.schedule)  # type: ignore[attr-defined]
            slider.value = self.index  # type: ignore[attr-defined]

    # --- drawing -----------------------------------------------------------------------------
    #: Height of a schedule row, and of a line of the notes, in y units.
    STEP_H = 0.75
    NOTE_H = 0.8
    #: Height of a line of the state under the schedule (mmap_sem, the VMAs), in y units.
    STATE_H = 0.7

    def _note_lines(self, ax: Axes) -> list[str]:
        """The notes wrapped to the left column, whole notes only, at most :attr:`NOTE_LINES`
        lines; a last line says how many more the text under the picture lists."""
        notes = self.notes()
        lines: list[str] = []
        for k, note in enumerate(notes):
            wrapped = _wrap(ax, note, 58, 7.5)
            left = len(notes) - k
            room = self.NOTE_LINES - (1 if left > 1 else 0)
            if len(lines) + len(wrapped) > room:
                lines.append(f"+ {left} more (the text under the picture lists every one)")
                break
            lines += wrapped
        return lines

    def draw(self, fig: Figure) -> None:
        """Bars on the left (one per class) and what broke under them; the example schedule on
        the right, every step in its thread's column on its own row, then the after-run row.
        The picture grows downward to hold the longest of the two columns."""
        rep = self.report()
        classes = self.classes()
        run = self.run
        ax = schematic_axes(fig, ylim=(0, 14))  # a first axes, only to measure text
        notes = self._note_lines(ax)
        state = [line for text in self.state_lines() for line in _wrap(ax, text, 37, 7)]
        row_h = min(1.5, 8.4 / len(classes))
        left_needs = 1.8 + len(classes) * row_h + 1.4 + len(notes) * self.NOTE_H + 0.6
        right_needs = 4.6 + len(run.schedule) * self.STEP_H + 2.8 + len(state) * self.STATE_H
        top = max(14.0, left_needs, right_needs)
        fig.clear()
        fig.set_size_inches(self.figsize[0], top * self.INCH_PER_UNIT)
        ax = schematic_axes(fig, ylim=(0, top))
        ax.text(1, top - 0.7, f"{rep.interleavings} interleavings: "
                + " | ".join(t.label for t in rep.threads) + f" ({rep.strategy})",
                fontsize=9, weight="bold", color=PALETTE["text"], va="center")
        top_bar = top - 1.8
        top_n = max(n for _, n in classes)
        drawn: dict[bool, list[tuple[float, float, float, float]]] = {False: [], True: []}
        for i, ((outcomes, broken), n) in enumerate(classes):
            y = top_bar - (i + 1) * row_h
            chosen = i == self.klass
            box = (1, y, 1 + 12 * n / top_n, y + row_h * 0.7)
            drawn[bool(broken)].append(box)
            if chosen:
                ax.add_patch(Rectangle((box[0], box[1]), box[2] - box[0], box[3] - box[1],
                                       facecolor="none", edgecolor=PALETTE["text"],
                                       linewidth=2.0, zorder=3))
            ax.text(14, y + row_h * 0.35, f"{i + 1}: {n}", fontsize=8, va="center",
                    color=PALETTE["text"], weight="bold" if chosen else "normal")
            ax.text(20.5, y + row_h * 0.35,
                    _fit(ax, " | ".join(_short(o) for o in outcomes), 39, 7.5), fontsize=7.5,
                    va="center", color=PALETTE["text"])
        for broken, boxes in drawn.items():
            if boxes:
                ax.add_collection(kind_collection(
                    [Rectangle((x0, y0), x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes],
                    RACE_KINDS["broken" if broken else "ok"]))
        legend_y = top_bar - len(classes) * row_h - 0.6
        draw_legend(ax, [RACE_KINDS[k] for k in ("ok", "broken")], 1, legend_y, right=60,
                    fontsize=7.5)
        y = legend_y - 1.1
        if notes:
            ax.text(1, y, f"What broke in class {self.klass + 1}'s run:", fontsize=7.5,
                    weight="bold", color=PALETTE["highlight"], va="center")
            for k, line in enumerate(notes):
                ax.text(1, y - (k + 1) * self.NOTE_H, line, fontsize=7.5,
                        color=PALETTE["highlight"], va="center")
        self._draw_schedule(ax, run, len(rep.threads), top, state)

    def _draw_schedule(self, ax: Axes, run: Run, threads: int, top: float,
                       state: Sequence[str]) -> None:
        x0, step_y = 62.0, self.STEP_H
        ax.text(x0, top - 1.6, f"class {self.klass + 1} (outlined): steps run "
                f"{self.index}/{len(run.schedule)}", fontsize=8.5, weight="bold",
                color=PALETTE["text"], va="center")
        column = (99 - (x0 + 4)) / max(threads, 1)
        for t in range(threads):
            ax.text(x0 + 4 + t * column, top - 2.5, f"thread {t}", fontsize=8, weight="bold",
                    color=PALETTE["text"], va="center")
        broke = set(run.broken_at)
        killed = self.killed_at(run)
        first_row = top - 3.4
        for j, (thread, label) in enumerate(run.schedule):
            y = first_row - j * step_y
            now, done = j == self.index - 1, j < self.index
            colour = PALETTE["text"] if done else PALETTE["muted"]
            if j in broke:  # the step during which something went wrong
                colour = PALETTE["highlight"]
                ax.text(x0 - 1.4, y, BROKE_MARK, fontsize=7.5, ha="right", va="center",
                        color=PALETTE["highlight"])
            if j == killed:
                ax.text(x0 - 3.4, y, KILL_MARK, fontsize=7.5, ha="right", va="center",
                        color=PALETTE["text"])
            ax.text(x0 + 2.6, y, f"{j + 1}", fontsize=7.5, ha="right", va="center",
                    color=colour, weight="bold" if now else "normal")
            if now:
                ax.text(x0 - 0.3, y, "▶", fontsize=7.5, ha="right", va="center",
                        color=PALETTE["highlight"])
            ax.text(x0 + 4 + thread * column, y, _fit(ax, label, column - 1, 8, "monospace"),
                    fontsize=8, va="center", family="monospace", color=colour,
                    weight="bold" if now else "normal")
        # the last row: what the explorer does once the threads have ended
        y = first_row - len(run.schedule) * step_y
        finished = self.index == len(run.schedule)
        after_broke = None in broke
        colour = PALETTE["highlight"] if after_broke else (
            PALETTE["text"] if finished else PALETTE["muted"])
        if after_broke:
            ax.text(x0 - 1.4, y, BROKE_MARK, fontsize=7.5, ha="right", va="center",
                    color=PALETTE["highlight"])
        ax.text(x0 + 4, y, self.AFTER, fontsize=7.5, style="italic", va="center",
                color=colour)
        marks = "dark: run, grey: not yet, ▶ the last step run"
        if broke:
            marks += f", {BROKE_MARK} it broke there"
        if killed is not None:
            marks += f", {KILL_MARK} SIGKILL"
        mark_lines = _wrap(ax, marks, 99 - x0, 7)
        for k, line in enumerate(mark_lines):
            ax.text(x0, y - 1.0 - k * 0.7, line, fontsize=7, va="center",
                    color=PALETTE["muted"])
        # the state once the steps shown have run: mmap_sem's holders, who waits, the VMAs
        y -= 1.0 + len(mark_lines) * 0.7 + 0.5
        for k, line in enumerate(state):
            ax.text(x0, y - k * self.STATE_H, line, fontsize=7, va="center",
                    color=PALETTE["text"], weight="bold" if k == 0 else "normal")

    def alt_text(self) -> str:
        """The class table and the schedule up to the current step (the description), and
        which class the picture outlines."""
        return self.describe() + f"\nthe picture outlines class {self.klass + 1}'s bar"

    def describe(self) -> str:
        """The class table; what broke in the chosen class's run (every note, in full); then
        its schedule up to the current step, and the after-run row once every step has run."""
        rep = self.report()
        run = self.run
        lines = [rep.table(), ""]
        notes = self.notes()
        if notes:
            lines.append(f"what broke in class {self.klass + 1}'s first interleaving:")
            lines += [f"  {note}" for note in notes]
            lines.append("")
        lines.append(f"class {self.klass + 1}, its first interleaving: {self.index} of "
                     f"{len(run.schedule)} steps run")
        killed = self.killed_at(run)
        for j, (thread, label) in enumerate(run.schedule[:self.index]):
            kill = f"   {KILL_MARK} SIGKILL arrives while it waits: -EINTR" if j == killed else ""
            lines.append(f"  {j + 1:2}. thread {thread}: {label}{kill}")
            lines += [f"      {BROKE_MARK} broke here: {problem}"
                      for problem, at in zip(run.broken, run.broken_at, strict=True) if at == j]
        if self.index == len(run.schedule):
            lines.append("  after the run: the explorer reads back each page a fault finished on, "
                         "and checks the locks, the VMAs and the page tables")
            lines += [f"      {BROKE_MARK} found after the last step: {problem}"
                      for problem, at in zip(run.broken, run.broken_at, strict=True)
                      if at is None]
            lines.append("  outcomes: " + "  |  ".join(run.outcomes))
            lines.append("  VMAs at the end (start page, end page, vm_pgoff): "
                         + (", ".join(f"({a}, {b}, {c:#x})" for a, b, c in run.vmas)
                            or "(none)"))
        lines += ["", *self.state_lines()]
        # what the real kernel printed for this race (issue 20), read once, under the class
        # whose schedule it ran (thread 1's step in thread 0's window), a pointer elsewhere
        if getattr(self, "_kernel_runs", None) is None:
            self._kernel_runs = load_kernel_races()
        real = kernel_says(self.name, self.strategy, self._kernel_runs)
        if real and self.kernel_class() == self.klass:
            lines += ["", real]
        elif real:
            lines += ["", wrap_output(
                f"A real kernel ran this race on one schedule, thread 1's step while thread 0 "
                f"waits in the window: class {self.kernel_class() + 1}'s (pick it to read what "
                "the kernel printed).")]
        return "\n".join(lines)

    def kernel_class(self) -> int:
        """The index of the class (in :meth:`classes` order) that the real kernel's schedule
        falls in: :func:`~mmlab.viz.kernelraces.window_run`, thread 1's step in thread 0's
        window. Kept per race and strategy."""
        cache: dict[tuple[str, str], int] = self.__dict__.setdefault("_kernel_classes", {})
        key = (self.name, self.strategy)
        if key not in cache:
            wanted = window_run(self.name, self.strategy).key
            cache[key] = next(i for i, (k, _n) in enumerate(self.classes()) if k == wanted)
        return cache[key]


def _vma_line(vma: VmaView) -> str:
    """A VMA of the race's process in the explorer's words: "pages 3-4, vm_pgoff 0x3,
    ops: page-cache (libc.so.6)"; one below the mapping (the anonymous region, a file an mremap
    will move) is "elsewhere"."""
    where = vma.pages if vma.first >= 0 else f"elsewhere, {vma.end - vma.first} pages"
    return (f"{where}, vm_pgoff {vma.pgoff:#x}, ops: {vma.ops} "
            f"({vma.file or 'anonymous'})")


# --- the tail check ---------------------------------------------------------------------------
@dataclass(frozen=True)
class TailRow:
    """The tail check for one starting ``vm_pgoff`` of a mapping that reaches the file's end.

    ``truth``: v4.15's ``cramfs_last_page_is_shared``; ``before``/``patch``: the seed's scan
    with ``(pages - 1)`` and ``(max_pages - 1)``, as ``(shared, image offset scanned)``, or
    ``None`` where the scan would read past the flash (an oops); ``last_block``: the image
    offset of the file's last block, where the scan should look.

    Model helper: no kernel counterpart.
    """

    vm_pgoff: int
    offset: int
    pages: int
    truth: bool
    before: tuple[bool, int] | None
    patch: tuple[bool, int] | None
    last_block: int


def tail_check_table(image: bytes, path: str) -> list[TailRow]:
    """For each ``vm_pgoff`` from 0 to ``max_pages - 1``: a mapping from there to the file's end,
    checked by both forms of the seed's tail scan and by v4.15's helper.

    Model helper: no kernel counterpart (runs :func:`mmlab.xip.seed_last_page_is_shared` and
    :func:`mmlab.xip.cramfs_last_page_is_shared`).
    """
    sb = mount(image, None, "split", system=System())
    inode = sb.open(path).f_inode
    assert isinstance(inode, CramfsInode)
    max_pages = -(-inode.i_size // PAGE_SIZE)
    truth = cramfs_last_page_is_shared(inode)
    last_block, _ = cramfs_get_block_range(inode, max_pages - 1, 1)
    rows = []
    for pgoff in range(max_pages):
        offset, pages = cramfs_get_block_range(inode, pgoff, max_pages - pgoff)
        forms: list[tuple[bool, int] | None] = []
        for form in ("pages-1", "max_pages-1"):
            try:
                forms.append(seed_last_page_is_shared(inode, offset, pages, max_pages, form))
            except Exception:  # noqa: BLE001 - KernelBug: the scan left the flash
                forms.append(None)
        rows.append(TailRow(pgoff, offset, pages, truth, forms[0], forms[1], last_block))
    return rows


def format_tail_table(rows: Sequence[TailRow], image_size: int | None = None) -> str:
    """The rows as a table: where each form scans, what it says, and whether it agrees with
    v4.15.

    Model helper: no kernel counterpart.
    """
    out = [f"truth (v4.15, the last block's own pointer): last page shared = {rows[0].truth}; "
           f"the last block is at image offset {rows[0].last_block:#x}",
           f"{'vm_pgoff':>8}  {'(pages - 1): says, scans at':36}  "
           f"{'(max_pages - 1): says, scans at':36}  agree with v4.15?"]

    def cell(res: tuple[bool, int] | None, last: int) -> str:
        if res is None:
            return "past the flash: oops"
        shared, scanned = res
        page = scanned & ~(PAGE_SIZE - 1)
        where = "last block" if page == last else (
            "past the image" if image_size is not None and page >= image_size
            else f"page {page:#x}")
        return f"{'shared' if shared else 'not shared':10} @{scanned:#x} {where}"

    for r in rows:
        a, b = cell(r.before, r.last_block), cell(r.patch, r.last_block)
        agree = "yes" if r.before is not None and r.patch is not None \
            and r.before[0] == r.patch[0] == r.truth else "NO"
        out.append(f"{r.vm_pgoff:>8}  {a:36}  {b:36}  {agree}")
    return "\n".join(out)


def tail_lab_image(neighbour: bool = True) -> bytes:
    """``/a``: 2 pages and 100 bytes, all XIP; the writer puts ``/b``'s block pointer right after
    ``/a``'s last byte, in the same flash page; then ``/b``'s page of zeros. With
    ``neighbour=False`` there is no ``/b``: the rest of ``/a``'s last page is zero (not shared),
    and the image ends with that page.

    Model helper: no kernel counterpart (``mkcramfs -X -X`` would lay it out the same way).
    """
    files = {"a": TreeFile(b"A" * (2 * PAGE_SIZE + 100))}
    if neighbour:
        files["b"] = TreeFile(bytes(PAGE_SIZE))
    return build_image(Dir(files), endian="little", xip=("*",))


def tail_lab_leak(form: str | None, *, vm_pgoff: int = 1) -> tuple[int, bool | None, bytes]:
    """Map ``/a`` of :func:`tail_lab_image` from ``vm_pgoff`` to its end and read it all.

    ``form``: the seed's tail check (``"pages-1"``, ``"max_pages-1"``) under "split", or
    ``None`` for v4.15 ("mixedmap"). Returns ``(pages mapped from flash, the bytes past EOF
    read as zero, the first 16 bytes past EOF as user space sees them)``.

    Model helper: no kernel counterpart (a program mapping the file).
    """
    image = tail_lab_image()
    strategy = "mixedmap" if form is None else "split"
    sb = mount(image, None, strategy, system=System(), tail_check=form)
    length = 3 * PAGE_SIZE - vm_pgoff * PAGE_SIZE
    npages = length // PAGE_SIZE
    sc = Scenario("lab", "/a", vm_pgoff * PAGE_SIZE, length, _RX, MAP_PRIVATE, "",
                  touch=tuple(range(npages)))
    run = run_scenario(sc, strategy, sb=sb, image=image)
    assert run.address is not None
    last = run.touches[-1]
    past = user_read(run.mm, run.address + (npages - 1) * PAGE_SIZE + 100, 16)
    return run.ram.flash, last.zero_past_eof, past


# --- self-check ---------------------------------------------------------------------------------
def pack_cases() -> list[tuple[tuple[int, int], int]]:
    """Cases for ``my_pack(split_pgoff, split_page)``, answered by
    :func:`mmlab.xip.split_private_data` (the seed's packing).

    Model helper: no kernel counterpart.
    """
    pairs = [(3, 3), (0, 1), (7, 2), (4095, 1), (1, 4095), (0xFFFF, 1), (258, 17)]
    return [((pg, page), split_private_data(pg, page, 0)) for pg, page in pairs]


def unpack_cases() -> list[tuple[tuple[int], tuple[int, int]]]:
    """Cases for ``my_unpack(value)`` → ``(split_pgoff, split_page)``: the packed values of
    :func:`pack_cases`, back to their fields.

    Model helper: no kernel counterpart.
    """
    return [((value,), args) for args, value in pack_cases()]


class PackDrill(Drill):
    """Pack or unpack the seed's ``vm_private_data`` (seeded, as every drill).

    A pack problem's answer is an int (hex or decimal both count); an unpack problem's is the
    pair ``(split_pgoff, split_page)``.

    Model helper: no kernel counterpart.
    """

    def make(self) -> tuple[str, object]:
        """A mapping of a file from ``vm_pgoff`` whose first ``pages`` pages are XIP."""
        rng = self.rng
        vm_pgoff = rng.randrange(0, 40)
        pages = rng.randrange(1, 12)
        split_pgoff = vm_pgoff + pages
        value = split_private_data(split_pgoff, pages, 0)
        if rng.random() < 0.5:
            return (f"A mapping starts at file page vm_pgoff = {vm_pgoff}; its first {pages} "
                    "page(s) are mapped from flash, the rest is not. What value does the "
                    "patch store in vm_private_data?"), value
        return (f"A split VMA's vm_private_data is {value:#x}. What are (split_pgoff, "
                "split_page)?"), (split_pgoff, pages)

    def same(self, given: object, answer: object) -> bool:
        """An int for a pack problem, a pair for an unpack problem."""
        if isinstance(answer, tuple):
            return isinstance(given, tuple | list) and tuple(given) == answer
        return given == answer
