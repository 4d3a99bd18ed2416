"""x86-64 page tables (``arch/x86/include/asm/pgtable*.h`` @ v4.15): PTE bits, ``pte_*`` helpers.

Models, at v4.15:

- PTE bits: `arch/x86/include/asm/pgtable_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable_types.h>`_
  (the ``_PAGE_BIT_*`` numbers, ``_PAGE_CHG_MASK``, the ``PAGE_*`` protections and the
  ``__P000``.. ``__S111`` table that ``protection_map`` is built from);
- helpers: `arch/x86/include/asm/pgtable.h
  <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h>`_
  (``pte_none``, ``pte_present``, ``pte_write``, ``pte_mkspecial``, ``pte_modify``, ...);
- levels: `arch/x86/include/asm/pgtable_64_types.h
  <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable_64_types.h>`_.

The tree: a 48-bit virtual address is cut into four 9-bit indices (pgd, pud, pmd, pte) above
the 12-bit page offset. v4.15 has a fifth level (p4d) in the generic code, but with 4-level
paging (no ``CONFIG_X86_5LEVEL``) it is *folded*: a p4d "table" is the pgd entry itself, so
``p4d_index`` is always 0 and this model keeps no p4d tables.

Where the model simplifies: one page size (no PSE/huge entries at pud or pmd level), no TLB and
no cache flushing, no page-table locks, no PAT/PCD/PWT effects; tables are Python dicts indexed
by the 9-bit index (only populated slots exist), and an empty entry is the *absence* of a key.
A table can be "freed" only when it is empty (see :meth:`PageTable.free_pgtables`).
"""

from __future__ import annotations

import errno
from collections.abc import Iterator
from dataclasses import dataclass
from types import MappingProxyType

from mmlab.constants import PAGE_MASK, PAGE_SHIFT, PAGE_SIZE
from mmlab.errors import KernelBug

__all__ = [
    "LEVELS",
    "P4D_SHIFT",
    "PAGE_COPY",
    "PAGE_COPY_EXEC",
    "PAGE_COPY_NOEXEC",
    "PAGE_NONE",
    "PAGE_READONLY",
    "PAGE_READONLY_EXEC",
    "PAGE_SHARED",
    "PAGE_SHARED_EXEC",
    "PGDIR_SHIFT",
    "PGDIR_SIZE",
    "PHYSICAL_MASK_SHIFT",
    "PMD_SHIFT",
    "PMD_SIZE",
    "PTE_BIT_NAMES",
    "PTE_FLAGS_MASK",
    "PTE_PFN_MASK",
    "PTRS_PER_P4D",
    "PTRS_PER_PGD",
    "PTRS_PER_PMD",
    "PTRS_PER_PTE",
    "PTRS_PER_PUD",
    "PUD_SHIFT",
    "PUD_SIZE",
    "PageTable",
    "Pte",
    "VA_BITS",
    "mmu_permits",
    "p4d_index",
    "pfn_pte",
    "pgd_addr_end",
    "pgd_index",
    "pgprot_modify",
    "pmd_addr_end",
    "pmd_index",
    "protection_map",
    "pte_access_permitted",
    "pte_bits_names",
    "pte_devmap",
    "pte_dirty",
    "pte_exec",
    "pte_flags",
    "pte_index",
    "pte_mkclean",
    "pte_mkdevmap",
    "pte_mkdirty",
    "pte_mkexec",
    "pte_mkold",
    "pte_mkspecial",
    "pte_mkwrite",
    "pte_mkyoung",
    "pte_modify",
    "pte_none",
    "pte_pfn",
    "pte_present",
    "pte_protnone",
    "pte_same",
    "pte_special",
    "pte_val",
    "pte_write",
    "pte_wrprotect",
    "pte_young",
    "pud_addr_end",
    "pud_index",
    "_PAGE_ACCESSED",
    "_PAGE_BIT_ACCESSED",
    "_PAGE_BIT_DEVMAP",
    "_PAGE_BIT_DIRTY",
    "_PAGE_BIT_GLOBAL",
    "_PAGE_BIT_NX",
    "_PAGE_BIT_PAT",
    "_PAGE_BIT_PCD",
    "_PAGE_BIT_PRESENT",
    "_PAGE_BIT_PROTNONE",
    "_PAGE_BIT_PSE",
    "_PAGE_BIT_PWT",
    "_PAGE_BIT_RW",
    "_PAGE_BIT_SOFTW1",
    "_PAGE_BIT_SOFTW2",
    "_PAGE_BIT_SOFTW3",
    "_PAGE_BIT_SOFTW4",
    "_PAGE_BIT_SOFT_DIRTY",
    "_PAGE_BIT_SPECIAL",
    "_PAGE_BIT_USER",
    "_PAGE_CHG_MASK",
    "_PAGE_DEVMAP",
    "_PAGE_DIRTY",
    "_PAGE_GLOBAL",
    "_PAGE_KNL_ERRATUM_MASK",
    "_PAGE_NX",
    "_PAGE_PCD",
    "_PAGE_PRESENT",
    "_PAGE_PROTNONE",
    "_PAGE_PSE",
    "_PAGE_PWT",
    "_PAGE_RW",
    "_PAGE_SOFTW1",
    "_PAGE_SOFTW2",
    "_PAGE_SOFT_DIRTY",
    "_PAGE_SPECIAL",
    "_PAGE_USER",
    "__pte",
]

