"""Capture what a real Linux kernel does with an XIP cramfs image (run: ``make captures``).

Steps (scratch files under ``build/kernel-captures/``, results in ``data/kernel-captures/``):

1. Host tools (gcc, make, flex, bison, libelf-dev, cpio, qemu-system-x86, busybox-static) are
   installed with apt-get if missing.
2. Debian's kernel packages (``linux-image``, ``linux-headers``, ``linux-kbuild``,
   ``linux-source-6.1``) are fetched with ``apt-get download`` and unpacked with ``dpkg -x`` into
   the scratch folder: nothing of the kernel is installed on the host.
3. ``fs/cramfs`` of linux-source-6.1 is built out of tree (``cramfs/Kbuild`` defines
   ``CONFIG_CRAMFS_MTD`` and ``CONFIG_CRAMFS_BLOCKDEV``), and so is ``xipmap/xipmap.c``, the MTD
   map that gives cramfs the image's physical address.
4. For each capture, ``probe_table.h`` is generated (from :data:`mmlab.scenarios.SCENARIOS`, or
   from the files of a third-party image) and ``probe.c`` is linked statically against it; a
   busybox initramfs loads the modules and runs the probe.
5. QEMU (TCG) boots Debian's kernel with ``memmap=32M$0x10000000`` and loads the image there with
   ``-device loader``; the probe writes its records to the second serial port.
6. The records become ``data/kernel-captures/<name>.json`` (shape in the README), next to the
   console log, the probe's raw output and the image.

Usage: ``.venv/bin/python tools/kernel-captures/capture.py [scenarios] [sample]`` (both by default).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(__file__).resolve().parent
BUILD = ROOT / "build" / "kernel-captures"
OUT = ROOT / "data" / "kernel-captures"

PHYS_ADDR = 0x1000_0000
RESERVED = 32 << 20
MTD_NAME = "xipcramfs"
MOUNT_POINT = "/mnt"
PAGE_SIZE = 4096
PROT_READ, PROT_EXEC = 1, 4
MAP_PRIVATE = 2
ACCEL = "tcg"  # KVM hangs at kernel entry on this (nested) machine: see the README
QEMU = "qemu-system-x86_64"
# Instruction counting, a seeded RNG and a virtual RTC make two runs identical (pfns, logs).
DETERMINISM = ["-icount", "shift=0,sleep=off", "-seed", "1",
               "-rtc", "base=2026-01-01T00:00:00,clock=vm"]
HOST_PACKAGES = {  # command or file -> Debian package
    "gcc": "gcc", "make": "make", "bc": "bc", "flex": "flex", "bison": "bison",
    "patch": "patch", "xz": "xz-utils",
    "cpio": "cpio", QEMU: "qemu-system-x86", "/bin/busybox": "busybox-static",
    "/usr/include/libelf.h": "libelf-dev", "/usr/lib/x86_64-linux-gnu/libc.a": "libc6-dev",
}
# Modules of Debian's kernel the guest loads before ours, in order.
STOCK_MODULES = ("drivers/mtd/mtd.ko", "drivers/mtd/chips/chipreg.ko",
                 "drivers/mtd/chips/map_rom.ko", "drivers/mtd/maps/map_funcs.ko")
SMAPS_KEYS = ("Rss", "Pss", "Shared_Clean", "Shared_Dirty", "Private_Clean", "Private_Dirty",
              "Anonymous")


def log(msg: str) -> None:
    print(f"[captures] {msg}", flush=True)


def run(cmd, **kw) -> subprocess.CompletedProcess:
    kw.setdefault("check", True)
    return subprocess.run([str(c) for c in cmd], **kw)


def output(cmd) -> str:
    return run(cmd, capture_output=True, text=True).stdout


# ---------------------------------------------------------------- host and packages

def ensure_host_tools() -> None:
    missing = sorted({pkg for what, pkg in HOST_PACKAGES.items()
                      if not (Path(what).exists() if what.startswith("/") else shutil.which(what))})
    if missing:
        log(f"apt-get install {' '.join(missing)}")
        run(["apt-get", "update", "-q"])
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def apt_depends(pkg: str, prefix: str) -> str:
    """The first dependency of ``pkg`` whose name starts with ``prefix``."""
    for line in output(["apt-cache", "depends", pkg]).splitlines():
        m = re.match(r"\s*Depends:\s*(\S+)", line)
        if m and m.group(1).startswith(prefix):
            return m.group(1)
    raise SystemExit(f"apt-cache: {pkg} has no dependency {prefix}*")


def fetch_debs(build: Path, meta_pkg: str, image_prefix: str, source_pkg: str) -> dict:
    """Download Debian's kernel image that ``meta_pkg`` depends on (the first dependency named
    ``image_prefix``...), its headers, their -common and kbuild packages, and ``source_pkg``
    into ``build/debs``, and unpack them into ``build/root`` (nothing is installed); return
    the ABI, the packages, their versions, the root and the headers' tree."""
    debs, root = build / "debs", build / "root"
    debs.mkdir(parents=True, exist_ok=True)
    if not list(debs.glob("linux-image-*.deb")):
        run(["apt-get", "update", "-q"])
    image_pkg = apt_depends(meta_pkg, image_prefix)
    abi = image_pkg.removeprefix("linux-image-")                     # 6.1.0-57-amd64
    headers_pkg = f"linux-headers-{abi}"
    common_pkg = apt_depends(headers_pkg, "linux-headers-")           # ...-common
    kbuild_pkg = apt_depends(headers_pkg, "linux-kbuild-")
    pkgs = [image_pkg, headers_pkg, common_pkg, kbuild_pkg, source_pkg]
    need = [p for p in pkgs if not list(debs.glob(f"{p}_*.deb"))]
    if need:
        log(f"apt-get download {' '.join(need)}")
        run(["apt-get", "download", *need], cwd=debs)
    versions = {}
    for p in pkgs:
        deb = sorted(debs.glob(f"{p}_*.deb"))[-1]
        versions[p] = output(["dpkg-deb", "-f", deb, "Version"]).strip()
        stamp = root / f".unpacked-{deb.name}"
        if not stamp.exists():
            log(f"dpkg -x {deb.name}")
            run(["dpkg", "-x", deb, root])
            stamp.touch()
    # The headers' Makefile includes the -common tree by its absolute /usr/src path.
    kdir = root / "usr/src" / headers_pkg
    mk = kdir / "Makefile"
    text = mk.read_text()
    fixed = re.sub(r"include /usr/src/", f"include {root}/usr/src/", text)
    if fixed != text:
        mk.write_text(fixed)
    return {"abi": abi, "packages": pkgs, "versions": versions, "root": root, "kdir": kdir}


