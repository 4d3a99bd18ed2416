"""cramfs on flash, mapped in place: fs/cramfs/inode.c @ v4.15, and the 2017 fault-time split.

A cramfs image burnt into NOR flash can be read like memory. If a file's pages are stored
uncompressed, page aligned and one after the other, ``mmap`` can point the process's page-table
entries straight at the flash: the program runs from flash ("execute in place", XIP) and costs
no RAM. This module mounts an image from the model's flash (:func:`mount`), opens its files
(:meth:`CramfsSuperBlock.open`) and gives them a ``->mmap`` that is ``cramfs_physmem_mmap`` in one
of these strategies:

``"refuse"``
    The state before the fault-time split (Nicolas Pitre's series of August 2017): a VMA that
    cannot be mapped whole is not mapped directly at all (``fail_reason = "fix me"``); the page
    cache serves it.
``"split"``
    Nicolas Pitre's patch of 2017-08-16, the fault-time split: map what can be mapped with
    ``remap_pfn_range`` (shrinking ``vm_end`` around the call so the COW whole-VMA rule passes),
    remember the split point in ``vm_private_data``, and let the first fault beyond it split the
    VMA under a write-locked ``mmap_sem`` (:func:`cramfs_vmasplit_fault`).
``"split-v3"``
    The same design with the fixes of the v3 posting (2017-08-31), as the review thread
    describes them: the race re-check also handles a vanished VMA and a different file, the
    split point is re-read after re-locking, and the page-cache VMA loses ``VM_PFNMAP``.
``"mixedmap"``
    Linux v4.15 as merged: ``remap_pfn_range`` when the whole VMA can be mapped, else
    ``VM_MIXEDMAP`` and ``vm_insert_mixed`` for the pages that can, the rest left to
    ``filemap_fault``.

cramfs's messages go to the machine's kernel log (:attr:`mmlab.system.System.dmesg`) verbatim,
with its ``pr_fmt`` prefix ``"cramfs: "``: the ``pr_info`` and ``pr_err`` ones (the mount's two
lines, a damaged block) as every kernel prints them, the ``pr_debug`` ones (the ``->mmap``
decisions) as a kernel prints them once dynamic debug is on for cramfs.

Modelled on `fs/cramfs/inode.c @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c>`_ (``cramfs_get_block_range``
L295, ``cramfs_last_page_is_shared`` L336, ``cramfs_physmem_mmap`` L353, ``cramfs_readpage``
L817, ``cramfs_mtd_fill_super`` L628) and Nicolas Pitre's mail "RE: [PATCH 0/5] cramfs refresh
for embedded usage" (LKML, 2017-08-16), which adds the fault-time split.

Where the model simplifies: the MTD layer is only ``mtd_point`` (the image is already in the
flash window); one page size (cramfs's block size must equal it); the parts of the seed's
``cramfs_physmem_mmap`` that its mail does not show are rebuilt from v4.15 and the mail's
context lines; the v3 handler is rebuilt from the review's description of it, not from its code.
"""

from __future__ import annotations

import errno
import re
import stat
import struct
import zlib
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field

from mmlab import trace
from mmlab.constants import (
    PAGE_SHIFT,
    PAGE_SIZE,
    VM_DONTEXPAND,
    VM_FAULT_ERROR,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_IO,
    VM_MAYWRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_SHARED,
    VM_WRITE,
)
from mmlab.cramfs.errors import CramfsError
from mmlab.cramfs.layout import (
    CRAMFS_BLK_DIRECT_PTR_SHIFT,
    CRAMFS_BLK_FLAG_DIRECT_PTR,
    CRAMFS_BLK_FLAG_UNCOMPRESSED,
    CRAMFS_BLK_FLAGS,
)
from mmlab.cramfs.reader import CramfsImage, open_image
from mmlab.errors import KernelBug
from mmlab.filemap import filemap_fault, generic_file_readonly_mmap, generic_file_vm_ops
from mmlab.fs_types import (
    FMODE_READ,
    MKDEV,
    AddressSpace,
    AddressSpaceOperations,
    File,
    FileOperations,
    Inode,
    SuperBlock,
)
from mmlab.gup import vm_fault_to_errno
from mmlab.memory import remap_pfn_range, vm_insert_mixed, vmf_insert_mixed
from mmlab.mm_types import Vma, VmFault, VmOperations, vma_mm, vma_pages, vma_start_write
from mmlab.mmap import find_vma, split_vma
from mmlab.pfn_t import PFN_DEV, phys_to_pfn_t
from mmlab.physmem import (
    ClearPageUptodate,
    Page,
    SetPageError,
    SetPageUptodate,
    frame_kind,
    unlock_page,
)
from mmlab.rwsem import RwSemaphore
from mmlab.system import System, default_system
from mmlab.version import CRAMFS_VMF_INSERT_MIXED, has

__all__ = [
    "CRAMFS_AOPS",
    "CRAMFS_PHYSMEM_FOPS",
    "CRAMFS_VMASPLIT_OPS",
    "MTD_BLOCK_MAJOR",
    "STRATEGIES",
    "CramfsInode",
    "CramfsSuperBlock",
    "cramfs_get_block_range",
    "cramfs_last_page_is_shared",
    "cramfs_physmem_mmap",
    "cramfs_readpage",
    "cramfs_uncompress_block",
    "cramfs_vmasplit_fault",
    "mount",
    "ram_pages_of",
    "seed_last_page_is_shared",
    "seed_physmem_mmap",
    "split_private_data",
    "SplitFault",
    "vmasplit_fault_steps",
    "zlib_inflate_block",
]

#: The strategies :func:`mount` accepts (see the module docstring).
STRATEGIES = ("refuse", "split", "split-v3", "mixedmap")

#: ``MTD_BLOCK_MAJOR`` (include/uapi/linux/major.h): an MTD-backed super block's ``s_dev`` is
#: ``MKDEV(MTD_BLOCK_MAJOR, mtd->index)`` (``get_sb_mtd_set`` in drivers/mtd/mtdsuper.c).
MTD_BLOCK_MAJOR = 31

_PR_FMT = "cramfs: "

#: ``__PAGE_OFFSET_BASE``: where x86-64 with 4-level paging maps all of RAM (the direct map), so
#: ``page_address`` of frame ``pfn`` is ``PAGE_OFFSET + pfn * PAGE_SIZE`` (without KASLR's
#: randomization). arch/x86/include/asm/page_64_types.h @ v4.15 L43. Only printed.
PAGE_OFFSET = 0xFFFF880000000000

