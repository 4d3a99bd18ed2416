"""Lab 06: what v4.15's ``cramfs_physmem_mmap`` decides for a mapping, and with which call.

The learner writes ``mixedmap_plan(writable, pgoff, vma_pages, max_pages, run, last_shared)``
returning ``(how, pages)``: ``how`` is ``"remap_pfn_range"`` (the whole VMA mapped at once),
``"vm_insert_mixed"`` (part of it, page by page, in a ``VM_MIXEDMAP`` VMA) or ``"page cache"``
(a bail-out: nothing mapped at ``mmap`` time), and ``pages`` how many pages are mapped from
flash. ``run`` is what ``cramfs_get_block_range`` says (the contiguous direct blocks from
``pgoff``, at most ``min(vma_pages, max_pages - pgoff)``; 0 when block ``pgoff`` does not
qualify or ``pgoff`` is past the file) and ``last_shared`` what ``cramfs_last_page_is_shared``
says. :func:`check` compares with what the model's ``mmap`` really did to the VMA, for many
mappings of the files of two images.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

from collections.abc import Callable

from mmlab.constants import (
    MAP_PRIVATE,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
)
from mmlab.labs.tail_check import lab_image
from mmlab.mm import MM
from mmlab.scenarios import scenario_image
from mmlab.system import System
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.xip import (
    CramfsInode,
    cramfs_get_block_range,
    cramfs_last_page_is_shared,
    mount,
    ram_pages_of,
)

__all__ = ["cases", "check", "observed"]


def observed(mm: MM, address: int) -> tuple[str, int]:
    """What an ``mmap`` at ``address`` left: the call that mapped it, and pages on flash.

    ``VM_MIXEDMAP`` means ``vm_insert_mixed``; ``VM_PFNMAP`` alone ``remap_pfn_range``; neither
    a bail-out to the page cache. Pages are the present PTEs that point into flash.

    Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
    """
    vma = mm.find_vma(address)
    assert vma is not None
    flash = ram_pages_of(vma)[0]
    if vma.vm_flags & VM_MIXEDMAP:
        return "vm_insert_mixed", flash
    if vma.vm_flags & VM_PFNMAP:
        return "remap_pfn_range", flash
    return "page cache", flash


def cases() -> list[tuple[tuple, object]]:
    """Every file of both images, every start page up to one past the end, several lengths,
    read+exec and read+write: the learner's inputs, and what the model's ``mmap`` did.

    Model helper: no kernel counterpart.
    """
    out: list[tuple[tuple, object]] = []
    for image in (scenario_image(), lab_image()):
        sb = mount(image, None, "mixedmap", system=System())
        assert sb.image is not None
        paths = sorted("/" + e.path for e in sb.image.walk() if e.is_file())
        for path in paths:
            file = sb.open(path)
            inode = file.f_inode
            assert isinstance(inode, CramfsInode)
            max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
            last_shared = cramfs_last_page_is_shared(inode)
            for pgoff in range(max_pages + 1):
                for vma_pages in sorted({1, max(1, max_pages - pgoff), max_pages - pgoff + 1}):
                    for writable in (False, True):
                        if writable and (pgoff or vma_pages != max_pages):
                            continue  # one writable mapping per file is enough
                        run = 0
                        if pgoff < max_pages:
                            offset, n = cramfs_get_block_range(
                                inode, pgoff, min(vma_pages, max_pages - pgoff))
                            run = n if offset else 0
                        prot = PROT_READ | (PROT_WRITE if writable else PROT_EXEC)
                        mm = MM(sb.system)
                        address = mm.mmap(0, vma_pages * PAGE_SIZE, prot, MAP_PRIVATE, file,
                                          pgoff * PAGE_SIZE)
                        args = (writable, pgoff, vma_pages, max_pages, run, last_shared)
                        out.append((args, observed(mm, address)))
    return out


def check(fn: Callable[[bool, int, int, int, int, bool], tuple[str, int]]) -> CheckResult:
    """Check a learner's ``mixedmap_plan`` against the model's ``mmap`` on :func:`cases`.

    Model helper: no kernel counterpart.
    """
    return check_function(fn, cases(), name="mixedmap_plan")
