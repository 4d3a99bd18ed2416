"""All or nothing: the CRC is checked first, the tree is written into a temporary sibling and
renamed into place, and any failure part-way leaves neither the target nor the temporary
directory (removed without following links).  The target must be new, like fsck.cramfs's."""

from __future__ import annotations

import os
import random
import stat
import subprocess
from pathlib import Path

import pytest

from mmlab.cramfs.errors import (
    CramfsCRCError,
    CramfsDataError,
    CramfsError,
    CramfsIOError,
)
from mmlab.cramfs.extract import extract
from mmlab.cramfs.reader import open_image

from .conftest import FSCK, IS_ROOT, fix_crc, mkfs, needs_mkfs, tree_snapshot
from .test_extract import _evil, _patch_name
from .test_extract_links import assert_outside_untouched, only_temp, outside_dir, temp_dirs

pytestmark = needs_mkfs


def build(tmp_path: Path) -> Path:
    """a, b_ro/ (0555, holding a 0500 directory), c..e, link, z_bad: written in that order."""
    src = tmp_path / "src"
    (src / "b_ro" / "inner").mkdir(parents=True)
    (src / "a").write_bytes(b"first file\n" * 100)
    (src / "b_ro" / "f").write_bytes(b"in a read-only directory\n")
    (src / "b_ro" / "inner" / "g").write_bytes(b"deeper\n")
    for seed, name in enumerate("cde"):  # 3 x 600 kB: the inflate pool's batches are >= 1 MiB
        (src / name).write_bytes(random.Random(seed).randbytes(600_000))
    (src / "link").symlink_to("/bin/busybox")
    (src / "z_bad").write_bytes(b"".join(b"line %04d\n" % i for i in range(300)))
    os.chmod(src / "b_ro" / "inner", 0o500)
    os.chmod(src / "b_ro", 0o555)
    return mkfs(src, tmp_path / "img")


def corrupt_block(data: bytearray, path: str) -> None:
    """Overwrite the first stored block of ``path`` with bytes that do not inflate."""
    im = open_image(bytes(data))
    block = im.blocks(im.lookup(path))[0]
    data[block.start : block.end] = b"\xff" * block.stored_size


def jail_of(tmp_path: Path) -> Path:
    jail = tmp_path / "jail"
    jail.mkdir()
    return jail


# --- CRC first -----------------------------------------------------------------------------

@pytest.mark.parametrize("opts", [(), ("-p",), ("-N", "big")])
def test_crc_mismatch_refused_before_anything(image_factory, src_tree, tmp_path, opts):
    data = bytearray(image_factory(*opts).read_bytes())
    base = 512 if opts == ("-p",) else 0
    data[base + 0x20] ^= 0x01
    jail = jail_of(tmp_path)
    calls: list[int] = []
    with pytest.raises(CramfsCRCError) as ei:
        extract(bytes(data), jail / "out", progress=calls.append)
    assert "CRC" in str(ei.value) and "verify_crc=False" in str(ei.value)
    assert ei.value.field == "fsid.crc" and ei.value.offset == base + 0x20
    assert os.listdir(jail) == [] and calls == []
    extract(bytes(data), jail / "out", verify_crc=False)
    assert tree_snapshot(jail / "out") == tree_snapshot(src_tree)


