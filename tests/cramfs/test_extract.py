"""Safe extraction: good images round-trip; evil images are refused before any write."""

from __future__ import annotations

import os
import stat
import struct
from pathlib import Path

import pytest

from mmlab.cramfs.errors import (
    CramfsError,
    CramfsFormatError,
    CramfsIOError,
    CramfsLimitError,
    CramfsUnsafePathError,
)
from mmlab.cramfs.extract import extract  # the function: the package attribute can be the module
from mmlab.cramfs.layout import INODE_SIZE
from mmlab.cramfs.reader import open_image

from .conftest import IS_ROOT, XIP_MD5, XIP_SAMPLE, fix_crc, mkfs, needs_mkfs, tree_snapshot

pytestmark = needs_mkfs


def outside_untouched(jail: Path, target: Path) -> None:
    """Nothing but ``target`` exists in ``jail`` (the directory around the target)."""
    assert sorted(os.listdir(jail)) == [target.name] or not target.exists()
    assert set(os.listdir(jail)) <= {target.name}


@pytest.mark.parametrize("opts", [(), ("-N", "big", "-z"), ("-b", "8192", "-p")])
def test_extract_roundtrip(image_factory, src_tree, tmp_path, opts):
    out = tmp_path / "out"
    report = extract(image_factory(*opts), out)
    assert tree_snapshot(out) == tree_snapshot(src_tree)
    assert report.files > 5 and report.symlinks == 3 and report.dirs == 4
    assert stat.S_IMODE(os.stat(out / "dir" / "sub").st_mode) == 0o750


def test_extract_xip_sample(tmp_path):
    import hashlib

    extract(XIP_SAMPLE, tmp_path / "x")
    got = {p.name: (p.stat().st_size, hashlib.md5(p.read_bytes()).hexdigest())
           for p in (tmp_path / "x").iterdir()}
    assert got == XIP_MD5


def test_readonly_dirs_are_filled(tmp_path):
    src = tmp_path / "src"
    (src / "ro").mkdir(parents=True)
    (src / "ro" / "f").write_bytes(b"x")
    os.chmod(src / "ro", 0o555)
    img = mkfs(src, tmp_path / "ro.img")
    extract(img, tmp_path / "out")
    assert (tmp_path / "out" / "ro" / "f").read_bytes() == b"x"
    assert stat.S_IMODE(os.stat(tmp_path / "out" / "ro").st_mode) == 0o555


# --- evil images made by patching mkfs.cramfs output ---------------------------------------------

def _tree(tmp_path: Path, files: dict[str, bytes | str], dirs=()) -> Path:
    src = tmp_path / "evil-src"
    src.mkdir()
    for d in dirs:
        (src / d).mkdir(parents=True)
    for name, content in files.items():
        p = src / name
        if isinstance(content, str):
            p.symlink_to(content)
        else:
            p.write_bytes(content)
    return src


def _patch_name(data: bytearray, path: str, new: bytes) -> None:
    e = open_image(bytes(data)).lookup(path)
    length = e.inode.namelen * 4
    assert len(new) <= length
    data[e.inode_offset + INODE_SIZE : e.inode_offset + INODE_SIZE + length] = new.ljust(
        length, b"\0")


def _evil(tmp_path, files, dirs=(), patch=None) -> bytes:
    img = mkfs(_tree(tmp_path, files, dirs), tmp_path / "evil.img")
    data = bytearray(img.read_bytes())
    if patch:
        patch(data)
        fix_crc(data)  # a valid CRC, so the extractor gets past its CRC check to the tree
    return bytes(data)


def _refuse(tmp_path, data: bytes, exc=CramfsUnsafePathError, **options) -> CramfsError:
    jail = tmp_path / "jail"
    target = jail / "target"
    jail.mkdir()
    with pytest.raises(exc) as ei:
        extract(data, target, **options)
    outside_untouched(jail, target)
    assert not target.exists() or os.listdir(target) == []  # validated before any write
    assert ei.value.field and f"0x{ei.value.offset:x}" in str(ei.value)
    return ei.value


def test_refuses_dotdot_name(tmp_path):
    data = _evil(tmp_path, {"xx": b"pwned"}, patch=lambda d: _patch_name(d, "xx", b".."))
    _refuse(tmp_path, data)


def test_refuses_dot_name(tmp_path):
    data = _evil(tmp_path, {"x": b"pwned"}, patch=lambda d: _patch_name(d, "x", b"."))
    _refuse(tmp_path, data)


