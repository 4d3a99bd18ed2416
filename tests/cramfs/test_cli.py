"""The ``mmlab cramfs`` command line: output, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mmlab.cli import main

from .conftest import XIP_SAMPLE, fix_crc, needs_mkfs, tree_snapshot

pytestmark = needs_mkfs


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err


def test_info(capsys, image_factory):
    code, out, err = run(capsys, "cramfs", "info", "--json", str(image_factory("-N", "big")))
    assert code == 0 and err == ""
    info = json.loads(out)
    assert info["endian"] == "big" and info["crc_ok"] is True and info["blocksize"] == 4096
    code, out, _ = run(capsys, "cramfs", "info", str(XIP_SAMPLE))
    assert code == 0 and "EXT_BLOCK_POINTERS" in out and "name: xip-sample" in out


def test_ls(capsys, image_factory):
    img = str(image_factory())
    code, out, _ = run(capsys, "cramfs", "ls", img)
    assert code == 0 and "hello.txt" in out.split() and "dir" in out.split()
    code, out, _ = run(capsys, "cramfs", "ls", "-l", img, "dir")
    assert code == 0 and "uplink -> ../hello.txt" in out and out.startswith(("l", "d", "-"))
    code, out, _ = run(capsys, "cramfs", "ls", "-R", img)
    assert "dir/sub/deeper/leaf" in out.splitlines()


def test_cat(capsysbinary, image_factory):
    code = main(["cramfs", "cat", str(image_factory("-z")), "link"])
    out, _ = capsysbinary.readouterr()
    assert code == 0 and out == b"hello, cramfs\n"


def test_extract_and_build_roundtrip(capsys, tmp_path, src_tree):
    pytest.importorskip("mmlab.cramfs.writer")
    img = tmp_path / "built.img"
    code, _, err = run(capsys, "cramfs", "build", "-N", "big", "-n", "cli", str(src_tree),
                       str(img))
    assert code == 0, err
    code, _, _ = run(capsys, "cramfs", "check", str(img))
    assert code == 0
    code, _, err = run(capsys, "cramfs", "extract", str(img), str(tmp_path / "out"))
    assert code == 0, err
    assert tree_snapshot(tmp_path / "out") == tree_snapshot(src_tree)


def test_check_exit_codes(capsys, tmp_path, image_factory):
    good = image_factory()
    code, out, err = run(capsys, "cramfs", "check", "-v", str(good))
    assert code == 0 and "OK" in out
    bad = tmp_path / "bad.img"
    bad.write_bytes(bytes(fix_crc(bytearray(good.read_bytes())))[:-1] + b"\1")
    code, _, err = run(capsys, "cramfs", "check", str(bad))
    assert code == 4 and "crc error" in err
    one_line_error(err)
    code, _, err = run(capsys, "cramfs", "check", str(tmp_path / "missing.img"))
    assert code == 8
    one_line_error(err)
    code, _, err = run(capsys, "cramfs", "check")
    assert code == 16
    one_line_error(err)


@pytest.mark.parametrize(("cmd", "want"), [(["info"], 1), (["ls"], 1), (["cat", "x"], 1),
                                           (["extract", "/nonexistent/d"], 4), (["check"], 4)])
def test_bad_input_one_line(capsys, tmp_path, cmd, want):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"this is not a cramfs image" * 10)
    argv = ["cramfs", cmd[0], str(junk), *cmd[1:]]
    code, _, err = run(capsys, *argv)
    assert code == want  # check and extract exit like fsck.cramfs: 4, errors left
    one_line_error(err)
    assert err.startswith(f"mmlab cramfs {cmd[0]}: {junk}: ") and "magic" in err


def test_usage_errors(capsys):
    code, _, err = run(capsys)
    assert code == 2 and err.startswith("usage: mmlab ")
    code, _, err = run(capsys, "cramfs", "frobnicate")
    assert code == 2 and "Traceback" not in err
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "cramfs" in out


def test_installed_script(tmp_path):
    exe = Path(sys.executable).with_name("mmlab")
    if not exe.exists():
        pytest.skip("console script not installed (pip install -e .)")
    r = subprocess.run([str(exe), "cramfs", "ls", str(XIP_SAMPLE)], capture_output=True,
                       text=True)
    assert r.returncode == 0 and r.stdout.split()[0] == "a_xip4"
    r = subprocess.run([str(exe), "cramfs", "check", str(tmp_path / "none.img")],
                       capture_output=True, text=True)
    assert r.returncode == 8 and len(r.stderr.splitlines()) == 1


def test_progress_bars_on_a_terminal(capsys, monkeypatch, tmp_path, image_factory, src_tree):
    """With stderr a terminal, extract/check/build show tqdm bars and still succeed."""
    import mmlab.cli as cli

    monkeypatch.setattr(cli, "PROGRESS_MIN_BYTES", 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    img = str(image_factory())
    code, _, err = run(capsys, "cramfs", "extract", img, str(tmp_path / "out"))
    assert code == 0, err
    code, _, err = run(capsys, "cramfs", "check", img)
    assert code == 0, err
    pytest.importorskip("mmlab.cramfs.writer")
    code, _, err = run(capsys, "cramfs", "build", str(src_tree), str(tmp_path / "b.img"))
    assert code == 0, err


def test_build_xip(capsys, tmp_path):
    pytest.importorskip("mmlab.cramfs.writer")
    src = tmp_path / "src"
    (src / "bin").mkdir(parents=True)
    (src / "bin" / "tool").write_bytes(bytes(range(256)) * 40)
    (src / "lib.so").write_bytes(b"x" * 9000)
    (src / "notes.txt").write_bytes(b"text " * 2000)
    img = tmp_path / "xip.img"
    code, _, err = run(capsys, "cramfs", "build", "--xip", "bin/*", str(src), str(img),
                       "--xip", "*.so")
    assert code == 0, err
    code, out, _ = run(capsys, "cramfs", "info", "--json", str(img))
    assert "EXT_BLOCK_POINTERS" in json.loads(out)["flag_names"]
    from mmlab.cramfs import open_image
    from mmlab.cramfs.reader import BlockKind

    with open_image(img) as im:
        kinds = {e.path: {b.kind for b in im.blocks(e)} for e in im.walk() if e.is_file()}
        assert kinds["bin/tool"] == {BlockKind.DIRECT} and kinds["lib.so"] == {BlockKind.DIRECT}
        assert BlockKind.DIRECT not in kinds["notes.txt"]
        assert im.read_file(im.lookup("bin/tool")) == bytes(range(256)) * 40
    code, _, err = run(capsys, "cramfs", "check", str(img))
    assert code == 0, err
