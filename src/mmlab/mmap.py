"""Address-space layout: ``mm/mmap.c`` @ v4.15.

Models, in `mm/mmap.c <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c>`_:
``find_vma``, ``find_vma_prev``, ``__split_vma``/``split_vma``, ``vma_merge``,
``get_unmapped_area``, ``do_mmap``, ``mmap_region``, ``do_munmap``, ``vm_get_page_prot``, and
``copy_vma`` (for mremap, :mod:`mmlab.mremap`).

They are the kernel-internal functions: they return what the kernel returns (0, an address or
``-errno``) and expect the caller to hold ``mmap_sem`` as the kernel does. The system calls
built on them, which take the lock and raise :class:`OSError`, are the methods of
:class:`mmlab.mm.MM`.

Where the model simplifies: one page size, no NUMA policies, no userfaultfd, no mlock
accounting or RLIMIT checks, no commit accounting (``VM_ACCOUNT`` is set and kept exactly as the
kernel does, but memory is never refused for it), no fork (so every ``anon_vma`` chain is a
single link), no stack guard gap, no address randomisation.
"""

from __future__ import annotations

import errno
from collections.abc import Iterator

from mmlab.constants import (
    LEGACY_MAP_MASK,
    MAP_32BIT,
    MAP_FIXED,
    MAP_NONBLOCK,
    MAP_NORESERVE,
    MAP_POPULATE,
    MAP_PRIVATE,
    MAP_SHARED,
    MAP_SHARED_VALIDATE,
    MAP_TYPE,
    PAGE_ALIGN,
    PAGE_MASK,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_WRITE,
    VM_ACCOUNT,
    VM_EXEC,
    VM_GROWSDOWN,
    VM_GROWSUP,
    VM_LOCKED,
    VM_LOCKONFAULT,
    VM_MAYEXEC,
    VM_MAYREAD,
    VM_MAYSHARE,
    VM_MAYWRITE,
    VM_NORESERVE,
    VM_PFNMAP,
    VM_READ,
    VM_SHARED,
    VM_SOFTDIRTY,
    VM_SPECIAL,
    VM_WRITE,
    calc_vm_flag_bits,
    calc_vm_prot_bits,
    offset_in_page,
)
from mmlab.errors import KernelBug
from mmlab.fs_types import FMODE_READ, FMODE_WRITE, File
from mmlab.memory import zap_page_range
from mmlab.mm_types import (
    AnonVma,
    MmStruct,
    Vma,
    vma_is_anonymous,
    vma_mark_detached,
    vma_pages,
    vma_start_write,
)
from mmlab.pagetable import pgprot_modify, protection_map
from mmlab.shmem import shmem_zero_setup
from mmlab.trace import traced

__all__ = [
    "copy_vma",
    "do_mmap",
    "do_munmap",
    "find_vma",
    "find_vma_prev",
    "get_unmapped_area",
    "mmap_region",
    "split_vma",
    "split_vma_nocheck",
    "unmap_region",
    "vm_get_page_prot",
    "vm_pgprot_modify",
    "vma_merge",
    "vma_set_page_prot",
    "vma_wants_writenotify",
]


def vm_get_page_prot(vm_flags: int) -> int:
    """The PTE protection bits for ``vm_flags``: ``protection_map[flags & 0xf]``.

    The index is the four low flags, ``VM_READ|VM_WRITE|VM_EXEC|VM_SHARED``; x86's table
    (:data:`mmlab.pagetable.protection_map`) gives a private writable mapping read-only PTEs (the
    first write faults and copies: COW), sets NX without ``VM_EXEC``, and gives ``PAGE_NONE`` (not
    present to the MMU) to a mapping without access. No protection keys, so
    ``arch_vm_get_page_prot`` adds nothing.

    Kernel: ``vm_get_page_prot`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L103>`_.
    """
    return protection_map[vm_flags & (VM_READ | VM_WRITE | VM_EXEC | VM_SHARED)]


def vm_pgprot_modify(oldprot: int, vm_flags: int) -> int:
    """The protection for ``vm_flags``, keeping the caching bits a driver set in ``oldprot``.

    Kernel: ``vm_pgprot_modify`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L111>`_.
    """
    return pgprot_modify(oldprot, vm_get_page_prot(vm_flags))


