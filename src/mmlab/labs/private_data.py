"""Lab 04: packing the split point into ``vm_private_data``, the seed's way and v3's.

``remap_pfn_range`` takes over ``vm_pgoff`` of a COW mapping, so the fault-time split keeps
the file offset of the split point, and where the split is, in ``vm_private_data``, one
``unsigned long``. The learner writes ``pack(split_pgoff, split_page, vm_start, form)`` and
``unpack(value, vm_start, form)`` for ``form`` ``"seed"`` (``split_pgoff + (split_page << 16)``)
and ``"v3"`` (``split_pgoff | (split_vpn << 12)``, the split point as a virtual page number);
:func:`check` compares ``pack`` with the model's :func:`mmlab.xip.split_private_data` and
``unpack`` with the model's packing (round trips), including the limits: a cramfs file is at
most 16 MiB (a 24-bit size field), 4096 pages, so any page offset fits in 12 bits.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from mmlab.constants import PAGE_SIZE
from mmlab.viz.quiz import CheckResult, check_function
from mmlab.xip import split_private_data

__all__ = ["FORMS", "MAX_FILE_PAGES", "PackCheck", "check", "pack_cases", "seed_split_addr",
           "unpack_cases"]

#: The lab's form names and the model's strategy for each.
FORMS = (("seed", "split"), ("v3", "split-v3"))

#: The largest file cramfs can hold (``CRAMFS_SIZE_WIDTH`` is 24 bits) in pages.
MAX_FILE_PAGES = (1 << 24) // PAGE_SIZE

_TOP_USER = 0x7FFFFFFFF000  # the highest page start of x86-64 user space (47 bits)


def _points(seed: int, count: int) -> list[tuple[int, int, int]]:
    """``(split_pgoff, split_page, vm_start)`` triples: random ones and the limits."""
    rng = random.Random(seed)
    limits = [
        (1, 1, 0x10000),
        (MAX_FILE_PAGES - 1, 1, 0x40000000),              # the last page of a 16 MiB file
        (MAX_FILE_PAGES - 1, MAX_FILE_PAGES - 1, 0x7FFFF7000000),
        (4096 - 5, 3, _TOP_USER - 8 * PAGE_SIZE),         # top of user space
        (2, 2, 0xB7F00000),                               # a 32-bit address
    ]
    out = list(limits)
    while len(out) < count:
        split_page = rng.randint(1, 300)
        split_pgoff = rng.randint(split_page, MAX_FILE_PAGES - 1)
        vm_start = rng.randrange(0x10, 0x7FFFF0000) * PAGE_SIZE
        out.append((split_pgoff, split_page, vm_start))
    return out


def pack_cases(seed: int = 2017, count: int = 16) -> list[tuple[tuple, object]]:
    """``pack`` cases in both forms; the answers come from :func:`mmlab.xip.split_private_data`.

    Model helper: no kernel counterpart.
    """
    return [((pgoff, page, start, form), split_private_data(pgoff, page, start, strategy))
            for pgoff, page, start in _points(seed, count) for form, strategy in FORMS]


def unpack_cases(seed: int = 2018, count: int = 16) -> list[tuple[tuple, object]]:
    """``unpack`` cases: a value the model packed, and the ``(split_pgoff, split_addr)`` it holds.

    ``split_addr`` is ``vm_start + split_page * PAGE_SIZE``: a round trip through the model.

    Model helper: no kernel counterpart.
    """
    return [((split_private_data(pgoff, page, start, strategy), start, form),
             (pgoff, start + page * PAGE_SIZE))
            for pgoff, page, start in _points(seed, count) for form, strategy in FORMS]


@dataclass(frozen=True)
class PackCheck:
    """The two checks together: ``pack`` against the model, ``unpack`` on the model's values.

    Model helper: no kernel counterpart.
    """

    pack: CheckResult
    unpack: CheckResult

    @property
    def ok(self) -> bool:
        """Both pass."""
        return self.pack.ok and self.unpack.ok

    def __str__(self) -> str:
        return f"pack:   {self.pack}\nunpack: {self.unpack}"


def check(pack: Callable[[int, int, int, str], int],
          unpack: Callable[[int, int, str], tuple[int, int]]) -> PackCheck:
    """Check a learner's ``pack`` and ``unpack`` (both forms, limits included).

    Model helper: no kernel counterpart.
    """
    return PackCheck(check_function(pack, pack_cases(), name="pack"),
                     check_function(unpack, unpack_cases(), name="unpack"))


def seed_split_addr(value: int, vm_start: int) -> int:
    """Where the seed's handler puts the split for ``vm_private_data == value`` at ``vm_start``.

    Patch: ``cramfs_vmasplit_fault`` of the fault-time split (LKML, 2017-08-16), never merged.
    """
    return vm_start + (value >> 16) * PAGE_SIZE
