"""The page cache and the generic file fault handler: ``mm/filemap.c`` @ v4.15.

Models, in `mm/filemap.c <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c>`_:
``__lock_page_or_retry`` L1296, ``page_cache_read`` L2381, ``filemap_fault`` L2495,
``filemap_map_pages`` L2616, ``filemap_page_mkwrite`` L2700, ``generic_file_vm_ops`` L2727,
``generic_file_mmap`` L2735, ``generic_file_readonly_mmap`` L2749, and read(2)'s
``generic_file_buffered_read`` L2053.

The page cache of a file is its ``AddressSpace`` (``file.f_mapping``, the inode's
``i_mapping``): a dict from page index to :class:`~mmlab.physmem.Page` (a radix tree in the
kernel). A cached page holds one reference for the cache; each PTE mapping it holds another
and adds one to its mapcount. ``AddressSpace``, ``File`` and ``Inode`` are defined in
:mod:`mmlab.fs_types` and re-exported here. A ``readpage(file, page) -> 0/-errno`` fills the
locked page, marks it uptodate (or ``PG_error``) and unlocks it, as the kernel contract says
(:func:`mmlab.fs.model_readpage` is one).

Where the model simplifies:

- **No readahead.** v4.15 reads around a cold miss (``ra_pages``, 32 pages by default, half
  of it before the fault) and asynchronously ahead of ``PG_readahead`` pages; the model reads
  only the faulting page, so every first touch of a page is a major fault. Fault-*around*
  (mapping pages that are already cached, :func:`filemap_map_pages`) is modelled. For cramfs
  on MTD this is what v4.15 does too: ``mount_mtd`` gives the super block the MTD layer's own
  ``backing_dev_info`` (``mtd_bdi``, drivers/mtd/mtdsuper.c L55), which ``mtd_bdi_init``
  allocates zeroed (``bdi_alloc``, drivers/mtd/mtdcore.c L1840; ``__GFP_ZERO``,
  mm/backing-dev.c L862) and nothing gives a ``ra_pages``. So ``file_ra_state_init`` hands each
  open file ``ra_pages`` 0 (mm/readahead.c L32), and ``do_sync_mmap_readahead`` (mm/filemap.c
  L2421) and ``page_cache_sync_readahead`` (mm/readahead.c L500) return without reading.
- **Page locks** do not sleep: a page found locked belongs to an imagined I/O in flight. With
  ``FAULT_FLAG_ALLOW_RETRY`` :func:`lock_page_or_retry` drops mmap_sem, "waits" (the I/O
  completes and the page is unlocked) and makes the fault return ``VM_FAULT_RETRY``; without it
  the lock is simply taken over.
- **Since v5.1** (:data:`mmlab.version.FILEMAP_DROPS_LOCK_FOR_IO`) a first try
  (``FAULT_FLAG_ALLOW_RETRY`` without ``FAULT_FLAG_TRIED``) that must read a page gives up the
  fault's lock before the read (``maybe_unlock_mmap_for_io``) and returns
  ``VM_FAULT_MAJOR | VM_FAULT_RETRY``: the retry finds the page cached. In 6.12 the lock it
  gives up is the VMA's when the fault runs under one (``release_fault_lock``), so a cold
  page-cache fault under a VMA lock always ends on mmap_lock (``maybe_unlock_mmap_for_io``,
  `mm/filemap.c @ v6.12.118 L3438
  <https://elixir.bootlin.com/linux/v6.12.118/source/mm/filemap.c#L3438>`_, in the re-read
  of a page that is not uptodate, which is how a cold page is read when ``ra_pages`` is 0).
- No truncation races beyond the ``page.mapping`` re-check, no writeback, no ``file_accessed``
  timestamps, no memcg, no ``-EIO`` shrinking of the readahead window.
"""

from __future__ import annotations

import errno

