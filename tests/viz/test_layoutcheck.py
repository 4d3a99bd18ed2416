"""The layout checker finds what a learner would see wrong, and nothing on a clean picture."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mmlab.viz.base import DPI, schematic_axes
from mmlab.viz.layoutcheck import layout_problems, spacing_problem
from mmlab.viz.style import KINDS, box_label, draw_legend, kind_patch, text_width


def canvas():
    fig = Figure(figsize=(6, 2), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, schematic_axes(fig)


def kinds_of(problems):
    return sorted(p.kind for p in problems)


def test_a_clean_picture_has_no_problem():
    fig, ax = canvas()
    ax.add_patch(kind_patch((10, 2), 20, 4, KINDS["flash"]))
    box_label(ax, (10, 2, 30, 6), "page 0")
    draw_legend(ax, [KINDS["flash"]], 50, 8)
    assert layout_problems(fig) == []


def test_spaces_a_browser_collapses():
    assert spacing_problem("a  b") and spacing_problem(" a") and spacing_problem("a ")
    assert not spacing_problem("a b")
    fig, ax = canvas()
    ax.text(5, 5, "101     102")
    assert kinds_of(layout_problems(fig)) == ["spacing"]


def test_overlapping_labels():
    fig, ax = canvas()
    ax.text(10, 5, "when it returned", fontsize=9)
    ax.text(12, 5, "find_vma(mm, addr)", fontsize=9)
    assert kinds_of(layout_problems(fig)) == ["overlap"]


def test_a_label_off_its_box():
    fig, ax = canvas()
    ax.add_patch(kind_patch((10, 2), 10, 4, KINDS["file"]))
    label = box_label(ax, (10, 2, 20, 6), "101")
    label.set_position((60, 4))
    problems = layout_problems(fig)
    assert "outside" in kinds_of(problems) and "legend" in kinds_of(problems)


def test_a_kind_missing_from_the_legend():
    fig, ax = canvas()
    ax.add_patch(kind_patch((10, 2), 10, 4, KINDS["anon"]))
    ax.add_patch(kind_patch((30, 2), 10, 4, KINDS["flash"]))
    draw_legend(ax, [KINDS["flash"]], 50, 8)
    problems = layout_problems(fig)
    assert kinds_of(problems) == ["legend"] and "'anon'" in problems[0].message


def test_a_label_past_the_edge():
    fig, ax = canvas()
    ax.text(95, 5, "a long label that runs off", fontsize=9)
    assert kinds_of(layout_problems(fig)) == ["clipped"]


def test_legend_entries_never_overlap_and_wrap():
    fig, ax = canvas()
    last = draw_legend(ax, list(KINDS.values()), 2, 9, right=98)
    assert last < 9  # it wrapped onto a second row
    assert layout_problems(fig) == []


def test_text_width_grows_with_the_text():
    fig, ax = canvas()
    assert 0 < text_width(ax, "ab", 8) < text_width(ax, "abcd", 8)
