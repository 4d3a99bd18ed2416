"""mmlab.viz.pagetable: the walk explorer driven like a learner, the address drill, pagemap data."""

import json
import re

import pytest

from mmlab import fault, xip
from mmlab.mm import MAP_ANONYMOUS, MAP_PRIVATE, MM, PROT_EXEC, PROT_READ, PROT_WRITE
from mmlab.pagetable import pte_bits_names
from mmlab.procfs import PM_FILE, PM_MMAP_EXCLUSIVE, PM_PFRAME_MASK, PM_PRESENT
from mmlab.scenarios import scenario_image
from mmlab.viz import pagetable as vpt
from mmlab.viz.pagetable import AddressDrill, PageTableWalkExplorer, address_fields
from tests.viz import pictures


def by_bits(address):
    """The five fields cut from the binary string, independently of the model's shifts."""
    bits = format(address, "048b")
    return (int(bits[0:9], 2), int(bits[9:18], 2), int(bits[18:27], 2), int(bits[27:36], 2),
            int(bits[36:48], 2))


@pytest.fixture
def scene():
    sb = xip.mount(scenario_image(), None, "mixedmap")
    mm = MM(sb.system)
    exe = mm.mmap(0, 4 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE, sb.open("/bin/xipexe"), 0)
    anon = mm.mmap(0, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS)
    fault.do_page_fault(mm, exe)
    fault.do_page_fault(mm, anon, write=True)
    return mm, exe, anon


@pytest.mark.parametrize("address", [0x7F3A5C2D1E8F, 0, 0x400000, 0x7FFFFFFFFFFF, 0x1234567])
def test_address_fields_match_the_bits(address):
    assert address_fields(address) == by_bits(address)


def test_walk_reaches_flash_and_ram(scene):
    mm, exe, anon = scene
    e = PageTableWalkExplorer(mm, exe + 0x123)
    pte = mm.pgd.walk(exe)
    assert e.walk.pte == pte and e.walk.where == "flash" and not e.walk.pfn_valid
    assert e.walk.phys == (pte.pfn << 12) + 0x123
    assert mm.physmem.pfn_is_flash(pte.pfn)
    g, u, m, t, off = by_bits(exe + 0x123)
    assert f"pgd {g} | pud {u} | pmd {m} | pte {t} | offset 0x123" in e.text
    assert "SPECIAL" in e.text and "no struct page" in e.text
    e.set(address=hex(anon + 5))
    assert e.walk.where == "RAM" and e.walk.pfn_valid
    assert e.walk.pte == mm.pgd.walk(anon)
    assert "|".join(pte_bits_names(e.walk.pte.bits)) in e.text and "RW" in e.text
    assert "has a struct page" in e.text


@pytest.mark.parametrize("flip,stop,levels", [(39, "pgd", 1), (30, "pud", 2), (21, "pmd", 3),
                                              (16, "pte", 4)])
def test_the_walk_stops_where_a_level_is_empty(scene, flip, stop, levels):
    mm, exe, _ = scene
    address = exe ^ (1 << flip)   # the same address with one index changed
    e = PageTableWalkExplorer(mm)
    e.set(address=f"{address:#x}")
    assert (e.walk.stop, e.walk.levels, e.walk.pte) == (stop, levels, None)
    assert f"{stop}[{by_bits(address)[levels - 1]}] empty: the walk stops" in e.text
    assert "no PTE" in e.text


def test_choosing_a_page_keeps_the_offset_and_fills_the_address(scene):
    mm, exe, anon = scene
    e = PageTableWalkExplorer(mm, exe + 0xABC)
    assert e.controls["page"].value == exe
    e.set(page=anon)
    assert e.address == anon + 0xABC
    assert e.controls["address"].value == hex(anon + 0xABC)
    e.set(address="0x1000")          # not a present page: the list shows the typed address
    page = e.controls["page"]
    assert page.label == "(typed address)" and page.index == 0 and e.address == 0x1000
    e.set(address=hex(anon + 7))     # a present page again: the list follows
    assert page.value == anon and page.label == f"{anon:#014x}"


