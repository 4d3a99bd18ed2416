"""Kept symlinks never redirect a write: duplicate names, links planted in the target or in
the tree being written, directories swapped for links between two steps of the extractor.

Since symlinks are extracted verbatim (``/bin/sh -> /bin/busybox``), the pre-write check of
link targets no longer protects anything; what does is that every entry is created by name
in a directory the extractor made and holds open, with ``O_NOFOLLOW`` on directory opens and
``O_CREAT | O_EXCL | O_NOFOLLOW`` on file creation.  The race tests below plant links at the
moments those flags matter; ``test_directory_swapped_for_link_after_mkdir`` fails without
``O_NOFOLLOW`` in the directory opens, ``test_file_name_planted_as_symlink`` without both
``O_EXCL`` and ``O_NOFOLLOW`` in the creation flags (``O_CREAT | O_EXCL`` alone never
follows a link in the last component), ``test_file_name_planted_as_hard_link`` without
``O_EXCL``.
"""

from __future__ import annotations

import importlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from mmlab.cramfs.errors import CramfsIOError, CramfsUnsafePathError
from mmlab.cramfs.extract import LINK_POLICIES, extract

from .conftest import IS_ROOT, needs_mkfs
from .test_extract import _evil, _patch_name

pytestmark = needs_mkfs
#: the module, not the function the package exports under the same name
extract_module = importlib.import_module("mmlab.cramfs.extract")


def temp_dirs(parent: Path, name: str) -> list[Path]:
    """The extractor's temporary directories for target ``name`` in ``parent``."""
    return [p for p in parent.iterdir() if p.name.startswith(f".{name}.mmlab-extract-")]


def only_temp(parent: Path, name: str) -> Path:
    found = temp_dirs(parent, name)
    assert len(found) == 1, found
    return found[0]


