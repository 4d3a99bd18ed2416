"""Which XIP condition stops a mapping: v4.15's ``cramfs_physmem_mmap`` as a pipeline of checks.

:func:`xip_decision` maps a file of a mounted cramfs image on the model, exactly as a program
would (``open``, ``mmap``), reads what the driver logged and returns an :class:`XipDecision`:
the check that stopped it (or none), the kernel log lines, and how many pages now point at the
flash. :class:`XipConditionsExplorer` draws the checks in the order v4.15 makes them, the one
that fired in red, and the mapping's pages below. :func:`misalign_first_pointer` corrupts an
image on purpose (the kernel does not check the CRC) to reach "data is not page aligned", and
:func:`bailout_cases` builds the cases of the chapter's self-check by running the model.

Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
"""

from __future__ import annotations

import errno
import json
import pathlib
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

import ipywidgets as widgets
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch

from mmlab.constants import (
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
)
from mmlab.cramfs.reader import open_image
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.mmap import find_vma, vm_get_page_prot
from mmlab.procfs import format_vma
from mmlab.scenarios import scenario_image
from mmlab.system import System
from mmlab.viz.base import PALETTE, Explorer, course_data, schematic_axes
from mmlab.viz.quiz import CheckResult, Drill, check_function
from mmlab.viz.style import (
    KINDS,
    OKABE_ITO,
    Kind,
    box_label,
    draw_legend,
    kind_patch,
    label_backing,
)
from mmlab.xip import (
    CramfsInode,
    CramfsSuperBlock,
    cramfs_get_block_range,
    cramfs_last_page_is_shared,
    mount,
    ram_pages_of,
)

__all__ = [
    "PAGE_KINDS",
    "PROTS",
    "STAGES",
    "STATUS_KINDS",
    "InPlaceDrill",
    "XipConditionsExplorer",
    "XipDecision",
    "CAPTURES",
    "bailout_cases",
    "captured_errors",
    "check_bailout_reason",
    "format_captured_errors",
    "hand_made_vma",
    "misalign_first_pointer",
    "regular_files",
    "xip_decision",
]

#: The checks in the order v4.15 makes them: ``(key, label)``. The keys of the driver's
#: bail-outs are the very strings it logs; ``"vfs"`` is what happens before the driver is
#: asked (``open`` on a read-only mount, ``mmap``'s permission checks), ``"map"`` the end.
STAGES: tuple[tuple[str, str], ...] = (
    ("vfs", "open, mmap\n(VFS)"),
    ("shared+maywrite", "shared +\nmaywrite"),
    ("vma is writable", "vma is\nwritable"),
    ("beyond file limit", "beyond\nfile limit"),
    ("unsuitable block layout", "unsuitable\nblock layout"),
    ("data is not page aligned", "data not\npage aligned"),
    ("last page is shared", "last page\nis shared"),
    ("no suitable block remaining", "no suitable\nblock left"),
    ("map", "map"),
)
_STAGE_KEYS = tuple(key for key, _ in STAGES)

#: What a real kernel did with the scenario image (``data/kernel-captures/``, 6.1 under QEMU).
CAPTURES = course_data("kernel-captures", "xip-scenarios.json")

#: The protections the explorer offers, by the name ``/proc/PID/maps`` would show.
PROTS: MappingProxyType[str, int] = MappingProxyType({
    "r--": PROT_READ,
    "r-x": PROT_READ | PROT_EXEC,
    "rw-": PROT_READ | PROT_WRITE,
})
_FLAGS: MappingProxyType[str, int] = MappingProxyType({
    "MAP_PRIVATE": MAP_PRIVATE,
    "MAP_SHARED": MAP_SHARED,
})
_STRATEGY_NAMES: MappingProxyType[str, str] = MappingProxyType({
    "mixedmap": "v4.15 (mixedmap)",
    "refuse": "before the 2017 patch (refuse)",
})


