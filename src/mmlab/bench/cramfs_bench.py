"""cramfs speed and memory: the ``mmlab cramfs`` commands vs util-linux, as whole processes.

Three source trees, each made here from what this machine has (what ``make bench``
installs), each turned into an image by ``mkfs.cramfs``:

* ``big files`` (:func:`make_tree`): a copy of Python's standard library (many small
  files), a few large files (random, text, mixed; several MiB each), duplicates (hard
  links and plain copies), symlinks (absolute, relative, dangling, to a directory)
  and, as root, device nodes and a fifo;
* ``library`` (:func:`make_library_tree`): a distribution's library tree, the
  regular files of at most 256 KiB of ``/usr/lib/<multiarch>`` in path order (a few
  hundred ELF libraries and modules) and the symlinks among them, until
  ``mkfs.cramfs`` makes about :data:`LIBRARY_IMAGE` bytes;
* ``rootfs`` (:func:`make_rootfs`): a busybox root file system as a board boots it:
  Debian's static ``busybox`` with a symlink per applet (``init`` a hard link), glibc
  and the usual shared libraries with their soname links, glibc's ``gconv`` modules,
  ``zoneinfo`` and ``terminfo``, small ``/etc`` files written here, fifos and, as root,
  device nodes.

For every tree the whole commands run as child processes (``subprocess``, wall time
from spawn to exit) in pairs, mmlab then util-linux, :data:`REPEAT` pairs after one
warm-up pair, each pair started once other jobs leave the CPUs idle (:class:`Settle`:
mmlab uses two threads, util-linux one, so a job busy on one CPU would slow the two
sides unlike); a table row gives the median time of each side, the median of the pairs'
ratios and how many pairs still ran while the machine was busy.  One more run
of each under GNU ``/usr/bin/time -f %M`` gives its peak RSS (see :func:`run_command`).
The children cache bytecode in a private directory (:func:`child_env`), as an
installed mmlab would, even if ``PYTHONDONTWRITEBYTECODE`` is set here:

* ``mmlab cramfs check IMG`` vs ``fsck.cramfs --extract IMG`` (goal <= 0.7x; without a
  DIR fsck inflates every block and writes nothing, as ``check`` does);
* ``mmlab cramfs extract IMG DIR`` vs ``fsck.cramfs --extract=DIR IMG`` (a fresh DIR
  on the same file system for every run, removed and ``sync``-ed after it, so that no
  run pays for another's writeback); again into /dev/shm if it is a tmpfs: on disk much
  of the time is the file system's (and varies with its state), in RAM it is the
  tools' own;
* ``mmlab cramfs build SRC IMG`` vs ``mkfs.cramfs SRC IMG`` (goal <= 0.5x, and the two
  images must be byte-identical);

and per tree the memory of a build: the peak RSS of ``mmlab cramfs build`` next to
the image size and the bare interpreter's RSS (goal: at most twice the image plus the
interpreter).  Once: start-up (``mmlab --help``, also without any bytecode cache, and a
bare ``python -c pass``), and on the big-file image the in-process library figures:
read + inflate with ``mmlab.cramfs.reader`` vs ``fsck.cramfs --extract IMG`` vs
``dissect.cramfs`` (pip ``.[bench]``), ``write_image`` vs ``mkfs.cramfs``, and the
``tracemalloc`` peaks of both.  Results also go to ``bench-results/cramfs.json``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

STDLIB_IMAGE = 14 << 20  #: bytes of image the copy of the standard library should make
LIBRARY_IMAGE = 12 << 20  #: bytes of image the library tree should make
LIBRARY_FILE_MAX = 256 << 10  #: the library tree takes files up to this size
REPEAT = 11  #: timed pairs per command (after one warm-up pair)
LIBRARY_REPEAT = 5  #: runs of the in-process figures (best of)
CHECK_GOAL = 0.7
EXTRACT_GOAL = 0.7
BUILD_GOAL = 0.5
LIBRARY_READ_GOAL = 0.7
LIBRARY_BUILD_GOAL = 0.5
SKIP_DIRS = frozenset({"site-packages", "__pycache__", "dist-packages"})
TEST_DIRS = frozenset({"test", "tests", "idle_test"})  #: used last, only as far as needed
MAX_FILE = (1 << 24) - 1
MIB = 1 << 20
TIME = shutil.which("time", path="/usr/bin:/bin")  #: GNU time, for a child's peak RSS


def _tool(name: str) -> str | None:
    return shutil.which(name, path=f"/usr/sbin:/sbin:{os.environ.get('PATH', '')}")


def _busybox() -> str | None:
    """Debian's ``busybox`` (package busybox-static, which ``make bench`` installs)."""
    return shutil.which("busybox", path=f"/usr/bin:/bin:{os.environ.get('PATH', '')}")


def _mmlab_command() -> list[str]:
    """The ``mmlab`` console script next to this interpreter, else ``python -m mmlab.cli``."""
    script = Path(sys.executable).with_name("mmlab")
    if script.exists():
        return [str(script)]
    found = shutil.which("mmlab")
    return [found] if found else [sys.executable, "-m", "mmlab.cli"]


def _log(msg: str = "") -> None:
    print(msg, flush=True)


# --- the tree ---------------------------------------------------------------------------------


