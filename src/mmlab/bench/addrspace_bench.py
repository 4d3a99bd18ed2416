"""How fast the address-space drawings answer a learner: p50/p95 of ~50 driven changes each.

An update is what a click costs: the model step (a system call, a find_vma) plus the redraw of
the picture and the text, as :class:`~mmlab.viz.base.Explorer` times it. The goal is well under
50 ms. The stepper keeps each step's picture once drawn, so it is timed twice: on a first pass
(every step drawn) and on a second (pictures already drawn). Last, what recording a trace
costs (:func:`bench_trace_cost`): one call without a recorder, with one that freezes arguments
and results only, and with one that also snapshots the VMAs and PTEs at each entry and return.
"""

from __future__ import annotations

import contextlib
import random
import statistics
import time
from collections.abc import Callable

from mmlab import fault, trace, xip
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MM,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
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


def _mprotect_split() -> Callable[[], object]:
    mm = MM()
    addr = mm.mmap(0, 8 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    return lambda: mm.mprotect(addr + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ)


def _xip_split_fault() -> Callable[[], object]:
    sb = xip.mount(scenario_image(), None, "split")
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                   sb.open("/lib/libc.so.6"), 0)
    return lambda: fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)


def bench_trace_cost(runs: int = 60) -> dict[str, dict[str, float]]:
    """What recording costs: the median time of one call (set up afresh each run) without a
    recorder, with ``trace.record(snapshots=False)`` and with ``trace.record()``, in µs."""
    out: dict[str, dict[str, float]] = {}
    for name, make in (("mprotect split", _mprotect_split),
                       ("cramfs fault-time split", _xip_split_fault)):
        row = {}
        for mode in ("off", "args", "snapshots"):
            times = []
            for _ in range(runs):
                call = make()
                ctx = (contextlib.nullcontext() if mode == "off"
                       else trace.record(snapshots=mode == "snapshots"))
                start = time.perf_counter()
                with ctx:
                    call()
                times.append(time.perf_counter() - start)
            row[mode] = statistics.median(times) * 1e6
        out[name] = row
    return out


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
            if st.index == len(st.positions) - 1:
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
    for name, row in bench_trace_cost().items():
        print(f"trace cost, {name:<24} no recorder {row['off']:5.0f} us, "
              f"record(snapshots=False) {row['args']:5.0f} us, record() {row['snapshots']:5.0f} us")


if __name__ == "__main__":
    main()
