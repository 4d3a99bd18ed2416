"""The cramfs benchmark's machinery (``make bench`` itself is never run by the tests).

* a child's peak RSS is the child's, not this process's (subprocess starts children
  with vfork, and ``ru_maxrss`` from ``os.wait4`` would carry our RSS across exec);
* a failing command raises; the races warm up, keep the best time and take RSS once;
* the tree holds what the headline table promises: big files, doubles, hard links,
  symlinks of every kind, devices as root, and mkfs.cramfs and mmlab agree on it.
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from mmlab.bench import cramfs_bench as B

MIB = 1 << 20
needs_time = pytest.mark.skipif(B.TIME is None, reason="/usr/bin/time (package time) missing")
needs_mkfs = pytest.mark.skipif(B._tool("mkfs.cramfs") is None, reason="mkfs.cramfs missing")


@needs_time
def test_child_rss_is_the_childs_own():
    ballast = bytearray(200 * MIB)  # touched: this process is now > 200 MiB resident
    for i in range(0, len(ballast), 4096):
        ballast[i] = 1
    wall, rss = B.run_command([sys.executable, "-c", "pass"], rss=True)
    assert wall is None and rss is not None
    assert 1 * MIB < rss < 64 * MIB
    _wall, big = B.run_command([sys.executable, "-c", "b = bytearray(100 << 20); b[::4096] = "
                                "b'x' * len(b[::4096])"], rss=True)
    assert big > rss + 90 * MIB
    del ballast


def test_failure_raises_with_what_the_command_said():
    with pytest.raises(RuntimeError, match="exited 3: oops"):
        B.run_command([sys.executable, "-c", "import sys; sys.stderr.write('oops'); "
                       "sys.exit(3)"])


def test_race_warms_up_and_keeps_the_best(tmp_path):
    calls = []

    def argv(i):
        calls.append(i)
        return [sys.executable, "-c", "pass"]

    runs = B.race({"a": argv, "b": argv}, repeat=2)
    assert calls == [0, 0, 1, 1, 2, 2, 3, 3]  # warm-up, 2 timed, 1 for RSS; interleaved
    assert 0 < runs["a"].wall < 10
    assert (runs["a"].maxrss is None) == (B.TIME is None)


def test_child_env_caches_bytecode(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    env = B.child_env(tmp_path / "pyc")
    assert "PYTHONDONTWRITEBYTECODE" not in env and env["PYTHONPYCACHEPREFIX"].endswith("pyc")
    assert B.child_env(tmp_path / "none", cached=False)["PYTHONDONTWRITEBYTECODE"] == "1"


@needs_mkfs
def test_tree_holds_what_real_images_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(B, "STDLIB_IMAGE", 1 * MIB)
    tree = B.make_tree(tmp_path, B._tool("mkfs.cramfs"))
    root = tree.root
    kinds = {"big": 0, "hard": 0, "link_abs": 0, "link_rel": 0, "dangling": 0, "dev": 0}
    for dirpath, _dirs, names in os.walk(root):
        for name in names:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISLNK(st.st_mode):
                target = os.readlink(p)
                kinds["link_abs" if target.startswith("/") else "link_rel"] += 1
                kinds["dangling"] += not p.exists()
            elif stat.S_ISREG(st.st_mode):
                kinds["big"] += st.st_size >= 3 * MIB
                kinds["hard"] += st.st_nlink > 1
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                kinds["dev"] += 1
    assert kinds["big"] >= 4 and kinds["hard"] >= 4
    assert kinds["link_abs"] >= 3 and kinds["link_rel"] >= 3 and kinds["dangling"] >= 2
    assert (kinds["dev"] > 0) == (os.geteuid() == 0) == (tree.devices > 0)
    assert (root / "big/random.bin").read_bytes() == (root / "big/random-copy.bin").read_bytes()

    from mmlab.cramfs.writer import write_image

    ref = tmp_path / "ref.img"
    B.run_command([B._tool("mkfs.cramfs"), str(root), str(ref)])
    write_image(root, tmp_path / "mine.img")
    assert (tmp_path / "mine.img").read_bytes() == ref.read_bytes()