def vma_wants_writenotify(vma: Vma, vm_page_prot: int) -> bool:
    """Must the first write to each page of this VMA fault, so someone can be told?

    Only for shared writable VMAs; then yes if the VMA's ops want to hear of it
    (``page_mkwrite`` or ``pfn_mkwrite``: every page-cache backed file with
    ``generic_file_vm_ops``), no if a driver put protection bits in ``vm_page_prot`` that would
    be lost, yes if soft-dirty tracking was reset (``CONFIG_MEM_SOFT_DIRTY`` and no
    ``VM_SOFTDIRTY``), no for ``VM_PFNMAP``, else yes if the file's backing device accounts
    dirty pages.

    Kernel: ``vma_wants_writenotify`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1570>`_.
    """
    vm_flags = vma.vm_flags
    if (vm_flags & (VM_WRITE | VM_SHARED)) != (VM_WRITE | VM_SHARED):
        return False
    ops = vma.vm_ops
    if ops is not None and (ops.page_mkwrite is not None or ops.pfn_mkwrite is not None):
        return True
    if vm_page_prot != vm_pgprot_modify(vm_page_prot, vm_flags):
        return False
    mm = vma.vm_mm
    if mm is not None and mm.system.soft_dirty and not vm_flags & VM_SOFTDIRTY:
        return True
    if vm_flags & VM_PFNMAP:
        return False
    return vma.vm_file is not None and vma.vm_file.f_inode.i_sb.bdi_cap_account_dirty


def vma_set_page_prot(vma: Vma) -> None:
    """Recompute ``vm_page_prot`` after a flags change.

    A VMA that wants write notification (:func:`vma_wants_writenotify`) gets the protection of
    a *private* mapping: its PTEs start read-only, so the first write to a page faults
    (``do_wp_page`` -> ``wp_page_shared``), and the filesystem's ``page_mkwrite`` is called and
    the page marked dirty before the PTE becomes writable.

    Kernel: ``vma_set_page_prot`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L117>`_.
    """
    vm_flags = vma.vm_flags
    prot = vm_pgprot_modify(vma.vm_page_prot, vm_flags)
    if vma_wants_writenotify(vma, prot):
        prot = vm_pgprot_modify(prot, vm_flags & ~VM_SHARED)
    vma.vm_page_prot = prot


# ---------------------------------------------------------------------------------------------
# Lookups
# ---------------------------------------------------------------------------------------------


@traced
def find_vma(mm: MmStruct, addr: int) -> Vma | None:
    """The first VMA with ``vm_end > addr``, or None.

    The result does not necessarily contain ``addr``: it may start above it (``addr`` is then
    in the gap below it); callers check ``vma.vm_start <= addr`` themselves. The kernel first
    tries a per-thread cache, then walks the rbtree; the model does two binary searches.

    Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2131>`_.
    """
    return mm.mm_rb.find(addr)


def find_vma_prev(mm: MmStruct, addr: int) -> tuple[Vma | None, Vma | None]:
    """``find_vma`` plus the VMA before it.

    Kernel: ``find_vma_prev`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2168>`_.
    """
    vma = mm.mm_rb.find(addr)
    prev = mm.mm_rb.prev(vma) if vma is not None else mm.mm_rb.last()
    return vma, prev


def _overlaps(mm: MmStruct, start: int, end: int) -> bool:
    vma = mm.mm_rb.find(start)
    return vma is not None and vma.vm_start < end


# ---------------------------------------------------------------------------------------------
# Splitting and merging
# ---------------------------------------------------------------------------------------------


def _copy_vma(vma: Vma) -> Vma:
    return Vma(
        vma.vm_start,
        vma.vm_end,
        vma.vm_flags,
        vma.vm_pgoff,
        vma.vm_file,
        vma.vm_ops,
        vma.vm_private_data,
        vma.vm_page_prot,
        vma.vm_mm,
        vma.anon_vma,
    )


