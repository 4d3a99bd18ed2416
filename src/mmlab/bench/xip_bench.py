"""How fast the XIP model answers: scenarios under each strategy, the probe replay, the races.

A notebook re-runs a scenario when a learner changes a strategy or a scenario in a widget, so a
run should take a few milliseconds (goal: under 100 ms including the drawing); the race explorer
runs every interleaving from scratch, so its figure is what the course pays to show a race
(the notebooks may precompute the larger ones).
"""

from __future__ import annotations

import time

from mmlab.race import RACES, race
from mmlab.scenarios import SCENARIOS, run_scenario, run_scenarios, scenario_image
from mmlab.xip import STRATEGIES


def best_of(fn, repeat: int = 5) -> float:
    """The fastest of ``repeat`` calls of ``fn()``, in seconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    image = scenario_image()
    t = best_of(scenario_image)
    print(f"build the scenario image ({len(image) // 1024} KiB): {t * 1e3:.1f} ms")
    for strategy in STRATEGIES:
        t = best_of(lambda s=strategy: [run_scenario(sc, s, image=image) for sc in SCENARIOS])
        print(f"{len(SCENARIOS)} scenarios, each on a fresh machine, {strategy:9}: "
              f"{t * 1e3:6.1f} ms ({t / len(SCENARIOS) * 1e3:.2f} ms each; goal < 100 ms)")
    t = best_of(lambda: run_scenarios(SCENARIOS, "mixedmap", image=image))
    print(f"the probe's sequence in one process (mixedmap): {t * 1e3:.1f} ms")
    for name in RACES:
        for strategy in ("split", "split-v3"):
            report = race(name, strategy)
            t = best_of(lambda n=name, s=strategy: race(n, s), repeat=3)
            print(f"race {name!r:26} {strategy:8}: {report.interleavings:4} interleavings "
                  f"in {t * 1e3:6.1f} ms ({t / report.interleavings * 1e3:.2f} ms each)")


if __name__ == "__main__":
    main()