def _stdlib_files() -> list[tuple[Path, int]]:
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for dirpath, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for f in sorted(files):
            p = Path(dirpath) / f
            try:
                st = p.lstat()
            except OSError:
                continue
            if p.is_file() and not p.is_symlink() and st.st_size < MAX_FILE:
                out.append((p, st.st_size))
    out.sort(key=lambda f: (bool(TEST_DIRS & set(f[0].relative_to(root).parts)), f[0]))
    return out


def _copy_stdlib(files: list[tuple[Path, int]], budget: int, dest: Path) -> int:
    root = Path(sysconfig.get_paths()["stdlib"])
    total = 0
    for p, size in files:
        if total >= budget:
            break
        target = dest / p.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copyfile(p, target)
        except OSError:
            continue
        total += size
    return total


def _stdlib_part(root: Path, scratch: Path, mkfs: str) -> Path:
    """Copy stdlib files into ``root/lib`` until mkfs.cramfs makes about STDLIB_IMAGE bytes."""
    files = _stdlib_files()
    budget = 3 * STDLIB_IMAGE
    lib = root / "lib"
    for _attempt in range(3):
        if lib.exists():
            shutil.rmtree(lib)
        copied = _copy_stdlib(files, budget, lib)
        img = scratch / "stdlib.cramfs"
        subprocess.run([mkfs, str(root), str(img)], check=True, capture_output=True)
        size = img.stat().st_size
        img.unlink()
        if abs(size - STDLIB_IMAGE) < STDLIB_IMAGE // 20 or copied < budget:
            break
        budget = int(budget * STDLIB_IMAGE / size)
    return lib


def _text_of(lib: Path, size: int) -> bytes:
    """``size`` bytes of the copied stdlib's .py files, concatenated (compresses ~4:1)."""
    out = bytearray()
    while len(out) < size:
        for p in sorted(lib.rglob("*.py")):
            out += p.read_bytes()
            if len(out) >= size:
                break
    return bytes(out[:size])


def _big_files(big: Path, lib: Path) -> None:
    """A few large files: incompressible, text, and half-and-half (like a binary)."""
    rng = random.Random(8)
    big.mkdir()
    noise = rng.randbytes(4 * MIB)
    (big / "random.bin").write_bytes(noise)  # compressed assets, firmware blobs
    (big / "random-copy.bin").write_bytes(noise)  # a duplicate that is no hard link
    (big / "text.log").write_bytes(_text_of(lib, 8 * MIB))
    text = _text_of(lib, 3 * MIB)
    mixed = bytearray()
    for i in range(0, 3 * MIB, 32 << 10):
        mixed += text[i:i + (32 << 10)] + rng.randbytes(32 << 10)
    (big / "mixed.so").write_bytes(bytes(mixed))
    os.link(big / "mixed.so", big / "mixed-hardlink.so")


def _links(root: Path, lib: Path) -> int:
    """Symlinks of every kind real root file systems have; returns how many."""
    links = root / "links"
    links.mkdir()
    stdlib = sysconfig.get_paths()["stdlib"]
    made = 0
    for i, p in enumerate(sorted(lib.rglob("*.py"))[::25]):
        rel = p.relative_to(lib)
        os.symlink(os.path.relpath(p, links), links / f"rel{i}.py")  # relative, resolves
        os.symlink(f"{stdlib}/{rel}", links / f"abs{i}.py")  # absolute (outside the image)
        made += 2
    os.symlink("../lib", links / "lib")  # a link to a directory
    os.symlink("/usr/lib/os-release", links / "os-release")
    os.symlink("missing/nowhere", links / "dangling")
    os.symlink("/nonexistent/lib.so.1", links / "dangling-abs")
    os.symlink("loop-b", links / "loop-a")
    os.symlink("loop-a", links / "loop-b")
    return made + 6


def _hard_links(root: Path, lib: Path) -> int:
    """Hard-linked duplicates of some stdlib files (mkfs.cramfs stores their data once)."""
    dup = root / "hardlinks"
    dup.mkdir()
    picked = sorted(lib.rglob("*.py"))[7::40]
    for i, p in enumerate(picked):
        os.link(p, dup / f"{i}-{p.name}")
    return len(picked)


def _devices(root: Path) -> int:
    """Device nodes and a fifo (root only: mknod needs CAP_MKNOD); returns how many."""
    if os.geteuid() != 0:
        return 0
    dev = root / "dev"
    dev.mkdir()
    nodes = {"null": (0o20666, 1, 3), "zero": (0o20666, 1, 5), "tty0": (0o20620, 4, 0),
             "console": (0o20600, 5, 1), "sda": (0o60660, 8, 0), "sda1": (0o60660, 8, 1),
             "loop0": (0o60660, 7, 0), "mmcblk0": (0o60660, 179, 0)}
    for name, (mode, major, minor) in nodes.items():
        os.mknod(dev / name, mode, os.makedev(major, minor))
    os.mkfifo(dev / "initctl", 0o600)
    return len(nodes) + 1


@dataclass(frozen=True)
class Tree:
    """What :func:`make_tree` made."""

    root: Path
    files: int
    big_files: int
    hard_links: int
    symlinks: int
    devices: int
    input_bytes: int
    name: str = "big files"