@traced
def __split_vma(mm: MmStruct, vma: Vma, addr: int, new_below: int) -> int:  # noqa: N807
    """Cut ``vma`` in two at ``addr`` without the map-count check.

    A new struct is made as a copy of ``vma``. With ``new_below`` it takes the lower part
    ``[vm_start, addr)`` and ``vma`` keeps the upper part; without, ``vma`` keeps the lower part
    and the new struct takes ``[addr, vm_end)`` with ``vm_pgoff`` advanced by the pages below
    ``addr``, which assumes ``vm_pgoff`` is a linear file offset. Every other field (flags, ops,
    file, private data) is copied, and page tables are not touched.

    On a machine with per-VMA locks both VMAs are write-locked (``vma_start_write``) before
    either changes, as 6.12 does (`mm/vma.c @ v6.12.118 L416
    <https://elixir.bootlin.com/linux/v6.12.118/source/mm/vma.c#L416>`_): a fault that holds the
    VMA's read lock is waited for, and later faults on either half go to ``mmap_lock`` until it
    is released.

    v4.15 does not check that ``addr`` lies strictly inside ``vma`` (callers must). The model
    returns ``-EINVAL`` there instead of making a VMA that ends where it starts: its own guard,
    not a kernel's. No kernel returns an error there: Debian's 6.1.192 (``mm/mmap.c``) has no
    check either, and 6.12.118 (``mm/vma.c``, lines 377-378) has two ``WARN_ON``, which print a
    warning with a stack trace and then split anyway.

    Kernel: ``__split_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2552>`_.
    """
    if addr & ~PAGE_MASK or not vma.vm_start < addr < vma.vm_end:
        return -errno.EINVAL
    if vma.vm_ops is not None and vma.vm_ops.split is not None:
        err = vma.vm_ops.split(vma, addr)
        if err:
            return err
    new = _copy_vma(vma)
    pages_below = (addr - vma.vm_start) >> PAGE_SHIFT
    if new_below:
        new.vm_end = addr
    else:
        new.vm_start = addr
        new.vm_pgoff += pages_below
    if new.vm_ops is not None and new.vm_ops.open is not None:
        new.vm_ops.open(new)  # before vma_adjust makes the new VMA visible, as in the kernel
    if mm.per_vma_locks:  # v6.4 on: no fault may use either half while they change
        vma_start_write(vma)
        vma_start_write(new)
    tree = mm.mm_rb
    if new_below:
        tree.set_bounds(vma, addr, vma.vm_end)
        vma.vm_pgoff += pages_below
    else:
        tree.set_bounds(vma, vma.vm_start, addr)
    tree.insert(new)
    return 0


split_vma_nocheck = __split_vma


@traced
def split_vma(mm: MmStruct, vma: Vma, addr: int, new_below: int) -> int:
    """Split ``vma`` at ``addr``; ``-ENOMEM`` at the map-count limit.

    See :func:`__split_vma` for who keeps which half. Not exported to modules at v4.15
    (no ``EXPORT_SYMBOL``): a filesystem that splits VMAs from its fault handler links only
    when built into the kernel.

    Kernel: ``split_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2621>`_.
    """
    if mm.map_count >= mm.system.max_map_count:
        return -errno.ENOMEM
    return __split_vma(mm, vma, addr, new_below)


def _mergeable_vma(vma: Vma, file: File | None, vm_flags: int) -> bool:
    """``is_mergeable_vma``: same flags but VM_SOFTDIRTY, same file, no ``close`` method."""
    if (vma.vm_flags ^ vm_flags) & ~VM_SOFTDIRTY:
        return False
    if vma.vm_file is not file:
        return False
    return not (vma.vm_ops is not None and vma.vm_ops.close is not None)


def _mergeable_anon_vma(a: AnonVma | None, b: AnonVma | None) -> bool:
    """``is_mergeable_anon_vma``: either side has none yet, or both share one.

    The kernel also requires a single-link ``anon_vma_chain`` when one side is NULL; without
    fork every chain in the model is a single link.
    """
    return a is None or b is None or a is b


def _can_merge_before(
    vma: Vma, vm_flags: int, anon_vma: AnonVma | None, file: File | None, pgoff: int
) -> bool:
    """``can_vma_merge_before``: the new range ends where ``vma`` starts, in file order too."""
    return (
        _mergeable_vma(vma, file, vm_flags)
        and _mergeable_anon_vma(anon_vma, vma.anon_vma)
        and vma.vm_pgoff == pgoff
    )


def _can_merge_after(
    vma: Vma, vm_flags: int, anon_vma: AnonVma | None, file: File | None, pgoff: int
) -> bool:
    """``can_vma_merge_after``: the new range starts where ``vma`` ends, in file order too."""
    return (
        _mergeable_vma(vma, file, vm_flags)
        and _mergeable_anon_vma(anon_vma, vma.anon_vma)
        and vma.vm_pgoff + vma_pages(vma) == pgoff
    )


