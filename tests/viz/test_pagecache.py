"""mmlab.viz.pagecache: the page-cache explorer, fault-around's window, the RAM cost of XIP, and
the smaps comparison with the running kernel, driven as a learner drives them."""

import random
import re

import pytest

from mmlab.constants import PAGE_SIZE, PROT_READ
from mmlab.viz import pagecache
from mmlab.viz.pagecache import (
    FaultCountDrill,
    PageCacheExplorer,
    RamCostExplorer,
    VmaSpec,
    count_faults,
    fault_around_cases,
    fault_around_window,
    format_smaps,
    ram_cost,
    stored_smaps_comparison,
)
from mmlab.viz.quiz import check_function
from tests.viz import pictures


def frames_of_cache(e):
    return {i: p.pfn for i, p in e.file.f_mapping.pages.items()}


def test_first_touches_are_major_and_a_second_touch_does_not_fault():
    e = PageCacheExplorer()
    box = e.widget()
    first = e.png()
    assert "mmap() read nothing" in e.text and e.counters()["ram"] == 0
    for page in (0, 1, 2):
        e.set(page=page)
        e.press("touch")
        assert e.last.outcome == "major"
        assert "filemap_fault found page" in e.text and "missing" in e.text
        assert "model_readpage" in e.text
        assert e.last.calls[:2] == ["do_fault_around", "filemap_map_pages"]
        assert "page_cache_read" in e.last.calls and e.last.around == []
    e.set(page=0)
    e.press("touch")
    assert e.last.outcome == "none" and "no fault" in e.text
    assert (e.mm.maj_flt, e.mm.min_flt) == (3, 0)
    assert "major 3, minor 0" in e.text and "major 3" in box.children[-1].value
    cache = frames_of_cache(e)
    assert sorted(cache) == [0, 1, 2]
    # each PTE of VMA A points at the page-cache frame of its file page
    assert e.ptes("A") == {i: (cache[i], "cache") for i in (0, 1, 2)}
    assert e.ptes("B") == {}
    assert e.png() != first
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text


def test_read2_fills_the_cache_and_fault_around_maps_it_with_one_minor_fault():
    e = PageCacheExplorer()
    for page in (5, 6, 9):
        e.set(page=page)
        e.press("read(2)")
        assert e.last.outcome == "read" and "No PTE changed" in e.text
    assert e.ptes("A") == {} and sorted(frames_of_cache(e)) == [5, 6, 9]
    e.read(6)
    assert e.last.outcome == "cached"
    e.touch("A", 6)
    # the VMA starts on a 2 MiB boundary: the 16-page window is file pages 0-15
    assert e.last.outcome == "minor" and e.last.around == [5, 9]
    assert "filemap_fault" not in e.last.calls and "do_fault_around" in e.last.calls
    assert "mapped cached pages 5, 9" in e.text and "->fault was never called" in e.text
    assert e.how["A"] == {5: "around", 6: "around", 9: "around"}  # 6 too: no ->fault
    e.touch("A", 9)
    assert e.last.outcome == "none"
    assert (e.mm.maj_flt, e.mm.min_flt) == (0, 1)


def test_fault_around_control_and_a_window_of_four_pages():
    e = PageCacheExplorer()
    for page in range(8):
        e.read(page)
    e.set(fault_around_bytes=PAGE_SIZE)
    assert e.system.fault_around_bytes == PAGE_SIZE
    e.touch("A", 1)
    assert e.last.outcome == "minor" and "do_fault_around" not in e.last.calls
    assert "filemap_fault found page 1 in the page cache" in e.text
    e.set(fault_around_bytes=4 * PAGE_SIZE)
    e.touch("A", 5)
    assert e.last.around == [4, 6, 7]  # pages 4-7: the aligned window of four
    assert "4 pages" in e.text


