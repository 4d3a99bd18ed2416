"""Files, inodes, superblocks and address spaces: the parts of ``include/linux/fs.h`` the mm needs.

Source: `include/linux/fs.h @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_.

The model keeps only what mmap(2), page faults and ``/proc/PID/maps`` look at: the open mode
of a file (``f_mode``), its ``->mmap`` method, its inode (number, size, device of its
superblock) and the inode's page cache (``i_mapping``). A file can be backed by bytes in memory
(:func:`file_from_bytes`) or by a real file on this machine (:func:`file_from_path`), whose device
and inode numbers then match what the real kernel prints in ``/proc/self/maps``.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# f_mode bits (include/linux/fs.h @ v4.15): what the file was opened for.
FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_EXEC = 0x20

# Kernel-internal dev_t: 12 bits of major above 20 bits of minor (include/linux/kdev_t.h).
MINORBITS = 20
MINORMASK = (1 << MINORBITS) - 1


def MKDEV(major: int, minor: int) -> int:  # noqa: N802 - kernel name
    """Build a kernel ``dev_t`` (``MKDEV`` in include/linux/kdev_t.h @ v4.15).

    Source: `include/linux/kdev_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/kdev_t.h>`_.
    """
    return (major << MINORBITS) | minor


def MAJOR(dev: int) -> int:  # noqa: N802 - kernel name
    """The major number of a kernel ``dev_t``."""
    return dev >> MINORBITS


def MINOR(dev: int) -> int:  # noqa: N802 - kernel name
    """The minor number of a kernel ``dev_t``."""
    return dev & MINORMASK


@dataclass(eq=False)
class SuperBlock:
    """``struct super_block``: here only the device number ``/proc/PID/maps`` prints.

    Source: `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_.
    """

    s_dev: int = 0
    s_type: str = "model"


@dataclass(eq=False)
class AddressSpaceOperations:
    """``struct address_space_operations``: ``readpage(file, page) -> 0/-errno`` fills a page."""

    readpage: Callable[[Any, Any], int] | None = None


@dataclass(eq=False)
class AddressSpace:
    """``struct address_space``: the page cache of one inode.

    ``pages`` maps a page index (file offset / PAGE_SIZE) to the cached ``Page``; the kernel
    uses a radix tree (``page_tree``) at v4.15 and an xarray since v4.20.

    Source: `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_.
    """

    host: Inode | None = None
    a_ops: AddressSpaceOperations = field(default_factory=AddressSpaceOperations)
    pages: dict[int, Any] = field(default_factory=dict)

    @property
    def nrpages(self) -> int:
        """How many pages of this file are in the page cache."""
        return len(self.pages)


@dataclass(eq=False)
class Inode:
    """``struct inode``: number, size in bytes, superblock, page cache, and where data comes from.

    ``data`` is a callable ``(offset, length) -> bytes`` that a ``readpage`` uses to fetch the
    file's contents (from memory, a real file or a cramfs image).

    Source: `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_.
    """

    i_ino: int
    i_size: int
    i_sb: SuperBlock = field(default_factory=SuperBlock)
    i_mapping: AddressSpace = field(default_factory=AddressSpace)
    data: Callable[[int, int], bytes] | None = None

    def __post_init__(self) -> None:
        if self.i_mapping.host is None:
            self.i_mapping.host = self


@dataclass(eq=False)
class FileOperations:
    """``struct file_operations``: what mmap(2) looks at (``->mmap`` above all)."""

    mmap: Callable[[Any, Any], int] | None = None
    get_unmapped_area: Callable[..., int] | None = None
    #: mmap flags beyond the legacy ones that MAP_SHARED_VALIDATE accepts (e.g. MAP_SYNC on DAX).
    mmap_supported_flags: int = 0


@dataclass(eq=False)
class File:
    """``struct file``: an open file, as mmap(2) receives it.

    ``f_path`` is the name ``/proc/PID/maps`` prints. ``f_op.mmap`` is called by ``mmap_region``
    (``call_mmap``); files without one cannot be mapped (``-ENODEV``).

    Source: `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_.
    """

    f_inode: Inode
    f_mode: int = FMODE_READ
    f_op: FileOperations = field(default_factory=FileOperations)
    f_path: str = "/model/file"

    @property
    def f_mapping(self) -> AddressSpace:
        """The page cache this file reads through (``file->f_mapping``)."""
        return self.f_inode.i_mapping

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of the file, without the page cache (what a ``readpage`` uses)."""
        if self.f_inode.data is None:
            return bytes(length)
        return self.f_inode.data(offset, length)


