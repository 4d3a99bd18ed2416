"""Safe cramfs extractor: ``fsck.cramfs --extract`` of util-linux ``disk-utils/fsck.cramfs.c``.

Extracts an image into a directory.  The kernel never "extracts"; the closest
relatives are ``cramfs_lookup`` / ``cramfs_readdir``
(``fs/cramfs/inode.c @ v4.15``), which trust the image, and
``fsck.cramfs --extract=DIR`` (util-linux), which writes with plain paths.
This extractor assumes the image is hostile:

* the whole tree is validated BEFORE anything is written: names that are
  empty, contain ``/`` or NUL, are ``.``/``..`` or repeat in a directory;
  directory cycles; more entries or bytes than the limits; symlinks whose
  target (resolved through the image's own symlinks) leaves the tree;
* writing uses directory file descriptors only (``openat``/``mkdirat``/
  ``symlinkat`` via ``dir_fd``), ``O_NOFOLLOW`` and ``O_EXCL``, so a symlink
  created during extraction (or already in the target) is never followed;
* modes are restored (setuid/setgid only for root), directories last so a
  read-only directory can still be filled; owners and device nodes/fifos only
  when running as root (others are skipped and reported).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import (
    CramfsFormatError,
    CramfsIOError,
    CramfsLimitError,
    CramfsUnsafePathError,
)
from .reader import MAX_DEPTH, MAX_SYMLINK_HOPS, CramfsImage, Entry, open_image

__all__ = ["ExtractReport", "extract", "validate_tree", "MAX_ENTRIES", "MAX_TOTAL_BYTES"]

MAX_ENTRIES = 1 << 20  #: default limit on the number of inodes
MAX_TOTAL_BYTES = 2 << 30  #: default limit on the bytes written (dedup can multiply data)
SYMLINK_MAX = 4096  #: PATH_MAX: longer targets cannot be created (ENAMETOOLONG)

_KNOWN_TYPES = frozenset({stat.S_IFDIR, stat.S_IFREG, stat.S_IFLNK, stat.S_IFCHR, stat.S_IFBLK,
                          stat.S_IFIFO, stat.S_IFSOCK})
_OPEN_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class ExtractReport:
    """What :func:`extract` wrote and what it skipped.

    Model helper: no kernel counterpart.
    """

    files: int = 0
    dirs: int = 0
    symlinks: int = 0
    specials: int = 0
    bytes: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Node:
    entry: Entry
    parts: tuple[str, ...]
    children: list[_Node] = field(default_factory=list)
    target: str | None = None  # symlink target


def _check_name(e: Entry) -> str:
    raw = e.name
    if not raw or b"/" in raw or b"\0" in raw or raw in (b".", b".."):
        raise CramfsUnsafePathError(f"refusing file name {raw!r}", offset=e.inode_offset,
                                    field="name", where="inode")
    return raw.decode("utf-8", "surrogateescape")


def validate_tree(image: CramfsImage, *, max_entries: int = MAX_ENTRIES,
                  max_total_bytes: int = MAX_TOTAL_BYTES) -> _Node:
    """Walk and vet the whole tree; returns it, or raises CramfsError before any write.

    Raises :class:`CramfsUnsafePathError` for bad names, duplicates and
    escaping symlinks, :class:`CramfsFormatError` for cycles and
    :class:`CramfsLimitError` for too many entries/bytes or too deep trees.

    Model helper: no kernel counterpart.
    """
    root = _Node(image.root, ())
    seen = {image.root.data_offset} if image.root.size else set()
    count = 1
    total = 0
    queue = [root]
    links: list[_Node] = []
    by_parts: dict[tuple[str, ...], _Node] = {(): root}
    while queue:
        node = queue.pop(0)
        names: set[bytes] = set()
        for e in image.listdir(node.entry):
            name = _check_name(e)
            if e.name in names:
                raise CramfsUnsafePathError(f"duplicate name {e.name!r} in /{node.entry.path}",
                                            offset=e.inode_offset, field="name", where="inode")
            names.add(e.name)
            count += 1
            if count > max_entries:
                raise CramfsLimitError(f"more than {max_entries} entries",
                                       offset=e.inode_offset, field="files", where="inode")
            if stat.S_IFMT(e.mode) not in _KNOWN_TYPES:
                raise CramfsFormatError(f"bogus file type in mode 0{e.mode:o}",
                                        offset=e.inode_offset, field="mode", where="inode")
            child = _Node(e, node.parts + (name,))
            node.children.append(child)
            by_parts[child.parts] = child
            if e.is_dir():
                if e.size:
                    if e.data_offset in seen:
                        raise CramfsFormatError(
                            f"directory cycle: entries at 0x{e.data_offset:x} already visited",
                            offset=e.inode_offset, field="offset", where="inode")
                    seen.add(e.data_offset)
                if len(child.parts) >= MAX_DEPTH:
                    raise CramfsLimitError(f"directory deeper than {MAX_DEPTH}",
                                           offset=e.inode_offset, field="offset", where="inode")
                queue.append(child)
            elif e.is_file():
                total += e.size
                if total > max_total_bytes:
                    raise CramfsLimitError(f"more than {max_total_bytes} bytes of file data",
                                           offset=e.inode_offset, field="size", where="inode")
            elif e.is_symlink():
                if e.size >= SYMLINK_MAX:
                    raise CramfsLimitError(f"symlink target of {e.size} bytes (limit "
                                           f"{SYMLINK_MAX - 1})", offset=e.inode_offset,
                                           field="size", where="inode")
                target = image.read_file(e)
                if not target or b"\0" in target:
                    raise CramfsUnsafePathError(f"symlink target {target!r} is empty or has NUL",
                                                offset=e.inode_offset, field="size",
                                                where="inode")
                child.target = target.decode("utf-8", "surrogateescape")
                links.append(child)
    for link in links:
        if _escapes(by_parts, link.parts[:-1], link.target or ""):
            raise CramfsUnsafePathError(
                f"symlink /{'/'.join(link.parts)} -> {link.target} points outside the tree",
                offset=link.entry.inode_offset, field="symlink target", where="inode")
    return root


def _escapes(by_parts: dict[tuple[str, ...], _Node], parent: tuple[str, ...],
             target: str) -> bool:
    """Does ``target`` (relative to ``parent``) leave the tree, following image symlinks?"""
    if target.startswith("/"):
        return True
    stack = list(parent)
    parts = target.split("/")
    hops = 0
    while parts:
        p = parts.pop(0)
        if p in ("", "."):
            continue
        if p == "..":
            if not stack:
                return True
            stack.pop()
            continue
        stack.append(p)
        node = by_parts.get(tuple(stack))
        if node is not None and node.target is not None:
            hops += 1
            if hops > MAX_SYMLINK_HOPS or node.target.startswith("/"):
                return True
            stack.pop()
            parts = node.target.split("/") + parts
    return False


def extract(
    source,
    target_dir: str | os.PathLike,
    *,
    blocksize: int | None = None,
    max_entries: int = MAX_ENTRIES,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    progress: Callable[[int], None] | None = None,
) -> ExtractReport:
    """Extract image ``source`` (path, bytes or :class:`CramfsImage`) into ``target_dir``.

    ``target_dir`` is created if missing; existing entries are never
    overwritten (``O_EXCL``).  Nothing is written unless the whole tree passes
    :func:`validate_tree`.  ``progress(nbytes)`` is called per file.
    Raises :class:`CramfsError` subclasses (``CramfsIOError`` for OS errors).

    util-linux: ``expand_fs`` in `disk-utils/fsck.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/fsck.cramfs.c>`_.
    """
    own = not isinstance(source, CramfsImage)
    image = open_image(source, blocksize=blocksize) if own else source
    try:
        tree = validate_tree(image, max_entries=max_entries, max_total_bytes=max_total_bytes)
        try:
            os.makedirs(target_dir, exist_ok=True)
            top = os.open(target_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as exc:
            raise CramfsIOError(f"cannot use {os.fspath(target_dir)}: {exc.strerror}") from None
        report = ExtractReport()
        try:
            _Writer(image, report, progress).fill(top, tree)
        finally:
            os.close(top)
        return report
    finally:
        if own:
            image.close()


class _Writer:
    def __init__(self, image: CramfsImage, report: ExtractReport,
                 progress: Callable[[int], None] | None) -> None:
        self.image = image
        self.report = report
        self.progress = progress
        self.root = os.geteuid() == 0

    def _mode(self, mode: int) -> int:
        perm = stat.S_IMODE(mode)
        return perm if self.root else perm & ~(stat.S_ISUID | stat.S_ISGID)

    def _oserror(self, node: _Node, exc: OSError) -> CramfsIOError:
        return CramfsIOError(f"cannot create /{'/'.join(node.parts)}: {exc.strerror}",
                             offset=node.entry.inode_offset, field="name", where="inode")

    def fill(self, dfd: int, node: _Node) -> None:
        for child in node.children:
            name = child.parts[-1]
            e = child.entry
            try:
                if e.is_dir():
                    os.mkdir(name, 0o700, dir_fd=dfd)
                    cfd = os.open(name, _OPEN_DIR, dir_fd=dfd)
                    try:
                        self.fill(cfd, child)
                        self._owner(cfd, e)
                        os.fchmod(cfd, self._mode(e.mode))
                    finally:
                        os.close(cfd)
                    self.report.dirs += 1
                elif e.is_file():
                    self._file(dfd, name, child)
                elif e.is_symlink():
                    os.symlink(child.target, name, dir_fd=dfd)
                    if self.root:
                        os.chown(name, e.uid, e.gid, dir_fd=dfd, follow_symlinks=False)
                    self.report.symlinks += 1
                else:
                    self._special(dfd, name, child)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise CramfsUnsafePathError(
                        f"/{'/'.join(child.parts)} is a symlink in the target; not following",
                        offset=e.inode_offset, field="name", where="inode") from None
                raise self._oserror(child, exc) from None

    def _owner(self, fd: int, e: Entry) -> None:
        if self.root:
            os.fchown(fd, e.uid, e.gid)

    def _file(self, dfd: int, name: str, node: _Node) -> None:
        e = node.entry
        data = self.image.read_file(e)
        fd = os.open(name, _OPEN_NEW, 0o600, dir_fd=dfd)
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            self._owner(fd, e)
            os.fchmod(fd, self._mode(e.mode))
        finally:
            os.close(fd)
        self.report.files += 1
        self.report.bytes += len(data)
        if self.progress:
            self.progress(len(data))

    def _special(self, dfd: int, name: str, node: _Node) -> None:
        e = node.entry
        if not self.root:
            self.report.skipped.append(f"/{'/'.join(node.parts)} (special file, not root)")
            return
        dev = 0
        if stat.S_ISCHR(e.mode) or stat.S_ISBLK(e.mode):
            # cramfs stores old_encode_dev(rdev) in the size field (inode.c: old_decode_dev)
            dev = os.makedev((e.size >> 8) & 0xFF, e.size & 0xFF)
        os.mknod(name, stat.S_IFMT(e.mode) | self._mode(e.mode), dev, dir_fd=dfd)
        os.chown(name, e.uid, e.gid, dir_fd=dfd, follow_symlinks=False)
        os.chmod(name, self._mode(e.mode), dir_fd=dfd)
        self.report.specials += 1