def fetch_kernel() -> dict:
    """Download and unpack Debian's kernel, headers and source; return names and versions."""
    debs = fetch_debs(BUILD, "linux-image-amd64", "linux-image-", "linux-source-6.1")
    abi, root = debs["abi"], debs["root"]
    return {"abi": abi, "packages": debs["packages"], "versions": debs["versions"],
            "kdir": debs["kdir"], "vmlinuz": root / "boot" / f"vmlinuz-{abi}",
            "modules": root / "lib/modules" / abi / "kernel",
            "source_version": debs["versions"]["linux-source-6.1"]}


def build_modules(kernel: dict) -> dict[str, Path]:
    """Build cramfs.ko (Debian's fs/cramfs) and xipmap.ko against the unpacked headers."""
    src = BUILD / "src"
    tarball = BUILD / "root/usr/src/linux-source-6.1.tar.xz"
    if not (src / "linux-source-6.1/fs/cramfs/inode.c").exists():
        log("extracting fs/cramfs from linux-source-6.1.tar.xz")
        src.mkdir(parents=True, exist_ok=True)
        run(["tar", "-xJf", tarball, "-C", src, "linux-source-6.1/fs/cramfs"])
    mods = {}
    for name, files in (("cramfs", [src / "linux-source-6.1/fs/cramfs" / f
                                    for f in ("inode.c", "uncompress.c", "internal.h")]),
                        ("xipmap", [TOOLS / "xipmap/xipmap.c"])):
        d = BUILD / "mod" / name
        d.mkdir(parents=True, exist_ok=True)
        for f in [*files, TOOLS / name / "Kbuild"]:
            shutil.copy2(f, d / f.name)
        log(f"building {name}.ko")
        run(["make", "-s", "-C", kernel["kdir"], f"M={d}", "modules"],
            stdout=subprocess.DEVNULL)
        mods[name] = d / f"{name}.ko"
    return mods


# ---------------------------------------------------------------- captures

def c_str(s: str) -> str:
    return json.dumps(s)  # ASCII names and paths: a JSON string is a C string literal


def probe_table(scenarios: list[dict]) -> str:
    out = ["/* Generated by tools/kernel-captures/capture.py: do not edit. */",
           f"#define MTD_NAME {c_str(MTD_NAME)}", f"#define MOUNT_POINT {c_str(MOUNT_POINT)}"]
    for i, s in enumerate(scenarios):
        for key in ("touch", "write"):
            if s[key]:
                out.append(f"static const int {key}_{i}[] = {{{', '.join(map(str, s[key]))}}};")
    out.append("static const struct scenario SCENARIOS[] = {")
    for i, s in enumerate(scenarios):
        t = f"touch_{i}" if s["touch"] else "NULL"
        w = f"write_{i}" if s["write"] else "NULL"
        out.append(f"\t{{{c_str(s['name'])}, {c_str(s['path'])}, {s['offset']}UL, "
                   f"{s['length']}UL, {s['prot']}, {s['flags']}, {int(s['open_write'])}, "
                   f"{len(s['touch'])}, {t}, {len(s['write'])}, {w}}},")
    out.append("};")
    out.append(f"#define NSCENARIOS {len(scenarios)}")
    return "\n".join(out) + "\n"


def scenario_dicts() -> tuple[bytes, list[dict]]:
    sys.path.insert(0, str(ROOT / "src"))
    from mmlab.scenarios import SCENARIOS, scenario_image
    return scenario_image(), [
        {"name": s.name, "path": s.path, "offset": s.offset, "length": s.length,
         "prot": s.prot, "flags": s.flags, "open_write": s.open_write,
         "touch": list(s.touch), "write": list(s.write)} for s in SCENARIOS]