@dataclass(frozen=True)
class XipDecision:
    """What one ``mmap`` of a cramfs file did, check by check.

    ``stage`` is the key in :data:`STAGES` of the check that decided (``"map"`` when the
    driver got to the end); ``outcome`` is ``"EROFS"``/``"EACCES"`` (refused before the driver),
    ``"bailout"`` (a ``fail_reason``: the page cache serves the whole mapping),
    ``"refused"`` (the pre-2017 "fix me": some pages could be mapped but not all),
    ``"remap_pfn_range"`` (the whole VMA in place) or ``"vm_insert_mixed"`` (a part, in a
    ``VM_MIXEDMAP`` VMA). ``in_place``: pages whose PTE points at the flash right after the
    mmap; ``last_page_dropped``: "last page is shared" took one page off the run.

    Model helper: no kernel counterpart.
    """

    path: str
    pgoff: int
    pages: int
    prot: int
    flags: int
    open_write: bool
    strategy: str
    stage: str
    outcome: str
    reason: str | None
    kernel_log: tuple[str, ...]
    in_place: int
    max_pages: int
    last_page_dropped: bool = False
    vm_flags: int = 0
    maps_line: str = ""

    def status(self, key: str) -> str:
        """``"pass"``, ``"fired"``, ``"trimmed"`` (the last page left out) or ``"not reached"``
        for the check ``key`` of :data:`STAGES`."""
        here, now = _STAGE_KEYS.index(key), _STAGE_KEYS.index(self.stage)
        if key == "last page is shared" and self.last_page_dropped:
            return "trimmed"
        if here < now:
            return "pass"
        if here == now:
            return "fired" if key != "map" or self.outcome == "refused" else "pass"
        return "not reached"


def regular_files(sb: CramfsSuperBlock) -> tuple[str, ...]:
    """The regular files of a mounted image, as absolute paths in image order.

    Model helper: no kernel counterpart.
    """
    assert sb.image is not None
    return tuple("/" + e.path for e in sb.image.walk() if e.is_file())


def xip_decision(sb: CramfsSuperBlock, path: str, pgoff: int = 0, pages: int = 1,
                 prot: int = PROT_READ | PROT_EXEC, flags: int = MAP_PRIVATE,
                 open_write: bool = False) -> XipDecision:
    """Open ``path``, mmap ``pages`` pages from file page ``pgoff`` and say which check decided.

    Runs on the model as a program would (a fresh process on ``sb``'s machine; the mapping is
    unmapped again afterwards), so the answer is the driver's own: its log lines
    (``sb.system.dmesg``) name the ``fail_reason``, the VMA's flags tell ``remap_pfn_range``
    from ``VM_MIXEDMAP``, and the page table how many pages point at the flash.

    Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
    """
    log = sb.system.dmesg
    common = {"path": path, "pgoff": pgoff, "pages": pages, "prot": prot, "flags": flags,
              "open_write": open_write, "strategy": sb.strategy}
    try:
        file = sb.open(path, write=open_write)
    except OSError as err:
        return XipDecision(**common, stage="vfs", outcome=errno.errorcode[err.errno or 0],
                           reason=None, kernel_log=(), in_place=0, max_pages=0)
    inode = file.f_inode
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    mm = MM(sb.system)
    seen = len(log)
    try:
        addr = mm.mmap(0, pages * PAGE_SIZE, prot, flags, file, pgoff * PAGE_SIZE)
    except OSError as err:
        lines = tuple(line for line in log[seen:] if line.startswith("cramfs:"))
        code = errno.errorcode[err.errno or 0]
        stage = "shared+maywrite" if code == "EINVAL" and not lines else "vfs"
        return XipDecision(**common, stage=stage, outcome=code, reason=None, kernel_log=lines,
                           in_place=0, max_pages=max_pages)
    lines = tuple(line for line in log[seen:] if line.startswith("cramfs:"))
    vma = find_vma(mm, addr)
    assert vma is not None
    in_place = ram_pages_of(vma)[0]
    vm_flags, maps_line = vma.vm_flags, format_vma(vma)
    mm.munmap(addr, pages * PAGE_SIZE)
    dropped = any(line.endswith("last page is shared") for line in lines)
    reason = None
    for line in lines:
        for marker in ("direct mmap impossible: ", "direct mmap failed: "):
            if marker in line:
                reason = line.split(marker, 1)[1]
    if reason == "fix me":
        stage, outcome = "map", "refused"
    elif reason is not None:
        stage, outcome = reason, "bailout"
    else:
        stage = "map"
        outcome = ("vm_insert_mixed" if vm_flags & VM_MIXEDMAP
                   else "remap_pfn_range" if vm_flags & VM_PFNMAP else "page cache")
    return XipDecision(**common, stage=stage, outcome=outcome, reason=reason, kernel_log=lines,
                       in_place=in_place, max_pages=max_pages, last_page_dropped=dropped,
                       vm_flags=vm_flags, maps_line=maps_line)


