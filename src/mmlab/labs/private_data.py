"""Lab 04: when the packed split point lies.

The fault-time split keeps its split point in ``vm_private_data``: the seed as
``split_pgoff + (split_page << 16)``, ``split_page`` counted from ``vm_start``; v3 as
``split_pgoff | (split_vpn << 12)``, the split point as a virtual page number. The lab runs two
schedules the course's chapter on the split does not run one after the other: before its first
access past the pages mapped in place, the program unmaps the bottom of the partly mapped VMA,
or moves the whole VMA elsewhere (``mremap``). The learner writes
``first_read(form, xip_pages, vma_pages, change, amount, page)``: the file page a read of
``page`` then shows, or the signal it gets. :func:`check` holds it to the model:
:func:`read_after` builds a file of ``vma_pages`` pages whose first ``xip_pages`` are stored for
XIP, maps all of it private under ``"split"`` (the seed) or ``"split-v3"``, makes the change,
reads one byte of ``page`` and names the file page by the mark written into every page.

The other way the packed value lies: ``split_pgoff = vm_pgoff + pages`` reaches 4096 when a
file of 4096 pages (over 16 MiB - 4 KiB; a cramfs size field has 24 bits) is mapped whole, its
last flash page not shared, by a VMA longer than the file. 4096 needs 13 bits: the seed's 16
hold it, v3's 12 do not (:func:`map_past_the_end`, :func:`v3_split_val`).

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from mmlab.constants import (
    MAP_PRIVATE,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
)
from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
from mmlab.cramfs.layout import CRAMFS_SIZE_WIDTH
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.errors import SignalDelivered
from mmlab.mm import MM
from mmlab.physmem import PhysMem
from mmlab.procfs import format_maps
from mmlab.system import System
from mmlab.uaccess import user_read
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.viz.split import unpack_seed
from mmlab.xip import mount

__all__ = ["BASE", "CHANGES", "FORMS", "LAB_FILE", "MAX_FILE_PAGES", "MAX_FILE_SIZE", "PastTheEnd",
           "ReadAfter", "as_read", "check", "first_read_cases", "lab_image", "map_past_the_end",
           "read_after", "read_text", "same_read", "v3_decode", "v3_split_val"]

#: The lab's form names and the model's strategy for each.
FORMS = MappingProxyType({"seed": "split", "v3": "split-v3"})

#: The largest file cramfs can hold: its inode's size field has ``CRAMFS_SIZE_WIDTH`` (24) bits.
MAX_FILE_SIZE = (1 << CRAMFS_SIZE_WIDTH) - 1

#: ... in pages: 4096 (the last one 4095 bytes long).
MAX_FILE_PAGES = -(-MAX_FILE_SIZE // PAGE_SIZE)

#: The changes the program makes before its read: unmap the bottom, or move the whole VMA.
CHANGES = ("munmap", "mremap")

#: Where the lab's program maps the file (well inside user space, so a move has room).
BASE = 0x40000000

#: Where the lab's file lies on the image (``lib/*`` is an XIP glob).
LAB_FILE = "/lib/libx.so"

#: Where in each page of the lab's file its mark is written (after the ELF headers of page 0).
_MARK_AT = 0x800
_MARK = re.compile(rb"file page (\d{4})\n")


def _form(form: str) -> str:
    if form not in FORMS:
        raise ValueError(f"form must be one of {', '.join(map(repr, FORMS))}, not {form!r}")
    return FORMS[form]


def lab_image(xip_pages: int, file_pages: int) -> bytes:
    """A cramfs image holding :data:`LAB_FILE`: an ELF of ``file_pages`` pages whose first
    ``xip_pages`` are a read+exec segment (stored for XIP: uncompressed, page aligned) and the
    rest a read+write one (compressed), with ``file page NNNN`` written into every page.

    Model helper: no kernel counterpart.
    """
    if not 0 < xip_pages < file_pages:
        raise ValueError(f"need 0 < xip_pages < file_pages, not {xip_pages} and {file_pages}")
    elf = bytearray(make_elf([(PF_R | PF_X, 0, xip_pages * PAGE_SIZE),
                              (PF_R | PF_W, xip_pages * PAGE_SIZE,
                               (file_pages - xip_pages) * PAGE_SIZE)],
                             file_pages * PAGE_SIZE, fill=b"libx "))
    for page in range(file_pages):
        mark = b"file page %04d\n" % page
        at = page * PAGE_SIZE + _MARK_AT
        elf[at:at + len(mark)] = mark
    tree = Dir({"lib": Dir({"libx.so": File(bytes(elf), mode=0o755)})})
    return build_image(tree, endian="little", xip=("lib/*",))


@dataclass(frozen=True)
class ReadAfter:
    """One run of a schedule: what the read showed, and the process around it.

    ``read`` is the file page whose mark the read found, or the signal's name;
    ``maps_before`` and ``maps_after`` are ``/proc/PID/maps`` right after the change and after
    the read; ``kernel_log`` the cramfs lines of the read's fault.

    Model helper: no kernel counterpart.
    """

    form: str
    xip_pages: int
    vma_pages: int
    change: str
    amount: int
    page: int
    read: int | str
    maps_before: str
    maps_after: str
    kernel_log: tuple[str, ...]

    def _what(self) -> str:
        if self.change == "munmap":
            return f"munmap of the first {self.amount}"
        way = "up" if self.amount > 0 else "down"
        return f"mremap of the whole VMA {abs(self.amount)} pages {way}"

    def __str__(self) -> str:
        shown = read_text(self.read)
        return "\n".join([
            f"{self.form}: {self.vma_pages} pages mapped, the first {self.xip_pages} from flash, "
            f"then {self._what()};",
            f"a read of page {self.page} shows: {shown}",
            "maps before the read:", *(f"  {line}" for line in self.maps_before.splitlines()),
            "kernel log of the read:",
            *(f"  {line}" for line in self.kernel_log or ("(nothing: no fault reached cramfs)",)),
            "maps after it:", *(f"  {line}" for line in self.maps_after.splitlines()),
        ])


def _check_schedule(change: str, amount: int, page: int, vma_pages: int) -> None:
    if change == "munmap":
        if not 0 <= amount <= page < vma_pages:
            raise ValueError(f"munmap: need 0 <= amount (pages unmapped) <= page < vma_pages, "
                             f"not amount={amount}, page={page}, vma_pages={vma_pages}")
    elif change == "mremap":
        if abs(amount) < vma_pages or not 0 <= page < vma_pages:
            raise ValueError(f"mremap: need |amount| (pages moved) >= vma_pages (mremap refuses "
                             f"a move onto the old place) and 0 <= page < vma_pages, not "
                             f"amount={amount}, page={page}, vma_pages={vma_pages}")
    else:
        raise ValueError(f"change must be one of {', '.join(map(repr, CHANGES))}, not {change!r}")


def read_after(form: str, xip_pages: int = 3, vma_pages: int = 5, change: str = "munmap",
               amount: int = 1, page: int = 4, *, image: bytes | None = None) -> ReadAfter:
    """Run one of the lab's schedules on the model and say what the read shows.

    A fresh machine mounts :func:`lab_image` ``(xip_pages, vma_pages)`` under the form's
    strategy; a process maps all ``vma_pages`` pages read+exec, private, at :data:`BASE` (the
    patch maps the first ``xip_pages`` from flash and packs the split point). Then the change:
    ``"munmap"`` unmaps the first ``amount`` pages; ``"mremap"`` moves the whole VMA ``amount``
    pages up (or down, when negative; ``MREMAP_MAYMOVE | MREMAP_FIXED``, same length). Last,
    one byte of page ``page`` is read: for ``"munmap"`` pages count from the old ``vm_start``,
    for ``"mremap"`` from the new one (page ``n`` is always the page that showed file page
    ``n`` when the file was mapped). ``image`` (the same image, built once) saves building it.

    Model helper: no kernel counterpart (a user program on the board).
    """
    strategy = _form(form)
    _check_schedule(change, amount, page, vma_pages)
    sb = mount(image if image is not None else lab_image(xip_pages, vma_pages), None, strategy,
               system=System())
    mm = MM(sb.system)
    start = mm.mmap(BASE, vma_pages * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                    sb.open(LAB_FILE), 0)
    if change == "munmap":
        if amount:
            mm.munmap(start, amount * PAGE_SIZE)
    else:
        start = mm.mremap(start, vma_pages * PAGE_SIZE, vma_pages * PAGE_SIZE,
                          MREMAP_MAYMOVE | MREMAP_FIXED, start + amount * PAGE_SIZE)
    before = format_maps(mm)
    seen = len(sb.system.dmesg)
    try:
        data = user_read(mm, start + page * PAGE_SIZE + _MARK_AT, 14 + 1)
    except SignalDelivered as sig:
        read: int | str = str(sig.signal)
    else:
        mark = _MARK.fullmatch(data)
        read = int(mark.group(1)) if mark else f"bytes {data!r}"
    log = tuple(line.removeprefix("cramfs: ") for line in sb.system.dmesg[seen:])
    return ReadAfter(form, xip_pages, vma_pages, change, amount, page, read, before,
                     format_maps(mm), log)


def first_read_cases() -> list[tuple[tuple[str, int, int, str, int, int], int | str]]:
    """The check's cases ``((form, xip_pages, vma_pages, change, amount, page), what the read
    shows)``, each answered by :func:`read_after` on the model: files of 2 to 7 pages, 1 to 4 of
    them XIP; every number of unmapped pages and every page still mapped; moves of the whole
    VMA up and down, by its length and more, and every page; both forms.

    Model helper: no kernel counterpart.
    """
    cases = []
    for xip_pages, vma_pages in ((1, 2), (2, 3), (3, 5), (2, 6), (4, 7)):
        image = lab_image(xip_pages, vma_pages)
        schedules = [("munmap", amount, page) for amount in range(vma_pages)
                     for page in range(amount, vma_pages)]
        schedules += [("mremap", amount, page)
                      for amount in (-vma_pages - 2, -vma_pages, vma_pages, vma_pages + 3)
                      for page in range(vma_pages)]
        for form in FORMS:
            for change, amount, page in schedules:
                run = read_after(form, xip_pages, vma_pages, change, amount, page, image=image)
                cases.append(((form, xip_pages, vma_pages, change, amount, page), run.read))
    return cases


def same_read(given: object, expected: object) -> bool:
    """A file page as a number (or its text), a signal by its name in any case, with or
    without ``SIG``.

    Model helper: no kernel counterpart.
    """
    if isinstance(expected, str):
        return (isinstance(given, str)
                and given.strip().upper().removeprefix("SIG") == expected.removeprefix("SIG"))
    if isinstance(given, str):
        try:
            given = int(given.strip(), 0)
        except ValueError:
            return False
    return not isinstance(given, bool) and given == expected


def read_text(read: object) -> str:
    """What a read showed, as the lab prints it: ``"file page 3"`` for 3, a signal by its name.

    Model helper: no kernel counterpart.
    """
    return f"file page {read}" if isinstance(read, int) and not isinstance(read, bool) \
        else str(read)


def as_read(guess: object) -> object:
    """A guess of what a read shows, in the words the lab's runs print it: a signal named with or
    without ``SIG`` in any case (``"segv"`` is ``"SIGSEGV"``), a file page as ``"file page 3"``
    or ``"page 3"`` (3); anything else comes back as it is.

    Model helper: no kernel counterpart.
    """
    if not isinstance(guess, str):
        return guess
    word = guess.strip().upper().removeprefix("SIG")
    if word in ("SEGV", "BUS"):
        return "SIG" + word
    page = re.fullmatch(r"\s*(?:file\s+)?page\s+(\d+)\s*", guess, re.IGNORECASE)
    return int(page.group(1)) if page else guess


def check(first_read: Callable[[str, int, int, str, int, int], int | str]) -> CheckResult:
    """Check a learner's ``first_read`` against the model on every case of
    :func:`first_read_cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(first_read, first_read_cases(), name="first_read", same=same_read)


# --- the largest split_pgoff ----------------------------------------------------------------------
def v3_split_val(split_pgoff: int, split_page: int, vm_start: int) -> int:
    """The value v3 stores in ``vm_private_data``, by its own expression: ``split_pgoff`` OR-ed
    with the split point's virtual page number shifted left by 12, with no check that
    ``split_pgoff`` fits (the model's :func:`mmlab.xip.split_private_data` refuses one that does
    not; v3 would mix the two fields silently).

    Patch: the packing in ``cramfs_physmem_mmap`` of the fault-time split's v3
    (LKML, 2017-08-31), as Christoph Hellwig quoted it that day, never merged.
    """
    return split_pgoff | (((vm_start >> PAGE_SHIFT) + split_page) << 12)


def v3_decode(value: int) -> tuple[int, int]:
    """``(split_pgoff, split_addr)`` as v3's handler decodes ``vm_private_data``: the low 12 bits,
    and the rest as a virtual page number (:func:`mmlab.viz.split.unpack_seed` in its v3 form).

    Patch: the decoding in ``cramfs_vmasplit_fault`` of the fault-time split's v3
    (LKML, 2017-08-31), as Christoph Hellwig quoted it that day, never merged.
    """
    return unpack_seed(value, 0, "split-v3")


@dataclass(frozen=True)
class PastTheEnd:
    """The largest file, mapped past its end: what the patch stored, or why the model refused.

    Model helper: no kernel counterpart.
    """

    form: str
    vma_pages: int
    vm_start: int
    kernel_log: tuple[str, ...]
    value: int | None
    refused: str | None
    file_size: int = MAX_FILE_SIZE
    followed: bool = False

    def __str__(self) -> str:
        pages = -(-self.file_size // PAGE_SIZE)
        after = ", another file after it" if self.followed else ""
        head = (f"{self.form}: a file of {self.file_size} bytes ({pages} pages, all XIP{after}),"
                f"\n  in a VMA of {self.vma_pages} pages at {self.vm_start:#x}")
        lines = [head, *(f"  {line}" for line in self.kernel_log)]
        if self.value is not None and self.form == "v3":
            pgoff, split = v3_decode(self.value)
            lines.append(f"  vm_private_data = {self.value:#x}: split_pgoff {pgoff}, split point "
                         f"{split:#x}")
        elif self.value is not None:
            lines.append(f"  vm_private_data = {self.value:#x}: split_pgoff {self.value & 0xFFFF}"
                         f", split_page {self.value >> 16}")
        if self.refused:
            lines.append(f"  the model refuses to pack it: {self.refused}")
        elif self.value is None:
            lines.append("  no split point packed: the whole VMA is mapped in place")
        return "\n".join(lines)


def map_past_the_end(form: str, vma_pages: int = MAX_FILE_PAGES + 2,
                     vm_start: int = 0x40000000, *, file_size: int = MAX_FILE_SIZE,
                     followed: bool = False) -> PastTheEnd:
    """Map a big cramfs file (by default the largest, :data:`MAX_FILE_SIZE` bytes; every block
    XIP; with ``followed`` another file's block pointers come right after it on flash, else
    nothing) from page 0 with a VMA of ``vma_pages`` pages at ``vm_start``, under the form's
    strategy. For the largest file the patch maps all 4096 pages in place and packs
    ``split_pgoff`` 4096: the seed's packing holds it; for v3 the model raises (a 32 MiB flash
    window holds the 16 MiB image).

    Model helper: no kernel counterpart (a user program on the board).
    """
    strategy = _form(form)
    if not 0 < file_size <= MAX_FILE_SIZE:
        raise ValueError(f"file_size must be from 1 to {MAX_FILE_SIZE} bytes (a cramfs size "
                         f"field has {CRAMFS_SIZE_WIDTH} bits), not {file_size}")
    files = {"big.bin": File(b"\x5a" * file_size)}
    if followed:
        files["next.bin"] = File(b"\x01" * 100)
    tree = Dir(files)
    image = build_image(tree, endian="little", xip=("*.bin",))
    sb = mount(image, None, strategy, system=System(physmem=PhysMem(flash_size=32 << 20)))
    mm = MM(sb.system)
    seen = len(sb.system.dmesg)
    value: int | None = None
    refused: str | None = None
    try:
        addr = mm.mmap(vm_start, vma_pages * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                       sb.open("/big.bin"), 0)
    except ValueError as exc:
        refused = str(exc)
    else:
        vma = mm.find_vma(addr)
        assert vma is not None and vma.vm_start == vm_start
        value = vma.vm_private_data if isinstance(vma.vm_private_data, int) else None
    log = tuple(line.removeprefix("cramfs: ") for line in sb.system.dmesg[seen:])
    return PastTheEnd(form, vma_pages, vm_start, log, value, refused, file_size, followed)

