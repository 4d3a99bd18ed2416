"""cramfs listings: how each file is stored (``ls -l``) and what a tree holds (``info``).

A regular file's blocks are each stored one way (:class:`~mmlab.cramfs.reader.BlockKind`,
decided per page by ``cramfs_readpage`` in ``fs/cramfs/inode.c @ v4.15``); a file's
*storage* names the ways its blocks use, joined with ``+`` in a fixed order:

* ``xip``: uncompressed pages behind direct pointers, which the kernel can map
  straight from flash (execute in place);
* ``zlib``: zlib-compressed blocks (classic pointers, or direct pointers to a
  length-prefixed stream: inflated into the page cache either way);
* ``raw``: uncompressed blocks behind classic pointers (copied, not mapped);
* ``holes``: zero-length blocks that read as zeros (``mkfs.cramfs -z``).

So ``xip`` is a fully mappable file, ``xip+zlib`` one with some compressed
pages, ``zlib+holes`` a sparse file; a file of size 0 is ``empty``.
"""

from __future__ import annotations

import stat
from types import MappingProxyType

from .errors import CramfsError
from .reader import BlockKind, CramfsImage, Entry

__all__ = ["STORAGE_ORDER", "EMPTY", "UNREADABLE", "storage_kind", "TreeCounts", "count_tree"]

#: Block kind -> the storage word it contributes (read-only).
_WORD = MappingProxyType({
    BlockKind.DIRECT: "xip",
    BlockKind.COMPRESSED: "zlib",
    BlockKind.DIRECT_COMPRESSED: "zlib",
    BlockKind.UNCOMPRESSED: "raw",
    BlockKind.HOLE: "holes",
})
#: The storage words, in the order they are joined (``xip+zlib``, ``zlib+raw+holes``).
STORAGE_ORDER: tuple[str, ...] = ("xip", "zlib", "raw", "holes")
EMPTY = "empty"  #: the storage of a file of size 0 (no blocks)
UNREADABLE = "bad"  #: what :func:`count_tree` counts a file whose block pointers are damaged as


def storage_kind(image: CramfsImage, entry: Entry) -> str:
    """How the blocks of a regular file (or symlink) are stored: ``"zlib"``, ``"xip+zlib"``, ...

    One word per kind of block the file uses, in :data:`STORAGE_ORDER`,
    joined with ``+``; ``"empty"`` for a file without data.  Reads only the
    block pointers (nothing is inflated).  Raises
    :class:`~mmlab.cramfs.errors.CramfsError` when they are damaged.

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    words = {_WORD[b.kind] for b in image.blocks(entry)}
    if not words:
        return EMPTY
    return "+".join(w for w in STORAGE_ORDER if w in words)


class TreeCounts:
    """What :func:`count_tree` found: inodes by type, regular files by storage.

    ``directories`` includes the root, so the counts add up to the inodes
    ``mkfs.cramfs`` records in ``fsid.files``.  ``devices`` counts character and
    block device nodes; ``storage`` maps a :func:`storage_kind` to its regular files.

    Model helper: no kernel counterpart.
    """

    # A plain class, not a dataclass: ``dataclasses`` costs ~10 ms of the command's start-up.
    def __init__(self, directories: int = 0, regular_files: int = 0, symlinks: int = 0,
                 devices: int = 0, fifos: int = 0, sockets: int = 0,
                 storage: dict[str, int] | None = None) -> None:
        self.directories = directories
        self.regular_files = regular_files
        self.symlinks = symlinks
        self.devices = devices
        self.fifos = fifos
        self.sockets = sockets
        self.storage: dict[str, int] = {} if storage is None else storage

    def __repr__(self) -> str:
        return f"TreeCounts({self.as_dict()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TreeCounts) and self.as_dict() == other.as_dict()

    @property
    def inodes(self) -> int:
        return (self.directories + self.regular_files + self.symlinks + self.devices
                + self.fifos + self.sockets)

    def as_dict(self) -> dict[str, int | dict[str, int]]:
        """The counts as a JSON-able dict (``mmlab cramfs info --json`` prints it as ``tree``).

        Model helper: no kernel counterpart.
        """
        return {"inodes": self.inodes, "directories": self.directories,
                "regular_files": self.regular_files, "symlinks": self.symlinks,
                "devices": self.devices, "fifos": self.fifos, "sockets": self.sockets,
                "storage": dict(self.storage)}


def count_tree(image: CramfsImage) -> TreeCounts:
    """Count every inode of the image by type, and regular files by :func:`storage_kind`.

    A file whose block pointers cannot be decoded counts as ``"bad"``; a
    damaged directory raises :class:`~mmlab.cramfs.errors.CramfsError` (from
    :meth:`~mmlab.cramfs.reader.CramfsImage.walk`).

    Model helper: no kernel counterpart.
    """
    counts = TreeCounts(directories=1)  # the root
    storage: dict[str, int] = {}
    for e in image.walk():
        kind = stat.S_IFMT(e.mode)
        if kind == stat.S_IFDIR:
            counts.directories += 1
        elif kind == stat.S_IFREG:
            counts.regular_files += 1
            try:
                word = storage_kind(image, e)
            except CramfsError:
                word = UNREADABLE
            storage[word] = storage.get(word, 0) + 1
        elif kind == stat.S_IFLNK:
            counts.symlinks += 1
        elif kind in (stat.S_IFCHR, stat.S_IFBLK):
            counts.devices += 1
        elif kind == stat.S_IFIFO:
            counts.fifos += 1
        elif kind == stat.S_IFSOCK:
            counts.sockets += 1
    order = (*STORAGE_ORDER, EMPTY, UNREADABLE)
    counts.storage = dict(sorted(storage.items(), key=lambda kv: (-kv[1], _rank(kv[0], order))))
    return counts


def _rank(word: str, order: tuple[str, ...]) -> tuple[int, str]:
    """Sort key of a storage word: its first part's place in ``order``, then the word."""
    first = word.split("+", 1)[0]
    return (order.index(first) if first in order else len(order), word)