def captured_errors(names: tuple[str, ...] = ("shared-writable", "shared-write-readonly-fd"),
                    path: pathlib.Path = CAPTURES) -> tuple[tuple[str, str | None, str | None,
                                                                  tuple[str, ...]], ...]:
    """What the real kernel answered in the named scenarios of the captures: for each,
    ``(name, open errno, mmap errno, cramfs log lines)``, errnos as names or ``None``.

    Model helper: no kernel counterpart (stored observations of Debian's 6.1 kernel).
    """
    capture = json.loads(path.read_text())
    return tuple((sc["name"], sc["open_errno"], sc["mmap_errno"], tuple(sc["kernel_log"]))
                 for sc in capture["scenarios"] if sc["name"] in names)


def format_captured_errors(path: pathlib.Path = CAPTURES) -> str:
    """:func:`captured_errors` as lines a learner reads: each scenario's open and mmap errno,
    "not tried (open failed)" for an ``mmap`` the program never got to make, and the cramfs log.

    Model helper: no kernel counterpart.
    """
    lines = []
    for name, open_errno, mmap_errno, log in captured_errors(path=path):
        opened = open_errno or "succeeded"
        mapped = mmap_errno or ("not tried (open failed)" if open_errno else "succeeded")
        lines.append(f"{name:26} open: {opened:10} mmap: {mapped:24} "
                     f"cramfs log: {'; '.join(log) or '(nothing)'}")
    return "\n".join(lines)


def hand_made_vma() -> tuple[MM, Vma, int]:
    """A new process and a VMA built by hand in it, as the chapter on mapping flash builds one:
    four pages at ``0x400000``, private, readable and executable, allowed to become writable
    (``VM_MAYWRITE``), no file, nothing mapped yet. Returns ``(mm, vma, flash_pfn)``, the last
    the first frame of the machine's flash window.

    A cell that calls ``remap_pfn_range`` on it can run again: each call gives a fresh VMA (the
    same call twice on one VMA would find its PTEs already there, ``BUG_ON(!pte_none(*pte))``).

    Model helper: no kernel counterpart (what a driver's ``->mmap`` is handed).
    """
    mm = MM()
    flags = VM_READ | VM_EXEC | VM_MAYREAD | VM_MAYWRITE | VM_MAYEXEC
    vma = Vma(0x400000, 0x404000, flags, 0, None, vm_page_prot=vm_get_page_prot(flags),
              vm_mm=mm)
    return mm, vma, mm.physmem.flash_phys >> PAGE_SHIFT