# zlib's return codes (include/linux/zlib.h @ v4.15 L148-L155)
Z_STREAM_END = 1
Z_DATA_ERROR = -3
Z_BUF_ERROR = -5


def _hex(value: int) -> str:
    """C's ``%#x``/``%#lx``: ``0x`` prefix, except that zero prints as a bare ``0``."""
    return f"{value:#x}" if value else "0"


# --- the mount --------------------------------------------------------------------------------
@dataclass(eq=False)
class CramfsSuperBlock(SuperBlock):
    """A cramfs mounted from flash: ``struct super_block`` with ``struct cramfs_sb_info``.

    ``magic``, ``size``, ``blocks``, ``files``, ``flags`` are the image's superblock fields;
    ``linear_phys_addr`` is the physical address of the image (``mtd_point``'s answer),
    ``linear_virt_addr`` the kernel virtual address it is mapped at (an ``ioremap``; the model
    reads through physical memory, so this number is only printed), ``mtd_point_size`` how much
    was pointed at. ``strategy`` picks the ``->mmap`` (:data:`STRATEGIES`); ``tail_check``
    picks the seed's last-page test (``"pages-1"`` before the seed, ``"max_pages-1"`` in it).
    ``system`` is the machine whose flash holds the image and whose log gets the messages.

    Kernel: ``struct cramfs_sb_info`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L38>`_.
    """

    magic: int = 0
    size: int = 0
    blocks: int = 0
    files: int = 0
    flags: int = 0
    linear_phys_addr: int = 0
    linear_virt_addr: int = 0
    mtd_point_size: int = 0
    mtd_name: str = "xipfs"
    mount_point: str = "/mnt"
    strategy: str = "mixedmap"
    tail_check: str = "max_pages-1"
    system: System = field(default_factory=default_system)
    image: CramfsImage | None = field(default=None, repr=False)
    inodes: dict[int, CramfsInode] = field(default_factory=dict, repr=False)

    def pr_debug(self, message: str) -> None:
        """Log ``message`` as cramfs's ``pr_debug`` does with dynamic debug on.

        Without dynamic debug (``CONFIG_DYNAMIC_DEBUG`` with the ``cramfs`` module's messages
        switched on) or ``DEBUG``, a kernel prints nothing here; the model always logs.

        Kernel: ``pr_debug`` in `include/linux/printk.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/printk.h#L332>`_.
        """
        self.system.printk(_PR_FMT + message)

    def pr_info(self, message: str) -> None:
        """Log ``message`` as cramfs's ``pr_info`` does: always (``KERN_INFO``).

        Kernel: ``pr_info`` in `include/linux/printk.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/printk.h#L307>`_.
        """
        self.system.printk(_PR_FMT + message)

    def pr_err(self, message: str) -> None:
        """Log ``message`` as cramfs's ``pr_err`` does: always (``KERN_ERR``).

        Kernel: ``pr_err`` in `include/linux/printk.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/printk.h#L300>`_.
        """
        self.system.printk(_PR_FMT + message)

    def direct_read(self, offset: int, length: int) -> bytes:
        """``length`` bytes of the image at ``offset``, read straight from flash.

        Once the image's size is known, a read that does not fit in it gets zeros: the kernel
        hands back the zero page (``ZERO_PAGE(0)``; a read longer than that page would go on
        into whatever memory follows it, where the model still gives zeros).

        Kernel: ``cramfs_direct_read`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L261>`_.
        """
        if self.size and (length > self.size or offset > self.size - length):
            return bytes(length)
        return self.system.physmem.read_phys(self.linear_phys_addr + offset, length)

    def block_pointer(self, inode: CramfsInode, index: int) -> int:
        """Block pointer ``index`` of ``inode``, read from flash (the image is little-endian).

        Model helper: no kernel counterpart (the kernel dereferences ``u32 *``).
        """
        return struct.unpack("<I", self.direct_read(inode.offset + 4 * index, 4))[0]

    def read_true(self, path: str, offset: int, length: int) -> bytes:
        """The bytes of ``path`` as the image really holds them (the cramfs reader's answer).

        What a correct ``read(2)`` would return, to compare with what the kernel's page cache
        and mappings show (v4.15 reads a page-multiple file's last XIP page as zeros).

        Model helper: no kernel counterpart.
        """
        assert self.image is not None
        entry = self.image.lookup(path.lstrip("/"), follow=True)
        return self.image.read_file(entry)[offset:offset + length]

    def open(self, path: str, *, write: bool = False) -> File:
        """Open ``path`` of the image (``"/bin/sh"``): a file whose ``->mmap`` is XIP-aware.

        Opening for writing fails with ``OSError(EROFS)``, as on any read-only mount
        (``sb_permission``). Files of the same path share one inode and so one page cache
        (the inode cache: ``iget_locked``). A missing path is ``FileNotFoundError``; a
        directory cannot be mapped (``IsADirectoryError``).

        Kernel: ``get_cramfs_inode`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L89>`_.
        """
        if write:
            raise OSError(errno.EROFS, f"open {path!r} for writing: read-only file system")
        assert self.image is not None
        try:
            entry = self.image.lookup(path.lstrip("/"), follow=True)
        except CramfsError as err:
            raise FileNotFoundError(errno.ENOENT, f"{path!r}: {err}") from None
        if entry.is_dir():
            raise IsADirectoryError(errno.EISDIR, f"{path!r} is a directory")
        if not stat.S_ISREG(entry.mode):
            raise OSError(errno.ENODEV, f"{path!r} is not a regular file")
        inode = self.inodes.get(entry.ino)  # the inode cache: one inode, one page cache
        if inode is None:
            inode = CramfsInode(entry.ino, entry.size, self, AddressSpace(a_ops=CRAMFS_AOPS),
                                offset=entry.data_offset,
                                name=entry.name.decode(errors="replace"))
            inode.data = _reader_of(inode)
            self.inodes[entry.ino] = inode
        mount_point = self.mount_point.rstrip("/")
        return File(inode, FMODE_READ, CRAMFS_PHYSMEM_FOPS, f"{mount_point}/{entry.path}")


@dataclass(eq=False)
class CramfsInode(Inode):
    """A cramfs inode: ``OFFSET(inode)`` (where its block pointers are) and its name.

    Kernel: ``OFFSET`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L64>`_.
    """

    offset: int = 0
    name: str = ""

    @property
    def sb(self) -> CramfsSuperBlock:
        """The mount (``CRAMFS_SB(inode->i_sb)``)."""
        sb = self.i_sb
        if not isinstance(sb, CramfsSuperBlock):
            raise KernelBug("a cramfs inode on another file system's super block")
        return sb