# --- levels (pgtable_64_types.h @ v4.15, 4-level paging) --------------------------------------
PGDIR_SHIFT = 39
P4D_SHIFT = 39  # folded into the pgd
PUD_SHIFT = 30
PMD_SHIFT = 21
PTRS_PER_PGD = 512
PTRS_PER_P4D = 1
PTRS_PER_PUD = 512
PTRS_PER_PMD = 512
PTRS_PER_PTE = 512
PGDIR_SIZE = 1 << PGDIR_SHIFT
PUD_SIZE = 1 << PUD_SHIFT
PMD_SIZE = 1 << PMD_SHIFT
#: The width of a virtual address the tables translate (4-level paging).
VA_BITS = 48
#: Physical address bits with 4-level paging (``__PHYSICAL_MASK_SHIFT``, page_64_types.h L59;
#: 52 only with ``CONFIG_X86_5LEVEL``).
PHYSICAL_MASK_SHIFT = 46
#: The frame-number field of a PTE: bits 12..45 (``PTE_PFN_MASK`` = ``PHYSICAL_PAGE_MASK`` =
#: ``PAGE_MASK & __PHYSICAL_MASK``, pgtable_types.h L258): 0x3ffffffff000.
PTE_PFN_MASK = ((1 << PHYSICAL_MASK_SHIFT) - 1) & PAGE_MASK

# --- PTE bits (pgtable_types.h @ v4.15) -----------------------------------------------------
_PAGE_BIT_PRESENT = 0
_PAGE_BIT_RW = 1
_PAGE_BIT_USER = 2
_PAGE_BIT_PWT = 3
_PAGE_BIT_PCD = 4
_PAGE_BIT_ACCESSED = 5
_PAGE_BIT_DIRTY = 6
_PAGE_BIT_PSE = 7
_PAGE_BIT_PAT = 7
_PAGE_BIT_GLOBAL = 8
_PAGE_BIT_SOFTW1 = 9
_PAGE_BIT_SOFTW2 = 10
_PAGE_BIT_SOFTW3 = 11
_PAGE_BIT_SOFTW4 = 58
_PAGE_BIT_NX = 63
_PAGE_BIT_SPECIAL = _PAGE_BIT_SOFTW1
_PAGE_BIT_SOFT_DIRTY = _PAGE_BIT_SOFTW3
_PAGE_BIT_DEVMAP = _PAGE_BIT_SOFTW4
#: PROT_NONE pages reuse the GLOBAL bit (never set on user pages) to stay "present" for the
#: kernel while the hardware sees them as absent.
_PAGE_BIT_PROTNONE = _PAGE_BIT_GLOBAL

_PAGE_PRESENT = 1 << _PAGE_BIT_PRESENT
_PAGE_RW = 1 << _PAGE_BIT_RW
_PAGE_USER = 1 << _PAGE_BIT_USER
_PAGE_PWT = 1 << _PAGE_BIT_PWT
_PAGE_PCD = 1 << _PAGE_BIT_PCD
_PAGE_ACCESSED = 1 << _PAGE_BIT_ACCESSED
_PAGE_DIRTY = 1 << _PAGE_BIT_DIRTY
_PAGE_PSE = 1 << _PAGE_BIT_PSE
_PAGE_GLOBAL = 1 << _PAGE_BIT_GLOBAL
_PAGE_SOFTW1 = 1 << _PAGE_BIT_SOFTW1
_PAGE_SOFTW2 = 1 << _PAGE_BIT_SOFTW2
_PAGE_SPECIAL = 1 << _PAGE_BIT_SPECIAL
_PAGE_SOFT_DIRTY = 1 << _PAGE_BIT_SOFT_DIRTY
_PAGE_DEVMAP = 1 << _PAGE_BIT_DEVMAP
_PAGE_PROTNONE = 1 << _PAGE_BIT_PROTNONE
_PAGE_NX = 1 << _PAGE_BIT_NX

#: Bits ``pte_none`` ignores: a KNL erratum may set them in an empty entry (pgtable_types.h L76).
_PAGE_KNL_ERRATUM_MASK = _PAGE_DIRTY | _PAGE_ACCESSED

#: Bits ``pte_modify`` keeps from the old PTE: the frame, caching, special, A/D bits.
_PAGE_CHG_MASK = (
    PTE_PFN_MASK
    | _PAGE_PCD
    | _PAGE_PWT
    | _PAGE_SPECIAL
    | _PAGE_ACCESSED
    | (_PAGE_DIRTY | _PAGE_SOFT_DIRTY)
)
#: Every bit that is not part of the frame number.
PTE_FLAGS_MASK = ~PTE_PFN_MASK & ((1 << 64) - 1)

