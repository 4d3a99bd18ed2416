"""cramfs read/build speed: mmlab vs util-linux (fsck.cramfs, mkfs.cramfs) vs dissect.cramfs.

A ~17 MiB image is built from a copy of Python's standard library.  Timed side
by side in one run (best of ``REPEAT``), printed as ratios:

* read: open + CRC + inflate every file with mmlab (2 inflate threads: zlib
  releases the GIL) vs ``fsck.cramfs --extract IMG`` (no directory: it
  inflates without writing) vs ``dissect.cramfs`` (pip ``.[bench]``);
* build: ``mmlab.cramfs.writer.write_image`` vs ``mkfs.cramfs`` (skipped if
  the writer is missing).

Goals: read <= 0.7x fsck.cramfs, build <= 0.8x mkfs.cramfs.  Peak memory:
``tracemalloc`` (Python heap of the mmlab run) and ``ru_maxrss`` (process and
children).  Results also go to ``bench-results/cramfs.json``.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import tracemalloc
from pathlib import Path

TARGET_IMAGE = 17 << 20  #: bytes
REPEAT = 5
READ_GOAL = 0.7
BUILD_GOAL = 0.8
SKIP_DIRS = {"site-packages", "__pycache__", "dist-packages"}
TEST_DIRS = {"test", "tests", "idle_test"}  #: used last, only as far as needed for the size
MAX_FILE = (1 << 24) - 1


def _tool(name: str) -> str | None:
    return shutil.which(name, path=f"/usr/sbin:/sbin:{os.environ.get('PATH', '')}")


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


def _copy_tree(files: list[tuple[Path, int]], budget: int, dest: Path) -> int:
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


def _make_tree(work: Path, mkfs: str) -> tuple[Path, Path]:
    """Copy stdlib files until mkfs.cramfs makes an image of about TARGET_IMAGE bytes."""
    files = _stdlib_files()
    budget = 3 * TARGET_IMAGE
    for attempt in range(3):
        tree = work / f"tree{attempt}"
        copied = _copy_tree(files, budget, tree)
        img = work / "ref.cramfs"
        subprocess.run([mkfs, str(tree), str(img)], check=True, capture_output=True)
        size = img.stat().st_size
        if abs(size - TARGET_IMAGE) < TARGET_IMAGE // 20 or copied < budget:
            return tree, img
        budget = int(budget * TARGET_IMAGE / size)
        shutil.rmtree(tree)
    return tree, img


def _log(msg: str) -> None:
    print(msg, flush=True)


def _best(fn, repeat: int = REPEAT) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


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


def _peak_python(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def main() -> None:
    """Run the benchmark and print the table (called by ``python -m mmlab.bench``)."""
    mkfs, fsck = _tool("mkfs.cramfs"), _tool("fsck.cramfs")
    if not mkfs or not fsck:
        print("skipped: mkfs.cramfs/fsck.cramfs not installed (make apt-deps)")
        return
    results: dict = {}
    with tempfile.TemporaryDirectory(prefix="mmlab-bench-") as tmp:
        work = Path(tmp)
        tree, img = _make_tree(work, mkfs)
        nfiles = sum(len(f) for _, _, f in os.walk(tree))
        _log(f"image: {img.stat().st_size / 2**20:.1f} MiB from {nfiles} stdlib files")
        results["image_bytes"] = img.stat().st_size

        # --- read ------------------------------------------------------------------------------
        nbytes = read_mmlab(img)
        _log(f"read+inflate {nbytes / 2**20:.1f} MiB:")
        # interleaved, best of REPEAT: a busy shared machine hurts both sides alike
        t_mmlab = t_fsck = float("inf")
        for _ in range(REPEAT):
            t_mmlab = min(t_mmlab, _best(lambda: read_mmlab(img), 1))
            t_fsck = min(t_fsck, _best(lambda: subprocess.run(
                [fsck, "--extract", str(img)], check=True, capture_output=True), 1))
        t_mmlab1 = _best(lambda: read_mmlab(img, threads=1), 2)
        _log(f"  mmlab (2 threads) {t_mmlab:7.3f} s   (1 thread {t_mmlab1:.3f} s)")
        _log(f"  fsck.cramfs       {t_fsck:7.3f} s")
        have_dissect = read_dissect(img) is not None
        t_dissect = _best(lambda: read_dissect(img), 1) if have_dissect else None
        _log(f"  dissect.cramfs    {t_dissect:7.3f} s" if t_dissect else
             "  dissect.cramfs    not installed (pip install -e '.[bench]')")
        verdict = "OK" if t_mmlab / t_fsck <= READ_GOAL else "MISSED"
        _log(f"  mmlab/fsck = {_ratio(t_mmlab, t_fsck)} (goal <= {READ_GOAL}x: {verdict}), "
             f"mmlab/dissect = {_ratio(t_mmlab, t_dissect)}")
        results["read"] = {"mmlab": t_mmlab, "mmlab_1thread": t_mmlab1, "fsck": t_fsck,
                           "dissect": t_dissect, "ratio_fsck": t_mmlab / t_fsck}

        # --- build -----------------------------------------------------------------------------
        try:
            from mmlab.cramfs.writer import write_image
        except ImportError:
            write_image = None
            print("build: skipped (mmlab.cramfs.writer not available yet)")
        if write_image is not None:
            out = work / "mmlab.cramfs"
            t_build = t_mkfs = float("inf")
            for _ in range(REPEAT):
                t_build = min(t_build, _best(lambda: write_image(tree, out), 1))
                t_mkfs = min(t_mkfs, _best(lambda: subprocess.run(
                    [mkfs, str(tree), str(work / "m.img")], check=True, capture_output=True), 1))
            same = out.read_bytes() == (work / "m.img").read_bytes()
            verdict = "OK" if t_build / t_mkfs <= BUILD_GOAL else "MISSED"
            print("build:")
            print(f"  mmlab writer      {t_build:7.3f} s  (byte-identical to mkfs: {same})")
            print(f"  mkfs.cramfs       {t_mkfs:7.3f} s")
            print(f"  mmlab/mkfs = {_ratio(t_build, t_mkfs)} (goal <= {BUILD_GOAL}x: {verdict})")
            results["build"] = {"mmlab": t_build, "mkfs": t_mkfs, "identical": same,
                                "ratio_mkfs": t_build / t_mkfs}

        # --- memory ----------------------------------------------------------------------------
        peak_read = _peak_python(lambda: read_mmlab(img))
        peak_build = _peak_python(lambda: write_image(tree, work / "t.img")) \
            if write_image is not None else None
        self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print("peak memory:")
        print(f"  mmlab read  (tracemalloc) {peak_read / 2**20:6.1f} MiB")
        if peak_build is not None:
            print(f"  mmlab build (tracemalloc) {peak_build / 2**20:6.1f} MiB")
        print(f"  max RSS: this process {self_rss / 1024:.0f} MiB, "
              f"largest child (mkfs/fsck) {child_rss / 1024:.0f} MiB")
        results["memory"] = {"read_tracemalloc": peak_read, "build_tracemalloc": peak_build,
                             "self_maxrss_kib": self_rss, "children_maxrss_kib": child_rss}
    outdir = Path("bench-results")
    try:
        outdir.mkdir(exist_ok=True)
        (outdir / "cramfs.json").write_text(json.dumps(results, indent=2) + "\n")
    except OSError:
        pass
    sys.stdout.flush()


if __name__ == "__main__":
    main()
