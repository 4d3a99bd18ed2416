"""The reverse map: who maps a page (``mm/rmap.c`` @ v4.15), as far as the model needs it.

For every page the kernel keeps how many PTEs map it (``_mapcount``) and, through
``page->mapping``, where to look for them: the file's page cache for a file page, an
``anon_vma`` for an anonymous page. The model keeps the counts and the ``anon_vma`` links, not
the interval trees that let the kernel find every mapping of a page (no reclaim or migration
walks them here).

Kernel: `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c>`_.
"""

from __future__ import annotations

from mmlab.constants import VM_EXEC, VM_READ, VM_SOFTDIRTY, VM_WRITE
from mmlab.errors import KernelBug
from mmlab.mm_types import AnonVma, Vma, linear_page_index, vma_pages
from mmlab.physmem import Page
from mmlab.trace import traced

__all__ = [
    "anon_vma_prepare",
    "find_mergeable_anon_vma",
    "page_add_file_rmap",
    "page_add_new_anon_rmap",
    "page_remove_rmap",
]


def _anon_vma_compatible(a: Vma, b: Vma) -> bool:
    """``anon_vma_compatible``: ``b`` follows ``a`` in file order with the same file and flags
    (read/write/exec and soft-dirty may differ), so they could merge after an mprotect."""
    ignore = VM_READ | VM_WRITE | VM_EXEC | VM_SOFTDIRTY
    return (
        a.vm_end == b.vm_start
        and a.vm_file is b.vm_file
        and not ((a.vm_flags ^ b.vm_flags) & ~ignore)
        and b.vm_pgoff == a.vm_pgoff + vma_pages(a)
    )


def find_mergeable_anon_vma(vma: Vma) -> AnonVma | None:
    """A neighbour's ``anon_vma`` that ``vma`` may share, or ``None``.

    The next VMA is tried first, then the previous one; each must be compatible (see
    ``anon_vma_compatible``). Sharing keeps such neighbours mergeable later. Without fork every
    anon_vma has one VMA chain, so the kernel's "single chain" condition always holds. The
    kernel keeps this helper in ``mm/mmap.c``; the model keeps it beside its only caller, below
    :mod:`mmlab.mmap`.

    Kernel: ``find_mergeable_anon_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1255>`_.
    """
    mm = vma.vm_mm
    if mm is None:
        return None
    nxt, prev = mm.mm_rb.next(vma), mm.mm_rb.prev(vma)
    if nxt is not None and nxt.anon_vma is not None and _anon_vma_compatible(vma, nxt):
        return nxt.anon_vma
    if prev is not None and prev.anon_vma is not None and _anon_vma_compatible(prev, vma):
        return prev.anon_vma
    return None


@traced
def anon_vma_prepare(vma: Vma) -> int:
    """Give ``vma`` an ``anon_vma`` before its first anonymous page; returns 0.

    ``__anon_vma_prepare`` first tries to share a neighbour's (:func:`find_mergeable_anon_vma`),
    else allocates a new one (allocation never fails in the model).

    Kernel: ``__anon_vma_prepare`` in `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c#L174>`_.
    """
    if vma.anon_vma is not None:
        return 0
    shared = find_mergeable_anon_vma(vma)
    if shared is not None:
        vma.anon_vma = shared
        return 0
    serial = vma.vm_mm.system.next_anon_vma_serial() if vma.vm_mm is not None else 0
    vma.anon_vma = AnonVma(serial)
    return 0


def page_add_file_rmap(page: Page) -> None:
    """One more PTE maps this page-cache page.

    Kernel: ``page_add_file_rmap`` in `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c#L1177>`_.
    """
    page._mapcount += 1


def page_add_new_anon_rmap(page: Page, vma: Vma, address: int) -> None:
    """First mapping of a fresh anonymous page.

    Sets ``_mapcount`` to 0 (one mapping), ``mapping`` to the VMA's anon_vma and ``index`` to
    the page's linear index in the VMA; the page becomes swap-backed.

    Kernel: ``page_add_new_anon_rmap`` in `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c#L1149>`_.
    """
    if vma.anon_vma is None:
        raise KernelBug("page_add_new_anon_rmap: VMA has no anon_vma (VM_BUG_ON_VMA)")
    page._mapcount = 0
    page.mapping = vma.anon_vma
    page.index = linear_page_index(vma, address)
    page.flags.add("PG_swapbacked")


def page_remove_rmap(page: Page) -> None:
    """One PTE less maps this page.

    Kernel: ``page_remove_rmap`` in `mm/rmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/rmap.c#L1295>`_.
    """
    page._mapcount -= 1
