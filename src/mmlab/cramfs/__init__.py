"""cramfs (Linux v4.15 on-disk format): layout, reader, checker, safe extractor, writer.

Public API (imported lazily so ``import mmlab.cramfs`` stays cheap):

* errors: :class:`CramfsError` and subclasses (``mmlab.cramfs.errors``)
* :func:`open_image` / :class:`CramfsImage` (``mmlab.cramfs.reader``)
* :func:`check_image` (``mmlab.cramfs.check``)
* :func:`extract` (``mmlab.cramfs.extract``)
* :func:`build_image` / :func:`write_image` (``mmlab.cramfs.writer``)
"""

from __future__ import annotations

import importlib

from . import errors as _errors
from .errors import *  # noqa: F403 - the error classes are part of the package API

_LAZY = {
    "CramfsImage": "reader",
    "open_image": "reader",
    "FileBlock": "reader",
    "Entry": "reader",
    "check_image": "check",
    "CheckReport": "check",
    "extract": "extract",
    "build_image": "writer",
    "write_image": "writer",
}

__all__ = [*_errors.__all__, *_LAZY]


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mmlab.cramfs' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value
