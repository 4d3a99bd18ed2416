"""The XIP scenarios: one cramfs image, and the mmap calls the course and the tests make on it.

Each :class:`Scenario` is what a program on the board does: open a file of the mounted image,
``mmap`` part of it with some protection and flags, then touch some of its pages. The same
definitions drive three things, so they can never drift apart:

* the model: :func:`run_scenario` runs one under a strategy of :mod:`mmlab.xip`
  (``"refuse"``, ``"split"`` or ``"mixedmap"``) and returns what happened;
* the real kernel: ``tools/kernel-captures`` turns :data:`SCENARIOS` into the table of a static
  probe program that runs the same calls under QEMU (see ``data/kernel-captures/README.md``);
* the notebooks, which show them side by side.

The image (:func:`scenario_image`) is built with mmlab's own XIP writer, the way Nicolas Pitre's
``mkcramfs -X`` lays files out: the pages of an ELF file's read-only loadable segments are stored
uncompressed, page aligned and with direct block pointers; everything else is compressed.
Because the writer packs the next file's block pointers right after the last partial page of an
XIP file, that page's tail is not zero: the "last page is shared" case happens by itself, as it
did on real boards.

Model helper: no kernel counterpart (the calls are user-space programs).
"""

from __future__ import annotations

import errno
from collections.abc import Sequence
from dataclasses import dataclass, field

from mmlab import trace
from mmlab.constants import (
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_READ,
    VM_SHARED,
    VM_WRITE,
)
from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.errors import SignalDelivered
from mmlab.filemap import generic_file_buffered_read
from mmlab.fs_types import File as FsFile
from mmlab.mm import MM
from mmlab.mm_types import Vma
from mmlab.physmem import frame_kind
from mmlab.procfs import format_vma, pagemap_entry, smaps_entry
from mmlab.system import System
from mmlab.uaccess import user_read, user_write
from mmlab.xip import CramfsSuperBlock, mount, ram_pages_of

__all__ = [
    "SCENARIOS",
    "SCENARIO_XIP_GLOBS",
    "RamUse",
    "Scenario",
    "ScenarioRun",
    "Touch",
    "run_scenario",
    "run_scenarios",
    "scenario",
    "scenario_image",
    "scenario_tree",
]

#: Files of :func:`scenario_tree` whose read-only ELF segments are stored for XIP.
SCENARIO_XIP_GLOBS = ("bin/*", "lib/*")

_TEXT = b"".join(b"line %04d of a plain text file: cramfs compresses it with zlib.\n" % i
                 for i in range(200))


def scenario_tree() -> Dir:
    """The tree of the scenario image: an XIP executable, three libraries, a text file.

    * ``bin/xipexe``: 4 pages, one read+exec segment over the whole file: every block XIP.
    * ``lib/libc.so.6``: 5 pages, text (read+exec) in pages 0-2, data (read+write) in 3-4: the
      text is XIP, the data compressed, so a mapping of the whole file runs past the XIP part.
    * ``lib/ld-tail.so``: 2 pages and 100 bytes, all text; its last page is partial and the
      writer puts the next file's block pointers in the rest of that flash page.
    * ``lib/gappy.so``: 4 pages, text in pages 0, 2 and 3, data in page 1: the XIP blocks are
      not contiguous.
    * ``etc/motd.txt``: about 3 pages of text, not an ELF file: compressed.

    Model helper: no kernel counterpart.
    """
    rx = PF_R | PF_X
    rw = PF_R | PF_W
    exe = make_elf([(rx, 0, 4 * PAGE_SIZE)], 4 * PAGE_SIZE, fill=b"xipexe text! ")
    libc = make_elf([(rx, 0, 3 * PAGE_SIZE), (rw, 3 * PAGE_SIZE, 2 * PAGE_SIZE)],
                    5 * PAGE_SIZE, fill=b"libc text and data ")
    tail = make_elf([(rx, 0, 2 * PAGE_SIZE + 100)], 2 * PAGE_SIZE + 100, fill=b"ld tail ")
    gappy = make_elf([(rx, 0, PAGE_SIZE), (rw, PAGE_SIZE, PAGE_SIZE),
                      (rx, 2 * PAGE_SIZE, 2 * PAGE_SIZE)], 4 * PAGE_SIZE, fill=b"gappy ")
    return Dir({
        "bin": Dir({"xipexe": File(exe, mode=0o755)}),
        "lib": Dir({
            "gappy.so": File(gappy, mode=0o755),
            "ld-tail.so": File(tail, mode=0o755),
            "libc.so.6": File(libc, mode=0o755),
        }),
        "etc": Dir({"motd.txt": File(_TEXT)}),
    })


