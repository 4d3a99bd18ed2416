"""A real root filesystem, extracted by mmlab and by ``fsck.cramfs --extract``: the same tree.

The image is made by the real ``mkfs.cramfs`` from a tree with everything a root filesystem
has: absolute symlinks (``bin/sh -> /bin/busybox``), relative ones through ``..``, dangling
ones, links to directories, device nodes and a fifo (as root), hard links, large files,
empty files and directories, setuid/setgid/sticky bits and owners.  The two extractions are
compared with ``diff -r --no-dereference`` and with a walk comparing types, modes, owners,
link targets, device numbers and contents; mmlab's is also compared with the source tree.
The same is done for an image of this machine's ``/etc`` and of part of Python's stdlib.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from mmlab.cramfs.extract import extract

from .conftest import FSCK, IS_ROOT, mkfs, needs_mkfs

pytestmark = needs_mkfs

FIFO = "initctl-fifo"  #: diff -r reports two fifos as different ("is a fifo while ... is a fifo")
DEVICES = {  # name: (type, major, minor, mode)
    "null": (stat.S_IFCHR, 1, 3, 0o666),
    "zero": (stat.S_IFCHR, 1, 5, 0o666),
    "console": (stat.S_IFCHR, 5, 1, 0o600),
    "tty0": (stat.S_IFCHR, 4, 0, 0o620),
    "loop0": (stat.S_IFBLK, 7, 0, 0o660),
    "sda1": (stat.S_IFBLK, 8, 1, 0o660),
}


def make_rootfs(root: Path) -> Path:
    """A small busybox-style root filesystem."""
    for d in ("bin", "sbin", "dev", "etc/init.d", "lib", "usr/bin", "usr/lib", "usr/share/big",
              "var/log", "run", "proc", "root", "home/user"):
        (root / d).mkdir(parents=True, exist_ok=True)
    busybox = b"\x7fELF" + b"busybox multi-call binary " * 2000
    (root / "bin" / "busybox").write_bytes(busybox)
    os.chmod(root / "bin" / "busybox", 0o755)
    for applet in ("sh", "ls", "mount"):
        (root / "bin" / applet).symlink_to("/bin/busybox")  # absolute: leaves the tree
    (root / "sbin" / "init").symlink_to("../bin/busybox")  # relative through ..
    (root / "usr" / "bin" / "env").symlink_to("../../bin/busybox")
    os.link(root / "bin" / "busybox", root / "usr" / "bin" / "[")  # hard links
    os.link(root / "bin" / "busybox", root / "usr" / "bin" / "test")
    (root / "lib" / "libc.so.6").write_bytes(b"\x7fELF libc " * 3000)
    (root / "lib" / "ld-linux.so.2").symlink_to("libc.so.6")
    (root / "lib64").symlink_to("lib")  # a link to a directory
    (root / "usr" / "lib" / "libc.so").symlink_to("../../lib/libc.so.6")
    (root / "var" / "run").symlink_to("../run")
    (root / "etc" / "mtab").symlink_to("/proc/self/mounts")  # absolute, dangling here
    (root / "etc" / "localtime").symlink_to("/usr/share/zoneinfo/Etc/UTC")
    (root / "etc" / "dangling").symlink_to("no/such/file")
    (root / "etc" / "loop").symlink_to("loop")  # points at itself
    (root / "etc" / "up").symlink_to("../../../../outside")
    (root / "etc" / "passwd").write_bytes(b"root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "shadow").write_bytes(b"root:*:19000:0:99999:7:::\n")
    os.chmod(root / "etc" / "shadow", 0o640)
    (root / "etc" / "init.d" / "rcS").write_bytes(b"#!/bin/sh\nmount -a\n")
    os.chmod(root / "etc" / "init.d" / "rcS", 0o755)
    (root / "etc" / "empty.conf").write_bytes(b"")
    (root / "var" / "log" / "messages").write_bytes(b"")
    rng = random.Random(2024)
    for i in range(3):  # 3 x 1 MiB: half random, half text (compressible)
        data = rng.randbytes(1 << 19) + b"".join(b"log line %07d\n" % j for j in range(34000))
        (root / "usr" / "share" / "big" / f"blob{i}").write_bytes(data[: 1 << 20])
    (root / "tmp").mkdir()
    os.chmod(root / "tmp", 0o1777)
    os.chmod(root / "root", 0o700)
    os.mkfifo(root / "dev" / FIFO, 0o600)
    suid = {"bin/su": 0o4755, "usr/bin/passwd": 0o4755, "usr/bin/wall": 0o2755,
            "usr/bin/both": 0o6750}
    for rel in suid:
        (root / rel).write_bytes(b"\x7fELF " + rel.encode() * 100)
    if IS_ROOT:
        os.chown(root / "home" / "user", 1000, 100)
        os.chown(root / "etc" / "shadow", 0, 42)
        os.lchown(root / "etc" / "dangling", 1000, 1000)
        os.chown(root / "usr" / "bin" / "wall", 0, 5)
        for name, (kind, major, minor, mode) in DEVICES.items():
            os.mknod(root / "dev" / name, kind | mode, os.makedev(major, minor))
            os.chmod(root / "dev" / name, mode)
    for rel, mode in suid.items():  # after chown, which clears setuid/setgid
        os.chmod(root / rel, mode)
    return root


def walk(root: Path, *, owners: bool = IS_ROOT) -> dict[str, tuple]:
    """relative path -> (type, mode, uid, gid, payload), never following a link or opening
    a device: payload is the link target, the sha256 of a file, (major, minor) of a device."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            payload: object = None
            if stat.S_ISLNK(st.st_mode):
                payload = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as fh:
                    payload = (st.st_size, hashlib.sha256(fh.read()).hexdigest())
            elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
                payload = (os.major(st.st_rdev), os.minor(st.st_rdev))
            ids = (st.st_uid & 0xFFFF, st.st_gid & 0xFF) if owners else ()
            out[os.path.relpath(p, root)] = (kind, stat.S_IMODE(st.st_mode), *ids, payload)
    return out