#: Names for printing, low bit first.
PTE_BIT_NAMES = MappingProxyType(
    {
        _PAGE_PRESENT: "PRESENT",
        _PAGE_RW: "RW",
        _PAGE_USER: "USER",
        _PAGE_PWT: "PWT",
        _PAGE_PCD: "PCD",
        _PAGE_ACCESSED: "ACCESSED",
        _PAGE_DIRTY: "DIRTY",
        _PAGE_PSE: "PSE",
        _PAGE_GLOBAL: "GLOBAL/PROTNONE",
        _PAGE_SPECIAL: "SPECIAL",
        _PAGE_SOFTW2: "SOFTW2",
        _PAGE_SOFT_DIRTY: "SOFT_DIRTY",
        _PAGE_DEVMAP: "DEVMAP",
        _PAGE_NX: "NX",
    }
)

# --- protections (pgtable_types.h @ v4.15) --------------------------------------------------
PAGE_NONE = _PAGE_PROTNONE | _PAGE_ACCESSED
PAGE_SHARED = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX
PAGE_SHARED_EXEC = _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED
PAGE_COPY_NOEXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX
PAGE_COPY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED
PAGE_COPY = PAGE_COPY_NOEXEC
PAGE_READONLY = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_NX
PAGE_READONLY_EXEC = _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED

#: ``protection_map[VM_READ|VM_WRITE|VM_EXEC|VM_SHARED]`` (mm/mmap.c with x86's
#: ``__P000``..``__S111``). Private writable combinations map to PAGE_COPY*: no ``_PAGE_RW``, so
#: the first write faults and copies (COW). Without VM_EXEC the entry carries ``_PAGE_NX``.
protection_map: tuple[int, ...] = (
    PAGE_NONE,  # __P000
    PAGE_READONLY,  # __P001
    PAGE_COPY,  # __P010
    PAGE_COPY,  # __P011
    PAGE_READONLY_EXEC,  # __P100
    PAGE_READONLY_EXEC,  # __P101
    PAGE_COPY_EXEC,  # __P110
    PAGE_COPY_EXEC,  # __P111
    PAGE_NONE,  # __S000
    PAGE_READONLY,  # __S001
    PAGE_SHARED,  # __S010
    PAGE_SHARED,  # __S011
    PAGE_READONLY_EXEC,  # __S100
    PAGE_READONLY_EXEC,  # __S101
    PAGE_SHARED_EXEC,  # __S110
    PAGE_SHARED_EXEC,  # __S111
)


def pte_bits_names(bits: int) -> list[str]:
    """``0x8000000000000025`` -> ``['PRESENT', 'USER', 'ACCESSED', 'NX']``.

    Model helper: no kernel counterpart.
    """
    return [name for bit, name in PTE_BIT_NAMES.items() if bits & bit]


# --- index helpers ---------------------------------------------------------------------------
def pgd_index(address: int) -> int:
    """Index into the top table (bits 47..39).

    Kernel: ``pgd_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L912>`_.
    """
    return (address >> PGDIR_SHIFT) & (PTRS_PER_PGD - 1)


def p4d_index(address: int) -> int:
    """Always 0: the p4d level is folded into the pgd with 4-level paging at v4.15.

    Kernel: ``p4d_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L854>`_.
    """
    return 0


def pud_index(address: int) -> int:
    """Index into a pud table (bits 38..30).

    Kernel: ``pud_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L810>`_.
    """
    return (address >> PUD_SHIFT) & (PTRS_PER_PUD - 1)


def pmd_index(address: int) -> int:
    """Index into a pmd table (bits 29..21).

    Kernel: ``pmd_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L725>`_.
    """
    return (address >> PMD_SHIFT) & (PTRS_PER_PMD - 1)


def pte_index(address: int) -> int:
    """Index into a PTE table (bits 20..12).

    Kernel: ``pte_index`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L745>`_.
    """
    return (address >> PAGE_SHIFT) & (PTRS_PER_PTE - 1)


def pgd_addr_end(addr: int, end: int) -> int:
    """The end of the pgd entry's span containing ``addr``, capped at ``end``.

    Kernel: ``pgd_addr_end`` in `include/asm-generic/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/pgtable.h#L448>`_.
    """
    boundary = (addr + PGDIR_SIZE) & ~(PGDIR_SIZE - 1)
    return boundary if boundary - 1 < end - 1 else end


def pud_addr_end(addr: int, end: int) -> int:
    """The end of the pud entry's span containing ``addr``, capped at ``end``.

    Kernel: ``pud_addr_end`` in `include/asm-generic/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/pgtable.h#L461>`_.
    """
    boundary = (addr + PUD_SIZE) & ~(PUD_SIZE - 1)
    return boundary if boundary - 1 < end - 1 else end


