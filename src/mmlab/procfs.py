"""``/proc/PID/maps`` (``fs/proc/task_mmu.c`` @ v4.15): print a model mm as the kernel does.

Also reads real ones (:func:`read_maps`, :func:`parse_maps`).

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
from dataclasses import dataclass

from mmlab.constants import PAGE_SHIFT, VM_EXEC, VM_MAYSHARE, VM_READ, VM_WRITE
from mmlab.fs_types import MAJOR, MINOR
from mmlab.mm_types import MmStruct, Vma

__all__ = [
    "MapsLine",
    "format_maps",
    "format_vma",
    "pad_column",
    "parse_maps",
    "read_maps",
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
