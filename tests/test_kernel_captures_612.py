"""The model's 6.x mode held against Debian's 6.12 kernel: data/kernel-captures-612/.

tools/kernel-captures-612/capture612.py booted Debian's 6.12.118 kernel under QEMU with
linux-source-6.12's fs/cramfs built as a module, and ran every XIP scenario of the course on the
scenario image (the recipe of the 6.1 captures, tools/kernel-captures/). The model replays it on
a 6.12 machine (``System(version=(6, 12))``: per-VMA locks, the newer fault accounting,
``vmf_insert_mixed``...) laid out like the guest, and every field must match, with the same
comparison as the 6.1 captures (tests/test_kernel_captures.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mmlab.physmem import PhysMem
from mmlab.scenarios import SCENARIOS, run_scenarios, scenario_image
from mmlab.system import System
from mmlab.version import V6_12
from tests import test_kernel_captures as k61

CAPTURE = Path(__file__).resolve().parent.parent / "data" / "kernel-captures-612"


def load() -> dict:
    return json.loads((CAPTURE / "xip-scenarios.json").read_text())


def replay(version: tuple[int, int]) -> tuple[dict, System, list, list]:
    capture = load()
    phys = capture["phys_addr"]
    system = System(version=version, physmem=PhysMem(flash_phys=phys, flash_size=32 << 20))
    runs = run_scenarios(k61.scenarios_of(capture), "mixedmap", image=k61.image_of(capture),
                         system=system, phys_addr=phys, mtd_name=capture["mtd_name"])
    checks = json.loads((CAPTURE / "xip-scenarios.content-checks.json").read_text())
    return capture, system, runs, checks


def test_the_capture_is_of_debian_s_6_12_with_per_vma_locks():
    capture = load()
    assert capture["kernel_release"].startswith("6.12.")
    assert capture["cramfs_source"].startswith("linux-source-6.12 6.12.")
    assert capture["kernel_config"]["CONFIG_PER_VMA_LOCK"] == "y"
    assert capture["mount"]["ok"]
    assert [s["name"] for s in capture["scenarios"]] == [s.name for s in SCENARIOS]
    assert k61.image_of(capture) == scenario_image()


def test_mount_log_on_6_12():
    capture, system, _runs, _checks = replay(V6_12)
    assert system.dmesg[:2] == capture["mount"]["kernel_log"]


@pytest.mark.parametrize("version", [V6_12, (6, 18), (4, 15)], ids=["6.12", "6.18", "4.15"])
def test_every_scenario_matches_6_12_on_the_model_s_6_x_mode(version):
    """maps, smaps, cramfs's log, signals, minor/major fault counts, bytes, frames.

    v4.15's rules give the same fields: one thread's faults take another lock on 6.12 (and a
    cold page's is retried), but what the program sees and counts is the same.
    """
    k61.test_every_scenario_matches_the_kernel(replay(version))