def pmd_addr_end(addr: int, end: int) -> int:
    """The end of the pmd entry's span (one PTE table) containing ``addr``, capped at ``end``.

    Kernel: ``pmd_addr_end`` in `include/asm-generic/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/asm-generic/pgtable.h#L468>`_.
    """
    boundary = (addr + PMD_SIZE) & ~(PMD_SIZE - 1)
    return boundary if boundary - 1 < end - 1 else end


# --- the PTE value ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Pte:
    """One page-table entry: a page frame number and the flag bits around it.

    Immutable, like the kernel's ``pte_t`` value: helpers return a new ``Pte``. ``val`` is the
    64-bit word the MMU would read (``pte_val``).

    Kernel: ``pte_t`` in `arch/x86/include/asm/pgtable_64_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable_64_types.h#L21>`_.
    """

    pfn: int
    bits: int

    @property
    def val(self) -> int:
        """The raw 64-bit entry: ``pfn << PAGE_SHIFT | bits``."""
        return ((self.pfn << PAGE_SHIFT) & PTE_PFN_MASK) | self.bits

    def __repr__(self) -> str:
        names = "|".join(pte_bits_names(self.bits)) or "0"
        return f"Pte(pfn={self.pfn:#x}, {names})"


def __pte(val: int) -> Pte:  # noqa: N802 - kernel name
    """Build a ``Pte`` from a raw 64-bit value (``__pte``)."""
    return Pte((val & PTE_PFN_MASK) >> PAGE_SHIFT, val & PTE_FLAGS_MASK)


def pte_val(pte: Pte | None) -> int:
    """The raw value of ``pte`` (0 for an empty entry).

    Kernel: ``pte_val`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L108>`_.
    """
    return 0 if pte is None else pte.val


def pfn_pte(pfn: int, prot: int) -> Pte:
    """A PTE for frame ``pfn`` with protection bits ``prot``.

    The model does not apply ``__supported_pte_mask`` (NX is always supported).

    Kernel: ``pfn_pte`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L529>`_.
    """
    if pfn < 0 or (pfn << PAGE_SHIFT) & ~PTE_PFN_MASK:
        raise KernelBug(f"pfn_pte: pfn {pfn:#x} does not fit in a PTE")
    return Pte(pfn, prot & PTE_FLAGS_MASK)


def pte_pfn(pte: Pte) -> int:
    """The frame number in ``pte``.

    Kernel: ``pte_pfn`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L188>`_.
    """
    return pte.pfn


def pte_flags(pte: Pte) -> int:
    """The flag bits of ``pte``.

    Kernel: ``pte_flags`` in `arch/x86/include/asm/pgtable_types.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable_types.h#L415>`_.
    """
    return pte.bits


def pte_none(pte: Pte | None) -> bool:
    """True for an empty entry; ``None`` (no entry at all) counts as empty.

    An entry holding nothing but the accessed and dirty bits is empty too: some Xeon Phi (KNL)
    CPUs may set them in a not-present entry (``_PAGE_KNL_ERRATUM_MASK``).

    Kernel: ``pte_none`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L635>`_.
    """
    return pte is None or (pte.pfn == 0 and not pte.bits & ~_PAGE_KNL_ERRATUM_MASK)


def pte_present(pte: Pte | None) -> bool:
    """Present for the kernel: ``_PAGE_PRESENT`` or ``_PAGE_PROTNONE`` set.

    A PROT_NONE page is present to the kernel (it owns a frame) but absent to the hardware.

    Kernel: ``pte_present`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L646>`_.
    """
    return pte is not None and bool(pte.bits & (_PAGE_PRESENT | _PAGE_PROTNONE))


def pte_protnone(pte: Pte) -> bool:
    """PROT_NONE entry: PROTNONE set, PRESENT clear.

    Kernel: ``pte_protnone`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L687>`_.
    """
    return (pte.bits & (_PAGE_PROTNONE | _PAGE_PRESENT)) == _PAGE_PROTNONE


def pte_write(pte: Pte) -> bool:
    """Writable by the hardware (``_PAGE_RW``).

    Kernel: ``pte_write`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L163>`_.
    """
    return bool(pte.bits & _PAGE_RW)


def pte_young(pte: Pte) -> bool:
    """Accessed bit set.

    Kernel: ``pte_young`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L138>`_.
    """
    return bool(pte.bits & _PAGE_ACCESSED)


def pte_dirty(pte: Pte) -> bool:
    """Dirty bit set.

    Kernel: ``pte_dirty`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L119>`_.
    """
    return bool(pte.bits & _PAGE_DIRTY)


def pte_exec(pte: Pte) -> bool:
    """Executable: NX clear.

    Kernel: ``pte_exec`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L178>`_.
    """
    return not pte.bits & _PAGE_NX


