"""Dropping pages from the page cache: ``invalidate_mapping_pages`` of ``mm/truncate.c`` @ v4.15.

What ``echo 1 > /proc/sys/vm/drop_caches`` does to each file: clean, unlocked pages that no PTE
maps and nobody else holds leave the cache. The next fault on one of them is major again.

Kernel: `mm/truncate.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/truncate.c>`_.
"""

from __future__ import annotations

from mmlab.filemap import delete_from_page_cache
from mmlab.fs_types import AddressSpace
from mmlab.physmem import PageLocked, page_mapcount

__all__ = ["invalidate_mapping_pages"]


def invalidate_mapping_pages(mapping: AddressSpace, start: int = 0, end: int | None = None) -> int:
    """Drop the clean, unlocked, unmapped pages of ``mapping`` in ``[start, end]``.

    ``invalidate_mapping_pages`` (mm/truncate.c @ v4.15), what ``echo 1 >
    /proc/sys/vm/drop_caches`` does for each file. Returns how many pages were dropped; the next
    fault on one of them is major again.

    Kernel: ``invalidate_mapping_pages`` in `mm/truncate.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/truncate.c#L546>`_.
    """
    dropped = 0
    for index, page in sorted(mapping.pages.items()):
        if index < start or (end is not None and index > end):
            continue
        if PageLocked(page) or "PG_dirty" in page.flags or page_mapcount(page) > 0:
            continue
        if page._refcount != 1:  # someone else holds a reference
            continue
        delete_from_page_cache(page)
        dropped += 1
    return dropped
