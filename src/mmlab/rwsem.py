"""The mmap lock: a reader/writer semaphore (``kernel/locking/rwsem.c`` @ v4.15).

Models `include/linux/rwsem.h
<https://elixir.bootlin.com/linux/v4.15/source/include/linux/rwsem.h>`_ and
`kernel/locking/rwsem.c <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c>`_.
At v4.15 the mm's lock is
the field ``mm->mmap_sem``; v5.8 renamed it ``mmap_lock`` and wrapped it in
``mmap_read_lock()``/``mmap_write_lock()``.

The model has no scheduler: a call that would sleep (``down_read`` while a writer holds the lock)
raises :class:`WouldSleep` instead of blocking. Code that races two threads interleaves their
steps explicitly and uses the ``trylock`` variants or check :attr:`RwSemaphore.writer` first. Every
operation is recorded by :mod:`mmlab.trace`, so a step-through shows the lock dance.
"""

from __future__ import annotations

import errno

from mmlab import trace
from mmlab.errors import KernelBug, WouldSleep

__all__ = ["RwSemaphore"]


class RwSemaphore:
    """A reader/writer lock: many readers, or one writer.

    ``readers`` counts read holders; ``writer`` is True while held for write.

    Kernel: ``struct rw_semaphore`` in `include/linux/rwsem.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/rwsem.h#L30>`_.
    """

    def __init__(self, owner: trace.TracedMm | None = None, name: str = "mmap_sem") -> None:
        self.readers = 0
        self.writer = False
        self.name = name
        self._owner = owner  # the mm, so trace steps can snapshot it

    def __repr__(self) -> str:
        state = "write" if self.writer else f"read x{self.readers}" if self.readers else "free"
        return f"<{self.name}: {state}>"

    def _note(self, op: str) -> None:
        if trace.recording():
            trace.note(op, self._owner)

    def down_read(self) -> None:
        """Take the lock for reading; sleeps while a writer holds it.

        Kernel: ``down_read`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L21>`_.
        """
        if self.writer:
            raise WouldSleep(f"down_read({self.name}) would sleep: held for write")
        self.readers += 1
        self._note("down_read")

    def down_read_trylock(self) -> int:
        """Take it for reading if that needs no wait: 1 on success, 0 otherwise.

        Kernel: ``down_read_trylock`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L51>`_.
        """
        if self.writer:
            self._note("down_read_trylock failed")
            return 0
        self.readers += 1
        self._note("down_read_trylock")
        return 1

    def up_read(self) -> None:
        """Release a read hold.

        Kernel: ``up_read`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L117>`_.
        """
        if self.readers <= 0:
            raise KernelBug(f"up_read({self.name}) without a read hold")
        self.readers -= 1
        self._note("up_read")

    def down_write(self) -> None:
        """Take the lock for writing; sleeps while anyone holds it.

        Kernel: ``down_write`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L67>`_.
        """
        self._take_write("down_write")

    def _take_write(self, op: str) -> None:
        if self.writer or self.readers:
            raise WouldSleep(f"{op}({self.name}) would sleep: {self!r}")
        self.writer = True
        self._note(op)

    def down_write_trylock(self) -> int:
        """Take it for writing if free: 1 on success, 0 otherwise.

        Kernel: ``down_write_trylock`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L100>`_.
        """
        if self.writer or self.readers:
            self._note("down_write_trylock failed")
            return 0
        self.writer = True
        self._note("down_write_trylock")
        return 1

    def down_write_killable(self, fatal_signal_pending: bool = False) -> int:
        """Like ``down_write`` but gives up with ``-EINTR`` when a fatal signal arrives.

        ``fatal_signal_pending=True`` stands for a SIGKILL arriving while waiting. If the lock is
        held by anyone (including the caller, as a reader) the real call would wait; the model
        raises :class:`WouldSleep` unless the wait is cut short by the signal.

        Kernel: ``down_write_killable`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L81>`_.
        """
        if fatal_signal_pending:
            self._note("down_write_killable -EINTR")
            return -errno.EINTR
        self._take_write("down_write_killable")
        return 0

    def downgrade_write(self) -> None:
        """Turn a write hold into a read hold with no moment where the lock is free.

        Kernel: ``downgrade_write`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L142>`_.
        """
        if not self.writer:
            raise KernelBug(f"downgrade_write({self.name}) without a write hold")
        self.writer = False
        self.readers += 1
        self._note("downgrade_write")

    def up_write(self) -> None:
        """Release the write hold.

        Kernel: ``up_write`` in `kernel/locking/rwsem.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem.c#L129>`_.
        """
        if not self.writer:
            raise KernelBug(f"up_write({self.name}) without a write hold")
        self.writer = False
        self._note("up_write")

    @property
    def is_locked(self) -> bool:
        """True while anyone holds the lock (``rwsem_is_locked``)."""
        return self.writer or self.readers > 0
