"""How fast the strategy comparison answers a learner: p50/p95 of ~50 driven changes.

Each change goes through the widget's own handlers (``set`` with the widget shown), so the time
is what a learner waits for: the model runs of a scenario not seen before (three or four
strategies; kept afterwards) plus the redraw. Also timed once: replaying and comparing each
real-kernel capture. Goal: well under 50 ms per update.
"""

from __future__ import annotations

import random
import statistics
import time

from mmlab.viz.compare import StrategyExplorer, capture_comparison


def percentiles(times: list[float]) -> tuple[float, float]:
    """p50 and p95 of ``times``, in milliseconds."""
    cuts = statistics.quantiles(times, n=20, method="inclusive")
    return statistics.median(times) * 1e3, cuts[18] * 1e3


def drive(explorer: StrategyExplorer, changes: int = 50, seed: int = 1) -> None:
    """Random learner actions: mostly another scenario, sometimes the v3 column on or off.

    A state seen before is redrawn from the explorer's kept picture; ``main`` also times the
    first visit of every state on its own."""
    rng = random.Random(seed)
    for _ in range(changes):
        if rng.random() < 0.8:
            explorer.set(scenario=rng.choice([n for n in explorer.names if n != explorer.name]))
        else:
            explorer.set(**{"split-v3": not explorer.show_v3})


def main() -> None:
    e = StrategyExplorer()
    e.widget()
    drive(e)
    p50, p95 = percentiles(e.update_times)
    print(f"{'StrategyExplorer':34} {len(e.update_times):3} updates: p50 {p50:5.1f} ms, "
          f"p95 {p95:5.1f} ms (goal < 50 ms)")
    # the first visit of every state: model runs and a full redraw, nothing kept yet
    first = StrategyExplorer()
    first.widget()
    for show_v3 in (False, True):
        first.set(**{"split-v3": show_v3})
        for name in first.names:
            if (name, show_v3) != (first.name, first.show_v3):
                first.set(scenario=name)
    p50, p95 = percentiles(first.update_times)
    print(f"{'StrategyExplorer, first visits':34} {len(first.update_times):3} updates: "
          f"p50 {p50:5.1f} ms, p95 {p95:5.1f} ms (goal < 50 ms)")
    for name in ("xip-scenarios", "xip-sample"):
        start = time.perf_counter()
        rows = capture_comparison(name)
        took = (time.perf_counter() - start) * 1e3
        print(f"capture_comparison({name!r}): {len(rows)} fields, "
              f"{sum(r.same for r in rows)} the same, {took:.0f} ms")


if __name__ == "__main__":
    main()
