"""VMA lookups of ``include/linux/mm.h`` @ v6.12.118: the maple tree's API (v6.1 on).

Since v6.1 (:data:`mmlab.version.MAPLE_TREE`) a process's VMAs live in one maple tree,
``mm->mm_mt``, a B-tree of ranges: every address of the address space maps to the VMA that
covers it or to nothing (a gap). The ``vm_next``/``vm_prev`` list, the rbtree and the per-thread
VMA cache of v4.15 are gone; code walks the VMAs with a ``vma_iterator``. What changes for a
reader of the fault path is the meaning of each lookup, which this module gives on top of the
model's VMA store (:class:`~mmlab.vmatree.VmaTree`, whose answers are the tree's):

- :func:`~mmlab.mmap.find_vma` keeps its v4.15 meaning (the first VMA that *ends above* the
  address, which may start above it): ``mt_find`` from the address to the top;
- :func:`vma_lookup` and :func:`mas_walk` give the VMA that *contains* the address, or None for
  an address in a gap (``mtree_load``, ``mas_walk``). :func:`~mmlab.memory_fault.lock_vma_under_rcu`
  uses the latter, so a fault in a gap never gets a VMA lock: it goes to ``mmap_lock``, where
  a stack below the gap can still grow;
- :func:`find_vma_intersection` gives the first VMA overlapping a range;
- :class:`VmaIterator` walks them in order (``vma_next``, ``vma_find``, ``vma_prev``,
  ``for_each_vma``).

Models, in `include/linux/mm.h @ v6.12.118
<https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h>`_: ``vma_find`` L996,
``vma_next`` L1001, ``vma_prev`` L1017, ``for_each_vma`` L1061, ``vma_lookup`` L3502; in
`include/linux/mm_types.h <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h>`_:
``struct vma_iterator`` L1172; in `mm/mmap.c <https://elixir.bootlin.com/linux/v6.12.118/source/mm/mmap.c>`_:
``find_vma_intersection`` L955; in `lib/maple_tree.c
<https://elixir.bootlin.com/linux/v6.12.118/source/lib/maple_tree.c>`_: ``mas_walk`` L4949.

Where the model simplifies: no RCU (a lookup is one step of the model's threads), no
preallocation of nodes, no ``mas_pause``/``mas_reset``; the iterator keeps only its position.
"""

from __future__ import annotations

from collections.abc import Iterator

from mmlab.mm_types import MmStruct, Vma

__all__ = ["VmaIterator", "find_vma_intersection", "for_each_vma", "mas_walk", "vma_lookup"]


def vma_lookup(mm: MmStruct, addr: int) -> Vma | None:
    """The VMA that contains ``addr``, or None: unlike ``find_vma``, never the next one up.

    Kernel: ``vma_lookup`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L3502>`_.
    """
    vma = mm.mm_rb.find(addr)
    return vma if vma is not None and vma.vm_start <= addr else None


def mas_walk(mm: MmStruct, addr: int) -> Vma | None:
    """The entry of the maple tree at ``addr``: the VMA that covers it, None in a gap.

    What :func:`~mmlab.memory_fault.lock_vma_under_rcu` looks a faulting address up with (a
    ``ma_state`` set to ``[address, address]``). Same answer as :func:`vma_lookup`.

    Kernel: ``mas_walk`` in `lib/maple_tree.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/lib/maple_tree.c#L4949>`_.
    """
    return vma_lookup(mm, addr)


def find_vma_intersection(mm: MmStruct, start: int, end: int) -> Vma | None:
    """The first VMA that overlaps ``[start, end)``, or None (``start < end`` assumed).

    Kernel: ``find_vma_intersection`` in `mm/mmap.c @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/mm/mmap.c#L955>`_.
    """
    vma = mm.mm_rb.find(start)
    return vma if vma is not None and vma.vm_start < end else None


class VmaIterator:
    """``struct vma_iterator`` (``VMA_ITERATOR(vmi, mm, addr)``): a position in the VMAs.

    ``vma_next`` returns the next VMA at or above the position and moves past it; ``vma_find``
    does so only for a VMA that starts below ``max``; ``vma_prev`` returns the VMA before the
    position and moves onto it. Changing the VMAs while iterating is allowed, as in the kernel
    (the position is an address, not a node).

    Kernel: ``struct vma_iterator`` in `include/linux/mm_types.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm_types.h#L1172>`_.
    """

    def __init__(self, mm: MmStruct, addr: int = 0) -> None:
        self.mm = mm
        self.index = addr  # mas.index: where the next search starts
        self._current: Vma | None = None

    def __repr__(self) -> str:
        return f"VmaIterator(at {self.index:#x})"

    def vma_find(self, max_addr: int) -> Vma | None:
        """The next VMA that starts below ``max_addr`` (exclusive), or None.

        Kernel: ``vma_find`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L996>`_.
        """
        vma = self.mm.mm_rb.find(self.index)
        if vma is None or vma.vm_start >= max_addr:
            return None
        self.index = vma.vm_end
        self._current = vma
        return vma

    def vma_next(self) -> Vma | None:
        """The next VMA, or None past the last.

        Kernel: ``vma_next`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L1001>`_.
        """
        vma = self.mm.mm_rb.find(self.index)
        if vma is not None:
            self.index = vma.vm_end
            self._current = vma
        return vma

    def vma_prev(self) -> Vma | None:
        """The VMA before the one the iterator is on (before its position if on none).

        Kernel: ``vma_prev`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L1017>`_.
        """
        below = self._current.vm_start if self._current is not None else self.index
        vma = self.mm.mm_rb.find_prev(below)
        if vma is not None and vma.vm_end > below:
            vma = self.mm.mm_rb.prev(vma)
        if vma is not None:
            self._current = vma
            self.index = vma.vm_end
        return vma


def for_each_vma(vmi: VmaIterator) -> Iterator[Vma]:
    """``for_each_vma(vmi, vma)``: every VMA from the iterator's position up.

    Kernel: ``for_each_vma`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L1061>`_.
    """
    while (vma := vmi.vma_next()) is not None:
        yield vma