def _absorb(mm: MmStruct, keep: Vma, start: int, end: int, pgoff: int) -> None:
    """Make ``keep`` cover ``[start, end)``: the part of ``__vma_adjust`` the model needs.

    VMAs wholly inside the new range are removed (their ``anon_vma`` passes to ``keep``, as
    ``anon_vma_clone`` does); a VMA that overlaps the range's end is trimmed from below, one that
    overlaps its start is trimmed from above.
    """
    tree = mm.mm_rb
    if mm.per_vma_locks:  # vma_merge write-locks what it changes (mm/vma.c @ v6.12.118 L759-L765)
        vma_start_write(keep)
        for other in _vmas_in(mm, start, end):
            vma_start_write(other)
    for other in list(_vmas_in(mm, start, end)):
        if other is keep:
            continue
        if keep.anon_vma is None and other.anon_vma is not None:
            keep.anon_vma = other.anon_vma
        if other.vm_start >= start and other.vm_end <= end:
            tree.remove(other)
            if other.vm_ops is not None and other.vm_ops.close is not None:
                other.vm_ops.close(other)
        elif other.vm_start < start:
            tree.set_bounds(other, other.vm_start, start)
        else:
            other.vm_pgoff += (end - other.vm_start) >> PAGE_SHIFT
            tree.set_bounds(other, end, other.vm_end)
    keep.vm_pgoff = pgoff
    tree.set_bounds(keep, start, end)


def _vmas_in(mm: MmStruct, start: int, end: int) -> Iterator[Vma]:
    vma = mm.mm_rb.find(start)
    while vma is not None and vma.vm_start < end:
        yield vma
        vma = mm.mm_rb.next(vma)


@traced
def vma_merge(
    mm: MmStruct,
    prev: Vma | None,
    addr: int,
    end: int,
    vm_flags: int,
    anon_vma: AnonVma | None,
    file: File | None,
    pgoff: int,
) -> Vma | None:
    """Try to extend a neighbour over ``[addr, end)`` instead of making a new VMA.

    ``prev`` is the VMA before the range (or the VMA the range starts inside, when mprotect
    changes the tail of a VMA). The range can join ``prev`` if it starts where ``prev`` ends,
    and/or the VMA after it (``next``) if it ends where ``next`` starts; "join" requires equal
    flags (but ``VM_SOFTDIRTY``), the same file, contiguous file offsets, compatible
    ``anon_vma``, and no ``close`` method. ``VM_SPECIAL`` mappings never merge. Returns the VMA
    that now covers the range, or None.

    v4.15 requires two things more, which the model has no way to differ in: the same
    ``vm_userfaultfd_ctx`` (``is_mergeable_vm_userfaultfd_ctx``, in ``is_mergeable_vma``,
    mm/mmap.c L992) and an equal NUMA policy (``mpol_equal``, mm/mmap.c L1134 and L1142). The
    model has no userfaultfd and no NUMA policies, so every VMA passes both.

    The eight cases of the kernel's comment reduce to: join both (1, 6), join ``prev`` (2, 5,
    7), join ``next`` (3, 8), or move the boundary between ``prev`` and ``next`` (4). In case 8
    the kernel keeps the ``next`` struct and frees the middle one; the model does the same.

    Kernel: ``vma_merge`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1099>`_.
    """
    if vm_flags & VM_SPECIAL:
        return None
    pglen = (end - addr) >> PAGE_SHIFT
    tree = mm.mm_rb
    nxt = tree.next(prev) if prev is not None else tree.first()
    area = nxt
    if area is not None and area.vm_end == end:  # cases 6, 7, 8: area is replaced whole
        nxt = tree.next(area)

    if (
        prev is not None
        and prev.vm_end == addr
        and _can_merge_after(prev, vm_flags, anon_vma, file, pgoff)
    ):
        if (
            nxt is not None
            and end == nxt.vm_start
            and _can_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)
            and _mergeable_anon_vma(prev.anon_vma, nxt.anon_vma)
        ):
            _absorb(mm, prev, prev.vm_start, nxt.vm_end, prev.vm_pgoff)  # cases 1, 6
        else:
            _absorb(mm, prev, prev.vm_start, end, prev.vm_pgoff)  # cases 2, 5, 7
        return prev

    if (
        nxt is not None
        and end == nxt.vm_start
        and _can_merge_before(nxt, vm_flags, anon_vma, file, pgoff + pglen)
    ):
        if prev is not None and addr < prev.vm_end:  # case 4: the boundary moves down
            tree.set_bounds(prev, prev.vm_start, addr)
            nxt.vm_pgoff -= pglen
            tree.set_bounds(nxt, addr, nxt.vm_end)
            if nxt.anon_vma is None:
                nxt.anon_vma = anon_vma
        else:  # cases 3, 8
            _absorb(mm, nxt, addr, nxt.vm_end, nxt.vm_pgoff - pglen)
        return nxt
    return None