def mount(
    image: bytes | bytearray | memoryview | str,
    phys_addr: int | None = None,
    strategy: str = "mixedmap",
    *,
    system: System | None = None,
    tail_check: str | None = None,
    mtd_name: str = "xipfs",
    mtd_index: int = 0,
    mount_point: str = "/mnt",
) -> CramfsSuperBlock:
    """Burn ``image`` (bytes or a path) into flash at ``phys_addr`` and mount it.

    ``phys_addr`` defaults to the start of the machine's flash window and must lie inside it,
    page aligned. ``strategy`` is one of :data:`STRATEGIES`. ``tail_check`` chooses the seed's
    last-page test for ``"refuse"``/``"split"``: ``"pages-1"`` (the line before the seed) or
    ``"max_pages-1"`` (the seed's change); by default ``"refuse"`` uses the first and the split
    strategies the second. The steps and messages are those of ``cramfs_mtd_fill_super``:
    "checking physical address", the superblock checks (an image the kernel would refuse
    raises :class:`~mmlab.cramfs.errors.CramfsError`), "appears to be N KB in size". The two
    messages are ``pr_info``: every mount prints them.

    Kernel: ``cramfs_mtd_fill_super`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L628>`_.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if tail_check is None:
        tail_check = "pages-1" if strategy == "refuse" else "max_pages-1"
    if tail_check not in ("pages-1", "max_pages-1"):
        raise ValueError(f"tail_check must be 'pages-1' or 'max_pages-1', not {tail_check!r}")
    system = system if system is not None else default_system()
    physmem = system.physmem
    if isinstance(image, str):
        with open(image, "rb") as f:
            data = f.read()
    else:
        data = bytes(image)
    if phys_addr is None:
        phys_addr = physmem.flash_phys
    if phys_addr % PAGE_SIZE:
        raise ValueError(f"phys_addr {phys_addr:#x} is not page aligned")
    offset = phys_addr - physmem.flash_phys
    if offset < 0 or offset + len(data) > physmem.flash_size:
        raise ValueError(
            f"{len(data)} bytes at {phys_addr:#x} do not fit in the flash window "
            f"{physmem.flash_phys:#x}-{physmem.flash_phys + physmem.flash_size:#x}")
    physmem.load_flash(data, offset)
    sb = CramfsSuperBlock(MKDEV(MTD_BLOCK_MAJOR, mtd_index), "cramfs",
                          linear_phys_addr=phys_addr,
                          linear_virt_addr=_ioremap_address(phys_addr),
                          mtd_point_size=PAGE_SIZE, mtd_name=mtd_name, mount_point=mount_point,
                          strategy=strategy, tail_check=tail_check, system=system)
    sb.pr_info(f"checking physical address 0x{phys_addr:016x} for linear cramfs image")
    img = open_image(sb.direct_read(0, len(data)))
    info = img.info()
    sb.magic = 0x28CD3D45
    sb.size = int(info["size"])
    sb.blocks = int(info["blocks"])
    sb.files = int(info["files"])
    sb.flags = int(info["flags"])
    if img.blocksize != PAGE_SIZE:
        raise CramfsError(f"block size {img.blocksize} is not PAGE_SIZE", offset=0,
                          field="blocksize", where="superblock")
    sb.pr_info(f"linear cramfs image on mtd:{mtd_name} appears to be {sb.size // 1024} KB "
               "in size")
    sb.mtd_point_size = sb.size
    sb.image = img
    return sb


def _ioremap_address(phys: int) -> int:
    """Where ``ioremap`` would put ``phys`` on x86-64 (the vmalloc area), for printing only."""
    return 0xFFFFC90000000000 + phys


# --- reading: the page cache path --------------------------------------------------------------
@trace.traced
def cramfs_readpage(file: File, page: Page) -> int:
    """Fill one page-cache page of a cramfs file from flash, exactly as v4.15 does.

    The block pointer decides: a direct pointer holds the block's start (``>> 2``); an
    uncompressed direct block is ``PAGE_SIZE`` long, except the file's last block, which is
    capped to ``offset_in_page(i_size)``. That cap is 0 when the size is a multiple of the page
    size, so v4.15 reads such a last XIP page as zeros (a hole): the model reproduces it. A
    classic pointer holds the block's end; its start is the previous block's end (or the end
    of the pointer table), with a direct previous pointer decoded as such. Compressed blocks
    are inflated (:func:`cramfs_uncompress_block`); the rest of the page is zero-filled.

    A damaged block is an error, not zeros: a block length beyond ``2 * PAGE_SIZE`` (or beyond
    ``PAGE_SIZE`` for an uncompressed block) is logged as "bad data blocksize N", a compressed
    block that does not inflate whole into the page is logged by
    :func:`cramfs_uncompress_block`; either way the page is left **not uptodate with
    ``PG_error``**, unlocked, and the function still returns 0. The caller finds the error on
    the page: ``filemap_fault`` reads it once more, then gives ``VM_FAULT_SIGBUS`` (the process
    gets SIGBUS); read(2) fails with ``EIO`` (:func:`mmlab.filemap.generic_file_buffered_read`).
    The page stays in the page cache, so the next access reads it again.

    Kernel: ``cramfs_readpage`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L817>`_.
    """
    inode = file.f_inode
    if not isinstance(inode, CramfsInode):
        raise KernelBug("cramfs_readpage on a file that is not cramfs")
    data = _readpage_bytes(inode, page.index, PAGE_OFFSET + page.pfn * PAGE_SIZE, log=True)
    if isinstance(data, int):  # err:
        ClearPageUptodate(page)
        SetPageError(page)
        unlock_page(page)
        return 0
    page.write(0, data.ljust(PAGE_SIZE, b"\0"))
    SetPageUptodate(page)
    unlock_page(page)
    return 0


def _readpage_bytes(inode: CramfsInode, index: int, dst: int, *, log: bool) -> bytes | int:
    """The bytes ``cramfs_readpage`` puts at the start of page ``index`` (the rest is zero).

    ``-EIO`` for a damaged block (logged when ``log``). ``dst`` is the kernel address of the
    page's frame, for the message.
    """
    sb = inode.sb
    maxblock = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if index >= maxblock:
        return b""
    ptr = sb.block_pointer(inode, index)
    uncompressed = bool(ptr & CRAMFS_BLK_FLAG_UNCOMPRESSED)
    direct = bool(ptr & CRAMFS_BLK_FLAG_DIRECT_PTR)
    ptr &= ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF
    if direct:
        start = ptr << CRAMFS_BLK_DIRECT_PTR_SHIFT
        if uncompressed:
            length = PAGE_SIZE
            if index == maxblock - 1:
                length = inode.i_size % PAGE_SIZE
        else:
            length = struct.unpack("<H", sb.direct_read(start, 2))[0]
            start += 2
    else:
        start = inode.offset + maxblock * 4
        if index:
            start = sb.block_pointer(inode, index - 1)
        if start & CRAMFS_BLK_FLAG_DIRECT_PTR:
            prev = start
            start = (prev & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF) << CRAMFS_BLK_DIRECT_PTR_SHIFT
            if prev & CRAMFS_BLK_FLAG_UNCOMPRESSED:
                start += PAGE_SIZE
            else:
                start += 2 + struct.unpack("<H", sb.direct_read(start, 2))[0]
        start &= ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF
        length = (ptr - start) & 0xFFFFFFFF  # u32 arithmetic: a pointer before its start wraps
    if length == 0:
        return b""  # a hole
    if length > 2 * PAGE_SIZE or (uncompressed and length > PAGE_SIZE):
        if log:
            sb.pr_err(f"bad data blocksize {length}")
        return -errno.EIO
    raw = sb.direct_read(start, length)
    if uncompressed:
        return raw
    return cramfs_uncompress_block(sb, dst, PAGE_SIZE, sb.linear_virt_addr + start, raw, log=log)


def zlib_inflate_block(src: bytes, dstlen: int) -> tuple[int, bytes]:
    """Inflate the zlib stream ``src`` into at most ``dstlen`` bytes, in one ``Z_FINISH`` call.

    Returns ``(Z_STREAM_END, data)`` when the whole stream (its adler-32 included) fits, else
    ``(code, b"")`` with the code the kernel's ``zlib_inflate`` returns: ``Z_DATA_ERROR`` (-3)
    for a damaged stream (a bad header, a bad code, a distance too far back, a wrong check
    value), ``Z_BUF_ERROR`` (-5) when the stream stops before its end (truncated) or does not
    fit in ``dstlen`` bytes, ``Z_NEED_DICT`` (2) for a stream that wants a preset dictionary.
    The kernel's zlib (lib/zlib_inflate, from zlib 1.2.3) and this machine's agree on these;
    the model asks this machine's.

    Kernel: ``zlib_inflate`` in `lib/zlib_inflate/inflate.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/lib/zlib_inflate/inflate.c#L317>`_.
    """
    stream = zlib.decompressobj()
    try:
        data = stream.decompress(src, dstlen)
    except zlib.error as err:
        code = re.match(r"Error (-?\d+)", str(err))
        return (int(code[1]) if code else Z_DATA_ERROR), b""
    if not stream.eof:
        return Z_BUF_ERROR, b""  # out of input (truncated) or out of room (Z_FINISH)
    return Z_STREAM_END, data


def cramfs_uncompress_block(sb: CramfsSuperBlock, dst: int, dstlen: int, src: int, data: bytes,
                            *, log: bool = True) -> bytes | int:
    """Inflate one compressed block (``data``, read at kernel address ``src``) for a page.

    The inflated bytes, or ``-EIO`` when zlib does not end the stream (:func:`zlib_inflate_block`);
    then two lines are logged, as v4.15 prints them::

        cramfs: Error -3 while decompressing!
        cramfs: 00000000a3f2c1d0(1234)->000000005e6b7c8d(4096)

    the zlib code, then the source and destination buffers with their lengths. ``src`` and
    ``dst`` are kernel virtual addresses (the flash mapping of the block, the page's frame in
    the direct map) printed with ``%p``, which v4.15 hashes with a key drawn at boot: 16 hex
    digits, the top eight zero. The model prints its own stand-in hash of each address (its
    CRC-32), so the values are the model's, the shape the kernel's. ``log=False`` keeps it quiet
    (the model's own reads).

    Kernel: ``cramfs_uncompress_block`` in `fs/cramfs/uncompress.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/uncompress.c#L31>`_.
    """
    err, out = zlib_inflate_block(data, dstlen)
    if err == Z_STREAM_END:
        return out
    if log:
        sb.pr_err(f"Error {err} while decompressing!")
        sb.pr_err(f"{_hashed_pointer(src)}({len(data)})->{_hashed_pointer(dst)}({dstlen})")
    return -errno.EIO


def _hashed_pointer(address: int) -> str:
    """How v4.15's ``%p`` prints ``address`` on x86-64, with the model's stand-in for its hash.

    v4.15 prints ``siphash(address, boot-time key) & 0xffffffff`` as 16 zero-padded hex digits
    (``ptr_to_id`` in lib/vsprintf.c); the model uses the CRC-32 of the address instead.
    """
    return f"{zlib.crc32(address.to_bytes(8, 'little')):016x}"


def _reader_of(inode: CramfsInode) -> Callable[[int, int], bytes]:
    return lambda offset, length: _read_through_readpage(inode, offset, length)


def _read_through_readpage(inode: CramfsInode, offset: int, length: int) -> bytes:
    """The bytes ``cramfs_readpage`` would make, clipped to the file size, outside the cache.

    A damaged block raises ``OSError(EIO)``, as read(2) fails there (nothing is logged).
    """
    end = min(offset + length, inode.i_size)
    out = bytearray()
    pos = offset
    while pos < end:
        index = pos >> PAGE_SHIFT
        data = _readpage_bytes(inode, index, 0, log=False)
        if isinstance(data, int):
            raise OSError(errno.EIO, f"{inode.name}: page {index} does not read (damaged block)")
        page = data.ljust(PAGE_SIZE, b"\0")
        lo = pos - (index << PAGE_SHIFT)
        hi = min(PAGE_SIZE, end - (index << PAGE_SHIFT))
        out += page[lo:hi]
        pos = (index + 1) << PAGE_SHIFT
    return bytes(out)


CRAMFS_AOPS = AddressSpaceOperations(readpage=cramfs_readpage)


# --- the XIP conditions ------------------------------------------------------------------------
@trace.traced
def cramfs_get_block_range(inode: CramfsInode, pgoff: int, pages: int) -> tuple[int, int]:
    """Find how many blocks from ``pgoff`` on are direct, uncompressed and contiguous.

    Returns ``(offset, pages)``: the image offset of block ``pgoff`` and the length of the run
    (at most ``pages``), or ``(0, pages)`` when block ``pgoff`` itself does not qualify (0 can
    never be a real data offset: the superblock is there). Each mismatch is logged as
    "range: block %d/%d got %#x expects %#x". The kernel returns the count through a pointer.

    Kernel: ``cramfs_get_block_range`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L295>`_.
    """
    sb = inode.sb
    first = sb.block_pointer(inode, pgoff) & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF
    i = 0
    while True:
        expect = ((first + i * (PAGE_SIZE >> CRAMFS_BLK_DIRECT_PTR_SHIFT))
                  | CRAMFS_BLK_FLAG_DIRECT_PTR | CRAMFS_BLK_FLAG_UNCOMPRESSED)
        got = sb.block_pointer(inode, pgoff + i)
        if got != expect:
            sb.pr_debug(f"range: block {pgoff + i}/{pgoff + pages - 1} got {_hex(got)} "
                        f"expects {_hex(expect)}")
            if i == 0:
                return 0, pages
            break
        i += 1
        if i >= pages:
            break
    return first << CRAMFS_BLK_DIRECT_PTR_SHIFT, i


@trace.traced
def cramfs_last_page_is_shared(inode: CramfsInode) -> bool:
    """Does the flash page holding the file's last bytes also hold something else?

    Only a file whose size is not a page multiple can share: the bytes after its end, up to
    the end of that flash page, must all be zero, or mapping the page would show user space
    another file's data. The last block's own pointer says where that page is.

    Kernel: ``cramfs_last_page_is_shared`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L336>`_.
    """
    partial = inode.i_size % PAGE_SIZE
    if not partial:
        return False
    sb = inode.sb
    last_page = inode.i_size >> PAGE_SHIFT
    blockaddr = (sb.block_pointer(inode, last_page) & ~CRAMFS_BLK_FLAGS & 0xFFFFFFFF)
    blockaddr <<= CRAMFS_BLK_DIRECT_PTR_SHIFT
    return any(sb.direct_read(blockaddr + partial, PAGE_SIZE - partial))


@trace.traced
def seed_last_page_is_shared(inode: CramfsInode, offset: int, pages: int, max_pages: int,
                             form: str = "max_pages-1") -> tuple[bool, int]:
    """The seed's tail test: scan from ``offset + (N - 1) * PAGE_SIZE + partial`` to a page end.

    ``offset`` is the image offset of block ``vm_pgoff`` (from ``cramfs_get_block_range``);
    ``N`` is ``pages`` before the seed (``form="pages-1"``) and ``max_pages`` in it
    (``form="max_pages-1"``). The kernel scans byte by byte up to an 8-byte boundary, then
    64 bits at a time; any non-zero byte means "shared". Returns ``(shared, scanned_offset)``
    so a learner can see which bytes were looked at. With ``vm_pgoff > 0`` the seed's form
    looks ``vm_pgoff`` pages past the file's last block: whether that is right is a lab.
    Reading outside the flash window raises :class:`KernelBug` (an oops in the kernel).

    Patch: the hunk ``data += (max_pages - 1) * PAGE_SIZE + partial`` of the fault-time split
    (LKML, 2017-08-16), never merged.
    """
    partial = inode.i_size % PAGE_SIZE
    if not partial:
        return False, -1
    n = max_pages if form == "max_pages-1" else pages
    start = offset + (n - 1) * PAGE_SIZE + partial
    sb = inode.sb
    physmem = sb.system.physmem
    phys = sb.linear_phys_addr + start
    length = -start % PAGE_SIZE
    if phys + length > physmem.flash_phys + physmem.flash_size:
        raise KernelBug(f"unable to handle kernel paging request at {phys:#x} (seed tail scan "
                        "past the flash)")
    return any(sb.direct_read(start, length)), start


# --- the three strategies ------------------------------------------------------------------------
@trace.traced
def cramfs_physmem_mmap(file: File, vma: Vma) -> int:
    """``f_op->mmap`` of cramfs on flash, in the mount's strategy (see the module docstring).

    ``"mixedmap"`` follows v4.15 step by step: ``generic_file_readonly_mmap`` first (``-EINVAL``
    for a shared writable mapping; installs ``generic_file_vm_ops``), then the bail-outs
    "vma is writable", "beyond file limit", "unsuitable block layout", "data is not page
    aligned", the last-page test ("mmap: %s: last page is shared", one page less), "no
    suitable block remaining"; a whole VMA gets ``remap_pfn_range``, a part of one
    ``VM_MIXEDMAP`` + ``vm_insert_mixed`` page by page. A bail-out returns 0: the page cache
    serves the mapping. ``"refuse"``, ``"split"`` and ``"split-v3"`` follow the seed's version
    (see :func:`seed_physmem_mmap`).

    From v4.20 (:data:`mmlab.version.CRAMFS_VMF_INSERT_MIXED`) the pages go in with
    :func:`~mmlab.memory.vmf_insert_mixed`, an error turned into an errno with
    ``vm_fault_to_errno``, and ``VM_MIXEDMAP`` is set with ``vm_flags_set``, which write-locks
    the VMA on a machine with per-VMA locks: `fs/cramfs/inode.c @ v6.12.118 L420
    <https://elixir.bootlin.com/linux/v6.12.118/source/fs/cramfs/inode.c#L420>`_. 6.12 still
    passes ``phys_to_pfn_t(address + off, PFN_DEV)`` (L424).

    Kernel: ``cramfs_physmem_mmap`` in `fs/cramfs/inode.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/fs/cramfs/inode.c#L353>`_.
    """
    inode = file.f_inode
    if not isinstance(inode, CramfsInode):
        raise KernelBug("cramfs_physmem_mmap on a file that is not cramfs")
    sb = inode.sb
    if sb.strategy != "mixedmap":
        return seed_physmem_mmap(file, vma)
    pgoff = vma.vm_pgoff
    ret = generic_file_readonly_mmap(file, vma)
    if ret:
        return ret
    name = inode.name
    reason = _mixedmap_bailout(inode, vma, pgoff)
    if isinstance(reason, str):
        sb.pr_debug(f"{name}[{pgoff}]: direct mmap impossible: {reason}")
        return 0
    address, pages = reason
    total = vma_pages(vma)
    if pages == total:
        ret = remap_pfn_range(vma, vma.vm_start, address >> PAGE_SHIFT, pages * PAGE_SIZE,
                              vma.vm_page_prot)
    elif not has(sb.system.version, CRAMFS_VMF_INSERT_MIXED):
        vma.vm_flags |= VM_MIXEDMAP
        for i in range(pages):
            ret = vm_insert_mixed(vma, vma.vm_start + i * PAGE_SIZE,
                                  phys_to_pfn_t(address + i * PAGE_SIZE, PFN_DEV))
            if ret:
                break
    else:  # v4.20 on: vm_flags_set (a VMA write lock on 6.x), vmf_insert_mixed
        if vma_mm(vma).per_vma_locks:
            vma_start_write(vma)
        vma.vm_flags |= VM_MIXEDMAP
        for i in range(pages):
            vmf = vmf_insert_mixed(vma, vma.vm_start + i * PAGE_SIZE,
                                   phys_to_pfn_t(address + i * PAGE_SIZE, PFN_DEV))
            if vmf & VM_FAULT_ERROR:
                ret = vm_fault_to_errno(vmf, 0)
                break
    if not ret:
        sb.pr_debug(f"mapped {name}[{pgoff}] at 0x{address:08x} ({pages}/{total} pages) to vma "
                    f"0x{vma.vm_start:08x}, page_prot 0x{vma.vm_page_prot:x}")
    return ret


def _mixedmap_bailout(inode: CramfsInode, vma: Vma, pgoff: int) -> str | tuple[int, int]:
    """v4.15's checks: a bail-out reason, or ``(physical address, pages to map)``."""
    sb = inode.sb
    if vma.vm_flags & VM_WRITE:
        return "vma is writable"
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if pgoff >= max_pages:
        return "beyond file limit"
    pages = min(vma_pages(vma), max_pages - pgoff)
    offset, pages = cramfs_get_block_range(inode, pgoff, pages)
    if not offset:
        return "unsuitable block layout"
    address = sb.linear_phys_addr + offset
    if address % PAGE_SIZE:
        return "data is not page aligned"
    if pgoff + pages == max_pages and cramfs_last_page_is_shared(inode):
        sb.pr_debug(f"mmap: {inode.name}: last page is shared")
        pages -= 1
    if not pages:
        return "no suitable block remaining"
    return address, pages


@trace.traced
def seed_physmem_mmap(file: File, vma: Vma) -> int:
    """``cramfs_physmem_mmap`` as in the fault-time split (``"split"``, ``"split-v3"``) or before it
    (``"refuse"``).

    1. ``VM_SHARED`` and ``VM_MAYWRITE`` → ``-EINVAL`` (its own test; v4.15 asks
       ``generic_file_readonly_mmap``).
    2. ``fail_reason`` "vma is writable", "beyond file limit", "unsuitable block layout",
       "data is not page aligned", as in v4.15 but checked on ``vma->vm_pgoff``.
    3. The tail test of :func:`seed_last_page_is_shared` (``pages - 1`` before the seed,
       ``max_pages - 1`` in it); "mmap: %s: last page is shared" and one page less.
    4. Some pages mappable but not the whole VMA: ``"refuse"`` fails with "fix me". The split
       strategies pack the split point into ``vm_private_data`` (:func:`split_private_data`),
       install ``cramfs_vmasplit_ops``, shrink ``vm_end`` to the mappable part so that
       ``remap_pfn_range`` accepts a COW mapping, and restore it after the call.
    5. ``remap_pfn_range`` of the mappable pages; its error is returned. Success logs
       "mapped %s at 0x%08lx, %u/%u pages to vma 0x%08lx, page_prot 0x%llx" (v3: "mapped %s
       at 0x%08lx (%u/%u pages) to vma ...", as the v3 code has it and the patched 6.1 of
       ``data/kernel-captures/split-v3-scenarios.json`` prints). A fully mapped VMA keeps
       ``vm_ops`` NULL (the seed sets ops only for the partial and failed cases).
    6. No page mappable: "no suitable block remaining". Every failure logs
       "%s: direct mmap failed: %s" and installs ``generic_file_vm_ops``: normal paging.

    The lines the mail does not show are rebuilt from v4.15 and the mail's context lines.

    Patch: ``cramfs_physmem_mmap`` of the fault-time split (LKML, 2017-08-16), never merged.
    """
    inode = file.f_inode
    assert isinstance(inode, CramfsInode)
    sb = inode.sb
    name = inode.name
    if vma.vm_flags & VM_SHARED and vma.vm_flags & VM_MAYWRITE:
        return -errno.EINVAL
    reason = _seed_checks(inode, vma)
    if isinstance(reason, tuple):
        address, pages, total = reason
        if pages != total:
            if sb.strategy == "refuse":
                reason = "fix me"
            else:
                split_pgoff = vma.vm_pgoff + pages
                vma.vm_private_data = split_private_data(
                    split_pgoff, pages, vma.vm_start, sb.strategy)
                vma.vm_ops = CRAMFS_VMASPLIT_OPS
                vma.vm_end = vma.vm_start + pages * PAGE_SIZE  # to keep remap_pfn_range happy
        if not isinstance(reason, str):
            ret = remap_pfn_range(vma, vma.vm_start, address >> PAGE_SHIFT, pages * PAGE_SIZE,
                                  vma.vm_page_prot)
            vma.vm_end = vma.vm_start + total * PAGE_SIZE  # restore vm_end if we cheated
            if ret:
                return ret
            counts = (f"({pages}/{total} pages)" if sb.strategy == "split-v3"
                      else f"{pages}/{total} pages")
            sep = " " if sb.strategy == "split-v3" else ", "
            sb.pr_debug(f"mapped {name} at 0x{address:08x}{sep}{counts} to vma "
                        f"0x{vma.vm_start:08x}, page_prot 0x{vma.vm_page_prot:x}")
            return 0
    sb.pr_debug(f"{name}: direct mmap failed: {reason}")
    vma.vm_ops = generic_file_vm_ops
    return 0


def _seed_checks(inode: CramfsInode, vma: Vma) -> str | tuple[int, int, int]:
    """The seed's checks: a fail reason, or ``(physical address, pages, vma_pages)``."""
    sb = inode.sb
    if vma.vm_flags & VM_WRITE:
        return "vma is writable"
    total = vma_pages(vma)
    max_pages = (inode.i_size + PAGE_SIZE - 1) >> PAGE_SHIFT
    if vma.vm_pgoff >= max_pages:
        return "beyond file limit"
    pages = min(total, max_pages - vma.vm_pgoff)
    offset, pages = cramfs_get_block_range(inode, vma.vm_pgoff, pages)
    if not offset:
        return "unsuitable block layout"
    address = sb.linear_phys_addr + offset
    if address % PAGE_SIZE:
        return "data is not page aligned"
    if vma.vm_pgoff + pages == max_pages:
        shared, _ = seed_last_page_is_shared(inode, offset, pages, max_pages, sb.tail_check)
        if shared:
            sb.pr_debug(f"mmap: {inode.name}: last page is shared")
            pages -= 1
    if not pages:
        return "no suitable block remaining"
    return address, pages, total


def split_private_data(split_pgoff: int, split_page: int, vm_start: int,
                       strategy: str = "split") -> int:
    """Pack the split point into ``vm_private_data``.

    The seed: ``split_pgoff + (split_page << 16)``: the file page offset of the first unmapped
    page in the low 16 bits, its page index within the VMA above (a file is at most 16 MiB,
    4096 pages, so 16 bits hold any page offset). v3: ``split_pgoff | (split_vpn << 12)``, the
    split point as a virtual page number, so that it survives the VMA's start moving.
    A ``split_pgoff`` that does not fit raises ``ValueError``: the kernel would silently mix
    the two fields.

    Patch: ``split_val`` in the fault-time split (LKML, 2017-08-16) and in its v3 as quoted in
    the review of 2017-08-31, never merged.
    """
    if strategy == "split-v3":
        if not 0 <= split_pgoff < 1 << 12:
            raise ValueError(f"split_pgoff {split_pgoff} does not fit in 12 bits")
        return split_pgoff | (((vm_start >> PAGE_SHIFT) + split_page) << 12)
    if not 0 <= split_pgoff < 1 << 16:
        raise ValueError(f"split_pgoff {split_pgoff} does not fit in 16 bits")
    return split_pgoff + (split_page << 16)


def _unpack_split(vma: Vma, strategy: str) -> tuple[int, int, int]:
    """``(split_val, split_pgoff, split_addr)`` decoded from a VMA's ``vm_private_data``."""
    value = vma.vm_private_data
    split_val = value if isinstance(value, int) else 0
    if strategy == "split-v3":
        return split_val, split_val & 0xFFF, (split_val >> 12) << PAGE_SHIFT
    return split_val, split_val & 0xFFFF, vma.vm_start + (split_val >> 16) * PAGE_SIZE


# --- the seed's fault handler -------------------------------------------------------------------
@dataclass
class SplitFault:
    """What one run of :func:`vmasplit_fault_steps` saw, for the race explorer and the tests.

    ``events`` are the steps in order (lock operations and decisions); ``broken`` names what
    went wrong in a way the kernel would not survive or would not notice (a NULL dereference,
    a split point outside the VMA it is applied to).

    Model helper: no kernel counterpart.
    """

    events: list[str] = field(default_factory=list)
    broken: list[str] = field(default_factory=list)
    split: bool = False
    #: On a per-VMA lock machine, the VMA ``split_vma`` is about to write-lock while the
    #: handler waits at its ``"vma_start_write"`` step (None otherwise).
    write_locking: Vma | None = None


def _where(addr: int, vma: Vma) -> str:
    """Where ``addr`` lies against ``vma``, in words: "the first address of", "below"..."""
    if addr == vma.vm_start:
        return "the first address of"
    if addr < vma.vm_start:
        return "below"
    if addr == vma.vm_end:
        return "the end of"
    return "past the end of" if addr > vma.vm_end else "inside"


def _downgrade(sem: RwSemaphore, rep: SplitFault) -> Generator[str, None, None]:
    """The handler's way back to a read hold: a scheduling point, then ``downgrade_write``."""
    yield "downgrade_write"
    sem.downgrade_write()
    rep.events.append("downgrade_write")


def vmasplit_fault_steps(vmf: VmFault, fatal_signal_pending: Callable[[], bool] | None = None,
                         report: SplitFault | None = None) -> Generator[str, None, int]:
    """The seed's ``cramfs_vmasplit_fault`` as a generator that pauses before each lock step.

    It yields the name of the lock operation it is about to do (``"up_read"``,
    ``"down_write_killable"``, ``"downgrade_write"``; on a machine with per-VMA locks also
    ``"vma_start_write"`` before ``split_vma``, which waits there for the faults holding the
    VMA's read lock) so that a scheduler can run another thread first, and returns the
    ``VM_FAULT_*`` code. :func:`cramfs_vmasplit_fault` runs it straight through.
    ``fatal_signal_pending`` tells whether a SIGKILL arrives while waiting for the write lock.
    ``report`` collects what happened (:class:`SplitFault`).

    The steps, as the patch has them: decode ``vm_private_data`` and log "fault: addr=%#lx
    vma=%#lx-%#lx split=%#lx"; no split point, or the fault below it or the split point past
    the VMA → ``VM_FAULT_SIGSEGV``; ``up_read``; ``down_write_killable``, interrupted →
    ``VM_FAULT_RETRY`` (the lock is not held); ``find_vma`` again: its ``vm_ops`` are not the
    split ops any more → ``downgrade_write``, ``VM_FAULT_NOPAGE`` (someone else split: fault
    again; the seed reads ``vm_ops`` without testing for NULL, so a VMA gone meanwhile is an
    oops, raised as :class:`~mmlab.errors.KernelBug`, with the lock held for writing);
    ``split_vma`` failing → ``VM_FAULT_OOM``; the direct part loses its ``vm_ops``; the new VMA
    gets the real file ``vm_pgoff`` and ``generic_file_vm_ops``; ``vmf`` is pointed at it;
    ``downgrade_write``; ``filemap_fault``. ``"split-v3"`` adds the v3 fixes: a missing VMA
    → ``VM_FAULT_SIGSEGV``, another file → ``VM_FAULT_NOPAGE``, the split point decoded again
    from the VMA found under the write lock and checked, nothing to split when the lower part
    is gone, and ``VM_IO | VM_PFNMAP | VM_DONTEXPAND`` cleared on the page-cache VMA.

    Patch: ``cramfs_vmasplit_fault`` of the fault-time split (LKML, 2017-08-16), never merged.
    """
    rep = report if report is not None else SplitFault()
    vma = vmf.vma
    mm = vma_mm(vma)
    file = vma.vm_file
    inode = file.f_inode if file is not None else None
    if not isinstance(inode, CramfsInode):
        raise KernelBug("cramfs_vmasplit_fault on a VMA that is not cramfs")
    sb = inode.sb
    v3 = sb.strategy == "split-v3"
    split_val, split_pgoff, split_addr = _unpack_split(vma, sb.strategy)
    sb.pr_debug(f"fault: addr={_hex(vmf.address)} vma={_hex(vma.vm_start)}-{_hex(vma.vm_end)} "
                f"split={_hex(split_addr)}")
    if not split_val or split_addr >= vma.vm_end or vmf.address < split_addr:
        rep.events.append("VM_FAULT_SIGSEGV")
        return VM_FAULT_SIGSEGV
    sem = mm.mmap_sem
    yield "up_read"
    sem.up_read()
    rep.events.append("up_read")
    yield "down_write_killable"
    killed = fatal_signal_pending() if fatal_signal_pending is not None else False
    if sem.down_write_killable(fatal_signal_pending=killed):
        rep.events.append("down_write_killable -EINTR")
        rep.events.append("VM_FAULT_RETRY")
        return VM_FAULT_RETRY
    rep.events.append("down_write_killable")
    vma = find_vma(mm, vmf.address)
    rep.events.append("find_vma")
    if vma is None and not v3:
        # the seed reads vma->vm_ops at once: the thread dies here, holding mmap_sem for writing
        raise KernelBug("find_vma returned NULL and the seed reads vma->vm_ops: NULL pointer "
                        "dereference; the thread dies there, holding mmap_sem for writing")
    if v3 and (vma is None or vma.vm_start > vmf.address):
        yield from _downgrade(sem, rep)
        rep.events.append("VM_FAULT_SIGSEGV")
        return VM_FAULT_SIGSEGV
    assert vma is not None
    if vma.vm_ops is not CRAMFS_VMASPLIT_OPS or (v3 and vma.vm_file is not file):
        yield from _downgrade(sem, rep)
        rep.events.append("VM_FAULT_NOPAGE")
        return VM_FAULT_NOPAGE
    if v3:  # decode the split point again, from the VMA that is there now
        split_val, split_pgoff, split_addr = _unpack_split(vma, sb.strategy)
        if not split_val or split_addr >= vma.vm_end or vmf.address < split_addr:
            yield from _downgrade(sem, rep)
            rep.events.append("VM_FAULT_SIGSEGV")
            return VM_FAULT_SIGSEGV
    elif not vma.vm_start < split_addr < vma.vm_end:
        rep.broken.append(f"split_vma at {split_addr:#x}, {_where(split_addr, vma)} the VMA "
                          f"{vma.vm_start:#x}-{vma.vm_end:#x} found under the write lock, not "
                          "strictly inside it: the split point was decoded before the lock was "
                          "dropped (v4.15's __split_vma does not check: the VMA tree is "
                          "corrupted)")
    if v3 and split_addr <= vma.vm_start:
        new_vma = vma  # the direct part is gone: nothing to split
        new_vma.vm_pgoff = split_pgoff + ((vma.vm_start - split_addr) >> PAGE_SHIFT)
    else:
        if mm.per_vma_locks:  # split_vma's vma_start_write waits for the VMA's readers
            rep.write_locking = vma
            yield "vma_start_write"
            rep.write_locking = None
        ret = split_vma(mm, vma, split_addr, 0)
        rep.events.append("split_vma" if not ret else f"split_vma {ret}")
        if ret:
            yield from _downgrade(sem, rep)
            rep.events.append("VM_FAULT_OOM")
            return VM_FAULT_OOM
        rep.split = True
        vma.vm_ops = None  # the direct vma should no longer ever fault
        new_vma = find_vma(mm, split_addr)
        if new_vma is vma:
            raise KernelBug("cramfs_vmasplit_fault: BUG_ON(new_vma == vma)")
        if new_vma is None:
            yield from _downgrade(sem, rep)
            rep.events.append("VM_FAULT_SIGSEGV")
            return VM_FAULT_SIGSEGV
        new_vma.vm_pgoff = split_pgoff
    new_vma.vm_ops = generic_file_vm_ops
    if v3:
        new_vma.vm_flags &= ~(VM_IO | VM_PFNMAP | VM_DONTEXPAND)
    vmf.vma = new_vma
    vmf.pgoff = new_vma.vm_pgoff + ((vmf.address - new_vma.vm_start) >> PAGE_SHIFT)
    yield from _downgrade(sem, rep)
    ret = filemap_fault(vmf)
    rep.events.append("filemap_fault")
    return ret


@trace.traced
def cramfs_vmasplit_fault(vmf: VmFault) -> int:
    """``->fault`` of a partly mapped VMA under the split strategies: split it, then page in.

    Runs :func:`vmasplit_fault_steps` to the end in one thread (no other thread can take the
    lock in between). Lock operations that cannot proceed raise
    :class:`~mmlab.errors.WouldSleep`, as everywhere in the model.

    Patch: ``cramfs_vmasplit_fault`` of the fault-time split (LKML, 2017-08-16), never merged.
    """
    steps = vmasplit_fault_steps(vmf)
    try:
        while True:
            next(steps)
    except StopIteration as done:
        return int(done.value)


#: ``cramfs_vmasplit_ops`` of the seed: only ``.fault``.
CRAMFS_VMASPLIT_OPS = VmOperations(fault=cramfs_vmasplit_fault, label="cramfs_vmasplit_ops")

#: ``cramfs_physmem_fops`` (MMU build): reads go through the page cache, mmap is XIP-aware.
CRAMFS_PHYSMEM_FOPS = FileOperations(mmap=cramfs_physmem_mmap)


def ram_pages_of(vma: Vma) -> tuple[int, int, int]:
    """Pages of one VMA by where they live: ``(flash, page_cache, anonymous)``.

    A present PTE whose frame is in the flash window is served in place; a RAM frame that is
    a page-cache page counts as page cache, an anonymous one (a COW copy) as anonymous. The
    zero page counts as none of them.

    Model helper: no kernel counterpart (``/proc/PID/smaps`` counts the RAM side).
    """
    mm = vma_mm(vma)
    kinds = Counter(frame_kind(mm.physmem, pte.pfn)
                    for _addr, pte in mm.pgd.range(vma.vm_start, vma.vm_end))
    return kinds["flash"], kinds["page cache"] + kinds["raw RAM"], kinds["anonymous"]


