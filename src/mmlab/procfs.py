"""``/proc/PID/maps`` (``fs/proc/task_mmu.c`` @ v4.15): print a model mm as the kernel does.

Also reads real ones (:func:`read_maps`, :func:`parse_maps`), and gives what smaps and pagemap
show of a model VMA (:func:`smap_counts`, :func:`show_smap_vma_flags`, :func:`pagemap_entry`).

Models ``show_map_vma`` and ``show_vma_header_prefix`` in `fs/proc/task_mmu.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L279>`_. Each line is
``start-end perms offset major:minor inode``, then, if the VMA has a name, spaces up to a pad
column (72 on 64-bit: ``25 + 6 * sizeof(void *) - 1``, 48 on 32-bit) plus one more, then the
name. The offset is ``vm_pgoff << PAGE_SHIFT`` for file VMAs (0 for the others), so after
``remap_pfn_range`` on a private mapping it shows the *physical address* of the data.

The live differential (:mod:`mmlab.live`) holds this format against the kernel running the
tests (6.18 here): every line of the test process's own ``/proc/self/maps`` is reprinted byte
for byte. Later kernels add names this model never makes (``[anon:name]`` for VMAs named with
``prctl(PR_SET_VMA)``).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass

from mmlab.constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_ACCOUNT,
    VM_ARCH_1,
    VM_DENYWRITE,
    VM_DONTCOPY,
    VM_DONTDUMP,
    VM_DONTEXPAND,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_HUGEPAGE,
    VM_HUGETLB,
    VM_IO,
    VM_LOCKED,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_MERGEABLE,
    VM_MIXEDMAP,
    VM_NOHUGEPAGE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_RAND_READ,
    VM_READ,
    VM_SEQ_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_SYNC,
    VM_UFFD_MISSING,
    VM_UFFD_WP,
    VM_WIPEONFORK,
    VM_WRITE,
)
from mmlab.fs_types import MAJOR, MINOR
from mmlab.memory import vm_normal_page
from mmlab.mm_types import MmStruct, Vma, vma_mm
from mmlab.mmap import find_vma
from mmlab.pagetable import pte_dirty, pte_present
from mmlab.physmem import PageAnon, page_count, page_mapcount

__all__ = [
    "PM_FILE",
    "PM_MMAP_EXCLUSIVE",
    "PM_PFRAME_MASK",
    "PM_PRESENT",
    "PM_SOFT_DIRTY",
    "PM_SWAP",
    "SMAPS_FIELDS",
    "MapsLine",
    "format_maps",
    "format_vma",
    "pad_column",
    "pagemap_entry",
    "parse_maps",
    "read_maps",
    "read_pagemap",
    "read_smaps",
    "show_smap_vma_flags",
    "smap_counts",
    "smaps_entry",
    "vma_name",
]


def pad_column(bits: int = 64) -> int:
    """Where names start, minus one: ``25 + sizeof(void *) * 6 - 1``.

    Kernel: ``seq_setwidth`` in `include/linux/seq_file.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/seq_file.h#L102>`_.
    """
    return 25 + (bits // 8) * 6 - 1


def vma_name(vma: Vma) -> str | None:
    """The name column of a VMA (``show_map_vma``'s choice, task_mmu.c @ v4.15 L297).

    File VMAs print their path. Otherwise ``vm_ops->name()`` ([vdso], [vvar]...), then
    ``[heap]`` if the VMA overlaps ``[start_brk, brk]``, ``[stack]`` if it contains
    ``start_stack``; anonymous memory has no name.

    Kernel: ``show_map_vma`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L297>`_.
    """
    if vma.vm_file is not None:
        return vma.vm_file.f_path
    if vma.vm_ops is not None and vma.vm_ops.name is not None:
        name = vma.vm_ops.name(vma)
        if name:
            return name
    mm = vma.vm_mm
    if mm is None:
        return "[vdso]"
    if vma.vm_start <= mm.brk and vma.vm_end >= mm.start_brk:
        return "[heap]"
    if vma.vm_start <= mm.start_stack <= vma.vm_end:  # is_stack
        return "[stack]"
    return None


def format_vma(vma: Vma, bits: int = 64) -> str:
    """One line of ``/proc/PID/maps`` for ``vma``, without the newline.

    Kernel: ``show_map_vma`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L297>`_.
    """
    flags = vma.vm_flags
    perms = (
        ("r" if flags & VM_READ else "-")
        + ("w" if flags & VM_WRITE else "-")
        + ("x" if flags & VM_EXEC else "-")
        + ("s" if flags & VM_MAYSHARE else "p")
    )
    if vma.vm_file is not None:
        inode = vma.vm_file.f_inode
        dev, ino = inode.i_sb.s_dev, inode.i_ino
        offset = vma.vm_pgoff << PAGE_SHIFT
    else:
        dev = ino = offset = 0
    line = (
        f"{vma.vm_start:08x}-{vma.vm_end:08x} {perms} {offset:08x} "
        f"{MAJOR(dev):02x}:{MINOR(dev):02x} {ino} "
    )
    name = vma_name(vma)
    if name is None:
        return line
    if vma.vm_file is not None:  # seq_file_path escapes a newline in a path, nothing else does
        name = name.replace("\n", "\\012")
    return line.ljust(pad_column(bits)) + " " + name


def format_maps(mm: MmStruct, bits: int = 64) -> str:
    """The whole ``/proc/PID/maps`` text of a model ``mm`` (64-bit layout unless ``bits=32``).

    Kernel: ``show_map`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L360>`_.
    """
    return "".join(format_vma(vma, bits) + "\n" for vma in mm.vmas)


@dataclass(frozen=True)
class MapsLine:
    """One parsed line of a real or model ``/proc/PID/maps``.

    Model helper: no kernel counterpart.
    """

    start: int
    end: int
    perms: str
    offset: int
    major: int
    minor: int
    inode: int
    path: str

    @property
    def size(self) -> int:
        """Length of the range in bytes."""
        return self.end - self.start


_LINE = re.compile(
    r"^(?P<start>[0-9a-f]+)-(?P<end>[0-9a-f]+) (?P<perms>[-r][-w][-x][sp]) "
    r"(?P<offset>[0-9a-f]+) (?P<major>[0-9a-f]+):(?P<minor>[0-9a-f]+) (?P<inode>\d+) ?"
    r"(?: *(?P<path>.*))?$"
)


def parse_maps(text: str) -> list[MapsLine]:
    """Parse ``/proc/PID/maps`` text (real or from :func:`format_maps`).

    Raises ``ValueError`` naming the line number for a line that is not in the format.

    Model helper: no kernel counterpart.
    """
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        m = _LINE.match(raw)
        if not m:
            raise ValueError(f"/proc maps line {number} is not in the maps format: {raw!r}")
        lines.append(
            MapsLine(
                int(m["start"], 16),
                int(m["end"], 16),
                m["perms"],
                int(m["offset"], 16),
                int(m["major"], 16),
                int(m["minor"], 16),
                int(m["inode"]),
                m["path"] or "",
            )
        )
    return lines


def read_maps(pid: int | str = "self") -> list[MapsLine]:
    """Parse the live ``/proc/<pid>/maps`` of this machine.

    Model helper: no kernel counterpart.
    """
    with open(f"/proc/{pid}/maps") as f:
        return parse_maps(f.read())


def read_smaps(pid: int | str = "self") -> list[dict[str, int | str]]:
    """A real ``/proc/PID/smaps``: per VMA ``start``, ``end``, every ``kB`` field as an int
    (``Rss``, ``Anonymous``, ...) and ``VmFlags`` as its text.

    Model helper: no kernel counterpart (this parses what ``show_smap`` prints).
    """
    out: list[dict[str, int | str]] = []
    current: dict[str, int | str] | None = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            head = _SMAPS_HEADER.match(line)
            if head:
                current = {"start": int(head[1], 16), "end": int(head[2], 16)}
                out.append(current)
                continue
            key, sep, value = line.partition(":")
            if current is None or not sep:
                continue
            value = value.strip()
            current[key] = int(value.split()[0]) if value.endswith(" kB") else value
    return out


def read_pagemap(addr: int, npages: int = 1, pid: int | str = "self") -> list[int]:
    """The real ``/proc/PID/pagemap`` entries of ``npages`` pages from ``addr`` (see ``PM_*``).

    Frame numbers read as 0 unless the reader has ``CAP_SYS_ADMIN`` (root).

    Model helper: no kernel counterpart (this reads what ``pagemap_read`` writes).
    """
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek((addr >> PAGE_SHIFT) * 8)
        raw = f.read(8 * npages)
    return list(struct.unpack(f"<{npages}Q", raw))


_SMAPS_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")


# --- /proc/PID/smaps and /proc/PID/pagemap ----------------------------------------------------
#: Two-letter codes of ``VmFlags:`` in smaps, by flag bit, in bit order (the x86-64 table,
#: without MPX and protection keys).
_VM_FLAG_MNEMONICS = (
    (VM_READ, "rd"), (VM_WRITE, "wr"), (VM_EXEC, "ex"), (VM_SHARED, "sh"), (VM_MAYREAD, "mr"),
    (VM_MAYWRITE, "mw"), (VM_MAYEXEC, "me"), (VM_MAYSHARE, "ms"), (VM_GROWSDOWN, "gd"),
    (VM_UFFD_MISSING, "um"), (VM_PFNMAP, "pf"), (VM_DENYWRITE, "dw"), (VM_UFFD_WP, "uw"),
    (VM_LOCKED, "lo"), (VM_IO, "io"), (VM_SEQ_READ, "sr"), (VM_RAND_READ, "rr"),
    (VM_DONTCOPY, "dc"), (VM_DONTEXPAND, "de"), (VM_ACCOUNT, "ac"), (VM_NORESERVE, "nr"),
    (VM_HUGETLB, "ht"), (VM_SYNC, "sf"), (VM_ARCH_1, "ar"), (VM_WIPEONFORK, "wf"),
    (VM_DONTDUMP, "dd"), (VM_SOFTDIRTY, "sd"), (VM_MIXEDMAP, "mm"), (VM_HUGEPAGE, "hg"),
    (VM_NOHUGEPAGE, "nh"), (VM_MERGEABLE, "mg"),
)

#: ``/proc/PID/pagemap`` entry bits (``fs/proc/task_mmu.c``): present, swapped, file-backed or
#: shared anonymous page, mapped exactly once, soft-dirty; the frame number is bits 0-54.
PM_PRESENT = 1 << 63
PM_SWAP = 1 << 62
PM_FILE = 1 << 61
PM_MMAP_EXCLUSIVE = 1 << 56
PM_SOFT_DIRTY = 1 << 55
PM_PFRAME_MASK = (1 << 55) - 1

#: The fields :func:`smap_counts` reports, in the order smaps prints them.
SMAPS_FIELDS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
                "Anonymous")


def show_smap_vma_flags(vma: Vma) -> str:
    """The ``VmFlags:`` value of a VMA in smaps: ``"rd ex mr mw me pf io de dd sd"``.

    The model never sets ``VM_ARCH_1`` (x86's ``VM_PAT``, "ar"), which a real x86 kernel adds
    to a VMA that ``remap_pfn_range`` mapped whole: it has no PAT.

    Kernel: ``show_smap_vma_flags`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L630>`_.
    """
    return " ".join(code for bit, code in _VM_FLAG_MNEMONICS if vma.vm_flags & bit)


def smap_counts(vma: Vma) -> dict[str, int]:
    """The memory counters smaps prints for one VMA, in kB (:data:`SMAPS_FIELDS`).

    Each present PTE whose ``vm_normal_page`` is a real page counts: ``Rss``; ``Anonymous`` for
    an anonymous page; a page used only here (page count 1) or mapped once is private, else
    shared; clean or dirty by the PTE's dirty bit or ``PG_dirty``; ``Pss`` divides a shared page
    by its map count. Raw frames (flash, special PTEs) and the zero page have no
    ``struct page`` to count, and a ``VM_PFNMAP`` VMA is not walked at all (``walk_page_test``),
    so its counters stay 0 even where page-cache pages are mapped.

    Kernel: ``smaps_account`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L457>`_.
    """
    counts = dict.fromkeys(SMAPS_FIELDS, 0)
    if vma.vm_flags & VM_PFNMAP:
        return counts
    mm = vma_mm(vma)
    pss = 0  # in bytes << 12, as PSS_SHIFT keeps the fraction
    for addr, pte in mm.pgd.range(vma.vm_start, vma.vm_end):
        page = vm_normal_page(vma, addr, pte)
        if page is None:
            continue
        dirty = pte_dirty(pte) or "PG_dirty" in page.flags
        counts["Rss"] += PAGE_SIZE
        if PageAnon(page):
            counts["Anonymous"] += PAGE_SIZE
        mapcount = page_mapcount(page)
        if page_count(page) == 1 or mapcount < 2:
            counts["Private_Dirty" if dirty else "Private_Clean"] += PAGE_SIZE
            pss += PAGE_SIZE << _PSS_SHIFT
        else:
            counts["Shared_Dirty" if dirty else "Shared_Clean"] += PAGE_SIZE
            pss += (PAGE_SIZE << _PSS_SHIFT) // mapcount
    out = {k: v >> 10 for k, v in counts.items()}
    out["Pss"] = pss >> (10 + _PSS_SHIFT)
    return out


_PSS_SHIFT = 12


def smaps_entry(vma: Vma) -> dict[str, int | str]:
    """One VMA as :func:`read_smaps` gives a real one: ``start``, ``end``, the counters of
    :func:`smap_counts` (kB) and ``VmFlags``.

    Kernel: ``show_smap`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L734>`_.
    """
    entry: dict[str, int | str] = {"start": vma.vm_start, "end": vma.vm_end}
    entry.update(smap_counts(vma))
    entry["VmFlags"] = show_smap_vma_flags(vma)
    return entry


def pagemap_entry(mm: MmStruct, addr: int, *, show_pfn: bool = True) -> int:
    """The 64-bit ``/proc/PID/pagemap`` entry of the page at ``addr`` (see ``PM_*``).

    A present PTE gives ``PM_PRESENT`` and, for a reader allowed to see frames (root:
    ``show_pfn``), its frame number; ``PM_FILE`` when the page is not anonymous,
    ``PM_MMAP_EXCLUSIVE`` when it is mapped once. Frames without a ``struct page`` (flash
    inserted with ``vm_insert_mixed``) are present with their frame number only. A
    ``VM_PFNMAP`` VMA is reported as a hole although its PTEs are there: the page walk skips
    such VMAs. A VMA with ``VM_SOFTDIRTY`` adds ``PM_SOFT_DIRTY`` to every entry, holes
    included; soft-dirty PTE bits are not modelled.

    Kernel: ``pte_to_pagemap_entry`` in `fs/proc/task_mmu.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/proc/task_mmu.c#L1257>`_.
    """
    vma = find_vma(mm, addr)
    if vma is None or vma.vm_start > addr:
        return 0
    soft = PM_SOFT_DIRTY if vma.vm_flags & VM_SOFTDIRTY else 0
    pte = mm.pgd.walk(addr)
    if vma.vm_flags & VM_PFNMAP or pte is None or not pte_present(pte):
        return soft  # pagemap_pte_hole, or an empty PTE
    entry = PM_PRESENT | soft | ((pte.pfn & PM_PFRAME_MASK) if show_pfn else 0)
    page = vm_normal_page(vma, addr, pte)
    if page is not None:
        if not PageAnon(page):
            entry |= PM_FILE
        if page_mapcount(page) == 1:
            entry |= PM_MMAP_EXCLUSIVE
    return entry