_next_ino = [1000]


def _generic_file_mmap(file: File, vma: Any) -> int:
    # generic_file_mmap lives in mmlab.filemap, which imports this module: look it up late.
    from mmlab import filemap

    return filemap.generic_file_mmap(file, vma)


def _simple_readpage(file: File, page: Any) -> int:
    # filemap.simple_readpage fills, zero-pads, marks uptodate and unlocks; looked up late.
    from mmlab import filemap

    return filemap.simple_readpage(file, page)


def _dax_checking_mmap(file: File, vma: Any) -> int:
    """``ext4_file_mmap``/``xfs_file_mmap`` @ v4.15: ``MAP_SYNC`` needs DAX, which the model lacks.

    `fs/ext4/file.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/ext4/file.c>`_.
    """
    from mmlab.constants import VM_SYNC

    if vma.vm_flags & VM_SYNC:
        return -errno.EOPNOTSUPP
    return _generic_file_mmap(file, vma)


def _filesystem_type(dev: int) -> str | None:
    """The type of the mounted filesystem with device number ``dev`` (from mountinfo)."""
    wanted = f"{MAJOR(dev)}:{MINOR(dev)}"
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                fields = line.split()
                if fields[2] == wanted:
                    return fields[fields.index("-") + 1]
    except OSError:
        return None
    return None


def _default_file_ops() -> FileOperations:
    return FileOperations(mmap=_generic_file_mmap)


def _default_aops() -> AddressSpaceOperations:
    return AddressSpaceOperations(readpage=_simple_readpage)


def file_from_bytes(
    content: bytes,
    path: str = "/model/file",
    *,
    mode: int = FMODE_READ,
    ino: int | None = None,
    dev: int = MKDEV(0, 0x2A),
    f_op: FileOperations | None = None,
) -> File:
    """An open file whose contents live in memory (a regular file on a model filesystem)."""
    if ino is None:
        _next_ino[0] += 1
        ino = _next_ino[0]
    data = bytes(content)
    inode = Inode(
        ino,
        len(data),
        SuperBlock(dev),
        AddressSpace(a_ops=_default_aops()),
        data=lambda off, n: data[off : off + n],
    )
    return File(inode, mode, f_op or _default_file_ops(), path)


def file_from_path(path: str | os.PathLike[str], *, mode: int = FMODE_READ) -> File:
    """An open file for a real file of this machine, with its real device and inode numbers.

    Reads go to the real file, so faults on its mapping see what is on disk. On ext4 and xfs
    the file's ``->mmap`` refuses ``MAP_SYNC`` (no DAX here), as those filesystems do.
    ``/proc/PID/maps`` prints the device of the real kernel's superblock; :func:`os.stat` gives
    the same numbers in user-space encoding, converted here to the kernel's ``dev_t``.
    """
    path = os.fspath(path)
    st = os.stat(path)
    dev = MKDEV(os.major(st.st_dev), os.minor(st.st_dev))

    def data(offset: int, length: int) -> bytes:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    fstype = _filesystem_type(dev)
    inode = Inode(
        st.st_ino,
        st.st_size,
        SuperBlock(dev, fstype or "model"),
        AddressSpace(a_ops=_default_aops()),
        data=data,
    )
    f_op = _default_file_ops()
    if fstype in ("ext4", "xfs"):  # their ->mmap refuses MAP_SYNC without DAX
        from mmlab.constants import MAP_SYNC

        f_op = FileOperations(mmap=_dax_checking_mmap, mmap_supported_flags=MAP_SYNC)
    return File(inode, mode, f_op, os.path.realpath(path))
