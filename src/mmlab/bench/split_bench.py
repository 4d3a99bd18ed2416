"""How fast chapter 7's explorers answer: p50/p95 over ~50 driven changes each.

``PackingExplorer``: slider and packing changes (no model work but the packing). The race
explorer: first every race is explored once (:meth:`RaceExplorer.precompute`, timed apart: the
big races take 0.3-0.5 s on first visit, then are kept), then random changes of race,
strategy, outcome class and step. Goal: well under 50 ms.
"""

from __future__ import annotations

import random
import time

from mmlab.bench.pagecache_bench import report
from mmlab.race import RACES
from mmlab.viz.split import PackingExplorer, RaceExplorer


def drive_packing(explorer: PackingExplorer, changes: int = 50, seed: int = 1) -> None:
    """Random slider moves, now and then a switch of packing."""
    rng = random.Random(seed)
    for _ in range(changes):
        what = rng.random()
        if what < 0.4:
            explorer.set(split_page=rng.randrange(0, 4096))
        elif what < 0.8:
            explorer.set(split_pgoff=rng.randrange(0, 4096))
        else:
            explorer.set(strategy="split-v3" if explorer.strategy == "split" else "split")


def drive_race(explorer: RaceExplorer, changes: int = 50, seed: int = 1) -> None:
    """Random learner actions: mostly stepping, sometimes another class, race or strategy."""
    rng = random.Random(seed)
    for _ in range(changes):
        what = rng.random()
        if what < 0.45:
            explorer.press("next")
        elif what < 0.55:
            explorer.press("previous")
        elif what < 0.7:
            explorer.set(klass=rng.randrange(len(explorer.classes())))
        elif what < 0.85:
            explorer.set(race=rng.choice([n for n in RACES if n != explorer.name]))
        else:
            explorer.set(strategy="split-v3" if explorer.strategy == "split" else "split")


def main() -> None:
    packing = PackingExplorer()
    packing.widget()
    drive_packing(packing)
    report("PackingExplorer", packing)
    races = RaceExplorer()
    start = time.perf_counter()
    races.precompute()
    print(f"{'RaceExplorer.precompute (14 races)':34} {time.perf_counter() - start:.2f} s once")
    races.widget()
    drive_race(races)
    report("RaceExplorer (precomputed)", races)


if __name__ == "__main__":
    main()
