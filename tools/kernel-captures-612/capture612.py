"""Capture what Debian's 6.12 kernel does with an XIP cramfs image (chapter 9, issue 21).

The same recipe as ``tools/kernel-captures/capture.py`` (whose QEMU, busybox, probe and parsing
pieces this script imports and reuses unchanged), for the current kernel the model's 6.x mode
follows: Debian's ``linux-image-6.12-amd64`` (6.12.118+deb12, bookworm-security) and
``fs/cramfs`` of ``linux-source-6.12`` built as a module against its headers. What differs:

1. the packages: ``linux-image-<abi>``, ``linux-headers-<abi>``, ``-common``, ``linux-kbuild-*``
   and ``linux-source-6.12``, the ABI taken from ``linux-image-6.12-amd64``'s dependency;
2. our modules are built without BTF (``CONFIG_DEBUG_INFO_BTF_MODULES=`` on make's command
   line: 6.12's config would run ``pahole``); 6.12 ships its modules xz-compressed
   (``.ko.xz``): the four MTD modules the guest loads are decompressed (Python's ``lzma``)
   before they go into the initramfs;
3. the results go to ``data/kernel-captures-612/`` (the 6.1 captures stay where they are).

Only the scenario image is captured (``mmlab.scenarios.SCENARIOS``, in order). Scratch files
under ``build/kernel-captures-612/``. Run::

    .venv/bin/python tools/kernel-captures-612/capture612.py

``tests/test_kernel_captures_612.py`` replays the capture on the model's 6.x mode.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import lzma
import re
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
BUILD = ROOT / "build" / "kernel-captures-612"
OUT = ROOT / "data" / "kernel-captures-612"
SOURCE_PKG = "linux-source-6.12"
META_PKG = "linux-image-6.12-amd64"


def _capture_module() -> ModuleType:
    """tools/kernel-captures/capture.py, imported as a module (its helpers, not its main)."""
    path = ROOT / "tools" / "kernel-captures" / "capture.py"
    spec = importlib.util.spec_from_file_location("mmlab_capture61", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


cap = _capture_module()


def fetch_kernel() -> dict:
    """Download and unpack Debian's 6.12 kernel, headers and source (nothing is installed)."""
    debs = cap.fetch_debs(BUILD, META_PKG, "linux-image-6.12", SOURCE_PKG)  # ...6.12.118+deb12
    abi, root, versions = debs["abi"], debs["root"], debs["versions"]
    stock = BUILD / "stock"  # the MTD modules, decompressed
    for rel in cap.STOCK_MODULES:
        packed = root / "lib/modules" / abi / "kernel" / f"{rel}.xz"
        plain = stock / rel
        if not plain.exists():
            plain.parent.mkdir(parents=True, exist_ok=True)
            plain.write_bytes(lzma.decompress(packed.read_bytes()))
    config = (root / "boot" / f"config-{abi}").read_text()
    return {"abi": abi, "packages": debs["packages"], "versions": versions, "kdir": debs["kdir"],
            "vmlinuz": root / "boot" / f"vmlinuz-{abi}", "modules": stock,
            "source_version": versions[SOURCE_PKG],
            "config": {k: _config(config, k) for k in ("CONFIG_PER_VMA_LOCK",
                                                       "CONFIG_PER_VMA_LOCK_STATS")}}


def _config(text: str, key: str) -> str:
    m = re.search(rf"^{key}=(\S+)$", text, re.M)
    return m.group(1) if m else "not set"


def build_modules(kernel: dict) -> dict[str, Path]:
    """cramfs.ko from linux-source-6.12's fs/cramfs and xipmap.ko, against the 6.12 headers."""
    src = BUILD / "src"
    tarball = BUILD / "root/usr/src/linux-source-6.12.tar.xz"
    tree = src / "linux-source-6.12/fs/cramfs"
    if not (tree / "inode.c").exists():
        cap.log("extracting fs/cramfs from linux-source-6.12.tar.xz")
        src.mkdir(parents=True, exist_ok=True)
        cap.run(["tar", "-xJf", tarball, "-C", src, "linux-source-6.12/fs/cramfs"])
    mods = {}
    for name, files in (("cramfs", [tree / f for f in ("inode.c", "uncompress.c", "internal.h")]),
                        ("xipmap", [cap.TOOLS / "xipmap/xipmap.c"])):
        d = BUILD / "mod" / name
        d.mkdir(parents=True, exist_ok=True)
        for f in [*files, cap.TOOLS / name / "Kbuild"]:
            cap.shutil.copy2(f, d / f.name)
        cap.log(f"building {name}.ko")
        # no BTF for our modules (6.12's config would run pahole, which the host lacks)
        cap.run(["make", "-s", "-C", kernel["kdir"], f"M={d}", "modules",
                 "CONFIG_DEBUG_INFO_BTF_MODULES="], stdout=cap.subprocess.DEVNULL)
        mods[name] = d / f"{name}.ko"
    return mods


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--timeout", type=int, default=900, help="seconds for the QEMU run")
    args = ap.parse_args(argv)
    t0 = time.monotonic()
    cap.ensure_host_tools()
    kernel = fetch_kernel()
    mods = build_modules(kernel)
    cap.BUILD, cap.OUT = BUILD, OUT  # capture() writes there
    image, scen = cap.scenario_dicts()
    result = cap.capture("xip-scenarios", image, scen, kernel, mods, args.timeout)
    path = OUT / "xip-scenarios.json"
    result["cramfs_source"] = f"{SOURCE_PKG} {kernel['source_version']} fs/cramfs"
    result["kernel_packages"] = {p: kernel["versions"][p] for p in kernel["packages"]}
    result["kernel_config"] = kernel["config"]
    path.write_text(json.dumps(result, indent=1) + "\n")
    cap.log(f"done in {time.monotonic() - t0:.0f} s")
    return 0 if cap.complete(result, scen) else 1


if __name__ == "__main__":
    sys.exit(main())
