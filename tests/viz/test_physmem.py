"""mmlab.viz.physmem: RAM and flash frames, what maps them, and vm_normal_page's answer."""

import pytest

from mmlab.constants import VM_MIXEDMAP, VM_PFNMAP
from mmlab.mm import MM
from mmlab.viz.physmem import (
    PhysMemExplorer,
    explain_normal_page,
    mapped_frames,
    vma_label,
    xip_scene,
)
from tests.viz import pictures

PAGE = 4096


def build(have_pte_special=True):
    return xip_scene(have_pte_special)


@pytest.fixture(params=[True, False], ids=["x86", "no-pte-special"])
def scene(request):
    return build(request.param)


def test_mapped_frames_know_ram_from_flash(scene):
    mm, at = scene
    frames = {f.address: f for f in mapped_frames(mm)}
    assert set(frames) == {a for a, _ in mm.pgd.items()}
    mem = mm.physmem
    for k in range(4):                       # the whole-XIP executable: remap_pfn_range
        f = frames[at["exe"] + k * PAGE]
        assert f.vma.vm_flags & VM_PFNMAP and f.kind == "flash" and f.page is None
        assert mem.pfn_is_flash(f.pfn) and not mem.pfn_valid(f.pfn)
        assert f.pfn == f.vma.vm_pgoff + k   # the linear rule remap_pfn_range set up
    for k in range(3):                       # libc's text: flash, through vm_insert_mixed
        f = frames[at["lib"] + k * PAGE]
        assert f.vma.vm_flags & VM_MIXEDMAP and f.kind == "flash" and f.page is None
    data = frames[at["lib"] + 3 * PAGE]      # libc's data: compressed, so the page cache
    assert data.kind == "page cache" and data.page is mem.pfn_to_page(data.pfn)
    assert frames[at["txt"]].kind == "page cache" and frames[at["txt"]].page is not None
    a = frames[at["anon"]]
    assert a.kind == "anonymous" and a.pfn_valid and a.page is mem.pfn_to_page(a.pfn)


def test_the_reason_follows_the_machine():
    x86, at = build(True)
    arm, at2 = build(False)
    exe_x86 = next(f for f in mapped_frames(x86) if f.address == at["exe"])
    page, why = explain_normal_page(x86, exe_x86.vma, exe_x86.address, exe_x86.pte)
    assert page is None and "special bit" in why and "VM_PFNMAP" in why
    assert "SPECIAL" in repr(exe_x86.pte)
    exe_arm = next(f for f in mapped_frames(arm) if f.address == at2["exe"] + PAGE)
    assert "SPECIAL" not in repr(exe_arm.pte)            # no bit to set on classic ARM
    page, why = explain_normal_page(arm, exe_arm.vma, exe_arm.address, exe_arm.pte)
    assert page is None and "linear rule holds" in why
    assert f"pfn {exe_arm.pfn:#x} == vm_pgoff {exe_arm.vma.vm_pgoff:#x} + page 1" in why
    lib_arm = {f.address: f for f in mapped_frames(arm)}
    page, why = explain_normal_page(arm, lib_arm[at2["lib"]].vma, at2["lib"],
                                    lib_arm[at2["lib"]].pte)
    assert page is None and "VM_MIXEDMAP" in why and "is False" in why
    f = lib_arm[at2["lib"] + 3 * PAGE]
    page, why = explain_normal_page(arm, f.vma, f.address, f.pte)
    assert page is arm.physmem.pfn_to_page(f.pfn) and "is True" in why


def test_explorer_choose_vma_and_page(scene):
    mm, at = scene
    e = PhysMemExplorer(mm)
    labels = [label for label, _ in e.controls["vma"].options]
    assert labels == [vma_label(v) for v in e.vmas] and len(labels) == 4
    exe_index = next(i for i, v in enumerate(e.vmas) if v.vm_start == at["exe"])
    e.set(vma=exe_index)
    assert e.chosen.address == at["exe"] and e.controls["page"].value == at["exe"]
    assert [v for _, v in e.controls["page"].options] == [at["exe"] + k * PAGE for k in range(4)]
    assert "pfn_valid" in e.text and "= False: flash" in e.text
    assert "vm_normal_page -> None" in e.text
    lib_index = next(i for i, v in enumerate(e.vmas) if v.vm_start == at["lib"])
    e.set(vma=lib_index)
    e.set(page=at["lib"] + 3 * PAGE)
    pfn = mm.pgd.walk(at["lib"] + 3 * PAGE).pfn
    assert f"pfn_valid({pfn:#x}) = True: page cache" in e.text
    assert f"the struct page of frame {pfn:#x}" in e.text


def test_picture_changes_and_static_fallback(scene):
    mm, at = scene
    e = PhysMemExplorer(mm)
    e.widget()
    first = e.png()
    drawn = []
    draw = e.draw
    e.draw = lambda fig: drawn.append(1) or draw(fig)
    e.set(vma=len(e.vmas) - 1)             # the page list follows: still one redraw
    assert len(drawn) == 1
    assert e.png() != first
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text


