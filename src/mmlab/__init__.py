"""mmlab: a model of Linux memory management (v4.15) for the cramfs XIP course.

Submodules load on first use, so ``import mmlab`` stays cheap and ``mmlab.trace``,
``mmlab.mm`` and the others work without importing each one first.
"""

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = {
    "constants",
    "cramfs",
    "fault",
    "filemap",
    "fs",
    "live",
    "memory",
    "mm",
    "pagetable",
    "physmem",
    "procfs",
    "rwsem",
    "trace",
    "version",
    "vmatree",
}


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"mmlab.{name}")
    raise AttributeError(f"module 'mmlab' has no attribute {name!r}")
