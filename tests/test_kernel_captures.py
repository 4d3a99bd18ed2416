"""The model held against a real kernel: the captures in data/kernel-captures/.

Debian 12's kernel (6.1) with Debian's own fs/cramfs ran the XIP scenarios under QEMU (see
data/kernel-captures/README.md). v4.15 merged the "mixedmap" strategy and 6.1 still has it, so
the model runs the same programs in the same order on a machine like the guest's (the image at
physical 0x10000000, the MTD named as there) and must print and count what the kernel did.
The split captures (``"strategy": "split"`` or ``"split-v3"`` in the JSON) come from Debian's
6.1 source built with the 2017 fault-time split (tools/kernel-captures/split/); the model
replays them in that strategy, and also compares the maps after each access (the first fault
past the directly mapped part splits the VMA).
Virtual addresses are compared relative to each mapping's start (the guest's layout differs);
everything else is compared as the kernel printed it: maps lines (offset, device, inode, path),
cramfs's log lines, errno names, smaps counters and VmFlags, signals, fault counts, whether the
bytes match read(2) and the image, and the frames pagemap shows.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from mmlab.physmem import PhysMem
from mmlab.procfs import PM_PFRAME_MASK, PM_PRESENT
from mmlab.scenarios import SCENARIOS, Scenario, run_scenarios, scenario_image
from mmlab.system import System

DATA = Path(__file__).resolve().parent.parent / "data"
CAPTURES = sorted(p for p in (DATA / "kernel-captures").glob("*.json")
                  if not p.name.endswith(".content-checks.json")
                  and not p.name.startswith("split-races"))
#: How far from a mapping's start an address in a log line is taken as one of that mapping's.
_NEAR = 16 << 20


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def image_of(capture: dict) -> bytes:
    for where in (DATA / "kernel-captures" / capture["image"], DATA / capture["image"]):
        if where.exists():
            image = where.read_bytes()
            assert hashlib.sha256(image).hexdigest() == capture["image_sha256"]
            return image
    raise FileNotFoundError(capture["image"])


def strategy_of(capture: dict) -> str:
    """The strategy the guest's cramfs ran: the split captures say so, Debian's is mixedmap."""
    return capture.get("strategy", "mixedmap")


def scenarios_of(capture: dict) -> list[Scenario]:
    out = []
    for sc in capture["scenarios"]:
        reads = tuple(t["page"] for t in sc["touched"] if t["kind"] == "read")
        writes = tuple(t["page"] for t in sc["touched"] if t["kind"] == "write")
        if not sc["touched"] and sc["name"] in {s.name for s in SCENARIOS}:
            known = next(s for s in SCENARIOS if s.name == sc["name"])
            reads, writes = known.touch, known.write
        out.append(Scenario(sc["name"], sc["path"], sc["offset"], sc["length"], sc["prot"],
                            sc["flags"], "", reads, writes, sc["open_write"]))
    return out


def relative_maps(lines: list[str], base: int) -> list[str]:
    out = []
    for line in lines:
        span, rest = line.split(" ", 1)
        start, end = (int(x, 16) - base for x in span.split("-"))
        out.append(f"+{start:#x}-+{end:#x} {rest}")
    return out


def relative_log(lines: list[str], base: int) -> list[str]:
    """Log lines with every address of the mapping written relative to its start."""

    def rel(m: re.Match) -> str:
        value = int(m.group(0), 16)
        return f"<start+{value - base:#x}>" if base <= value < base + _NEAR else m.group(0)

    return [re.sub(r"0x[0-9a-f]+", rel, line) for line in lines]


def smaps_fields(entries: list[dict], base: int) -> list[dict]:
    return [{**{k: v for k, v in e.items() if k not in ("start", "end")},
             "start": e["start"] - base, "end": e["end"] - base} for e in entries]


def frame_class(pfn: int | None, flash: range) -> str:
    if pfn is None:
        return "hidden (no pfn in pagemap)"
    return f"flash pfn {pfn:#x}" if pfn in flash else "a RAM page"


@pytest.fixture(scope="module", params=CAPTURES, ids=lambda p: p.stem)
def replay(request):
    capture = load(request.param)
    phys = capture["phys_addr"]
    system = System(physmem=PhysMem(flash_phys=phys, flash_size=32 << 20))
    runs = run_scenarios(scenarios_of(capture), strategy_of(capture), image=image_of(capture),
                         system=system, phys_addr=phys, mtd_name=capture["mtd_name"])
    checks_path = request.param.with_name(request.param.stem + ".content-checks.json")
    checks = load(checks_path) if checks_path.exists() else []
    return capture, system, runs, checks


def test_there_are_captures_of_both_images_and_both_splits():
    assert {p.stem for p in CAPTURES} == {"xip-scenarios", "xip-sample", "split-scenarios",
                                          "split-v3-scenarios"}


@pytest.mark.parametrize("strategy", ["split", "split-v3"])
def test_the_split_captures_ran_the_patched_kernel_in_their_strategy(strategy):
    capture = load(DATA / "kernel-captures" / f"{strategy}-scenarios.json")
    assert capture["strategy"] == capture["xip_mode"] == strategy
    assert capture["image"] == "xip-scenarios.cramfs"
    assert [s["name"] for s in capture["scenarios"]] == [s.name for s in SCENARIOS]
    # the first fault past the flash part split libc's VMA in two, at page 3
    libc = next(s for s in capture["scenarios"] if s["name"] == "libc-past-xip")
    by_page = {t["page"]: t for t in libc["touched"]}
    assert len(by_page[2]["maps"]) == 1 and len(by_page[3]["maps"]) == 2
    assert any("fault: addr=" in line for line in by_page[3]["kernel_log"])


def test_the_captured_image_is_what_the_writer_makes_today():
    """A real kernel mapped the XIP writer's image in place; a writer change needs new captures."""
    capture = load(DATA / "kernel-captures" / "xip-scenarios.json")
    assert image_of(capture) == scenario_image()
    assert [s["name"] for s in capture["scenarios"]] == [s.name for s in SCENARIOS]