def sample_dicts(image_path: Path) -> tuple[bytes, list[dict]]:
    """Every regular file of a third-party image: whole file, PROT_READ|PROT_EXEC, MAP_PRIVATE."""
    sys.path.insert(0, str(ROOT / "src"))
    from mmlab.cramfs.reader import open_image
    data = image_path.read_bytes()
    out = []
    with open_image(data) as im:
        for e in im.walk():
            if not e.is_file():
                continue
            pages = -(-e.size // PAGE_SIZE)
            out.append({"name": f"sample:{e.name.decode()}", "path": "/" + e.path,
                        "offset": 0, "length": e.size, "prot": PROT_READ | PROT_EXEC,
                        "flags": MAP_PRIVATE, "open_write": False,
                        "touch": list(range(pages)), "write": []})
    return data, out


INIT = """#!/bin/busybox sh
# Generated by tools/kernel-captures/capture.py.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
for m in {stock}; do $B insmod /modules/$m || echo "insmod $m failed"; done
$B insmod /modules/xipmap.ko phys={phys:#x} size={size:#x} name={mtd}
$B insmod /modules/cramfs.ko dyndbg=+p
echo "probe: start"
/probe > /dev/ttyS1 2>&1
echo "probe: exit $?"
$B sync
$B poweroff -f
"""


def cpio_newc(files: dict[str, tuple[int, bytes]]) -> bytes:
    """A newc cpio archive of ``path -> (mode, data)`` (directories have empty data)."""
    out = bytearray()

    def entry(name: str, mode: int, data: bytes, ino: int) -> None:
        nb = name.encode() + b"\0"
        hdr = ("070701" + "".join(f"{v:08x}" for v in (
            ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(nb), 0))).encode()
        out.extend(hdr + nb)
        out.extend(b"\0" * (-len(out) % 4))
        out.extend(data)
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, (mode, data)) in enumerate(sorted(files.items()), start=1):
        entry(name, mode, data, ino)
    entry("TRAILER!!!", 0, b"", 0)
    return bytes(out)


def build_initramfs(work: Path, kernel: dict, mods: dict[str, Path], probe: Path) -> Path:
    d = stat.S_IFDIR | 0o755
    x = stat.S_IFREG | 0o755
    r = stat.S_IFREG | 0o644
    files: dict[str, tuple[int, bytes]] = {n: (d, b"") for n in
                                           ("bin", "dev", "proc", "sys", "mnt", "modules")}
    files["bin/busybox"] = (x, Path("/bin/busybox").read_bytes())
    files["probe"] = (x, probe.read_bytes())
    stock = []
    for rel in STOCK_MODULES:
        name = Path(rel).name
        files[f"modules/{name}"] = (r, (kernel["modules"] / rel).read_bytes())
        stock.append(name)
    for name, ko in mods.items():
        files[f"modules/{name}.ko"] = (r, ko.read_bytes())
    files["init"] = (x, INIT.format(stock=" ".join(stock), phys=PHYS_ADDR, size=RESERVED,
                                    mtd=MTD_NAME).encode())
    initrd = work / "initrd.cpio.gz"
    initrd.write_bytes(gzip.compress(cpio_newc(files), mtime=0))
    return initrd


