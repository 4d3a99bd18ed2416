"""Lab 06: a library's line in /proc/PID/maps, the library mapped the way a dynamic loader does.

On 5 October 2017 Chris Brandt booted his board under the first ``VM_MIXEDMAP`` version of the
cramfs patch and compared ``/proc/self/maps`` with what v4 (the fault-time split) had shown:
libc's read+exec line had carried a flash address in its offset column, and now read
``00000000`` (notebooks/review-sources.md). This lab works out why, on the model.

The program: the dynamic loader maps the whole library read+exec and private (one ``mmap`` of
``file_pages`` pages from offset 0), then maps the library's data part read+write over the end
of that mapping (``MAP_FIXED``, pages ``data_from`` to the end; none when ``data_from`` is
``file_pages``), and the program then reads every page that is still read+exec. The learner
writes ``text_offsets(strategy, file_pages, xip_pages, data_from, flash_address)``: the offset
column of the library's read+exec lines in ``/proc/PID/maps`` afterwards, as a list of numbers
in address order. ``xip_pages`` is how many pages from the file's start cramfs can map in place
(the run of direct blocks, less a shared last page); ``flash_address`` is the physical address
of page 0 on flash (``None`` when ``xip_pages`` is 0). :func:`check` compares the learner's
answers with what the model's ``mmap`` calls really left, under the three strategies of chapter
8, for every file of two images and every place the data mapping can start.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from mmlab.constants import (
    MAP_FIXED,
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
)
from mmlab.fs_types import File as FsFile
from mmlab.labs.tail_check import lab_image
from mmlab.mm import MM
from mmlab.procfs import format_vma
from mmlab.scenarios import scenario_image
from mmlab.system import System
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.xip import (
    CramfsInode,
    CramfsSuperBlock,
    cramfs_get_block_range,
    cramfs_last_page_is_shared,
    mount,
)

__all__ = ["STRATEGIES", "LoadedLibrary", "XipFacts", "cases", "check", "load_library",
           "xip_facts"]

#: The strategies the check runs: the three columns of chapter 8.
STRATEGIES = ("refuse", "split", "mixedmap")


class LoadedLibrary:
    """A library mapped as a dynamic loader maps it, on a fresh machine.

    ``maps`` holds the ``/proc/PID/maps`` lines of the library after the loader's two ``mmap``
    calls and the program's reads; ``text_offsets`` the offset column of its read+exec lines;
    ``log`` the kernel log lines the run added.

    Model helper: no kernel counterpart (a user-space program: ``ld.so``'s ``mmap`` calls).
    """

    def __init__(self, path: str, data_from: int | None = None, strategy: str = "mixedmap",
                 image: bytes | None = None) -> None:
        self.sb = mount(scenario_image() if image is None else image, None, strategy,
                        system=System())
        self.path = path
        self.file = self.sb.open(path)
        inode = self.file.f_inode
        assert isinstance(inode, CramfsInode)
        self.file_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
        if data_from is None:
            data_from = self.file_pages
        if not 1 <= data_from <= self.file_pages:
            raise ValueError(f"data_from={data_from}: the data mapping must start on a page "
                             f"from 1 to {self.file_pages} of {path} ({self.file_pages} pages; "
                             f"{self.file_pages} means no data mapping)")
        self.data_from = data_from
        self.strategy = strategy
        log_start = len(self.sb.system.dmesg)
        self.mm = MM(self.sb.system)
        self.address = load_library(self.mm, self.file, self.file_pages, data_from)
        self.log = self.sb.system.dmesg[log_start:]

    @property
    def vmas(self) -> list:
        """The library's VMAs, in address order."""
        return [v for v in self.mm if v.vm_file is not None
                and v.vm_file.f_inode is self.file.f_inode]

    @property
    def maps(self) -> list[str]:
        """The library's ``/proc/PID/maps`` lines."""
        return [format_vma(v) for v in self.vmas]

    @property
    def text_offsets(self) -> list[int]:
        """The offset column (``vm_pgoff << PAGE_SHIFT``) of each read+exec line."""
        return [v.vm_pgoff << PAGE_SHIFT for v in self.vmas if v.vm_flags & VM_EXEC]


def load_library(mm: MM, file: FsFile, file_pages: int, data_from: int) -> int:
    """Map ``file`` as a dynamic loader does, then read every read+exec page; return the address.

    One private read+exec ``mmap`` of the whole file, then (when ``data_from < file_pages``)
    a private read+write ``MAP_FIXED`` ``mmap`` of pages ``data_from`` to the end over it; then
    one byte of each page still read+exec is read, as a program running its code would.

    Model helper: no kernel counterpart (glibc's ``_dl_map_segments`` makes the same two calls
    for a library of one text and one data segment; it also maps the ``.bss`` and may
    ``mprotect`` a gap, which this lab leaves out).
    """
    address = mm.mmap(0, file_pages * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, file, 0)
    if data_from < file_pages:
        mm.mmap(address + data_from * PAGE_SIZE, (file_pages - data_from) * PAGE_SIZE,
                PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, file, data_from * PAGE_SIZE)
    for page in range(data_from):
        mm.read(address + page * PAGE_SIZE, 1)
    return address


class XipFacts(NamedTuple):
    """A file's inputs to ``text_offsets``, shown with the flash address in hex.

    Model helper: no kernel counterpart.
    """

    file_pages: int
    xip_pages: int
    flash_address: int | None

    def __repr__(self) -> str:
        flash = "None" if self.flash_address is None else f"{self.flash_address:#x}"
        return (f"XipFacts(file_pages={self.file_pages}, xip_pages={self.xip_pages}, "
                f"flash_address={flash})")


def xip_facts(sb: CramfsSuperBlock, path: str) -> XipFacts:
    """``(file_pages, xip_pages, flash_address)`` of a file, as the lab's inputs give them.

    ``xip_pages``: how many pages from page 0 v4.15's ``cramfs_physmem_mmap`` maps in place for
    a mapping of the whole file (the run of ``cramfs_get_block_range``, one less when the run
    reaches the last page and ``cramfs_last_page_is_shared``); ``flash_address``: the physical
    address of page 0's block, ``None`` when nothing can be mapped. (Each block pointer that
    breaks the run adds a "range:" line to the kernel log, as in the driver.)

    Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
    """
    inode = sb.open(path).f_inode
    assert isinstance(inode, CramfsInode)
    file_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    offset, run = cramfs_get_block_range(inode, 0, file_pages)
    if not offset:
        return XipFacts(file_pages, 0, None)
    if run == file_pages and cramfs_last_page_is_shared(inode):
        run -= 1
    return XipFacts(file_pages, run, sb.linear_phys_addr + offset if run else None)


def _files(image: bytes) -> list[str]:
    sb = mount(image, None, "mixedmap", system=System())
    assert sb.image is not None
    return sorted("/" + e.path for e in sb.image.walk() if e.is_file())


def cases(strategies: Sequence[str] = STRATEGIES) -> list[tuple[tuple, list[int]]]:
    """Every file of the scenario image and of lab 02's image, every page the data mapping can
    start on (``data_from`` from 1 to the file's pages), under each strategy: the learner's
    inputs and the offsets the model's ``/proc/PID/maps`` shows.

    Model helper: no kernel counterpart.
    """
    out: list[tuple[tuple, list[int]]] = []
    for image in (scenario_image(), lab_image()):
        facts_sb = mount(image, None, "mixedmap", system=System())
        for path in _files(image):
            file_pages, xip_pages, flash_address = xip_facts(facts_sb, path)
            for data_from in range(1, file_pages + 1):
                for strategy in strategies:
                    lib = LoadedLibrary(path, data_from, strategy, image)
                    args = (strategy, file_pages, xip_pages, data_from, flash_address)
                    out.append((args, lib.text_offsets))
    return out


def check(fn: Callable[[str, int, int, int, int | None], list[int]]) -> CheckResult:
    """Check a learner's ``text_offsets`` against the model's runs of :func:`cases`. The
    report gives the flash address and the offsets in hex, the counts of pages in decimal.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="text_offsets")