# ---------------------------------------------------------------------------------------------
# mmap
# ---------------------------------------------------------------------------------------------


@traced
def get_unmapped_area(
    mm: MmStruct, file: File | None, addr: int, length: int, pgoff: int, flags: int
) -> int:
    """Choose where a new mapping goes: an address, or ``-errno``.

    A file's own ``get_unmapped_area`` method decides if it has one. Otherwise x86-64's
    ``arch_get_unmapped_area_topdown``: with ``MAP_FIXED`` the caller's address is taken as is;
    a hint is honoured if the range is free and below ``TASK_SIZE``; else the highest free gap
    between ``PAGE_SIZE`` and ``mmap_base`` (``unmapped_area_topdown``). The result must end
    below ``TASK_SIZE`` (``-ENOMEM``) and be page aligned (``-EINVAL``), and
    ``security_mmap_addr`` refuses an address below ``mmap_min_addr`` with ``-EPERM`` unless
    the process has ``CAP_SYS_RAWIO`` (``cap_mmap_addr``, security/commoncap.c).

    ``MAP_32BIT``, and a failed top-down search, use the bottom-up search of
    ``arch_get_unmapped_area``. Not modelled: the stack guard gap, randomisation, the file
    alignment of AMD family 15h CPUs (``get_align_mask``).

    Kernel: ``get_unmapped_area`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2087>`_.
    """
    if length > mm.task_size:
        return -errno.ENOMEM
    if file is not None and file.f_op.get_unmapped_area is not None:
        addr = file.f_op.get_unmapped_area(file, addr, length, pgoff, flags)
    elif not flags & MAP_FIXED:
        addr = _topdown_area(mm, addr, length, flags)
    if addr < 0:
        return addr
    if addr > mm.task_size - length:
        return -errno.ENOMEM
    if offset_in_page(addr):
        return -errno.EINVAL
    if addr < mm.system.mmap_min_addr and not mm.cap_sys_rawio:  # security_mmap_addr
        return -errno.EPERM
    return addr


def _topdown_area(mm: MmStruct, hint: int, length: int, flags: int) -> int:
    """``arch_get_unmapped_area_topdown`` (arch/x86/kernel/sys_x86_64.c) without MAP_FIXED.

    A free hint wins; else the highest gap below ``mmap_base``; ``MAP_32BIT``, or no gap found,
    goes to the bottom-up search instead.
    """
    if flags & MAP_32BIT:
        return _bottomup_area(mm, hint, length, flags)
    if hint:
        hint &= PAGE_MASK
        if mm.task_size - length >= hint and not _overlaps(mm, hint, hint + length):
            return hint
    addr = mm.mm_rb.find_gap_topdown(length, PAGE_SIZE, mm.mmap_base)
    if addr is None:  # "a failed mmap() very likely causes application failure"
        return _bottomup_area(mm, hint, length, flags)
    return addr


def _bottomup_area(mm: MmStruct, hint: int, length: int, flags: int) -> int:
    """``arch_get_unmapped_area``: the lowest free gap from ``mmap_legacy_base`` up, or for
    ``MAP_32BIT`` in the 1 GiB window at 1 GiB (``find_start_end``), where 64-bit programs
    that need 32-bit addresses (JITs, the small code model) get them."""
    if flags & MAP_32BIT:
        begin, end = 0x40000000, 0x80000000
    else:
        begin, end = mm.mmap_legacy_base, mm.task_size
    if length > end:
        return -errno.ENOMEM
    if hint:
        hint = PAGE_ALIGN(hint)
        if end - length >= hint and not _overlaps(mm, hint, hint + length):
            return hint
    addr = mm.mm_rb.find_gap_bottomup(length, begin, end)
    return -errno.ENOMEM if addr is None else addr


