"""How fast the vm_pgoff explorer answers: p50/p95 over driven kind, page, file-page and
"written" changes.

A change of kind, file page or "written" builds two small worlds the first time (the scenario
image mounted on a machine with and one without ``pte_special``; kept afterwards); a page change
only redraws. Goal: well under 50 ms.
"""

from __future__ import annotations

import random

from mmlab.bench.pagecache_bench import report
from mmlab.viz.pgoff import KINDS, NPAGES, PgoffExplorer


def main() -> None:
    explorer = PgoffExplorer()
    explorer.widget()
    rng = random.Random(6)
    for _ in range(50):
        what = rng.random()
        if what < 0.4:
            explorer.set(page=rng.choice([p for p in range(NPAGES) if p != explorer.page]))
        elif what < 0.7:
            explorer.set(kind=rng.choice([k[0] for k in KINDS if k[0] != explorer.kind]))
        elif what < 0.85:
            explorer.set(file_page=1 - explorer.file_page)
        else:
            explorer.set(written=not explorer.written)
    report("PgoffExplorer (chapter 6)", explorer)


if __name__ == "__main__":
    main()