from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_RETRY_NOWAIT,
    FAULT_FLAG_TRIED,
    FAULT_FLAG_VMA_LOCK,
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGBUS,
    VM_MAYWRITE,
    VM_SHARED,
)
from mmlab.errors import KernelBug
from mmlab.fs_types import (
    AOP_TRUNCATED_PAGE,
    AddressSpace,
    AddressSpaceOperations,
    File,
    FileOperations,
    Inode,
    SuperBlock,
)
from mmlab.memory_fault import alloc_set_pte
from mmlab.mm_types import (
    MmStruct,
    Vma,
    VmFault,
    VmOperations,
    release_fault_lock,
    vma_end_read,
    vma_mm,
)
from mmlab.pagetable import pte_none
from mmlab.physmem import (
    ClearPageError,
    Page,
    PageLocked,
    PageUptodate,
    PhysMem,
    lock_page,
    mark_page_accessed,
    trylock_page,
    unlock_page,
)
from mmlab.trace import traced
from mmlab.version import FILEMAP_DROPS_LOCK_FOR_IO, MULTIPLE_FAULT_RETRIES, Version, has

__all__ = [
    "AOP_TRUNCATED_PAGE",
    "AddressSpace",
    "AddressSpaceOperations",
    "DIV_ROUND_UP",
    "File",
    "FileOperations",
    "Inode",
    "SuperBlock",
    "add_to_page_cache_lru",
    "delete_from_page_cache",
    "filemap_fault",
    "filemap_map_pages",
    "filemap_page_mkwrite",
    "find_get_page",
    "generic_file_buffered_read",
    "generic_file_mmap",
    "generic_file_readonly_mmap",
    "generic_file_vm_ops",
    "fault_flag_allow_retry_first",
    "lock_page_or_retry",
    "page_cache_read",
]