def test_crc_is_checked_before_the_tree(tmp_path):
    """A bad name AND a bad CRC: the CRC verdict comes first (fsck.cramfs's test_crc)."""
    data = bytearray(_evil(tmp_path, {"xx": b"pwned"}, patch=lambda d: _patch_name(d, "xx", b"..")))
    data[0x20] ^= 0xFF
    with pytest.raises(CramfsCRCError):
        extract(bytes(data), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_corrupt_data_is_caught_by_the_crc_before_writing(tmp_path):
    data = bytearray(build(tmp_path).read_bytes())
    corrupt_block(data, "z_bad")  # CRC left stale
    jail = jail_of(tmp_path)
    calls: list[int] = []
    with pytest.raises(CramfsCRCError):
        extract(bytes(data), jail / "out", progress=calls.append)
    assert calls == [] and os.listdir(jail) == []


# --- failures part-way leave nothing ---------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("verify_crc", [True, False])
def test_data_error_part_way_leaves_nothing(tmp_path, workers, verify_crc):
    """z_bad is written last; a, b_ro/ (read-only) and c..e are already in the temporary
    tree when its block fails to inflate: all of it goes, nothing is left beside it."""
    data = bytearray(build(tmp_path).read_bytes())
    corrupt_block(data, "z_bad")
    if verify_crc:
        fix_crc(data)
    jail = jail_of(tmp_path)
    seen: list[list[str]] = []

    def progress(nbytes: int) -> None:
        seen.append(sorted(os.listdir(only_temp(jail, "out"))))

    with pytest.raises(CramfsDataError, match="block 0"):
        extract(bytes(data), jail / "out", progress=progress, verify_crc=verify_crc,
                workers=workers)
    # writing had begun: a, b_ro/ and c..e were written (with two threads as with one: a
    # damaged file's error surfaces at its own turn, not at the first file of its batch)
    assert seen[-1] == ["a", "b_ro", "c", "d", "e"]
    assert os.listdir(jail) == []


class Stop(Exception):
    pass


@pytest.mark.parametrize("exc", [Stop, KeyboardInterrupt])
def test_exception_from_progress_removes_partial_tree(tmp_path, exc):
    img = build(tmp_path)
    jail = jail_of(tmp_path)
    count = [0]

    def progress(nbytes: int) -> None:
        count[0] += 1
        if count[0] == 4:
            raise exc("stop here")

    with pytest.raises(exc, match="stop here"):
        extract(img, jail / "out", progress=progress)
    assert os.listdir(jail) == []


def test_cleanup_never_follows_planted_links(tmp_path):
    """Links planted in the partial tree are unlinked, never entered or chmod'ed through."""
    img = build(tmp_path)
    outside = outside_dir(tmp_path)
    (outside / "sub").mkdir()
    (outside / "sub" / "keep").write_bytes(b"keep")
    os.chmod(outside / "sub", 0o555)
    jail = jail_of(tmp_path)

    def progress(nbytes: int) -> None:
        temp = only_temp(jail, "out")
        if not os.path.lexists(temp / "planted_dir"):
            (temp / "planted_dir").symlink_to(outside / "sub")
            (temp / "planted_file").symlink_to(outside / "precious")
            (temp / "b_ro_link").symlink_to(outside)
        else:
            raise Stop("now clean up")

    with pytest.raises(Stop):
        extract(img, jail / "out", progress=progress)
    assert os.listdir(jail) == []
    assert sorted(os.listdir(outside)) == ["precious", "sub"]
    assert (outside / "precious").read_bytes() == b"precious"
    assert stat.S_IMODE(os.stat(outside / "precious").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(outside / "sub").st_mode) == 0o555
    assert (outside / "sub" / "keep").read_bytes() == b"keep"


def test_target_filled_meanwhile_is_not_replaced(tmp_path):
    """The target is claimed with mkdir; if someone fills it, the final rename fails
    (ENOTEMPTY), their file stays, the temporary tree goes."""
    img = build(tmp_path)
    jail = jail_of(tmp_path)

    def progress(nbytes: int) -> None:
        if not (jail / "out" / "theirs").exists():
            (jail / "out" / "theirs").write_bytes(b"not yours")

    with pytest.raises(CramfsIOError, match="cannot move the extracted tree to") as ei:
        extract(img, jail / "out", progress=progress)
    assert os.listdir(jail) == ["out"] and os.listdir(jail / "out") == ["theirs"]
    assert any("could not remove" in note for note in getattr(ei.value, "__notes__", []))


def test_target_replaced_by_link_meanwhile(tmp_path):
    img = build(tmp_path)
    outside = outside_dir(tmp_path)
    jail = jail_of(tmp_path)

    def progress(nbytes: int) -> None:
        if not (jail / "out").is_symlink():
            os.rmdir(jail / "out")
            (jail / "out").symlink_to(outside)

    with pytest.raises(CramfsIOError, match="cannot move the extracted tree"):
        extract(img, jail / "out", progress=progress)
    assert_outside_untouched(outside)
    assert os.listdir(jail) == ["out"] and temp_dirs(jail, "out") == []


# --- the target ----------------------------------------------------------------------------

def test_existing_empty_directory_is_refused_like_fsck(tmp_path):
    img = build(tmp_path)
    target = tmp_path / "target"
    target.mkdir()
    with pytest.raises(CramfsIOError, match="target.*already exists|already exists"):
        extract(img, target)
    assert os.listdir(target) == []
    r = subprocess.run([FSCK, f"--extract={target}", str(img)], capture_output=True, text=True)
    assert r.returncode == 8 and "File exists" in r.stderr
    assert os.listdir(target) == []


def test_missing_parents_are_created(tmp_path):
    img = build(tmp_path)
    report = extract(img, tmp_path / "a" / "b" / "out")
    assert report.files == 7 and (tmp_path / "a" / "b" / "out" / "a").is_file()
    assert os.listdir(tmp_path / "a" / "b") == ["out"]


def test_trailing_slash(tmp_path):
    img = build(tmp_path)
    extract(img, f"{tmp_path}/out/")
    assert (tmp_path / "out" / "c").read_bytes() == random.Random(0).randbytes(600_000)


@pytest.mark.parametrize("target", ["", ".", "..", "/", "x/.."])
def test_target_must_name_a_new_directory(tmp_path, monkeypatch, target):
    img = build(tmp_path)
    monkeypatch.chdir(tmp_path)
    before = sorted(os.listdir(tmp_path))
    with pytest.raises(CramfsIOError):
        extract(img, target)
    assert sorted(os.listdir(tmp_path)) == before


def test_root_directory_takes_the_image_root_mode(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x")
    os.chmod(src, 0o751)
    img = mkfs(src, tmp_path / "img")
    extract(img, tmp_path / "mm")
    subprocess.run([FSCK, f"--extract={tmp_path / 'fsck'}", str(img)], check=True)
    assert stat.S_IMODE(os.stat(tmp_path / "mm").st_mode) == 0o751
    assert stat.S_IMODE(os.stat(tmp_path / "fsck").st_mode) == 0o751


def test_success_leaves_only_the_target(tmp_path, image_factory, src_tree):
    jail = jail_of(tmp_path)
    extract(image_factory(), jail / "out")
    assert os.listdir(jail) == ["out"]
    assert tree_snapshot(jail / "out") == tree_snapshot(src_tree)


# --- arguments -----------------------------------------------------------------------------

@pytest.mark.parametrize("options", [{"links": "bogus"}, {"links": "KEEP"}, {"workers": 0},
                                     {"workers": -1}, {"workers": True}, {"workers": 1.5},
                                     {"workers": "2"}])
def test_bad_arguments(tmp_path, options):
    img = build(tmp_path)
    with pytest.raises(CramfsError) as ei:
        extract(img, tmp_path / "out", **options)
    assert ei.value.field == next(iter(options))
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(IS_ROOT, reason="root may write anywhere")
def test_unwritable_parent_is_an_io_error(tmp_path):
    img = build(tmp_path)
    parent = tmp_path / "ro"
    parent.mkdir()
    os.chmod(parent, 0o555)
    with pytest.raises(CramfsIOError, match="Permission denied"):
        extract(img, parent / "out")


def test_times_are_the_epoch(tmp_path):
    """cramfs stores no times; the kernel shows 0 for every inode, fsck.cramfs sets 0 too."""
    img = build(tmp_path)
    out = tmp_path / "out"
    extract(img, out)
    for p in (out, out / "a", out / "b_ro", out / "b_ro" / "inner" / "g", out / "link"):
        st = os.lstat(p)
        assert (st.st_mtime_ns, st.st_atime_ns) == (0, 0), p
