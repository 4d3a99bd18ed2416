"""``pfn_t``: a page frame number with flags in its top bits (``include/linux/pfn_t.h`` @ v4.15).

``vm_insert_mixed`` takes a ``pfn_t``: the flags say whether the frame has a ``struct page``
that may be used (``PFN_MAP``) and whether it is device memory (``PFN_DEV``). cramfs passes
``phys_to_pfn_t(address, PFN_DEV)`` for flash: device memory, no struct page.

Kernel: `include/linux/pfn_t.h @ v4.15
<https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn_t.h>`_.
"""

from mmlab.constants import PAGE_SHIFT

__all__ = [
    "PFN_DEV",
    "PFN_FLAGS_MASK",
    "PFN_MAP",
    "PFN_SG_CHAIN",
    "PFN_SG_LAST",
    "pfn_t_devmap",
    "pfn_t_to_pfn",
    "phys_to_pfn_t",
]

PFN_FLAGS_MASK = 0xFFF << 52
PFN_SG_CHAIN = 1 << 63
PFN_SG_LAST = 1 << 62
PFN_DEV = 1 << 61
PFN_MAP = 1 << 60


def phys_to_pfn_t(addr: int, flags: int) -> int:
    """A ``pfn_t``: the frame of physical ``addr`` with ``PFN_*`` flags in the top bits.

    Kernel: ``phys_to_pfn_t`` in `include/linux/pfn_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn_t.h#L38>`_.
    """
    return (addr >> PAGE_SHIFT) | flags


def pfn_t_to_pfn(pfn: int) -> int:
    """The plain frame number of a ``pfn_t`` (a plain int pfn passes through).

    Kernel: ``pfn_t_to_pfn`` in `include/linux/pfn_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn_t.h#L48>`_.
    """
    return pfn & ~PFN_FLAGS_MASK


def pfn_t_devmap(pfn: int) -> bool:
    """``PFN_DEV`` and ``PFN_MAP`` both set (a ZONE_DEVICE page; never true for cramfs).

    Kernel: ``pfn_t_devmap`` in `include/linux/pfn_t.h @ v4.15 <https://elixir.bootlin.com/linux/v4.15/source/include/linux/pfn_t.h#L104>`_.
    """
    return (pfn & (PFN_DEV | PFN_MAP)) == (PFN_DEV | PFN_MAP)