def misalign_first_pointer(image: bytes, path: str, shift_bytes: int = 4) -> bytes:
    """A copy of ``image`` whose file ``path`` has its first direct pointer ``shift_bytes`` off.

    A direct pointer holds the block's image offset divided by 4, so one unit more points 4
    bytes further. The writer never does this (it aligns every XIP block); the kernel's
    "data is not page aligned" check guards against such corrupt images. The superblock CRC is
    left stale: v4.15 never checks it (only ``fsck.cramfs`` does). ``ValueError`` if the
    file's first pointer is not a direct one.

    Model helper: no kernel counterpart (a hand-patched image).
    """
    if shift_bytes % 4:
        raise ValueError("a direct pointer counts 4-byte units: "
                         "shift_bytes must be a multiple of 4")
    img = open_image(image)
    entry = img.lookup(path.lstrip("/"))
    at = entry.data_offset
    ptr = struct.unpack_from("<I", image, at)[0]
    if ptr >> 30 != 3:
        raise ValueError(f"{path}'s first block pointer {ptr:#x} is not a direct XIP pointer")
    out = bytearray(image)
    struct.pack_into("<I", out, at, ptr + shift_bytes // 4)
    return bytes(out)


# --- the self-check: my_bailout_reason ---------------------------------------------------------
def _inputs(inode: CramfsInode, pgoff: int, pages: int, writable: bool) -> tuple:
    """The simple facts a learner's ``my_bailout_reason`` gets about one mapping."""
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    run, aligned = 0, True
    if pgoff < max_pages:
        offset, length = cramfs_get_block_range(inode, pgoff, min(pages, max_pages - pgoff))
        if offset:
            run, aligned = length, not (inode.sb.linear_phys_addr + offset) % PAGE_SIZE
    return (writable, pgoff, pages, max_pages, run, aligned, cramfs_last_page_is_shared(inode))


def bailout_cases() -> tuple[tuple[tuple, str | None], ...]:
    """Cases for ``my_bailout_reason(writable, pgoff, vma_pages, max_pages, run, aligned,
    last_page_shared)``, each answer found by mapping a real file on the model.

    The files are those of :func:`mmlab.scenarios.scenario_image` and of a copy with
    ``/bin/xipexe``'s first pointer 4 bytes off (:func:`misalign_first_pointer`); for each,
    private mappings of 1 to 5 pages from every page offset up to one past the file's end,
    read-only and writable. The inputs: the VMA is writable; ``vm_pgoff``; the VMA's pages;
    the file's pages; ``run``: how many blocks from ``pgoff`` are direct, uncompressed and
    contiguous (``cramfs_get_block_range``, 0 when the first is not, or when ``pgoff`` is past
    the file); ``aligned``: that run starts on a page boundary of the flash;
    ``last_page_shared``: the file's last flash page holds other data. The expected answer is
    the ``fail_reason`` v4.15 logged, or ``None`` when it mapped pages in place. Duplicates are
    dropped; the same inputs always give the same answer (the tests check it).

    Model helper: no kernel counterpart.
    """
    image = scenario_image()
    seen: dict[tuple, str | None] = {}
    for img in (image, misalign_first_pointer(image, "/bin/xipexe")):
        sb = mount(img, None, "mixedmap", system=System())
        for path in regular_files(sb):
            inode = sb.open(path).f_inode
            assert isinstance(inode, CramfsInode)
            max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
            for pgoff in range(max_pages + 1):
                for pages in range(1, 6):
                    for writable in (False, True):
                        prot = PROTS["rw-"] if writable else PROTS["r--"]
                        got = xip_decision(sb, path, pgoff, pages, prot, MAP_PRIVATE)
                        key = _inputs(inode, pgoff, pages, writable)
                        seen.setdefault(key, got.reason)
    return tuple(seen.items())


def check_bailout_reason(fn: Callable[..., str | None]) -> CheckResult:
    """Check a learner's ``my_bailout_reason`` against the model on :func:`bailout_cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, bailout_cases(), name="my_bailout_reason")


class InPlaceDrill(Drill):
    """How many pages point at the flash right after this mmap? Seeded, answered by the model.

    Each problem is a private read+exec mapping of 1 to 5 pages of a file of the scenario image
    (:func:`mmlab.scenarios.scenario_image`) from a page offset inside the file, under v4.15;
    the answer is :attr:`XipDecision.in_place` of :func:`xip_decision` on a mount of its own.
    :meth:`feedback` says whether an answer is right and, once the learner has tried, what the
    model found; :meth:`explain` says which check decided, and why.

    Model helper: no kernel counterpart.
    """

    def __init__(self, seed: int = 2017) -> None:
        self.sb = mount(scenario_image(), None, "mixedmap", system=System())
        self.files = regular_files(self.sb)
        self.decision: XipDecision | None = None
        super().__init__(seed)

    def make(self) -> tuple[str, object]:
        """A file, a page offset and a length; the answer is the model's count."""
        rng: random.Random = self.rng
        path = rng.choice(self.files)
        inode = self.sb.open(path).f_inode
        max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
        pgoff = rng.randrange(max_pages)
        pages = rng.randint(1, 5)
        decision = xip_decision(self.sb, path, pgoff, pages, PROTS["r-x"], MAP_PRIVATE)
        self.decision = decision
        text = (f"mmap({pages} page(s) of {path} from file page {pgoff}, PROT_READ|PROT_EXEC, "
                f"MAP_PRIVATE) under v4.15. How many pages point at the flash right after "
                f"mmap returns? (The file has {max_pages} page(s).)")
        return text, decision.in_place

    def same(self, given: object, answer: object) -> bool:
        """A whole number, written as a number or as text."""
        return _whole_number(given) == answer

    def explain(self) -> str:
        """Which check decided the current problem, and why, with the driver's log lines."""
        d = self.decision
        assert d is not None
        inode = self.sb.open(d.path).f_inode
        assert isinstance(inode, CramfsInode)
        max_pages, run = _inputs(inode, d.pgoff, d.pages, False)[3:5]
        where = (f"{d.path} has {max_pages} page(s); the mapping asks for {d.pages} from file "
                 f"page {d.pgoff}")
        blocks = (f"from block {d.pgoff}, {run} block(s) are direct, uncompressed and "
                  "contiguous" if run else f"block {d.pgoff} is not a direct, uncompressed "
                  "block")
        if d.outcome == "bailout":
            why = {
                "unsuitable block layout": blocks + ", so the run is empty",
                "data is not page aligned": blocks + ", but the run does not start on a page "
                                            "boundary of the flash",
                "no suitable block remaining": blocks + "; the file's last page is shared "
                                               "with other data and leaves none",
            }.get(str(d.reason), "")
            verdict = (f"the check {d.reason!r} stops it (a bail-out): 0 pages in place, the "
                       f"page cache serves the mapping" + (f" ({why})" if why else ""))
        elif d.outcome == "remap_pfn_range":
            verdict = (f"no check stops it; {blocks}, which covers the whole VMA: "
                       f"remap_pfn_range maps all {d.in_place}")
        else:
            trim = (", minus the file's last page, which is shared with other data on flash"
                    if d.last_page_dropped else "")
            inside = min(d.pages, max(0, max_pages - d.pgoff))
            rest = [f"the page cache serves {inside - d.in_place}"] if inside > d.in_place else []
            rest += [f"{d.pages - inside} lie(s) past the file's end (SIGBUS)"] \
                if d.pages > inside else []
            verdict = (f"no check stops it; {blocks}{trim}: {d.in_place} of the VMA's "
                       f"{d.pages} pages, not all of them, so VM_MIXEDMAP and vm_insert_mixed "
                       f"map {d.in_place}; " + " and ".join(rest))
        log = "\n".join(f"  {line}" for line in d.kernel_log) or "  (nothing)"
        return f"{where}.\n{verdict[0].upper()}{verdict[1:]}.\nThe kernel log:\n{log}"

    def feedback(self, given: object) -> str:
        """A sentence on an answer: not written yet, not a number, right (and why), or wrong
        (with the model's count: the learner has tried)."""
        if given is Ellipsis:
            return "Not answered yet: write a number of pages in the cell above."
        mine = _whole_number(given)
        if mine is None:
            return f"Write a whole number of pages (0, 1, 2...), not {given!r}."
        d = self.decision
        assert d is not None
        if mine == self._answer:
            return "Right. " + self.explain().split("\n")[1]
        return (f"Not quite: you wrote {mine}, the model maps {self._answer} page(s) in place. "
                "Which check stops it, and where? print(drill.explain()) goes through it.")


def _whole_number(given: object) -> int | None:
    """``given`` as a whole number (``3``, ``"3"``, ``" 3 "``), or None."""
    if isinstance(given, bool):
        return None
    try:
        return int(str(given).strip())
    except ValueError:
        return None


# --- the explorer ----------------------------------------------------------------------------
#: How the pipeline draws a check, by :meth:`XipDecision.status`: passed (a light bluish
#: green), the one that decided (vermillion, a heavy outline, white text), the last-page trim
#: (light yellow, hatched), not reached (hollow, dashed).
STATUS_KINDS: MappingProxyType[str, Kind] = MappingProxyType({
    "pass": Kind("check-pass", "check passed", "#b3e2d5"),
    "fired": Kind("check-fired", "the check that decided", OKABE_ITO["vermillion"],
                  edge=OKABE_ITO["black"], edge_width=1.6),
    "trimmed": Kind("check-trimmed", "passed, last page left out", PALETTE["zero"],
                    "\\\\\\"),
    "not reached": Kind("check-not-reached", "not reached", None, dashed=True),
})

#: How the row of the mapping's pages draws each page: from flash in place, left to the page
#: cache, past the end of the file (an access gets SIGBUS), or no VMA at all (mmap failed).
PAGE_KINDS: MappingProxyType[str, Kind] = MappingProxyType({
    "flash": KINDS["flash"],
    "page cache": KINDS["file"],
    "past EOF": KINDS["sigbus"],
    "no VMA": Kind("no-vma", "no VMA (mmap failed)", None, dashed=True),
})


class XipConditionsExplorer(Explorer):
    """Choose a file, a page offset, a length, a protection, flags; see which check stops it.

    The top row is v4.15's checks in order (passed green, the one that decided red, the
    last-page trim orange, the rest grey); below, the mapping's pages: on flash (in place), or
    left to the page cache (filled on the first fault). ``image`` defaults to the scenario image;
    ``strategy`` picks the driver (``"mixedmap"``, v4.15, or ``"refuse"``, before the 2017
    patch) and is a control too. Mounts are made once per strategy and reused.

    Model helper: no kernel counterpart.
    """

    figsize = (9.0, 3.2)

    #: The range of each number box: ``(lowest, highest)``. A value typed outside it is
    #: brought back inside, and the text under the picture says so.
    LIMITS: MappingProxyType[str, tuple[int, int]] = MappingProxyType({
        "pgoff": (0, 16), "pages": (1, 8)})

    def __init__(self, image: bytes | None = None, *, path: str = "/lib/libc.so.6",
                 pgoff: int = 0, pages: int = 5, prot: str = "r-x",
                 flags: str = "MAP_PRIVATE", open_write: bool = False,
                 strategy: str = "mixedmap") -> None:
        super().__init__()
        self.image = image if image is not None else scenario_image()
        self._mounts: dict[str, CramfsSuperBlock] = {}
        self.files = regular_files(self._mount(strategy))
        if path not in self.files:
            raise ValueError(f"no file {path!r}; there are: {', '.join(self.files)}")
        for name, value in (("pgoff", pgoff), ("pages", pages)):
            lo, hi = self.LIMITS[name]
            if not lo <= value <= hi:
                raise ValueError(f"{name} {value}: the explorer takes {lo} to {hi}")
        self.state = {"path": path, "pgoff": pgoff, "pages": pages, "prot": prot,
                      "flags": flags, "open_write": open_write, "strategy": strategy}
        #: What the last number typed out of range was brought back to, in words (or "").
        self.clamped = ""
        self.decision = self._decide()

    def _mount(self, strategy: str) -> CramfsSuperBlock:
        sb = self._mounts.get(strategy)
        if sb is None:
            sb = mount(self.image, None, strategy, system=System())
            self._mounts[strategy] = sb
        return sb

    def _decide(self) -> XipDecision:
        s = self.state
        sb = self._mount(str(s["strategy"]))
        return xip_decision(sb, str(s["path"]), int(s["pgoff"]), int(s["pages"]),
                            PROTS[str(s["prot"])], _FLAGS[str(s["flags"])],
                            bool(s["open_write"]))

    def make_controls(self) -> dict[str, widgets.Widget]:
        """File, page offset, pages, protection, flags, open mode and driver."""
        narrow = widgets.Layout(width="170px")
        s = self.state
        return {
            "path": widgets.Dropdown(options=list(self.files), value=s["path"],
                                     description="file", layout=widgets.Layout(width="230px")),
            # wide bounds: the box takes what is typed, on_change brings it into LIMITS and
            # says so (a tight BoundedIntText would change it silently in the browser)
            "pgoff": widgets.BoundedIntText(value=s["pgoff"], min=-(1 << 20), max=1 << 20,
                                            description="pgoff", layout=narrow),
            "pages": widgets.BoundedIntText(value=s["pages"], min=-(1 << 20), max=1 << 20,
                                            description="pages", layout=narrow),
            "prot": widgets.Dropdown(options=list(PROTS), value=s["prot"], description="prot",
                                     layout=narrow),
            "flags": widgets.Dropdown(options=list(_FLAGS), value=s["flags"],
                                      description="flags", layout=widgets.Layout(width="220px")),
            "open_write": widgets.Dropdown(options=[("O_RDONLY", False), ("O_RDWR", True)],
                                           value=s["open_write"], description="open",
                                           layout=widgets.Layout(width="200px")),
            "strategy": widgets.Dropdown(options=[(v, k) for k, v in _STRATEGY_NAMES.items()],
                                         value=s["strategy"], description="driver",
                                         layout=widgets.Layout(width="300px")),
        }

    def on_change(self, name: str, value: object) -> None:
        """Run the mapping again with the new control value (a number out of range brought
        back to the nearest end of :attr:`LIMITS`, the box showing it, the text saying so)."""
        self.clamped = ""
        if name in self.LIMITS:
            lo, hi = self.LIMITS[name]
            typed = int(value)  # type: ignore[call-overload]
            value = min(max(typed, lo), hi)
            if value != typed:
                self.clamped = (f"You typed {name} {typed}; this explorer takes {lo} to {hi}, so "
                                f"it uses {value}.")
                self.set_quietly(name, value)
        self.state[name] = value
        self.decision = self._decide()

    def draw(self, fig: Figure) -> None:
        """The checks as a pipeline, then the mapping's pages, then the legend."""
        ax = schematic_axes(fig, (0, 100), (0, 12))
        d = self.decision
        width, gap = 10.0, 1.1
        drawn: list[Kind] = []
        for i, (key, label) in enumerate(STAGES):
            x = 0.5 + i * (width + gap)
            status = d.status(key)
            kind = STATUS_KINDS[status]
            drawn.append(kind)
            ax.add_patch(kind_patch((x, 7.0), width, 3.2, kind))
            text_colour = "#ffffff" if status == "fired" else (
                PALETTE["muted"] if status == "not reached" else PALETTE["text"])
            if key == "map" and d.stage == "map" and d.outcome != "refused":
                label = {"remap_pfn_range": "remap_pfn\n_range", "vm_insert_mixed":
                         "MIXEDMAP +\ninsert_mixed"}.get(d.outcome, label)
            elif key == "map" and d.outcome == "refused":
                label = "fix me:\nrefused"
            box_label(ax, (x, 7.0, x + width, 10.2), label, fontsize=8, color=text_colour,
                      **label_backing(kind))
            if i:
                ax.add_artist(FancyArrowPatch((x - gap, 8.6), (x, 8.6), arrowstyle="-|>",
                                             mutation_scale=7, color=PALETTE["muted"]))
        ax.text(0.5, 11.3, self._title(), fontsize=9, va="center", color=PALETTE["text"])
        drawn += self._draw_pages(ax)
        draw_legend(ax, list(dict.fromkeys(drawn)), 0.5, 1.3, fontsize=7.5, right=99.5)

    def page_kinds(self) -> list[str]:
        """What each page of the mapping is, as the picture draws it (keys of
        :data:`PAGE_KINDS`)."""
        d = self.decision
        out = []
        for i in range(d.pages):
            if d.stage == "vfs" or d.outcome == "EINVAL":
                out.append("no VMA")
            elif i < d.in_place:
                out.append("flash")
            elif d.pgoff + i < d.max_pages:
                out.append("page cache")
            else:
                out.append("past EOF")
        return out

    def _draw_pages(self, ax: Axes) -> list[Kind]:
        d = self.decision
        n = d.pages
        size = min(8.0, 80.0 / max(n, 1))
        ax.text(0.5, 4.85, "pages of\nthe mapping", fontsize=8, va="center",
                color=PALETTE["text"])
        kinds = []
        for i, key in enumerate(self.page_kinds()):
            kind = PAGE_KINDS[key]
            kinds.append(kind)
            x = 12.0 + i * (size + 0.8)
            ax.add_patch(kind_patch((x, 3.3), size, 3.1, kind))
            box_label(ax, (x, 3.3, x + size, 6.4), f"page {d.pgoff + i}\n{key}", fontsize=7,
                      **label_backing(kind))
        ax.text(12.0, 2.55, f"{d.in_place}/{n} in place on flash", fontsize=8, va="center",
                color=PALETTE["text"])
        return kinds

    def _rest(self) -> str:
        """What happens to the pages not mapped in place, as the picture draws them."""
        kinds = self.page_kinds()
        cache, past = kinds.count("page cache"), kinds.count("past EOF")
        words = []
        if cache:
            words.append(f"the page cache serves {'all ' if cache == len(kinds) else ''}"
                         f"{cache} page{'s' if cache != 1 else ''}")
        if past:
            words.append(f"{past} page{'s lie' if past != 1 else ' lies'} past the end of the "
                         "file (an access there gets SIGBUS)")
        return "; ".join(words) or "no page left"

    def alt_text(self) -> str:
        """The description, then the picture: each check's status and each page's kind."""
        d = self.decision
        checks = ", ".join(f"{key}: {d.status(key)}" for key, _ in STAGES)
        pages = ", ".join(f"page {d.pgoff + i} {kind}" for i, kind in enumerate(self.page_kinds()))
        return f"{self.describe()}\nthe checks: {checks}\nthe pages: {pages}"

    def _title(self) -> str:
        d = self.decision
        return (f"mmap({d.path}, pgoff {d.pgoff}, {d.pages} page(s), "
                f"{self.state['prot']}, {self.state['flags']}) — "
                f"{_STRATEGY_NAMES[d.strategy]}")

    def describe(self) -> str:
        """The decision in words, and the kernel log lines."""
        d = self.decision
        if d.stage == "vfs":
            why = ("open(O_RDWR) refused: read-only file system" if d.outcome == "EROFS" else
                   "mmap refused before the driver is asked: a shared writable mapping needs "
                   "a descriptor opened for writing")
            head = f"-{d.outcome}: {why}. The driver never runs."
        elif d.outcome == "bailout":
            head = (f"stopped by: {d.reason!r}. Nothing mapped in place (mmap succeeds): "
                    f"{self._rest()}.")
        elif d.outcome == "refused":
            head = ("stopped by: 'fix me': some pages could be mapped in place, but not the "
                    f"whole VMA, so none are: {self._rest()}.")
        elif d.outcome == "remap_pfn_range":
            head = (f"no check fired: remap_pfn_range maps all {d.in_place} page(s) in place "
                    "(VM_PFNMAP).")
        elif d.outcome == "vm_insert_mixed":
            head = (f"no check fired: {d.in_place}/{d.pages} page(s) in place with "
                    f"VM_MIXEDMAP + vm_insert_mixed; {self._rest()}.")
        else:
            head = f"outcome: {d.outcome}"
        if d.last_page_dropped:
            head += " (The file's last page was left out: it is shared with other data.)"
        lines = [self._title(), head]
        if self.clamped:
            lines.insert(0, self.clamped)
        if d.maps_line:
            lines.append("maps: " + d.maps_line)
        lines += ["kernel log:", *(f"  {line}" for line in d.kernel_log or ("(nothing)",))]
        return "\n".join(lines)
