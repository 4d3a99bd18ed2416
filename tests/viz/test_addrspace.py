"""mmlab.viz.addrspace: the strip, the address-space explorer driven like a learner, the checks."""

import html
import random
import re

import pytest

from mmlab import fs, procfs
from mmlab.mm import (
    MAP_ANONYMOUS,
    MAP_FIXED,
    MAP_PRIVATE,
    MM,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
    VM_MIXEDMAP,
    VM_PFNMAP,
    VM_READ,
    System,
    find_vma,
)
from mmlab.trace import snapshot
from mmlab.viz import addrspace as A
from mmlab.viz.quiz import check_function
from tests.viz import pictures

RW = PROT_READ | PROT_WRITE
BASE = A.DEFAULT_BASE


def page(n):
    return BASE + n * PAGE_SIZE


def test_boxes_from_an_mm_its_vmas_and_a_snapshot_agree_and_kinds_follow_the_flags():
    mm = MM(System())
    mm.mmap(page(0), 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    mm.mprotect(page(1), PAGE_SIZE, PROT_READ)
    boxes = A.vma_boxes(mm)
    assert boxes == A.vma_boxes(mm.vmas) == A.vma_boxes(snapshot(mm).vmas)
    assert [(b.start, b.end, b.perms) for b in boxes] == [
        (page(0), page(1), "rw-p"), (page(1), page(2), "r--p"), (page(2), page(4), "rw-p")]
    assert {b.kind for b in boxes} == {"anon"}
    assert A.VmaBox(0, PAGE_SIZE, VM_READ | VM_PFNMAP, 0, "/x").kind == "pfnmap"
    assert A.VmaBox(0, PAGE_SIZE, VM_READ | VM_MIXEDMAP, 0, None).kind == "pfnmap"
    assert A.VmaBox(0, PAGE_SIZE, VM_READ, 0, "/x").kind == "file"


def test_find_vma_box_is_the_models_find_vma():
    rng = random.Random(4)
    mm = MM(System())
    for i, (p, n) in enumerate(((2, 3), (7, 1), (9, 4), (20, 2))):
        mm.mmap(page(p), n * PAGE_SIZE, RW if i % 2 else PROT_READ,
                MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    boxes = A.vma_boxes(mm)
    for _ in range(300):
        addr = page(0) + rng.randrange(-PAGE_SIZE, 24 * PAGE_SIZE)
        vma = find_vma(mm, addr)
        box = A.find_vma_box(boxes, addr)
        assert (None if vma is None else (vma.vm_start, vma.vm_end)) == (
            None if box is None else (box.start, box.end))


def test_far_apart_vmas_both_show_and_the_wide_gap_is_compressed():
    heap = A.VmaBox(0x555555554000, 0x555555575000, VM_READ, 0, None)
    stack = A.VmaBox(0x7FFFFFFDE000, 0x7FFFFFFFF000, VM_READ, 0, None)
    one = A.VmaBox(0x7FFFFFFFF000 + 3 * PAGE_SIZE, 0x7FFFFFFFF000 + 4 * PAGE_SIZE, VM_READ, 0,
                   None)
    layout = A.strip_layout([heap, stack, one], 0, 100)
    compressed = [p for p in layout.pieces if p[4]]
    assert len(compressed) == 1 and compressed[0][:2] == (heap.end, stack.start)
    for box in (heap, stack, one):
        assert layout.x_of(box.end) - layout.x_of(box.start) >= 2.9
    xs = [layout.x_of(a) for a in (heap.start, heap.end, stack.start, stack.end, one.start)]
    assert xs == sorted(xs) and xs[0] == 0 and layout.x_of(one.end) == pytest.approx(100)
    # the small gap (3 pages) is drawn to the scale of the stack (33 pages)
    assert layout.x_of(one.start) - layout.x_of(stack.end) == pytest.approx(
        3 / 33 * (layout.x_of(stack.end) - layout.x_of(stack.start)))


def test_explorer_runs_calls_and_shows_split_merge_and_errors():
    e = A.AddressSpaceExplorer()
    e.widget()
    first = e.png()
    e.set(call="mmap anonymous", page=0, npages=8, prot=RW)
    e.press("run")
    assert e.mm.map_count == 1 and "VMAs: 0 → 1 (a new VMA)" in e.text
    e.set(call="mprotect", page=3, npages=1, prot=PROT_READ)
    e.press("run")
    assert e.mm.map_count == 3 and "VMAs: 1 → 3 (split)" in e.text
    assert procfs.format_maps(e.mm).rstrip("\n") in e.text
    assert f"{page(3):08x}-{page(4):08x} r--p" in e.text
    after_split = e.png()
    assert after_split != first
    e.set(prot=RW)
    e.press("run")
    assert e.mm.map_count == 1 and "VMAs: 3 → 1 (merged)" in e.text
    e.set(call="munmap", page=2, npages=2)
    e.press("run")
    assert [(v.vm_start, v.vm_end) for v in e.mm] == [(page(0), page(2)), (page(4), page(8))]
    assert "(split)" in e.text and "history: mmap → 1 | mprotect → 3 | mprotect → 1 | munmap → 2" \
        in e.text
    e.set(call="mprotect", page=1, npages=2)       # runs into the hole
    e.press("run")
    assert "-1 ENOMEM" in e.text
    e.set(call="mmap a file", page=10, npages=3, prot=PROT_READ, file_page=2)
    e.press("run")
    line = procfs.format_maps(e.mm).splitlines()[-1]
    assert line.startswith(f"{page(10):08x}-{page(13):08x} r--p 00002000") and "data.bin" in line
    assert line in e.text
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text
    assert len(e.update_times) >= 10


def test_explorer_find_vma_in_a_gap_names_the_vma_above():
    e = A.AddressSpaceExplorer()
    for p, n, prot in ((0, 2, RW), (5, 2, PROT_READ)):
        e.set(call="mmap anonymous", page=p, npages=n, prot=prot)
        e.press("run")
    before = e.png()
    e.set(address=hex(page(3) + 0x10))
    vma = find_vma(e.mm, page(3) + 0x10)
    assert (vma.vm_start, vma.vm_end) == (page(5), page(7))
    assert f"→ {page(5):x}-{page(7):x} (does NOT contain it" in e.text
    assert e.png() != before
    e.set(address="+1")
    assert f"find_vma({page(1):#x}) → {page(0):x}-{page(2):x} (contains it)" in e.text
    e.set(address=hex(page(9)))
    assert "→ NULL" in e.text
    e.set(address="nonsense")
    assert "cannot read 'nonsense'" in e.text
    e.press("reset")
    assert e.mm.map_count == 0 and "a new, empty address space" in e.text


def test_explorer_on_a_given_mm_starts_at_its_first_vma():
    mm = MM(System())
    addr = mm.mmap(0, 4 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS)
    e = A.AddressSpaceExplorer(mm)
    assert e.base == addr
    e.set(call="mprotect", page=1, npages=1, prot=PROT_READ)
    e.press("run")
    assert mm.map_count == 3


def test_find_vma_cases_hold_the_reference_and_catch_the_containing_only_mistake():
    cases = A.find_vma_cases()
    assert 10 <= len(cases) <= 16
    assert check_function(A.my_find_vma_reference, cases).ok

    def containing_only(vmas, addr):
        return next(((s, e) for s, e in vmas if s <= addr < e), None)

    def inclusive_end(vmas, addr):
        return next(((s, e) for s, e in vmas if e >= addr), None)

    assert not check_function(containing_only, cases).ok
    assert not check_function(inclusive_end, cases).ok
    assert check_function(lambda v, a: ..., cases).not_done


def test_find_vma_drill_is_seeded_and_its_answer_is_find_vma_of_the_stated_layout():
    for seed in range(20):
        d = A.FindVmaDrill(seed)
        assert d.problem() == A.FindVmaDrill(seed).problem()
        text = d.problem()
        layout = [(int(a) * PAGE_SIZE, int(b) * PAGE_SIZE)
                  for a, b in re.findall(r"\[(\d+), (\d+)\)", text)]
        probe = float(re.search(r"at page ([\d.]+)", text).group(1))
        found = A.my_find_vma_reference(layout, int(probe * PAGE_SIZE))
        assert d.answer() == (None if found is None else found[0] // PAGE_SIZE)
        assert d.check(d.answer())


def test_vma_count_drill_is_seeded():
    a, b = A.VmaCountDrill(3), A.VmaCountDrill(3)
    assert a.problem() == b.problem() and a.answer() == b.answer()
    assert a.next() == b.next()
    assert all(isinstance(A.VmaCountDrill(s).answer(), int) for s in range(10))


def _mask(line):
    """A replay line without its device and inode (a temporary file's, different each run)."""
    parts = line.split()
    return " ".join(parts[:2] + parts[2:4] + parts[6:]) if len(parts) >= 6 else line


def test_the_stored_replays_cover_every_sequence_and_agree():
    for name in A.REPLAYS:
        report = A.stored_replay(name)
        assert report.agree and len(report.steps) == len(A.REPLAYS[name])
        assert "stored" in report.source and "mismatch: none" in str(report)


@pytest.mark.skipif(not A.live_kernel_available(), reason="needs a Linux kernel")
def test_the_stored_replays_are_what_this_kernel_gives():
    for name in A.REPLAYS:
        here, stored = A.run_replay(name), A.stored_replay(name)
        assert here.agree, str(here)
        for a, b in zip(here.steps, stored.steps, strict=True):
            assert (a["op"], a["real"]) == (b["op"], b["real"])
            assert [_mask(x) for x in a["real_lines"]] == [_mask(x) for x in b["real_lines"]]
    assert "this machine's kernel" in A.replay("mmap").source


def test_strip_view_shows_the_maps_and_find_vma():
    mm = MM(System())
    mm.mmap(page(0), 2 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    mm.mmap(page(6), 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    v = A.StripView(mm, highlight=page(3))
    assert v.text == procfs.format_maps(mm) + f"find_vma({page(3):#x}) → {page(6):x}-{page(8):x}"
    assert v.png() != A.StripView(mm).png()
    assert "image/png" in v._repr_mimebundle_()


def test_without_a_linux_kernel_the_replay_is_the_stored_one(monkeypatch):
    monkeypatch.setattr(A, "live_kernel_available", lambda: False)
    report = A.replay("mprotect splits")
    assert report.source.startswith("stored, recorded on Linux ") and report.agree
    assert [line.split()[2] for line in report.steps[-1]["real_lines"]] == [
        "---p", "rw-p", "r--p", "rw-p", "---p"]


def test_write_fallback_writes_what_stored_replay_reads(tmp_path):
    if not A.live_kernel_available():
        pytest.skip("needs a Linux kernel")
    target = tmp_path / "replays.json"
    A.write_fallback(target)
    for name in A.REPLAYS:
        stored = A.stored_replay(name, target)
        assert stored.agree and [s["op"] for s in stored.steps] == [
            list(op) for op in A.REPLAYS[name]]
        assert [_mask(x) for x in stored.steps[-1]["real_lines"]] == [
            _mask(x) for x in A.stored_replay(name).steps[-1]["real_lines"]]


# --- the pictures, as a learner sees them -------------------------------------------------------
def _clean(explorer):
    fig, problems = pictures.draw(explorer)
    assert problems == []
    used, legend = pictures.kinds(fig)
    assert used == legend
    return fig


def test_strip_of_the_chapter_labels_each_vma_on_its_box():
    mm = MM(System())
    data = fs.file_from_bytes(bytes(16 * PAGE_SIZE), "/model/data.bin", system=mm.system)
    mm.mmap(page(0), 8 * PAGE_SIZE, RW, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED)
    mm.mmap(page(12), 4 * PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_FIXED, data,
            2 * PAGE_SIZE)
    for v in (A.StripView(mm), A.StripView(mm, highlight=page(10))):
        fig = _clean(v)
        anon, = pictures.boxes_of(fig, "anon")
        file, = pictures.boxes_of(fig, "file")
        shown = pictures.texts(fig)
        label = next(s for s in shown if s.text.startswith("r-xp"))
        assert label.text == "r-xp\ndata.bin\npgoff 0x2" and pictures.inside(label, file)
        assert pictures.inside(next(s for s in shown if s.text.startswith("rw-p")), anon)
        # every boundary address is written once, near its x
        for addr in (page(0), page(8), page(12), page(16)):
            assert [s.text for s in shown].count(f"{addr:x}") == 1
    assert pictures.kinds(fig)[0] == {"anon", "file", "found"}


def test_explorer_pictures_are_clean_through_random_calls():
    rng = random.Random(17)
    e = A.AddressSpaceExplorer()
    for step in range(70):
        if rng.random() < 0.3:
            e.set(address=hex(e.base + rng.randrange(-PAGE_SIZE, 40 * PAGE_SIZE)))
        else:
            e.set(call=rng.choice(A.CALLS), page=rng.randrange(0, 30),
                  npages=rng.randrange(1, 9), prot=rng.choice(list(A.PROTS.values())),
                  file_page=rng.randrange(0, 16))
            e.press("run")
        if step % 3 == 0:
            _clean(e)
    _clean(e)


def test_a_prot_none_vma_is_hatched_and_in_the_legend_and_the_next_call_is_dashed():
    e = A.AddressSpaceExplorer()
    e.set(call="mmap anonymous", page=0, npages=8, prot=RW)
    e.press("run")
    e.set(call="mprotect", page=2, npages=2, prot=A.PROTS["--- PROT_NONE"])
    e.press("run")
    fig = _clean(e)
    used, _ = pictures.kinds(fig)
    assert {"anon", "noaccess", "preview"} <= used
    assert len(pictures.boxes_of(fig, "noaccess")) == 1
    assert pictures.is_hollow_dashed(fig, "preview")


def test_far_apart_vmas_narrow_boxes_and_many_boundaries_stay_readable():
    heap = A.VmaBox(0x555555554000, 0x555555575000, VM_READ, 0, None)
    stack = A.VmaBox(0x7FFFFFFDE000, 0x7FFFFFFFF000, VM_READ | 2, 0, None)
    small = [A.VmaBox(0x7FFFFFFFF000 + k * PAGE_SIZE, 0x7FFFFFFFF000 + (k + 1) * PAGE_SIZE,
                      VM_READ | (2 if k % 2 else 0), k, "/lib/a-long-library-name.so")
             for k in range(1, 12)]
    fig = _clean(A.StripView([heap, stack, *small], highlight=stack.start + 5))
    shown = [s.text for s in pictures.texts(fig)]
    assert "≈" in shown and any(t.endswith("GiB") or t.endswith("TiB") for t in shown)


def test_a_title_and_the_find_vma_label_never_overlap():
    from matplotlib.figure import Figure

    from mmlab.viz.base import schematic_axes
    from mmlab.viz.layoutcheck import layout_problems

    boxes = [A.VmaBox(page(0), page(4), VM_READ, 0, None),
             A.VmaBox(page(6), page(8), VM_READ | 2, 0, None)]
    for addr in (page(0), page(1), page(5), page(7), page(9)):
        fig = Figure(figsize=(9, 3))
        ax = schematic_axes(fig)
        layout = A.draw_address_space(ax, boxes, highlight=addr, area=(34, 98, 5.6, 7.0),
                                      title="when called", legend=False)
        A.draw_address_space(ax, boxes, highlight=addr, area=(34, 98, 2.0, 3.4),
                             layout=layout, title="when it returned", legend=False)
        A.draw_strip_legend(ax, 2, 0.6, align="left")
        assert [str(p) for p in layout_problems(fig)] == []


# --- the find_vma box: what a learner types -------------------------------------------------------
def _two_vmas():
    e = A.AddressSpaceExplorer()
    e.widget()  # the live widget: its text must follow every change
    for p, n, file_page in ((20, 8, 0), (28, 4, 9)):
        e.set(call="mmap a file", page=p, npages=n, prot=PROT_READ, file_page=file_page)
        e.press("run")
    return e


@pytest.mark.parametrize("typed, rule", [
    ("0xffffffff81000000", "0xffffffff81000000 is a kernel address: user space ends at TASK_SIZE"),
    ("0x800000000000", "0x800000000000 is a kernel address"),
    ("-3", "-3 is not an address: find_vma takes an unsigned long"),
    ("-0x1", "-1 is not an address"),
    ("99999999999999999999999", "read as hex"),
    ("hello", "cannot read 'hello' as an address"),
])
def test_an_address_find_vma_refuses_is_an_error_in_text_and_picture_never_a_stale_text(
        typed, rule):
    e = _two_vmas()
    e.set(address="0x7f0000016000")
    e.set(address=typed)
    text = e.text
    assert e._label is not None and html.unescape(e._label.value).count(text) == 1
    error = next(line for line in text.splitlines() if line.startswith("! "))
    assert rule in error and error.endswith("still showing find_vma(0x7f0000016000)")
    assert "find_vma(0x7f0000016000) → 7f0000014000-7f000001c000 (contains it)" in text
    fig = _clean(e)
    shown = " ".join(s.text.replace("\n", " ") for s in pictures.texts(fig))
    assert "find_vma(0x7f0000016000) → 7f0000014000-7f000001c000" in shown
    assert rule.split(":")[0] in shown and "still showing" in shown
    assert f"find_vma({typed}" not in shown and "find_vma(-" not in shown
    # the next Run updates the text as well as the picture; clearing the box clears the error
    e.set(call="mmap anonymous", page=2, npages=1)
    e.press("run")
    assert "last call: mmap(0x7f0000002000" in html.unescape(e._label.value)
    e.set(address="")
    assert "! " not in e.text and "find_vma(" not in e.text


def test_a_bad_address_before_any_good_one_marks_nothing():
    e = _two_vmas()
    e.set(address="-1")
    assert "! -1 is not an address" in e.text and "no address marked" in e.text
    assert e.address is None
    fig = _clean(e)
    assert pictures.kinds(fig)[0] == {"file", "preview"}


@pytest.mark.parametrize("typed, address, note", [
    ("7f0000016000", 0x7F0000016000, "read as hex"),      # as /proc/PID/maps prints it
    ("0x7f0000016000", 0x7F0000016000, ""),
    ("00400000", 0x400000, "read as hex"),                # maps pads to 8 digits
    ("123456789", 0x123456789, "read as hex"),            # 9+ digits
    ("4096", 4096, "read as decimal"),
    ("7f00_0001_6000", 0x7F0000016000, "read as hex"),
    ("+3", A.DEFAULT_BASE + 3 * PAGE_SIZE, ""),
    ("+0x10", A.DEFAULT_BASE + 16 * PAGE_SIZE, ""),
])
def test_bare_hex_is_read_as_maps_prints_it_and_the_text_says_how(typed, address, note):
    assert A.read_address(typed, A.DEFAULT_BASE)[0] == address
    e = _two_vmas()
    e.set(address=typed)
    assert e.address == address and not e.address_error
    line = next(x for x in e.text.splitlines() if x.startswith(f"find_vma({address:#x})"))
    assert (note in line) if note else ("read as" not in line)
    _clean(e)


def test_the_box_says_how_it_reads_an_address():
    box = A.AddressSpaceExplorer().controls["address"]
    assert "7f0000003000" in box.placeholder and "+3" in box.placeholder
    assert "a-f" in box.tooltip and f"{A.BARE_HEX_DIGITS}+ digits" in box.tooltip


def test_a_reset_starts_the_history_and_the_vma_counts_again():
    e = _two_vmas()
    assert "history: mmap → 1 | mmap → 2" in e.text
    e.press("reset")
    e.set(call="mmap anonymous", page=0, npages=4, prot=RW)
    e.press("run")
    # the calls on the address space that is gone are not listed any more (a trial learner
    # read them as calls on the new one)
    assert "history: reset → 0 | mmap → 1" in e.text
    fig = _clean(e)
    line = next(s.text for s in pictures.texts(fig) if s.text.startswith("VMA count"))
    assert line.startswith("VMA count: 0 (reset) → 1;")
    e.press("reset")
    assert "history:" not in e.text
    line = next(s.text for s in pictures.texts(_clean(e)) if s.text.startswith("VMA count"))
    assert line == "VMA count: 0 (reset); last: reset (a new, empty address space)"


def test_the_find_vma_box_is_read_on_enter_not_on_every_keystroke():
    # typing 0x800000000000 slowly showed find_vma(0x80000000000), the last valid prefix
    box = A.AddressSpaceExplorer().controls["address"]
    assert box.continuous_update is False and "Enter" in box.placeholder


def test_the_prot_menu_is_wide_enough_for_its_longest_option():
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prot = A.AddressSpaceExplorer().controls["prot"]
    longest = max(TextToPath().get_text_width_height_descent(
        label, FontProperties(family="DejaVu Sans", size=13), ismath=False)[0]
        for label in A.PROTS)
    # JupyterLab: an 80 px description, 13 px text, ~30 px of padding and arrow
    assert int(prot.layout.width.removesuffix("px")) >= 80 + 8 + longest + 30
