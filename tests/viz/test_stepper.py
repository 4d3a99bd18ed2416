"""mmlab.viz.stepper: stepping in time order through any recorded trace (mprotect, a fault, the
XIP split), and a picture that is right as a browser draws it."""

import itertools
import re
import xml.etree.ElementTree as ET

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from mmlab import fault, fs, trace, xip
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
from mmlab.mmap import find_vma
from mmlab.scenarios import scenario_image
from mmlab.trace import Recorder
from mmlab.viz import stepper
from mmlab.viz.base import DPI
from mmlab.viz.stepper import (
    TraceStepper,
    format_arg,
    format_result,
    step_address,
    step_states,
)

RW = PROT_READ | PROT_WRITE


def mprotect_trace():
    mm = MM(System())
    addr = mm.mmap(0, 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record() as t:
        mm.mprotect(addr + 3 * PAGE_SIZE, PAGE_SIZE, PROT_READ)
    return mm, addr, t


def file_fault_trace():
    """A read fault on page 2 of a private file mapping: the page cache path."""
    mm = MM(System())
    f = fs.file_from_bytes(bytes(range(256)) * 64, "/data/table.bin")
    addr = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + 2 * PAGE_SIZE)
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
    n = len(st.positions)
    calls = sum(s.kind == "call" for s in t.steps)
    assert n == 2 * calls + 2  # an entry and a return per call, one position per lock event
    assert st.controls["step"].max == n
    start = addr + 3 * PAGE_SIZE
    assert st.text.startswith(f"step 1/{n}: → do_mprotect_pkey(mm=mm, start={start:#x}")
    assert "prot=1, pkey=-1" in st.text and "lock=free" in st.text
    first = st.png()
    st.press("previous")
    assert st.index == 0
    st.press("next")
    assert st.text.startswith(f"step 2/{n}: • down_write_killable lock=write")
    st.press("next")
    st.press("next")
    assert st.text.startswith(f"step 4/{n}: ← find_vma returned vma[{addr:x}-"
                              f"{addr + 8 * PAGE_SIZE:x}]; lock=write")
    splits = [i for i, s in enumerate(t.steps) if s.name == "__split_vma"]
    assert len(splits) == 2
    entry, ret = st.position_of(splits[0]), st.position_of(splits[0], "return")
    assert ret == entry + 1  # __split_vma calls nothing traced
    st.set(step=entry + 1)
    assert st.index == entry and st.event.what == "entry"
    assert f"step {entry + 1}/{n}: → __split_vma(mm=mm, vma=vma[{addr:x}-" in st.text
    assert "new_below=1" in st.text and "VMAs when it was called: 1" in st.text
    assert st.png() != first
    st.press("next")
    assert st.controls["step"].value == ret + 1
    assert st.text.startswith(f"step {ret + 1}/{n}: ← __split_vma returned 0; lock=write")
    # what the call did to its VMA argument: new_below=1 moved the start up
    assert f"changed by the call: vma {addr:x}-{addr + 8 * PAGE_SIZE:x} → {start:x}-" in st.text
    assert "VMAs when it returned: 2 (1 when it was called)" in st.text
    st.go(st.position_of(splits[1]))
    # the VMA argument is shown with the range it had when the call was made
    assert f"vma=vma[{start:x}-{addr + 8 * PAGE_SIZE:x}]" in st.text
    st.set(step=n)
    st.press("next")
    assert st.index == n - 1 and st.step.name == "do_mprotect_pkey"
    assert st.text.startswith(f"step {n}/{n}: ← do_mprotect_pkey returned 0; lock=free")
    assert [(v.vm_start, v.vm_end) for v in st.state.vmas] == [
        (v.vm_start, v.vm_end) for v in mm]
    assert "image/png" in st._repr_mimebundle_()