def test_a_store_makes_an_anonymous_copy_and_does_no_fault_around():
    e = PageCacheExplorer()
    for page in range(4):
        e.read(page)
    before = frames_of_cache(e)
    e.set(vma="B", page=2, access="write")
    e.press("touch")
    assert e.last.outcome == "minor" and e.last.around == []
    frame, where = e.ptes("B")[2]
    assert where == "anon" and frame not in before.values()
    assert frames_of_cache(e) == before  # the page cache keeps the file's page
    assert set(e.ptes("B")) == {2}  # cached pages 0, 1, 3 not mapped: stores do no fault-around
    assert "Copy-on-write" in e.text and f"{frame:#x}" in e.text
    c = e.counters()
    assert (c["page_cache"], c["anonymous"], c["ram"]) == (4, 1, 5)
    # a store to a page already mapped read-only by a load: do_wp_page copies it
    e.touch("B", 0)
    e.touch("B", 0, write=True)
    assert "do_wp_page" in e.last.calls and e.ptes("B")[0][1] == "anon"
    assert e.counters()["anonymous"] == 2


def test_outside_the_vma_misalignment_and_reset():
    e = PageCacheExplorer(npages=12, vmas=[VmaSpec("A", 2, 4)], misalign=3)
    e.touch("A", 0)
    assert e.last.outcome == "outside" and "does not map" in e.text
    for page in range(12):
        e.read(page)
    e.touch("A", 3)
    # the VMA starts 3 pages into its 16-page block: fault-around starts at vm_start (page 2)
    assert e.last.around == [2, 4, 5]
    e.press("reset")
    assert e.last is None and e.counters() == {"maj_flt": 0, "min_flt": 0, "page_cache": 0,
                                               "anonymous": 0, "flash": 0, "ram": 0}


def test_cramfs_file_refuse_copies_every_page_and_mixedmap_maps_flash():
    refuse = PageCacheExplorer.cramfs("/lib/libc.so.6", "refuse")
    assert refuse.npages == 5
    for page in range(5):
        refuse.touch("A", page)
        assert refuse.last.outcome == "major" and "cramfs_readpage" in refuse.text
    assert refuse.counters()["ram"] == 5 and refuse.counters()["flash"] == 0
    mixed = PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap")
    ptes = mixed.ptes("A")
    assert [where for _pfn, where in ptes.values()] == ["flash"] * 3
    assert all(mixed.system.physmem.pfn_is_flash(pfn) for pfn, _w in ptes.values())
    first = mixed.png()
    for page in range(5):
        mixed.touch("A", page)
    assert [mixed.last.outcome] == ["major"]
    assert (mixed.mm.maj_flt, mixed.mm.min_flt) == (2, 0)  # pages 3, 4 only
    c = mixed.counters()
    assert (c["flash"], c["page_cache"], c["ram"]) == (3, 2, 2)
    assert mixed.png() != first


def test_fault_around_window_agrees_with_the_model():
    cases = fault_around_cases() + fault_around_cases(40, seed=7)
    for args, expected in cases:
        assert fault_around_window(*args) == expected, args
    assert check_function(fault_around_window, cases).ok
    # a window that ignores the VMA's start fails, and the feedback does not give the answer
    wrong = check_function(lambda a, s, e, n: fault_around_window(a, 0, e, n), cases)
    assert not wrong.ok and "returned" in wrong.first_failure
    # the PTE-table clip: a VMA starting at page 500 of its table, a fault at page 505
    base = 0x40000000
    assert fault_around_window(base + 505 * PAGE_SIZE, base + 500 * PAGE_SIZE,
                               base + 530 * PAGE_SIZE) == (base + 500 * PAGE_SIZE,
                                                           base + 511 * PAGE_SIZE)


def test_count_faults_and_the_drill():
    assert count_faults(8, [0, 1, 2, 0]) == (3, 0)
    # read(2) of 2 and 3 first: touching 2 is minor (fault-around maps 3 too), 3 needs nothing
    assert count_faults(8, [2, 3, 5, 2], read_first=[2, 3]) == (1, 1)
    assert count_faults(8, [2, 3], read_first=[2, 3], fault_around_bytes=PAGE_SIZE) == (0, 2)
    a, b = FaultCountDrill(11), FaultCountDrill(11)
    assert a.problem() == b.problem() and a.answer() == b.answer()
    assert a.check(list(a.answer())) and not a.check((99, 99))
    assert "(major, minor)" in a.problem()
    rng = random.Random(5)
    for _ in range(5):
        d = FaultCountDrill(rng.randrange(1000))
        major, minor = d.answer()
        assert major + minor <= 6


