"""A filesystem for the model's files (``fs/ramfs/``, ``fs/ext4/file.c``): in memory, or real.

Two ways to get an open :class:`~mmlab.fs_types.File` to map:

- :func:`file_from_bytes`: a regular file whose contents live in memory, on a model filesystem:
  ``->mmap`` is ``generic_file_mmap`` (as for ramfs, ``fs/ramfs/file-mmu.c``), its inode number
  comes from ``get_next_ino``, and its ``->readpage`` (:func:`model_readpage`) copies the
  file's bytes into the page, as a disk filesystem's reads its blocks;
- :func:`file_from_path`: a real file of this machine, read through the model's page cache, with
  the device and inode numbers the real kernel prints in ``/proc/self/maps``; on ext4 and xfs its
  ``->mmap`` refuses ``MAP_SYNC`` as those filesystems do without DAX (``ext4_file_mmap``,
  ``xfs_file_mmap``).

The ``fs.h`` types themselves are :mod:`mmlab.fs_types`, re-exported here.

Kernel: `fs/ramfs/file-mmu.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/ramfs/file-mmu.c>`_ and `fs/ext4/file.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/ext4/file.c>`_.
"""

from __future__ import annotations

import errno
import os

from mmlab.constants import MAP_SYNC, PAGE_SHIFT, PAGE_SIZE, VM_SYNC
from mmlab.filemap import generic_file_mmap
from mmlab.fs_types import (
    FMODE_EXEC,
    FMODE_READ,
    FMODE_WRITE,
    MAJOR,
    MINOR,
    MINORBITS,
    MINORMASK,
    MKDEV,
    AddressSpace,
    AddressSpaceOperations,
    File,
    FileOperations,
    Inode,
    SuperBlock,
)
from mmlab.mm_types import Vma
from mmlab.physmem import Page, SetPageError, SetPageUptodate, unlock_page
from mmlab.system import System, default_system
from mmlab.trace import traced

__all__ = [
    "FMODE_EXEC",
    "FMODE_READ",
    "FMODE_WRITE",
    "MAJOR",
    "MINOR",
    "MINORBITS",
    "MINORMASK",
    "MKDEV",
    "AddressSpace",
    "AddressSpaceOperations",
    "File",
    "FileOperations",
    "Inode",
    "SuperBlock",
    "dax_checking_mmap",
    "file_from_bytes",
    "file_from_path",
    "model_readpage",
]

#: The operations of the model's in-memory files (ramfs: ``generic_file_mmap``).
MODEL_FILE_OPERATIONS = FileOperations(mmap=generic_file_mmap)


@traced
def model_readpage(file: File, page: Page) -> int:
    """The model files' ``->readpage``: copy the file's bytes (``Inode.data``) into the page.

    Follows the ``->readpage`` contract (Documentation/filesystems/vfs.txt): fill the locked
    page, zero what lies beyond ``i_size``, set ``PG_uptodate``, unlock. A read error sets
    ``PG_error`` and returns ``-EIO`` (the page stays not uptodate). A disk filesystem does the
    same through its block device (``mpage_readpage``); ramfs has nothing to read and only
    zeroes the page (``simple_readpage`` in fs/libfs.c).

    Model helper: no kernel counterpart (the model's files have no block device).
    """
    pos = page.index << PAGE_SHIFT
    want = max(0, min(PAGE_SIZE, file.f_inode.i_size - pos))
    try:
        data = file.read(pos, want) if want else b""
    except OSError:
        SetPageError(page)
        unlock_page(page)
        return -errno.EIO
    page.write(0, bytes(data[:want]).ljust(PAGE_SIZE, b"\0"))
    SetPageUptodate(page)
    unlock_page(page)
    return 0


#: The address-space operations of the model's files.
MODEL_AOPS = AddressSpaceOperations(readpage=model_readpage)


def dax_checking_mmap(file: File, vma: Vma) -> int:
    """``->mmap`` of ext4 and xfs: ``MAP_SYNC`` needs DAX, which the model lacks.

    A VMA with ``VM_SYNC`` is refused with ``-EOPNOTSUPP``; anything else is mapped through the
    page cache with ``generic_file_mmap``. Only that check is modelled: ext4 and xfs install
    their own ``vm_ops`` (with their own ``page_mkwrite``), which the model approximates by
    ``generic_file_vm_ops``, and ext4 first refuses a shut-down filesystem (``-EIO``).

    Kernel: ``ext4_file_mmap`` in `fs/ext4/file.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/ext4/file.c#L353>`_.
    """
    if vma.vm_flags & VM_SYNC:
        return -errno.EOPNOTSUPP
    return generic_file_mmap(file, vma)


#: Filesystems whose backing device does not account dirty pages (no writeback to a disk).
_NO_DIRTY_ACCOUNTING = frozenset({None, "tmpfs", "ramfs", "proc", "sysfs", "devtmpfs"})


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


def file_from_bytes(
    content: bytes,
    path: str = "/model/file",
    *,
    mode: int = FMODE_READ,
    ino: int | None = None,
    dev: int = MKDEV(0, 0x2A),
    f_op: FileOperations | None = None,
    system: System | None = None,
) -> File:
    """An open file whose contents live in memory (a regular file on a ramfs-like filesystem).

    ``ino`` defaults to the next number of the machine's ``get_next_ino`` counter (``system``,
    or the default system), as ramfs numbers its inodes.

    Kernel: ``ramfs_get_inode`` in `fs/ramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/ramfs/inode.c#L61>`_.
    """
    if ino is None:
        ino = (system if system is not None else default_system()).get_next_ino()
    data = bytes(content)
    inode = Inode(
        ino,
        len(data),
        SuperBlock(dev),
        AddressSpace(a_ops=MODEL_AOPS),
        data=lambda off, n: data[off : off + n],
    )
    return File(inode, mode, f_op or MODEL_FILE_OPERATIONS, path)


def file_from_path(path: str | os.PathLike[str], *, mode: int = FMODE_READ) -> File:
    """An open file for a real file of this machine, with its real device and inode numbers.

    Reads go to the real file, so faults on its mapping see what is on disk. On ext4 and xfs
    the file's ``->mmap`` refuses ``MAP_SYNC`` (:func:`dax_checking_mmap`), as those
    filesystems do. ``/proc/PID/maps`` prints the device of the real kernel's superblock;
    :func:`os.stat` gives the same numbers in user-space encoding, converted here to the
    kernel's ``dev_t``.

    Model helper: no kernel counterpart (the kernel's ``open(2)`` of an existing file).
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
        SuperBlock(
            dev, fstype or "model", bdi_cap_account_dirty=fstype not in _NO_DIRTY_ACCOUNTING
        ),
        AddressSpace(a_ops=MODEL_AOPS),
        data=data,
    )
    f_op = MODEL_FILE_OPERATIONS
    if fstype in ("ext4", "xfs"):  # their ->mmap refuses MAP_SYNC without DAX
        f_op = FileOperations(mmap=dax_checking_mmap, mmap_supported_flags=MAP_SYNC)
    return File(inode, mode, f_op, os.path.realpath(path))