def test_empty_mm_says_so():
    e = PhysMemExplorer(MM())
    assert "no present pages" in e.text
    assert e.png()


# --- the picture, as a learner sees it ----------------------------------------------------------
def _clean(explorer):
    fig, problems = pictures.draw(explorer)
    assert problems == []
    used, legend = pictures.kinds(fig)
    assert used == legend
    return fig, used


def test_picture_every_vma_and_page_a_learner_can_choose(scene):
    mm, _ = scene
    e = PhysMemExplorer(mm)
    for i in range(len(e.vmas)):
        e.set(vma=i)
        for _label, address in e.controls["page"].options:
            e.set(page=address)
            _clean(e)


def test_picture_draws_every_page_of_each_vma_absent_ones_hollow(scene):
    mm, at = scene
    e = PhysMemExplorer(mm)
    fig, used = _clean(e)
    pages = sum((v.vm_end - v.vm_start) // PAGE for v in e.vmas)
    present = len(e.frames)
    absent = pictures.boxes_of(fig, "absent")
    assert len(absent) == pages - present == 1 + 2 + 1  # anon, motd, libc's last page
    assert pictures.is_hollow_dashed(fig, "absent")
    virtual = [b for k in ("anon", "file", "flash") for b in pictures.boxes_of(fig, k)
               if b[1] >= 8.0]
    assert len(virtual) == present
    assert {"anon", "file", "flash", "zero", "absent", "chosen"} <= used


def test_picture_frame_numbers_sit_under_their_frames(scene):
    mm, _ = scene
    e = PhysMemExplorer(mm)
    fig, _ = _clean(e)
    frames = [b for k in ("anon", "file", "flash", "zero", "ram", "unmapped")
              for b in pictures.boxes_of(fig, k) if b[1] < 5]
    labelled = [s for s in pictures.texts(fig) if s.text.startswith("0x")]
    # every frame drawn has its number: the unmapped flash frames too (0x8000 and the run up
    # to the frames libc's text uses)
    drawn = set(e._ram) | set(e._flash)
    assert len(frames) == len(drawn)
    assert sorted(s.text for s in labelled) == sorted(f"{p:#x}" for p in drawn)
    assert f"{mm.physmem.flash_start_pfn:#x}" in {s.text for s in labelled}
    for s in labelled:  # each number is centred under one frame's box
        assert sum(b[0] <= s.x <= b[2] for b in frames) == 1
    assert not any("mapped frames only" in s.text for s in pictures.texts(fig))


def _crosses(segment, box):
    """Does the straight segment pass through the box (x0, y0, x1, y1)?"""
    (xa, ya), (xb, yb) = segment
    for k in range(201):
        t = k / 200
        x, y = xa + (xb - xa) * t, ya + (yb - ya) * t
        if box[0] <= x <= box[2] and box[1] <= y <= box[3]:
            return True
    return False


def test_no_pte_line_crosses_a_heading(scene):
    from matplotlib.collections import LineCollection

    mm, _ = scene
    e = PhysMemExplorer(mm)
    for i in range(len(e.vmas)):
        e.set(vma=i)
        fig, _ = _clean(e)
        ax = fig.axes[0]
        renderer = fig.canvas.get_renderer()
        headings = [t for t in ax.texts if t.get_text() in (
            "RAM: a struct page for every frame", "flash: no struct page")]
        assert len(headings) == 2
        lines = [seg for c in ax.collections if isinstance(c, LineCollection)
                 for seg in c.get_segments()]
        assert len(lines) == len(e.frames)
        for t in headings:
            ext = t.get_window_extent(renderer).transformed(ax.transData.inverted())
            box = (ext.x0, ext.y0, ext.x1, ext.y1)
            assert not any(_crosses(seg, box) for seg in lines), t.get_text()


@pytest.mark.parametrize("pages, note", [
    (22, None), (30, "too many frames to number each: alt_text() lists them")])
def test_crowded_frames_are_numbered_where_they_fit_and_the_picture_says_so(pages, note):
    from mmlab import fault
    from mmlab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE

    mm, at = build(True)
    big = mm.mmap(0, pages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    for k in range(pages):
        fault.do_page_fault(mm, big + k * PAGE, write=True)
    e = PhysMemExplorer(mm)
    fig, _ = _clean(e)
    shown = pictures.texts(fig)
    numbers = {s.text for s in shown if s.text.startswith("0x")}
    notes = [s.text for s in shown if s.text.startswith("(")]
    if note is None:
        assert numbers == {f"{p:#x}" for p in (*e._ram, *e._flash)} and notes == []
    else:
        assert notes == [f"({note})"]
        assert numbers < {f"{f.pfn:#x}" for f in e.frames} | {f"{mm.physmem.zero_pfn:#x}"}
    for f in e.frames:  # what the picture leaves out, the text alternative says
        assert f"frame {f.pfn:#x}" in e.alt_text()
