"""Run the same mmap/mprotect/munmap/mremap calls on this machine's kernel and on the model, and
compare.

This is how the model is held against reality: the Python process calls the real system calls
through ``ctypes``, reads its own ``/proc/self/maps``, replays the calls on a model
:class:`~mmlab.mm.MM` on a :class:`~mmlab.system.System` set up like this machine (the running
kernel's version, its ``mmap_min_addr``, this process's ``CAP_SYS_RAWIO``), and compares the
lines of the region it used.

Everything happens inside a *reservation*: a ``PROT_NONE`` private mapping of a file made for the
purpose, with a guard page at each end that operations never touch. Since no other mapping can
merge with it, what happens inside stays inside, and its remnants (with their file offsets) are
part of what is compared. Operations use ``MAP_FIXED`` addresses inside it, given in pages from
the first page after the guard.

Operations are tuples, easy to write by hand and to generate with hypothesis:

``("mmap", page, npages, prot, flags, src, file_page)``
    ``src`` is ``"anon"`` or the name of one of the test files; ``flags`` gets ``MAP_FIXED``
    added (and ``MAP_ANONYMOUS`` for ``"anon"``).
``("munmap", page, npages)``, ``("mprotect", page, npages, prot)``
    unmap, or change the protection of, ``npages`` pages from ``page``.
``("mremap", page, old_npages, new_npages, flags, new_page)``
    mremap(2) of ``old_npages`` pages from ``page`` to ``new_npages`` pages, with ``flags``
    (``MREMAP_MAYMOVE``, ``MREMAP_FIXED``) and, for ``MREMAP_FIXED``, ``new_page`` as the
    destination. Returns the new address, as the system call does. ``MREMAP_MAYMOVE`` without
    ``MREMAP_FIXED`` may put the mapping outside the region, where the two sides need not
    agree: sequences should grow such a mapping only where it can grow in place.
``("touch", page, write)``
    read or write one byte: the real access faults the page in, the model runs
    :func:`mmlab.fault.do_page_fault`. Only done where the model says the access is allowed
    (a bad access would kill the real process with SIGSEGV).

``npages`` may be a float to ask for a length that is not a whole number of pages.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mmlab import fs, procfs, version
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MAP_SHARED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    VM_EXEC,
    VM_READ,
    VM_WRITE,
)
from mmlab.errors import SignalDelivered
from mmlab.filemap import generic_file_buffered_read
from mmlab.mm import MM
from mmlab.system import System
from mmlab.uaccess import user_read, user_write


@functools.cache
def _libc() -> ctypes.CDLL:
    """The C library's mmap/munmap/mprotect, loaded on first use (not where there is none)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = (
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_long,
    )
    libc.munmap.argtypes = (ctypes.c_void_p, ctypes.c_size_t)
    libc.mprotect.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    # mremap is variadic (the new address comes only with MREMAP_FIXED); on x86-64 and arm64
    # the fifth argument travels in a register either way, so it is always passed.
    libc.mremap.restype = ctypes.c_void_p
    libc.mremap.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_int,
                            ctypes.c_void_p)
    return libc


MAP_FAILED = ctypes.c_void_p(-1).value

#: An operation: a name, then its arguments (see the module docstring).
Op = tuple[object, ...]


#: The names ``format_op`` spells a protection and mmap flags with, lowest bit first.
_PROT_NAMES = ((PROT_READ, "PROT_READ"), (PROT_WRITE, "PROT_WRITE"), (PROT_EXEC, "PROT_EXEC"))
_MAP_NAMES = ((MAP_SHARED, "MAP_SHARED"), (MAP_PRIVATE, "MAP_PRIVATE"), (MAP_FIXED, "MAP_FIXED"),
              (MAP_ANONYMOUS, "MAP_ANONYMOUS"))
_MREMAP_NAMES = ((MREMAP_MAYMOVE, "MREMAP_MAYMOVE"), (MREMAP_FIXED, "MREMAP_FIXED"))


def _names(value: int, table: tuple[tuple[int, str], ...], zero: str) -> str:
    names = [name for bit, name in table if value & bit]
    rest = value & ~sum(bit for bit, _ in table)
    if rest:
        names.append(hex(rest))
    return "|".join(names) or zero


def _int(value: object, op: Op) -> int:
    if isinstance(value, int):
        return value
    raise ValueError(f"operation {op!r}: {value!r} is not a number of protection or flag bits")


def _pages(npages: object) -> str:
    count = f"{npages:g}" if isinstance(npages, float) else str(npages)
    return f"{count} page" + ("" if count == "1" else "s")


