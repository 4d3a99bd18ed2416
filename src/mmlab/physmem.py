"""Physical memory (``mm/page_alloc.c``, ``struct page``): RAM frames, and flash without.

Models, at v4.15:

- ``struct page``: `include/linux/mm_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L42>`_
  (``flags``, ``mapping``, ``index``, ``_mapcount``, ``_refcount``);
- reference counts: `include/linux/mm.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h>`_ (``get_page``,
  ``put_page``, ``page_mapcount``) and `include/linux/page_ref.h`;
- page flags and the page lock: `include/linux/page-flags.h
  <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h>`_,
  `include/linux/pagemap.h` (``lock_page``, ``trylock_page``);
- the page allocator (one zone, single frames): `mm/page_alloc.c`;
- ``pfn_valid``/``PHYS_PFN``: `include/linux/pfn.h`, `include/linux/mmzone.h`.

The machine: RAM frames have a ``struct page`` (:class:`Page`), so ``pfn_valid`` is true for
them; a device window (a NOR flash holding a cramfs image, say) is addressable memory but has no
``struct page``: ``pfn_valid`` is false there, exactly why cramfs XIP needs special PTEs.

Like the kernel, ``_mapcount`` starts at -1 ("no PTE maps this page"); ``page_mapcount(page)``
is ``_mapcount + 1``. ``_refcount`` counts every reference (page cache, each PTE of a mapped
page, transient ``get_page`` holders); the frame returns to the free list when it drops to 0.

Where the model simplifies: one zone, no buddy allocator (a free list of single frames), no LRU
lists, no memcg, no compound pages; a freed frame's contents are discarded (a new frame reads as
zeros, whereas the kernel hands out stale data unless ``__GFP_ZERO`` is asked for). The zero
page is one reserved RAM frame (``ZERO_PAGE``), never freed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from mmlab.constants import PAGE_SHIFT, PAGE_SIZE
from mmlab.errors import KernelBug
from mmlab.trace import PageSnapshot

__all__ = [
    "PAGE_FLAGS",
    "PAGE_MAPPING_ANON",
    "PageMapping",
    "Page",
    "PhysMem",
    "PHYS_PFN",
    "PFN_PHYS",
    "PageAnon",
    "frame_kind",
    "page_count",
    "page_mapcount",
]

#: The PG_* flags the model uses (a subset of ``enum pageflags``).
PAGE_FLAGS = (
    "PG_locked",
    "PG_error",
    "PG_referenced",
    "PG_uptodate",
    "PG_dirty",
    "PG_lru",
    "PG_active",
    "PG_reserved",
    "PG_swapbacked",
    "PG_readahead",  # at v4.15 an alias of PG_reclaim (PageReadahead, page-flags.h)
)


def PHYS_PFN(phys: int) -> int:  # noqa: N802 - kernel name
    """The frame number of a physical address (``PHYS_PFN`` in include/linux/pfn.h).

    Kernel: ``PHYS_PFN`` in `include/linux/pfn.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn.h#L22>`_.
    """
    return phys >> PAGE_SHIFT


def PFN_PHYS(pfn: int) -> int:  # noqa: N802 - kernel name
    """The physical address of a frame number.

    Kernel: ``PFN_PHYS`` in `include/linux/pfn.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn.h#L21>`_.
    """
    return pfn << PAGE_SHIFT


#: The low bit of ``page->mapping`` that says "this points at an anon_vma, not a page cache".
PAGE_MAPPING_ANON = 0x1


class PageMapping(Protocol):
    """What ``page->mapping`` points at: a page cache (``struct address_space``), or an
    ``anon_vma`` tagged with ``PAGE_MAPPING_ANON``.

    The kernel keeps the tag in the low bits of the pointer; the model keeps it on the object
    pointed at, as ``mapping_flags`` (0 for an address space).

    Kernel: ``PAGE_MAPPING_ANON`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L394>`_.
    """

    @property
    def mapping_flags(self) -> int: ...


@dataclass(eq=False)
class Page:
    """``struct page`` of one RAM frame.

    ``mapping``: an ``AddressSpace`` for page-cache pages, an ``AnonVma`` for anonymous
    pages, ``None`` otherwise (see :class:`PageMapping`). ``index``: the page's offset in the
    file (page units) or its linear index in the anonymous VMA.

    Kernel: ``struct page`` in `include/linux/mm_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm_types.h#L42>`_.
    """

    pfn: int
    mem: PhysMem | None = field(default=None, repr=False)
    _refcount: int = 0
    _mapcount: int = -1
    mapping: PageMapping | None = field(default=None, repr=False)
    index: int = 0
    flags: set[str] = field(default_factory=set)

    def kmap(self) -> bytearray:
        """The frame's bytes, writable (``kmap``/``page_address``).

        Kernel: ``kmap`` in `include/linux/highmem.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/highmem.h#L57>`_.
        """
        if self.mem is None:
            raise KernelBug("kmap of a page that belongs to no PhysMem")
        return self.mem.frame(self.pfn)

    def read(self, offset: int = 0, length: int = PAGE_SIZE) -> bytes:
        """``length`` bytes of the frame from ``offset``.

        Model helper: no kernel counterpart.
        """
        if self.mem is None:
            raise KernelBug("read of a page that belongs to no PhysMem")
        return self.mem.read_phys((self.pfn << PAGE_SHIFT) + offset, length)

    def write(self, offset: int, data: bytes) -> None:
        """Store ``data`` in the frame at ``offset``.

        Model helper: no kernel counterpart.
        """
        if offset < 0 or offset + len(data) > PAGE_SIZE:
            raise KernelBug(f"write of {len(data)} bytes at {offset} overflows the page")
        self.kmap()[offset : offset + len(data)] = data

    def trace_snapshot(self) -> PageSnapshot:
        """This page's counts, kind, index and flags now, for a trace to keep.

        Model helper: no kernel counterpart (what ftrace would print of the page).
        """
        kind = "anon" if PageAnon(self) else ("file" if self.mapping is not None else "-")
        return PageSnapshot(self.pfn, self._refcount, page_mapcount(self), kind, self.index,
                            frozenset(self.flags))

    def __repr__(self) -> str:
        flags = ",".join(sorted(f[3:] for f in self.flags))
        kind = "anon" if PageAnon(self) else ("file" if self.mapping is not None else "-")
        return (
            f"Page(pfn={self.pfn:#x}, ref={self._refcount}, map={page_mapcount(self)}, "
            f"{kind}, index={self.index:#x}, [{flags}])"
        )


def page_count(page: Page) -> int:
    """References held on ``page``.

    Kernel: ``page_count`` in `include/linux/page_ref.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page_ref.h#L70>`_.
    """
    return page._refcount


def page_mapcount(page: Page) -> int:
    """How many PTEs map ``page`` (``page_mapcount`` = ``_mapcount + 1``).

    Kernel: ``page_mapcount`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L586>`_.
    """
    return page._mapcount + 1


def PageAnon(page: Page) -> bool:  # noqa: N802 - kernel name
    """True for an anonymous page: ``mapping`` is an anon_vma (``PAGE_MAPPING_ANON``).

    Kernel: ``PageAnon`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L404>`_.
    """
    mapping = page.mapping
    return mapping is not None and bool(mapping.mapping_flags & PAGE_MAPPING_ANON)


def PageLocked(page: Page) -> bool:  # noqa: N802 - kernel name
    """``PG_locked`` set.

    Kernel: ``PageLocked`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L265>`_.
    """
    return "PG_locked" in page.flags


def PageUptodate(page: Page) -> bool:  # noqa: N802 - kernel name
    """``PG_uptodate`` set: the page holds valid data.

    Kernel: ``PageUptodate`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L435>`_.
    """
    return "PG_uptodate" in page.flags


def SetPageUptodate(page: Page) -> None:  # noqa: N802 - kernel name
    """Mark the page's data valid.

    Kernel: ``SetPageUptodate`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L461>`_.
    """
    page.flags.add("PG_uptodate")


def ClearPageUptodate(page: Page) -> None:  # noqa: N802 - kernel name
    """The page's data is no longer valid (a failed read).

    Kernel: ``ClearPageUptodate`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L473>`_.
    """
    page.flags.discard("PG_uptodate")


def SetPageError(page: Page) -> None:  # noqa: N802 - kernel name
    """Mark an I/O error on the page.

    Kernel: ``SetPageError`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L267>`_.
    """
    page.flags.add("PG_error")


def ClearPageError(page: Page) -> None:  # noqa: N802 - kernel name
    """Clear the I/O error mark.

    Kernel: ``ClearPageError`` in `include/linux/page-flags.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/page-flags.h#L267>`_.
    """
    page.flags.discard("PG_error")


def mark_page_accessed(page: Page) -> None:
    """Note a use of the page for reclaim: the second use of a referenced page activates it.

    Inactive and referenced -> active (and no longer referenced); not referenced ->
    referenced. (The model has no LRU lists: only the two flags change.)

    Kernel: ``mark_page_accessed`` in `mm/swap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/swap.c#L376>`_.
    """
    if "PG_active" not in page.flags and "PG_referenced" in page.flags:
        page.flags.add("PG_active")
        page.flags.discard("PG_referenced")
    elif "PG_referenced" not in page.flags:
        page.flags.add("PG_referenced")


def trylock_page(page: Page) -> bool:
    """Take the page lock if it is free; True on success.

    Kernel: ``trylock_page`` in `include/linux/pagemap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pagemap.h#L470>`_.
    """
    if "PG_locked" in page.flags:
        return False
    page.flags.add("PG_locked")
    return True


def lock_page(page: Page) -> None:
    """Take the page lock.

    The kernel sleeps until the holder unlocks. A single-threaded model cannot sleep: a page
    that is still locked here belongs to an imagined other task (an I/O in flight), which the
    model lets finish at once — the lock passes to us.

    Kernel: ``lock_page`` in `include/linux/pagemap.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pagemap.h#L479>`_.
    """
    page.flags.add("PG_locked")


def unlock_page(page: Page) -> None:
    """Release the page lock; unlocking a free lock is a BUG.

    Kernel: ``unlock_page`` in `mm/filemap.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/filemap.c#L1201>`_.
    """
    if "PG_locked" not in page.flags:
        raise KernelBug(f"unlock_page: page {page.pfn:#x} is not locked (VM_BUG_ON_PAGE)")
    page.flags.discard("PG_locked")


def frame_kind(mem: PhysMem, pfn: int) -> str:
    """What the frame ``pfn`` holds: ``"flash"`` (the flash window: no struct page),
    ``"zero page"``, ``"no memory"`` (outside RAM and flash), ``"anonymous"``, ``"page cache"``
    (a page of some file's address space) or ``"raw RAM"`` (a RAM frame of neither kind).

    Model helper: no kernel counterpart (the drawings and the RAM counts ask it of every PTE).
    """
    if mem.pfn_is_flash(pfn):
        return "flash"
    if mem.is_zero_pfn(pfn):
        return "zero page"
    if not mem.pfn_valid(pfn):
        return "no memory"
    page = mem.pfn_to_page(pfn)
    if PageAnon(page):
        return "anonymous"
    return "page cache" if page.mapping is not None else "raw RAM"


class PhysMem:
    """The machine's physical memory.

    Defaults: 64 MiB of RAM at pfn 0x100 (physical 1 MiB, above the legacy hole) and a 16 MiB
    flash window at physical 0x08000000 with no struct pages. ``highest_memmap_pfn`` is the last
    RAM frame, as in mm/memory.c.

    ``fail_next_allocs`` makes that many upcoming :meth:`alloc_page` calls return ``None`` (an
    allocation failure under memory pressure).

    Kernel: ``__alloc_pages_nodemask`` in `mm/page_alloc.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/page_alloc.c#L4216>`_.
    """

    def __init__(
        self,
        ram_start_pfn: int = 0x100,
        ram_pages: int = (64 << 20) >> PAGE_SHIFT,
        flash_phys: int = 0x08000000,
        flash_size: int = 16 << 20,
    ) -> None:
        if ram_pages < 2:
            raise ValueError("need at least two RAM frames (one is the zero page)")
        if flash_phys % PAGE_SIZE or flash_size % PAGE_SIZE:
            raise ValueError("the flash window must be page aligned")
        self.ram_start_pfn = ram_start_pfn
        self.ram_end_pfn = ram_start_pfn + ram_pages  # exclusive
        self.flash_phys = flash_phys
        self.flash_size = flash_size
        self.flash_start_pfn = flash_phys >> PAGE_SHIFT
        self.flash_end_pfn = (flash_phys + flash_size) >> PAGE_SHIFT
        if self.flash_start_pfn < self.ram_end_pfn and self.ram_start_pfn < self.flash_end_pfn:
            raise ValueError("flash window overlaps RAM")
        self.highest_memmap_pfn = self.ram_end_pfn - 1
        self._pages: dict[int, Page] = {}
        self._frames: dict[int, bytearray] = {}
        self._free: list[int] = []  # freed frames, reused first (LIFO)
        self._next_unused = ram_start_pfn
        self.nr_free = ram_pages
        self.fail_next_allocs = 0
        # The zero page: a reserved frame that is never handed out.
        zp = self.alloc_page()
        assert zp is not None
        zp.flags.add("PG_reserved")
        zp.flags.add("PG_uptodate")
        self.zero_pfn = zp.pfn
        self.zero_page = zp

    # -- frames and struct pages ---------------------------------------------------------------
    def pfn_valid(self, pfn: int) -> bool:
        """Does ``pfn`` have a ``struct page``? True for RAM, false for flash.

        Kernel: ``pfn_valid`` in `include/linux/mmzone.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mmzone.h#L1231>`_.
        """
        return self.ram_start_pfn <= pfn < self.ram_end_pfn

    def pfn_is_flash(self, pfn: int) -> bool:
        """Is ``pfn`` inside the flash/device window?

        Model helper: no kernel counterpart.
        """
        return self.flash_start_pfn <= pfn < self.flash_end_pfn

    def is_zero_pfn(self, pfn: int) -> bool:
        """The shared zero page's frame.

        Kernel: ``is_zero_pfn`` in `include/asm-generic/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/pgtable.h#L778>`_.
        """
        return pfn == self.zero_pfn

    def my_zero_pfn(self, addr: int = 0) -> int:
        """The zero page for a user address (``my_zero_pfn``; one zero page on x86).

        Kernel: ``my_zero_pfn`` in `include/asm-generic/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/pgtable.h#L785>`_.
        """
        return self.zero_pfn

    def pfn_to_page(self, pfn: int) -> Page:
        """The ``struct page`` of a RAM frame.

        Calling it for a pfn without a struct page is undefined in the kernel; the model raises
        :class:`KernelBug` so the mistake is visible.

        Kernel: ``pfn_to_page`` in `include/asm-generic/memory_model.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/memory_model.h#L82>`_.
        """
        page = self._pages.get(pfn)
        if page is None:
            if not self.pfn_valid(pfn):
                raise KernelBug(f"pfn_to_page({pfn:#x}): no struct page (pfn_valid is false)")
            page = self._pages[pfn] = Page(pfn, self)
        return page

    @staticmethod
    def page_to_pfn(page: Page) -> int:
        """The frame number of ``page``.

        Kernel: ``page_to_pfn`` in `include/asm-generic/memory_model.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/memory_model.h#L81>`_.
        """
        return page.pfn

    phys_to_pfn = staticmethod(PHYS_PFN)
    PHYS_PFN = staticmethod(PHYS_PFN)

    def alloc_page(self) -> Page | None:
        """One free RAM frame with ``_refcount`` 1, or ``None`` when memory is exhausted.

        Callers turn ``None`` into ``VM_FAULT_OOM`` or ``-ENOMEM`` (``alloc_pages``).

        Kernel: ``alloc_page`` in `include/linux/gfp.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/gfp.h#L507>`_.
        """
        if self.fail_next_allocs > 0:
            self.fail_next_allocs -= 1
            return None
        if self._free:
            pfn = self._free.pop()
        elif self._next_unused < self.ram_end_pfn:
            pfn = self._next_unused
            self._next_unused += 1
        else:
            return None
        page = self.pfn_to_page(pfn)
        page._refcount = 1
        page._mapcount = -1
        page.mapping = None
        page.index = 0
        page.flags = set()
        self.nr_free -= 1
        return page

    def get_page(self, page: Page) -> None:
        """Take a reference; taking one on a free page is a BUG.

        Kernel: ``get_page`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L837>`_.
        """
        if page._refcount <= 0:
            raise KernelBug(f"get_page on free page {page.pfn:#x} (VM_BUG_ON_PAGE)")
        page._refcount += 1

    def put_page(self, page: Page) -> None:
        """Drop a reference; the frame is freed when the count reaches 0.

        Kernel: ``put_page`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L848>`_.
        """
        if page._refcount <= 0:
            raise KernelBug(f"put_page on free page {page.pfn:#x} (refcount underflow)")
        page._refcount -= 1
        if page._refcount == 0:
            self._free_frame(page)

    def _free_frame(self, page: Page) -> None:
        if "PG_reserved" in page.flags:
            raise KernelBug(f"freeing reserved page {page.pfn:#x} (bad_page)")
        if page._mapcount != -1:
            raise KernelBug(f"freeing page {page.pfn:#x} still mapped {page_mapcount(page)} times")
        if "PG_locked" in page.flags:
            raise KernelBug(f"freeing locked page {page.pfn:#x} (bad_page)")
        page.mapping = None
        page.flags = set()
        page.index = 0
        self._frames.pop(page.pfn, None)
        self._free.append(page.pfn)
        self.nr_free += 1

    def allocated_pages(self) -> list[Page]:
        """Every RAM page currently in use (refcount > 0), the zero page included.

        Model helper: no kernel counterpart.
        """
        return [p for p in self._pages.values() if p._refcount > 0]

    # -- contents -------------------------------------------------------------------------------
    def _check_phys(self, pfn: int) -> None:
        if not (self.pfn_valid(pfn) or self.pfn_is_flash(pfn)):
            raise KernelBug(f"physical frame {pfn:#x} is neither RAM nor flash (bus error)")

    def frame(self, pfn: int) -> bytearray:
        """The mutable bytes of frame ``pfn`` (allocated on first use, zero filled).

        Model helper: no kernel counterpart.
        """
        buf = self._frames.get(pfn)
        if buf is None:
            self._check_phys(pfn)
            buf = self._frames[pfn] = bytearray(PAGE_SIZE)
        return buf

    def read_phys(self, phys: int, length: int) -> bytes:
        """``length`` bytes at physical address ``phys`` (may cross frames).

        Model helper: no kernel counterpart.
        """
        out = bytearray()
        while length > 0:
            pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
            n = min(length, PAGE_SIZE - off)
            buf = self._frames.get(pfn)
            if buf is None:
                self._check_phys(pfn)
                out += bytes(n)
            else:
                out += buf[off : off + n]
            phys += n
            length -= n
        return bytes(out)

    def write_phys(self, phys: int, data: bytes) -> None:
        """Store ``data`` at physical address ``phys`` (may cross frames).

        Model helper: no kernel counterpart.
        """
        mv = memoryview(bytes(data))
        while len(mv):
            pfn, off = phys >> PAGE_SHIFT, phys & (PAGE_SIZE - 1)
            n = min(len(mv), PAGE_SIZE - off)
            self.frame(pfn)[off : off + n] = mv[:n]
            phys += n
            mv = mv[n:]

    def copy_frame(self, dst_pfn: int, src_pfn: int) -> None:
        """Copy a whole frame.

        Kernel: ``copy_page`` in `arch/x86/include/asm/page_64.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/page_64.h#L53>`_.
        """
        src = self._frames.get(src_pfn)
        if src is None:
            self._check_phys(src_pfn)
            if dst_pfn in self._frames:
                self._frames[dst_pfn][:] = bytes(PAGE_SIZE)
            return
        self.frame(dst_pfn)[:] = src

    def clear_frame(self, pfn: int) -> None:
        """Zero a whole frame.

        Kernel: ``clear_page`` in `arch/x86/include/asm/page_64.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/page_64.h#L43>`_.
        """
        if pfn in self._frames:
            self._frames[pfn][:] = bytes(PAGE_SIZE)

    def load_flash(self, data: bytes, offset: int = 0) -> int:
        """Program ``data`` into the flash window at ``offset``; return its physical address.

        This is how a cramfs image gets "burnt" into the board's NOR flash.

        Model helper: no kernel counterpart.
        """
        if offset < 0 or offset + len(data) > self.flash_size:
            raise ValueError(
                f"{len(data)} bytes at offset {offset:#x} do not fit in the "
                f"{self.flash_size >> 20} MiB flash window"
            )
        phys = self.flash_phys + offset
        self.write_phys(phys, data)
        return phys

    # -- invariants -----------------------------------------------------------------------------
    def check_refcounts(
        self,
        mapped: Mapping[int, int],
        cached: Iterable[Page] = (),
        extra_refs: Mapping[int, int] | None = None,
    ) -> list[str]:
        """Compare every page's counts with what the page tables and page cache say.

        ``mapped``: pfn -> number of PTEs (over all mms) that map the frame as a *normal* page
        (what ``vm_normal_page`` returns a page for). ``cached``: the pages a page cache holds,
        each owning one reference. ``extra_refs``: pfn -> references known to be held elsewhere.
        Returns a list of problems (empty when consistent):

        - ``page_mapcount(page)`` equals the number of PTEs mapping it;
        - ``_refcount`` equals mapcount + page-cache reference + extra references (the model
          holds no other long-lived references);
        - no PTE maps a free page; anonymous pages are mapped at least once (the model has no
          swap cache, so an unmapped anonymous page is a leak); no page is left locked.

        Model helper: no kernel counterpart.
        """
        problems: list[str] = []
        extra = dict(extra_refs or {})
        in_cache = {page.pfn for page in cached}
        for pfn, n in mapped.items():
            if not self.pfn_valid(pfn):
                problems.append(f"pfn {pfn:#x} counted as a normal page but has no struct page")
                continue
            page = self.pfn_to_page(pfn)
            if page._refcount <= 0:
                problems.append(f"{page!r} is free but mapped by {n} PTE(s)")
        for page in list(self._pages.values()):
            if page.pfn == self.zero_pfn:
                continue
            n = mapped.get(page.pfn, 0)
            if page_mapcount(page) != n:
                problems.append(f"{page!r}: mapcount {page_mapcount(page)} but {n} PTE(s)")
            cache_ref = page.pfn in in_cache
            want = n + int(cache_ref) + extra.get(page.pfn, 0)
            if page._refcount != want:
                problems.append(f"{page!r}: refcount {page._refcount}, expected {want}")
            if page._refcount > 0 and PageAnon(page) and n == 0:
                problems.append(f"{page!r}: anonymous page mapped nowhere (leak)")
            if "PG_locked" in page.flags and page._refcount > 0:
                problems.append(f"{page!r}: left locked")
        return problems

    def __repr__(self) -> str:
        return (
            f"PhysMem(RAM pfn {self.ram_start_pfn:#x}-{self.ram_end_pfn - 1:#x}, "
            f"{self.nr_free} free; flash {self.flash_phys:#x}+{self.flash_size:#x})"
        )