def test_the_vma_count_never_goes_back_in_time_order():
    """The issue saw 1-3-1-2-2-3 stepping an mprotect split in call order (each call's state
    at return); in time order, entry and return, it only grows."""
    _, _, t = mprotect_trace()
    st = TraceStepper(t)
    counts = []
    for p in range(len(st.positions)):
        st.go(p)
        counts.append(len(st.state.vmas))
        shown = re.search(r"^VMAs (when it was called|when it returned|now): (\d+)\b",
                          st.text, re.M)
        assert shown and int(shown.group(2)) == counts[-1], st.text
    assert counts == sorted(counts) and counts[0] == 1 and counts[-1] == 3
    # the depth of the call graph follows entries and returns
    depth = 0
    for e in st.positions:
        if e.what == "return":
            depth -= 1
        assert e.step.depth == depth
        if e.what == "entry":
            depth += 1


def test_stepping_through_a_write_fault_shows_the_new_pte():
    mm = MM(System())
    addr = mm.mmap(0, 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    with trace.record() as t:
        fault.do_page_fault(mm, addr + PAGE_SIZE, write=True)
    st = TraceStepper(t)
    assert st.step.name == "do_page_fault" and step_address(st.step) == addr + PAGE_SIZE
    assert st.state.ptes == ()
    st.go(len(st.positions) - 1)
    assert st.event.what == "return" and [p.address for p in st.state.ptes] == [addr + PAGE_SIZE]
    pfn = mm.pgd.walk(addr + PAGE_SIZE).pfn
    assert st.state.ptes[0].pfn == pfn and f"+{addr + PAGE_SIZE:x}→{pfn:#x}" in st.text
    # do_page_fault's result: only the fields that are set (ret 0: no VM_FAULT_* bit)
    assert "returned FaultResult(error_code=6)" in st.text
    anon = next(s for s in t.steps if s.name == "do_anonymous_page")
    st.go(st.position_of(t.steps.index(anon), "return"))
    assert "← do_anonymous_page returned 0;" in st.text  # 0: no VM_FAULT_* bit set


def test_stepping_through_the_cramfs_fault_time_split():
    mm, addr, t = xip_trace()
    names = t.names
    st = TraceStepper(t, start=names.index("down_read_trylock"))  # as chapter 7 opens it
    assert st.index == 1 and st.text.startswith(f"step 2/{len(st.positions)}: • "
                                                "down_read_trylock lock=read")
    st.go(st.position_of(names.index("downgrade_write")) - 1)
    assert "lock=write" in st.text
    st.press("next")
    assert "• downgrade_write lock=read" in st.text
    split = names.index("split_vma")
    st.go(st.position_of(split))
    assert len(st.state.vmas) == 1
    st.go(st.position_of(split, "return"))
    assert len(st.state.vmas) == 2 and st.state.vmas[0].vm_end == addr + 3 * PAGE_SIZE
    # the handler repoints vmf->vma and vmf->pgoff at the new VMA, and gets its page
    handler = names.index("cramfs_vmasplit_fault")
    st.go(st.position_of(handler, "return"))
    assert "returned VM_FAULT_MAJOR|VM_FAULT_LOCKED (0x204)" in st.text
    assert (f"vmf->vma {addr:x}-{addr + 5 * PAGE_SIZE:x} → {addr + 3 * PAGE_SIZE:x}-"
            f"{addr + 5 * PAGE_SIZE:x}") in st.text and "vmf->pgoff 0x8011 → 0x3" in st.text
    # a call with no mm of its own shows the last recorded state, and says so
    lookup = names.index("find_get_page")
    assert t.steps[lookup].before is None
    st.go(st.position_of(lookup, "return"))
    assert "returned NULL" in st.text and "last one recorded" in st.text
    assert st.state is not None and "lock=read" in st.text  # the last lock known
    # the outermost call returns with the final state
    st.go(len(st.positions) - 1)
    assert [(v.vm_start, v.vm_end, v.vm_pgoff) for v in st.state.vmas] == [
        (v.vm_start, v.vm_end, v.vm_pgoff) for v in mm]
    pictures = set()  # SVG: what the live widget shows
    for i in range(len(st.positions)):
        st.set(step=i + 1)
        pictures.add(st.svg())
    assert len(pictures) == len(st.positions)


def test_step_states_follow_returns_not_just_call_order():
    _, _, t = mprotect_trace()
    states = step_states(tuple(t.steps))
    names = [s.name for s in t.steps]
    up = names.index("up_write")
    # up_write happens after mprotect_fixup returned: its state is the split one
    assert len(states[up][0].vmas) == 3 and states[up][0] == states[up][1]
    assert states[0][1] == t.steps[0].after and len(states[0][0].vmas) == 1


def test_without_snapshots_the_stepper_still_runs():
    mm = MM(System())
    with trace.record(snapshots=False) as t:
        mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    st = TraceStepper(t)
    assert "no snapshot" in st.text and st.png() and st.svg()
    with pytest.raises(ValueError, match="no steps"):
        TraceStepper(Recorder())
    with pytest.raises(ValueError, match="step 99 has no 'entry'"):
        st.position_of(99)


def test_format_arg_and_result():
    assert format_arg(None) == "NULL" and format_arg(3) == "3" and format_arg(0x5000) == "0x5000"
    assert format_arg(True) == "True" and format_arg("x") == "'x'" and format_arg(-1) == "-1"
    assert format_arg(0x54, "flags") == "0x54" and format_arg(0x54) == "84"
    mm = MM(System())
    addr = mm.mmap(0, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    vma = mm.find_vma(addr)
    assert format_arg(vma) == format_arg(vma.trace_snapshot()) == \
        f"vma[{addr:x}-{addr + PAGE_SIZE:x}]"
    assert format_arg(mm) == "mm"
    with trace.record(snapshots=False) as t:
        find_vma(mm, addr + PAGE_SIZE)
        mm.mmap(addr, PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS, None, 0)
        mm.munmap(addr, PAGE_SIZE)
    assert format_result(t.steps[0]) == "returned NULL"
    unmap = next(s for s in t.steps if s.name == "unmap_single_vma")
    assert format_result(unmap) == "returned"  # a void function returns no NULL


# --- the picture as a browser draws it --------------------------------------------------------
def _figure(st: TraceStepper) -> Figure:
    """The current position drawn as the widget's pictures are (no hinting, as render_fast)."""
    fig = Figure(figsize=st.figsize, dpi=DPI)
    FigureCanvasAgg(fig)
    with matplotlib.rc_context({"text.hinting": "no_hinting", "svg.fonttype": "none"}):
        st.draw(fig)
        fig.canvas.draw()
    return fig


def _extents(fig: Figure) -> list[tuple[Text, Bbox]]:
    renderer = fig.canvas.get_renderer()
    out = []
    for t in fig.findobj(Text):
        if not t.get_visible() or not t.get_text().strip():
            continue
        box = t.get_window_extent(renderer)
        patch = t.get_bbox_patch()
        if patch is not None:
            box = Bbox.union([box, patch.get_window_extent(renderer)])
        out.append((t, box))
    return out


def _overlaps(items: list[tuple[Text, Bbox]]) -> list[tuple[str, str]]:
    bad = []
    for (a, ba), (b, bb) in itertools.combinations(items, 2):
        w = min(ba.x1, bb.x1) - max(ba.x0, bb.x0)
        h = min(ba.y1, bb.y1) - max(ba.y0, bb.y0)
        if w > 0.5 and h > 0.5:
            bad.append((a.get_text(), b.get_text()))
    return bad


@pytest.mark.parametrize("make", [mprotect_trace, file_fault_trace, xip_trace],
                         ids=["mprotect-split", "file-fault", "cramfs-split"])
def test_no_label_overlaps_another_and_none_relies_on_spaces(make, monkeypatch):
    """At every position: no two texts overlap (matplotlib's own extents), every text is inside
    the picture, the stepper's own texts are at least 7 pt (the widget shows the picture at
    72 DPI: 7 px), and no SVG <text> holds two spaces in a row or starts or ends with one (a
    browser collapses them)."""
    strip: list[Text] = []
    real = stepper.draw_address_space

    def spy(ax, *args, **kwargs):
        before = set(map(id, ax.texts))
        layout = real(ax, *args, **kwargs)
        strip.extend(t for t in ax.texts if id(t) not in before)
        return layout

    monkeypatch.setattr(stepper, "draw_address_space", spy)
    _, _, t = make()
    st = TraceStepper(t)
    svg_ns = "{http://www.w3.org/2000/svg}"
    for p in range(len(st.positions)):
        st.go(p)
        strip.clear()
        fig = _figure(st)
        items = _extents(fig)
        assert len(items) > 10
        where = f"position {p + 1} ({st.event.what} {st.step.name})"
        assert _overlaps(items) == [], where
        assert [str(x) for x in st.layout_problems()] == [], where  # the course's own checker
        frame = fig.bbox
        for text, box in items:
            assert frame.x0 - 1 <= box.x0 and box.x1 <= frame.x1 + 1, (where, text.get_text())
            assert frame.y0 - 1 <= box.y0 and box.y1 <= frame.y1 + 1, (where, text.get_text())
            if text not in strip:
                assert text.get_fontsize() >= 7, (where, text.get_text())
        root = ET.fromstring(st.svg())
        texts = ["".join(el.itertext()) for el in root.iter(f"{svg_ns}text")]
        assert len(texts) > 10
        for content in texts:
            assert "  " not in content and content == content.strip(), (where, content)


def test_a_6_12_fault_shows_its_vma_lock_and_vm_fault_codes_by_name():
    """The stepper on 6.12 calls the lock mmap_lock, shows the VMA lock a step holds (badge and
    text), and reads every vm_fault_t as the fault handlers' results read."""
    from mmlab.viz.today import fault_recording

    rec, _res, _vmstat = fault_recording("v6.12", "split", page=4)
    names = rec.names
    st = TraceStepper(rec, start=names.index("lock_vma_under_rcu"))
    st.go(st.position_of(names.index("vmf_can_call_fault")))
    assert st.text.startswith(f"step {st.index + 1}/") and "mmap_lock=free, VMA lock: libc.so.6 " \
        in st.text.splitlines()[0] and st.text.splitlines()[0].endswith("(read)")
    svg = st.svg().decode()
    assert "mmap_lock: free" in svg and "VMA lock: libc.so.6 (read)" in svg
    st.go(st.position_of(names.index("vmf_can_call_fault"), "return"))
    assert "vmf_can_call_fault returned VM_FAULT_RETRY (0x400); mmap_lock=free" in st.text
    account = names.index("mm_account_fault")
    assert "ret=VM_FAULT_RETRY (0x400)" in st.call_text(rec.steps[account])
    split = st.position_of(names.index("split_vma"), "return")
    st.go(split)
    assert "mmap_lock=write, VMA lock: " in st.text and "VMA lock: libc.so.6 ×2 (write)" in \
        st.svg().decode()
    assert st.layout_problems() == []
    for step in rec.steps:  # no vm_fault_t shown as a bare number
        if step.name in stepper.VM_FAULT_FUNCTIONS and isinstance(step.result, int) \
                and step.result:
            assert format_result(step).startswith("returned VM_FAULT_"), step.name
    # v4.15: the words chapter 7 reads, no VMA lock anywhere
    old, _res, _vmstat = fault_recording("v4.15", "split", page=4)
    st_old = TraceStepper(old, start=old.names.index("down_read_trylock"))
    assert "lock=read" in st_old.text and "VMA lock" not in st_old.text
    assert "mmap_sem: read" in st_old.svg().decode()