def DIV_ROUND_UP(n: int, d: int) -> int:  # noqa: N802 - kernel name
    """``(n + d - 1) / d``.

    Kernel: ``DIV_ROUND_UP`` in `include/linux/kernel.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/kernel.h#L99>`_.
    """
    return -(-n // d)


def _mapping_of(file: File) -> AddressSpace:
    return file.f_mapping


# --- the page cache ---------------------------------------------------------------------------
@traced
def find_get_page(mapping: AddressSpace, offset: int) -> Page | None:
    """The cached page at ``offset`` with a new reference, or ``None``.

    ``pagecache_get_page`` with no flags. The caller must ``put_page`` it.

    Kernel: ``find_get_page`` in `include/linux/pagemap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pagemap.h#L269>`_.
    """
    page = mapping.pages.get(offset)
    if page is None:
        return None
    page.mem.get_page(page)
    return page


@traced
def add_to_page_cache_lru(page: Page, mapping: AddressSpace, offset: int, gfp_mask: int = 0) -> int:
    """Insert a new, locked page into the cache at ``offset``.

    The page is locked first (``__SetPageLocked``); the cache takes a reference and the page
    gets ``mapping``/``index``. ``-EEXIST`` (page unlocked again) if the slot is taken.

    Kernel: ``add_to_page_cache_lru`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L898>`_.
    """
    page.flags.add("PG_locked")
    if offset in mapping.pages:
        page.flags.discard("PG_locked")
        return -errno.EEXIST
    page.mem.get_page(page)
    page.mapping = mapping
    page.index = offset
    mapping.pages[offset] = page
    page.flags.add("PG_lru")
    return 0


def delete_from_page_cache(page: Page) -> None:
    """Remove ``page`` from its cache and drop the cache's reference (mm/filemap.c).

    Kernel: ``delete_from_page_cache`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L294>`_.
    """
    mapping = page.mapping
    if mapping is None or mapping.pages.get(page.index) is not page:
        raise KernelBug(f"delete_from_page_cache: {page!r} is not in a page cache")
    del mapping.pages[page.index]
    page.mapping = None
    page.mem.put_page(page)


@traced
def page_cache_read(file: File, offset: int, gfp_mask: int = 0, *, physmem: PhysMem) -> int:
    """Allocate a page, add it to the cache and start ``->readpage`` on it.

    ``-ENOMEM`` if no page; losing the race to add (``-EEXIST``) is fine (0); otherwise
    ``readpage``'s result. The allocation reference is dropped at the end: the cache keeps its
    own. ``physmem`` is the machine to allocate from (the kernel has only one).

    Kernel: ``page_cache_read`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2381>`_.
    """
    mapping = _mapping_of(file)
    while True:
        page = physmem.alloc_page()  # __page_cache_alloc
        if page is None:
            return -errno.ENOMEM
        ret = add_to_page_cache_lru(page, mapping, offset, gfp_mask)
        if ret == 0:
            readpage = mapping.a_ops.readpage if mapping.a_ops else None
            if readpage is None:
                raise KernelBug("page_cache_read: address space without ->readpage")
            ret = readpage(file, page)
        elif ret == -errno.EEXIST:
            ret = 0
        physmem.put_page(page)
        if ret != AOP_TRUNCATED_PAGE:
            return ret


def fault_flag_allow_retry_first(flags: int, version: Version) -> bool:
    """May this fault still drop its lock and ask for a retry?

    v4.15: ``FAULT_FLAG_ALLOW_RETRY`` (the x86 handler clears it for the second try). From v5.7
    (:data:`mmlab.version.MULTIPLE_FAULT_RETRIES`) the flag stays and ``FAULT_FLAG_TRIED``
    tells the first try apart.

    Kernel: ``fault_flag_allow_retry_first`` in `include/linux/mm.h @ v6.12.118 <https://elixir.bootlin.com/linux/v6.12.118/source/include/linux/mm.h#L518>`_.
    """
    if not flags & FAULT_FLAG_ALLOW_RETRY:
        return False
    return not (has(version, MULTIPLE_FAULT_RETRIES) and flags & FAULT_FLAG_TRIED)


def lock_page_or_retry(page: Page, mm: MmStruct, flags: int, vma: Vma | None = None) -> bool:
    """Lock ``page``, or give up mmap_sem and ask for a retry (``lock_page_or_retry``).

    True: the page is locked. False: the caller must return ``VM_FAULT_RETRY``; unless
    ``FAULT_FLAG_RETRY_NOWAIT`` was set, mmap_sem has been released (``up_read``) and the wait
    for the page is over (in the model the imagined I/O completes and unlocks the page).
    Without ``FAULT_FLAG_ALLOW_RETRY`` the caller sleeps for the lock with mmap_sem held (the
    model takes it over at once). A fault under a VMA lock (``FAULT_FLAG_VMA_LOCK``, 6.x)
    releases that lock instead (``release_fault_lock``; ``vma`` is the VMA it holds), as
    ``__folio_lock_or_retry`` does (`mm/filemap.c @ v6.12.118 L1699
    <https://elixir.bootlin.com/linux/v6.12.118/source/mm/filemap.c#L1699>`_).

    Kernel: ``__lock_page_or_retry`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L1296>`_.
    """
    if trylock_page(page):
        return True
    if fault_flag_allow_retry_first(flags, mm.version):
        if flags & FAULT_FLAG_RETRY_NOWAIT:
            return False
        if flags & FAULT_FLAG_VMA_LOCK:
            if vma is None:
                raise KernelBug("lock_page_or_retry under a VMA lock without the VMA")
            vma_end_read(vma)
        else:
            mm.mmap_sem.up_read()
        page.flags.discard("PG_locked")  # wait_on_page_locked: the holder finishes
        return False
    lock_page(page)
    return True


@traced
def filemap_fault(vmf: VmFault) -> int:
    """The generic ``->fault`` for page-cache backed files.

    1. ``vmf.pgoff >= DIV_ROUND_UP(i_size, PAGE_SIZE)`` → ``VM_FAULT_SIGBUS`` (page granular:
       the bytes after EOF in the last page are mapped and read as zero).
    2. ``find_get_page``. A miss counts ``pgmajfault``, makes the result ``VM_FAULT_MAJOR``
       and reads the page (:func:`page_cache_read`; ``-ENOMEM`` → ``VM_FAULT_OOM``, another
       error → ``VM_FAULT_SIGBUS``), then looks again. (No readahead: see the module notes.)
    3. :func:`lock_page_or_retry`; failure → drop the reference, ``ret | VM_FAULT_RETRY``.
    4. Truncated meanwhile (``page.mapping`` changed) → unlock, release, look up again.
    5. Not uptodate (a failed read): ``->readpage`` once more; still not uptodate →
       ``VM_FAULT_SIGBUS``.
    6. i_size re-checked under the page lock.
    7. ``vmf.page = page``; return ``ret | VM_FAULT_LOCKED``: ``0x204`` for a cold miss,
       ``0x200`` for a cache hit.

    Kernel: ``filemap_fault`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2495>`_.
    """
    vma = vmf.vma
    file = vma.vm_file
    if file is None:
        raise KernelBug("filemap_fault on a VMA without a file (NULL vm_file dereference)")
    mapping = _mapping_of(file)
    inode = mapping.host if mapping.host is not None else file.f_inode
    mm = vma_mm(vma)
    physmem = mm.physmem
    offset = vmf.pgoff
    ret = 0
    if offset >= DIV_ROUND_UP(inode.i_size, PAGE_SIZE):
        return VM_FAULT_SIGBUS
    page = find_get_page(mapping, offset)
    if page is None:
        # do_sync_mmap_readahead: read-around not modelled
        mm.system.vmstat["pgmajfault"] += 1
        ret = VM_FAULT_MAJOR
    elif not vmf.flags & FAULT_FLAG_TRIED:
        pass  # do_async_mmap_readahead: no readahead in the model
    while True:
        if page is None:  # retry_find / no_cached_page
            page = find_get_page(mapping, offset)
            if page is None:
                unlocked = (has(mm.version, FILEMAP_DROPS_LOCK_FOR_IO)
                            and fault_flag_allow_retry_first(vmf.flags, mm.version)
                            and not vmf.flags & FAULT_FLAG_RETRY_NOWAIT)
                if unlocked:
                    release_fault_lock(vmf)  # maybe_unlock_mmap_for_io: no I/O under the lock
                error = page_cache_read(file, offset, vmf.gfp_mask, physmem=physmem)
                if unlocked:
                    return ret | VM_FAULT_RETRY  # out_retry: the retry finds the page cached
                if error >= 0:
                    continue
                if error == -errno.ENOMEM:
                    return VM_FAULT_OOM
                return VM_FAULT_SIGBUS
        if page.mem is not physmem:
            raise KernelBug(
                "page cache page from another machine: mms sharing a file must run on one System"
            )
        if not lock_page_or_retry(page, mm, vmf.flags, vma):
            physmem.put_page(page)
            return ret | VM_FAULT_RETRY
        if page.mapping is not mapping:  # truncated
            unlock_page(page)
            physmem.put_page(page)
            page = None
            continue
        if page.index != offset:
            raise KernelBug(f"filemap_fault: page index {page.index} != offset {offset}")
        if not PageUptodate(page):
            # page_not_uptodate: one synchronous re-read
            ClearPageError(page)
            error = mapping.a_ops.readpage(file, page)
            if not error:
                if PageLocked(page):
                    unlock_page(page)  # wait_on_page_locked: the read completes
                if not PageUptodate(page):
                    error = -errno.EIO
            physmem.put_page(page)
            page = None
            if not error or error == AOP_TRUNCATED_PAGE:
                continue
            return VM_FAULT_SIGBUS
        if offset >= DIV_ROUND_UP(inode.i_size, PAGE_SIZE):
            unlock_page(page)
            physmem.put_page(page)
            return VM_FAULT_SIGBUS
        vmf.page = page
        return ret | VM_FAULT_LOCKED


@traced
def filemap_map_pages(vmf: VmFault, start_pgoff: int, end_pgoff: int) -> None:
    """Map pages of ``[start_pgoff, end_pgoff]`` that are already cached (fault-around).

    Only pages that are uptodate, not under readahead, lockable without waiting, still in this
    mapping and below EOF are mapped (read-only for a private VMA, by ``vm_page_prot``), each
    with a reference and a mapcount; entries already populated are left alone. Never reads.

    Kernel: ``filemap_map_pages`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2616>`_.
    """
    vma = vmf.vma
    mapping = _mapping_of(vma.vm_file)
    inode = mapping.host if mapping.host is not None else vma.vm_file.f_inode
    max_idx = DIV_ROUND_UP(inode.i_size, PAGE_SIZE)
    pages = mapping.pages
    if end_pgoff - start_pgoff + 1 <= len(pages):
        indices = [i for i in range(start_pgoff, end_pgoff + 1) if i in pages]
    else:
        indices = sorted(i for i in pages if start_pgoff <= i <= end_pgoff)
    pgd = vma_mm(vma).pgd
    for index in indices:
        page = pages[index]
        if not PageUptodate(page) or "PG_readahead" in page.flags:
            continue
        page.mem.get_page(page)  # page_cache_get_speculative
        if not trylock_page(page):
            page.mem.put_page(page)
            continue
        if page.mapping is not mapping or not PageUptodate(page):
            unlock_page(page)
            page.mem.put_page(page)
            continue
        if index >= max_idx:
            unlock_page(page)
            page.mem.put_page(page)
            break
        addr = vma.vm_start + ((index - vma.vm_pgoff) << PAGE_SHIFT)
        if not pte_none(pgd.walk(addr)) or alloc_set_pte(vmf, page, addr):
            unlock_page(page)
            page.mem.put_page(page)
            continue
        unlock_page(page)


@traced
def filemap_page_mkwrite(vmf: VmFault) -> int:
    """A shared page is about to be written.

    Locks the page; truncated meanwhile → ``VM_FAULT_NOPAGE``; else marks it dirty and returns
    ``VM_FAULT_LOCKED``. (No ``sb_start_pagefault``/``file_update_time`` in the model.)

    Kernel: ``filemap_page_mkwrite`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2700>`_.
    """
    page = vmf.page
    mapping = _mapping_of(vmf.vma.vm_file)
    lock_page(page)
    if page.mapping is not mapping:
        unlock_page(page)
        return VM_FAULT_NOPAGE
    page.flags.add("PG_dirty")
    return VM_FAULT_LOCKED


@traced
def generic_file_buffered_read(file: File, pos: int, count: int, *, physmem: PhysMem) -> bytes:
    """read(2) through the page cache: ``count`` bytes at ``pos``, never past ``i_size``.

    Page by page: an uptodate cached page is copied from as it is; a missing one is added to
    the cache and read with ``->readpage`` (``no_cached_page``); a cached page that is not
    uptodate (a read that failed before) is locked and read once more (``page_not_up_to_date``,
    ``PG_error`` cleared first). Pages read stay cached, so a later fault on a mapping of the
    file finds them (a minor fault, or none at all with fault-around). No readahead (see the
    module notes; cramfs on MTD has none anyway, see :func:`filemap_fault`).

    A page still not uptodate after its read is an I/O error: the read stops there and returns
    what it copied before that page; with nothing copied the kernel returns ``-EIO`` and
    read(2) fails with ``EIO``, which the model raises as :class:`OSError` (``errno.EIO``), as
    ``os.read`` does (likewise ``ENOMEM`` when no page can be allocated). ``physmem`` is the
    machine to allocate from.

    Kernel: ``generic_file_buffered_read`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2053>`_.
    """
    mapping = _mapping_of(file)
    inode = mapping.host if mapping.host is not None else file.f_inode
    end = min(pos + count, inode.i_size)
    out = bytearray()
    error = 0
    while pos < end:
        index = pos >> PAGE_SHIFT
        page = find_get_page(mapping, index)
        if page is None:  # no_cached_page
            page = physmem.alloc_page()
            if page is None:
                error = -errno.ENOMEM
                break
            added = add_to_page_cache_lru(page, mapping, index)
            if added:
                physmem.put_page(page)
                if added == -errno.EEXIST:
                    continue
                error = added
                break
        elif PageUptodate(page):
            _copy_from(page, pos, end, out, physmem)
            pos = (index + 1) << PAGE_SHIFT
            continue
        else:  # page_not_up_to_date
            lock_page(page)
            if page.mapping is None:  # truncated meanwhile
                unlock_page(page)
                physmem.put_page(page)
                continue
            if PageUptodate(page):
                unlock_page(page)
                _copy_from(page, pos, end, out, physmem)
                pos = (index + 1) << PAGE_SHIFT
                continue
        # readpage: the page is locked and not uptodate
        ClearPageError(page)
        readpage = mapping.a_ops.readpage if mapping.a_ops else None
        if readpage is None:
            raise KernelBug("generic_file_buffered_read: address space without ->readpage")
        ret = readpage(file, page)
        if ret == AOP_TRUNCATED_PAGE:
            physmem.put_page(page)
            continue
        if ret:
            error = ret
            physmem.put_page(page)
            break
        if not PageUptodate(page):
            if PageLocked(page):
                unlock_page(page)  # lock_page_killable: the read completes
            if page.mapping is None:
                physmem.put_page(page)
                continue
            error = -errno.EIO  # shrink_readahead_size_eio: no readahead in the model
            physmem.put_page(page)
            break
        if PageLocked(page):
            unlock_page(page)
        _copy_from(page, pos, end, out, physmem)
        pos = (index + 1) << PAGE_SHIFT
    if error and not out:
        raise OSError(-error, f"read of {file.f_path} at {pos:#x}: {errno.errorcode[-error]}")
    return bytes(out)


def _copy_from(page: Page, pos: int, end: int, out: bytearray, physmem: PhysMem) -> None:
    """``page_ok``: copy the part of ``page`` in ``[pos, end)`` to ``out``, drop the reference."""
    mark_page_accessed(page)
    index = page.index
    lo = pos - (index << PAGE_SHIFT)
    hi = min(PAGE_SIZE, end - (index << PAGE_SHIFT))
    out += page.read(lo, hi - lo)
    physmem.put_page(page)


#: ``generic_file_vm_ops`` (mm/filemap.c L2727): not exported to modules at v4.15.
generic_file_vm_ops = VmOperations(
    fault=filemap_fault,
    map_pages=filemap_map_pages,
    page_mkwrite=filemap_page_mkwrite,
    label="generic_file_vm_ops",
)


@traced
def generic_file_mmap(file: File, vma: Vma) -> int:
    """The usual ``f_op->mmap``: page-cache backed mapping.

    ``-ENOEXEC`` if the address space has no ``readpage``; else installs
    :data:`generic_file_vm_ops` and returns 0 (``file_accessed`` is not modelled).

    Kernel: ``generic_file_mmap`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2735>`_.
    """
    mapping = _mapping_of(file)
    if mapping.a_ops is None or mapping.a_ops.readpage is None:
        return -errno.ENOEXEC
    vma.vm_ops = generic_file_vm_ops
    return 0


@traced
def generic_file_readonly_mmap(file: File, vma: Vma) -> int:
    """``generic_file_mmap`` for read-only filesystems (cramfs calls it first).

    ``-EINVAL`` for a mapping that is shared and may become writable (``VM_SHARED`` and
    ``VM_MAYWRITE``: MAP_SHARED of a file opened for writing); else :func:`generic_file_mmap`.

    Kernel: ``generic_file_readonly_mmap`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L2749>`_.
    """
    if vma.vm_flags & VM_SHARED and vma.vm_flags & VM_MAYWRITE:
        return -errno.EINVAL
    return generic_file_mmap(file, vma)
