"""Exit codes of ``mmlab``: ``cramfs check`` and ``cramfs extract`` as fsck.cramfs
(util-linux include/exitcodes.h: 0, 4 errors left, 8 operational, 16 usage), the others 1/2;
``--version``, bare ``mmlab``, ``--xip`` anywhere, ``--links``; and a real process: the
console script and ``python -m mmlab.cli``, which load no more than the command needs."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

import mmlab
from mmlab import cli
from mmlab.cli import main
from mmlab.cramfs.errors import EXIT_ERROR, EXIT_OK, EXIT_UNCORRECTED, EXIT_USAGE

from .conftest import XIP_SAMPLE, fix_crc, fsck, mkfs, needs_mkfs, tree_snapshot

pytestmark = needs_mkfs


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def damaged(image: Path, tmp_path: Path, how: str) -> Path:
    """A copy of ``image`` with one kind of damage."""
    data = bytearray(image.read_bytes())
    if how == "crc":
        data[-1] ^= 1  # in the zero padding: only the CRC notices
    elif how == "truncated":
        del data[len(data) // 2 :]
    elif how == "data":  # a corrupt block, CRC fixed so that only the block is wrong
        from mmlab.cramfs.reader import open_image

        with open_image(bytes(data)) as im:
            block = im.blocks(im.lookup("text.txt"))[0]
        data[block.start + 10 : block.start + 30] = bytes(20)
        fix_crc(data)
    elif how == "flags":  # a feature bit nobody knows: cannot be checked (operational)
        struct.pack_into("<I", data, 8, 0x3 | 0x1000)
        fix_crc(data)
    elif how == "magic":
        data[0:4] = b"\0\0\0\0"
    out = tmp_path / f"{how}.img"
    out.write_bytes(data)
    return out


# --- check -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("how", "want"), [
    ("crc", EXIT_UNCORRECTED), ("truncated", EXIT_UNCORRECTED), ("data", EXIT_UNCORRECTED),
    ("flags", EXIT_ERROR), ("magic", EXIT_UNCORRECTED),
])
def test_check_exits_like_fsck(capsys, image_factory, tmp_path, how, want):
    bad = damaged(image_factory(), tmp_path, how)
    assert fsck(bad) == want
    code, out, err = run(capsys, "cramfs", "check", str(bad))
    assert code == want and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(f"mmlab cramfs check: {bad}: ")


def test_check_good_missing_and_usage(capsys, image_factory, tmp_path):
    assert run(capsys, "cramfs", "check", str(image_factory()))[0] == EXIT_OK
    code, _, err = run(capsys, "cramfs", "check", str(tmp_path / "none.img"))
    assert code == EXIT_ERROR
    assert err == f"mmlab cramfs check: cannot open {tmp_path / 'none.img'}: No such file or " \
                  "directory\n"
    for argv in ([], ["-x", "img"], ["a.img", "b.img"]):
        assert run(capsys, "cramfs", "check", *argv)[0] == EXIT_USAGE


def test_check_puts_the_root_cause_first(capsys, image_factory, tmp_path):
    img = image_factory()
    half = damaged(img, tmp_path, "truncated")
    code, _, err = run(capsys, "cramfs", "check", "-v", str(half))
    lines = err.splitlines()
    assert code == EXIT_UNCORRECTED
    size = img.stat().st_size
    assert lines[0].startswith(
        f"mmlab cramfs check: {half}: superblock at 0x4: size: image truncated: fsid.size is "
        f"0x{size:x} bytes but the file has only 0x{size // 2:x}; ")
    assert "crc error" in lines[-1] and "missing bytes read as zeros" in lines[-1]
    code, _, err = run(capsys, "cramfs", "check", str(half))
    assert err.startswith(lines[0]) and err.endswith(" more; -v lists all)\n")
    bad = damaged(img, tmp_path, "data")
    code, _, err = run(capsys, "cramfs", "check", str(bad))
    assert code == EXIT_UNCORRECTED and err.startswith(f"mmlab cramfs check: {bad}: /text.txt: ")


# --- extract -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("how", "want"), [
    ("crc", EXIT_UNCORRECTED), ("truncated", EXIT_UNCORRECTED), ("data", EXIT_UNCORRECTED),
    ("flags", EXIT_ERROR), ("magic", EXIT_UNCORRECTED),
])
def test_extract_exits_like_fsck_and_writes_nothing(capsys, image_factory, tmp_path, how, want):
    bad = damaged(image_factory(), tmp_path, how)
    out = tmp_path / "out"
    code, _, err = run(capsys, "cramfs", "extract", str(bad), str(out))
    assert code == want and len(err.splitlines()) == 1
    assert err.startswith(f"mmlab cramfs extract: {bad}: ")
    assert not out.exists()


def test_extract_ignore_crc(capsys, image_factory, src_tree, tmp_path):
    crc_only = damaged(image_factory(), tmp_path, "crc")
    code, _, err = run(capsys, "cramfs", "extract", "--ignore-crc", str(crc_only),
                       str(tmp_path / "a"))
    assert code == EXIT_OK and "CRC mismatch ignored" in err
    assert tree_snapshot(tmp_path / "a") == tree_snapshot(src_tree)
    data = damaged(image_factory(), tmp_path, "data")
    data.write_bytes(data.read_bytes()[:-1] + b"\1")  # and a bad CRC
    code, _, err = run(capsys, "cramfs", "extract", "--ignore-crc", str(data),
                       str(tmp_path / "b"))
    assert code == EXIT_UNCORRECTED and not (tmp_path / "b").exists()
    assert err.splitlines()[-1].startswith(f"mmlab cramfs extract: {data}: /text.txt: block at 0x")


def test_extract_operational_errors(capsys, image_factory, tmp_path):
    img = str(image_factory())
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    for target in ("file", "dir", "file/below"):
        code, _, err = run(capsys, "cramfs", "extract", img, str(tmp_path / target))
        assert code == EXIT_ERROR and len(err.splitlines()) == 1, target
    code, _, _ = run(capsys, "cramfs", "extract", str(tmp_path / "none.img"),
                     str(tmp_path / "o"))
    assert code == EXIT_ERROR
    for argv in ([img], [img, "a", "b"], ["--links", "x", img, "o"], ["--bogus", img, "o"]):
        assert run(capsys, "cramfs", "extract", *argv)[0] == EXIT_USAGE


@pytest.fixture(scope="module")
def escaping_img(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("esc") / "tree"
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "busybox").write_bytes(b"#!/bin/true\n")
    (root / "bin" / "sh").symlink_to("/bin/busybox")  # absolute: outside DIR once extracted
    (root / "up").symlink_to("../../etc/passwd")
    (root / "inside").symlink_to("bin/busybox")
    return mkfs(root, root.parent / "esc.img")


def test_extract_links_policies(capsys, escaping_img, tmp_path):
    code, _, err = run(capsys, "cramfs", "extract", str(escaping_img), str(tmp_path / "keep"))
    assert (code, err) == (EXIT_OK, "")
    assert os.readlink(tmp_path / "keep" / "bin" / "sh") == "/bin/busybox"
    assert os.readlink(tmp_path / "keep" / "up") == "../../etc/passwd"

    code, _, err = run(capsys, "cramfs", "extract", "--links", "skip-outside", str(escaping_img),
                       str(tmp_path / "skip"))
    assert code == EXIT_OK
    assert sorted(err.splitlines()) == [
        "mmlab cramfs extract: skipped /bin/sh -> /bin/busybox (symlink points outside the tree)",
        "mmlab cramfs extract: skipped /up -> ../../etc/passwd (symlink points outside the tree)"]
    assert not os.path.lexists(tmp_path / "skip" / "up")
    assert os.readlink(tmp_path / "skip" / "inside") == "bin/busybox"

    code, _, err = run(capsys, "cramfs", "extract", "--links=refuse-outside", str(escaping_img),
                       str(tmp_path / "refuse"))
    assert code == EXIT_UNCORRECTED and len(err.splitlines()) == 1
    assert "points outside the tree" in err and not (tmp_path / "refuse").exists()


def test_extract_lists_few_skipped_unless_verbose(capsys, tmp_path):
    root = tmp_path / "tree"
    root.mkdir()
    for i in range(cli.SKIPPED_SHOWN + 5):
        (root / f"l{i:02}").symlink_to(f"/abs/{i}")
    img = mkfs(root, tmp_path / "many.img")
    code, _, err = run(capsys, "cramfs", "extract", "--links", "skip-outside", str(img),
                       str(tmp_path / "a"))
    lines = err.splitlines()
    assert code == 0 and len(lines) == cli.SKIPPED_SHOWN + 1
    assert lines[-1] == "mmlab cramfs extract: skipped 5 more (-v lists all)"
    code, out, err = run(capsys, "cramfs", "extract", "-v", "--links", "skip-outside", str(img),
                         str(tmp_path / "b"))
    assert len(err.splitlines()) == cli.SKIPPED_SHOWN + 5
    assert out == (f"{tmp_path / 'b'}: 0 files (0 bytes), 0 directories, 0 symlinks, "
                   f"0 special files; {cli.SKIPPED_SHOWN + 5} skipped\n")


def test_link_policies_are_the_extractors():
    from mmlab.cramfs.extract import LINK_POLICIES

    assert cli.LINK_POLICIES == LINK_POLICIES


# --- mmlab itself ------------------------------------------------------------------------------

def test_version(capsys):
    assert run(capsys, "--version") == (0, f"mmlab {mmlab.__version__}\n", "")


def test_bare_mmlab_prints_the_usage(capsys):
    code, out, err = run(capsys)
    assert code == 2 and out == ""
    assert err.startswith("usage: mmlab [-h] [--version] COMMAND ...\n")
    assert "cramfs" in err and "read, check, extract and build cramfs images" in err
    code, out, err = run(capsys, "cramfs")
    assert code == 2 and out == ""
    assert err.startswith("usage: mmlab cramfs [-h] SUBCOMMAND ...\n")
    for name in ("info", "ls", "cat", "extract", "build", "check"):
        assert f"\n    {name} " in err


def test_help_exits_0(capsys):
    for argv in (["--help"], ["cramfs", "--help"], ["cramfs", "check", "--help"],
                 ["cramfs", "build", "-h"]):
        code, out, err = run(capsys, *argv)
        assert code == 0 and out.startswith("usage: ") and err == ""


# --- build --xip -------------------------------------------------------------------------------

@pytest.fixture
def xip_src(tmp_path) -> Path:
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "tool").write_bytes(bytes(range(256)) * 40)
    (src / "lib.so").write_bytes(b"x" * 9000)
    (src / "notes.txt").write_bytes(b"text " * 2000)
    return src


@pytest.mark.parametrize("where", ["first", "middle", "last", "split"])
def test_xip_may_come_anywhere(capsys, xip_src, tmp_path, where):
    pytest.importorskip("mmlab.cramfs.writer")
    img = str(tmp_path / "x.img")
    src = str(xip_src)
    argv = {"first": ["--xip", "bin/*", "--xip", "*.so", src, img],
            "middle": [src, "--xip", "bin/*", "--xip=*.so", img],
            "last": [src, img, "--xip", "bin/*", "--xip", "*.so"],
            "split": ["--xip", "bin/*", src, "-N", "little", img, "--xip", "*.so"]}[where]
    code, _, err = run(capsys, "cramfs", "build", *argv)
    assert code == 0, err
    code, out, _ = run(capsys, "cramfs", "ls", "-l", img)
    storage = {line.split()[-1]: line.split()[4] for line in out.splitlines()}
    assert storage == {"bin": "-", "lib.so": "xip", "notes.txt": "zlib"}
    code, out, _ = run(capsys, "cramfs", "ls", "-l", img, "bin")
    assert out.split()[4:] == ["xip", "tool"]


def test_several_globs_after_one_xip_are_refused(capsys, xip_src, tmp_path):
    img = tmp_path / "x.img"
    code, _, err = run(capsys, "cramfs", "build", str(xip_src), str(img), "--xip", "bin/*",
                       "*.so")
    assert code == 2 and not img.exists()
    assert err == ("mmlab cramfs build: unrecognized arguments: *.so; see 'mmlab cramfs build "
                   "--help'\n")
    code, out, _ = run(capsys, "cramfs", "build", "--help")
    assert "one GLOB per --xip, repeat it" in " ".join(out.split())


# --- a real process ----------------------------------------------------------------------------

def proc(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *argv], capture_output=True, text=True,
                          env={**os.environ, "MMLAB_DEBUG": ""})


def test_python_dash_m_exit_codes(image_factory, tmp_path):
    bad = damaged(image_factory(), tmp_path, "crc")
    r = proc("-m", "mmlab.cli", "cramfs", "check", str(bad))
    assert r.returncode == EXIT_UNCORRECTED and r.stdout == ""
    assert r.stderr.startswith(f"mmlab cramfs check: {bad}: superblock at 0x20: fsid.crc: crc")
    r = proc("-m", "mmlab.cli", "cramfs", "extract", str(bad), str(tmp_path / "o"))
    assert r.returncode == EXIT_UNCORRECTED and len(r.stderr.splitlines()) == 1
    r = proc("-m", "mmlab.cli", "cramfs", "extract", str(bad))
    assert r.returncode == EXIT_USAGE and len(r.stderr.splitlines()) == 1
    r = proc("-m", "mmlab.cli", "cramfs", "ls", str(XIP_SAMPLE))
    assert r.returncode == 0 and r.stdout.split()[0] == "a_xip4"
    r = proc("-m", "mmlab.cli")
    assert r.returncode == 2 and r.stderr.startswith("usage: mmlab")


def test_console_script_exit_codes(tmp_path):
    exe = Path(sys.executable).with_name("mmlab")
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e .)")
    r = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert (r.returncode, r.stdout) == (0, f"mmlab {mmlab.__version__}\n")
    r = subprocess.run([str(exe), "cramfs", "extract", str(XIP_SAMPLE), str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == EXIT_ERROR and "already exists" in r.stderr


def imported(*argv: str) -> set[str]:
    """Modules a fresh ``python -m mmlab.cli ARGV`` imports (from -X importtime)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "mmlab.cli", *argv],
                       capture_output=True, text=True)
    return {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines()
            if line.startswith("import time:")}


def test_start_up_stays_lazy(image_factory):
    heavy = {"construct", "tqdm", "json", "threading", "concurrent.futures"}
    for argv in (["--help"], ["--version"], ["cramfs", "--help"], ["cramfs", "build", "-h"]):
        mods = imported(*argv)
        assert "mmlab.cli" in mods
        assert not {m for m in mods if m.startswith("mmlab.cramfs")}, argv
        assert not heavy & mods, (argv, heavy & mods)
        assert "shutil" not in mods, "argparse's formatter should be sized without shutil"
    img = str(image_factory())
    mods = imported("cramfs", "ls", img)
    assert "mmlab.cramfs.reader" in mods
    assert not {"mmlab.cramfs.check", "mmlab.cramfs.extract", "mmlab.cramfs.writer",
                "mmlab.cramfs.listing", "tqdm", "json"} & mods
    mods = imported("cramfs", "check", img)
    assert "mmlab.cramfs.check" in mods
    assert not {"mmlab.cramfs.extract", "mmlab.cramfs.writer", "mmlab.cramfs.listing",
                "tqdm", "json"} & mods
