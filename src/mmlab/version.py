"""Kernel versions the model can imitate, and the later commits that changed its behaviour.

The model defaults to v4.15, the release that merged cramfs XIP. Where a later kernel behaves
differently in a way the tests can observe on the machine running them, the behaviour is switched
here, in one place, with the commit that changed it and its first release (as drgn's Linux
helpers do). A machine's version is :attr:`mmlab.system.System.version`.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "DEFAULT_VERSION",
    "MPROTECT_UNACCOUNTS_UNFAULTED",
    "V4_15",
    "Version",
    "has",
    "parse_version",
    "running_kernel",
]

Version = tuple[int, int]

V4_15: Version = (4, 15)
DEFAULT_VERSION: Version = V4_15


def parse_version(text: str) -> Version:
    """``"6.18.3-foo"`` -> ``(6, 18)``.

    Model helper: no kernel counterpart.
    """
    match = re.match(r"(\d+)\.(\d+)", text)
    if not match:
        raise ValueError(f"not a kernel version: {text!r}")
    return int(match.group(1)), int(match.group(2))


def running_kernel() -> Version:
    """The version of the kernel this Python process runs on (``uname -r``).

    Model helper: no kernel counterpart.
    """
    return parse_version(os.uname().release)


#: mprotect(PROT_READ) of a private anonymous VMA that never had a page faulted in (no anon_vma)
#: drops VM_ACCOUNT, so the VMA can merge again with read-only neighbours; v4.15 keeps VM_ACCOUNT
#: forever once a VMA was writable. Commit 9b9143298585 "mm/mprotect: allow unfaulted VMAs to be
#: unaccounted on mprotect()" (Lorenzo Stoakes), first released in v6.7 (merged for v6.7-rc1 in
#: the "MM updates for 6.7-rc1" pull of 2023-11-01). The live differential sees it on the 6.18
#: kernel of the test machine.
MPROTECT_UNACCOUNTS_UNFAULTED: Version = (6, 7)


def has(version: Version, change: Version) -> bool:
    """True when ``version`` includes a change first released in ``change``.

    Model helper: no kernel counterpart.
    """
    return tuple(version) >= tuple(change)
