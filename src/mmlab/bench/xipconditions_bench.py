"""How fast the XIP conditions explorer answers: p50/p95 over driven control changes.

Each change maps a file on the model (open, mmap, read the log, munmap) and redraws.
Goal: well under 50 ms.
"""

from __future__ import annotations

import random

from mmlab.bench.pagecache_bench import report
from mmlab.viz.xipconditions import PROTS, XipConditionsExplorer


def main() -> None:
    explorer = XipConditionsExplorer()
    explorer.widget()
    rng = random.Random(1)
    choices = {
        "path": list(explorer.files),
        "pgoff": list(range(6)),
        "pages": list(range(1, 6)),
        "prot": list(PROTS),
        "flags": ["MAP_PRIVATE", "MAP_SHARED"],
        "strategy": ["mixedmap", "refuse"],
    }
    for _ in range(50):
        name = rng.choice(list(choices))
        explorer.set(**{name: rng.choice([v for v in choices[name]
                                          if v != explorer.state[name]])})
    report("XipConditionsExplorer (chapter 5)", explorer)


if __name__ == "__main__":
    main()
