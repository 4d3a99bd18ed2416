"""cramfs package: the ``fs/cramfs`` @ v4.15 on-disk format read, checked, extracted and written.

Public API (only the errors module is imported with the package, so ``import mmlab.cramfs``
stays cheap; the rest loads on first use):

* errors: :class:`CramfsError` and subclasses, :class:`CramfsWarning` and the
  fsck.cramfs exit codes ``EXIT_*`` (``mmlab.cramfs.errors``)
* :func:`open_image` / :class:`CramfsImage` (``mmlab.cramfs.reader``)
* :func:`check_image` (``mmlab.cramfs.check``)
* :func:`extract` (``mmlab.cramfs.extract``)
* :func:`build_image` / :func:`write_image` (``mmlab.cramfs.writer``)

The submodules (``mmlab.cramfs.layout``, ``.inflate``, ``.pool``, ``.elf``, ``.listing``, ``.tree``,
``.samples`` and the ones above) are importable as attributes too, loaded on first access.
"""

from importlib import import_module as _import_module
from types import MappingProxyType as _MappingProxyType

from . import errors as _errors

#: Public name -> submodule that defines it (imported on first access).
_LAZY = _MappingProxyType({
    "CramfsImage": "reader",
    "open_image": "reader",
    "FileBlock": "reader",
    "Entry": "reader",
    "check_image": "check",
    "CheckReport": "check",
    "extract": "extract",
    "build_image": "writer",
    "write_image": "writer",
})

#: The package's submodules; ``mmlab.cramfs.<name>`` imports one on first access.
_SUBMODULES = ("check", "elf", "errors", "extract", "inflate", "layout", "listing", "pool",
               "reader", "samples", "tree", "writer")

__all__ = [*_errors.__all__, *_LAZY]


def __getattr__(name: str):
    """Import the submodule behind a lazy public name (or a submodule itself) on first use."""
    if name in _errors.__all__:  # the errors module is loaded with the package: cheap
        return getattr(_errors, name)
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBMODULES:
            return _import_module(f".{name}", __name__)
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(_import_module(f".{module}", __name__), name)
    # Bind the name in the package: not just a cache, importing a submodule binds its name
    # here, and the function ``extract`` shares its name with the submodule ``extract``.
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The public names (:data:`__all__`) and the submodules, without private helpers."""
    return sorted({*__all__, *_SUBMODULES})
