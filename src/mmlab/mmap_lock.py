"""The mmap lock as a current kernel wraps it: ``include/linux/mmap_lock.h`` @ v6.12.118.

At v4.15 the mm's lock is the bare semaphore ``mm->mmap_sem`` (:class:`~mmlab.rwsem.RwSemaphore`).
Since v5.8 it is ``mm->mmap_lock``, taken through wrappers (``mmap_read_lock``,
``mmap_write_lock``...). Since v6.4 (per-VMA locks, :data:`mmlab.version.PER_VMA_LOCK`) the
wrappers also keep a sequence count, ``mm->mm_lock_seq``: taking the lock for writing begins a
new sequence (``mm_lock_seqcount_begin``), and releasing or downgrading it ends the sequence
(``vma_end_write_all``). A VMA is write-locked while its ``vm_lock_seq`` equals the mm's
sequence (:func:`mmlab.mm_types.vma_start_write` sets it), so ending the sequence releases every
VMA write lock at once, without visiting the VMAs.

Models, in `include/linux/mmap_lock.h @ v6.12.118
<https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h>`_:
``mm_lock_seqcount_begin`` L79, ``mm_lock_seqcount_end`` L84, ``mmap_write_lock`` L102,
``mmap_write_lock_killable`` L118,
``vma_end_write_all`` L138, ``mmap_write_unlock`` L144, ``mmap_write_downgrade`` L151. In Debian's
6.12.118, as in mainline from v6.13, ``mm_lock_seq`` is a seqcount (odd while the lock is held for
writing); v6.4-v6.12 counted it up at the unlock only. Either way a VMA locked under one write
hold is unlocked by the next release.

The model keeps the method names of :class:`~mmlab.rwsem.RwSemaphore` (``down_write``,
``up_write``...), so code written for v4.15 runs unchanged; only the sequence is new, and it
moves only when the machine has per-VMA locks.
"""

from __future__ import annotations

from mmlab import trace
from mmlab.rwsem import RwSemaphore

__all__ = ["MmapLock"]


class MmapLock(RwSemaphore):
    """``mm->mmap_lock`` with the per-VMA lock sequence ``mm_lock_seq``.

    ``per_vma_locks``: the machine's kernel has per-VMA locks (v6.4 on); without them the lock is
    exactly v4.15's ``mmap_sem``. ``mm_lock_seq``: the sequence count (odd while held for write).

    Kernel: ``mmap_write_lock`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L102>`_.
    """

    def __init__(self, owner: trace.TracedMm | None = None, name: str = "mmap_sem", *,
                 per_vma_locks: bool = False) -> None:
        super().__init__(owner, name)
        self.per_vma_locks = per_vma_locks
        self.mm_lock_seq = 0

    def _seq_begin(self) -> None:
        """``mm_lock_seqcount_begin``: a write hold starts a new sequence."""
        if self.per_vma_locks:
            self.mm_lock_seq += 1

    def _seq_end(self) -> None:
        """``vma_end_write_all``: every VMA write-locked under this hold is unlocked."""
        if self.per_vma_locks:
            self.mm_lock_seq += 1
            self._note("vma_end_write_all")

    def _take_write(self, op: str) -> None:
        super()._take_write(op)
        self._seq_begin()

    def down_write_trylock(self) -> int:
        """``down_write_trylock`` and, on success, a new sequence (6.12 has no
        ``mmap_write_trylock``; the model keeps the sequence right for any write hold).

        Model helper: no kernel counterpart.
        """
        taken = super().down_write_trylock()
        if taken:
            self._seq_begin()
        return taken

    def up_write(self) -> None:
        """``mmap_write_unlock``: end the sequence (``vma_end_write_all``), then ``up_write``.

        Kernel: ``mmap_write_unlock`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L144>`_.
        """
        if self.writer:
            self._seq_end()
        super().up_write()

    def downgrade_write(self) -> None:
        """``mmap_write_downgrade``: end the sequence, then ``downgrade_write``.

        Kernel: ``mmap_write_downgrade`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L151>`_.
        """
        if self.writer:
            self._seq_end()
        super().downgrade_write()
