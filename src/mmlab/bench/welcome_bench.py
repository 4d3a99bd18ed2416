"""How fast the welcome glance answers: p50/p95 over driven strategy and scenario changes.

Each change runs one XIP scenario on a fresh machine (kept once computed) and redraws.
Goal: well under 50 ms.
"""

from __future__ import annotations

import random

from mmlab.bench.pagecache_bench import report
from mmlab.viz.welcome import STRATEGY_LABELS, XipGlance


def main() -> None:
    glance = XipGlance()
    glance.widget()
    rng = random.Random(1)
    names = list(glance.controls["scenario"].options)
    for _ in range(50):
        if rng.random() < 0.5:
            glance.set(strategy=rng.choice([v for _, v in STRATEGY_LABELS
                                            if v != glance.strategy]))
        else:
            glance.set(scenario=rng.choice([n for n in names if n != glance.name]))
    report("XipGlance (welcome)", glance)


if __name__ == "__main__":
    main()
