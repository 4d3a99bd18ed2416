"""Record each modelled kernel call, so tests can assert sequences and widgets replay them.

The kernel has ftrace for this; the model has :func:`traced`. A function decorated with
``@traced`` adds a :class:`Step` to every active recorder when it is called: its name, its
arguments, the state of the mmap lock, and a snapshot of the VMAs and PTEs of the mm it works on,
taken before and after the call. Without an active recorder the decorator costs one list check.

    >>> from mmlab import trace
    >>> with trace.record() as t:          # doctest: +SKIP
    ...     mm.mmap(0, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    >>> [s.name for s in t.steps]          # doctest: +SKIP
    ['do_mmap', 'get_unmapped_area', 'mmap_region', 'vma_merge']
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class VmaSnapshot:
    """What a drawing needs of one VMA at one moment."""

    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    file: str | None
    anonymous: bool


@dataclass(frozen=True)
class PteSnapshot:
    """One present page-table entry: virtual address, page frame number and bit mask."""

    address: int
    pfn: int
    bits: int


@dataclass(frozen=True)
class MmSnapshot:
    """The VMAs, PTEs and mmap lock state of one mm at one moment."""

    vmas: tuple[VmaSnapshot, ...]
    ptes: tuple[PteSnapshot, ...]
    lock: str


@dataclass
class Step:
    """One call of a modelled kernel function.

    ``depth`` is the nesting level (0 for the outermost traced call), so a widget can indent
    the calls like a call graph. ``result`` is what the function returned (or the exception it
    raised, as ``error``).
    """

    name: str
    args: dict[str, Any]
    depth: int
    lock: str
    before: MmSnapshot | None
    after: MmSnapshot | None = None
    result: Any = None
    error: BaseException | None = None

    def __repr__(self) -> str:
        return (
            f"Step({self.name!r}, depth={self.depth}, lock={self.lock!r}, result={self.result!r})"
        )


@dataclass
class Recorder:
    """Collects the :class:`Step` objects of the traced calls made while it is active."""

    steps: list[Step] = field(default_factory=list)
    snapshots: bool = True
    _depth: int = 0

    @property
    def names(self) -> list[str]:
        """The names of the recorded steps, in call order."""
        return [s.name for s in self.steps]

    def top_level(self) -> list[Step]:
        """Only the outermost calls."""
        return [s for s in self.steps if s.depth == 0]

    def note(self, name: str, mm: Any = None, **args: Any) -> Step:
        """Record an event that is not a function call (a lock taken, a race window)."""
        step = Step(
            name, args, self._depth, lock_state(mm), snapshot(mm) if self.snapshots else None
        )
        step.after = step.before
        self.steps.append(step)
        return step


_active: list[Recorder] = []


@contextmanager
def record(snapshots: bool = True) -> Iterator[Recorder]:
    """Record the traced calls made inside the ``with`` block.

    ``snapshots=False`` skips the VMA/PTE snapshots (cheaper for long runs).
    """
    rec = Recorder(snapshots=snapshots)
    _active.append(rec)
    try:
        yield rec
    finally:
        _active.remove(rec)


def note(name: str, mm: Any = None, **args: Any) -> None:
    """Record an event (e.g. ``"down_read"``) in every active recorder."""
    for rec in _active:
        rec.note(name, mm, **args)


def recording() -> bool:
    """True while at least one recorder is active."""
    return bool(_active)


def find_mm(value: Any) -> Any:
    """The mm a call works on, found from one of its arguments (an MM, a Vma or a VmFault)."""
    if value is None:
        return None
    if hasattr(value, "mmap_sem") and hasattr(value, "vmas"):
        return value
    mm = getattr(value, "vm_mm", None)
    if mm is not None:
        return mm
    vma = getattr(value, "vma", None)
    if vma is not None:
        return getattr(vma, "vm_mm", None)
    return None


def lock_state(mm: Any) -> str:
    """A short text for the mmap lock: ``"free"``, ``"read x2"`` or ``"write"``."""
    if mm is None:
        return "?"
    sem = mm.mmap_sem
    if sem.writer:
        return "write"
    if sem.readers:
        return f"read x{sem.readers}" if sem.readers > 1 else "read"
    return "free"


def snapshot(mm: Any) -> MmSnapshot | None:
    """Copy what a drawing needs of ``mm`` (VMAs and present PTEs)."""
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
        for v in mm.vmas
    )
    ptes: tuple[PteSnapshot, ...] = ()
    pgd = getattr(mm, "pgd", None)
    if pgd is not None and hasattr(pgd, "range"):
        ptes = tuple(
            PteSnapshot(addr, pte.pfn, getattr(pte, "bits", 0))
            for addr, pte in pgd.range(0, 1 << 48)
        )
    return MmSnapshot(vmas, ptes, lock_state(mm))


def traced(fn: F) -> F:
    """Decorate a modelled kernel function so that active recorders see each call."""
    signature = inspect.signature(fn)
    name = fn.__name__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not _active:
            return fn(*args, **kwargs)
        try:
            bound = signature.bind(*args, **kwargs)
            arguments = dict(bound.arguments)
        except TypeError:
            arguments = {"args": args, **kwargs}
        mm = None
        for value in arguments.values():
            mm = find_mm(value)
            if mm is not None:
                break
        steps = []
        for rec in _active:
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

    return wrapper  # type: ignore[return-value]
