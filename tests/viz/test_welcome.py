"""The welcome glance: switching strategy changes where the pages live and the VMAs."""

from mmlab.viz.welcome import XipGlance


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
