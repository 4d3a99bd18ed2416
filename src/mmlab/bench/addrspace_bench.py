"""How fast the address-space drawings answer a learner: p50/p95 of ~50 driven changes each.

An update is what a click costs: the model step (a system call, a find_vma) plus the redraw of
the picture and the text, as :class:`~mmlab.viz.base.Explorer` times it. The goal is well under
50 ms. The stepper keeps each step's picture once drawn, so it is timed twice: on a first pass
(every step drawn) and on a second (pictures already drawn).
"""

from __future__ import annotations

import random
import statistics

from mmlab import fault, trace, xip
from mmlab.mm import MAP_PRIVATE, MM, PAGE_SIZE, PROT_EXEC, PROT_READ
from mmlab.scenarios import scenario_image
from mmlab.viz.addrspace import CALLS, PROTS, AddressSpaceExplorer
from mmlab.viz.stepper import TraceStepper


def _report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(f"{name:<44} n={len(ms):>3}  p50 {statistics.median(ms):6.1f} ms  p95 {p95:6.1f} ms")


def bench_explorer(changes: int = 50) -> list[float]:
    """Drive an AddressSpaceExplorer through random calls and find_vma addresses."""
    rng = random.Random(1)
    e = AddressSpaceExplorer()
    e.widget()
    for _ in range(changes):
        if rng.random() < 0.25:
            e.set(address=hex(e.base + rng.randrange(0, 40 * PAGE_SIZE)))
            continue
        e.set(call=rng.choice(CALLS), page=rng.randrange(0, 28), npages=rng.randrange(1, 8),
              prot=rng.choice(list(PROTS.values())))
        e.press("run")
    return e.update_times


def xip_recording() -> trace.Recorder:
    """The cramfs fault-time split, recorded."""
    sb = xip.mount(scenario_image(), None, "split")
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                   sb.open("/lib/libc.so.6"), 0)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)
    return t


def bench_stepper(changes: int = 50) -> tuple[list[float], list[float]]:
    """Step forward through the XIP split's trace twice (slider drags and button presses)."""
    st = TraceStepper(xip_recording())
    st.widget()
    passes = []
    for _ in range(2):
        st.set(step=1)
        st.update_times.clear()
        n = 0
        while n < changes // 2:
            if st.index == len(st.steps) - 1:
                st.set(step=1)
            else:
                st.press("next")
            n += 1
        passes.append(list(st.update_times))
    return passes[0], passes[1]


def main() -> None:
    _report("AddressSpaceExplorer (call or address)", bench_explorer())
    first, again = bench_stepper()
    _report("TraceStepper, XIP split (first pass)", first)
    _report("TraceStepper, XIP split (pictures kept)", again)


if __name__ == "__main__":
    main()