def format_op(op: Op) -> str:
    """An operation as the call it makes, with the flags by name: ``("mmap", 4, 8, 3, 2,
    "anon", 0)`` reads ``mmap(+4, 8 pages, PROT_READ|PROT_WRITE,
    MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS)``; places are pages from the region's first page, as
    :meth:`Replay.real_lines` prints them. ``MAP_FIXED`` (and ``MAP_ANONYMOUS`` for ``"anon"``)
    are shown because :meth:`Replay.run_real` adds them. Raises ``ValueError`` naming an
    operation it does not know.

    Model helper: no kernel counterpart.
    """
    kind = op[0] if op else None
    if kind == "mmap" and len(op) == 7:
        _, page, npages, prot, flags, src, file_page = op
        flags = _int(flags, op) | MAP_FIXED | (MAP_ANONYMOUS if src == "anon" else 0)
        prot_text = _names(_int(prot, op), _PROT_NAMES, "PROT_NONE")
        call = f"mmap(+{page}, {_pages(npages)}, {prot_text}, {_names(flags, _MAP_NAMES, '0')}"
        return call + (")" if src == "anon" else f", file {src} from its page {file_page})")
    if kind == "mprotect" and len(op) == 4:
        prot = _names(_int(op[3], op), _PROT_NAMES, "PROT_NONE")
        return f"mprotect(+{op[1]}, {_pages(op[2])}, {prot})"
    if kind == "munmap" and len(op) == 3:
        return f"munmap(+{op[1]}, {_pages(op[2])})"
    if kind == "mremap" and len(op) == 6:
        _, page, old_npages, new_npages, flags, new_page = op
        flags = _int(flags, op)
        call = (f"mremap(+{page}, {_pages(old_npages)}, {_pages(new_npages)}, "
                f"{_names(flags, _MREMAP_NAMES, '0')}")
        return call + (f", +{new_page})" if flags & MREMAP_FIXED else ")")
    if kind == "touch" and len(op) == 3:
        return f"{'write' if op[2] else 'read'} one byte of page +{op[1]}"
    raise ValueError(f"unknown operation {op!r}: an operation is (\"mmap\", page, npages, prot, "
                     "flags, src, file_page), (\"mprotect\", page, npages, prot), "
                     "(\"munmap\", page, npages), (\"mremap\", page, old_npages, new_npages, "
                     "flags, new_page) or (\"touch\", page, write)")


#: ``CAP_SYS_RAWIO`` (include/uapi/linux/capability.h): the capability to map below mmap_min_addr.
CAP_SYS_RAWIO = 17


def available() -> bool:
    """Can the live comparisons run here: a Linux kernel with ``/proc/self/maps``?

    False in a browser-only Python (JupyterLite), on macOS or Windows: notebooks then show
    stored results instead.

    Model helper: no kernel counterpart.
    """
    return sys.platform == "linux" and os.path.exists("/proc/self/maps")


def this_machine() -> System:
    """A model machine set up like this one: kernel version and ``vm.mmap_min_addr``.

    Model helper: no kernel counterpart.
    """
    try:
        with open("/proc/sys/vm/mmap_min_addr") as f:
            min_addr = int(f.read())
    except (OSError, ValueError):
        min_addr = System().mmap_min_addr
    return System(version=version.running_kernel(), mmap_min_addr=min_addr,
                  soft_dirty=_has_soft_dirty())


@functools.cache
def _has_soft_dirty() -> bool:
    """Does the running kernel give new VMAs ``VM_SOFTDIRTY`` ("sd" in smaps' VmFlags)?
    Read once: a kernel's configuration does not change while it runs."""
    try:
        return any("sd" in str(v.get("VmFlags", "")).split() for v in procfs.read_smaps())
    except OSError:
        return System().soft_dirty


