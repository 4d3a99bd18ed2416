"""Exceptions: a kernel ``BUG()`` (``include/asm-generic/bug.h`` @ v4.15), a wait, a signal.

Kernel functions of the model return what the kernel returns (0 or ``-errno``, ``VM_FAULT_*``
bits); they raise only where the real kernel would stop being a function call:

- :class:`KernelBug`: the kernel would oops (``BUG_ON``, ``VM_BUG_ON``);
- :class:`WouldSleep`: the task would block on a lock held by someone else, and the
  single-threaded model has nobody to wait for;
- :class:`SignalDelivered`: a user access ended in a signal, so the program stops there.
"""

from typing import Protocol

__all__ = ["FaultOutcome", "KernelBug", "SignalDelivered", "WouldSleep"]


class KernelBug(Exception):
    """The model hit a ``BUG()``/``BUG_ON()``/``VM_BUG_ON()``: the real kernel would oops here.

    Raised instead of corrupting the model, with the kernel's condition in the message.

    Kernel: ``BUG_ON`` in `include/asm-generic/bug.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/bug.h#L60>`_.
    """


class WouldSleep(RuntimeError):
    """The operation would block; the single-threaded model cannot wait for another thread.

    Kernel: ``rwsem_down_read_failed`` in `kernel/locking/rwsem-xadd.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/kernel/locking/rwsem-xadd.c#L284>`_.
    """


class FaultOutcome(Protocol):
    """What :class:`SignalDelivered` needs of a page-fault result (see :mod:`mmlab.fault`).

    Model helper: no kernel counterpart.
    """

    @property
    def address(self) -> int: ...

    @property
    def signal(self) -> str | None: ...


class SignalDelivered(Exception):  # noqa: N818 - it is a signal, not an error
    """A user access ended in a signal (or an OOM kill); ``result`` is the last fault.

    Model helper: no kernel counterpart (the kernel queues the signal with ``force_sig_info``).
    """

    def __init__(self, result: FaultOutcome) -> None:
        super().__init__(f"{result.signal or 'OOM'} at {result.address:#x} ({result!r})")
        self.result = result
        self.signal = result.signal
