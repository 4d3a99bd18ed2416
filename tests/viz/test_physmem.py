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
    mapped = {f.pfn for f in e.frames} | {mm.physmem.zero_pfn}
    assert {s.text for s in labelled} == {f"{p:#x}" for p in mapped}
    for s in labelled:  # each number is centred under one frame's box
        assert sum(b[0] <= s.x <= b[2] for b in frames) == 1


def test_picture_of_a_long_mostly_absent_vma_squeezes_the_untouched_runs():
    from mmlab import fault
    from mmlab.constants import MAP_ANONYMOUS, MAP_PRIVATE, PROT_READ, PROT_WRITE

    mm = MM()
    big = mm.mmap(0, 90 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    for k in (0, 1, 40, 89):
        fault.do_page_fault(mm, big + k * PAGE, write=True)
    e = PhysMemExplorer(mm)
    fig, _ = _clean(e)
    shown = [s.text for s in pictures.texts(fig)]
    assert "38 pages" in shown or "×38" in shown
    assert len(pictures.boxes_of(fig, "absent")) == 2


def test_alt_text_lists_each_page_and_its_frame(scene):
    mm, at = scene
    e = PhysMemExplorer(mm)
    alt = e.alt_text()
    assert alt.startswith(e.describe())
    anon = next(line for line in alt.splitlines() if "[anon]" in line and line.startswith("7"))
    pfn = mm.pgd.walk(at["anon"]).pfn
    assert anon.endswith(f"0: frame {pfn:#x} (anonymous), 1: not present")