def _count(root: Path) -> tuple[int, int, int, int, int, int]:
    """(regular files, their bytes, files of >= 3 MiB, hard links, symlinks, device nodes and
    fifos) under ``root``; a hard link is a name past the first of an inode (counted as a
    file, its bytes once)."""
    files = total = big = hard = links = special = 0
    seen: set[tuple[int, int]] = set()
    for dirpath, dirs, names in os.walk(root):
        for n in dirs + names:  # a symlink to a directory is listed with the directories
            st = os.lstat(os.path.join(dirpath, n))
            if stat.S_ISLNK(st.st_mode):
                links += 1
            elif stat.S_ISREG(st.st_mode):
                files += 1
                if st.st_nlink > 1 and (st.st_dev, st.st_ino) in seen:
                    hard += 1
                    continue
                seen.add((st.st_dev, st.st_ino))
                total += st.st_size
                big += st.st_size >= 3 * MIB
            elif not stat.S_ISDIR(st.st_mode):
                special += 1
    return files, total, big, hard, links, special


def make_tree(work: Path, mkfs: str) -> Tree:
    """The source tree of the benchmark image, under ``work/tree``."""
    root = work / "tree"
    root.mkdir()
    lib = _stdlib_part(root, work, mkfs)
    _big_files(root / "big", lib)
    nlinks = _links(root, lib)
    nhard = _hard_links(root, lib)
    ndev = _devices(root)
    files = 0
    total = 0
    for dirpath, _dirs, names in os.walk(root):
        for n in names:
            st = os.lstat(os.path.join(dirpath, n))
            if not os.path.islink(os.path.join(dirpath, n)) and os.path.isfile(
                    os.path.join(dirpath, n)):
                files += 1
                total += st.st_size
    return Tree(root, files, 5, nhard + 1, nlinks, ndev, total)


def _multiarch_lib() -> Path:
    """``/usr/lib/<multiarch>`` (Debian's library directory), else ``/usr/lib``."""
    arch = sysconfig.get_config_var("MULTIARCH")
    lib = Path("/usr/lib") / arch if arch else Path("/usr/lib")
    return lib if lib.is_dir() else Path("/usr/lib")


def _library_files(source: Path) -> list[tuple[Path, int]]:
    """Regular files of at most LIBRARY_FILE_MAX bytes below ``source``, in path order."""
    out = []
    for dirpath, dirs, files in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for f in sorted(files):
            p = Path(dirpath) / f
            try:
                st = p.lstat()
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode) and 0 < st.st_size <= LIBRARY_FILE_MAX:
                out.append((p, st.st_size))
    return out


def _library_links(source: Path, dest: Path) -> int:
    """The symlinks of ``source`` whose target was copied (``libz.so.1 -> libz.so.1.2.13``)."""
    made = 0
    for dirpath, dirs, names in os.walk(source):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for n in sorted(names):
            p = Path(dirpath) / n
            if not p.is_symlink():
                continue
            target = os.readlink(p)
            if os.path.isabs(target):
                continue
            link = dest / p.relative_to(source)
            if link.parent.is_dir() and (link.parent / target).is_file() \
                    and not os.path.lexists(link):
                os.symlink(target, link)
                made += 1
    return made


def make_library_tree(work: Path, mkfs: str, source: Path | None = None,
                      image_bytes: int = LIBRARY_IMAGE) -> Tree:
    """A distribution's library tree under ``work/library``: the small files of ``source``
    (default ``/usr/lib/<multiarch>``), in path order, until ``mkfs.cramfs`` makes about
    ``image_bytes``, and the symlinks among them."""
    source = source or _multiarch_lib()
    root = work / "library"
    files = _library_files(source)
    budget = 3 * image_bytes
    for _attempt in range(3):
        if root.exists():
            shutil.rmtree(root)
        root.mkdir()
        copied = 0
        for p, size in files:
            if copied >= budget:
                break
            target = root / p.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                shutil.copyfile(p, target)
            except OSError:
                continue
            copied += size
        img = work / "library-size.cramfs"
        subprocess.run([mkfs, str(root), str(img)], check=True, capture_output=True)
        size = img.stat().st_size
        img.unlink()
        if abs(size - image_bytes) < image_bytes // 20 or copied < budget:
            break
        budget = int(budget * image_bytes / size)
    _library_links(source, root)
    nfiles, total, big, hard, links, special = _count(root)
    return Tree(root, nfiles, big, hard, links, special, total, "library")


#: Shared libraries of the root file system, in /lib (glibc) and /usr/lib (the rest), each
#: copied from this machine's library directory under its real name with its soname link.
ROOTFS_LIBS = ("ld-linux-x86-64.so.2", "libc.so.6", "libm.so.6", "libresolv.so.2",
               "libnss_files.so.2", "libnss_dns.so.2", "libpthread.so.0", "libdl.so.2",
               "librt.so.1", "libutil.so.1", "libcrypt.so.1", "libgcc_s.so.1")
ROOTFS_USR_LIBS = ("libz.so.1", "libssl.so.3", "libcrypto.so.3", "libstdc++.so.6",
                   "libsqlite3.so.0", "libexpat.so.1", "libffi.so.8", "liblzma.so.5",
                   "libbz2.so.1.0", "libzstd.so.1", "libreadline.so.8", "libncursesw.so.6",
                   "libtinfo.so.6", "libcurl.so.4", "libpcre2-8.so.0", "libuuid.so.1")
