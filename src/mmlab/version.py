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
    "CRAMFS_VMF_INSERT_MIXED",
    "DEFAULT_VERSION",
    "FAULT_ACCOUNTING_IN_CORE",
    "FILEMAP_DROPS_LOCK_FOR_IO",
    "MAPLE_TREE",
    "MMAP_LOCK_API",
    "MPROTECT_UNACCOUNTS_UNFAULTED",
    "MULTIPLE_FAULT_RETRIES",
    "PER_VMA_LOCK",
    "V4_15",
    "V6_12",
    "Version",
    "has",
    "parse_version",
    "running_kernel",
]

Version = tuple[int, int]

V4_15: Version = (4, 15)
#: The current kernel of the model's 6.x mode: Debian's ``linux-source-6.12``
#: (6.12.118-1~deb12u1), read for every 6.x rule the model follows; its links go to elixir's
#: ``v6.12.118``.
V6_12: Version = (6, 12)
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


#: cramfs inserts its XIP pages with ``vmf_insert_mixed`` (it returns a ``vm_fault_t``,
#: ``VM_FAULT_NOPAGE`` on success, that cramfs turns into an errno with ``vm_fault_to_errno``)
#: instead of ``vm_insert_mixed`` (an errno).
#: Commit 90cd1a690108 "cramfs: convert to use vmf_insert_mixed" (Matthew Wilcox), in the
#: series that removed ``vm_insert_mixed``, merged for v4.20. What the program sees is the same.
CRAMFS_VMF_INSERT_MIXED: Version = (4, 20)

#: ``filemap_fault`` does no I/O under the fault's lock on a first try: it drops the lock,
#: reads the page and returns ``VM_FAULT_RETRY`` (with ``VM_FAULT_MAJOR``), and the retry finds
#: the page cached. Commit 6b4c9f446981 "filemap: drop the mmap_sem for all blocking
#: operations" (Josef Bacik), first in v5.1.
FILEMAP_DROPS_LOCK_FOR_IO: Version = (5, 1)

#: A fault that returned ``VM_FAULT_RETRY`` may retry more than once: the x86 handler keeps
#: ``FAULT_FLAG_ALLOW_RETRY`` and only adds ``FAULT_FLAG_TRIED`` (v4.15 cleared ALLOW_RETRY, so
#: the second try could not drop the lock again). Commit 4064b9827063 "mm: allow VM_FAULT_RETRY
#: for multiple times" (Peter Xu; ``git describe``: v5.6-5709-g4064b9827063), first in v5.7.
MULTIPLE_FAULT_RETRIES: Version = (5, 7)

#: The mm's lock is taken through the mmap locking API (``mmap_read_lock``,
#: ``mmap_read_trylock``, ``mmap_read_unlock``, ``mmap_write_lock_killable``,
#: ``mmap_write_downgrade``, ``mmap_write_unlock``...) instead of the rwsem calls on
#: ``mm->mmap_sem``, and the field itself is renamed ``mmap_lock``. Commit 9740ca4e95b4 "mmap
#: locking API: initial implementation as rwsem wrappers" (Michel Lespinasse), first of the
#: series that ends with the rename, merged for v5.8. The model's traces name the wrappers from
#: this version on (:class:`mmlab.mmap_lock.MmapLock`); the lock behaves the same.
MMAP_LOCK_API: Version = (5, 8)

#: ``handle_mm_fault`` counts the fault itself (``mm_account_fault``): not at all while it
#: retries, ``pgfault`` once it is done, and, when it succeeded, a major fault if it was
#: ``VM_FAULT_MAJOR`` *or had been retried* (``FAULT_FLAG_TRIED``), else a minor one. v4.15
#: counted ``pgfault`` on every call and left the major/minor count to the architecture.
#: Commit bce617edecad "mm: do page fault accounting in handle_mm_fault" (Peter Xu), merged in
#: the v5.9 merge window (August 2020).
FAULT_ACCOUNTING_IN_CORE: Version = (5, 9)

#: The VMAs are kept in a maple tree (``mm->mm_mt``) walked with a ``vma_iterator``; the
#: ``vm_next``/``vm_prev`` list, the rbtree and the per-thread VMA cache are gone. ``find_vma``
#: keeps its meaning (the first VMA ending above the address); ``vma_lookup`` gives the VMA that
#: contains it, or none. Commits d4af56c5c7c6 "mm: start tracking VMAs with maple tree" and
#: 763ecb035029 "mm: remove the vma linked list" (Liam R. Howlett; ``git describe``
#: v6.0-rc3-284-g763ecb035029), first in v6.1.
MAPLE_TREE: Version = (6, 1)

#: Page faults are tried first under a per-VMA read lock (``lock_vma_under_rcu``, with
#: ``FAULT_FLAG_VMA_LOCK``), falling back to ``mmap_lock`` when the VMA is being changed or the
#: fault needs more than that VMA (``VM_FAULT_RETRY`` after ``vma_end_read``); every path that
#: changes a VMA write-locks it first (``vma_start_write``), and the write locks all end when
#: ``mmap_lock`` is released or downgraded. Series "Per-VMA locks" (Suren Baghdasaryan): commits
#: 5e31275cc997 "mm: add per-VMA lock and helper functions to control it", 50ee32537206 "mm:
#: introduce lock_vma_under_rcu to be used from arch-specific code" and 0bff0aaea03e "x86/mm:
#: try VMA lock-based page fault handling first", first in v6.4. The model applies the rules of
#: 6.12 (Debian's 6.12.118) to every version from 6.4 on: 6.4 itself handled fewer faults under
#: the VMA lock (file-backed VMAs and some others followed in later releases), so use
#: ``(6, 12)`` to see what the model was checked against.
PER_VMA_LOCK: Version = (6, 4)


def has(version: Version, change: Version) -> bool:
    """True when ``version`` includes a change first released in ``change``.

    Model helper: no kernel counterpart.
    """
    return tuple(version) >= tuple(change)
