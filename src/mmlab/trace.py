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

**A trace shows what was, at the moment it was.** A step's ``args`` and ``result`` are
*snapshots* (:func:`freeze`), not the model's objects: a VMA that ``find_vma`` returned and a
later ``split_vma`` shrank still shows, in ``step.result``, the range it had when it was
returned. ``args`` are taken when the call is entered, ``result`` and ``args_on_return`` when it
returns. The objects themselves, as they are now (they may have changed since), are in
``live_args`` and ``live_result``.

**Time order.** ``t.steps`` is in call order (a step is added when its call is entered); each
step also carries the recorder's clock at entry (``entered``) and at return (``returned``), and
:meth:`Recorder.timeline` lists every entry, return and event in the order they happened.

This module sits below everything it traces, so it knows the model only by shape (the protocols
below): an mm is whatever has an ``mmap_sem``, a ``pgd`` and iterates over VMAs; a model object
that a step should copy rather than keep offers ``trace_snapshot()`` (:class:`Snapshottable`) and
builds one of the snapshot classes defined here.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import NamedTuple, ParamSpec, Protocol, TypeVar, runtime_checkable

__all__ = [
    "AddressSpaceSnapshot",
    "FileSnapshot",
    "FrozenObject",
    "InodeSnapshot",
    "MmSnapshot",
    "MmStructSnapshot",
    "PageSnapshot",
    "PteSnapshot",
    "Recorder",
    "ReprSnapshot",
    "Snapshottable",
    "Step",
    "TraceEvent",
    "VmFaultSnapshot",
    "VmaSnapshot",
    "find_mm",
    "freeze",
    "lock_name",
    "lock_state",
    "note",
    "record",
    "recording",
    "snapshot",
    "timeline",
    "traced",
    "vma_lock_state",
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


class Snapshottable(Protocol):
    """A model object that a trace copies instead of keeping: ``trace_snapshot()`` returns a
    frozen copy of what matters of it now (one of this module's snapshot classes).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    def trace_snapshot(self) -> object:
        """A frozen copy of the object as it is now.

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        ...


# --- snapshots: what a step keeps of the model's objects ------------------------------------
@dataclass(frozen=True)
class VmaSnapshot:
    """One VMA at one moment: its range, flags, ``vm_pgoff``, file name and kind.

    ``perms`` is the ``/proc/PID/maps`` permission column (``r-xp``), made by the model from
    the flags (the trace does not know the flag values), and left out of comparisons. The
    ``repr`` is the model ``Vma``'s, so a printed step shows the VMA as it was.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    vm_start: int
    vm_end: int
    vm_flags: int
    vm_pgoff: int
    file: str | None
    anonymous: bool
    perms: str = field(default="", compare=False)

    def __repr__(self) -> str:
        perms = f" {self.perms}" if self.perms else ""
        name = f" {self.file}" if self.file is not None else ""
        return (f"Vma({self.vm_start:#x}-{self.vm_end:#x}{perms} pgoff={self.vm_pgoff:#x} "
                f"flags={self.vm_flags:#x}{name})")


@dataclass(frozen=True)
class PageSnapshot:
    """One ``struct page`` at one moment: frame, counts, kind, index and flags.

    ``kind`` is ``"anon"``, ``"file"`` or ``"-"``; ``mapcount`` is ``page_mapcount()`` (0 for
    an unmapped page); ``flags`` the ``PG_*`` names set.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    pfn: int
    refcount: int
    mapcount: int
    kind: str
    index: int
    flags: frozenset[str]

    def __repr__(self) -> str:
        flags = ",".join(sorted(f.removeprefix("PG_") for f in self.flags))
        return (f"Page(pfn={self.pfn:#x}, ref={self.refcount}, map={self.mapcount}, "
                f"{self.kind}, index={self.index:#x}, [{flags}])")


@dataclass(frozen=True)
class VmFaultSnapshot:
    """One ``struct vm_fault`` at one moment, with its VMA and pages as snapshots.

    The field names are the model ``VmFault``'s, so ``step.args["vmf"].pgoff`` reads as it
    would on the live object.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    vma: VmaSnapshot
    flags: int
    pgoff: int
    address: int
    gfp_mask: int = 0
    orig_pte: object = None
    cow_page: PageSnapshot | None = None
    page: PageSnapshot | None = None

    def __repr__(self) -> str:
        page = f" page={self.page.pfn:#x}" if self.page is not None else ""
        return (f"VmFault(address={self.address:#x} pgoff={self.pgoff:#x} flags={self.flags:#x} "
                f"vma={self.vma.vm_start:#x}-{self.vma.vm_end:#x}{page})")


@dataclass(frozen=True)
class MmStructSnapshot:
    """An mm passed to or returned by a call: how many VMAs it had and its lock state.

    A summary, kept cheap: the VMAs and PTEs themselves are in :attr:`Step.before` and
    :attr:`Step.after` (recorded with ``snapshots=True``).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    kind: str
    map_count: int
    lock: str

    def __repr__(self) -> str:
        return f"<{self.kind}: {self.map_count} VMAs, mmap_sem {self.lock}>"


@dataclass(frozen=True)
class InodeSnapshot:
    """An inode at one moment: its type, number, size and how many pages it has cached.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    kind: str
    i_ino: int
    i_size: int
    nrpages: int

    def __repr__(self) -> str:
        return f"{self.kind}(ino={self.i_ino}, size={self.i_size:#x}, nrpages={self.nrpages})"


@dataclass(frozen=True)
class FileSnapshot:
    """An open file: its path, mode and inode (a snapshot).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    f_path: str
    f_mode: int
    f_inode: InodeSnapshot

    def __repr__(self) -> str:
        return f"File({self.f_path!r}, ino={self.f_inode.i_ino})"


@dataclass(frozen=True)
class AddressSpaceSnapshot:
    """A page cache (``struct address_space``): its inode's number and how many pages it held.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    host_ino: int | None
    nrpages: int

    def __repr__(self) -> str:
        return f"AddressSpace(ino={self.host_ino}, nrpages={self.nrpages})"


@dataclass(frozen=True)
class FrozenObject:
    """A copy of a mutable dataclass the trace has no snapshot class for (``FaultResult``):
    its type's name and its fields, each frozen. Fields read as attributes
    (``step.result.signal``); the ``repr`` is the dataclass's own.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    kind: str
    fields: tuple[tuple[str, object], ...]

    def __getattr__(self, name: str) -> object:
        for key, value in object.__getattribute__(self, "fields"):
            if key == name:
                return value
        raise AttributeError(f"{self.kind} snapshot has no field {name!r}")

    def __repr__(self) -> str:
        return f"{self.kind}(" + ", ".join(f"{k}={v!r}" for k, v in self.fields) + ")"


@dataclass(frozen=True)
class ReprSnapshot:
    """Any other object, kept as its type's name and its ``repr`` at that moment.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    kind: str
    text: str

    def __repr__(self) -> str:
        return self.text


#: Values a snapshot keeps as they are: they cannot change.
_IMMUTABLE = (bool, int, float, complex, str, bytes, Enum, range)

#: How deep :func:`freeze` copies the fields of an unknown dataclass before it keeps a repr.
_FREEZE_DEPTH = 3


def freeze(value: object, _depth: int = 0) -> object:
    """A snapshot of ``value`` as it is now, for a :class:`Step` to keep.

    - ``None``, numbers, strings, bytes and enums stay as they are (they cannot change);
    - an object with ``trace_snapshot()`` (:class:`Snapshottable`: the model's VMAs, vm_faults,
      mms, files, inodes, page caches and pages) gives its snapshot;
    - tuples (named tuples too), lists and sets are copied element by element, lists as
      tuples and sets as frozensets; dicts become read-only mappings of frozen values;
    - a frozen dataclass (a ``Pte``, ``vm_operations``) is kept: it cannot change;
    - another dataclass becomes a :class:`FrozenObject` (its fields frozen);
    - anything else becomes a :class:`ReprSnapshot` (its ``repr`` now).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if value is None or isinstance(value, _IMMUTABLE):
        return value
    hook = getattr(value, "trace_snapshot", None)
    if hook is not None and not isinstance(value, type):
        return hook()
    if isinstance(value, tuple):
        items = tuple(freeze(v, _depth) for v in value)
        make = getattr(type(value), "_make", None)
        return make(items) if make is not None else items
    if isinstance(value, list):
        return tuple(freeze(v, _depth) for v in value)
    if isinstance(value, set | frozenset):
        return frozenset(freeze(v, _depth) for v in value)
    if isinstance(value, dict):
        return MappingProxyType({k: freeze(v, _depth) for k, v in value.items()})
    params = getattr(type(value), "__dataclass_params__", None)
    if params is not None and not isinstance(value, type):
        if params.frozen:
            return value
        if _depth < _FREEZE_DEPTH:
            names = [f.name for f in type(value).__dataclass_fields__.values() if f.repr]
            return FrozenObject(type(value).__name__, tuple(
                (name, freeze(getattr(value, name), _depth + 1)) for name in names))
    return ReprSnapshot(type(value).__name__, repr(value))


def _freeze_args(args: Mapping[str, object]) -> dict[str, object]:
    return {k: freeze(v) for k, v in args.items()}


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


# --- what a step records --------------------------------------------------------------------
@dataclass
class Step:
    """One call of a modelled kernel function, or one event (``kind == "note"``: a lock taken).

    ``depth`` is the nesting level (0 for the outermost traced call), so a widget can indent
    the calls like a call graph. ``args`` are the arguments as they were when the call was
    entered, ``result`` what it returned and ``args_on_return`` the arguments as they were
    then, all snapshots (:func:`freeze`); ``error`` is the exception it raised, if any.
    ``live_args`` and ``live_result`` are the objects themselves: live, they may have changed
    since. ``entered`` and ``returned`` are the recorder's clock at entry and at return (equal
    for an event; ``None`` while the call runs); ``lock`` and ``lock_on_return`` the mmap lock
    then, ``lock_name`` its name (``mmap_sem``, or ``mmap_lock`` from v5.8), ``vma_lock`` and
    ``vma_lock_on_return`` the per-VMA locks held then (:func:`vma_lock_state`; ``""`` for none,
    always on a machine without them); ``void``: the function returns nothing (its
    annotation says ``None``), so a ``None`` result is no NULL pointer. ``before`` and ``after``
    are the mm's VMAs and PTEs at entry and at return (with ``snapshots=True``).

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
    kind: str = "call"
    entered: int = 0
    returned: int | None = None
    void: bool = False
    lock_on_return: str = "?"
    lock_name: str = "mmap_sem"
    vma_lock: str = ""
    vma_lock_on_return: str = ""
    args_on_return: dict[str, object] | None = None
    live_args: dict[str, object] = field(default_factory=dict, repr=False)
    live_result: object = field(default=None, repr=False)

    def __repr__(self) -> str:
        return (
            f"Step({self.name!r}, depth={self.depth}, lock={self.lock!r}, result={self.result!r})"
        )


class TraceEvent(NamedTuple):
    """One moment of a trace: ``what`` is ``"entry"``, ``"return"`` or ``"note"`` (an event
    such as a lock taken); ``index`` is the step's place in :attr:`Recorder.steps`; ``seq`` the
    recorder's clock then.

    Model helper: no kernel counterpart (ftrace's function graph tracer is the closest).
    """

    seq: int
    what: str
    index: int
    step: Step


def timeline(steps: Iterable[Step]) -> list[TraceEvent]:
    """Every entry, return and event of ``steps``, in the order they happened.

    A call that had not returned when the recording ended has only its entry.

    Model helper: no kernel counterpart (ftrace's function graph tracer is the closest).
    """
    events = []
    for i, step in enumerate(steps):
        if step.kind == "note":
            events.append(TraceEvent(step.entered, "note", i, step))
            continue
        events.append(TraceEvent(step.entered, "entry", i, step))
        if step.returned is not None:
            events.append(TraceEvent(step.returned, "return", i, step))
    events.sort(key=lambda e: e.seq)
    return events


@dataclass
class Recorder:
    """Collects the :class:`Step` objects of the traced calls made while it is active.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """

    steps: list[Step] = field(default_factory=list)
    snapshots: bool = True
    _depth: int = 0
    _clock: int = 0

    @property
    def names(self) -> list[str]:
        """The names of the recorded steps, in call order."""
        return [s.name for s in self.steps]

    def top_level(self) -> list[Step]:
        """Only the outermost calls.

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        return [s for s in self.steps if s.depth == 0]

    def timeline(self) -> list[TraceEvent]:
        """Every entry, return and event, in the order they happened (see :func:`timeline`).

        Model helper: no kernel counterpart (ftrace's function graph tracer is the closest).
        """
        return timeline(self.steps)

    def tick(self) -> int:
        """The recorder's clock: a new number for each entry, return and event.

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        self._clock += 1
        return self._clock

    def note(self, name: str, mm: TracedMm | None = None, **args: object) -> Step:
        """Record an event that is not a function call (a lock taken, a race window).

        Model helper: no kernel counterpart (ftrace's function tracer is the closest).
        """
        seq = self.tick()
        frozen = _freeze_args(args)
        lock = lock_state(mm)
        vma_lock = vma_lock_state(mm)
        step = Step(name, frozen, self._depth, lock, snapshot(mm) if self.snapshots else None,
                    kind="note", entered=seq, returned=seq, void=True, lock_on_return=lock,
                    lock_name=lock_name(mm), vma_lock=vma_lock, vma_lock_on_return=vma_lock,
                    args_on_return=frozen, live_args=args)
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

    ``snapshots=False`` skips the VMA/PTE snapshots (cheaper for long runs); the arguments and
    results are copied (:func:`freeze`) either way.

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


def _is_mm(value: object) -> bool:
    # By shape, as TracedMm says, but without a runtime protocol check (which costs more than
    # the rest of a traced call together).
    return (getattr(value, "mmap_sem", None) is not None
            and getattr(value, "pgd", None) is not None and hasattr(value, "__iter__"))


def find_mm(value: object) -> TracedMm | None:
    """The mm a call works on, found from one of its arguments (an mm, a VMA or a vm_fault).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if value is None or isinstance(value, _IMMUTABLE):
        return None
    if _is_mm(value):
        return value  # type: ignore[return-value]
    mm = getattr(value, "vm_mm", None)
    if mm is not None and _is_mm(mm):
        return mm  # type: ignore[no-any-return]
    vma = getattr(value, "vma", None)
    mm = getattr(vma, "vm_mm", None)
    return mm if mm is not None and _is_mm(mm) else None  # type: ignore[return-value]


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


def lock_name(mm: TracedMm | None) -> str:
    """The mmap lock's name: ``"mmap_sem"``, or ``"mmap_lock"`` on a machine of v5.8 on.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    name = getattr(mm.mmap_sem, "name", None) if mm is not None else None
    return name if isinstance(name, str) else "mmap_sem"


def _vma_name(v: _Vma) -> str:
    file = v.vm_file
    path = getattr(file, "f_path", None) if file is not None else None
    where = f"{v.vm_start:x}-{v.vm_end:x}"
    return f"{path.rsplit('/', 1)[-1]} {where}" if isinstance(path, str) else f"anon {where}"


def vma_lock_state(mm: TracedMm | None) -> str:
    """The per-VMA locks held now, as a short text: ``""`` for none (and always on a machine
    without per-VMA locks), else each VMA whose lock is held, by its file's name and range, with
    ``(read)`` (a fault holds its read lock: ``vma_start_read``) or ``(write)`` (write-locked:
    ``vma_start_write`` under ``mmap_lock`` held for writing, until that is released or
    downgraded), ``"; "`` between two.

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if mm is None:
        return ""
    sem = mm.mmap_sem
    if not getattr(sem, "per_vma_locks", False):
        return ""
    seq = getattr(sem, "mm_lock_seq", None)
    held = []
    for v in mm:
        if getattr(getattr(v, "vm_lock", None), "readers", 0):
            held.append(f"{_vma_name(v)} (read)")
        elif sem.writer and getattr(v, "vm_lock_seq", None) == seq:
            held.append(f"{_vma_name(v)} (write)")
    return "; ".join(held)


def _vma_snapshot(v: _Vma) -> VmaSnapshot:
    hook = getattr(v, "trace_snapshot", None)
    if hook is not None:
        snap = hook()
        if isinstance(snap, VmaSnapshot):
            return snap
    file = v.vm_file
    return VmaSnapshot(v.vm_start, v.vm_end, v.vm_flags, v.vm_pgoff,
                       getattr(file, "f_path", None) if file is not None else None,
                       v.vm_ops is None)


def snapshot(mm: TracedMm | None) -> MmSnapshot | None:
    """Copy what a drawing needs of ``mm`` (VMAs and present PTEs).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    if mm is None:
        return None
    vmas = tuple(_vma_snapshot(v) for v in mm)
    ptes = tuple(PteSnapshot(addr, pte.pfn, pte.bits) for addr, pte in mm.pgd.range(0, 1 << 48))
    return MmSnapshot(vmas, ptes, lock_state(mm))


def _binder(fn: Callable[..., object]) -> Callable[[tuple, dict], dict[str, object]]:
    """A function that names a call's arguments as ``signature.bind`` would, faster for the
    usual case (positional arguments, keywords, no ``*args``)."""
    signature = inspect.signature(fn)
    params = list(signature.parameters.values())
    simple = all(p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) for p in params)
    positional = tuple(p.name for p in params if p.kind == p.POSITIONAL_OR_KEYWORD)

    def bind(args: tuple, kwargs: dict) -> dict[str, object]:
        if simple and len(args) <= len(positional):
            out = dict(zip(positional, args, strict=False))
            out.update(kwargs)
            return out
        try:
            return dict(signature.bind(*args, **kwargs).arguments)
        except TypeError:
            return {"args": args, **kwargs}

    return bind


def traced(fn: Callable[P, R]) -> Callable[P, R]:
    """Decorate a modelled kernel function so that active recorders see each call.

    Each active recorder gets a :class:`Step` when the call is entered (its arguments frozen
    then) and completes it when the call returns or raises (the result and the arguments
    frozen again).

    Model helper: no kernel counterpart (ftrace's function tracer is the closest).
    """
    bind = _binder(fn)
    name = fn.__name__
    void = inspect.signature(fn).return_annotation in (None, "None")

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        recorders = _active.get()
        if not recorders:
            return fn(*args, **kwargs)
        arguments = bind(args, kwargs)
        mm = None
        for value in arguments.values():
            mm = find_mm(value)
            if mm is not None:
                break
        frozen = _freeze_args(arguments)
        lock = lock_state(mm)
        vma_lock = vma_lock_state(mm)
        called = lock_name(mm)
        steps = []
        for rec in recorders:
            step = Step(name, frozen, rec._depth, lock, snapshot(mm) if rec.snapshots else None,
                        entered=rec.tick(), void=void, live_args=arguments, lock_name=called,
                        vma_lock=vma_lock)
            rec.steps.append(step)
            rec._depth += 1
            steps.append((rec, step))
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            again = _freeze_args(arguments)
            lock = lock_state(mm)
            vma_lock = vma_lock_state(mm)
            for rec, step in steps:
                rec._depth -= 1
                step.error = exc
                step.lock_on_return = lock
                step.vma_lock_on_return = vma_lock
                step.args_on_return = again
                step.after = snapshot(mm) if rec.snapshots else None
                step.returned = rec.tick()
            raise
        again = _freeze_args(arguments)
        kept = freeze(result)
        lock = lock_state(mm)
        vma_lock = vma_lock_state(mm)
        for rec, step in steps:
            rec._depth -= 1
            step.result = kept
            step.live_result = result
            step.lock_on_return = lock
            step.vma_lock_on_return = vma_lock
            step.args_on_return = again
            step.after = snapshot(mm) if rec.snapshots else None
            step.returned = rec.tick()
        return result

    return wrapper