def test_a_typed_address_off_the_present_pages_is_shown_in_the_page_menu(scene):
    mm, exe, _ = scene
    e = PageTableWalkExplorer(mm, 0x7F3A5C2D1E8F)   # as the chapter's own address
    page = e.controls["page"]
    assert page.label == "(typed address)" and page.index == 0
    e.set(page=exe)
    assert e.address == exe + 0xE8F and e.controls["address"].value == hex(exe + 0xE8F)
    e.set(address="0x7f3a5c2d1e8f")
    assert page.label == "(typed address)"
    e.set(page=page.options[0][1])   # choosing "(typed address)" itself changes nothing
    assert e.address == 0x7F3A5C2D1E8F and e.error is None


def test_bad_addresses_are_named_and_change_nothing(scene):
    mm, exe, _ = scene
    e = PageTableWalkExplorer(mm, exe)
    e.set(address="zz")
    assert "not a hexadecimal address" in e.text and e.address == exe
    e.set(address="0xffff880000000000")
    assert "not a user address" in e.text and e.address == exe
    e.set(address="7ffff7ffb000")
    assert e.error is None and e.address == 0x7FFFF7FFB000


def test_picture_changes_and_static_fallback(scene):
    mm, exe, anon = scene
    e = PageTableWalkExplorer(mm, exe)
    e.widget()
    first = e.png()
    e.set(address=hex(anon))
    assert e.png() != first
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text
    assert len(e.update_times) == 1  # one action, one redraw: the page list follows quietly


def test_address_drill_is_seeded_and_checks_five_ints():
    a, b = AddressDrill(7), AddressDrill(7)
    assert a.problem() == b.problem()
    address = int(re.search(r"address (0x[0-9a-f]+)", a.problem()).group(1), 16)
    assert a.answer() == by_bits(address)
    assert a.check(by_bits(address)) and a.check(list(by_bits(address)))
    assert not a.check(by_bits(address)[:4]) and not a.check("0x1")
    assert not a.check(tuple(x + 1 for x in by_bits(address)))
    assert a.next() == b.next() and a.answer() == b.answer()


def test_address_drill_feedback_names_the_wrong_fields_without_their_values():
    d = AddressDrill(2017)
    pgd, pud, pmd, pte, offset = d.answer()
    assert d.feedback(...).startswith("Not answered yet")
    assert "five numbers" in d.feedback(5) and "five numbers" in d.feedback((1, 2, 3))
    assert d.feedback([pgd, pud, pmd, pte, offset]).startswith("Right: ")
    # an index read off hex digits (12 bits): said to be too big for 9 bits
    text = d.feedback((pgd, pud, pmd, 0x2D1, offset))
    assert "Wrong: the pte index: an index is 9 bits, at most 511, and 721 (0x2d1)" in text
    assert "Right: pgd, pud, pmd, offset." in text
    text = d.feedback((pgd + 1, pud, pmd, pte, offset + 0x1000))
    assert "the pgd index: bits 47-39" in text and "at most 0xfff" in text
    assert f"{pgd}" not in text.split("Wrong:")[1].split("Right")[0]  # the value is not given
    assert "Right: pud, pmd, pte." in text


def flags(entry):
    return entry & ~PM_PFRAME_MASK


def test_stored_pagemap_agrees_and_reads_as_expected():
    c = vpt.stored_pagemap()
    assert not c.live and c.agree and len(c.rows) == 8
    by_page = {r.page: r.model for r in c.rows}
    assert flags(by_page[0]) == PM_PRESENT | PM_MMAP_EXCLUSIVE       # the written anon page
    assert flags(by_page[1]) == 0                                     # never touched
    for page in (2, 3, 4, 5):                                         # fault-around: 4 pages
        assert flags(by_page[page]) == PM_PRESENT | PM_FILE | PM_MMAP_EXCLUSIVE
    assert "stored data" in c.table() and "flags agree" in c.table()