def outside_dir(tmp_path: Path) -> Path:
    d = tmp_path / "outside"
    d.mkdir()
    (d / "precious").write_bytes(b"precious")
    os.chmod(d / "precious", 0o600)
    return d


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A host directory the extraction must never write into."""
    return outside_dir(tmp_path)


@pytest.fixture
def jail(tmp_path: Path) -> Path:
    """An empty directory that holds the extraction target and nothing else."""
    d = tmp_path / "jail"
    d.mkdir()
    return d


def assert_outside_untouched(d: Path) -> None:
    assert sorted(os.listdir(d)) == ["precious"]
    assert (d / "precious").read_bytes() == b"precious"
    assert stat.S_IMODE(os.stat(d / "precious").st_mode) == 0o600


def assert_nothing_left(jail: Path) -> None:
    """A failed extraction leaves neither the target nor a temporary directory."""
    assert os.listdir(jail) == []


class OsProxy:
    """The ``os`` module with some functions replaced (patched into the extract module only)."""

    def __init__(self, **overrides: Callable) -> None:
        self._overrides = overrides

    def __getattr__(self, name: str):
        return self._overrides.get(name) or getattr(os, name)


# --- a symlink and a directory of one name --------------------------------------------------

@pytest.mark.parametrize("links", LINK_POLICIES)
@pytest.mark.parametrize("link_first", [True, False])
def test_symlink_and_directory_of_one_name_are_refused(tmp_path, links, link_first, jail):
    """``x -> /tmp/.../host`` and a directory ``x`` holding entries: refused as a duplicate.

    Were it accepted, ``x/f`` would be written through the link into the host directory.
    """
    host = tmp_path / "host"
    host.mkdir()
    link, directory = ("a", "b") if link_first else ("b", "a")
    data = _evil(tmp_path, {link: str(host), f"{directory}/f": b"payload",
                            f"{directory}/sub/g": b"deep"}, dirs=(f"{directory}/sub",),
                 patch=lambda d: _patch_name(d, "b", b"a"))
    with pytest.raises(CramfsUnsafePathError, match="duplicate name b'a'"):
        extract(data, jail / "out", links=links)
    assert os.listdir(host) == []
    assert_nothing_left(jail)


def test_symlink_and_directory_of_one_name_in_a_subdirectory(tmp_path, jail):
    host = tmp_path / "host"
    host.mkdir()
    data = _evil(tmp_path, {"d/x": str(host), "d/y/f": b"payload"}, dirs=("d/y",),
                 patch=lambda b: _patch_name(b, "d/y", b"x"))
    with pytest.raises(CramfsUnsafePathError, match="duplicate name b'x' in /d"):
        extract(data, jail / "out")
    assert os.listdir(host) == []
    assert_nothing_left(jail)


def test_absolute_link_to_host_kept_beside_directories(tmp_path):
    """The link is created verbatim; entries of other directories never go through it."""
    host = tmp_path / "host"
    host.mkdir()
    data = _evil(tmp_path, {"x": str(host), "xd/f": b"payload", "xd/sub/g": b"deep",
                            "xd/up": "../x"}, dirs=("xd/sub",))
    out = tmp_path / "out"
    report = extract(data, out)
    assert os.readlink(out / "x") == str(host)
    assert os.readlink(out / "xd" / "up") == "../x"
    assert (out / "xd" / "sub" / "g").read_bytes() == b"deep"
    assert report.symlinks == 2 and report.files == 2
    assert os.listdir(host) == []


# --- links already in place before extraction -------------------------------------------------

def test_link_already_in_target_directory(tmp_path):
    """An existing target is refused (fsck.cramfs refuses it too): the link is not used."""
    data = _evil(tmp_path, {"d/f": b"x"}, dirs=("d",))
    elsewhere = outside_dir(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    (target / "d").symlink_to(elsewhere)
    with pytest.raises(CramfsIOError, match="already exists"):
        extract(data, target)
    assert_outside_untouched(elsewhere)
    assert os.listdir(target) == ["d"] and os.readlink(target / "d") == str(elsewhere)
    assert temp_dirs(tmp_path, "target") == []


def test_target_that_is_a_symlink(tmp_path):
    data = _evil(tmp_path, {"f": b"x"})
    elsewhere = outside_dir(tmp_path)
    target = tmp_path / "target"
    target.symlink_to(elsewhere)
    with pytest.raises(CramfsIOError, match="already exists"):
        extract(data, target)
    assert_outside_untouched(elsewhere)
    assert os.readlink(target) == str(elsewhere)


def test_dangling_symlink_as_target(tmp_path):
    """A dangling link at the target's name is not followed to create its destination."""
    data = _evil(tmp_path, {"f": b"x"})
    target = tmp_path / "target"
    target.symlink_to(tmp_path / "would-be-created")
    with pytest.raises(CramfsIOError, match="already exists"):
        extract(data, target)
    assert not os.path.lexists(tmp_path / "would-be-created")


# --- links planted while the tree is being written ---------------------------------------------

def test_link_planted_between_entries(tmp_path, outside, jail):
    """After file ``a``, a link ``d -> outside`` appears where directory ``d`` goes next."""
    data = _evil(tmp_path, {"a": b"first", "d/f": b"second"}, dirs=("d",))

    def plant(nbytes: int) -> None:
        temp = only_temp(jail, "out")
        if not os.path.lexists(temp / "d"):
            (temp / "d").symlink_to(outside)

    with pytest.raises(CramfsUnsafePathError, match="/d appeared in the target"):
        extract(data, jail / "out", progress=plant)
    assert_outside_untouched(outside)
    assert_nothing_left(jail)


