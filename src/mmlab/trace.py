"""Record each modelled call, as ftrace (``kernel/trace/``) records kernel functions.

The kernel has ftrace for this (``kernel/trace/``); the model has :func:`traced`. A function
decorated with ``@traced`` adds a :class:`Step` to every active recorder when it is called: its
name, its arguments, the state of the mmap lock, and a snapshot of the VMAs and PTEs of the mm it
works on, taken before and after the call. Without an active recorder the decorator costs one
context-variable lookup.

    >>> from mmlab import trace
    >>> with trace.record() as t:          # doctest: +SKIP
    ...     mm.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    >>> [s.name for s in t.steps]          # doctest: +SKIP
    ['do_mmap', 'get_unmapped_area', 'mmap_region', 'vma_merge']

This module sits below everything it traces, so it knows the mm only by shape (the protocols
below): whatever has an ``mmap_sem``, a ``pgd`` and iterates over VMAs.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import ParamSpec, Protocol, TypeVar, runtime_checkable

__all__ = [
    "MmSnapshot",
    "PteSnapshot",
    "Recorder",
    "Step",
    "VmaSnapshot",
    "find_mm",
    "lock_state",
    "note",
    "record",
    "recording",
    "snapshot",
    "traced",
]

P = ParamSpec("P")
R = TypeVar("R")


# --- what the trace needs to know of the model, by shape -----------------------------------
class _Lock(Protocol):
    readers: int
    writer: bool


class _Vma(Protocol):
    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int

    @property
    def vm_file(self) -> object | None: ...

    @property
    def vm_ops(self) -> object | None: ...


class _Pte(Protocol):
    @property
    def pfn(self) -> int: ...

    @property
    def bits(self) -> int: ...


class _PageTable(Protocol):
    def range(self, start: int, end: int) -> Iterable[tuple[int, _Pte]]: ...


@runtime_checkable
class TracedMm(Protocol):
    """An address space as the trace sees it (``MmStruct`` has this shape).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    @property
    def mmap_sem(self) -> _Lock: ...

    @property
    def pgd(self) -> _PageTable: ...

    def __iter__(self) -> Iterator[_Vma]: ...


# --- what a step records --------------------------------------------------------------------
@dataclass(frozen=True)
class VmaSnapshot:
    """What a drawing needs of one VMA at one moment.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    file: str | None
    anonymous: bool


@dataclass(frozen=True)
class PteSnapshot:
    """One present page-table entry: virtual address, page frame number and bit mask.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    address: int
    pfn: int
    bits: int


@dataclass(frozen=True)
class MmSnapshot:
    """The VMAs, PTEs and mmap lock state of one mm at one moment.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    vmas: tuple[VmaSnapshot, ...]
    ptes: tuple[PteSnapshot, ...]
    lock: str


@dataclass
class Step:
    """One call of a modelled kernel function.

    ``depth`` is the nesting level (0 for the outermost traced call), so a widget can indent
    the calls like a call graph. ``result`` is what the function returned (or the exception it
    raised, as ``error``).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    name: str
    args: dict[str, object]
    depth: int
    lock: str
    before: MmSnapshot | None
    after: MmSnapshot | None = None
    result: object = None
    error: BaseException | None = None

    def __repr__(self) -> str:
        return (
            f"Step({self.name!r}, depth={self.depth}, lock={self.lock!r}, result={self.result!r})"
        )


