"""How fast the page-cache drawings answer a learner: p50/p95 of ~50 driven changes each.

Each change goes through the widget's own handlers (``set``/``press`` with the widget shown), so
the time is what a learner waits for: the model step plus the redraw. Goal: well under 50 ms.
"""

from __future__ import annotations

import random
import statistics

from mmlab.constants import PAGE_SIZE
from mmlab.viz.base import Explorer
from mmlab.viz.pagecache import PageCacheExplorer, RamCostExplorer


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times``, in milliseconds."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times) * 1e3, cuts[18] * 1e3


def drive_pagecache(explorer: PageCacheExplorer, changes: int = 50, seed: int = 1) -> None:
    """Random learner actions: pick a VMA, a page, read or write, touch, read(2), fault-around."""
    rng = random.Random(seed)
    for _ in range(changes):
        what = rng.random()
        if what < 0.35:
            explorer.set(page=rng.randrange(explorer.npages))
        elif what < 0.65:
            explorer.press("touch")
        elif what < 0.75:
            explorer.press("read(2)")
        elif what < 0.85:
            explorer.set(access=rng.choice(["read", "write"]))
        elif what < 0.93:
            explorer.set(vma=rng.choice([s.label for s in explorer.specs]))
        else:
            explorer.set(fault_around_bytes=rng.choice([PAGE_SIZE, 4 * PAGE_SIZE, 65536]))


def drive_ramcost(explorer: RamCostExplorer, changes: int = 50, seed: int = 1) -> None:
    """Random scenario changes (each scenario's runs are computed once, then kept)."""
    rng = random.Random(seed)
    for _ in range(changes):
        explorer.set(scenario=rng.choice([n for n in explorer.names if n != explorer.name]))


def report(name: str, explorer: Explorer) -> None:
    """Print p50/p95 of the explorer's update times."""
    p50, p95 = percentiles(explorer.update_times)
    print(f"{name:34} {len(explorer.update_times):3} updates: p50 {p50:5.1f} ms, "
          f"p95 {p95:5.1f} ms (goal < 50 ms)")


def main() -> None:
    e = PageCacheExplorer()
    e.widget()
    drive_pagecache(e)
    report("PageCacheExplorer (ramfs file)", e)
    c = PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap")
    c.widget()
    drive_pagecache(c)
    report("PageCacheExplorer (cramfs mixedmap)", c)
    r = RamCostExplorer()
    r.widget()
    drive_ramcost(r)
    report("RamCostExplorer", r)


if __name__ == "__main__":
    main()
