"""In-memory input tree of the cramfs writer: what ``parse_directory`` of ``mkfs.cramfs.c`` reads.

The node classes, and a loader for (and writer to) real directories.

:func:`mmlab.cramfs.writer.build_image` takes either a directory path or a
:class:`Dir` built from these node classes::

    from mmlab.cramfs.tree import Dir, File, Symlink
    root = Dir({
        "etc": Dir({"motd": File(b"hello\\n")}),
        "bin": Dir({"sh": File(elf_bytes, mode=0o755)}),
        "lib": Dir({"libc.so": Symlink("libc.so.6")}),
    })

Names are ``str`` (encoded with :func:`os.fsencode`) or ``bytes``; ``mode`` is
the permission part of ``st_mode`` (``0o7777``: suid/sgid/sticky included), the
file type comes from the node class.  ``uid``/``gid`` default to 0 (root),
like a tree prepared for an embedded image.  Nothing is truncated here: the
writer applies mkfs.cramfs's truncation rules (uid to 16 bits, gid to 8, size
to 24) and warns like it does.

:func:`materialize` writes such a tree to a real directory (ownership and devices
need root), which is how the tests feed the same tree to
``mkfs.cramfs``.  :func:`scan_directory` is the reverse (what
``parse_directory()`` in util-linux ``disk-utils/mkfs.cramfs.c`` reads with
``lstat``).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .errors import CramfsBuildError, CramfsIOError
from .layout import MAX_INPUT_NAMELEN

__all__ = [
    "Node",
    "File",
    "Symlink",
    "Dir",
    "Device",
    "Fifo",
    "Socket",
    "as_name",
    "walk",
    "materialize",
    "scan_directory",
]

# MAX_INPUT_NAMELEN (255, the longest name component mkfs.cramfs reads) is defined in .layout
# and importable from here as before.


def as_name(name: str | bytes) -> bytes:
    """A directory-entry name as bytes; raises CramfsBuildError for '', '.', '..', '/' or NUL.

    Model helper: no kernel counterpart.
    """
    raw = os.fsencode(name) if isinstance(name, str) else bytes(name)
    if raw in (b"", b".", b".."):
        raise CramfsBuildError(f"invalid file name {raw!r}", where="tree")
    if b"/" in raw or b"\0" in raw:
        raise CramfsBuildError(f"file name {raw!r} contains '/' or NUL", where="tree")
    if len(raw) > MAX_INPUT_NAMELEN:
        raise CramfsBuildError(
            f"name too long: {len(raw)} bytes (a directory entry holds at most "
            f"{MAX_INPUT_NAMELEN}, and cramfs only {((1 << 6) - 1) << 2}): {raw[:40]!r}...",
            where="tree",
        )
    return raw


@dataclass
class Node:
    """Common metadata: permission bits, owner and group (full width, not truncated).

    Model helper: no kernel counterpart.
    """

    mode: int = 0o644
    uid: int = 0
    gid: int = 0

    #: S_IFMT bits of the node type (set by each subclass)
    IFMT = 0

    @property
    def st_mode(self) -> int:
        """``st_mode`` as ``lstat`` would report it: type bits | permission bits."""
        return self.IFMT | (self.mode & 0o7777)


@dataclass
class File(Node):
    """A regular file with its content.

    Model helper: no kernel counterpart.
    """

    data: bytes = b""
    IFMT = stat.S_IFREG

    def __init__(self, data: bytes | bytearray = b"", mode: int = 0o644, uid: int = 0,
                 gid: int = 0) -> None:
        super().__init__(mode, uid, gid)
        self.data = bytes(data)


@dataclass
class Symlink(Node):
    """A symbolic link; its "size" is the length of the target (Linux gives links mode 0777).

    Model helper: no kernel counterpart.
    """

    target: bytes = b""
    IFMT = stat.S_IFLNK

    def __init__(self, target: str | bytes, mode: int = 0o777, uid: int = 0, gid: int = 0) -> None:
        super().__init__(mode, uid, gid)
        self.target = os.fsencode(target) if isinstance(target, str) else bytes(target)
        if not self.target or b"\0" in self.target:
            raise CramfsBuildError(f"invalid symlink target {self.target!r}", where="tree")


@dataclass
class Dir(Node):
    """A directory: ``entries`` maps names (str or bytes) to nodes.

    Model helper: no kernel counterpart.
    """

    entries: dict[bytes, Node] = field(default_factory=dict)
    IFMT = stat.S_IFDIR

    def __init__(self, entries: Mapping[str | bytes, Node] | None = None, mode: int = 0o755,
                 uid: int = 0, gid: int = 0) -> None:
        super().__init__(mode, uid, gid)
        self.entries = {}
        for name, node in (entries or {}).items():
            self.add(name, node)

    def add(self, name: str | bytes, node: Node) -> Node:
        """Add (or replace) an entry; returns the node."""
        if not isinstance(node, Node):
            raise CramfsBuildError(f"entry {name!r} is not a tree node: {node!r}", where="tree")
        self.entries[as_name(name)] = node
        return node

    def sorted_entries(self) -> list[tuple[bytes, Node]]:
        """Entries in mkfs.cramfs order: ``strcmp`` on the raw bytes.

        util-linux: ``cramsort`` in `disk-utils/mkfs.cramfs.c @ v2.38
        <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
        """
        return sorted(self.entries.items())


@dataclass
class Device(Node):
    """A character (``kind="c"``) or block (``kind="b"``) device; ``rdev`` as ``os.makedev``.

    Model helper: no kernel counterpart.
    """

    kind: str = "c"
    rdev: int = 0

    def __init__(self, kind: str, rdev: int, mode: int = 0o600, uid: int = 0, gid: int = 0):
        super().__init__(mode, uid, gid)
        if kind not in ("c", "b"):
            raise CramfsBuildError(f"device kind must be 'c' or 'b', not {kind!r}", where="tree")
        self.kind = kind
        self.rdev = rdev

    @property
    def IFMT(self) -> int:  # type: ignore[override]  # noqa: N802 - mirrors the class constant
        return stat.S_IFCHR if self.kind == "c" else stat.S_IFBLK


@dataclass
class Fifo(Node):
    """A named pipe (stored with size 0, like sockets).

    Model helper: no kernel counterpart.
    """

    IFMT = stat.S_IFIFO


@dataclass
class Socket(Node):
    """A Unix socket (stored with size 0).

    Model helper: no kernel counterpart.
    """

    IFMT = stat.S_IFSOCK


def walk(root: Dir, prefix: bytes = b"") -> Iterator[tuple[bytes, Node]]:
    """Every (relative path, node) below ``root`` in mkfs.cramfs preorder (sorted, depth first).

    Model helper: no kernel counterpart.
    """
    stack: list[tuple[bytes, Node]] = [(prefix + n, c) for n, c in reversed(root.sorted_entries())]
    while stack:
        path, node = stack.pop()
        yield path, node
        if isinstance(node, Dir):
            stack.extend((path + b"/" + n, c) for n, c in reversed(node.sorted_entries()))


def _apply_meta(path: bytes, node: Node, *, chown: bool) -> None:
    if chown:
        os.lchown(path, node.uid, node.gid)
    if not isinstance(node, Symlink):
        os.chmod(path, node.mode & 0o7777)


def materialize(root: Dir, path: str | os.PathLike) -> None:
    """Write the tree under ``path`` (created if missing; must be empty).

    Owners are set only when running as root (``os.geteuid() == 0``); devices
    need root too (CramfsIOError otherwise).  Directory modes are applied last,
    so a ``0o000`` directory can still be filled.

    Model helper: no kernel counterpart.
    """
    top = os.fsencode(os.fspath(path))
    is_root = os.geteuid() == 0
    os.makedirs(top, exist_ok=True)
    if os.listdir(top):
        raise CramfsIOError(f"{os.fsdecode(top)} is not empty", where="materialize")
    dirs: list[tuple[bytes, Node]] = [(top, root)]
    try:
        for rel, node in walk(root):
            full = top + b"/" + rel
            if isinstance(node, Dir):
                os.mkdir(full)
                dirs.append((full, node))
                continue
            if isinstance(node, File):
                with open(full, "wb") as f:
                    f.write(node.data)
            elif isinstance(node, Symlink):
                os.symlink(node.target, full)
            elif isinstance(node, Device):
                os.mknod(full, node.st_mode, node.rdev)
            elif isinstance(node, Fifo):
                os.mkfifo(full)
            elif isinstance(node, Socket):
                os.mknod(full, stat.S_IFSOCK | 0o600)  # no bind(): no 108-byte path limit
            _apply_meta(full, node, chown=is_root)
        for full, node in reversed(dirs):
            _apply_meta(full, node, chown=is_root)
    except OSError as e:
        raise CramfsIOError(f"cannot materialize tree: {e}", where="materialize") from e


def scan_directory(path: str | os.PathLike) -> Dir:
    """Read a real directory into a :class:`Dir` (``lstat`` semantics, symlinks not followed).

    The root's own metadata comes from ``stat`` (mkfs.cramfs stats the root
    argument, following a symlink).  Unreadable entries raise CramfsIOError.

    util-linux: ``parse_directory`` in `disk-utils/mkfs.cramfs.c @ v2.38
    <https://github.com/util-linux/util-linux/blob/v2.38/disk-utils/mkfs.cramfs.c>`_.
    """
    top = os.fsencode(os.fspath(path))
    try:
        st = os.stat(top)
    except OSError as e:
        raise CramfsIOError(f"stat of {os.fsdecode(top)} failed: {e.strerror}") from e
    if not stat.S_ISDIR(st.st_mode):
        raise CramfsBuildError(f"{os.fsdecode(top)} is not a directory", where="tree")
    root = Dir(mode=st.st_mode, uid=st.st_uid, gid=st.st_gid)
    stack = [(top, root)]
    try:
        while stack:
            dpath, dnode = stack.pop()
            for name in os.listdir(dpath):
                full = dpath + b"/" + name
                st = os.lstat(full)
                m = st.st_mode
                if stat.S_ISDIR(m):
                    child: Node = Dir(mode=m, uid=st.st_uid, gid=st.st_gid)
                    stack.append((full, child))  # type: ignore[arg-type]
                elif stat.S_ISREG(m):
                    with open(full, "rb") as f:
                        child = File(f.read(), mode=m, uid=st.st_uid, gid=st.st_gid)
                elif stat.S_ISLNK(m):
                    child = Symlink(os.readlink(full), mode=m, uid=st.st_uid, gid=st.st_gid)
                elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                    child = Device("c" if stat.S_ISCHR(m) else "b", st.st_rdev, mode=m,
                                   uid=st.st_uid, gid=st.st_gid)
                elif stat.S_ISFIFO(m):
                    child = Fifo(m, st.st_uid, st.st_gid)
                else:
                    child = Socket(m, st.st_uid, st.st_gid)
                dnode.entries[name] = child
    except OSError as e:
        raise CramfsIOError(f"cannot read {os.fsdecode(e.filename or top)}: {e.strerror}") from e
    return root
