"""The VMAs of one mm in address order: the model's ``mm->mm_rb`` (``mm/mmap.c`` @ v4.15).

At v4.15 the kernel keeps VMAs twice: in a red-black tree (``mm->mm_rb``) for O(log n) lookups
and in a sorted linked list (``vm_next``/``vm_prev``) for walks. Each rbtree node also caches
``rb_subtree_gap``, the largest free gap in its subtree, so ``get_unmapped_area`` finds a hole
without visiting every VMA. Since v6.1 a maple tree does both jobs (commit 763ecb035029 "mm:
remove the vma linked list").

This model uses a two-level sorted list (chunks of at most ``CHUNK`` VMAs): lookups are two
binary searches, inserts move at most one chunk, and each chunk caches its largest inner gap so
the top-down gap search skips whole chunks. It behaves like the kernel's structures (same order,
same answers) with a simpler shape. The mm code changes a VMA's bounds only through
:meth:`VmaTree.set_bounds`, which keeps the search keys right.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["CHUNK", "Ranged", "VmaTree"]

CHUNK = 1024


class Ranged(Protocol):
    """What the tree needs of a VMA: its bounds (``vm_end`` exclusive).

    Model helper: no kernel counterpart.
    """

    vm_start: int
    vm_end: int


Vma = TypeVar("Vma", bound=Ranged)


class VmaTree(Generic[Vma]):
    """VMAs sorted by address, never overlapping (``mm_rb`` and the ``vm_next`` list in one).

    Kernel: ``struct mm_struct`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L356>`_.
    """

    def __init__(self) -> None:
        self._chunks: list[list[Vma]] = []
        self._starts: list[list[int]] = []  # vm_start of each VMA, per chunk
        self._firsts: list[int] = []  # vm_start of the first VMA of each chunk
        self._gaps: list[int | None] = []  # largest gap between neighbours inside a chunk
        self._len = 0

    # ---- lookups --------------------------------------------------------------------------
    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[Vma]:
        for chunk in self._chunks:
            yield from chunk

    def __reversed__(self) -> Iterator[Vma]:
        for chunk in reversed(self._chunks):
            yield from reversed(chunk)

    def _locate(self, addr: int) -> tuple[int, int] | None:
        """(chunk, index) of the first VMA with ``vm_end > addr``, or None."""
        if not self._chunks:
            return None
        ci = bisect_right(self._firsts, addr) - 1
        if ci < 0:
            return 0, 0
        i = bisect_right(self._starts[ci], addr) - 1
        chunk = self._chunks[ci]
        if i >= 0 and chunk[i].vm_end > addr:
            return ci, i
        i += 1
        if i < len(chunk):
            return ci, i
        if ci + 1 < len(self._chunks):
            return ci + 1, 0
        return None

    def find(self, addr: int) -> Vma | None:
        """The first VMA that ends above ``addr`` (``find_vma``'s contract).

        Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
        """
        pos = self._locate(addr)
        return None if pos is None else self._chunks[pos[0]][pos[1]]

    def _position(self, vma: Vma) -> tuple[int, int]:
        pos = self._locate(vma.vm_start)
        if pos is None or self._chunks[pos[0]][pos[1]] is not vma:
            raise LookupError(f"VMA {vma!r} is not in this mm")
        return pos

    def next(self, vma: Vma) -> Vma | None:
        """The VMA after ``vma`` (``vma->vm_next``).

        Model helper: no kernel counterpart (the ``vm_next`` pointer at v4.15).
        """
        ci, i = self._position(vma)
        if i + 1 < len(self._chunks[ci]):
            return self._chunks[ci][i + 1]
        return self._chunks[ci + 1][0] if ci + 1 < len(self._chunks) else None

    def prev(self, vma: Vma) -> Vma | None:
        """The VMA before ``vma`` (``vma->vm_prev``).

        Model helper: no kernel counterpart (the ``vm_prev`` pointer at v4.15).
        """
        ci, i = self._position(vma)
        if i > 0:
            return self._chunks[ci][i - 1]
        return self._chunks[ci - 1][-1] if ci > 0 else None

    def first(self) -> Vma | None:
        """The lowest VMA (``mm->mmap``).

        Model helper: no kernel counterpart (``mm->mmap``, the head of the list).
        """
        return self._chunks[0][0] if self._chunks else None

    def last(self) -> Vma | None:
        """The highest VMA.

        Model helper: no kernel counterpart.
        """
        return self._chunks[-1][-1] if self._chunks else None

    def find_prev(self, addr: int) -> Vma | None:
        """The last VMA that starts below ``addr`` (the ``pprev`` of ``find_vma_prev``).

        Kernel: ``find_vma_prev`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2168>`_.
        """
        if not self._chunks:
            return None
        ci = bisect_right(self._firsts, addr - 1) - 1
        if ci < 0:
            return None
        i = bisect_right(self._starts[ci], addr - 1) - 1
        return self._chunks[ci][i]

    # ---- changes --------------------------------------------------------------------------
    # Each chunk caches the largest "gap before" of its VMAs: the free space between a VMA and
    # the one below it (the first VMA of all has none). Like the kernel's rb_subtree_gap, the
    # cache is kept up to date by every change, so the gap search can skip whole chunks.

    def _gap_before(self, ci: int, i: int) -> int:
        if i > 0:
            return self._chunks[ci][i].vm_start - self._chunks[ci][i - 1].vm_end
        if ci > 0:
            return self._chunks[ci][0].vm_start - self._chunks[ci - 1][-1].vm_end
        return 0

    def _successor(self, ci: int, i: int) -> tuple[int, int] | None:
        if i + 1 < len(self._chunks[ci]):
            return ci, i + 1
        return (ci + 1, 0) if ci + 1 < len(self._chunks) else None

    def _gap_changed(self, ci: int, old: int, new: int) -> None:
        cached = self._gaps[ci]
        if cached is None:
            return
        if new >= cached:
            self._gaps[ci] = new
        elif old == cached and new < old:
            self._gaps[ci] = None  # the largest gap shrank: recount lazily

    def insert(self, vma: Vma) -> None:
        """Link ``vma`` in address order (``__vma_link_list`` + ``__vma_link_rb``).

        Kernel: ``__vma_link_rb`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L552>`_.
        """
        if not self._chunks:
            self._chunks.append([vma])
            self._starts.append([vma.vm_start])
            self._firsts.append(vma.vm_start)
            self._gaps.append(0)
            self._len = 1
            return
        ci = max(bisect_right(self._firsts, vma.vm_start) - 1, 0)
        starts = self._starts[ci]
        i = bisect_right(starts, vma.vm_start)
        after = self._successor(ci, i - 1) if i > 0 else (ci, 0)
        old_after = self._gap_before(*after) if after is not None else 0
        self._chunks[ci].insert(i, vma)
        starts.insert(i, vma.vm_start)
        self._firsts[ci] = starts[0]
        self._len += 1
        self._gap_changed(ci, 0, self._gap_before(ci, i))
        succ = self._successor(ci, i)
        if succ is not None:
            self._gap_changed(succ[0], old_after, self._gap_before(*succ))
        if len(starts) > CHUNK:
            self._split_chunk(ci)

    def _split_chunk(self, ci: int) -> None:
        half = len(self._chunks[ci]) // 2
        chunk, starts = self._chunks[ci], self._starts[ci]
        self._chunks[ci : ci + 1] = [chunk[:half], chunk[half:]]
        self._starts[ci : ci + 1] = [starts[:half], starts[half:]]
        self._firsts[ci : ci + 1] = [starts[0], starts[half]]
        self._gaps[ci : ci + 1] = [None, None]

    def remove(self, vma: Vma) -> None:
        """Unlink ``vma`` (``__vma_unlink``).

        Kernel: ``__vma_unlink_common`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L641>`_.
        """
        ci, i = self._position(vma)
        own_gap = self._gap_before(ci, i)
        succ = self._successor(ci, i)
        old_succ = self._gap_before(*succ) if succ is not None else 0
        del self._chunks[ci][i]
        del self._starts[ci][i]
        self._len -= 1
        if not self._chunks[ci]:
            del self._chunks[ci], self._starts[ci], self._firsts[ci], self._gaps[ci]
            if ci < len(self._chunks):
                self._gaps[ci] = None
            return
        self._firsts[ci] = self._starts[ci][0]
        self._gap_changed(ci, own_gap, 0)
        if succ is not None:
            sci = ci if succ[0] == ci else succ[0]
            si = i if succ[0] == ci else 0
            self._gap_changed(sci, old_succ, self._gap_before(sci, si))

    def set_bounds(self, vma: Vma, start: int, end: int) -> None:
        """Move ``vma``'s bounds; the caller keeps the set non-overlapping.

        Kernel: ``vma_gap_update`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L404>`_.
        """
        ci, i = self._position(vma)
        old_own = self._gap_before(ci, i)
        succ = self._successor(ci, i)
        old_succ = self._gap_before(*succ) if succ is not None else 0
        vma.vm_start = start
        vma.vm_end = end
        self._starts[ci][i] = start
        if i == 0:
            self._firsts[ci] = start
        self._gap_changed(ci, old_own, self._gap_before(ci, i))
        if succ is not None:
            self._gap_changed(succ[0], old_succ, self._gap_before(*succ))

    # ---- gap search -----------------------------------------------------------------------
    def _chunk_gap(self, ci: int) -> int:
        gap = self._gaps[ci]
        if gap is None:
            gap = max(self._gap_before(ci, i) for i in range(len(self._chunks[ci])))
            self._gaps[ci] = gap
        return gap

    def check(self) -> None:
        """Assert the structure's invariants (used by the tests).

        Kernel: ``validate_mm`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L352>`_.
        """
        vmas = list(self)
        assert len(vmas) == self._len
        for a, b in zip(vmas, vmas[1:], strict=False):
            assert a.vm_start < a.vm_end <= b.vm_start, (a, b)
        for ci, chunk in enumerate(self._chunks):
            assert chunk and self._starts[ci] == [v.vm_start for v in chunk]
            assert self._firsts[ci] == chunk[0].vm_start
            if self._gaps[ci] is not None:
                true = max(self._gap_before(ci, i) for i in range(len(chunk)))
                assert self._gaps[ci] == true, (ci, self._gaps[ci], true)

    def find_gap_bottomup(self, length: int, low: int, high: int) -> int | None:
        """The lowest address ``a >= low`` with ``[a, a+length)`` free and ending by ``high``.

        Walks the VMAs upwards from ``low`` (the bottom-up search is the rare one: ``MAP_32BIT``
        and the fallback when the top-down search fails), so it costs O(VMAs above ``low``).

        Kernel: ``unmapped_area`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1783>`_.
        """
        addr = low
        vma = self.find(low)
        while addr + length <= high:
            if vma is None or vma.vm_start >= addr + length:
                return addr
            addr = max(addr, vma.vm_end)
            vma = self.next(vma)
        return None

    def find_gap_topdown(self, length: int, low: int, high: int) -> int | None:
        """The highest address ``a`` with ``[a, a+length)`` free inside ``[low, high)``.

        Mirrors ``unmapped_area_topdown`` (mm/mmap.c @ v4.15) without the stack guard gap.
        Chunks whose largest gap is too small are skipped whole, as the kernel skips subtrees
        whose ``rb_subtree_gap`` is too small.

        Kernel: ``unmapped_area_topdown`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1886>`_.
        """
        if high - low < length:
            return None
        if not self._chunks:
            return high - length
        # the VMA with the highest start below `high`
        ci = bisect_right(self._firsts, high - 1) - 1
        if ci < 0:  # everything is above `high`
            return high - length
        i = bisect_right(self._starts[ci], high - 1) - 1
        top = self._chunks[ci][i]
        if top.vm_end < high and high - max(top.vm_end, low) >= length:
            return high - length
        # gaps below VMAs, from (ci, i) downwards; whole chunks skipped by their cached gap
        if i < len(self._chunks[ci]) - 1:  # `high` falls inside this chunk: scan its lower part
            found = self._scan_down(ci, i, length, low)
            if found is not None:
                return found if found >= 0 else None
            ci -= 1
        gaps = self._gaps
        for cj in range(ci, -1, -1):
            gap = gaps[cj]
            if gap is None:
                gap = self._chunk_gap(cj)
            if gap >= length:
                found = self._scan_down(cj, len(self._chunks[cj]) - 1, length, low)
                if found is not None:
                    return found if found >= 0 else None
        first = self._chunks[0][0]
        if first.vm_start - low >= length:
            return first.vm_start - length
        return None

    def _scan_down(self, ci: int, i: int, length: int, low: int) -> int | None:
        """Highest fit below VMA ``i`` of chunk ``ci`` and down to its first; -1 if below low."""
        chunk = self._chunks[ci]
        while i >= 0:
            vma = chunk[i]
            if vma.vm_start - low < length:
                return -1
            gap = self._gap_before(ci, i) if (ci or i) else 0
            if gap and vma.vm_start - max(vma.vm_start - gap, low) >= length:
                return vma.vm_start - length
            i -= 1
        return None