#: Applets installed as hard links of /bin/busybox (the others are symlinks).  Few:
#: ``fsck.cramfs`` inflates a hard link's data again for every name, so with every applet
#: a hard link (``busybox --install``) it would spend nine tenths of its time on busybox.
ROOTFS_HARD_LINKS = frozenset({"sbin/init"})
#: (path, mode, contents) of the small /etc files a busybox system boots with.
ROOTFS_ETC = (
    ("etc/passwd", 0o644, "root:x:0:0:root:/root:/bin/sh\ndaemon:x:1:1:daemon:/usr/sbin:"
     "/bin/false\nwww-data:x:33:33:www-data:/var/www:/bin/false\n"
     "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"),
    ("etc/group", 0o644, "root:x:0:\ndaemon:x:1:\ntty:x:5:\nwww-data:x:33:\n"
     "nogroup:x:65534:\n"),
    ("etc/shadow", 0o600, "root::19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"),
    ("etc/hostname", 0o644, "board\n"),
    ("etc/hosts", 0o644, "127.0.0.1\tlocalhost\n127.0.1.1\tboard\n::1\tlocalhost\n"),
    ("etc/fstab", 0o644, "proc\t/proc\tproc\tdefaults\t0 0\nsysfs\t/sys\tsysfs\t"
     "defaults\t0 0\ntmpfs\t/tmp\ttmpfs\tmode=1777\t0 0\n"),
    ("etc/inittab", 0o644, "::sysinit:/etc/init.d/rcS\nttyS0::respawn:/sbin/getty -L "
     "ttyS0 115200 vt100\n::ctrlaltdel:/sbin/reboot\n::shutdown:/bin/umount -a -r\n"),
    ("etc/init.d/rcS", 0o755, "#!/bin/sh\nmount -a\nmkdir -p /dev/pts\nmount -t devpts "
     "devpts /dev/pts\nhostname -F /etc/hostname\nifup -a\nsyslogd\n"),
    ("etc/network/interfaces", 0o644, "auto lo\niface lo inet loopback\nauto eth0\n"
     "iface eth0 inet dhcp\n"),
    ("etc/profile", 0o644, "export PATH=/bin:/sbin:/usr/bin:/usr/sbin\nexport PS1='\\h:\\w\\$ '\n"),
    ("etc/issue", 0o644, "busybox board \\n \\l\n"),
    ("etc/shells", 0o644, "/bin/sh\n/bin/ash\n"),
    ("etc/nsswitch.conf", 0o644, "passwd: files\ngroup: files\nhosts: files dns\n"),
)
#: (path, target) of the /etc and /var symlinks (absolute ones point at run-time files).
ROOTFS_SYMLINKS = (("etc/mtab", "/proc/self/mounts"), ("etc/resolv.conf", "/tmp/resolv.conf"),
                   ("etc/localtime", "/usr/share/zoneinfo/UTC"), ("var/run", "../tmp"),
                   ("var/lock", "../tmp"), ("var/tmp", "../tmp"))
#: (name, mode, major, minor) of the device nodes in /dev (made as root only).
ROOTFS_DEVICES = (("console", 0o20600, 5, 1), ("null", 0o20666, 1, 3), ("zero", 0o20666, 1, 5),
                  ("random", 0o20666, 1, 8), ("urandom", 0o20666, 1, 9), ("tty", 0o20666, 5, 0),
                  ("tty0", 0o20620, 4, 0), ("tty1", 0o20620, 4, 1), ("ttyS0", 0o20660, 4, 64),
                  ("ttyS1", 0o20660, 4, 65), ("mtd0", 0o20660, 90, 0), ("mtd1", 0o20660, 90, 2),
                  ("mtdblock0", 0o60660, 31, 0), ("mtdblock1", 0o60660, 31, 1),
                  ("ram0", 0o60660, 1, 0), ("loop0", 0o60660, 7, 0), ("mmcblk0", 0o60660, 179, 0),
                  ("mmcblk0p1", 0o60660, 179, 1))


def _copy_lib(name: str, sources: Sequence[Path], dest: Path) -> bool:
    """Copy library ``name`` (a soname) from the first of ``sources`` that has it: the real
    file under its own name, and ``name`` as a symlink to it when the two differ."""
    for src in sources:
        p = src / name
        if not p.exists():
            continue
        real = p.resolve()
        dest.mkdir(parents=True, exist_ok=True)
        if not (dest / real.name).exists():
            shutil.copyfile(real, dest / real.name)
            os.chmod(dest / real.name, 0o755)
        if real.name != name and not os.path.lexists(dest / name):
            os.symlink(real.name, dest / name)
        return True
    return False