@dataclass
class Recorder:
    """Collects the :class:`Step` objects of the traced calls made while it is active.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    steps: list[Step] = field(default_factory=list)
    snapshots: bool = True
    _depth: int = 0

    @property
    def names(self) -> list[str]:
        """The names of the recorded steps, in call order."""
        return [s.name for s in self.steps]

    def top_level(self) -> list[Step]:
        """Only the outermost calls.

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        return [s for s in self.steps if s.depth == 0]

    def note(self, name: str, mm: TracedMm | None = None, **args: object) -> Step:
        """Record an event that is not a function call (a lock taken, a race window).

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        step = Step(
            name, args, self._depth, lock_state(mm), snapshot(mm) if self.snapshots else None
        )
        step.after = step.before
        self.steps.append(step)
        return step


#: The recorders active in this context (a tuple: each ``record()`` block adds one and puts the
#: previous tuple back when it ends). A context variable rather than a global list, so that
#: threads and asyncio tasks each see only their own recorders.
_active: ContextVar[tuple[Recorder, ...]] = ContextVar("mmlab_trace_recorders", default=())


@contextmanager
def record(snapshots: bool = True) -> Iterator[Recorder]:
    """Record the traced calls made inside the ``with`` block.

    ``snapshots=False`` skips the VMA/PTE snapshots (cheaper for long runs).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    rec = Recorder(snapshots=snapshots)
    token = _active.set((*_active.get(), rec))
    try:
        yield rec
    finally:
        _active.reset(token)


def note(name: str, mm: TracedMm | None = None, **args: object) -> None:
    """Record an event (e.g. ``"down_read"``) in every active recorder.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    for rec in _active.get():
        rec.note(name, mm, **args)


def recording() -> bool:
    """True while at least one recorder is active.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    return bool(_active.get())


def find_mm(value: object) -> TracedMm | None:
    """The mm a call works on, found from one of its arguments (an mm, a VMA or a vm_fault).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if value is None:
        return None
    if isinstance(value, TracedMm):
        return value
    mm = getattr(value, "vm_mm", None)
    if isinstance(mm, TracedMm):
        return mm
    vma = getattr(value, "vma", None)
    mm = getattr(vma, "vm_mm", None)
    return mm if isinstance(mm, TracedMm) else None


def lock_state(mm: TracedMm | None) -> str:
    """A short text for the mmap lock: ``"free"``, ``"read x2"`` or ``"write"``.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if mm is None:
        return "?"
    sem = mm.mmap_sem
    if sem.writer:
        return "write"
    if sem.readers:
        return f"read x{sem.readers}" if sem.readers > 1 else "read"
    return "free"


def snapshot(mm: TracedMm | None) -> MmSnapshot | None:
    """Copy what a drawing needs of ``mm`` (VMAs and present PTEs).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if mm is None:
        return None
    vmas = tuple(
        VmaSnapshot(
            v.vm_start,
            v.vm_end,
            v.vm_flags,
            v.vm_pgoff,
            getattr(v.vm_file, "f_path", None) if v.vm_file is not None else None,
            v.vm_ops is None,
        )
        for v in mm
    )
    ptes = tuple(PteSnapshot(addr, pte.pfn, pte.bits) for addr, pte in mm.pgd.range(0, 1 << 48))
    return MmSnapshot(vmas, ptes, lock_state(mm))


def traced(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a modelled kernel function so that active recorders see each call.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    signature = inspect.signature(fn)
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        recorders = _active.get()
        if not recorders:
            return fn(*args, **kwargs)
        try:
            arguments: dict[str, object] = dict(signature.bind(*args, **kwargs).arguments)
        except TypeError:
            arguments = {"args": args, **kwargs}
        mm = None
        for value in arguments.values():
            mm = find_mm(value)
            if mm is not None:
                break
        steps = []
        for rec in recorders:
            step = Step(
                name,
                arguments,
                rec._depth,
                lock_state(mm),
                snapshot(mm) if rec.snapshots else None,
            )
            rec.steps.append(step)
            rec._depth += 1
            steps.append((rec, step))
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            for rec, step in steps:
                rec._depth -= 1
                step.error = exc
                step.after = snapshot(mm) if rec.snapshots else None
            raise
        for rec, step in steps:
            rec._depth -= 1
            step.result = result
            step.after = snapshot(mm) if rec.snapshots else None
        return result

    return wrapper
