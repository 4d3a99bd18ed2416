"""``simple_readpage`` of ``fs/libfs.c`` @ v4.15: fill a page-cache page from the file's bytes.

The simplest ``->readpage`` there is, used by the model's in-memory files (:mod:`mmlab.fs`). It
follows the contract every ``readpage`` has (Documentation/filesystems/vfs.txt): it receives a
new, locked page; fills it; marks it uptodate or in error; and unlocks it.

Source: `fs/libfs.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/libfs.c#L420>`_.
"""

from __future__ import annotations

import errno

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.fs_types import File
from mmlab.physmem import Page, SetPageError, SetPageUptodate, unlock_page

__all__ = ["simple_readpage"]


def simple_readpage(file: File, page: Page) -> int:
    """A ``readpage`` for files of the model: copy the file's bytes into the page.

    Follows the ``->readpage`` contract (Documentation/filesystems/vfs.txt): fill the locked
    page, zero what lies beyond ``i_size``, set ``PG_uptodate``, unlock. A read error sets
    ``PG_error`` and returns ``-EIO`` (the page stays not uptodate).

    Kernel: ``simple_readpage`` in `fs/libfs.c @ v4.15
    <https://elixir.bootlin.com/linux/v4.15/source/fs/libfs.c>`_.
    """
    pos = page.index << PAGE_SHIFT
    size = file.f_inode.i_size
    want = max(0, min(PAGE_SIZE, size - pos))
    try:
        data = file.read(pos, want) if want else b""
    except OSError:
        SetPageError(page)
        unlock_page(page)
        return -errno.EIO
    data = bytes(data[:want]).ljust(PAGE_SIZE, b"\0")
    page.write(0, data)
    SetPageUptodate(page)
    unlock_page(page)
    return 0
