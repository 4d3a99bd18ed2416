"""Shared helpers for the cramfs tests: source trees, mkfs.cramfs/fsck.cramfs runners,
snapshots of a directory tree and of an image to compare them."""

from __future__ import annotations

import os
import shutil
import stat
import struct
import subprocess
import zlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data"
XIP_SAMPLE = DATA / "xip-sample.cramfs"
XIP_LOG = DATA / "xip-sample.mkcramfs-vvv.log"
SBIN = "/usr/sbin"
MKFS = shutil.which("mkfs.cramfs", path=f"{SBIN}:{os.environ.get('PATH', '')}")
FSCK = shutil.which("fsck.cramfs", path=f"{SBIN}:{os.environ.get('PATH', '')}")
IS_ROOT = os.geteuid() == 0

needs_mkfs = pytest.mark.skipif(MKFS is None or FSCK is None,
                                reason="mkfs.cramfs/fsck.cramfs (util-linux) not installed")

XIP_MD5 = {
    "a_xip4": (16384, "f760b2b6b9b64066e5fb29e5a65f62ab"),
    "b_xip16": (65536, "c96ca077db51c8b5837364cd71bf454f"),
    "c_xiptail": (12388, "464385e5c74a02f2d2d8383662977768"),
    "d_partial": (16384, "0ca6d584162279adcbf87519f35ef584"),
    "e_midxip": (16384, "2fcdc9ab86c784dcc0a90d8de18b4169"),
    "f_comp.txt": (12305, "6b069d23fd563a1bfdb7845314f6b7dd"),
    "g_rand.bin": (8192, "ac0cac9d6b524a5e640f9337b6796a27"),
    "z_tail_last": (4106, "6b97e6f93bb831b479e32f23071fb902"),
}


def make_tree(root: Path, *, big: bool = True) -> Path:
    """A source tree exercising the format: nesting, empty/identical files, symlinks,
    long names, odd modes, owners (when root), sparse-ish data for holes."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "empty").write_bytes(b"")
    (root / "hello.txt").write_bytes(b"hello, cramfs\n")
    (root / "same1").write_bytes(b"identical contents\n" * 50)
    (root / "same2").write_bytes(b"identical contents\n" * 50)
    d = root / "dir" / "sub" / "deeper"
    d.mkdir(parents=True)
    (root / "emptydir").mkdir()
    (d / "leaf").write_bytes(bytes(range(256)) * 3)
    (root / ("L" * 200)).write_bytes(b"long name\n")
    (root / "dir" / ("m" * 252)).write_bytes(b"max name\n")
    (root / "link").symlink_to("hello.txt")
    (root / "dir" / "uplink").symlink_to("../hello.txt")
    (root / "dir" / "dangling").symlink_to("does/not/exist")
    (root / "exec.sh").write_bytes(b"#!/bin/sh\necho hi\n")
    os.chmod(root / "exec.sh", 0o755)
    os.chmod(root / "hello.txt", 0o600)
    os.chmod(root / "dir" / "sub", 0o750)
    if big:
        rnd = bytes((i * 2654435761 >> 13) & 0xFF for i in range(20000))
        (root / "random.bin").write_bytes(rnd)
        text = b"".join(b"line %06d of some text\n" % i for i in range(3000))
        (root / "text.txt").write_bytes(text)
        (root / "holes.bin").write_bytes(b"A" * 100 + bytes(3 * 65536) + b"B" * 5000)
        (root / "zeros.bin").write_bytes(bytes(70000))
    if IS_ROOT:
        os.chown(root / "hello.txt", 1234, 300)  # gid is truncated to 8 bits (300 -> 44)
        os.chown(root / "exec.sh", 70000, 5)  # uid is truncated to 16 bits
        os.lchown(root / "link", 42, 43)
    return root


def mkfs(src: Path, out: Path, *opts: str) -> Path:
    """Run mkfs.cramfs OPTS SRC OUT."""
    r = subprocess.run([MKFS, *opts, str(src), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def fsck(img: Path, *opts: str) -> int:
    """Exit status of ``fsck.cramfs --extract OPTS IMG`` (inflates everything, writes nothing)."""
    return subprocess.run([FSCK, "--extract", *opts, str(img)], capture_output=True).returncode


def tree_snapshot(root: Path, *, owners: bool = IS_ROOT) -> dict:
    """relative path -> (kind, perm, size, uid, gid, payload) of a real directory tree,
    with the truncations cramfs applies (uid 16 bits, gid 8 bits)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in sorted(dirs + files):
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                payload = os.readlink(p).encode()
                kind = "l"
            elif stat.S_ISDIR(st.st_mode):
                payload, kind = None, "d"
            else:
                payload, kind = p.read_bytes(), "f"
            ids = (st.st_uid & 0xFFFF, st.st_gid & 0xFF) if owners else (None, None)
            size = len(payload) if payload is not None else None
            out[rel] = (kind, stat.S_IMODE(st.st_mode), size, *ids, payload)
    return out


def image_snapshot(image, *, owners: bool = IS_ROOT) -> dict:
    """The same view of an opened CramfsImage."""
    out = {}
    for e in image.walk():
        if e.is_symlink():
            kind, payload = "l", image.read_file(e)
        elif e.is_dir():
            kind, payload = "d", None
        else:
            kind, payload = "f", image.read_file(e)
        ids = (e.uid, e.gid) if owners else (None, None)
        size = len(payload) if payload is not None else None
        if payload is not None:
            assert e.size == len(payload)
        out[e.path] = (kind, stat.S_IMODE(e.mode), size, *ids, payload)
    return out


def fix_crc(buf: bytearray, endian: str = "little", base: int = 0) -> bytearray:
    """Recompute fsid.crc the way mkfs.cramfs does (over fsid.size bytes, field zeroed)."""
    fmt = "<I" if endian == "little" else ">I"
    size = struct.unpack_from(fmt, buf, base + 4)[0]
    buf[base + 0x20 : base + 0x24] = b"\0\0\0\0"
    struct.pack_into(fmt, buf, base + 0x20, zlib.crc32(bytes(buf[base:size])))
    return buf


@pytest.fixture(scope="session")
def src_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("src") / "tree")


@pytest.fixture(scope="session")
def small_tree(tmp_path_factory) -> Path:
    return make_tree(tmp_path_factory.mktemp("small") / "tree", big=False)


@pytest.fixture(scope="session")
def image_factory(tmp_path_factory, src_tree):
    """mkfs.cramfs images of ``src_tree`` keyed by options, made once per session."""
    cache: dict[tuple[str, ...], Path] = {}
    outdir = tmp_path_factory.mktemp("images")

    def make(*opts: str) -> Path:
        if opts not in cache:
            name = "img" + "".join(o.replace("-", "_").replace("/", "_") for o in opts)
            cache[opts] = mkfs(src_tree, outdir / f"{name}.cramfs", *opts)
        return cache[opts]

    return make