@pytest.mark.live
@pytest.mark.skipif(not vpt.live_kernel_available(), reason="needs Linux /proc/self")
def test_live_pagemap_matches_the_stored_data(tmp_path):
    path = vpt.write_course_data(tmp_path / "pagemap.json")
    fresh = vpt.stored_pagemap(path)
    stored = vpt.stored_pagemap()
    assert fresh.agree
    assert [flags(r.real) for r in fresh.rows] == [flags(r.real) for r in stored.rows]
    assert [r.model for r in fresh.rows] == [r.model for r in stored.rows]
    data = json.loads(path.read_text())
    assert data["steps"] == [list(s) for s in vpt.PAGEMAP_STEPS]
    live = vpt.pagemap_comparison()
    assert live.live and "read just now" in live.table()


def test_without_a_linux_kernel_the_stored_rows_are_shown(monkeypatch):
    monkeypatch.setattr(vpt, "live_kernel_available", lambda: False)
    c = vpt.pagemap_comparison()
    assert not c.live and c.rows == vpt.stored_pagemap().rows


# --- the picture, as a learner sees it ----------------------------------------------------------
def _clean(explorer):
    fig, problems = pictures.draw(explorer)
    assert problems == []
    used, legend = pictures.kinds(fig)
    assert used == legend
    return fig, used


def test_picture_of_each_walk_is_clean_and_names_its_frame(scene):
    mm, exe, anon = scene
    e = PageTableWalkExplorer(mm, exe + 0x123)
    fig, used = _clean(e)
    assert used == {"field", "table", "flash"}
    frame = next(s for s in pictures.texts(fig) if s.text.startswith("pfn "))
    assert pictures.inside(frame, pictures.boxes_of(fig, "flash")[0])
    e.set(address=hex(anon + 5))
    fig, used = _clean(e)
    assert used == {"field", "table", "anon"}
    # the five fields: each value on its own box, in order
    fields = sorted(pictures.boxes_of(fig, "field"))
    shown = [s for s in pictures.texts(fig) if s.tagged and s.y > 7.8]
    assert len(fields) == 5 and len(shown) == 5
    for box, label, (name, hi, lo) in zip(fields, sorted(shown, key=lambda s: s.x),
                                          vpt.FIELDS, strict=True):
        assert pictures.inside(label, box) and label.text.startswith(f"{name} {hi}-{lo}\n")


@pytest.mark.parametrize("flip,stop", [(39, "pgd"), (30, "pud"), (21, "pmd"), (16, "pte")])
def test_picture_where_the_walk_stops(scene, flip, stop):
    mm, exe, _ = scene
    e = PageTableWalkExplorer(mm, exe)
    e.set(address=hex(exe ^ (1 << flip)))
    assert e.walk.stop == stop
    fig, used = _clean(e)
    assert "stop" in used and ("absent" in used) == (stop != "pte")
    assert pictures.is_hollow_dashed(fig, "absent") or stop == "pte"
    assert len(pictures.boxes_of(fig, "table")) + len(pictures.boxes_of(fig, "absent")) == 4


@pytest.mark.parametrize("typed", ["zz", "0x800000000000", "-5", "0x" + "f" * 40])
def test_picture_of_a_refused_address_says_why_on_its_own_line(scene, typed):
    mm, exe, _ = scene
    e = PageTableWalkExplorer(mm, exe)
    e.set(address=typed)
    fig, _ = _clean(e)
    assert e.error and any(s.text.replace("\n", " ") == e.error for s in pictures.texts(fig))


def test_picture_for_every_present_page_of_the_chapter_scenes():
    from mmlab.viz.physmem import xip_scene

    for special in (True, False):
        mm, _ = xip_scene(special)
        e = PageTableWalkExplorer(mm)
        for address in e.pages:
            e.set(page=address)
            _clean(e)


def test_picture_of_the_zero_page_and_of_a_page_cache_frame(scene):
    mm, exe, anon = scene
    fault.do_page_fault(mm, anon + 4096, write=False)   # a read of untouched anonymous memory
    e = PageTableWalkExplorer(mm, anon + 4096)
    assert e.walk.where == "zero page"
    _, used = _clean(e)
    assert used == {"field", "table", "zero"}
    from mmlab.viz.physmem import xip_scene

    mm2, at = xip_scene()
    e = PageTableWalkExplorer(mm2, at["txt"])
    _, used = _clean(e)
    assert used == {"field", "table", "file"}