def pte_special(pte: Pte) -> bool:
    """The software "special" bit (bit 9, ``_PAGE_SPECIAL``): no ``struct page`` to touch.

    Kernel: ``pte_special`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L183>`_.
    """
    return bool(pte.bits & _PAGE_SPECIAL)


def pte_devmap(pte: Pte) -> bool:
    """The software devmap bit (bit 58).

    Kernel: ``pte_devmap`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L652>`_.
    """
    return bool(pte.bits & _PAGE_DEVMAP)


def _set(pte: Pte, bits: int) -> Pte:
    return Pte(pte.pfn, pte.bits | bits)


def _clear(pte: Pte, bits: int) -> Pte:
    return Pte(pte.pfn, pte.bits & ~bits)


def pte_mkwrite(pte: Pte) -> Pte:
    """Set ``_PAGE_RW``.

    Kernel: ``pte_mkwrite`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L314>`_.
    """
    return _set(pte, _PAGE_RW)


def pte_wrprotect(pte: Pte) -> Pte:
    """Clear ``_PAGE_RW``.

    Kernel: ``pte_wrprotect`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L294>`_.
    """
    return _clear(pte, _PAGE_RW)


def pte_mkyoung(pte: Pte) -> Pte:
    """Set the accessed bit.

    Kernel: ``pte_mkyoung`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L309>`_.
    """
    return _set(pte, _PAGE_ACCESSED)


def pte_mkold(pte: Pte) -> Pte:
    """Clear the accessed bit.

    Kernel: ``pte_mkold`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L289>`_.
    """
    return _clear(pte, _PAGE_ACCESSED)


def pte_mkdirty(pte: Pte) -> Pte:
    """Set the dirty bit (and soft-dirty, as x86 does).

    Kernel: ``pte_mkdirty`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L304>`_.
    """
    return _set(pte, _PAGE_DIRTY | _PAGE_SOFT_DIRTY)


def pte_mkclean(pte: Pte) -> Pte:
    """Clear the dirty bit.

    Kernel: ``pte_mkclean`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L284>`_.
    """
    return _clear(pte, _PAGE_DIRTY)


def pte_mkspecial(pte: Pte) -> Pte:
    """Set ``_PAGE_SPECIAL`` (x86 ``pte_mkspecial``).

    On an architecture without the bit (classic ARMv7) the kernel's helper returns the entry
    unchanged; :func:`mmlab.memory.arch_pte_mkspecial` models that choice per mm.

    Kernel: ``pte_mkspecial`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L339>`_.
    """
    return _set(pte, _PAGE_SPECIAL)


def pte_mkdevmap(pte: Pte) -> Pte:
    """Set the special and devmap bits.

    Kernel: ``pte_mkdevmap`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L344>`_.
    """
    return _set(pte, _PAGE_SPECIAL | _PAGE_DEVMAP)


def pte_mkexec(pte: Pte) -> Pte:
    """Clear NX.

    Kernel: ``pte_mkexec`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L299>`_.
    """
    return _clear(pte, _PAGE_NX)


def pte_modify(pte: Pte, newprot: int) -> Pte:
    """Change the protection of ``pte`` to ``newprot`` (x86 ``pte_modify``, pgtable.h).

    Keeps what belongs to the page (frame, caching, special, accessed, dirty: ``_PAGE_CHG_MASK``)
    and takes every other bit from ``newprot``. mprotect(2) uses it via ``change_pte_range``.

    Kernel: ``pte_modify`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L547>`_.
    """
    keep = pte.bits & _PAGE_CHG_MASK
    return Pte(pte.pfn, keep | (newprot & ~_PAGE_CHG_MASK & PTE_FLAGS_MASK))


def pgprot_modify(oldprot: int, newprot: int) -> int:
    """``newprot``, keeping what a driver put in ``oldprot`` that belongs to the page rather
    than to the access rights (caching, special, accessed, dirty: ``_PAGE_CHG_MASK``).

    Kernel: ``pgprot_modify`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L572>`_.
    """
    return (oldprot & _PAGE_CHG_MASK & PTE_FLAGS_MASK) | newprot


def pte_same(a: Pte | None, b: Pte | None) -> bool:
    """Same raw value.

    Kernel: ``pte_same`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L641>`_.
    """
    return pte_val(a) == pte_val(b)


def mmu_permits(pte: Pte | None, write: bool, user: bool = True, exec_: bool = False) -> bool:
    """Would the MMU let this access through without a page fault?

    The hardware checks the real PRESENT bit (a PROT_NONE entry faults), RW for writes (CR0.WP is
    always set, so the kernel cannot write through a read-only user PTE either), USER for user
    accesses and NX for instruction fetches.

    Model helper: no kernel counterpart (this is the CPU's page walk; the kernel's own test is
    :func:`pte_access_permitted`).
    """
    if pte is None or not pte.bits & _PAGE_PRESENT:
        return False
    if write and not pte.bits & _PAGE_RW:
        return False
    if user and not pte.bits & _PAGE_USER:
        return False
    return not (exec_ and pte.bits & _PAGE_NX)


