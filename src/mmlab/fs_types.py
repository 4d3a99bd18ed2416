"""Files, inodes, superblocks, page caches: what the mm uses of ``include/linux/fs.h`` @ v4.15.

The model keeps only what mmap(2), page faults and ``/proc/PID/maps`` look at: the open mode
of a file (``f_mode``), its ``->mmap`` method, its inode (number, size, device of its
superblock) and the inode's page cache (``i_mapping``). Filesystems that make such files are
:mod:`mmlab.fs` (files in memory or mirrored from this machine) and the cramfs driver.

Kernel: `include/linux/fs.h @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h>`_ and `include/linux/kdev_t.h`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from mmlab.physmem import Page
from mmlab.trace import AddressSpaceSnapshot, FileSnapshot, InodeSnapshot

__all__ = [
    "AOP_TRUNCATED_PAGE",
    "AddressSpace",
    "AddressSpaceOperations",
    "FMODE_EXEC",
    "FMODE_READ",
    "FMODE_WRITE",
    "File",
    "FileOperations",
    "Inode",
    "MAJOR",
    "MINOR",
    "MINORBITS",
    "MINORMASK",
    "MKDEV",
    "SuperBlock",
]

# f_mode bits (include/linux/fs.h @ v4.15 L100): what the file was opened for.
FMODE_READ = 0x1
FMODE_WRITE = 0x2
FMODE_EXEC = 0x20

#: ``->readpage`` found the page truncated and unlocked it: look it up again.
AOP_TRUNCATED_PAGE = 0x80001

# Kernel-internal dev_t: 12 bits of major above 20 bits of minor (include/linux/kdev_t.h).
MINORBITS = 20
MINORMASK = (1 << MINORBITS) - 1


def MKDEV(major: int, minor: int) -> int:  # noqa: N802 - kernel name
    """Build a kernel ``dev_t`` from its major and minor numbers.

    Kernel: ``MKDEV`` in `include/linux/kdev_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/kdev_t.h#L12>`_.
    """
    return (major << MINORBITS) | minor


def MAJOR(dev: int) -> int:  # noqa: N802 - kernel name
    """The major number of a kernel ``dev_t``.

    Kernel: ``MAJOR`` in `include/linux/kdev_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/kdev_t.h#L10>`_.
    """
    return dev >> MINORBITS


def MINOR(dev: int) -> int:  # noqa: N802 - kernel name
    """The minor number of a kernel ``dev_t``.

    Kernel: ``MINOR`` in `include/linux/kdev_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/kdev_t.h#L11>`_.
    """
    return dev & MINORMASK


@dataclass(eq=False)
class SuperBlock:
    """``struct super_block``: the device number ``/proc/PID/maps`` prints, and whether the
    backing device accounts dirty pages (``mapping_cap_account_dirty``: disk filesystems do,
    ramfs and tmpfs do not), which decides if shared writable mappings need write notification.

    Kernel: ``struct super_block`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L1337>`_.
    """

    s_dev: int = 0
    s_type: str = "model"
    bdi_cap_account_dirty: bool = False


@dataclass(frozen=True, eq=False)
class AddressSpaceOperations:
    """``struct address_space_operations``: ``readpage(file, page) -> 0/-errno`` fills a page.

    ``readpage`` receives a new, locked page; it fills it, marks it uptodate (or ``PG_error``)
    and unlocks it, the contract of Documentation/filesystems/vfs.txt. ``None``: the file
    cannot be read through the page cache (``generic_file_mmap`` refuses it).

    Kernel: ``struct address_space_operations`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L331>`_.
    """

    readpage: Callable[[File, Page], int] | None = None


@dataclass(eq=False)
class AddressSpace:
    """``struct address_space``: the page cache of one inode.

    ``pages`` maps a page index (file offset / PAGE_SIZE) to the cached ``Page``; the kernel
    uses a radix tree (``page_tree``) at v4.15 and an xarray since v4.20.
    ``mapping_flags`` is 0: a page whose ``mapping`` is an address space is a page-cache page
    (see :class:`mmlab.physmem.PageMapping`).

    Kernel: ``struct address_space`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L391>`_.
    """

    host: Inode | None = None
    a_ops: AddressSpaceOperations = field(default_factory=AddressSpaceOperations)
    pages: dict[int, Page] = field(default_factory=dict)
    mapping_flags: int = field(default=0, init=False, repr=False)

    @property
    def nrpages(self) -> int:
        """How many pages of this file are in the page cache."""
        return len(self.pages)

    def trace_snapshot(self) -> AddressSpaceSnapshot:
        """Whose page cache this is and how many pages it holds now, for a trace to keep.

        Model helper: no kernel counterpart (what ftrace would print of the mapping).
        """
        return AddressSpaceSnapshot(self.host.i_ino if self.host is not None else None,
                                    len(self.pages))


@dataclass(eq=False)
class Inode:
    """``struct inode``: number, size in bytes, superblock, page cache, and where data comes from.

    ``data`` is a callable ``(offset, length) -> bytes`` that a ``readpage`` uses to fetch the
    file's contents (from memory, a real file or a cramfs image): the model's stand-in for the
    block device under the filesystem.

    Kernel: ``struct inode`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L570>`_.
    """

    i_ino: int
    i_size: int
    i_sb: SuperBlock = field(default_factory=SuperBlock)
    i_mapping: AddressSpace = field(default_factory=AddressSpace)
    data: Callable[[int, int], bytes] | None = None

    def __post_init__(self) -> None:
        if self.i_mapping.host is None:
            self.i_mapping.host = self

    def trace_snapshot(self) -> InodeSnapshot:
        """This inode's type, number, size and cached pages now, for a trace to keep.

        Model helper: no kernel counterpart (what ftrace would print of the inode).
        """
        return InodeSnapshot(type(self).__name__, self.i_ino, self.i_size,
                             len(self.i_mapping.pages))


@dataclass(frozen=True, eq=False)
class FileOperations:
    """``struct file_operations``: what mmap(2) looks at.

    - ``mmap(file, vma) -> 0/-errno``: set up a new VMA (``vm_ops``, flags, maybe PTEs);
    - ``get_unmapped_area(file, addr, len, pgoff, flags) -> address/-errno``: choose where;
    - ``mmap_supported_flags``: mmap flags beyond the legacy ones that ``MAP_SHARED_VALIDATE``
      accepts for this file (``MAP_SYNC`` on DAX files).

    Kernel: ``struct file_operations`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L1692>`_.
    """

    mmap: Callable[..., int] | None = None
    get_unmapped_area: Callable[..., int] | None = None
    mmap_supported_flags: int = 0


@dataclass(eq=False)
class File:
    """``struct file``: an open file, as mmap(2) receives it.

    ``f_path`` is the name ``/proc/PID/maps`` prints. ``f_op.mmap`` is called by ``mmap_region``
    (``call_mmap``); files without one cannot be mapped (``-ENODEV``).

    Kernel: ``struct file`` in `include/linux/fs.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/fs.h#L852>`_.
    """

    f_inode: Inode
    f_mode: int = FMODE_READ
    f_op: FileOperations = field(default_factory=FileOperations)
    f_path: str = "/model/file"

    def trace_snapshot(self) -> FileSnapshot:
        """This file's path, mode and inode now, for a trace to keep.

        Model helper: no kernel counterpart (what ftrace would print of the file).
        """
        return FileSnapshot(self.f_path, self.f_mode, self.f_inode.trace_snapshot())

    @property
    def f_mapping(self) -> AddressSpace:
        """The page cache this file reads through (``file->f_mapping``)."""
        return self.f_inode.i_mapping

    def read(self, offset: int, length: int) -> bytes:
        """Bytes of the file, without the page cache (what a ``readpage`` uses).

        Model helper: no kernel counterpart.
        """
        if self.f_inode.data is None:
            return bytes(length)
        return self.f_inode.data(offset, length)