def test_ram_cost_and_its_explorer():
    cost = ram_cost("libc-past-xip")
    refuse, rss_refuse, err = cost["refuse"]
    assert err is None and (refuse.flash, refuse.ram) == (0, 5) and rss_refuse == 20
    mixed, rss_mixed, _ = cost["mixedmap"]
    assert (mixed.flash, mixed.page_cache, mixed.ram) == (3, 2, 2) and rss_mixed == 8
    e = RamCostExplorer()
    first = e.png()
    assert "after them RAM 5 pages" in e.text and "from flash 3 pages" in e.text
    e.set(scenario="shared-writable")
    assert "EROFS" in e.text and e.png() != first
    e.set(scenario="xip-executable")
    # a whole-file XIP map was never refused
    assert "refuse    touches: read pages 0-3: flash; after them RAM 0 pages" in e.text
    assert "image/png" in e._repr_mimebundle_()


def test_stored_smaps_kernel_and_model_agree():
    data = stored_smaps_comparison()
    assert data["mismatch"] is None and len(data["stages"]) == 2
    for stage in data["stages"]:
        assert stage["kernel"] == stage["model"]
    first, last = data["stages"]
    a = first["kernel"][0]
    # the written and flushed file's 16 pages, all mapped by one load (fault-around), clean
    assert (a["vma"], a["Rss"], a["Pss"], a["Private_Clean"]) == ("A", 64, 64, 64)
    text = format_smaps(data)
    assert "Private_Clean" in text and "stored from Linux" in text and "differs" not in text


@pytest.mark.live
@pytest.mark.skipif(not pagecache.can_run_live(), reason="needs Linux /proc")
def test_live_smaps_agrees_and_matches_the_stored_counters():
    live = pagecache.live_smaps_comparison()
    assert live["mismatch"] is None
    stored = stored_smaps_comparison()
    for got, kept in zip(live["stages"], stored["stages"], strict=True):
        assert got["kernel"] == got["model"]
        strip = lambda rows: [{k: v for k, v in r.items() if k != "VmFlags"} for r in rows]  # noqa: E731
        assert strip(got["model"]) == strip(kept["model"])


def test_write_course_data_regenerates_the_same_counters(tmp_path):
    if not pagecache.can_run_live():
        pytest.skip("needs Linux /proc")
    (path,) = pagecache.write_course_data(tmp_path)
    fresh = stored_smaps_comparison(tmp_path)
    kept = stored_smaps_comparison()
    assert path.name == "smaps.json" and fresh["steps"] == kept["steps"]
    for a, b in zip(fresh["stages"], kept["stages"], strict=True):
        assert [r["Rss"] for r in a["model"]] == [r["Rss"] for r in b["model"]]


def test_vma_spec_perms():
    assert VmaSpec("A", 0, 1).perms == "r--p"
    assert VmaSpec("B", 0, 1, PROT_READ | 2, 1).perms == "rw-s"


def test_a_given_file_keeps_its_page_cache_across_reset_and_a_bad_store_is_sigsegv():
    from mmlab.fs import file_from_bytes
    from mmlab.system import System

    system = System()
    file = file_from_bytes(bytes(6 * PAGE_SIZE), system=system)
    e = PageCacheExplorer(file, system=system, vmas=[VmaSpec("A", 0, 6)])
    assert e.npages == 6
    e.touch("A", 1)
    e.touch("A", 2, write=True)
    assert e.last.outcome == "SIGSEGV" and "does not allow" in e.text
    frame = e.cached()[1]
    e.reset()
    # a new process: no PTEs, counters at zero; the file's cache stays, and its page is
    # no longer mapped by the old process (munmap dropped the mapping)
    assert e.ptes("A") == {} and (e.mm.maj_flt, e.mm.min_flt) == (0, 0)
    assert e.cached() == {1: frame}
    assert e.system.physmem.pfn_to_page(frame)._mapcount == -1
    e.touch("A", 1)
    assert e.last.outcome == "minor"


