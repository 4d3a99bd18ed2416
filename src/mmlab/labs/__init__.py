"""The labs: find-the-bug and complete-the-function exercises, each with an automatic check.

One module per lab; each has a ``check(...)`` that runs the learner's work against the model
and returns a result whose ``str()`` is the feedback line the notebook prints (``ok`` tells
whether everything passed). The exercises are ``notebooks/labs/NN-<name>.ipynb``; their solved
copies are in ``notebooks/labs/solutions/``.

* :mod:`~mmlab.labs.remap_cow_rule`: the COW rule of ``remap_pfn_range``.
* :mod:`~mmlab.labs.tail_check`: the test for a shared last page that v4.15 merged, from the
  last block's own pointer, on an image the course had not used.
* :mod:`~mmlab.labs.race_recheck`: the split point gone stale without a race, a race of one's
  own that breaks the seed's handler and not v3's, and v3's re-check.
* :mod:`~mmlab.labs.private_data`: the packed split point after the VMA's bottom is unmapped;
  its largest value.
* :mod:`~mmlab.labs.xip_layout`: an image layout in which all of a library maps from flash.
* :mod:`~mmlab.labs.mixedmap_plan`: a library mapped as the dynamic loader maps it: what
  ``/proc/PID/maps`` shows under each strategy (why libc lost its flash address in v4.15).
* :mod:`~mmlab.labs.vma_lock_fallback`: which lock a 6.12 fault ends under (the VMA's own, or
  ``mmap_lock`` after a fallback), for every kind of VMA.

Model helper: no kernel counterpart.
"""

from importlib import import_module as _import_module
from types import ModuleType as _ModuleType

LABS = ("remap_cow_rule", "tail_check", "race_recheck", "private_data", "xip_layout",
        "mixedmap_plan", "vma_lock_fallback")

__all__ = ["LABS"]


def __getattr__(name: str) -> _ModuleType:
    if name in LABS:
        return _import_module(f"mmlab.labs.{name}")
    raise AttributeError(f"module 'mmlab.labs' has no attribute {name!r}")