def _accountable_mapping(vm_flags: int) -> bool:
    """``accountable_mapping``: private writable memory is charged to the commit limit."""
    return (vm_flags & (VM_NORESERVE | VM_SHARED | VM_WRITE)) == VM_WRITE


@traced
def do_mmap(
    mm: MmStruct,
    file: File | None,
    addr: int,
    length: int,
    prot: int,
    flags: int,
    vm_flags: int,
    pgoff: int,
) -> tuple[int, int]:
    """The body of mmap(2): check arguments, build ``vm_flags``, call :func:`mmap_region`.

    ``do_mmap`` (mm/mmap.c @ v4.15 L1321); the caller holds ``mmap_sem`` for write. Returns
    ``(address or -errno, bytes to populate)``. Notable rules: a ``MAP_SHARED`` mapping of a file
    not opened for writing loses ``VM_MAYWRITE`` and ``VM_SHARED`` (so it can never become
    writable), while a ``MAP_PRIVATE`` one always keeps ``VM_MAYWRITE`` — which makes every
    private file mapping a COW mapping. Not modelled: ``READ_IMPLIES_EXEC``, mandatory locks,
    ``noexec`` mounts, mlock limits, pkeys.

    Kernel: ``do_mmap`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1321>`_.
    """
    if not length:
        return -errno.EINVAL, 0
    if not flags & MAP_FIXED:
        addr = _round_hint_to_min(mm, addr)
    length = PAGE_ALIGN(length)
    if not length or length >= 1 << 64:
        return -errno.ENOMEM, 0
    if pgoff + (length >> PAGE_SHIFT) >= 1 << 64:
        return -errno.EOVERFLOW, 0
    if mm.map_count > mm.system.max_map_count:
        return -errno.ENOMEM, 0

    addr = get_unmapped_area(mm, file, addr, length, pgoff, flags)
    if addr < 0:
        return addr, 0

    vm_flags |= (
        calc_vm_prot_bits(prot)
        | calc_vm_flag_bits(flags)
        | mm.def_flags
        | VM_MAYREAD
        | VM_MAYWRITE
        | VM_MAYEXEC
    )

    map_type = flags & MAP_TYPE
    if file is not None:
        if map_type in (MAP_SHARED, MAP_SHARED_VALIDATE):
            if map_type == MAP_SHARED:
                flags &= LEGACY_MAP_MASK
            elif flags & ~(LEGACY_MAP_MASK | file.f_op.mmap_supported_flags):
                return -errno.EOPNOTSUPP, 0
            if prot & PROT_WRITE and not file.f_mode & FMODE_WRITE:
                return -errno.EACCES, 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
            if not file.f_mode & FMODE_WRITE:
                vm_flags &= ~(VM_MAYWRITE | VM_SHARED)
        elif map_type != MAP_PRIVATE:
            return -errno.EINVAL, 0
        # what MAP_SHARED falls through to, and MAP_PRIVATE:
        if not file.f_mode & FMODE_READ:
            return -errno.EACCES, 0
        if file.f_op.mmap is None:
            return -errno.ENODEV, 0
        if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
            return -errno.EINVAL, 0
    else:
        if map_type == MAP_SHARED:
            if vm_flags & (VM_GROWSDOWN | VM_GROWSUP):
                return -errno.EINVAL, 0
            pgoff = 0
            vm_flags |= VM_SHARED | VM_MAYSHARE
        elif map_type == MAP_PRIVATE:
            pgoff = addr >> PAGE_SHIFT
        else:
            return -errno.EINVAL, 0

    if flags & MAP_NORESERVE:
        vm_flags |= VM_NORESERVE  # overcommit policy is "heuristic", the default

    addr = mmap_region(mm, file, addr, length, vm_flags, pgoff)
    populate = 0
    if addr >= 0 and (
        vm_flags & VM_LOCKED or flags & (MAP_POPULATE | MAP_NONBLOCK) == MAP_POPULATE
    ):
        populate = length
    return addr, populate


def _round_hint_to_min(mm: MmStruct, hint: int) -> int:
    """``round_hint_to_min``: a hint below ``mmap_min_addr`` is raised to it."""
    hint &= PAGE_MASK
    if hint and hint < mm.system.mmap_min_addr:
        return PAGE_ALIGN(mm.system.mmap_min_addr)
    return hint