def scenario_image() -> bytes:
    """The scenario image's bytes (little-endian, 4 KiB blocks, XIP layout, name ``xip-scenarios``).

    Model helper: no kernel counterpart (``mkcramfs -X -X`` makes images of this layout).
    """
    return build_image(scenario_tree(), endian="little", name="xip-scenarios",
                       xip=SCENARIO_XIP_GLOBS)


@dataclass(frozen=True)
class Scenario:
    """One program's calls: open ``path``, mmap it, touch pages.

    ``open_write`` opens the file read-write (``O_RDWR``), which a read-only mount refuses with
    ``-EROFS``; ``touch`` lists the page indices (within the mapping) read after the mmap, in
    order; ``write`` lists pages written to (a private mapping copies them). ``why`` is the one
    line a learner reads.

    Model helper: no kernel counterpart.
    """

    name: str
    path: str
    offset: int
    length: int
    prot: int
    flags: int
    why: str
    touch: tuple[int, ...] = ()
    write: tuple[int, ...] = ()
    open_write: bool = False

    @property
    def pages(self) -> int:
        """Pages the mapping covers."""
        return -(-self.length // PAGE_SIZE)


_RX = PROT_READ | PROT_EXEC

#: Every scenario, in the order the course meets them and the probe runs them.
SCENARIOS: tuple[Scenario, ...] = (
    Scenario("xip-executable", "/bin/xipexe", 0, 4 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A whole-file XIP executable: every page can come straight from flash.",
             touch=(0, 1, 2, 3)),
    Scenario("libc-past-xip", "/lib/libc.so.6", 0, 5 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "The dynamic loader maps all of libc read+exec: only the text part is XIP.",
             touch=(0, 1, 2, 3, 4)),
    Scenario("last-page-shared", "/lib/ld-tail.so", 0, 3 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "The file's last flash page also holds other data, so it must not be mapped.",
             touch=(0, 1, 2)),
    Scenario("compressed", "/etc/motd.txt", 0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE,
             "A compressed file cannot be read in place.", touch=(0, 1, 2)),
    Scenario("shared-writable", "/bin/xipexe", 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
             MAP_SHARED, "A writable shared mapping of a read-only file system.",
             open_write=True),
    Scenario("shared-write-readonly-fd", "/bin/xipexe", 0, 4 * PAGE_SIZE,
             PROT_READ | PROT_WRITE, MAP_SHARED,
             "The same, through a read-only descriptor: mmap itself refuses it."),
    Scenario("writable-private", "/bin/xipexe", 0, 4 * PAGE_SIZE, PROT_READ | PROT_WRITE,
             MAP_PRIVATE, "A writable private mapping: writes must copy, so no flash pages.",
             touch=(0, 1), write=(1,)),
    Scenario("file-offset", "/bin/xipexe", PAGE_SIZE, 3 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A mapping that starts one page into the file.", touch=(0, 1, 2)),
    Scenario("non-contiguous", "/lib/gappy.so", 0, 4 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "A file whose XIP blocks are not contiguous: page 1 is compressed.",
             touch=(0, 1, 2, 3)),
    Scenario("non-contiguous-tail", "/lib/gappy.so", 2 * PAGE_SIZE, 2 * PAGE_SIZE, _RX,
             MAP_PRIVATE, "The same file from page 2: a contiguous run again.", touch=(0, 1)),
    Scenario("shared-readonly", "/bin/xipexe", 0, 4 * PAGE_SIZE, _RX, MAP_SHARED,
             "A read-only shared mapping: mapped in place, but not a COW mapping.",
             touch=(0, 3)),
    Scenario("tail-at-offset", "/lib/ld-tail.so", PAGE_SIZE, 2 * PAGE_SIZE, _RX, MAP_PRIVATE,
             "The shared last page again, mapped from one page into the file.", touch=(0, 1)),
    Scenario("beyond-eof", "/bin/xipexe", 8 * PAGE_SIZE, PAGE_SIZE, PROT_READ, MAP_PRIVATE,
             "A mapping that starts past the end of the file: touching it is SIGBUS.",
             touch=(0,)),
)


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; KeyError lists the names.

    Model helper: no kernel counterpart.
    """
    for s in SCENARIOS:
        if s.name == name:
            return s
    raise KeyError(f"no scenario {name!r}; there are: {', '.join(s.name for s in SCENARIOS)}")


# --- running a scenario on the model ---------------------------------------------------------
@dataclass(frozen=True)
class RamUse:
    """Where the pages of a mapping live: served from flash, or costing RAM.

    ``flash``: present PTEs pointing into the flash (no RAM at all); ``page_cache``: RAM pages
    of the file's page cache mapped here; ``anonymous``: private copies (COW). ``rss_kb`` and
    ``anonymous_kb`` are what ``/proc/PID/smaps`` prints as ``Rss`` and ``Anonymous``: flash
    pages have no ``struct page``, so smaps cannot count them.

    Model helper: no kernel counterpart.
    """

    flash: int = 0
    page_cache: int = 0
    anonymous: int = 0

    @property
    def ram(self) -> int:
        """Pages of RAM the mapping uses."""
        return self.page_cache + self.anonymous

    @property
    def rss_kb(self) -> int:
        return self.ram * (PAGE_SIZE >> 10)

    @property
    def anonymous_kb(self) -> int:
        return self.anonymous * (PAGE_SIZE >> 10)


@dataclass
class Touch:
    """One access to one page of the mapping, and what it cost.

    ``where`` is ``"flash"``, ``"page cache"``, ``"anonymous"`` or ``None`` after a signal;
    ``matches_read``: the bytes seen through the mapping equal what pread(2) of the same range
    returns right after (read through the page cache, which it fills); ``matches_image``: they
    equal the file's true bytes, as the cramfs reader finds them in the image;
    ``zero_past_eof``, for the page holding the end of the file only: the bytes after the end
    read as zero;
    ``pfn`` is the frame the PTE points to; ``pagemap`` the ``/proc/PID/pagemap`` entry then
    (which hides the frame of a ``VM_PFNMAP`` mapping); ``calls``: the traced kernel
    functions and lock steps of the access, in order; ``maps``: the ``/proc/PID/maps`` lines of
    the mapping's range right after the access (under the split strategies the first fault
    past the directly mapped part splits the VMA).

    Model helper: no kernel counterpart.
    """

    page: int
    kind: str
    signal: str | None = None
    minflt: int = 0
    majflt: int = 0
    pfn: int | None = None
    pagemap: int = 0
    where: str | None = None
    matches_read: bool | None = None
    matches_image: bool | None = None
    zero_past_eof: bool | None = None
    kernel_log: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)


@dataclass
class ScenarioRun:
    """What one scenario did under one strategy.

    ``open_error``/``mmap_error`` are errno names (``"EROFS"``, ``"EACCES"``) or ``None``;
    ``driver_ret`` is what ``cramfs_physmem_mmap`` answers when handed a shared writable VMA
    directly (only for ``open_write`` scenarios: the read-only mount refuses the open first);
    ``maps`` and ``maps_after`` are the ``/proc/PID/maps`` lines of the range after the mmap and
    after the touches; ``smaps``/``smaps_after`` what ``/proc/PID/smaps`` shows of those VMAs
    then (the memory counters in kB and ``VmFlags``); ``kernel_log`` the cramfs lines the mmap
    logged; ``mmap_calls`` the traced kernel functions the driver's ``->mmap`` ran, in order;
    ``ram`` where the pages are after the touches.

    Model helper: no kernel counterpart.
    """

    scenario: Scenario
    strategy: str
    sb: CramfsSuperBlock
    mm: MM
    open_error: str | None = None
    mmap_error: str | None = None
    driver_ret: int | None = None
    address: int | None = None
    kernel_log: list[str] = field(default_factory=list)
    mmap_calls: list[str] = field(default_factory=list)
    maps: list[str] = field(default_factory=list)
    touches: list[Touch] = field(default_factory=list)
    maps_after: list[str] = field(default_factory=list)
    smaps: list[dict[str, int | str]] = field(default_factory=list)
    smaps_after: list[dict[str, int | str]] = field(default_factory=list)
    ram: RamUse = field(default_factory=RamUse)

    @property
    def vmas(self) -> list[Vma]:
        """The VMAs now covering the mapping's range."""
        if self.address is None:
            return []
        end = self.address + self.scenario.pages * PAGE_SIZE
        return [v for v in self.mm if v.vm_start < end and v.vm_end > self.address]


def _maps_lines(run: ScenarioRun) -> list[str]:
    return [format_vma(v) for v in run.vmas]


def _smaps(run: ScenarioRun) -> list[dict[str, int | str]]:
    return [smaps_entry(vma) for vma in run.vmas]


def _ram_use(run: ScenarioRun) -> RamUse:
    flash = cache = anon = 0
    for vma in run.vmas:
        f, c, a = ram_pages_of(vma)
        flash, cache, anon = flash + f, cache + c, anon + a
    return RamUse(flash, cache, anon)


def _touch(run: ScenarioRun, index: int, kind: str, file: FsFile, image_bytes: bytes) -> Touch:
    mm = run.mm
    assert run.address is not None
    addr = run.address + index * PAGE_SIZE
    log = run.sb.system.dmesg
    seen = len(log)
    minflt, majflt = mm.min_flt, mm.maj_flt
    touch = Touch(index, kind)
    with trace.record(snapshots=False) as rec:
        try:
            if kind == "write":
                user_write(mm, addr, b"\x5a")
            data = user_read(mm, addr, PAGE_SIZE)
        except SignalDelivered as sig:
            touch.signal = sig.signal
            data = None
    touch.calls = list(rec.names)
    touch.minflt, touch.majflt = mm.min_flt - minflt, mm.maj_flt - majflt
    touch.kernel_log = [line for line in log[seen:] if line.startswith("cramfs:")]
    if data is not None:
        pte = mm.pgd.walk(addr)
        if pte is not None:
            touch.pfn = pte.pfn
            touch.where = frame_kind(mm.physmem, pte.pfn)
        touch.pagemap = pagemap_entry(mm, addr)
        # then pread(2) of the same file range, through the page cache, as the probe does
        start = run.scenario.offset + index * PAGE_SIZE
        expect = generic_file_buffered_read(file, start, PAGE_SIZE, physmem=mm.physmem)
        if expect:
            got = data[1:len(expect)] if kind == "write" else data[:len(expect)]
            touch.matches_read = got == (expect[1:] if kind == "write" else expect)
        if len(expect) < PAGE_SIZE:
            touch.zero_past_eof = not any(data[len(expect):])
        truth = image_bytes[start:start + PAGE_SIZE]  # what the image really holds
        if truth:
            if kind == "write":
                truth = b"\x5a" + truth[1:]
            touch.matches_image = data[:len(truth)] == truth
    return touch


def run_scenario(
    which: Scenario | str,
    strategy: str = "mixedmap",
    *,
    system: System | None = None,
    image: bytes | None = None,
    phys_addr: int | None = None,
    sb: CramfsSuperBlock | None = None,
    mm: MM | None = None,
) -> ScenarioRun:
    """Run one scenario under ``strategy`` on a fresh machine (or the given one) and report.

    The image (:func:`scenario_image` unless ``image`` is given) is mounted from flash at
    ``phys_addr`` (default: the start of the flash window); a new process opens the file, mmaps
    it, and touches the pages the scenario lists, reading each whole page (and writing one byte
    first for the ``write`` pages). ``sb`` and ``mm`` let several scenarios share one mount and
    one process, as on the board.

    Model helper: no kernel counterpart (a user program; the kernel side is :mod:`mmlab.xip`).
    """
    sc = scenario(which) if isinstance(which, str) else which
    if sb is None:
        machine = system if system is not None else System()
        sb = mount(image if image is not None else scenario_image(), phys_addr, strategy,
                   system=machine)
    elif sb.strategy != strategy:
        raise ValueError(f"the mount runs {sb.strategy!r}, not {strategy!r}")
    mm = mm if mm is not None else MM(sb.system)
    run = ScenarioRun(sc, strategy, sb, mm)
    log = sb.system.dmesg
    try:
        file = sb.open(sc.path, write=sc.open_write)
    except OSError as err:
        run.open_error = errno.errorcode.get(err.errno or 0, str(err.errno))
        if sc.open_write:
            run.driver_ret = _shared_writable_driver_answer(sb, sc)
        return run
    seen = len(log)
    with trace.record(snapshots=False) as rec:
        try:
            run.address = mm.mmap(0, sc.length, sc.prot, sc.flags, file, sc.offset)
        except OSError as err:
            run.mmap_error = errno.errorcode.get(err.errno or 0, str(err.errno))
    driver = [s for s in rec.steps if s.name == "cramfs_physmem_mmap"]
    if driver:
        depth = driver[0].depth
        start = rec.steps.index(driver[0])
        for step in rec.steps[start + 1:]:
            if step.depth <= depth:
                break
            run.mmap_calls.append(step.name)
    run.kernel_log = [line for line in log[seen:] if line.startswith("cramfs:")]
    if run.address is None:
        return run
    run.maps = _maps_lines(run)
    run.smaps = _smaps(run)
    image_bytes = sb.read_true(sc.path, 0, file.f_inode.i_size)  # inflated once, not per touch
    for index, kind in [(i, "read") for i in sc.touch] + [(i, "write") for i in sc.write]:
        touch = _touch(run, index, kind, file, image_bytes)
        touch.maps = _maps_lines(run)
        run.touches.append(touch)
    run.maps_after = _maps_lines(run)
    run.smaps_after = _smaps(run)
    run.ram = _ram_use(run)
    return run


def run_scenarios(
    scenarios: Sequence[Scenario] = SCENARIOS,
    strategy: str = "mixedmap",
    *,
    image: bytes | None = None,
    system: System | None = None,
    phys_addr: int | None = None,
    mtd_name: str = "xipfs",
) -> list[ScenarioRun]:
    """Run scenarios one after the other in one process on one mount, as the probe does.

    This is what the real-kernel captures did: the page cache, and so the fault counts,
    carry over from one scenario to the next (a pread(2) in one fills pages that a later
    mapping finds). Each mapping is unmapped at the end of its scenario.

    Model helper: no kernel counterpart (the probe program of ``tools/kernel-captures``).
    """
    machine = system if system is not None else System()
    sb = mount(image if image is not None else scenario_image(), phys_addr, strategy,
               system=machine, mtd_name=mtd_name)
    mm = MM(machine)
    runs = []
    for sc in scenarios:
        run = run_scenario(sc, strategy, sb=sb, mm=mm)
        if run.address is not None:
            mm.munmap(run.address, sc.length)
        runs.append(run)
    return runs


def _shared_writable_driver_answer(sb: CramfsSuperBlock, sc: Scenario) -> int:
    """What the driver's ``->mmap`` says to a shared writable VMA (the open never gets there)."""
    file = sb.open(sc.path)
    mm = MM(sb.system)
    vma = Vma(0x10000, 0x10000 + sc.pages * PAGE_SIZE,
              VM_READ | VM_WRITE | VM_SHARED | VM_MAYREAD | VM_MAYWRITE | VM_MAYSHARE,
              sc.offset >> PAGE_SHIFT, file, vm_mm=mm)
    assert file.f_op.mmap is not None
    return file.f_op.mmap(file, vma)
