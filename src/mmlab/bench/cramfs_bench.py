"""cramfs speed and memory: the ``mmlab cramfs`` commands vs util-linux, as whole processes.

The image holds what real images hold (see :func:`make_tree`): a copy of
Python's standard library (many small files), a few large files (random,
text, mixed; several MiB each), duplicates (hard links and plain copies),
symlinks (absolute, relative, dangling, to a directory) and, as root,
device nodes and a fifo.

The headline is the whole-command table: each command is run as a child
process (``subprocess``, wall time from spawn to exit, best of ``REPEAT``
runs interleaved with its util-linux counterpart so that a busy machine
hurts both alike, after one warm-up run), and with the child's peak RSS (one
more run under GNU ``/usr/bin/time -f %M``, see :func:`run_command`).  The
children cache bytecode in a private directory (:func:`child_env`), as an
installed mmlab would, even if ``PYTHONDONTWRITEBYTECODE`` is set here:

* ``mmlab cramfs check IMG`` vs ``fsck.cramfs --extract IMG`` (goal <= 0.7x);
* ``mmlab cramfs extract IMG DIR`` vs ``fsck.cramfs --extract=DIR IMG``
  (goal <= 0.7x; a fresh DIR on the same file system for every run, removed
  and ``sync``-ed after it, so that no run pays for another's writeback);
  again into /dev/shm if it is a tmpfs: on disk much of the time is the file
  system's (and varies with its state), in RAM it is the tools' own;
* ``mmlab cramfs build SRC IMG`` vs ``mkfs.cramfs SRC IMG`` (goal <= 0.5x,
  and the two images must be byte-identical);
* start-up: ``mmlab --help`` (also without any bytecode cache) and a bare
  ``python -c pass``.

Then the memory of a build, read off directly: the peak RSS of
``mmlab cramfs build`` next to the image size and the bare interpreter's RSS
(goal: at most twice the image plus the interpreter).

Last, the in-process library figures: read + inflate with
``mmlab.cramfs.reader`` vs ``fsck.cramfs --extract IMG`` vs
``dissect.cramfs`` (pip ``.[bench]``), ``write_image`` vs ``mkfs.cramfs``,
and the ``tracemalloc`` peaks of both.  Results also go to
``bench-results/cramfs.json``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

STDLIB_IMAGE = 14 << 20  #: bytes of image the copy of the standard library should make
REPEAT = 5
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


# --- running commands ---------------------------------------------------------------------------


@dataclass
class Run:
    """Best wall time over the runs of one command, and its peak RSS."""

    wall: float = float("inf")
    maxrss: int | None = None  #: bytes; None when /usr/bin/time is missing

    def add(self, wall: float | None, maxrss: int | None) -> None:
        if wall is not None:
            self.wall = min(self.wall, wall)
        if maxrss is not None:
            self.maxrss = max(self.maxrss or 0, maxrss)


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


def race(pairs: dict[str, Callable[[int], Sequence[str]]], repeat: int = REPEAT,
         cleanup: Callable[[], None] | None = None,
         env: dict[str, str] | None = None) -> dict[str, Run]:
    """Run each command once to warm up, ``repeat`` times for time and once more for RSS,
    interleaved.

    ``pairs`` maps a name to ``argv(i)`` (``i``: the run, for fresh output paths);
    ``cleanup`` runs after every command.
    """
    runs = {name: Run() for name in pairs}
    for i in range(-1, repeat + 1):
        for name, argv in pairs.items():
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


def _best(fn: Callable[[], object], repeat: int = REPEAT) -> float:
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
    """Print the whole-command table; returns its rows for the JSON file."""
    _log(title)
    _log(f"  {'':38} {'mmlab':>18}   {'util-linux':>18}   ratio   goal")
    out = []
    for name, mine, theirs, goal in rows:
        ratio = _ratio(mine.wall, theirs.wall)
        _log(f"  {name:38} {mine.wall:6.3f} s {_rss(mine):>9}   "
             f"{theirs.wall:6.3f} s {_rss(theirs):>9}   {ratio:5.2f}x  "
             f"<= {goal}x {_verdict(ratio, goal)}")
        out.append({"name": name, "mmlab": asdict(mine), "util_linux": asdict(theirs),
                    "ratio": ratio, "goal": goal, "met": _verdict(ratio, goal) == "OK"})
    return out


def _whole_commands(tree: Tree, img: Path, work: Path, mkfs: str, fsck: str,
                    results: dict) -> None:
    mmlab = _mmlab_command()
    env = child_env(work / "pycache")
    rows = []

    checks = race({"mmlab": lambda i: [*mmlab, "cramfs", "check", str(img)],
                   "fsck": lambda i: [fsck, "--extract", str(img)]}, env=env)
    rows.append(("check IMG / fsck --extract IMG", checks["mmlab"], checks["fsck"], CHECK_GOAL))

    def extract_cleanup() -> None:
        for d in work.glob("x-*"):
            shutil.rmtree(d)
        os.sync()  # the next run must not pay for this one's writeback

    extracts = race({"mmlab": lambda i: [*mmlab, "cramfs", "extract", str(img),
                                         str(work / f"x-mmlab-{i}")],
                     "fsck": lambda i: [fsck, f"--extract={work / f'x-fsck-{i}'}", str(img)]},
                    cleanup=extract_cleanup, env=env)
    rows.append(("extract IMG DIR / fsck --extract=DIR", extracts["mmlab"], extracts["fsck"],
                 EXTRACT_GOAL))
    shm = _tmpfs_dir()
    if shm is not None:  # the same without the disk file system's share of the time
        try:
            in_ram = race({"mmlab": lambda i: [*mmlab, "cramfs", "extract", str(img),
                                               str(shm / f"x-mmlab-{i}")],
                           "fsck": lambda i: [fsck, f"--extract={shm / f'x-fsck-{i}'}",
                                              str(img)]},
                          cleanup=lambda: [shutil.rmtree(d) for d in shm.glob("x-*")], env=env)
            rows.append(("  the same, DIR on tmpfs (/dev/shm)", in_ram["mmlab"], in_ram["fsck"],
                         EXTRACT_GOAL))
        finally:
            shutil.rmtree(shm, ignore_errors=True)

    mine, theirs = work / "build-mmlab.cramfs", work / "build-mkfs.cramfs"
    builds = race({"mmlab": lambda i: [*mmlab, "cramfs", "build", str(tree.root), str(mine)],
                   "mkfs": lambda i: [mkfs, str(tree.root), str(theirs)]},
                  cleanup=os.sync, env=env)
    same = mine.read_bytes() == theirs.read_bytes()
    rows.append(("build SRC IMG / mkfs.cramfs SRC IMG", builds["mmlab"], builds["mkfs"],
                 BUILD_GOAL))

    results["commands"] = _rows(f"whole commands (wall: best of {REPEAT}, interleaved; peak "
                                "RSS of the child):", rows)
    _log(f"  build output byte-identical to mkfs.cramfs: {same}"
         + ("" if same else "   <-- MISSED"))
    results["build_identical"] = same

    startup = race({"mmlab --help": lambda i: [*mmlab, "--help"],
                    "python -c pass": lambda i: [sys.executable, "-c", "pass"]}, env=env)
    cold = race({"mmlab --help": lambda i: [*mmlab, "--help"]},
                env=child_env(work / "pycache-empty", cached=False))["mmlab --help"]
    help_run, bare = startup["mmlab --help"], startup["python -c pass"]
    _log(f"  start-up: mmlab --help {help_run.wall:.3f} s {_mib(help_run.maxrss)} "
         f"({cold.wall:.3f} s compiling every module, no bytecode cache), "
         f"python -c pass {bare.wall:.3f} s {_mib(bare.maxrss)}")
    results["startup"] = {"mmlab_help": asdict(help_run), "mmlab_help_uncached": asdict(cold),
                          "python_pass": asdict(bare)}

    size = img.stat().st_size
    peak, base = builds["mmlab"].maxrss, bare.maxrss
    _log("build memory (goal: peak RSS of the command <= 2 x image + bare interpreter):")
    if peak is None or base is None:
        _log("  n/a: /usr/bin/time is missing (apt-get install time)")
        results["build_memory"] = None
        return
    budget = 2 * size + base
    _log(f"  image {_mib(size)}, bare interpreter (python -c pass) {_mib(base)} -> budget "
         f"{_mib(budget)}; mmlab cramfs build {_mib(peak)} = interpreter + "
         f"{(peak - base) / size:.2f} x image ({_verdict(peak / budget, 1.0)}); "
         f"mkfs.cramfs {_mib(builds['mkfs'].maxrss)}")
    results["build_memory"] = {"image_bytes": size, "python_pass_maxrss": base,
                               "budget": budget, "mmlab_build_maxrss": peak,
                               "mkfs_maxrss": builds["mkfs"].maxrss, "met": peak <= budget}


def _library(tree: Tree, img: Path, work: Path, mkfs: str, fsck: str, results: dict) -> None:
    from mmlab.cramfs.writer import write_image

    nbytes = read_mmlab(img)
    _log(f"library, in this process (best of {REPEAT}):")
    t_read = t_fsck = float("inf")
    for _ in range(REPEAT):
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
    for _ in range(REPEAT):
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


def main() -> None:
    """Run the benchmark and print the tables (called by ``python -m mmlab.bench``)."""
    mkfs, fsck = _tool("mkfs.cramfs"), _tool("fsck.cramfs")
    if not mkfs or not fsck:
        print("skipped: mkfs.cramfs/fsck.cramfs not installed (make apt-deps)")
        return
    results: dict = {}
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="mmlab-bench-") as tmp:
        work = Path(tmp)
        tree = make_tree(work, mkfs)
        img = work / "ref.cramfs"
        subprocess.run([mkfs, str(tree.root), str(img)], check=True, capture_output=True)
        from mmlab.cramfs.inflate import ENGINE

        _log(f"inflate engine: {ENGINE}")
        _log(f"image: {_mib(img.stat().st_size)} from {tree.files} regular files "
             f"({_mib(tree.input_bytes)}; {tree.big_files} of 3-8 MiB), {tree.hard_links} hard "
             f"links, {tree.symlinks} symlinks, {tree.devices} device nodes/fifos"
             + ("" if tree.devices else " (not root: none)")
             + f"; load average {load:.2f} on {os.cpu_count()} CPUs")
        results["engine"] = ENGINE
        results["image"] = {**asdict(tree), "root": str(tree.root),
                            "image_bytes": img.stat().st_size, "loadavg": load}
        _whole_commands(tree, img, work, mkfs, fsck, results)
        _library(tree, img, work, mkfs, fsck, results)
    _log(f"load average {os.getloadavg()[0]:.2f} at the end (rerun if it grew: other jobs "
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