def make_rootfs(work: Path, busybox: str, *, lib_dirs: Sequence[Path] | None = None,
                share: Path | None = None) -> Tree:
    """A busybox root file system under ``work/rootfs`` (see the module docstring).

    ``busybox`` is the binary (its ``--list-full`` names the applets); ``lib_dirs`` where
    the libraries are looked up (default ``/lib/<multiarch>`` and ``/usr/lib/<multiarch>``;
    ``gconv`` comes from the last of them); ``share`` holds ``zoneinfo`` and ``terminfo``.
    Whatever of it this machine lacks is left out.
    """
    share = share or Path("/usr/share")
    root = work / "rootfs"
    root.mkdir()
    for d in ("bin", "sbin", "usr/bin", "usr/sbin", "lib", "usr/lib", "dev", "proc", "sys",
              "tmp", "mnt", "root", "home", "var/log", "var/www", "usr/share"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copyfile(busybox, root / "bin/busybox")
    os.chmod(root / "bin/busybox", 0o755)
    applets = subprocess.run([busybox, "--list-full"], check=True, capture_output=True,
                             text=True).stdout.split()
    for path in sorted(set(applets)):
        link = root / path
        if path == "bin/busybox" or os.path.lexists(link) or ".." in path.split("/"):
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        if path in ROOTFS_HARD_LINKS:
            os.link(root / "bin/busybox", link)
        else:  # busybox's default install: a symlink per applet
            os.symlink(os.path.relpath(root / "bin/busybox", link.parent), link)
    arch = _multiarch_lib()
    lib_dirs = list(lib_dirs) if lib_dirs is not None else [Path("/lib") / arch.name, arch]
    for name in ROOTFS_LIBS:
        _copy_lib(name, lib_dirs, root / "lib")
    for name in ROOTFS_USR_LIBS:
        _copy_lib(name, lib_dirs, root / "usr/lib")
    if lib_dirs and (lib_dirs[-1] / "gconv").is_dir():
        shutil.copytree(lib_dirs[-1] / "gconv", root / "usr/lib/gconv", symlinks=True)
    for sub in ("zoneinfo", "terminfo"):
        if (share / sub).is_dir():
            shutil.copytree(share / sub, root / "usr/share" / sub, symlinks=True,
                            dirs_exist_ok=True)
    for path, mode, text in ROOTFS_ETC:
        f = root / path
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text)
        os.chmod(f, mode)
    for path, target in ROOTFS_SYMLINKS:
        os.symlink(target, root / path)
    os.mkfifo(root / "dev/initctl", 0o600)
    os.mkfifo(root / "var/log/messages.fifo", 0o640)
    if os.geteuid() == 0:
        for name, mode, major, minor in ROOTFS_DEVICES:
            os.mknod(root / "dev" / name, mode, os.makedev(major, minor))
    nfiles, total, big, hard, links, special = _count(root)
    return Tree(root, nfiles, big, hard, links, special, total, "rootfs")


# --- running commands ---------------------------------------------------------------------------


@dataclass
class Run:
    """The wall times of the runs of one command (``wall``: the best), and its peak RSS."""

    wall: float = float("inf")
    maxrss: int | None = None  #: bytes; None when /usr/bin/time is missing
    walls: list[float] = field(default_factory=list)  #: every timed run, in order
    busy: int = 0  #: timed runs that started while other jobs kept the CPUs busy

    def add(self, wall: float | None, maxrss: int | None) -> None:
        if wall is not None:
            self.wall = min(self.wall, wall)
            self.walls.append(wall)
        if maxrss is not None:
            self.maxrss = max(self.maxrss or 0, maxrss)

    @property
    def median(self) -> float:
        """The median wall time (inf before any run)."""
        return statistics.median(self.walls) if self.walls else float("inf")


def pair_ratio(mine: Run, theirs: Run) -> float | None:
    """The median over the pairs of ``mine``'s time / ``theirs``'s (the runs of one pair
    were made one after the other, so a busy machine slows both alike); None without runs."""
    ratios = [a / b for a, b in zip(mine.walls, theirs.walls, strict=True) if b > 0]
    return statistics.median(ratios) if ratios else None


def child_env(pycache: Path, *, cached: bool = True) -> dict[str, str]:
    """The children's environment: bytecode cached under ``pycache`` (as in any installation
    that may write ``__pycache__``), even where ``PYTHONDONTWRITEBYTECODE`` is set; with
    ``cached=False`` an empty cache that stays empty (every module compiled at start-up)."""
    env = dict(os.environ)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)
    if cached:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_command(argv: Sequence[str], *, rss: bool = False,
                env: dict[str, str] | None = None) -> tuple[float | None, int | None]:
    """Run ``argv`` as a child process: (wall seconds, None), or with ``rss`` (None, peak RSS).

    The peak RSS comes from ``/usr/bin/time -f %M`` (GNU time; Debian package ``time``),
    not from our own ``os.wait4``: subprocess starts children with vfork, and Linux
    keeps the larger of the parent's and the child's RSS high-water mark in the child's
    ``ru_maxrss`` across ``execve``, so every child would seem as big as this process.
    ``time`` forks from its own small process.  stdout and stderr go to a file (no
    terminal: no progress bars); a non-zero exit raises with what the command said.
    """
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as out:
        cmd = list(argv)
        if rss:
            if not TIME:
                return None, None
            cmd = [TIME, "-f", "%M", "-o", out.name, *cmd]
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                env=env)
        _pid, status, _usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: "
                               f"{err.read().decode(errors='replace')[-2000:]}")
        if rss:
            return None, int(out.read().split()[-1]) * 1024
    return wall, None