def test_mount_log(replay):
    capture, system, _runs, _ = replay
    assert system.dmesg[:2] == capture["mount"]["kernel_log"]


def test_every_scenario_matches_the_kernel(replay):
    capture, _system, runs, checks = replay
    flash = range(capture["phys_addr"] >> 12, (capture["phys_addr"] >> 12) + (32 << 8))
    truth = {(c["scenario"], c["page"], c["kind"]): c["mapped_matches_image"] for c in checks}
    mismatches = []
    compared = 0
    for sc, run in zip(capture["scenarios"], runs, strict=True):
        assert sc["name"] == run.scenario.name

        def same(what, kernel, model, name=sc["name"]):
            nonlocal compared
            compared += 1
            if kernel != model:
                mismatches.append(f"{name}: {what}: kernel {kernel!r}, model {model!r}")

        same("open errno", sc["open_errno"], run.open_error)
        same("mmap errno", sc["mmap_errno"], run.mmap_error)
        if sc["address"] is None or run.address is None:
            continue
        k, m = sc["address"], run.address
        same("cramfs log", relative_log(sc["kernel_log"], k), relative_log(run.kernel_log, m))
        same("maps", relative_maps(sc["maps"], k), relative_maps(run.maps, m))
        same("maps after", relative_maps(sc["maps_after"], k), relative_maps(run.maps_after, m))
        same("smaps", smaps_fields(sc["smaps"], k), smaps_fields(run.smaps, m))
        same("smaps after", smaps_fields(sc["smaps_after"], k),
             smaps_fields(run.smaps_after, m))
        same("touches", [(t["page"], t["kind"]) for t in sc["touched"]],
             [(t.page, t.kind) for t in run.touches])
        for kt, mt in zip(sc["touched"], run.touches, strict=True):
            what = f"{kt['kind']} page {kt['page']}"
            same(f"{what}: signal", kt["signal"], mt.signal)
            same(f"{what}: faults (minor, major)", (kt["minflt"], kt["majflt"]),
                 (mt.minflt, mt.majflt))
            same(f"{what}: matches read(2)", kt["matches_read"], mt.matches_read)
            same(f"{what}: zero past EOF", kt["zero_past_eof"], mt.zero_past_eof)
            same(f"{what}: cramfs log", relative_log(kt["kernel_log"], k),
                 relative_log(mt.kernel_log, m))
            if "maps" in kt:  # the split captures: the maps right after this access
                same(f"{what}: maps", relative_maps(kt["maps"], k), relative_maps(mt.maps, m))
            pfn = mt.pagemap & PM_PFRAME_MASK if mt.pagemap & PM_PRESENT else None
            same(f"{what}: pagemap frame", frame_class(kt["pfn"], flash), frame_class(pfn, flash))
            key = (sc["name"], kt["page"], kt["kind"])
            if key in truth:
                same(f"{what}: matches the image", truth[key], mt.matches_image)
    assert not mismatches, "\n".join(mismatches)
    assert compared > 100