def boot(work: Path, kernel: dict, initrd: Path, image: Path,
         timeout: int, *, extra_append: str = "", smp: int = 1,
         deterministic: bool = True) -> tuple[str, str, float]:
    console, records = work / "console.log", work / "probe.out"
    for f in (console, records):
        f.unlink(missing_ok=True)
    append = (f"console=ttyS0 loglevel=8 memmap={RESERVED >> 20}M${PHYS_ADDR:#x} norandmaps "
              "panic=-1 rdinit=/init" + (f" {extra_append}" if extra_append else ""))
    cmd = [QEMU, "-accel", ACCEL, "-cpu", "max", "-smp", str(smp), "-m", "512M",
           *(DETERMINISM if deterministic else DETERMINISM[2:]),  # no -icount: see split_races
           "-display", "none", "-vga", "none", "-monitor", "none", "-no-reboot",
           "-kernel", kernel["vmlinuz"], "-initrd", initrd, "-append", append,
           "-device", f"loader,file={image},addr={PHYS_ADDR:#x},force-raw=on",
           "-serial", f"file:{console}", "-serial", f"file:{records}"]
    (work / "qemu-command.txt").write_text(" ".join(map(str, cmd)) + "\n")
    log("booting: " + " ".join(map(str, cmd)))
    t0 = time.monotonic()
    try:
        run(cmd, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        log(f"QEMU did not power off within {timeout} s")
    took = time.monotonic() - t0
    return (console.read_text(errors="replace") if console.exists() else "",
            records.read_text(errors="replace") if records.exists() else "", took)


def parse_records(text: str, scenarios: list[dict], *, touch_maps: bool = False) -> dict:
    """Turn the probe's "TAG fields" lines into the JSON's guest part.

    ``touch_maps``: the probe printed the maps after each touch (``MAPS touch``, the split
    captures); each touch then has a ``maps`` list.
    """
    res: dict = {"release": None, "version": None, "page_size": None, "xip_mode": None,
                 "mount": {"ok": False, "kernel_log": []}, "scenarios": [], "done": False,
                 "hashes": []}
    by_name = {s["name"]: s for s in scenarios}
    cur = None
    last_touch = None
    smaps_cur: dict | None = None
    for line in text.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "RELEASE":
            res["release"] = rest
        elif tag == "VERSION":
            res["version"] = rest
        elif tag == "PAGE_SIZE":
            res["page_size"] = int(rest)
        elif tag == "XIP_MODE":
            res["xip_mode"] = rest.strip()
        elif tag == "MLOG":
            res["mount"]["kernel_log"].append(rest)
        elif tag == "MOUNT":
            res["mount"]["ok"] = rest == "ok"
            if rest != "ok":
                res["mount"]["errno"] = rest
        elif tag == "SCENARIO":
            s = by_name[rest]
            cur = {k: s[k] for k in ("name", "path", "offset", "length", "prot", "flags",
                                     "open_write")}
            cur.update({"open_errno": None, "mmap_errno": None, "address": None,
                        "kernel_log": [], "maps": [], "smaps": [], "touched": [],
                        "maps_after": [], "smaps_after": []})
            res["scenarios"].append(cur)
        elif tag == "OPEN_ERRNO":
            cur["open_errno"] = rest
        elif tag == "MMAP_ERRNO":
            cur["mmap_errno"] = rest
        elif tag == "ADDRESS":
            cur["address"] = int(rest)
        elif tag == "LOG":
            cur["kernel_log"].append(rest)
        elif tag == "MAPS":
            phase, _, raw = rest.partition(" ")
            if phase == "touch":
                last_touch["maps"].append(raw)
            else:
                cur["maps" if phase == "before" else "maps_after"].append(raw)
        elif tag == "SMAPS":
            phase, key, val = (rest.split(" ", 2) + [""])[:3]
            target = cur["smaps" if phase == "before" else "smaps_after"]
            if key == "VMA":
                start, end = val.split()
                smaps_cur = {"start": int(start), "end": int(end)}
                target.append(smaps_cur)
            elif key == "VmFlags":
                smaps_cur["VmFlags"] = val
            else:
                smaps_cur[key] = int(val)
        elif tag == "TOUCH":
            page, kind, sig, match, zero, minflt, majflt, pfn, hmap, hfile = rest.split()
            tri = {"true": True, "false": False, "-": None}
            last_touch = {"page": int(page), "kind": kind, "signal": None if sig == "-" else sig,
                          "matches_read": tri[match], "zero_past_eof": tri[zero],
                          "minflt": int(minflt), "majflt": int(majflt),
                          "pfn": None if int(pfn) < 0 else int(pfn), "kernel_log": []}
            if touch_maps:
                last_touch["maps"] = []
            cur["touched"].append(last_touch)
            res["hashes"].append((cur["name"], last_touch, hmap, hfile))
        elif tag == "TLOG":
            last_touch["kernel_log"].append(rest)
        elif tag == "DONE":
            res["done"] = True
    return res


def fnv1a(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def content_checks(image_bytes: bytes, scenarios: list[dict], hashes: list) -> list[dict]:
    """Compare each touched page (as mapped, and as pread returned it) with the file's bytes
    in the image, read by mmlab's reader: the probe's own check only compares the two."""
    sys.path.insert(0, str(ROOT / "src"))
    from mmlab.cramfs.reader import open_image
    by_name = {s["name"]: s for s in scenarios}
    out = []
    with open_image(image_bytes) as im:
        files = {}
        for name, touch, hmap, hfile in hashes:
            s = by_name[name]
            if s["path"] not in files:
                files[s["path"]] = im.read_file(im.lookup(s["path"].lstrip("/")))
            start = s["offset"] + touch["page"] * PAGE_SIZE
            want = bytearray(files[s["path"]][start:start + PAGE_SIZE].ljust(PAGE_SIZE, b"\0"))
            if touch["kind"] == "write":
                want[0] = 0x5A
            expect = fnv1a(bytes(want))
            out.append({"scenario": name, "page": touch["page"], "kind": touch["kind"],
                        "mapped_matches_image": None if hmap == "-" else hmap == expect,
                        "pread_matches_image": None if hfile == "-" else hfile == expect})
    return out


def capture(name: str, image_bytes: bytes, scenarios: list[dict], kernel: dict,
            mods: dict[str, Path], timeout: int) -> dict:
    work = BUILD / name
    work.mkdir(parents=True, exist_ok=True)
    image = work / f"{name}.cramfs"
    image.write_bytes(image_bytes)
    (work / "probe_table.h").write_text(probe_table(scenarios))
    shutil.copy2(TOOLS / "probe.c", work / "probe.c")
    probe = work / "probe"
    log(f"{name}: building the probe ({len(scenarios)} scenarios)")
    run(["gcc", "-static", "-O1", "-Wall", "-o", probe, work / "probe.c"])
    initrd = build_initramfs(work, kernel, mods, probe)
    console, records, took = boot(work, kernel, initrd, image, timeout)
    guest = parse_records(records, scenarios)
    if not guest["done"]:
        log(f"{name}: the probe did not finish; see {work}/console.log and probe.out")
    qemu_version = output([QEMU, "--version"]).splitlines()[0]
    result = {
        "schema": 1,
        "kernel_release": guest["release"], "kernel_version": guest["version"],
        "cramfs_source": f"linux-source-6.1 {kernel['source_version']} fs/cramfs",
        "qemu": qemu_version, "accel": ACCEL,
        "page_size": guest["page_size"], "image": image.name,
        "image_sha256": hashlib.sha256(image_bytes).hexdigest(),
        "phys_addr": PHYS_ADDR, "mtd_name": MTD_NAME, "mount_point": MOUNT_POINT,
        "mount": guest["mount"], "scenarios": guest["scenarios"],
    }
    write_capture(name, result, content_checks(image_bytes, scenarios, guest["hashes"]),
                  console, records)
    if name != "xip-sample":  # that image is already in data/
        shutil.copy2(image, OUT / image.name)
    log(f"{name}: {len(result['scenarios'])} scenarios captured in {took:.1f} s of QEMU "
        f"-> {OUT / (name + '.json')}")
    return result


# ---------------------------------------------------------------- the split kernel (issue 20)
# Debian's linux-source-6.1 built whole, small (tinyconfig + split/kernel.config), KASAN and
# lockdep on, with cramfs and xipmap built in and split/cramfs-xip-split.patch applied: the
# fault-time split of 2017 ("split", "split-v3") next to 6.1's own "mixedmap".
SPLIT = TOOLS / "split"
SPLIT_PATCH = SPLIT / "cramfs-xip-split.patch"
SPLIT_CONFIG = SPLIT / "kernel.config"
SPLIT_STRATEGIES = ("split", "split-v3")
SPLIT_APPEND = "cramfs.dyndbg=+p kasan_multi_shot reboot=t"
WINDOW_MS = 200            # the widened window: debugfs cramfs/window_ms
ALONE_HINT = 0x00F0_0000_0000_0000  # above the stack (5-level paging): the process's top VMA
RACE_SCENARIO = "libc-past-xip"     # mmlab.race.explore's default mapping
RACE_LAYOUTS = ("typical", "alone")
# Races of mmlab.race.RACES not run: a SIGKILL needs a third actor (the model says nothing
# breaks there either).
RACES_NOT_RUN = {"fatal signal": "a SIGKILL while waiting for the write lock needs a third "
                                 "actor; the model finds nothing broken"}
# A reproducible build: the version string (uname -v, the boot log) names no date or host.
KBUILD_ENV = {"KBUILD_BUILD_TIMESTAMP": "2026-01-01 00:00:00 UTC", "KBUILD_BUILD_USER": "mmlab",
              "KBUILD_BUILD_HOST": "mmlab", "KBUILD_BUILD_VERSION": "1"}


def kernel_build_dir() -> Path:
    """Where the kernel tree and its objects live (big: not in the repository's data)."""
    return Path(os.environ.get("MMLAB_KERNEL_BUILD", BUILD / "split-kernel"))


def fetch_source() -> tuple[Path, str]:
    """linux-source-6.1 downloaded and unpacked (not installed): its tarball and version."""
    debs, root = BUILD / "debs", BUILD / "root"
    debs.mkdir(parents=True, exist_ok=True)
    pkg = "linux-source-6.1"
    if not list(debs.glob(f"{pkg}_*.deb")):
        run(["apt-get", "update", "-q"])
        log(f"apt-get download {pkg}")
        run(["apt-get", "download", pkg], cwd=debs)
    deb = sorted(debs.glob(f"{pkg}_*.deb"))[-1]
    stamp = root / f".unpacked-{deb.name}"
    if not stamp.exists():
        log(f"dpkg -x {deb.name}")
        run(["dpkg", "-x", deb, root])
        stamp.touch()
    version = output(["dpkg-deb", "-f", deb, "Version"]).strip()
    return root / "usr/src/linux-source-6.1.tar.xz", version


def _write_if_changed(path: Path, data: bytes) -> bool:
    if path.exists() and path.read_bytes() == data:
        return False
    path.write_bytes(data)
    return True


def patched_inode_c(tarball: Path) -> bytes:
    """fs/cramfs/inode.c of the tarball with split/cramfs-xip-split.patch applied."""
    tmp = BUILD / "split-patch"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    run(["tar", "-xJf", tarball, "-C", tmp, "linux-source-6.1/fs/cramfs/inode.c"])
    tree = tmp / "linux-source-6.1"
    run(["patch", "-s", "-p1", "--no-backup-if-mismatch", "-d", tree, "-i", SPLIT_PATCH])
    return (tree / "fs/cramfs/inode.c").read_bytes()


def build_split_kernel() -> dict:
    """Unpack, patch, configure and build the kernel (make -j2 bzImage); reuse what is there."""
    tarball, version = fetch_source()
    kb = kernel_build_dir()
    src, obj = kb / "linux-source-6.1", kb / "obj"
    if not (src / "Makefile").exists():
        log(f"extracting linux-source-6.1 into {kb}")
        kb.mkdir(parents=True, exist_ok=True)
        run(["tar", "-xJf", tarball, "-C", kb])
    if _write_if_changed(src / "fs/cramfs/inode.c", patched_inode_c(tarball)):
        log("fs/cramfs/inode.c: patched")
    # xipmap, the board-file-like MTD map, built in after the map_rom chip driver
    _write_if_changed(src / "drivers/mtd/maps/xipmap.c", (TOOLS / "xipmap/xipmap.c").read_bytes())
    mk = src / "drivers/mtd/maps/Makefile"
    line = "obj-$(CONFIG_MTD_ROM) += xipmap.o"
    if line not in mk.read_text():
        mk.write_text(mk.read_text() + line + "\n")
    obj.mkdir(parents=True, exist_ok=True)
    fragment = SPLIT_CONFIG.read_text()
    stamp = obj / ".mmlab-config-fragment"
    if not (obj / ".config").exists() or not stamp.exists() or stamp.read_text() != fragment:
        log("configuring: tinyconfig + split/kernel.config")
        make = ["make", "-s", "-C", src, f"O={obj}", "ARCH=x86_64"]
        run([*make, "tinyconfig"], stdout=subprocess.DEVNULL)
        run([src / "scripts/kconfig/merge_config.sh", "-m", "-O", obj, obj / ".config",
             SPLIT_CONFIG], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        run([*make, "olddefconfig"], stdout=subprocess.DEVNULL)
        config = (obj / ".config").read_text().splitlines()
        missing = [x for x in fragment.splitlines() if x.startswith("CONFIG_") and x not in config]
        if missing:
            raise SystemExit(f"the kernel config lacks {', '.join(missing)}")
        stamp.write_text(fragment)
    log("make -j2 bzImage (KASAN + lockdep: several minutes from scratch)")
    t0 = time.monotonic()
    run(["make", "-s", "-C", src, f"O={obj}", "ARCH=x86_64", "-j2", "bzImage"],
        env={**os.environ, **KBUILD_ENV}, stdout=subprocess.DEVNULL)
    took = time.monotonic() - t0
    log(f"kernel built in {took:.0f} s")
    return {"vmlinuz": obj / "arch/x86/boot/bzImage", "source_version": version,
            "build_seconds": took,
            "release": (obj / "include/config/kernel.release").read_text().strip(),
            "patch_sha256": hashlib.sha256(SPLIT_PATCH.read_bytes()).hexdigest(),
            "config_sha256": hashlib.sha256((obj / ".config").read_bytes()).hexdigest()}


def split_initramfs(work: Path, programs: dict[str, Path], init: str) -> Path:
    """busybox, the given programs and ``init``: nothing to load, everything is built in."""
    d, x = stat.S_IFDIR | 0o755, stat.S_IFREG | 0o755
    files: dict[str, tuple[int, bytes]] = {n: (d, b"")
                                           for n in ("bin", "dev", "proc", "sys", "mnt")}
    files["bin/busybox"] = (x, Path("/bin/busybox").read_bytes())
    for name, path in programs.items():
        files[name] = (x, path.read_bytes())
    files["init"] = (x, init.encode())
    initrd = work / "initrd.cpio.gz"
    initrd.write_bytes(gzip.compress(cpio_newc(files), mtime=0))
    return initrd


SPLIT_INIT = """#!/bin/busybox sh
# Generated by tools/kernel-captures/capture.py.
B=/bin/busybox
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
$B mount -t debugfs debugfs /sys/kernel/debug
{body}
$B sync
$B reboot -f
"""


def split_scenarios(strategy: str, kernel: dict, image_bytes: bytes, scenarios: list[dict],
                    timeout: int) -> dict:
    """The scenarios of mmlab.scenarios on the patched kernel under ``strategy``."""
    name = f"{strategy}-scenarios"
    work = BUILD / name
    work.mkdir(parents=True, exist_ok=True)
    image = work / "xip-scenarios.cramfs"
    image.write_bytes(image_bytes)
    (work / "probe_table.h").write_text("#define PROBE_TOUCH_MAPS 1\n" + probe_table(scenarios))
    shutil.copy2(TOOLS / "probe.c", work / "probe.c")
    probe = work / "probe"
    log(f"{name}: building the probe ({len(scenarios)} scenarios)")
    run(["gcc", "-static", "-O1", "-Wall", "-o", probe, work / "probe.c"])
    body = ('echo "probe: start"\n/probe > /dev/ttyS1 2>&1\necho "probe: exit $?"')
    initrd = split_initramfs(work, {"probe": probe}, SPLIT_INIT.format(body=body))
    console, records, took = boot(work, kernel, initrd, image, timeout,
                                  extra_append=f"{SPLIT_APPEND} cramfs.xip_mode={strategy}")
    guest = parse_records(records, scenarios, touch_maps=True)
    if not guest["done"]:
        log(f"{name}: the probe did not finish; see {work}/console.log and probe.out")
    result = {
        "schema": 1, "strategy": strategy, "xip_mode": guest["xip_mode"],
        "kernel_release": guest["release"], "kernel_version": guest["version"],
        "kernel": _kernel_facts(kernel),
        "qemu": output([QEMU, "--version"]).splitlines()[0], "accel": ACCEL, "smp": 1,
        "page_size": guest["page_size"], "image": image.name,
        "image_sha256": hashlib.sha256(image_bytes).hexdigest(),
        "phys_addr": PHYS_ADDR, "mtd_name": MTD_NAME, "mount_point": MOUNT_POINT,
        "mount": guest["mount"], "scenarios": guest["scenarios"],
    }
    write_capture(name, result, content_checks(image_bytes, scenarios, guest["hashes"]),
                  console, records)
    log(f"{name}: {len(result['scenarios'])} scenarios in {took:.1f} s of QEMU")
    return result


def write_capture(name: str, result: dict, checks: list[dict], console: str,
                  records: str) -> None:
    """The four files of one capture in OUT: the JSON, its content checks, the console log and
    the probe's records."""
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n")
    (OUT / f"{name}.content-checks.json").write_text(json.dumps(checks, indent=1) + "\n")
    (OUT / f"{name}.console.log").write_text(console)
    (OUT / f"{name}.probe.txt").write_text(records)


def _kernel_facts(kernel: dict) -> dict:
    return {"source": f"linux-source-6.1 {kernel['source_version']}",
            "release": kernel["release"],
            "config": "tinyconfig + tools/kernel-captures/split/kernel.config",
            "config_sha256": kernel["config_sha256"],
            "patch": "tools/kernel-captures/split/cramfs-xip-split.patch",
            "patch_sha256": kernel["patch_sha256"]}


def race_table() -> tuple[str, list[str]]:
    """race_table.h for races.c from mmlab.race.RACES, and the names it holds."""
    sys.path.insert(0, str(ROOT / "src"))
    from mmlab.race import RACES, Fault, Mprotect, Mremap, Munmap, Remap
    from mmlab.scenarios import scenario
    sc = scenario(RACE_SCENARIO)

    def actor(t) -> str:
        if isinstance(t, Fault):
            return f"{{{'FAULT' if t.allow_retry else 'GUP'}, {t.page}, 0, 0, NULL}}"
        if isinstance(t, Munmap):
            return f"{{MUNMAP, {t.page}, {t.pages}, 0, NULL}}"
        if isinstance(t, Mprotect):
            return f"{{MPROTECT, {t.page}, {t.pages}, {t.prot}, NULL}}"
        if isinstance(t, Remap):
            return "{REMAP, 0, 0, 0, NULL}"
        if isinstance(t, Mremap):
            return f"{{MREMAP, {t.page}, 0, 0, {c_str(t.path)}}}"
        raise SystemExit(f"races.c cannot run a {type(t).__name__}")

    names = [n for n in RACES if n not in RACES_NOT_RUN]
    out = ["/* Generated by tools/kernel-captures/capture.py from mmlab.race.RACES. */",
           f"#define MOUNT_POINT {c_str(MOUNT_POINT)}", f"#define MAP_PATH {c_str(sc.path)}",
           f"#define MAP_OFFSET {sc.offset}", f"#define MAP_LENGTH {sc.length}UL",
           f"#define MAP_PROT {sc.prot}", f"#define MAP_FLAGS {sc.flags}",
           f"#define ALONE_HINT {ALONE_HINT:#x}UL", "static const struct race RACES[] = {"]
    for n in names:
        a, b = RACES[n]
        out.append(f"\t{{{c_str(n)}, {actor(a)}, {actor(b)}}},")
    out += ["};", f"#define NRACES {len(names)}"]
    return "\n".join(out) + "\n", names


def parse_race(records: str, console: str) -> dict:
    """One race run: the threads' lines, the maps, and the kernel's words during the race."""
    res: dict = {"base": None, "other": None, "a": None, "b": None, "b_start": None,
                 "window_entries": None, "maps_before": [], "maps_after": [], "exit": None,
                 "timeout": False, "tasks": [], "notes": []}
    for line in records.splitlines():
        tag, _, rest = line.partition(" ")
        if tag == "BASE":
            res["base"] = int(rest, 16)
        elif tag == "OTHER":
            res["other"] = rest
        elif tag == "B" and rest.startswith("starts"):
            res["b_start"] = rest
        elif tag in ("A", "B"):
            res[tag.lower()] = rest
        elif tag == "WINDOW":
            res["window_entries"] = int(rest.split()[1])
        elif tag == "MAPS":
            phase, _, raw = rest.partition(" ")
            res["maps_before" if phase == "before" else "maps_after"].append(raw)
        elif tag == "EXIT":
            res["exit"] = rest
        elif tag == "TIMEOUT":
            res["timeout"] = True
        elif tag in ("TASK", "STACK"):
            res["tasks"].append(f"{tag} {rest}")
        elif tag in ("NOTE", "ERROR"):
            res["notes"].append(line)
    res["console"] = race_console(console)
    return res


#: Console lines that the race has nothing to do with and that come at no fixed point (the
#: PS/2 mouse is probed asynchronously while init runs).
_ASYNC = re.compile(r"input: ImExPS/2|input: AT Translated|serio: i8042")


def race_console(console: str) -> list[str]:
    """The console from "race: start" to "race: end", without the timestamps (the races run
    without -icount, so the times differ from run to run) and without the asynchronous lines."""
    lines = console.splitlines()
    start = next((i for i, x in enumerate(lines) if "race: start" in x), len(lines))
    end = next((i for i, x in enumerate(lines) if "race: end" in x), len(lines))
    return [re.sub(r"^\[\s*\d+\.\d+\] ", "", x) for x in lines[start:end + 1]
            if not _ASYNC.search(x)]


def page_names(image_bytes: bytes) -> dict[str, str]:
    """FNV-1a of every page of every file of the image (zero-padded) -> "libc.so.6 page 3"."""
    sys.path.insert(0, str(ROOT / "src"))
    from mmlab.cramfs.reader import open_image
    out = {fnv1a(bytes(PAGE_SIZE)): "zeros"}
    with open_image(image_bytes) as im:
        for e in im.walk():
            if e.is_file():
                data = im.read_file(e)
                for i in range(0, len(data), PAGE_SIZE):
                    page = data[i:i + PAGE_SIZE].ljust(PAGE_SIZE, b"\0")
                    out.setdefault(fnv1a(page), f"{e.name.decode()} page {i // PAGE_SIZE}")
    return out


def _shows(result: str | None, names: dict[str, str]) -> str | None:
    """What a thread's page showed: "libc.so.6 page 3", or its signal/errno."""
    if not result:
        return None
    words = result.split(": ", 1)[-1].split()
    if words[0] == "ok" and len(words) > 1:
        return names.get(words[1], "bytes of no file page")
    return words[0]


def split_races(kernel: dict, image_bytes: bytes, timeout: int,
                only: list[str] | None = None) -> dict:
    """Every race of mmlab.race (but RACES_NOT_RUN) on the patched kernel: one boot per race,
    strategy and layout, the window widened to WINDOW_MS. ``only``: these races alone (a trial;
    the JSON is then written to the scratch folder, not to data/)."""
    work = BUILD / "split-races"
    work.mkdir(parents=True, exist_ok=True)
    image = work / "xip-scenarios.cramfs"
    image.write_bytes(image_bytes)
    table, names = race_table()
    (work / "race_table.h").write_text(table)
    shutil.copy2(SPLIT / "races.c", work / "races.c")
    prog = work / "races"
    log(f"split-races: building races.c ({len(names)} races)")
    run(["gcc", "-static", "-O1", "-Wall", "-pthread", "-o", prog, work / "races.c"])
    runs, boot_log, raw = [], "", []
    pages = page_names(image_bytes)
    for name in (only or names):
        for strategy in SPLIT_STRATEGIES:
            for layout in RACE_LAYOUTS:
                body = (f"$B mount -t cramfs -o ro mtd:{MTD_NAME} {MOUNT_POINT} "
                        "|| echo 'mount failed'\n"
                        f"echo {WINDOW_MS} > /sys/kernel/debug/cramfs/window_ms\n"
                        f"echo 'race: start {name} {strategy} {layout}'\n"
                        f"/races '{name}' {layout} > /dev/ttyS1 2>&1\n"
                        "echo 'race: end'")
                initrd = split_initramfs(work, {"races": prog}, SPLIT_INIT.format(body=body))
                console, records, took = boot(
                    work, kernel, initrd, image, timeout, smp=2, deterministic=False,
                    extra_append=f"{SPLIT_APPEND} cramfs.xip_mode={strategy}")
                got = parse_race(records, console)
                raw.append(f"===== {name} / {strategy} / {layout}\n" + "\n".join(
                    x for x in console.splitlines()[console[:console.find("race: start")]
                                                    .count("\n"):]) + "\n")
                got.update({"race": name, "strategy": strategy, "layout": layout,
                            "a_shows": _shows(got["a"], pages),
                            "b_shows": _shows(got["b"], pages),
                            "qemu_seconds": None})
                runs.append(got)
                if not boot_log:
                    boot_log = console
                log(f"split-races: {name} / {strategy} / {layout}: A {got['a']}; B {got['b']}"
                    f"{'; TIMEOUT' if got['timeout'] else ''} ({took:.1f} s)")
    for r in runs:
        del r["qemu_seconds"]
    result = {"schema": 1, "kernel": _kernel_facts(kernel),
              "qemu": output([QEMU, "--version"]).splitlines()[0], "accel": ACCEL, "smp": 2,
              "append": SPLIT_APPEND, "window_ms": WINDOW_MS, "scenario": RACE_SCENARIO,
              "alone_hint": ALONE_HINT, "not_run": RACES_NOT_RUN,
              "image": image.name, "image_sha256": hashlib.sha256(image_bytes).hexdigest(),
              "runs": runs}
    out = work if only else OUT
    out.mkdir(parents=True, exist_ok=True)
    (out / "split-races.json").write_text(json.dumps(result, indent=1) + "\n")
    start = boot_log.find("race: start")
    (out / "split-races.boot.console.log").write_text(boot_log[:start if start >= 0 else None])
    (out / "split-races.console.log").write_text("".join(raw))
    return result


def complete(result: dict, scenarios: list[dict]) -> bool:
    return bool(result["mount"]["ok"]) and len(result["scenarios"]) == len(scenarios)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("which", nargs="*", metavar="scenarios|sample|split|races",
                    help="captures to make (default: all four)")
    ap.add_argument("--timeout", type=int, default=900, help="seconds for one QEMU run")
    ap.add_argument("--race", action="append", metavar="NAME",
                    help="races: run only this race of mmlab.race.RACES (repeatable; a trial, "
                         "written to build/kernel-captures/split-races/)")
    args = ap.parse_args(argv)
    every = ["scenarios", "sample", "split", "races"]
    which = args.which or every
    if set(which) - set(every):
        ap.error("captures are: " + ", ".join(every))
    t0 = time.monotonic()
    ensure_host_tools()
    ok = True
    if {"split", "races"} & set(which):
        split_kernel = build_split_kernel()
        image, scen = scenario_dicts()
        if "split" in which:
            for strategy in SPLIT_STRATEGIES:
                r = split_scenarios(strategy, split_kernel, image, scen, args.timeout)
                ok &= complete(r, scen)
        if "races" in which:
            split_races(split_kernel, image, args.timeout, args.race)
    if not {"scenarios", "sample"} & set(which):
        log(f"done in {time.monotonic() - t0:.0f} s")
        return 0 if ok else 1
    kernel = fetch_kernel()
    mods = build_modules(kernel)
    if "scenarios" in which:
        image, scen = scenario_dicts()
        r = capture("xip-scenarios", image, scen, kernel, mods, args.timeout)
        ok &= complete(r, scen)
    if "sample" in which:
        image, scen = sample_dicts(ROOT / "data" / "xip-sample.cramfs")
        r = capture("xip-sample", image, scen, kernel, mods, args.timeout)
        ok &= complete(r, scen)
    log(f"done in {time.monotonic() - t0:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
