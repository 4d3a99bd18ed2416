"""How fast the page-table and physical-memory drawings answer a learner: p50/p95 of 50 changes.

Each change goes through the widget's own handlers (``set`` with the widget shown) and is timed
from the learner's side, around the ``set`` call: when one control updates another (a page list
following the chosen VMA) that is still one action and one redraw. Goal: well under 50 ms.
"""

from __future__ import annotations

import random
import statistics
import time

from mmlab.viz.base import Explorer
from mmlab.viz.pagetable import PageTableWalkExplorer
from mmlab.viz.physmem import PhysMemExplorer, xip_scene


def timed(explorer: Explorer, **values: object) -> float:
    """One learner change, timed around ``set``."""
    start = time.perf_counter()
    explorer.set(**values)
    return time.perf_counter() - start


def drive_walk(explorer: PageTableWalkExplorer, changes: int = 50, seed: int = 1) -> list[float]:
    """Typed addresses (present, absent, invalid) and chosen pages."""
    rng = random.Random(seed)
    times = []
    for i in range(changes):
        what = rng.random()
        if what < 0.4:
            times.append(timed(explorer, page=rng.choice(explorer.pages)))
        elif what < 0.9:
            base = rng.choice(explorer.pages)
            address = base ^ (rng.randrange(1 << 12) | (rng.choice([0, 1]) << rng.randrange(12,
                                                                                            47)))
            times.append(timed(explorer, address=f"{address:#x}"))
        else:
            times.append(timed(explorer, address=f"not-an-address-{i}"))
    return times


def drive_physmem(explorer: PhysMemExplorer, changes: int = 50, seed: int = 1) -> list[float]:
    """Chosen VMAs and pages (each VMA change also refills the page list)."""
    rng = random.Random(seed)
    times = []
    for _ in range(changes):
        if rng.random() < 0.4:
            current = explorer.controls["vma"].value  # type: ignore[attr-defined]
            others = [i for i in range(len(explorer.vmas)) if i != current]
            times.append(timed(explorer, vma=rng.choice(others)))
        else:
            options = explorer.controls["page"].options  # type: ignore[attr-defined]
            current = explorer.controls["page"].value  # type: ignore[attr-defined]
            choices = [v for _, v in options if v != current] or [v for _, v in options]
            times.append(timed(explorer, page=rng.choice(choices)))
    return times


def report(name: str, times: list[float]) -> None:
    """Print p50/p95 of ``times``."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    print(f"{name:24} {len(times):3} changes: p50 {statistics.median(times) * 1e3:5.1f} ms, "
          f"p95 {cuts[18] * 1e3:5.1f} ms (goal < 50 ms)")


def main() -> None:
    mm, _ = xip_scene()
    walk = PageTableWalkExplorer(mm)
    walk.widget()
    report("PageTableWalkExplorer", drive_walk(walk))
    phys = PhysMemExplorer(mm)
    phys.widget()
    report("PhysMemExplorer", drive_physmem(phys))


if __name__ == "__main__":
    main()