# --- the pictures, as a learner sees them -------------------------------------------------------
def _on_page(e, shown):
    """The file page whose column holds the text's centre."""
    w = 84.0 / e.npages
    return int((shown.x - 15.0) // w)


def _check_picture(e):
    fig, problems = pictures.draw(e)
    assert problems == []
    used, legend = pictures.kinds(fig)
    assert used == legend  # the legend lists exactly what is drawn
    return fig


def test_picture_frames_sit_on_their_pages_in_the_chapters_fault_around_cell():
    # chapter 04: read(2) of scattered pages, then one load: "101 ... 107" must sit on the
    # cached pages 0, 2, 4, 6, 8, 14, 17, not on pages 0-6
    e = PageCacheExplorer()
    for page in (0, 2, 4, 6, 8, 14, 17):
        e.read(page)
    e.touch("A", 4)
    fig = _check_picture(e)
    cached = e.cached()
    shown = pictures.texts(fig)
    frames = {_on_page(e, s): s.text for s in shown if s.tagged and 6.75 <= s.y <= 8.35}
    assert frames == {i: f"{pfn:x}" for i, pfn in cached.items()}
    # the axis: every page number on its own column
    axis = {_on_page(e, s): s.text for s in shown if 8.5 <= s.y <= 9.0 and s.x > 15}
    assert axis == {i: str(i) for i in range(e.npages)}
    # PTEs that point at the page-cache frame above them carry no number of their own
    assert not [s for s in shown if s.tagged and s.y < 6.5]
    used, _ = pictures.kinds(fig)
    assert used == {"file", "around", "absent", "last"}
    assert pictures.is_hollow_dashed(fig, "absent")
    absent = pictures.boxes_of(fig, "absent")
    ptes_a = e.ptes("A")
    assert len(absent) == (e.npages - len(cached)) + (e.npages - len(ptes_a)) + e.npages


def test_picture_flash_frames_each_on_its_own_page_under_mixedmap():
    mixed = PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap")
    for page in range(5):
        mixed.touch("A", page)
    fig = _check_picture(mixed)
    ptes = mixed.ptes("A")
    row = {_on_page(mixed, s): s.text for s in pictures.texts(fig) if s.tagged and s.y < 6.5}
    assert row == {i: f"{pfn:x}" for i, (pfn, where) in ptes.items() if where == "flash"}
    assert len(row) == 3 and len(set(row.values())) == 3  # one number per flash box
    used, _ = pictures.kinds(fig)
    assert {"flash", "file", "last"} <= used and "anon" not in used


def test_picture_a_private_copy_shows_its_own_frame_and_kind():
    e = PageCacheExplorer()
    e.touch("A", 3)
    e.touch("B", 5, write=True)
    fig = _check_picture(e)
    frame = e.ptes("B")[5][0]
    shown = [s for s in pictures.texts(fig) if s.tagged and s.text == f"{frame:x}"]
    assert len(shown) == 1 and _on_page(e, shown[0]) == 5
    anon = pictures.boxes_of(fig, "anon")
    assert len(anon) == 1 and pictures.inside(shown[0], anon[0])


@pytest.mark.parametrize("npages", [1, 5, 20, 40, 64, 150])
def test_picture_stays_clean_for_any_file_size(npages):
    e = PageCacheExplorer(npages=npages)
    for page in range(0, npages, 3):
        e.read(page)
    e.touch("A", npages // 2)
    e.touch("B", npages - 1, write=True)
    fig = _check_picture(e)
    shown = pictures.texts(fig)
    axis = [s for s in shown if 8.5 <= s.y <= 9.0 and s.x > 15]
    assert axis[0].text == "0" and len(axis) >= min(npages, 4)
    written = {s.text for s in shown if s.tagged and 6.75 <= s.y <= 8.35}
    missing = "frames not written" in " ".join(s.text for s in shown)
    assert missing or written == {f"{pfn:x}" for pfn in e.cached().values()}


def test_picture_clean_in_every_state_a_learner_drives():
    from mmlab.bench.pagecache_bench import drive_pagecache

    for e in (PageCacheExplorer(), PageCacheExplorer.cramfs("/lib/libc.so.6", "refuse"),
              PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap"),
              PageCacheExplorer(npages=12, vmas=[VmaSpec("A", 2, 4)], misalign=3)):
        for seed in range(8):
            drive_pagecache(e, changes=4, seed=seed)
            _check_picture(e)
        e.press("reset")
        _check_picture(e)
    assert "page cache (file page: frame)" in e.alt_text()


@pytest.mark.parametrize("name", [s.name for s in __import__("mmlab.scenarios",
                                                            fromlist=["SCENARIOS"]).SCENARIOS])
def test_ram_cost_picture_every_scenario(name):
    e = RamCostExplorer(name)
    fig = _check_picture(e)
    cost = e.cost
    shown = [s.text for s in pictures.texts(fig)]
    for strategy, (ram, _rss, error) in cost.items():
        assert strategy in shown
        if not error:
            assert f"RAM: {ram.ram} page{'' if ram.ram == 1 else 's'}" in shown
    used, _ = pictures.kinds(fig)
    expected = set()
    for (ram, _rss, error), run in zip(cost.values(), e.runs.values(), strict=True):
        if not error:
            expected |= {k for k, n in (("flash", ram.flash), ("file", ram.page_cache),
                                        ("anon", ram.anonymous),
                                        ("sigbus", sum(t.signal == "SIGBUS"
                                                       for t in run.touches))) if n}
    assert used == expected


# --- what the text says, as the chapter's learners read it --------------------------------------
def test_after_reset_the_mixedmap_text_says_what_mmap_mapped():
    mixed = PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap")
    for page in range(5):
        mixed.touch("A", page)
    mixed.press("reset")
    assert [w for _pfn, w in mixed.ptes("A").values()] == ["flash"] * 3  # mapped at mmap time
    first = mixed.text.splitlines()[0]
    assert "mmap() itself mapped file pages 0-2 of VMA A from flash" in first
    assert "vm_insert_mixed" in first and "VM_MIXEDMAP" in first
    assert "page cache is empty" in first and "no PTE is set" not in first
    refuse = PageCacheExplorer.cramfs("/lib/libc.so.6", "refuse")
    assert refuse.text.startswith("Nothing touched yet: mmap() read nothing and set no PTE")


def test_read2_of_a_page_mapped_from_flash_says_the_touch_never_uses_the_copy():
    mixed = PageCacheExplorer.cramfs("/lib/libc.so.6", "mixedmap")
    mixed.read(1)
    first = mixed.text.splitlines()[0]
    assert "VMA A maps this page from flash: a touch there does not fault and never uses " \
           "this RAM copy" in first
    assert "finds it cached" not in first
    mixed.touch("A", 1)
    assert mixed.last.outcome == "none" and mixed.ptes("A")[1][1] == "flash"
    mixed.read(4)  # compressed: the page cache is the only way in
    assert "A touch through VMA A finds it cached" in mixed.text
    plain = PageCacheExplorer()
    plain.read(3)
    assert "A touch through VMA A or B finds it cached" in plain.text
    plain.touch("B", 3, write=True)
    plain.read(3)
    assert "VMA B has a private copy of this page" in plain.text


def test_a_page_fault_around_mapped_is_drawn_so_and_outlined_as_the_last_touch():
    e = PageCacheExplorer()
    for page in (7, 8, 9):
        e.read(page)
    e.touch("A", 8)
    assert "Page 8 was cached, so fault-around itself mapped it" in e.text
    fig = _check_picture(e)
    around = pictures.boxes_of(fig, "around")
    last, = pictures.boxes_of(fig, "last")
    assert len(around) == 3  # 7, 8 and 9: all striped
    assert any(abs(b[0] - last[0]) < 1e-6 and abs(b[1] - last[1]) < 1e-6 for b in around)
    assert not pictures.boxes_of(fig, "file") or all(b[1] > 6 for b in
                                                     pictures.boxes_of(fig, "file"))
    assert "8: 0x" in e.alt_text() and "by fault-around" in e.alt_text()


def test_a_refused_store_is_marked_on_its_page_and_in_the_legend():
    e = PageCacheExplorer()
    e.touch("A", 3, write=True)
    assert e.last.outcome == "SIGSEGV"
    assert "VMA A is r--p, it does not allow a write" in e.text
    fig = _check_picture(e)
    used, legend = pictures.kinds(fig)
    assert "sigsegv" in used and "sigsegv" in legend
    cross, = pictures.boxes_of(fig, "sigsegv")
    last, = pictures.boxes_of(fig, "last")
    assert cross == pytest.approx(last)
    # on page 3's column, in VMA A's row (the first row of PTEs)
    w = 84.0 / e.npages
    assert 15 + 3 * w <= (cross[0] + cross[2]) / 2 <= 15 + 4 * w
    shown = " ".join(s.text for s in pictures.texts(fig))
    assert "last touch: SIGSEGV" in shown and "refused: SIGSEGV" in shown
    e.touch("A", 3)  # the next touch clears the mark
    assert "sigsegv" not in pictures.kinds(_check_picture(e))[0]


def test_plurals_are_right_in_the_text_and_the_picture():
    e = PageCacheExplorer(fault_around_bytes=PAGE_SIZE)
    e.read(12)
    e.touch("A", 12)
    texts = [e.text, e.alt_text()]
    e.set_fault_around(4 * PAGE_SIZE)
    e.read(13)
    e.touch("A", 14)
    texts += [e.text, e.alt_text()]
    fig = _check_picture(e)
    texts += [s.text for s in pictures.texts(fig)]
    joined = "\n".join(texts)
    assert "(1 page)" in joined and "mapped cached page 13." in joined
    assert "RAM 3 pages" in joined
    one = PageCacheExplorer()
    one.read(0)
    joined += "\n" + "\n".join(s.text for s in pictures.texts(_check_picture(one)))
    assert "RAM 1 page " in joined
    assert not re.search(r"\b1 pages\b", joined) and "(1 pages)" not in joined
    for name in ("beyond-eof", "writable-private", "non-contiguous-tail"):
        r = RamCostExplorer(name)
        joined = r.text + "\n" + "\n".join(s.text for s in pictures.texts(_check_picture(r)))
        assert not re.search(r"\b1 pages\b", joined), name


def test_the_controls_follow_what_code_does_without_a_redraw():
    e = PageCacheExplorer()
    e.widget()
    controls = e.controls
    before = len(e.update_times)
    e.touch("A", 4)
    assert (controls["vma"].value, controls["page"].value, controls["access"].value) == \
        ("A", 4, "read")
    e.touch("B", 7, write=True)
    assert (controls["vma"].value, controls["page"].value, controls["access"].value) == \
        ("B", 7, "write")
    e.read(11)
    assert controls["page"].value == 11 and controls["vma"].value == "B"
    e.set_fault_around(4 * PAGE_SIZE)
    assert controls["fault_around_bytes"].value == 4 * PAGE_SIZE
    e.set_fault_around(8 * PAGE_SIZE)  # not in the menu: it gets an entry
    assert controls["fault_around_bytes"].label == "8 pages"
    assert len(e.update_times) == before  # nothing redrawn by calls from code
    e.press("touch")  # the button acts on what the controls show, with one redraw
    assert (e.last.vma, e.last.page, e.last.kind) == ("B", 11, "write")
    assert len(e.update_times) == before + 1


# --- the RAM cost of each scenario: what it does, what its touches got ---------------------------
@pytest.mark.parametrize("name", [s.name for s in __import__("mmlab.scenarios",
                                                            fromlist=["SCENARIOS"]).SCENARIOS])
def test_ram_cost_says_what_the_scenario_does_and_what_its_touches_got(name):
    from mmlab.scenarios import scenario

    sc = scenario(name)
    e = RamCostExplorer(name)
    lines = e.text.splitlines()
    assert lines[0] == f"{name}: {sc.why}"
    assert lines[1] == f"  the program: {pagecache.scenario_calls(sc)}"
    assert sc.path in lines[1]
    shown = [s.text for s in pictures.texts(_check_picture(e))]
    assert any(sc.why in t for t in shown)
    assert pagecache.scenario_calls(sc).split(";")[0] in " ".join(shown)
    for strategy, run in e.runs.items():
        line = next(x for x in lines if x.startswith(f"  {strategy} "))
        if run.touches:
            assert f"touches: {pagecache.touch_outcomes(run)};" in line


def test_ram_cost_of_beyond_eof_draws_the_sigbus_and_the_failures_are_explained():
    e = RamCostExplorer("beyond-eof")
    assert "refuse    touches: read page 0: SIGBUS;" in e.text
    fig = _check_picture(e)
    used, legend = pictures.kinds(fig)
    assert used == legend == {"sigbus"}
    assert "1 SIGBUS" in [s.text for s in pictures.texts(fig)]
    e.set(scenario="shared-writable")
    assert "open(O_RDWR) refused: cramfs is a read-only file system" in e.text
    e.set(scenario="shared-write-readonly-fd")
    assert "a shared writable mapping needs a descriptor opened for writing" in e.text
    shown = " ".join(s.text.replace("\n", " ") for s in pictures.texts(_check_picture(e)))
    assert "opened for writing" in shown and "EACCES" in shown


# --- the fault-count drill: feedback and a walk through the loads --------------------------------
def test_the_drill_explains_each_load_and_its_totals_are_the_answer():
    for seed in (2017, 1, 2, 3, 11, 40):
        d = FaultCountDrill(seed)
        for _ in range(3):
            lines = d.explain().splitlines()
            loads = [x for x in lines if x.startswith("load ")]
            touches = re.search(r"loads from pages ([\d, ]+), in that order", d.problem())
            assert len(loads) == len(touches.group(1).split(", "))
            major = sum(": major:" in x for x in loads)
            minor = sum(": minor:" in x for x in loads)
            none = sum(": no fault:" in x for x in loads)
            assert (major, minor) == d.answer() and major + minor + none == len(loads)
            assert lines[-1] == f"total: {d.answer()} = (major, minor)"
            d.next()


def test_the_drills_feedback_says_what_is_wrong_and_check_stays_a_bool():
    d = FaultCountDrill(2017)
    major, minor = d.answer()
    assert d.check((major, minor)) is True and d.check([major, minor]) is True
    assert d.check(f"{major}, {minor}") is True and d.check(f"({major},{minor})") is True
    assert d.check(major + minor) is False and d.check((major + 1, minor)) is False
    assert "Write a pair (major, minor)" in d.feedback(5)
    assert d.feedback(...).startswith("Not answered yet")
    assert d.feedback((major, minor)).startswith("Right")
    wrong = d.feedback((major, minor + 1))
    assert "your minor count is off" in wrong and f"{(major, minor)}" in wrong
    assert "drill.explain()" in wrong
    assert "major and minor counts are off" in d.feedback((major + 1, minor + 1))


def test_set_fault_around_takes_bytes_and_says_so_for_a_number_of_pages():
    e = PageCacheExplorer()
    e.widget()
    with pytest.raises(ValueError, match=r"takes bytes, and 4 is less than one page.*"
                                         r"set_fault_around\(4 \* 4096\)"):
        e.set_fault_around(4)  # a learner meaning 4 pages: was fault-around off, silently
    assert e.system.fault_around_bytes == 16 * PAGE_SIZE  # unchanged
    with pytest.raises(TypeError, match="number of bytes"):
        e.set_fault_around("4 pages")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="-EINVAL"):
        e.set_fault_around(1024 * PAGE_SIZE)
    e.set_fault_around(5 * PAGE_SIZE)  # rounded down to a power of two, as the kernel does
    assert e.fault_around_bytes == e.system.fault_around_bytes == 4 * PAGE_SIZE
    assert e.controls["fault_around_bytes"].value == 4 * PAGE_SIZE
    e.set_fault_around(PAGE_SIZE)  # off
    e.read(3)
    e.touch("A", 2)
    assert sorted(e.ptes("A")) == [2]
