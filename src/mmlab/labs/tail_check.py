"""Lab 02: where must the last-page scan start? The seed's tail check against v4.15's.

Before mapping a file's last page from flash, the driver scans the bytes of that flash page
after the file's end: any non-zero byte belongs to something else, and the page must not be
mapped. The learner writes ``tail_start(offset, pgoff, pages, max_pages, i_size)``: the image
offset where the scan starts, given ``offset`` (the image offset of block ``pgoff``, as
``cramfs_get_block_range`` returns it) and ``pages`` (the contiguous run from there, which
reaches the file's last block whenever the scan runs), or ``None`` when there is nothing to
scan (the file ends on a page boundary). :func:`check` compares with the last block's own
start plus the partial size, which is what v4.15's ``cramfs_last_page_is_shared`` scans, for
every ``pgoff`` of several files.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.cramfs.elf import PF_R, PF_X, make_elf
from mmlab.cramfs.layout import CRAMFS_BLK_DIRECT_PTR_SHIFT, CRAMFS_BLK_FLAGS
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.errors import KernelBug
from mmlab.scenarios import SCENARIO_XIP_GLOBS, scenario_image
from mmlab.system import System
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.xip import (
    CramfsInode,
    CramfsSuperBlock,
    cramfs_get_block_range,
    mount,
    seed_last_page_is_shared,
)

__all__ = ["TailCase", "cases", "check", "lab_image", "last_block_scan_start", "tail_cases",
           "seed_forms"]

#: Files of :func:`lab_image`: path -> size in bytes (all text, all XIP).
LAB_FILES = (
    ("bin/tiny", PAGE_SIZE + 10),
    ("bin/whole", 4 * PAGE_SIZE),
    ("lib/libmid.so", 3 * PAGE_SIZE + 2000),
    ("lib/libbig.so", 6 * PAGE_SIZE + 4000),
    ("lib/libone.so", 700),
)


def lab_image() -> bytes:
    """A second image for the lab: files of several sizes, every block stored for XIP.

    Model helper: no kernel counterpart.
    """
    dirs: dict[str, dict[str, File]] = {}
    for path, size in LAB_FILES:
        top, name = path.split("/")
        body = make_elf([(PF_R | PF_X, 0, size)], size, fill=name.encode() + b" text ")
        dirs.setdefault(top, {})[name] = File(body, mode=0o755)
    tree = Dir({top: Dir(files) for top, files in dirs.items()})
    return build_image(tree, endian="little", name="tail-lab", xip=SCENARIO_XIP_GLOBS)


def last_block_scan_start(inode: CramfsInode) -> int | None:
    """Where v4.15 starts the scan: the last block's own image offset plus the partial size.

    ``None`` when the file's size is a page multiple (nothing is scanned).

    Kernel: ``cramfs_last_page_is_shared`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L336>`_.
    """
    partial = inode.i_size % PAGE_SIZE
    if not partial:
        return None
    ptr = inode.sb.block_pointer(inode, inode.i_size >> PAGE_SHIFT)
    return ((ptr & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF) << CRAMFS_BLK_DIRECT_PTR_SHIFT) + partial


@dataclass(frozen=True)
class TailCase:
    """One mapping that reaches the file's last block: the tail check's inputs and its answer.

    Model helper: no kernel counterpart.
    """

    image: str
    path: str
    offset: int
    pgoff: int
    pages: int
    max_pages: int
    i_size: int
    expected: int | None


def _mounted() -> list[tuple[str, CramfsSuperBlock]]:
    out = []
    for name, image in (("scenarios", scenario_image()), ("tail-lab", lab_image())):
        out.append((name, mount(image, None, "mixedmap", system=System())))
    return out


def _files(sb: CramfsSuperBlock) -> list[str]:
    assert sb.image is not None
    return sorted("/" + e.path for e in sb.image.walk() if e.is_file())


def tail_cases() -> list[TailCase]:
    """Every ``pgoff`` of every XIP file whose run from ``pgoff`` reaches the last block.

    Model helper: no kernel counterpart.
    """
    out: list[TailCase] = []
    for image, sb in _mounted():
        for path in _files(sb):
            file = sb.open(path)
            inode = file.f_inode
            assert isinstance(inode, CramfsInode)
            max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
            for pgoff in range(max_pages):
                offset, pages = cramfs_get_block_range(inode, pgoff, max_pages - pgoff)
                if offset and pgoff + pages == max_pages:
                    out.append(TailCase(image, path, offset, pgoff, pages, max_pages,
                                        inode.i_size, last_block_scan_start(inode)))
    return out


def cases() -> list[tuple[tuple, object]]:
    """:func:`tail_cases` as ``check_function`` cases.

    Model helper: no kernel counterpart.
    """
    return [((c.offset, c.pgoff, c.pages, c.max_pages, c.i_size), c.expected)
            for c in tail_cases()]


def check(fn: Callable[[int, int, int, int, int], int | None]) -> CheckResult:
    """Check a learner's ``tail_start`` on every case of :func:`tail_cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="tail_start", hex_ints=True)


def seed_forms(path: str = "/lib/ld-tail.so") -> list[str]:
    """For each ``pgoff`` of a file of the scenario image: where each seed form scans.

    One line per ``pgoff`` whose run reaches the last block: the offset v4.15 scans, then what
    :func:`mmlab.xip.seed_last_page_is_shared` scans in the forms ``"pages-1"`` and
    ``"max_pages-1"`` (an oops is reported as such).

    Patch: the hunk ``data += (max_pages - 1) * PAGE_SIZE + partial`` of the fault-time split
    (LKML, 2017-08-16), never merged.
    """
    sb = mount(scenario_image(), None, "split", system=System())
    inode = sb.open(path).f_inode
    assert isinstance(inode, CramfsInode)
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    right = last_block_scan_start(inode)
    lines = [f"{path}: {inode.i_size} bytes, {max_pages} pages; v4.15 scans from "
             f"{right if right is None else hex(right)}"]
    for pgoff in range(max_pages):
        offset, pages = cramfs_get_block_range(inode, pgoff, max_pages - pgoff)
        if not offset or pgoff + pages != max_pages:
            continue
        seen = []
        for form in ("pages-1", "max_pages-1"):
            try:
                _shared, start = seed_last_page_is_shared(inode, offset, pages, max_pages, form)
                seen.append(f"{form}: {start:#x}")
            except KernelBug as bug:
                seen.append(f"{form}: oops ({bug})")
        lines.append(f"  vm_pgoff={pgoff}: " + ", ".join(seen))
    return lines
