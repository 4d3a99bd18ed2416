"""The cramfs benchmark's machinery (``make bench`` itself is never run by the tests).

* a child's peak RSS is the child's, not this process's (subprocess starts children
  with vfork, and ``ru_maxrss`` from ``os.wait4`` would carry our RSS across exec);
* a failing command raises; the races warm up, keep the best time and take RSS once;
* the tree holds what the headline table promises: big files, doubles, hard links,
  symlinks of every kind, devices as root, and mkfs.cramfs and mmlab agree on it.
"""

from __future__ import annotations

import os
import random
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


def test_pairs_give_medians_and_the_median_of_their_ratios():
    mine, theirs = B.Run(), B.Run()
    for a, b in ((1.0, 2.0), (9.0, 10.0), (2.0, 8.0), (3.0, 4.0), (0.5, 1.0)):
        mine.add(a, None)
        theirs.add(b, None)
    mine.add(None, 5 * MIB)  # the RSS run adds no time
    assert mine.walls == [1.0, 9.0, 2.0, 3.0, 0.5] and mine.wall == 0.5
    assert mine.median == 2.0 and theirs.median == 4.0 and mine.maxrss == 5 * MIB
    assert B.pair_ratio(mine, theirs) == 0.5  # of 0.5, 0.9, 0.25, 0.75, 0.5
    assert B.pair_ratio(B.Run(), B.Run()) is None and B.Run().median == float("inf")


def _fake_lib_dir(lib: Path) -> None:
    lib.mkdir(parents=True)
    for i in range(40):
        (lib / f"libsmall{i:02d}.so.1.0").write_bytes(random.Random(i).randbytes(1000 + 300 * i))
        os.symlink(f"libsmall{i:02d}.so.1.0", lib / f"libsmall{i:02d}.so.1")
    (lib / "libbig.so.1").write_bytes(b"B" * (B.LIBRARY_FILE_MAX + 1))
    os.symlink("libbig.so.1", lib / "libbig.so")  # its target is not taken: nor is the link
    (lib / "gconv").mkdir()
    (lib / "gconv" / "UTF-16.so").write_bytes(b"gconv" * 100)
    os.symlink("/abs/libx.so", lib / "libabs.so")


@needs_mkfs
def test_library_tree_is_small_files_in_path_order(tmp_path):
    src = tmp_path / "usrlib"
    _fake_lib_dir(src)
    mkfs = B._tool("mkfs.cramfs")
    tree = B.make_library_tree(tmp_path, mkfs, src, image_bytes=40_000)
    root = tree.root
    names = sorted(p.name for p in root.iterdir())
    assert "libbig.so.1" not in names and "libbig.so" not in names and "libabs.so" not in names
    copied = sorted(p.name for p in root.iterdir() if p.is_file() and not p.is_symlink())
    assert copied == [f"libsmall{i:02d}.so.1.0" for i in range(len(copied))]  # a prefix
    assert 5 < len(copied) < 40
    assert all(os.readlink(root / f"libsmall{i:02d}.so.1") == f"libsmall{i:02d}.so.1.0"
               for i in range(len(copied)))
    assert tree.name == "library" and tree.files == len(copied) and tree.symlinks == len(copied)
    assert tree.input_bytes == sum((root / n).stat().st_size for n in copied)

    from mmlab.cramfs.writer import write_image

    B.run_command([mkfs, str(root), str(tmp_path / "ref.img")])
    write_image(root, tmp_path / "mine.img")
    assert (tmp_path / "mine.img").read_bytes() == (tmp_path / "ref.img").read_bytes()