@pytest.mark.parametrize("workers", [1, 2])
def test_directory_swapped_for_link_after_mkdir(tmp_path, monkeypatch, workers, outside, jail):
    """Between ``mkdir d`` and opening it, ``d`` becomes a link: O_NOFOLLOW refuses it.

    Without ``O_NOFOLLOW`` in the directory opens, ``d/f`` lands in ``outside``.
    """
    data = _evil(tmp_path, {"d/f": b"payload", "d/g": b"more"}, dirs=("d",))

    def mkdir(name, mode=0o777, *, dir_fd=None):
        os.mkdir(name, mode, dir_fd=dir_fd)
        if name == "d":
            os.rmdir(name, dir_fd=dir_fd)
            os.symlink(str(outside), name, dir_fd=dir_fd)

    monkeypatch.setattr(extract_module, "os", OsProxy(mkdir=mkdir))
    with pytest.raises(CramfsUnsafePathError, match="/d was replaced in the target"):
        extract(data, jail / "out", workers=workers)
    monkeypatch.undo()
    assert_outside_untouched(outside)
    assert_nothing_left(jail)


def test_file_name_planted_as_symlink(tmp_path, outside, jail):
    """After file ``a``, ``b -> outside/precious`` appears: creating ``b`` must not follow it.

    Fails only without both O_EXCL and O_NOFOLLOW (O_CREAT|O_EXCL never follows a link).
    """
    data = _evil(tmp_path, {"a": b"first", "b": b"clobber"})

    def plant(nbytes: int) -> None:
        temp = only_temp(jail, "out")
        if not os.path.lexists(temp / "b"):
            (temp / "b").symlink_to(outside / "precious")

    with pytest.raises(CramfsUnsafePathError, match="/b"):
        extract(data, jail / "out", progress=plant)
    assert_outside_untouched(outside)
    assert_nothing_left(jail)


def test_file_name_planted_as_hard_link(tmp_path, outside, jail):
    """After file ``a``, ``b`` appears as a hard link to an outside file: O_EXCL refuses it."""
    data = _evil(tmp_path, {"a": b"first", "b": b"clobber"})

    def plant(nbytes: int) -> None:
        temp = only_temp(jail, "out")
        if not os.path.lexists(temp / "b"):
            os.link(outside / "precious", temp / "b")

    with pytest.raises(CramfsUnsafePathError, match="/b appeared in the target"):
        extract(data, jail / "out", progress=plant)
    assert_outside_untouched(outside)
    assert_nothing_left(jail)


def test_parent_swapped_for_link_while_filling_it(tmp_path, outside, jail):
    """``d`` is moved away and replaced by a link after ``d/a``: ``d/b`` still goes into the
    real directory (held by its fd), never through the link."""
    data = _evil(tmp_path, {"d/a": b"first", "d/b": b"second"}, dirs=("d",))

    def swap(nbytes: int) -> None:
        temp = only_temp(jail, "out")
        if not os.path.lexists(temp / "moved"):
            os.rename(temp / "d", temp / "moved")
            (temp / "d").symlink_to(outside)

    report = extract(data, jail / "out", progress=swap)
    assert_outside_untouched(outside)
    assert report.files == 2
    assert (jail / "out" / "moved" / "b").read_bytes() == b"second"
    assert os.listdir(jail) == ["out"]


@pytest.mark.skipif(not IS_ROOT, reason="device nodes and fifos are created only by root")
def test_special_swapped_for_link_before_chmod(tmp_path, monkeypatch, outside, jail):
    """A fifo replaced by a link between mknod and chmod: the chmod does not follow it."""
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    os.chmod(src / "fifo", 0o666)
    from .conftest import mkfs

    img = mkfs(src, tmp_path / "fifo.img")

    def mknod(name, mode=0o600, device=0, *, dir_fd=None):
        os.mknod(name, mode, device, dir_fd=dir_fd)
        os.unlink(name, dir_fd=dir_fd)
        os.symlink(str(outside / "precious"), name, dir_fd=dir_fd)

    monkeypatch.setattr(extract_module, "os", OsProxy(mknod=mknod))
    with pytest.raises(CramfsUnsafePathError, match="/fifo is a symlink in the target"):
        extract(img, jail / "out")
    monkeypatch.undo()
    assert_outside_untouched(outside)
    assert_nothing_left(jail)
