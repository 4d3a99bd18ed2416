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
moves only when the machine has per-VMA locks. From v5.8 (:data:`mmlab.version.MMAP_LOCK_API`)
the lock is called ``mmap_lock`` and a trace names each operation as the mmap locking API does
(:data:`API_NAMES`: ``up_read`` is recorded as ``mmap_read_unlock``), as is an oops it causes:
code of that era calls the wrappers.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from mmlab import trace
from mmlab.errors import KernelBug, WouldSleep
from mmlab.rwsem import RwSemaphore

__all__ = ["API_NAMES", "MmapLock"]

#: The mmap locking API's name (v5.8 on) for each operation of the model's lock, as a trace
#: records it; an operation not listed keeps the rwsem's name (6.12 has no
#: ``mmap_write_trylock``: code there calls ``down_write_trylock(&mm->mmap_lock)``).
API_NAMES: Mapping[str, str] = MappingProxyType({
    "down_read": "mmap_read_lock",
    "down_read_trylock": "mmap_read_trylock",
    "down_read_trylock failed": "mmap_read_trylock failed",
    "up_read": "mmap_read_unlock",
    "down_write": "mmap_write_lock",
    "down_write_killable": "mmap_write_lock_killable",
    "down_write_killable -EINTR": "mmap_write_lock_killable -EINTR",
    "downgrade_write": "mmap_write_downgrade",
    "up_write": "mmap_write_unlock",
})


class MmapLock(RwSemaphore):
    """``mm->mmap_lock`` with the per-VMA lock sequence ``mm_lock_seq``.

    ``per_vma_locks``: the machine's kernel has per-VMA locks (v6.4 on); without them the lock is
    exactly v4.15's ``mmap_sem``. ``mm_lock_seq``: the sequence count (odd while held for write).
    ``api``: the machine's kernel takes it through the mmap locking API (v5.8 on): it is named
    ``mmap_lock`` and its operations are recorded under the API's names (:data:`API_NAMES`).

    Kernel: ``mmap_write_lock`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L102>`_.
    """

    def __init__(self, owner: trace.TracedMm | None = None, name: str | None = None, *,
                 per_vma_locks: bool = False, api: bool = False) -> None:
        super().__init__(owner, name or ("mmap_lock" if api else "mmap_sem"))
        self.per_vma_locks = per_vma_locks
        self.api = api
        self.mm_lock_seq = 0

    def op_name(self, op: str) -> str:
        """What the code of the machine's kernel calls operation ``op`` (``"up_read"`` is
        ``"mmap_read_unlock"`` from v5.8).

        Model helper: no kernel counterpart.
        """
        return API_NAMES.get(op, op) if self.api else op

    def _note(self, op: str) -> None:
        super()._note(self.op_name(op))

    def down_read(self) -> None:
        """``mmap_read_lock`` (``down_read`` before v5.8); sleeps while a writer holds it.

        Kernel: ``mmap_read_lock`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L158>`_.
        """
        if self.writer:
            raise WouldSleep(f"{self.op_name('down_read')}({self.name}) would sleep: held for "
                             "write")
        super().down_read()

    def up_read(self) -> None:
        """``mmap_read_unlock`` (``up_read`` before v5.8): release a read hold.

        Kernel: ``mmap_read_unlock`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L185>`_.
        """
        if self.readers <= 0:
            raise KernelBug(f"{self.op_name('up_read')}({self.name}) without a read hold")
        super().up_read()

    def _take_write(self, op: str) -> None:
        if self.writer or self.readers:
            raise WouldSleep(f"{self.op_name(op)}({self.name}) would sleep: {self!r}")
        super()._take_write(op)
        self._seq_begin()

    def _seq_begin(self) -> None:
        """``mm_lock_seqcount_begin``: a write hold starts a new sequence."""
        if self.per_vma_locks:
            self.mm_lock_seq += 1

    def _seq_end(self) -> None:
        """``vma_end_write_all``: every VMA write-locked under this hold is unlocked."""
        if self.per_vma_locks:
            self.mm_lock_seq += 1
            self._note("vma_end_write_all")

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
        if not self.writer:
            raise KernelBug(f"{self.op_name('up_write')}({self.name}) without a write hold")
        self._seq_end()
        super().up_write()

    def downgrade_write(self) -> None:
        """``mmap_write_downgrade``: end the sequence, then ``downgrade_write``.

        Kernel: ``mmap_write_downgrade`` in `include/linux/mmap_lock.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mmap_lock.h#L151>`_.
        """
        if not self.writer:
            raise KernelBug(f"{self.op_name('downgrade_write')}({self.name}) without a write "
                            "hold")
        self._seq_end()
        super().downgrade_write()