def has_cap_sys_rawio() -> bool:
    """Does this process have ``CAP_SYS_RAWIO`` in its effective set (``/proc/self/status``)?

    Model helper: no kernel counterpart.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_SYS_RAWIO & 1)
    except (OSError, ValueError):
        pass
    return False


def real_mmap(addr: int, length: int, prot: int, flags: int, fd: int = -1, offset: int = 0) -> int:
    """mmap(2) on this machine: the address, or ``-errno``.

    Model helper: no kernel counterpart.
    """
    ctypes.set_errno(0)
    ret = _libc().mmap(addr or None, length, prot, flags, fd, offset)
    return -ctypes.get_errno() if ret == MAP_FAILED else ret


def real_munmap(addr: int, length: int) -> int:
    """munmap(2) on this machine: 0 or ``-errno``.

    Model helper: no kernel counterpart.
    """
    ctypes.set_errno(0)
    return -ctypes.get_errno() if _libc().munmap(addr, length) else 0


def real_mremap(addr: int, old_length: int, new_length: int, flags: int,
                new_addr: int = 0) -> int:
    """mremap(2) on this machine: the new address, or ``-errno``.

    Model helper: no kernel counterpart.
    """
    ctypes.set_errno(0)
    ret = _libc().mremap(addr, old_length, new_length, flags, new_addr or None)
    return -ctypes.get_errno() if ret == MAP_FAILED else ret


def real_mprotect(addr: int, length: int, prot: int) -> int:
    """mprotect(2) on this machine: 0 or ``-errno``.

    Model helper: no kernel counterpart.
    """
    ctypes.set_errno(0)
    return -ctypes.get_errno() if _libc().mprotect(addr, length, prot) else 0


@dataclass
class TestFile:
    """A real file both sides map: its path, an fd on the real side, a File on the model side.

    Model helper: no kernel counterpart.
    """

    name: str
    path: str
    fd: int
    mode: int


@dataclass
class Mismatch:
    """Where the model and the kernel disagreed.

    Model helper: no kernel counterpart.
    """

    step: int
    op: Op | None
    real_ret: int | None
    model_ret: int | None
    real_lines: list[str]
    model_lines: list[str]

    def __str__(self) -> str:
        call = format_op(self.op) if self.op is not None else "(the end)"
        head = f"after step {self.step}, {call}: kernel returned {self.real_ret}, "
        head += f"model {self.model_ret}"
        return "\n".join([head, "kernel:", *self.real_lines, "model:", *self.model_lines])


@dataclass
class Replay:
    """One reservation on the real side and the matching model, ready to run operations.

    Use as a context manager: the reservation is unmapped and the files closed at the end.

    Model helper: no kernel counterpart.
    """

    pages: int = 64
    files: dict[str, TestFile] = field(default_factory=dict)
    mm: MM | None = None
    base: int = 0
    log: list[tuple[Op, int, int]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="mmlab-live-")
        self._model_files: dict[str, fs.File] = {}
        self.mm = MM(this_machine(), cap_sys_rawio=has_cap_sys_rawio())
        reserve = self.add_file("reserve", 1, writable=False)
        # One guard page of reservation on each side, which operations never touch: the region's
        # first and last VMAs can then never merge with whatever lies outside it.
        size = (self.pages + 2) * PAGE_SIZE
        start = real_mmap(0, size, PROT_NONE, MAP_PRIVATE, reserve.fd, 0)
        if start < 0:
            raise OSError(-start, "cannot reserve the region")
        self.base = start + PAGE_SIZE
        self.mm.mmap(start, size, PROT_NONE, MAP_PRIVATE | MAP_FIXED, self._model_files["reserve"])

    def add_file(self, name: str, npages: int, *, writable: bool = True) -> TestFile:
        """Make a real file of ``npages`` pages (distinct bytes per page) both sides can map.

        Model helper: no kernel counterpart.
        """
        path = os.path.join(self._dir.name, name)
        with open(path, "wb") as f:
            for i in range(npages):
                f.write(bytes([(i + 1) & 0xFF]) * PAGE_SIZE)
            # Written back now, not whenever the flusher gets to it: a page being written
            # back is locked for a moment, and fault-around skips locked pages, so a
            # comparison made during writeback would map fewer pages on the real side.
            f.flush()
            os.fsync(f.fileno())
        flags = os.O_RDWR if writable else os.O_RDONLY
        mode = fs.FMODE_READ | (fs.FMODE_WRITE if writable else 0)
        tf = TestFile(name, path, os.open(path, flags), mode)
        self.files[name] = tf
        model = fs.file_from_path(path, mode=mode)
        # The real file was just written and flushed: its pages sit in the page cache, clean.
        # Give the model's file the same cache, or fault-around would map less there.
        for index in range(npages):
            generic_file_buffered_read(model, index * PAGE_SIZE, 1, physmem=self.mm.physmem)
        self._model_files[name] = model
        return tf

    def close(self) -> None:
        """Unmap the region and remove the files.

        Model helper: no kernel counterpart.
        """
        real_munmap(self.base - PAGE_SIZE, (self.pages + 2) * PAGE_SIZE)
        for tf in self.files.values():
            os.close(tf.fd)
        self._dir.cleanup()

    def __enter__(self) -> Replay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- running ----------------------------------------------------------------------------
    def _addr(self, page: float) -> int:
        return self.base + int(page * PAGE_SIZE)

    def run_real(self, op: Op) -> int:
        """Do ``op`` on this machine's kernel; 0, an address, or ``-errno``.

        Model helper: no kernel counterpart.
        """
        kind = op[0]
        if kind == "mmap":
            _, page, npages, prot, flags, src, file_page = op
            length = int(npages * PAGE_SIZE)
            if src == "anon":
                return real_mmap(self._addr(page), length, prot, flags | MAP_FIXED | MAP_ANONYMOUS)
            tf = self.files[src]
            offset = int(file_page * PAGE_SIZE)
            return real_mmap(self._addr(page), length, prot, flags | MAP_FIXED, tf.fd, offset)
        if kind == "munmap":
            return real_munmap(self._addr(op[1]), int(op[2] * PAGE_SIZE))
        if kind == "mprotect":
            return real_mprotect(self._addr(op[1]), int(op[2] * PAGE_SIZE), op[3])
        if kind == "mremap":
            _, page, old_npages, new_npages, flags, new_page = op
            return real_mremap(self._addr(page), int(old_npages * PAGE_SIZE),
                               int(new_npages * PAGE_SIZE), flags, self._addr(new_page))
        if kind == "touch":
            addr = self._addr(op[1])
            if op[2]:
                ctypes.c_char.from_address(addr).value = ctypes.c_char.from_address(addr).value
            else:
                _ = ctypes.c_char.from_address(addr).value
            return 0
        raise ValueError(f"unknown operation {op!r}")

    def run_model(self, op: Op) -> int:
        """Do ``op`` on the model; 0, an address, or ``-errno`` (as the kernel would return).

        Model helper: no kernel counterpart.
        """
        mm = self.mm
        kind = op[0]
        try:
            if kind == "mmap":
                _, page, npages, prot, flags, src, file_page = op
                length = int(npages * PAGE_SIZE)
                if src == "anon":
                    return mm.mmap(
                        self._addr(page), length, prot, flags | MAP_FIXED | MAP_ANONYMOUS
                    )
                offset = int(file_page * PAGE_SIZE)
                return mm.mmap(
                    self._addr(page),
                    length,
                    prot,
                    flags | MAP_FIXED,
                    self._model_files[src],
                    offset,
                )
            if kind == "munmap":
                mm.munmap(self._addr(op[1]), int(op[2] * PAGE_SIZE))
                return 0
            if kind == "mprotect":
                mm.mprotect(self._addr(op[1]), int(op[2] * PAGE_SIZE), op[3])
                return 0
            if kind == "mremap":
                _, page, old_npages, new_npages, flags, new_page = op
                return mm.mremap(self._addr(page), int(old_npages * PAGE_SIZE),
                                 int(new_npages * PAGE_SIZE), flags, self._addr(new_page))
            if kind == "touch":
                # As on the real side (run_real): a load of the byte, and for a write a store
                # of it back, each through the page tables as the MMU does (faults, and the
                # accessed and dirty bits).
                addr = self._addr(op[1])
                try:
                    byte = user_read(mm, addr, 1)
                    if op[2]:
                        user_write(mm, addr, byte)
                except SignalDelivered:
                    return -errno.EFAULT
                return 0
        except OSError as exc:
            return -exc.errno
        raise ValueError(f"unknown operation {op!r}")

    def touch_allowed(self, page: float, write: bool) -> bool:
        """Would a touch of ``page`` be safe on the real side (no SIGSEGV/SIGBUS)?

        Model helper: no kernel counterpart.
        """
        addr = self._addr(page)
        vma = self.mm.find_vma(addr)
        if vma is None or vma.vm_start > addr:
            return False
        need = VM_WRITE if write else VM_READ
        if not vma.vm_flags & need:
            return False
        if vma.vm_file is not None:
            if vma.vm_file is self._model_files["reserve"]:
                return False
            index = ((addr - vma.vm_start) >> 12) + vma.vm_pgoff
            if index * PAGE_SIZE >= vma.vm_file.f_inode.i_size:
                return False  # beyond EOF: SIGBUS
        return bool(vma.vm_flags & (VM_READ | VM_WRITE | VM_EXEC))

    def real_pagemap(self, page: int, npages: int = 1) -> list[int]:
        """This process's pagemap entries for ``npages`` pages of the region from ``page``.

        Model helper: no kernel counterpart.
        """
        return procfs.read_pagemap(self._addr(page), npages)

    def model_pagemap(self, page: int, npages: int = 1) -> list[int]:
        """The model's pagemap entries for the same pages (frames as the model numbers them).

        Model helper: no kernel counterpart.
        """
        return [procfs.pagemap_entry(self.mm, self._addr(page + i)) for i in range(npages)]

    def real_smaps(self) -> list[dict[str, int | str]]:
        """This process's smaps entries of the VMAs inside the region (guards excluded),
        with ``start``/``end`` in pages from the region's first page.

        Model helper: no kernel counterpart.
        """
        return [self._rel(e) for e in procfs.read_smaps() if self._inside(e)]

    def model_smaps(self) -> list[dict[str, int | str]]:
        """The model's smaps entries for the same VMAs, with the same fields.

        Model helper: no kernel counterpart.
        """
        entries = (procfs.smaps_entry(vma) for vma in self.mm)
        return [self._rel(e) for e in entries if self._inside(e)]

    def _inside(self, entry: dict[str, int | str]) -> bool:
        start, end = int(entry["start"]), int(entry["end"])
        return end > self.base and start < self.base + self.pages * PAGE_SIZE

    def _rel(self, entry: dict[str, int | str]) -> dict[str, int | str]:
        out = {k: entry[k] for k in ("start", "end", *procfs.SMAPS_FIELDS, "VmFlags")}
        out["start"] = (int(entry["start"]) - self.base) // PAGE_SIZE
        out["end"] = (int(entry["end"]) - self.base) // PAGE_SIZE
        return out

    def real_lines(self) -> list[str]:
        """This process's ``/proc/self/maps`` lines that touch the region, normalised.

        Model helper: no kernel counterpart.
        """
        start, end = self.base - PAGE_SIZE, self.base + (self.pages + 1) * PAGE_SIZE
        return [
            self._norm(line) for line in procfs.read_maps() if line.end > start and line.start < end
        ]

    def model_lines(self) -> list[str]:
        """The model's maps lines, normalised the same way.

        Model helper: no kernel counterpart.
        """
        return [self._norm(line) for line in procfs.parse_maps(procfs.format_maps(self.mm))]

    def _norm(self, line: procfs.MapsLine) -> str:
        # Shared anonymous memory lives in a tmpfs file whose inode number nobody can predict.
        inode = "?" if line.path == "/dev/zero (deleted)" else str(line.inode)
        return (
            f"+{(line.start - self.base) // PAGE_SIZE:>3}"
            f"..+{(line.end - self.base) // PAGE_SIZE:<3}"
            f" {line.perms} {line.offset:08x} {line.major:02x}:{line.minor:02x} {inode} "
            f"{os.path.basename(line.path)}"
        )

    def run(self, ops: Iterable[Op], *, check_each: bool = True) -> Mismatch | None:
        """Run ``ops`` on both sides; the first disagreement, or None.

        Model helper: no kernel counterpart.
        """
        for step, op in enumerate(ops):
            if op[0] == "touch" and not self.touch_allowed(op[1], op[2]):
                continue
            real = self.run_real(op)
            model = self.run_model(op)
            self.log.append((op, real, model))
            if real != model or check_each or step == len(ops) - 1:  # type: ignore[arg-type]
                real_l, model_l = self.real_lines(), self.model_lines()
                if real != model or real_l != model_l:
                    return Mismatch(step, op, real, model, real_l, model_l)
        real_l, model_l = self.real_lines(), self.model_lines()
        if real_l != model_l:
            return Mismatch(len(self.log), None, None, None, real_l, model_l)
        return None


def compare(
    ops: Sequence[Op], *, files: dict[str, int] | None = None, pages: int = 64
) -> Mismatch | None:
    """Run ``ops`` in a fresh reservation; ``files`` maps a name to its size in pages.

    A name ending in ``"-ro"`` is opened read-only, the others read-write.

    Model helper: no kernel counterpart.
    """
    with Replay(pages=pages) as replay:
        for name, npages in (files or {"A": 16, "B-ro": 16}).items():
            replay.add_file(name, npages, writable=not name.endswith("-ro"))
        return replay.run(ops)


__all__ = [
    "MAP_PRIVATE",
    "MAP_SHARED",
    "PROT_READ",
    "PROT_WRITE",
    "Mismatch",
    "Replay",
    "available",
    "compare",
    "format_op",
    "real_mmap",
    "real_mprotect",
    "real_mremap",
    "real_munmap",
]
