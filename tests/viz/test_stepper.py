"""mmlab.viz.stepper: stepping through any recorded trace (mprotect, a fault, the XIP split)."""

import pytest

from mmlab import fault, trace, xip
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MM,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    System,
)
from mmlab.scenarios import scenario_image
from mmlab.trace import Recorder
from mmlab.viz.stepper import TraceStepper, format_arg, step_address, step_states

RW = PROT_READ | PROT_WRITE


def mprotect_trace():
    mm = MM(System())
    addr = mm.mmap(0, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record() as t:
        mm.mprotect(addr + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ)
    return mm, addr, t


def xip_trace():
    sb = xip.mount(scenario_image(), None, "split")
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                   sb.open("/lib/libc.so.6"), 0)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)
    return mm, addr, t


def test_stepping_through_an_mprotect_that_splits():
    mm, addr, t = mprotect_trace()
    st = TraceStepper(t)
    st.widget()
    n = len(t.steps)
    start = addr + 3 * PAGE_SIZE
    assert st.text.startswith(f"step 1/{n}: do_mprotect_pkey(mm=mm, start={start:#x}")
    assert "lock=free" in st.text
    first = st.png()
    st.press("previous")
    assert st.index == 0
    splits = [i for i, s in enumerate(t.steps) if s.name == "__split_vma"]
    assert len(splits) == 2
    for _ in range(splits[0]):
        st.press("next")
    assert st.index == splits[0] and st.controls["step"].value == splits[0] + 1
    assert f"step {splits[0] + 1}/{n}: __split_vma(" in st.text and "lock=write" in st.text
    # new_below=1 moves the VMA's start: its range at call time is not claimed
    assert "vma=vma, addr=" in st.text and "new_below=1" in st.text
    before, after = st.states[st.index]
    assert (len(before.vmas), len(after.vmas)) == (1, 2)
    assert "VMAs when it returned (2):" in st.text
    assert st.png() != first
    st.set(step=splits[1] + 1)
    assert st.index == splits[1]
    # the VMA argument is shown with the range it had when the call was made
    assert f"vma=vma[{addr + 3 * PAGE_SIZE:x}-{addr + 8 * PAGE_SIZE:x}]" in st.text
    assert [(v.vm_start, v.vm_end) for v in st.states[st.index][1].vmas] == [
        (v.vm_start, v.vm_end) for v in mm]
    st.set(step=n)
    st.press("next")
    assert st.index == n - 1 and st.step.name == "up_write" and "lock on return: free" in st.text
    assert "image/png" in st._repr_mimebundle_()


def test_stepping_through_a_write_fault_shows_the_new_pte():
    mm = MM(System())
    addr = mm.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + PAGE_SIZE, write=True)
    st = TraceStepper(t)
    assert st.step.name == "do_page_fault" and step_address(st.step) == addr + PAGE_SIZE
    before, after = st.states[0]
    assert before.ptes == () and [p.address for p in after.ptes] == [addr + PAGE_SIZE]
    assert after.ptes[0].pfn == mm.pgd.walk(addr + PAGE_SIZE).pfn
    assert f"+{addr + PAGE_SIZE:x}→{after.ptes[0].pfn:#x}" in st.text


def test_stepping_through_the_cramfs_fault_time_split():
    mm, addr, t = xip_trace()
    st = TraceStepper(t)
    names = [s.name for s in st.steps]
    down = names.index("downgrade_write")
    st.set(step=down)                   # lock events are recorded once done
    assert "lock=write" in st.text
    st.press("next")
    assert st.text.startswith(f"step {down + 1}/{len(names)}: downgrade_write() lock=read")
    split = names.index("split_vma")
    st.set(step=split + 1)
    before, after = st.states[split]
    assert len(before.vmas) == 1 and len(after.vmas) == 2
    assert after.vmas[0].vm_end == addr + 3 * PAGE_SIZE
    # a call with no mm of its own shows the last recorded state, and says so
    lookup = names.index("find_get_page")
    assert st.steps[lookup].before is None
    st.set(step=lookup + 1)
    assert "last one recorded" in st.text and st.states[lookup][0] is not None
    assert st.states[lookup][0].vmas == st.states[names.index("filemap_fault")][0].vmas
    # the outermost call returns with the final state
    assert [(v.vm_start, v.vm_end, v.vm_pgoff) for v in st.states[0][1].vmas] == [
        (v.vm_start, v.vm_end, v.vm_pgoff) for v in mm]
    pngs = set()
    for i in range(len(st.steps)):
        st.set(step=i + 1)
        pngs.add(st.png())
    assert len(pngs) > len(st.steps) // 2


def test_step_states_follow_returns_not_just_call_order():
    _, _, t = mprotect_trace()
    states = step_states(tuple(t.steps))
    names = [s.name for s in t.steps]
    up = names.index("up_write")
    # up_write is entered after mprotect_fixup returned: its entry state is the split one
    assert len(states[up][0].vmas) == 3
    assert states[0][1] == t.steps[0].after


def test_without_snapshots_the_stepper_still_runs():
    mm = MM(System())
    with trace.record(snapshots=False) as t:
        mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    st = TraceStepper(t)
    assert "no snapshot" in st.text and st.png()
    with pytest.raises(ValueError, match="no steps"):
        TraceStepper(Recorder())


def test_format_arg():
    assert format_arg(None) == "NULL" and format_arg(3) == "3" and format_arg(0x5000) == "0x5000"
    assert format_arg(True) == "True" and format_arg("x") == "'x'"