def cpu_busy(interval: float = 0.2) -> float:
    """The share of all CPUs that were busy (not idle, not waiting for I/O) over ``interval``
    seconds, from ``/proc/stat`` (0.0 where it cannot be read).  This process sleeps
    meanwhile: what is busy is other jobs."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
        return sum(fields[:8]), idle

    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    total = total1 - total0
    return 1.0 - (idle1 - idle0) / total if total > 0 else 0.0


class Settle:
    """Before each pair of runs, wait (a while) until other jobs leave the CPUs idle.

    The mmlab commands inflate and compress on two threads, util-linux on one: on a
    machine where another job keeps a CPU busy, a pair measures the other job as much
    as the tools.  So a pair starts once the CPUs were :data:`IDLE_BELOW` idle over
    0.2 s, waiting at most ``patience`` seconds in all for one race; past that, pairs
    start at once and are counted in :attr:`Run.busy`.
    """

    IDLE_BELOW = 0.1  #: busy share of all CPUs under which the machine counts as idle

    def __init__(self, patience: float = 30.0,
                 busy: Callable[[], float] = cpu_busy) -> None:
        self.patience = patience
        self.busy = busy

    def __call__(self) -> bool:
        """Wait until the machine is idle or the patience is spent; True if it is idle."""
        while True:
            t0 = time.perf_counter()
            if self.busy() < self.IDLE_BELOW:
                return True
            if self.patience <= 0:
                return False
            time.sleep(0.3)
            self.patience -= time.perf_counter() - t0


def race(pairs: dict[str, Callable[[int], Sequence[str]]], repeat: int = REPEAT,
         cleanup: Callable[[], None] | None = None,
         env: dict[str, str] | None = None,
         settle: Callable[[], bool] | None = None) -> dict[str, Run]:
    """Run each command once to warm up, ``repeat`` times for time and once more for RSS,
    interleaved.

    ``pairs`` maps a name to ``argv(i)`` (``i``: the run, for fresh output paths);
    ``cleanup`` runs after every command; ``settle`` (a :class:`Settle`), when given,
    before each timed round: it says whether the machine was idle.
    """
    runs = {name: Run() for name in pairs}
    for i in range(-1, repeat + 1):
        idle = settle() if settle is not None and 0 <= i < repeat else True
        for name, argv in pairs.items():
            runs[name].busy += not idle
            wall, rss = run_command(argv(i + 1), rss=i == repeat, env=env)
            if i >= 0:
                runs[name].add(wall, rss)
            if cleanup:
                cleanup()
    return runs


def _tmpfs_dir() -> Path | None:
    """A fresh directory in /dev/shm if that is a writable tmpfs, else None."""
    try:
        with open("/proc/self/mounts") as f:
            if not any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in f):
                return None
        return Path(tempfile.mkdtemp(prefix="mmlab-bench-", dir="/dev/shm"))
    except OSError:
        return None


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def _verdict(ratio: float | None, goal: float) -> str:
    if ratio is None:
        return "n/a"
    return "OK" if ratio <= goal else "MISSED"


def _mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / MIB:.1f} MiB"


def _rss(run: Run) -> str:
    return _mib(run.maxrss)


# --- in-process figures -------------------------------------------------------------------------


def read_mmlab(img: Path, threads: int = 2) -> int:
    """Open, CRC-check and inflate every regular file; returns the bytes read."""
    from mmlab.cramfs.reader import open_image

    total = 0
    with open_image(img) as im:
        if im.crc_ok() is False:
            raise RuntimeError("CRC mismatch")
        for _e, data in im.iter_file_contents(threads=threads):
            total += len(data)
    return total


def read_dissect(img: Path) -> int | None:
    """The same with dissect.cramfs (None if it is not installed)."""
    try:
        from dissect.cramfs import CramFS
    except ImportError:
        return None
    total = 0
    with open(img, "rb") as fh:
        fs = CramFS(fh)
        stack = [fs.get("/")]
        while stack:
            node = stack.pop()
            children = []
            for child in node.iterdir():
                # iterdir() yields lazy nodes and advances the shared file position only
                # when a node's header is read: touch it now, read files afterwards.
                child.mode  # noqa: B018
                children.append(child)
            for child in children:
                if child.is_dir():
                    stack.append(child)
                elif child.is_file():
                    total += len(child.open().read())
    return total


def _best(fn: Callable[[], object], repeat: int = 5) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _peak_python(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _rows(title: str, rows: list[tuple[str, Run, Run, float]]) -> list[dict]:
    """Print a whole-command table (medians, the median of the pairs' ratios); returns its
    rows for the JSON file."""
    _log(title)
    _log(f"  {'':38} {'mmlab':>18}   {'util-linux':>18}   ratio   goal")
    out = []
    for name, mine, theirs, goal in rows:
        ratio = pair_ratio(mine, theirs)
        shown = "  n/a" if ratio is None else f"{ratio:5.2f}"
        busy = f"  ({mine.busy} of {len(mine.walls)} pairs on a busy machine)" \
            if mine.busy else ""
        _log(f"  {name:38} {mine.median:6.3f} s {_rss(mine):>9}   "
             f"{theirs.median:6.3f} s {_rss(theirs):>9}   {shown}x  "
             f"<= {goal}x {_verdict(ratio, goal)}{busy}")
        out.append({"name": name, "mmlab": {**asdict(mine), "median": mine.median},
                    "util_linux": {**asdict(theirs), "median": theirs.median},
                    "ratio": ratio, "goal": goal, "met": _verdict(ratio, goal) == "OK"})
    return out


def _whole_commands(tree: Tree, img: Path, work: Path, mkfs: str, fsck: str, env: dict,
                    repeat: int = REPEAT) -> dict:
    """The paired runs of check, extract (disk, tmpfs) and build on one tree; its results."""
    mmlab = _mmlab_command()
    results: dict = {}
    rows = []

    checks = race({"mmlab": lambda i: [*mmlab, "cramfs", "check", str(img)],
                   "fsck": lambda i: [fsck, "--extract", str(img)]}, repeat, env=env,
                  settle=Settle())
    rows.append(("check IMG / fsck --extract IMG", checks["mmlab"], checks["fsck"], CHECK_GOAL))

    def extract_cleanup() -> None:
        for d in work.glob("x-*"):
            shutil.rmtree(d)
        os.sync()  # the next run must not pay for this one's writeback

    extracts = race({"mmlab": lambda i: [*mmlab, "cramfs", "extract", str(img),
                                         str(work / f"x-mmlab-{i}")],
                     "fsck": lambda i: [fsck, f"--extract={work / f'x-fsck-{i}'}", str(img)]},
                    repeat, cleanup=extract_cleanup, env=env, settle=Settle())
    rows.append(("extract IMG DIR / fsck --extract=DIR", extracts["mmlab"], extracts["fsck"],
                 EXTRACT_GOAL))
    shm = _tmpfs_dir()
    if shm is not None:  # the same without the disk file system's share of the time
        try:
            in_ram = race({"mmlab": lambda i: [*mmlab, "cramfs", "extract", str(img),
                                               str(shm / f"x-mmlab-{i}")],
                           "fsck": lambda i: [fsck, f"--extract={shm / f'x-fsck-{i}'}",
                                              str(img)]}, repeat,
                          cleanup=lambda: [shutil.rmtree(d) for d in shm.glob("x-*")], env=env,
                          settle=Settle())
            rows.append(("  the same, DIR on tmpfs (/dev/shm)", in_ram["mmlab"], in_ram["fsck"],
                         EXTRACT_GOAL))
        finally:
            shutil.rmtree(shm, ignore_errors=True)

    mine, theirs = work / "build-mmlab.cramfs", work / "build-mkfs.cramfs"
    builds = race({"mmlab": lambda i: [*mmlab, "cramfs", "build", str(tree.root), str(mine)],
                   "mkfs": lambda i: [mkfs, str(tree.root), str(theirs)]}, repeat,
                  cleanup=os.sync, env=env, settle=Settle())
    same = mine.read_bytes() == theirs.read_bytes()
    rows.append(("build SRC IMG / mkfs.cramfs SRC IMG", builds["mmlab"], builds["mkfs"],
                 BUILD_GOAL))

    results["commands"] = _rows(f"whole commands on {tree.name} (median of {repeat} pairs, "
                                "mmlab then util-linux, each pair started once the CPUs were "
                                "idle; peak RSS of the child):", rows)
    _log(f"  build output byte-identical to mkfs.cramfs: {same}"
         + ("" if same else "   <-- MISSED"))
    results["build_identical"] = same
    results["build_maxrss"] = builds["mmlab"].maxrss
    results["mkfs_maxrss"] = builds["mkfs"].maxrss
    return results


def _startup(work: Path, env: dict) -> dict:
    """``mmlab --help`` (with and without bytecode cache) and ``python -c pass``."""
    mmlab = _mmlab_command()
    startup = race({"mmlab --help": lambda i: [*mmlab, "--help"],
                    "python -c pass": lambda i: [sys.executable, "-c", "pass"]}, env=env)
    cold = race({"mmlab --help": lambda i: [*mmlab, "--help"]}, LIBRARY_REPEAT,
                env=child_env(work / "pycache-empty", cached=False))["mmlab --help"]
    help_run, bare = startup["mmlab --help"], startup["python -c pass"]
    _log(f"start-up (medians): mmlab --help {help_run.median:.3f} s {_mib(help_run.maxrss)} "
         f"({cold.median:.3f} s compiling every module, no bytecode cache), "
         f"python -c pass {bare.median:.3f} s {_mib(bare.maxrss)}")
    return {"mmlab_help": asdict(help_run), "mmlab_help_uncached": asdict(cold),
            "python_pass": asdict(bare)}


def _build_memory(tree: Tree, img: Path, commands: dict, bare: int | None) -> dict | None:
    """Peak RSS of ``mmlab cramfs build`` against 2 x image + the bare interpreter."""
    size = img.stat().st_size
    peak = commands["build_maxrss"]
    if peak is None or bare is None:
        _log("  build memory: n/a (/usr/bin/time is missing: apt-get install time)")
        return None
    budget = 2 * size + bare
    _log(f"  build memory (goal: peak RSS <= 2 x image + bare interpreter): image "
         f"{_mib(size)}, interpreter {_mib(bare)} -> budget {_mib(budget)}; mmlab cramfs "
         f"build {_mib(peak)} = interpreter + {(peak - bare) / size:.2f} x image "
         f"({_verdict(peak / budget, 1.0)}); mkfs.cramfs {_mib(commands['mkfs_maxrss'])}")
    return {"image_bytes": size, "python_pass_maxrss": bare, "budget": budget,
            "mmlab_build_maxrss": peak, "mkfs_maxrss": commands["mkfs_maxrss"],
            "met": peak <= budget}


def _library(tree: Tree, img: Path, work: Path, mkfs: str, fsck: str, results: dict) -> None:
    from mmlab.cramfs.writer import write_image

    nbytes = read_mmlab(img)
    _log(f"library, in this process, on {tree.name} (best of {LIBRARY_REPEAT}):")
    t_read = t_fsck = float("inf")
    for _ in range(LIBRARY_REPEAT):
        t_read = min(t_read, _best(lambda: read_mmlab(img), 1))
        t_fsck = min(t_fsck, run_command([fsck, "--extract", str(img)])[0])
    t_read1 = _best(lambda: read_mmlab(img, threads=1), 2)
    have_dissect = read_dissect(img) is not None
    t_dissect = _best(lambda: read_dissect(img), 1) if have_dissect else None
    ratio = _ratio(t_read, t_fsck)
    _log(f"  read+inflate {_mib(nbytes)}: reader {t_read:.3f} s (1 thread {t_read1:.3f} s), "
         f"fsck.cramfs --extract {t_fsck:.3f} s: {ratio:.2f}x (goal <= {LIBRARY_READ_GOAL}x: "
         f"{_verdict(ratio, LIBRARY_READ_GOAL)})")
    if t_dissect:
        _log(f"  dissect.cramfs {t_dissect:.3f} s: reader/dissect = "
             f"{_ratio(t_read, t_dissect):.2f}x")
    else:
        _log("  dissect.cramfs not installed (pip install -e '.[bench]')")

    out = work / "lib-build.cramfs"
    t_build = t_mkfs = float("inf")
    for _ in range(LIBRARY_REPEAT):
        t_build = min(t_build, _best(lambda: write_image(tree.root, out), 1))
        t_mkfs = min(t_mkfs, run_command([mkfs, str(tree.root), str(work / "m.img")])[0])
    same = out.read_bytes() == img.read_bytes()
    ratio_b = _ratio(t_build, t_mkfs)
    _log(f"  write_image {t_build:.3f} s, mkfs.cramfs {t_mkfs:.3f} s: {ratio_b:.2f}x "
         f"(goal <= {LIBRARY_BUILD_GOAL}x: {_verdict(ratio_b, LIBRARY_BUILD_GOAL)}; "
         f"byte-identical: {same})")
    peak_read = _peak_python(lambda: read_mmlab(img))
    peak_build = _peak_python(lambda: write_image(tree.root, work / "t.img"))
    _log(f"  tracemalloc peaks: read {_mib(peak_read)}, write_image {_mib(peak_build)} "
         f"(image {_mib(img.stat().st_size)})")
    results["library"] = {
        "read": {"mmlab": t_read, "mmlab_1thread": t_read1, "fsck": t_fsck,
                 "dissect": t_dissect, "ratio_fsck": ratio},
        "build": {"mmlab": t_build, "mkfs": t_mkfs, "identical": same, "ratio_mkfs": ratio_b},
        "tracemalloc": {"read": peak_read, "build": peak_build},
    }


def make_trees(work: Path, mkfs: str) -> list[Tree]:
    """The bench's trees: big files, a library tree and (with busybox) a root file system."""
    trees = []
    for name in ("big", "library", "rootfs"):
        d = work / name
        d.mkdir()
        if name == "big":
            trees.append(make_tree(d, mkfs))
        elif name == "library":
            trees.append(make_library_tree(d, mkfs))
        elif busybox := _busybox():
            trees.append(make_rootfs(d, busybox))
        else:
            _log("rootfs: skipped, busybox is not installed (make bench installs "
                 "busybox-static)")
    return trees


def _describe(tree: Tree, img: Path) -> str:
    return (f"{tree.name}: image {_mib(img.stat().st_size)} from {tree.files} regular files "
            f"({_mib(tree.input_bytes)}; {tree.big_files} of >= 3 MiB), {tree.hard_links} hard "
            f"links, {tree.symlinks} symlinks, {tree.devices} device nodes/fifos"
            + ("" if os.geteuid() == 0 else " (not root: no device nodes)"))


def main() -> None:
    """Run the benchmark and print the tables (called by ``python -m mmlab.bench``)."""
    mkfs, fsck = _tool("mkfs.cramfs"), _tool("fsck.cramfs")
    if not mkfs or not fsck:
        print("skipped: mkfs.cramfs/fsck.cramfs not installed (make apt-deps)")
        return
    results: dict = {"trees": {}}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mmlab-bench-") as tmp:
        work = Path(tmp)
        from mmlab.cramfs.inflate import ENGINE

        _log(f"inflate engine: {ENGINE}; load average {load:.2f} on {os.cpu_count()} CPUs")
        results["engine"] = ENGINE
        results["loadavg_start"] = load
        env = child_env(work / "pycache")
        results["startup"] = _startup(work, env)
        bare = results["startup"]["python_pass"]["maxrss"]
        trees = make_trees(work, mkfs)
        summary = []
        for tree in trees:
            img = tree.root.parent / "ref.cramfs"
            subprocess.run([mkfs, str(tree.root), str(img)], check=True, capture_output=True)
            _log()
            _log(_describe(tree, img) + f"; load average {os.getloadavg()[0]:.2f}")
            part = _whole_commands(tree, img, tree.root.parent, mkfs, fsck, env)
            part["build_memory"] = _build_memory(tree, img, part, bare)
            part["image"] = {**asdict(tree), "root": str(tree.root),
                             "image_bytes": img.stat().st_size}
            results["trees"][tree.name] = part
            summary += [(tree.name, row) for row in part["commands"]]
            if tree.name == "big files":
                _library(tree, img, tree.root.parent, mkfs, fsck, results)
        _log()
        _log("every ratio (median of the pairs' ratios):")
        for name, row in summary:
            shown = "n/a" if row["ratio"] is None else f"{row['ratio']:.2f}x"
            _log(f"  {name:10} {row['name']:38} {shown:>6}  goal <= {row['goal']}x "
                 f"{_verdict(row['ratio'], row['goal'])}")
    results["loadavg_end"] = os.getloadavg()[0]
    _log(f"load average {results['loadavg_end']:.2f} at the end (rerun if it grew: other jobs "
         "slow both sides, but not always alike)")
    outdir = Path("bench-results")
    try:
        outdir.mkdir(exist_ok=True)
        (outdir / "cramfs.json").write_text(json.dumps(results, indent=2) + "\n")
    except OSError:
        pass
    sys.stdout.flush()


if __name__ == "__main__":
    main()
