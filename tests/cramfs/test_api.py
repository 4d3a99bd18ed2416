"""The public surface of ``mmlab.cramfs``: ``__all__``, ``dir()``, lazy imports, re-exports."""

from __future__ import annotations

import importlib
import pathlib
import subprocess
import sys
import textwrap
from types import MappingProxyType

import pytest

import mmlab.cramfs
from mmlab.cramfs import errors

#: Every module of the package, from the disk: a new one must be registered in the package.
SUBMODULES = tuple(
    sorted(p.stem for p in pathlib.Path(mmlab.cramfs.__file__).parent.glob("*.py")
           if p.stem != "__init__")
)


def run_fresh(code: str) -> None:
    """Run ``code`` in a new interpreter (no module imported by other tests); it must pass."""
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr


def test_package_all_is_clean():
    names = mmlab.cramfs.__all__
    assert "annotations" not in names
    assert not [n for n in names if n.startswith("_")]
    assert len(set(names)) == len(names)
    # the eagerly imported errors first, in errors' order, then the lazy names
    assert names == [*errors.__all__, *mmlab.cramfs._LAZY]


@pytest.mark.parametrize("name", SUBMODULES)
def test_submodule_all(name):
    module = importlib.import_module(f"mmlab.cramfs.{name}")
    assert "annotations" not in module.__all__
    assert len(set(module.__all__)) == len(module.__all__)
    for public in module.__all__:
        assert hasattr(module, public), f"{name}.__all__ lists {public!r}, not defined there"


def test_errors_come_from_the_errors_module():
    for name in errors.__all__:
        assert getattr(mmlab.cramfs, name) is getattr(errors, name)
    assert not hasattr(mmlab.cramfs, "annotations")


def test_every_public_name_resolves():
    # In a fresh interpreter: in this one another test may already have imported the
    # submodule mmlab.cramfs.extract, which rebinds the package attribute ``extract``
    # (the function's name) to the submodule -- the import system does that.
    run_fresh("""
        import importlib
        import mmlab.cramfs
        for name in mmlab.cramfs.__all__:
            value = getattr(mmlab.cramfs, name)
            home = mmlab.cramfs._LAZY.get(name, "errors")
            assert value is getattr(importlib.import_module(f"mmlab.cramfs.{home}"), name), name
            assert getattr(mmlab.cramfs, name) is value, name
    """)
    for name in mmlab.cramfs.__all__:
        assert getattr(mmlab.cramfs, name) is not None


def test_dir_lists_public_names_and_submodules():
    listed = dir(mmlab.cramfs)
    assert set(mmlab.cramfs.__all__) <= set(listed)
    assert set(SUBMODULES) <= set(listed)
    assert "annotations" not in listed
    assert not [n for n in listed if n.startswith("_")]
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        _ = mmlab.cramfs.no_such_name


def test_star_import_and_lazy_loading_in_a_fresh_interpreter():
    run_fresh("""
        import sys
        import mmlab.cramfs
        assert "construct" not in sys.modules, "import mmlab.cramfs must stay cheap"
        assert "mmlab.cramfs.reader" not in sys.modules
        namespace = {}
        exec("from mmlab.cramfs import *", namespace)
        del namespace["__builtins__"]
        assert sorted(namespace) == sorted(mmlab.cramfs.__all__), sorted(namespace)
        from mmlab.cramfs import extract, reader, writer
        assert namespace["extract"] is extract and callable(extract)
        assert namespace["open_image"] is reader.open_image
        assert namespace["build_image"] is writer.build_image
        assert mmlab.cramfs.layout is sys.modules["mmlab.cramfs.layout"]
    """)


def test_cli_help_imports_no_cramfs_module():
    run_fresh("""
        import contextlib, io, sys
        from mmlab.cli import main
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(["--help"]) == 0
        loaded = [m for m in sys.modules if m.startswith("mmlab.cramfs") or m == "construct"]
        assert not loaded, loaded
    """)


def test_re_exports_share_one_definition():
    from mmlab.cramfs import check, writer

    assert writer.CramfsWarning is errors.CramfsWarning is mmlab.cramfs.CramfsWarning
    assert issubclass(errors.CramfsWarning, UserWarning)
    # fsck.cramfs exit codes (util-linux include/exitcodes.h: FSCK_EX_*)
    codes = {"EXIT_OK": 0, "EXIT_UNCORRECTED": 4, "EXIT_ERROR": 8, "EXIT_USAGE": 16}
    for name, value in codes.items():
        assert getattr(errors, name) == value
        assert getattr(check, name) is getattr(errors, name)


def test_public_tables_are_immutable():
    from mmlab import cli
    from mmlab.cramfs import layout, samples

    assert isinstance(cli.COMMAND_MODULES, tuple)
    assert isinstance(layout.FLAG_NAMES, MappingProxyType)
    assert all(isinstance(s.options, MappingProxyType) for s in samples.SAMPLES)
    assert layout.inode_codec("big") is layout.inode_codec("big")
    assert layout.structs("little") is layout.structs("little")
    with pytest.raises(ValueError, match="endian must be"):
        layout.inode_codec("middle")
    with pytest.raises(ValueError, match="endian must be"):
        layout.structs("middle")