@traced
def mmap_region(
    mm: MmStruct, file: File | None, addr: int, length: int, vm_flags: int, pgoff: int
) -> int:
    """Make the VMA for a new mapping.

    Order matters and is kept: unmap whatever was there (``MAP_FIXED``), add ``VM_ACCOUNT`` to
    private writable mappings, try :func:`vma_merge` *before* the file's ``->mmap`` runs (so a
    driver's later flag changes cannot affect that attempt), else make a VMA and call
    ``file->f_op->mmap`` (or, for shared anonymous memory, ``shmem_zero_setup``), then link
    it; a ``VM_LOCKED`` mapping that the driver made ``VM_SPECIAL`` loses ``VM_LOCKED`` (there
    are no pages to lock), and the VMA gets ``VM_SOFTDIRTY``. If ``->mmap`` fails the new VMA's
    page tables are torn down and the error is returned. Not modelled: ``may_expand_vm``
    (``RLIMIT_AS``), the ``locked_vm`` count, uprobes.

    Kernel: ``mmap_region`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L1618>`_.
    """
    while _overlaps(mm, addr, addr + length):
        if do_munmap(mm, addr, length):
            return -errno.ENOMEM
    if _accountable_mapping(vm_flags):
        vm_flags |= VM_ACCOUNT

    prev = mm.mm_rb.find_prev(addr)
    vma = vma_merge(mm, prev, addr, addr + length, vm_flags, None, file, pgoff)
    if vma is None:
        vma = Vma(addr, addr + length, vm_flags, pgoff, vm_mm=mm)
        vma.vm_page_prot = vm_get_page_prot(vm_flags)
        if file is not None:
            vma.vm_file = file
            err = file.f_op.mmap(file, vma)
            if err:
                unmap_region(mm, [vma], vma.vm_start, vma.vm_end)
                return err
            addr = vma.vm_start
            vm_flags = vma.vm_flags
        elif vm_flags & VM_SHARED:
            shmem_zero_setup(vma)  # shared anonymous memory is a tmpfs file
        mm.mm_rb.insert(vma)
    if vm_flags & VM_LOCKED and vm_flags & VM_SPECIAL:
        vma.vm_flags &= ~(VM_LOCKED | VM_LOCKONFAULT)  # VM_LOCKED_CLEAR_MASK: nothing to lock
    if mm.system.soft_dirty:
        vma.vm_flags |= VM_SOFTDIRTY
    vma_set_page_prot(vma)
    return addr


# ---------------------------------------------------------------------------------------------
# munmap
# ---------------------------------------------------------------------------------------------


@traced
def do_munmap(mm: MmStruct, start: int, length: int) -> int:
    """Remove the mappings in ``[start, start+length)``.

    Nothing mapped there is not an error. A VMA that straddles ``start`` is split (the original
    struct keeps the part below), one that straddles the end is split again (a new struct for
    the part below the end); the VMAs inside are detached, their PTEs zapped and page tables
    freed. Splitting in the middle of a VMA needs a free map-count slot (``-ENOMEM``). With
    per-VMA locks each removed VMA is write-locked and marked detached first, as
    ``vms_gather_munmap_vmas`` does in 6.12 (`mm/vma.c @ v6.12.118 L1254
    <https://elixir.bootlin.com/linux/v6.12.118/source/mm/vma.c#L1254>`_); 6.12 then downgrades
    ``mmap_lock`` to read for the zapping, which the model does not.

    Kernel: ``do_munmap`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2635>`_.
    """
    if offset_in_page(start) or start > mm.task_size or length > mm.task_size - start:
        return -errno.EINVAL
    length = PAGE_ALIGN(length)
    if length == 0:
        return -errno.EINVAL
    end = start + length
    vma = mm.mm_rb.find(start)
    if vma is None or vma.vm_start >= end:
        return 0
    if start > vma.vm_start:
        if end < vma.vm_end and mm.map_count >= mm.system.max_map_count:
            return -errno.ENOMEM
        err = __split_vma(mm, vma, start, 0)
        if err:
            return err
    last = mm.mm_rb.find(end)
    if last is not None and end > last.vm_start:
        err = __split_vma(mm, last, end, 1)
        if err:
            return err
    doomed = list(_vmas_in(mm, start, end))
    for v in doomed:
        if mm.per_vma_locks:  # vma_start_write, then vma_mark_detached: mm/vma.c @ v6.12.118 L1254
            vma_start_write(v)
        mm.mm_rb.remove(v)
        if mm.per_vma_locks:
            vma_mark_detached(v, True)
    unmap_region(mm, doomed, start, end)
    for v in doomed:
        if v.vm_ops is not None and v.vm_ops.close is not None:
            v.vm_ops.close(v)
    return 0