def pte_access_permitted(pte: Pte | None, write: bool) -> bool:
    """May get_user_pages-style code use this entry for a user access? PRESENT and USER, RW too
    for a write (and the protection key, always allowed here: the model has no pkeys).

    Unlike :func:`mmu_permits` it ignores NX: the kernel reads and writes user memory, it does
    not execute it.

    Kernel: ``pte_access_permitted`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L1259>`_.
    """
    if pte is None:
        return False
    need = _PAGE_PRESENT | _PAGE_USER | (_PAGE_RW if write else 0)
    return pte.bits & need == need


# --- the tree --------------------------------------------------------------------------------
LEVELS = ("pgd", "pud", "pmd", "pte")
_MAX_ADDR = 1 << VA_BITS


def _check_addr(addr: int) -> None:
    if addr < 0 or addr >= _MAX_ADDR:
        raise KernelBug(f"address {addr:#x} outside the 48-bit space the page tables translate")


def _indices(lo: int, hi: int, table: dict) -> list[int]:
    """The populated indices in ``[lo, hi]`` of ``table``, ascending, whichever way is cheaper."""
    if hi - lo + 1 <= len(table):
        return [i for i in range(lo, hi + 1) if i in table]
    return sorted(i for i in table if lo <= i <= hi)


class PageTable:
    """One mm's page tables (``mm->pgd`` and everything below it).

    Each level is a dict from 9-bit index to the next table; the PTE tables map an index to a
    :class:`Pte`. ``nr_tables`` counts the allocated tables per level (what ``mm->nr_ptes`` and
    ``nr_pmds`` count in the kernel; the pgd is always 1), ``nr_ptes_mapped`` the non-empty PTEs.

    ``table_limit``: if set, allocating a table beyond this many (pud + pmd + pte tables) fails
    with ``-ENOMEM`` (the way ``pte_alloc`` fails under memory pressure), so error paths can be
    tested. ``fail_next_alloc`` makes that many upcoming table allocations fail.

    Kernel: ``__pte_alloc`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L645>`_.
    """

    def __init__(self, table_limit: int | None = None) -> None:
        self._pgd: dict[int, dict[int, dict[int, dict[int, Pte]]]] = {}
        self.nr_tables: dict[str, int] = {"pgd": 1, "pud": 0, "pmd": 0, "pte": 0}
        self.nr_ptes_mapped = 0
        self.table_limit = table_limit
        self.fail_next_alloc = 0

    # -- allocation ---------------------------------------------------------------------------
    def _may_alloc(self) -> bool:
        if self.fail_next_alloc > 0:
            self.fail_next_alloc -= 1
            return False
        if self.table_limit is None:
            return True
        used = self.nr_tables["pud"] + self.nr_tables["pmd"] + self.nr_tables["pte"]
        return used < self.table_limit

    def _pud(self, addr: int, alloc: bool) -> dict | None:
        g = (addr >> PGDIR_SHIFT) & 511
        pud = self._pgd.get(g)
        if pud is None and alloc:
            if not self._may_alloc():
                return None
            pud = self._pgd[g] = {}
            self.nr_tables["pud"] += 1
        return pud

    def _pmd(self, addr: int, alloc: bool) -> dict | None:
        pud = self._pud(addr, alloc)
        if pud is None:
            return None
        u = (addr >> PUD_SHIFT) & 511
        pmd = pud.get(u)
        if pmd is None and alloc:
            if not self._may_alloc():
                return None
            pmd = pud[u] = {}
            self.nr_tables["pmd"] += 1
        return pmd

    def _pte_table(self, addr: int, alloc: bool) -> dict | None:
        pmd = self._pmd(addr, alloc)
        if pmd is None:
            return None
        m = (addr >> PMD_SHIFT) & 511
        tbl = pmd.get(m)
        if tbl is None and alloc:
            if not self._may_alloc():
                return None
            tbl = pmd[m] = {}
            self.nr_tables["pte"] += 1
        return tbl

    def table_of(self, level: str, addr: int) -> object | None:
        """The ``"pud"``, ``"pmd"`` or ``"pte"`` table holding ``addr``'s entry there, or None.

        A kernel pointer such as ``vmf->pmd`` points into such a table; comparing what this
        returns before and after a lock drop tells whether that pointer still points at a live
        table or at one ``free_pgtables`` freed. Only the identity of the result means something.

        Model helper: no kernel counterpart (the kernel has the pointers themselves).
        """
        if level == "pud":
            return self._pud(addr, False)
        if level == "pmd":
            return self._pmd(addr, False)
        if level == "pte":
            return self._pte_table(addr, False)
        raise ValueError(f"level must be 'pud', 'pmd' or 'pte', not {level!r}")

    def pud_alloc(self, addr: int) -> int:
        """Make sure the pud table for ``addr`` exists: 0 or ``-ENOMEM``.

        Kernel: ``pud_alloc`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1730>`_.
        """
        _check_addr(addr)
        return 0 if self._pud(addr, True) is not None else -errno.ENOMEM

    def pmd_alloc(self, addr: int) -> int:
        """Make sure the pud and pmd tables for ``addr`` exist: 0 or ``-ENOMEM``.

        Kernel: ``pmd_alloc`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1738>`_.
        """
        _check_addr(addr)
        return 0 if self._pmd(addr, True) is not None else -errno.ENOMEM

    def pte_alloc(self, addr: int) -> int:
        """Make sure every table down to the PTE table for ``addr`` exists: 0 or ``-ENOMEM``.

        Kernel: ``pte_alloc`` in `include/linux/mm.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/mm.h#L1850>`_.
        """
        _check_addr(addr)
        return 0 if self._pte_table(addr, True) is not None else -errno.ENOMEM

    def pmd_none(self, addr: int) -> bool:
        """True if no PTE table covers ``addr`` yet (the pmd entry is empty).

        Kernel: ``pmd_none`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L700>`_.
        """
        return self._pte_table(addr, False) is None

    # -- entries ------------------------------------------------------------------------------
    def walk(self, addr: int) -> Pte | None:
        """The PTE mapping ``addr``, or ``None`` if the entry (or a table above it) is empty.

        Kernel: ``follow_pte`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L4275>`_.
        """
        t = self._pgd.get((addr >> PGDIR_SHIFT) & 511)
        if t is None:
            return None
        t = t.get((addr >> PUD_SHIFT) & 511)
        if t is None:
            return None
        t = t.get((addr >> PMD_SHIFT) & 511)
        if t is None:
            return None
        return t.get((addr >> PAGE_SHIFT) & 511)

    def set_pte_at(self, addr: int, pte: Pte) -> int:
        """Write ``pte`` into the entry for ``addr``, allocating missing tables.

        Returns 0, or ``-ENOMEM`` if a table could not be allocated (nothing written then).
        Writing an empty PTE is the same as :meth:`pte_clear`.

        Kernel: ``set_pte_at`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L59>`_.
        """
        _check_addr(addr)
        if pte_none(pte):
            self.pte_clear(addr)
            return 0
        tbl = self._pte_table(addr, True)
        if tbl is None:
            return -errno.ENOMEM
        i = (addr >> PAGE_SHIFT) & 511
        if i not in tbl:
            self.nr_ptes_mapped += 1
        tbl[i] = pte
        return 0

    def pte_clear(self, addr: int) -> Pte | None:
        """Empty the entry for ``addr``; return the old value.

        The tables themselves stay allocated until :meth:`free_pgtables`.

        Kernel: ``ptep_get_and_clear`` in `arch/x86/include/asm/pgtable.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/arch/x86/include/asm/pgtable.h#L1024>`_.
        """
        tbl = self._pte_table(addr, False)
        if tbl is None:
            return None
        old = tbl.pop((addr >> PAGE_SHIFT) & 511, None)
        if old is not None:
            self.nr_ptes_mapped -= 1
        return old

    def range(self, start: int, end: int) -> Iterator[tuple[int, Pte]]:
        """Every non-empty ``(address, Pte)`` with ``start <= address < end``, in address order.

        Only populated tables are visited, so a sparse range is cheap. Do not add entries while
        iterating (clearing the entry just returned is fine: collect first if in doubt).

        Kernel: ``walk_page_range`` in `mm/pagewalk.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/pagewalk.c#L289>`_.
        """
        start = max(start, 0) & ~(PAGE_SIZE - 1)
        end = min(end, _MAX_ADDR)
        if start >= end:
            return
        last = end - 1
        pgd = self._pgd
        for g in _indices(start >> PGDIR_SHIFT & 511, last >> PGDIR_SHIFT & 511, pgd):
            gbase = g << PGDIR_SHIFT
            pud = pgd[g]
            lo = (start >> PUD_SHIFT & 511) if start > gbase else 0
            hi = (last >> PUD_SHIFT & 511) if last < gbase + PGDIR_SIZE else 511
            for u in _indices(lo, hi, pud):
                ubase = gbase | (u << PUD_SHIFT)
                pmd = pud[u]
                lo2 = (start >> PMD_SHIFT & 511) if start > ubase else 0
                hi2 = (last >> PMD_SHIFT & 511) if last < ubase + PUD_SIZE else 511
                for m in _indices(lo2, hi2, pmd):
                    mbase = ubase | (m << PMD_SHIFT)
                    tbl = pmd[m]
                    lo3 = (start >> PAGE_SHIFT & 511) if start > mbase else 0
                    hi3 = (last >> PAGE_SHIFT & 511) if last < mbase + PMD_SIZE else 511
                    for i in _indices(lo3, hi3, tbl):
                        pte = tbl.get(i)
                        if pte is not None:
                            yield mbase | (i << PAGE_SHIFT), pte

    def items(self) -> list[tuple[int, Pte]]:
        """All non-empty entries, in address order.

        Model helper: no kernel counterpart.
        """
        return list(self.range(0, _MAX_ADDR))

    def change_protection(
        self,
        start: int,
        end: int,
        newprot: int,
        *,
        dirty_accountable: bool = False,
        vma_softdirty: bool = False,
    ) -> int:
        """Apply ``pte_modify(pte, newprot)`` to every present PTE in ``[start, end)``.

        The PTE loop of ``change_protection``. With ``dirty_accountable`` (the VMA wants write
        notification, see ``vma_wants_writenotify``) an entry that is already dirty is made
        writable at once, to spare a write fault that would only mark it dirty again -- unless
        soft-dirty tracking still has to see that write (``vma_softdirty``: the VMA has
        ``VM_SOFTDIRTY``, and the entry has no soft-dirty bit). Not modelled: NUMA hinting, the
        saved-write bit. Returns the number of entries changed ("pages" in the kernel).

        Kernel: ``change_pte_range`` in `mm/mprotect.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/mprotect.c#L37>`_.
        """
        changed = []
        for a, p in self.range(start, end):
            if not pte_present(p):
                continue
            new = pte_modify(p, newprot)
            if (
                dirty_accountable
                and pte_dirty(new)
                and (new.bits & _PAGE_SOFT_DIRTY or not vma_softdirty)
            ):
                new = pte_mkwrite(new)
            changed.append((a, new))
        for a, p in changed:
            self.set_pte_at(a, p)
        return len(changed)

    def free_pgtables(self, start: int, end: int, floor: int = 0, ceiling: int = 0) -> int:
        """Free the page tables under ``[start, end)`` that lie wholly in ``[floor, ceiling)``.

        After munmap zapped the PTEs of a range, ``free_pgtables``/``free_pgd_range`` free the
        tables that only that range used: a table is freed when its whole span lies between
        ``floor`` (the end of the VMA below, 0 if none) and ``ceiling`` (the start of the VMA
        above; 0 means the top of the address space), so a table that a neighbour could still
        use stays. The model also keeps a table that still holds an entry (the kernel would
        free it, but then the caller broke the rules). Returns how many tables were freed.

        Kernel: ``free_pgd_range`` in `mm/memory.c @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L548>`_.
        """
        start = max(start, 0)
        end = min(end, _MAX_ADDR)
        if start >= end:
            return 0

        def inside(base: int, size: int) -> bool:
            return base >= floor and (ceiling == 0 or base + size <= ceiling)

        freed = 0
        last = end - 1
        for g in _indices(start >> PGDIR_SHIFT & 511, last >> PGDIR_SHIFT & 511, self._pgd):
            gbase = g << PGDIR_SHIFT
            pud = self._pgd[g]
            lo = (start >> PUD_SHIFT & 511) if start > gbase else 0
            hi = (last >> PUD_SHIFT & 511) if last < gbase + PGDIR_SIZE else 511
            for u in _indices(lo, hi, pud):
                ubase = gbase | (u << PUD_SHIFT)
                pmd = pud[u]
                lo2 = (start >> PMD_SHIFT & 511) if start > ubase else 0
                hi2 = (last >> PMD_SHIFT & 511) if last < ubase + PUD_SIZE else 511
                for m in _indices(lo2, hi2, pmd):
                    if not pmd[m] and inside(ubase | (m << PMD_SHIFT), PMD_SIZE):
                        del pmd[m]
                        self.nr_tables["pte"] -= 1
                        freed += 1
                if not pmd and inside(ubase, PUD_SIZE):
                    del pud[u]
                    self.nr_tables["pmd"] -= 1
                    freed += 1
            if not pud and inside(gbase, PGDIR_SIZE):
                del self._pgd[g]
                self.nr_tables["pud"] -= 1
                freed += 1
        return freed

    def tables(self) -> Iterator[tuple[str, int, int]]:
        """Every allocated table as ``(level, first address it covers, entries used)``.

        In address order, parents before children: what a drawing of the radix tree needs.

        Model helper: no kernel counterpart.
        """
        yield "pgd", 0, len(self._pgd)
        for g in sorted(self._pgd):
            gbase = g << PGDIR_SHIFT
            pud = self._pgd[g]
            yield "pud", gbase, len(pud)
            for u in sorted(pud):
                ubase = gbase | (u << PUD_SHIFT)
                pmd = pud[u]
                yield "pmd", ubase, len(pmd)
                for m in sorted(pmd):
                    yield "pte", ubase | (m << PMD_SHIFT), len(pmd[m])

    def __len__(self) -> int:
        return self.nr_ptes_mapped

    def __repr__(self) -> str:
        t = self.nr_tables
        return (
            f"PageTable(pud={t['pud']}, pmd={t['pmd']}, pte tables={t['pte']}, "
            f"ptes={self.nr_ptes_mapped})"
        )
