"""The welcome glance: switching strategy changes where the pages live and the VMAs."""

import pytest

from mmlab.viz.welcome import PAGE_KINDS, STRATEGY_LABELS, XipGlance, page_homes
from tests.viz import pictures


def test_strategies_change_the_ram_cost_and_the_vmas():
    g = XipGlance()
    g.widget()
    pictures = {g.png()}
    g.set(strategy="refuse")
    assert "0 page(s) read in place from flash, 5 page(s) of RAM" in g.text
    assert "direct mmap failed: fix me" in g.text
    pictures.add(g.png())
    g.set(strategy="mixedmap")
    assert "3 page(s) read in place from flash, 2 page(s) of RAM" in g.text
    assert g.text.count("/mnt/lib/libc.so.6") == 1  # one VMA
    pictures.add(g.png())
    g.set(strategy="split")
    assert g.text.count("/mnt/lib/libc.so.6") == 2 and " 0800e000 " in g.text  # split, pfn
    assert len(pictures) == 3 and len(g.update_times) == 3


def test_scenarios_offered_are_the_ones_that_map_something():
    g = XipGlance()
    options = g.controls["scenario"].options
    assert "shared-writable" not in options and "libc-past-xip" in options
    g.set(scenario="writable-private")
    assert "vma is writable" in g.text and "1 private copies" in g.text
    assert "image/png" in g._repr_mimebundle_()


# --- the picture, as a learner sees it ----------------------------------------------------------
_MAPPED = [n for n in XipGlance().controls["scenario"].options]


@pytest.mark.parametrize("strategy", [v for _, v in STRATEGY_LABELS])
@pytest.mark.parametrize("name", _MAPPED)
def test_every_scenario_and_strategy_draws_clean_and_right(name, strategy):
    g = XipGlance(name, strategy)
    fig, problems = pictures.draw(g)
    assert problems == []
    used, legend = pictures.kinds(fig)
    assert used == legend
    homes = page_homes(g.run)
    assert used == {PAGE_KINDS[h].key for h in homes} | {"vma"}
    # each page's label sits on the box of its own kind
    shown = {s.text: s for s in pictures.texts(fig) if s.tagged and s.text.startswith("page")}
    for i, home in enumerate(homes):
        box = sorted(pictures.boxes_of(fig, PAGE_KINDS[home].key))
        assert any(pictures.inside(shown[f"page {i}"], b) for b in box)
    # the RAM and flash counts agree with the pages drawn
    assert homes.count("flash") == g.run.ram.flash
    assert homes.count("page cache") + homes.count("anonymous") == g.run.ram.ram


def test_untouched_pages_are_hollow_and_a_sigbus_page_is_in_the_legend():
    g = XipGlance("writable-private", "split")
    assert page_homes(g.run) == ["page cache", "anonymous", "absent", "absent"]
    fig, _ = pictures.draw(g)
    assert pictures.is_hollow_dashed(fig, "absent") and len(pictures.boxes_of(fig, "absent")) == 2
    g = XipGlance("beyond-eof", "mixedmap")
    fig, _ = pictures.draw(g)
    used, legend = pictures.kinds(fig)
    assert "sigbus" in used and "sigbus" in legend
    assert "page 0: past EOF: SIGBUS" in g.alt_text()


def test_untouched_pages_mapped_at_mmap_time_are_drawn_where_their_pte_points():
    # shared-readonly touches pages 0 and 3; the whole file was mapped from flash at mmap
    # time, so pages 1 and 2 are on flash too (the old picture drew them white)
    g = XipGlance("shared-readonly", "mixedmap")
    assert page_homes(g.run) == ["flash"] * 4 and g.run.ram.flash == 4


def test_each_button_names_the_strategy_the_text_uses_and_the_legend_needs_no_later_term():
    # the text under the picture says "under 'refuse'": the button a learner pressed says so
    for label, value in STRATEGY_LABELS:
        assert label.endswith(f"({value})")
    g = XipGlance(strategy="refuse")
    assert "under 'refuse'" in g.text
    # chapter 0 comes before struct page (chapter 2)
    assert all("struct page" not in kind.label for kind in PAGE_KINDS.values())
    fig, _ = pictures.draw(XipGlance(strategy="mixedmap"))
    assert any("read in place" in s.text for s in pictures.texts(fig))