def unmap_region(mm: MmStruct, vmas: list[Vma], start: int, end: int) -> None:
    """Zap the PTEs of ``vmas`` (already unlinked) and free the page tables no longer needed.

    Tables are freed between the end of the VMA below the range and the start of the VMA above
    it (``free_pgtables``' floor and ceiling), so a neighbour keeps its tables.

    Kernel: ``unmap_region`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L2501>`_.
    """
    for v in vmas:
        zap_page_range(v, v.vm_start, v.vm_end - v.vm_start)
    prev, nxt = mm.mm_rb.find_prev(start), mm.mm_rb.find(end)
    floor = prev.vm_end if prev is not None else 0  # FIRST_USER_ADDRESS
    ceiling = nxt.vm_start if nxt is not None else 0  # USER_PGTABLES_CEILING: the top
    mm.pgd.free_pgtables(start, end, floor, ceiling)


# ---------------------------------------------------------------------------------------------
# mremap's copy
# ---------------------------------------------------------------------------------------------


@traced
def copy_vma(vma: Vma, addr: int, length: int, pgoff: int) -> tuple[Vma, Vma, bool] | None:
    """The VMA that will hold ``vma``'s pages at ``[addr, addr + length)``, for mremap.

    Returns ``(new_vma, vma, need_rmap_locks)`` -- ``vma`` again, or the VMA it was merged
    into (the kernel updates the caller's pointer, ``*vmap``) -- or None (``NULL``: the range
    is not free, "should never get here", L3116). An anonymous VMA that never had a page gets
    the file offset of its new address instead of ``pgoff``, so that it can merge there
    (L3110-L3113). :func:`vma_merge` is tried first (``VM_SPECIAL`` VMAs never merge); if the
    source itself was merged into the result, which only an unfaulted anonymous VMA can be,
    ``vma`` becomes the result (L3124-L3140; the kernel's ``VM_BUG_ON_VMA`` for a faulted one is
    a :class:`~mmlab.errors.KernelBug` here). Otherwise the new VMA is a copy of ``vma``, every
    field (``*new_vma = *vma``, L3146: flags, ``vm_ops``, ``vm_private_data``, file,
    ``anon_vma``) but its range and ``vm_pgoff``; ``vm_ops->open`` is called and it is linked
    (L3147-L3159). No ``->mremap`` hook runs here. Not modelled: the NUMA policy copy, the
    ``anon_vma_chain`` (without fork the new VMA shares the one ``anon_vma``), the file's
    reference count.

    Kernel: ``copy_vma`` in `mm/mmap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c#L3095>`_.
    """
    mm = vma.vm_mm
    if mm is None:
        raise KernelBug(f"copy_vma: {vma!r} belongs to no mm")
    vma_start = vma.vm_start
    faulted_in_anon_vma = True
    if vma_is_anonymous(vma) and vma.anon_vma is None:
        pgoff = addr >> PAGE_SHIFT
        faulted_in_anon_vma = False
    if _overlaps(mm, addr, addr + length):  # find_vma_links
        return None
    prev = mm.mm_rb.find_prev(addr)
    new_vma = vma_merge(mm, prev, addr, addr + length, vma.vm_flags, vma.anon_vma,
                        vma.vm_file, pgoff)
    if new_vma is not None:
        if new_vma.vm_start <= vma_start < new_vma.vm_end:
            if faulted_in_anon_vma:
                raise KernelBug(f"copy_vma: VM_BUG_ON_VMA: {vma!r} merged into itself")
            vma = new_vma
        return new_vma, vma, new_vma.vm_pgoff <= vma.vm_pgoff
    new_vma = _copy_vma(vma)
    new_vma.vm_start, new_vma.vm_end, new_vma.vm_pgoff = addr, addr + length, pgoff
    if new_vma.vm_ops is not None and new_vma.vm_ops.open is not None:
        new_vma.vm_ops.open(new_vma)
    mm.mm_rb.insert(new_vma)
    return new_vma, vma, False