def test_refuses_slash_in_name(tmp_path):
    data = _evil(tmp_path, {"axxxetcxpasswd": b"pwned"},
                 patch=lambda d: _patch_name(d, "axxxetcxpasswd", b"a/../etc/passwd"[:14]))
    _refuse(tmp_path, data)


def test_refuses_nul_in_name(tmp_path):
    data = _evil(tmp_path, {"abcdef": b"x"}, patch=lambda d: _patch_name(d, "abcdef", b"ab\0def"))
    _refuse(tmp_path, data)


def test_refuses_duplicate_names(tmp_path):
    data = _evil(tmp_path, {"ab": b"1", "ac": b"2"}, patch=lambda d: _patch_name(d, "ac", b"ab"))
    err = _refuse(tmp_path, data)
    assert "duplicate" in str(err)


ESCAPING = ["../../etc", "/etc/passwd", "a/../../x", "..", "sub/../../../etc"]


@pytest.mark.parametrize("target", ESCAPING)
def test_refuses_escaping_symlinks(tmp_path, target):
    """links="refuse-outside" keeps the old refusal: nothing written."""
    data = _evil(tmp_path, {"link": target, "f": b"x"}, dirs=("sub",))
    err = _refuse(tmp_path, data, links="refuse-outside")
    assert err.field == "symlink target"
    assert f"symlink /link -> {target} points outside the tree" in str(err)


@pytest.mark.parametrize("target", ESCAPING)
def test_keeps_escaping_symlinks_verbatim_by_default(tmp_path, target):
    """Symlinks are data: the default creates them as they are (fsck.cramfs --extract does)."""
    data = _evil(tmp_path, {"link": target, "f": b"x"}, dirs=("sub",))
    jail = tmp_path / "jail"
    jail.mkdir()
    report = extract(data, jail / "out")
    assert os.readlink(jail / "out" / "link") == target
    assert (jail / "out" / "f").read_bytes() == b"x"
    assert report.symlinks == 1 and report.skipped == []
    assert os.listdir(jail) == ["out"]


@pytest.mark.parametrize("target", ESCAPING)
def test_skip_outside_leaves_escaping_symlinks_out(tmp_path, target):
    data = _evil(tmp_path, {"link": target, "inner": "f", "f": b"x"}, dirs=("sub",))
    out = tmp_path / "out"
    report = extract(data, out, links="skip-outside")
    assert not os.path.lexists(out / "link")
    assert os.readlink(out / "inner") == "f" and (out / "f").read_bytes() == b"x"
    assert report.symlinks == 1
    assert report.skipped == [f"/link -> {target} (symlink points outside the tree)"]


def test_refuses_symlink_chain_escape(tmp_path):
    # b -> "." makes "b/../etc" leave the tree although it looks harmless lexically
    data = _evil(tmp_path, {"b": ".", "a": "b/../etc"})
    _refuse(tmp_path, data, links="refuse-outside")


def test_symlink_loops_are_not_outside(tmp_path):
    """A loop resolves to nothing (ELOOP), so even refuse-outside creates it."""
    data = _evil(tmp_path, {"self": "self", "ping": "pong", "pong": "ping/x", "f": b"x"})
    report = extract(data, tmp_path / "out", links="refuse-outside")
    assert report.symlinks == 3 and os.readlink(tmp_path / "out" / "pong") == "ping/x"


def test_symlink_chain_escape_kept_or_skipped(tmp_path):
    data = _evil(tmp_path, {"b": ".", "a": "b/../etc"})
    extract(data, tmp_path / "keep")
    assert os.readlink(tmp_path / "keep" / "a") == "b/../etc"
    report = extract(data, tmp_path / "skip", links="skip-outside")
    assert not os.path.lexists(tmp_path / "skip" / "a")
    assert os.readlink(tmp_path / "skip" / "b") == "."
    assert len(report.skipped) == 1 and report.skipped[0].startswith("/a -> b/../etc")


def test_allows_inner_symlinks(tmp_path):
    data = _evil(tmp_path, {"f": b"x", "l1": "f", "l2": "sub/../f", "l3": "sub/deep/../../f"},
                 dirs=("sub/deep",))
    for links in ("keep", "skip-outside", "refuse-outside"):
        out = tmp_path / f"out-{links}"
        report = extract(data, out, links=links)
        assert os.readlink(out / "l2") == "sub/../f"
        assert report.symlinks == 3 and report.skipped == []