@needs_mkfs
def test_rootfs_is_a_busybox_system(tmp_path):
    """A stand-in busybox (a script printing an applet list), libraries, zoneinfo: the tree
    has the applets as symlinks (init a hard link), the libraries with soname links, /etc,
    fifos, devices as root; mkfs.cramfs and mmlab agree on it."""
    fake = tmp_path / "busybox"
    fake.write_text("#!/bin/sh\nprintf 'bin/busybox\\nbin/ls\\nbin/sh\\nsbin/init\\n"
                    "usr/bin/awk\\nlinuxrc\\n../escape\\n'\n")
    fake.chmod(0o755)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "libc.so.6").write_bytes(b"libc" * 5000)
    (lib / "libz.so.1.2.13").write_bytes(b"libz" * 3000)
    os.symlink("libz.so.1.2.13", lib / "libz.so.1")
    (lib / "gconv").mkdir()
    (lib / "gconv" / "ISO8859-1.so").write_bytes(b"gconv" * 99)
    share = tmp_path / "share"
    (share / "zoneinfo" / "Europe").mkdir(parents=True)
    (share / "zoneinfo" / "Europe" / "Paris").write_bytes(b"TZif2" * 300)
    os.symlink("Europe/Paris", share / "zoneinfo" / "CET")
    (tmp_path / "w").mkdir()
    tree = B.make_rootfs(tmp_path / "w", str(fake), lib_dirs=[lib], share=share)
    root = tree.root
    assert (root / "bin/busybox").read_bytes() == fake.read_bytes()
    assert os.readlink(root / "bin/ls") == "busybox"
    assert os.readlink(root / "usr/bin/awk") == "../../bin/busybox"
    assert os.readlink(root / "linuxrc") == "bin/busybox"
    assert os.path.samefile(root / "sbin/init", root / "bin/busybox")
    assert not os.path.lexists(tmp_path / "w" / "escape")
    assert (root / "lib/libc.so.6").read_bytes() == b"libc" * 5000
    assert os.readlink(root / "usr/lib/libz.so.1") == "libz.so.1.2.13"
    assert (root / "usr/lib/gconv/ISO8859-1.so").exists()
    assert os.readlink(root / "usr/share/zoneinfo/CET") == "Europe/Paris"
    assert stat.S_IMODE((root / "etc/shadow").stat().st_mode) == 0o600
    assert os.readlink(root / "etc/mtab") == "/proc/self/mounts"
    assert stat.S_ISFIFO((root / "dev/initctl").lstat().st_mode)
    assert stat.S_ISCHR((root / "dev/console").lstat().st_mode) if os.geteuid() == 0 \
        else not os.path.lexists(root / "dev/console")
    assert tree.name == "rootfs" and tree.hard_links == 1
    assert tree.symlinks == 4 + 1 + 1 + len(B.ROOTFS_SYMLINKS)  # applets, libz, CET, /etc
    assert tree.devices == 2 + (len(B.ROOTFS_DEVICES) if os.geteuid() == 0 else 0)

    from mmlab.cramfs.writer import write_image

    mkfs = B._tool("mkfs.cramfs")
    B.run_command([mkfs, str(root), str(tmp_path / "ref.img")])
    write_image(root, tmp_path / "mine.img")
    assert (tmp_path / "mine.img").read_bytes() == (tmp_path / "ref.img").read_bytes()


def test_settle_waits_for_idle_cpus_then_gives_up():
    readings = iter([0.6, 0.5, 0.05, 0.9])
    settle = B.Settle(patience=5.0, busy=lambda: next(readings))
    assert settle() is True  # busy, busy, idle
    assert 0 < settle.patience < 5.0
    hopeless = B.Settle(patience=0.5, busy=lambda: 0.9)
    assert hopeless() is False and hopeless.patience <= 0
    assert hopeless() is False  # no more waiting in this race


def test_race_counts_the_pairs_run_on_a_busy_machine():
    verdicts = iter([True, False, True])
    runs = B.race({"a": lambda i: [sys.executable, "-c", "pass"],
                   "b": lambda i: [sys.executable, "-c", "pass"]}, repeat=3,
                  settle=lambda: next(verdicts))
    assert runs["a"].busy == runs["b"].busy == 1 and len(runs["a"].walls) == 3


def test_cpu_busy_is_a_share():
    assert 0.0 <= B.cpu_busy(0.05) <= 1.0