def both_extractions(img: Path, base: Path) -> tuple[Path, Path]:
    """mmlab's and fsck.cramfs's extraction of ``img`` (into new directories)."""
    mm, ref = base / "mmlab", base / "fsck"
    report = extract(img, mm)
    r = subprocess.run([FSCK, f"--extract={ref}", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if IS_ROOT:
        assert report.skipped == []
    return mm, ref


def assert_same_trees(mm: Path, ref: Path) -> None:
    r = subprocess.run(["diff", "-r", "--no-dereference", "-x", FIFO, str(mm), str(ref)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    got, want = walk(mm), walk(ref)
    if not IS_ROOT:  # mmlab creates no fifo/devices and keeps no setuid/setgid bits
        want = {k: v[:1] + (v[1] & ~0o6000,) + v[2:] for k, v in want.items()
                if not stat.S_ISFIFO(v[0])}
    assert got.keys() == want.keys()
    assert got == want


def test_rootfs_like_fsck_cramfs(tmp_path):
    src = make_rootfs(tmp_path / "src")
    img = mkfs(src, tmp_path / "rootfs.img")
    mm, ref = both_extractions(img, tmp_path)
    assert_same_trees(mm, ref)
    # ... and like the source (cramfs keeps 16-bit uids and 8-bit gids; hard links become
    # copies; the root directory's mode comes from the image)
    want = walk(src)
    if not IS_ROOT:
        want = {k: (v[0], v[1] & ~0o6000, *v[2:]) for k, v in want.items()
                if not stat.S_ISFIFO(v[0])}
    assert walk(mm) == want
    assert os.readlink(mm / "bin" / "sh") == "/bin/busybox"
    assert os.readlink(mm / "etc" / "up") == "../../../../outside"
    assert (mm / "lib64").is_symlink() and (mm / "lib64" / "libc.so.6").is_file()
    assert (mm / "usr" / "bin" / "[").read_bytes() == (src / "bin" / "busybox").read_bytes()
    assert stat.S_IMODE(os.lstat(mm / "tmp").st_mode) == 0o1777
    if IS_ROOT:
        st = os.lstat(mm / "dev" / "loop0")
        assert stat.S_ISBLK(st.st_mode) and (os.major(st.st_rdev), os.minor(st.st_rdev)) == (7, 0)
        assert stat.S_IMODE(os.lstat(mm / "usr" / "bin" / "both").st_mode) == 0o6750
        assert stat.S_ISFIFO(os.lstat(mm / "dev" / FIFO).st_mode)


@pytest.mark.parametrize("links", ["skip-outside", "refuse-outside"])
def test_rootfs_with_a_link_policy(tmp_path, links):
    from mmlab.cramfs.errors import CramfsUnsafePathError

    src = make_rootfs(tmp_path / "src")
    img = mkfs(src, tmp_path / "rootfs.img")
    if links == "refuse-outside":
        with pytest.raises(CramfsUnsafePathError, match="points outside the tree"):
            extract(img, tmp_path / "out", links=links)
        assert not (tmp_path / "out").exists()
        return
    report = extract(img, tmp_path / "out", links=links)
    skipped = sorted(s.split(" -> ")[0] for s in report.skipped if "symlink" in s)
    # etc/loop -> loop resolves nowhere (ELOOP): not outside
    assert skipped == ["/bin/ls", "/bin/mount", "/bin/sh", "/etc/localtime", "/etc/mtab",
                       "/etc/up"]
    assert os.readlink(tmp_path / "out" / "sbin" / "init") == "../bin/busybox"


def copy_some(src: Path, dest: Path, budget: int) -> Path:
    """Copy files of ``src`` (links as links) into ``dest`` until ``budget`` bytes."""
    total = 0
    for dirpath, dirs, files in os.walk(src):
        dirs[:] = sorted(d for d in dirs if d not in ("__pycache__", "site-packages",
                                                       "dist-packages", "test", "tests"))
        rel = Path(dirpath).relative_to(src)
        (dest / rel).mkdir(parents=True, exist_ok=True)
        for f in sorted(files):
            p = Path(dirpath) / f
            if total >= budget:
                return dest
            if p.is_symlink():
                (dest / rel / f).symlink_to(os.readlink(p))
            elif p.is_file():
                shutil.copy2(p, dest / rel / f)
                total += p.stat().st_size
    return dest


def test_python_stdlib_like_fsck_cramfs(tmp_path):
    stdlib = Path(os.path.dirname(os.__file__))
    src = copy_some(stdlib, tmp_path / "src", 6 << 20)
    img = mkfs(src, tmp_path / "stdlib.img")
    mm, ref = both_extractions(img, tmp_path)
    assert_same_trees(mm, ref)
    assert len(walk(mm)) > 200


@pytest.mark.skipif(not IS_ROOT, reason="/etc holds files only root can read")
def test_etc_like_fsck_cramfs(tmp_path):
    img = mkfs(Path("/etc"), tmp_path / "etc.img")
    mm, ref = both_extractions(img, tmp_path)
    assert_same_trees(mm, ref)
    assert (mm / "passwd").is_file() or (mm / "passwd").is_symlink()