def test_refuses_directory_cycle(tmp_path):
    def patch(d: bytearray) -> None:
        im = open_image(bytes(d))
        e = im.lookup("d/e")
        w = struct.unpack_from("<I", d, e.inode_offset + 8)[0]
        # point d/e's entries back at the root's entries
        struct.pack_into("<I", d, e.inode_offset + 8, (w & 0x3F) | ((76 >> 2) << 6))
        struct.pack_into("<I", d, e.inode_offset + 4, im.root.size)

    data = _evil(tmp_path, {"d/e/f": b"x"}, dirs=("d/e",), patch=patch)
    _refuse(tmp_path, data, CramfsFormatError)


def test_refuses_absurd_counts(tmp_path):
    data = _evil(tmp_path, {f"f{i}": bytes([i]) * 10 for i in range(20)})
    jail = tmp_path / "jail"
    jail.mkdir()
    with pytest.raises(CramfsLimitError):
        extract(data, jail / "t", max_entries=10)
    with pytest.raises(CramfsLimitError):
        extract(data, jail / "t", max_total_bytes=100)
    outside_untouched(jail, jail / "t")


def test_never_follows_symlink_in_target(tmp_path):
    data = _evil(tmp_path, {"d/f": b"x"}, dirs=("d",))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    (target / "d").symlink_to(elsewhere)
    with pytest.raises(CramfsError):
        extract(data, target)
    assert os.listdir(elsewhere) == []


def test_existing_file_not_overwritten(tmp_path):
    data = _evil(tmp_path, {"f": b"new"})
    target = tmp_path / "target"
    target.mkdir()
    (target / "f").write_bytes(b"old")
    with pytest.raises(CramfsIOError):
        extract(data, target)
    assert (target / "f").read_bytes() == b"old"


@pytest.mark.skipif(not IS_ROOT, reason="owners and device nodes need root")
def test_root_restores_owners_and_devices(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.mknod(src / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(src / "fifo", 0o640)
    (src / "f").write_bytes(b"x")
    os.chown(src / "f", 1234, 56)
    img = mkfs(src, tmp_path / "dev.img")
    out = tmp_path / "out"
    report = extract(img, out)
    assert report.specials == 2
    st = os.lstat(out / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    assert stat.S_ISFIFO(os.lstat(out / "fifo").st_mode)
    assert (os.stat(out / "f").st_uid, os.stat(out / "f").st_gid) == (1234, 56)


def test_refuses_overlong_symlink_target(tmp_path):
    """Fuzz finding: a file turned into a symlink has a target longer than PATH_MAX."""
    def patch(d: bytearray) -> None:
        e = open_image(bytes(d)).lookup("big")
        w = struct.unpack_from("<I", d, e.inode_offset)[0]
        struct.pack_into("<I", d, e.inode_offset, (w & ~0xFFFF) | stat.S_IFLNK | 0o777)

    data = _evil(tmp_path, {"big": b"a" * 5000}, patch=patch)
    _refuse(tmp_path, data, CramfsLimitError)


def test_a_block_that_does_not_inflate_names_its_file(tmp_path):
    """The data error says which file, where and what, and nothing is left behind."""
    text = b"".join(b"line %05d of a log\n" % i for i in range(2000))

    def damage(data: bytearray) -> None:
        with open_image(bytes(data)) as im:
            block = im.blocks(im.lookup("d/log"))[1]
        data[block.start + 10] ^= 0xFF

    data = _evil(tmp_path, {"a": b"first", "d/log": text}, dirs=("d",), patch=damage)
    jail = tmp_path / "jail"
    jail.mkdir()
    with pytest.raises(CramfsError) as ei:
        extract(data, jail / "out")
    message = str(ei.value)
    assert message.startswith("/d/log: block at 0x") and "block 1" in message, message
    assert ei.value.path == "/d/log" and ei.value.field == "data"
    assert os.listdir(jail) == []


@pytest.mark.skipif(not IS_ROOT, reason="only root sets owners")
def test_owners_are_the_images_under_a_setgid_parent(tmp_path):
    """Under a setgid directory of another group, new files take that group: the
    extractor must still give every entry the image's owner (it skips chown only when
    the new file is already right)."""
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "f").write_bytes(b"data\n")
    (src / "g").write_bytes(b"more\n")
    os.chown(src / "g", 0, 7)
    img = mkfs(src, tmp_path / "img")
    parent = tmp_path / "shared"
    parent.mkdir()
    os.chown(parent, 0, 4242)
    os.chmod(parent, 0o2775)
    extract(img, parent / "out")
    got = {p.relative_to(parent / "out").as_posix(): (p.lstat().st_uid, p.lstat().st_gid)
           for p in (parent / "out").rglob("*")}
    assert got == {"d": (0, 0), "d/f": (0, 0), "g": (0, 7)}
    assert (os.stat(parent / "out").st_uid, os.stat(parent / "out").st_gid) == (0, 0)
