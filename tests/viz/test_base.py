"""mmlab.viz.base and mmlab.viz.quiz: driving widgets from Python, feedback that never spoils."""

import ipywidgets as widgets
import pytest

from mmlab.viz.base import Explorer, schematic_axes
from mmlab.viz.quiz import Drill, Quiz, check_function, compare_guess


class Counter(Explorer):
    figsize = (3, 1)

    def __init__(self):
        super().__init__()
        self.n = 0

    def make_controls(self):
        return {"n": widgets.IntSlider(min=0, max=9), "reset": widgets.Button(description="0")}

    def on_change(self, name, value):
        self.n = value

    def on_press(self, name):
        self.n = 0

    def draw(self, fig):
        ax = schematic_axes(fig)
        ax.text(50, 5, str(self.n), fontsize=30)

    def describe(self):
        return f"n = {self.n}"


def test_explorer_set_press_redraw_and_static_fallback():
    c = Counter()
    box = c.widget()
    first = c.png()
    c.set(n=7)
    assert c.text == "n = 7" and c.png() != first and "n = 7" in box.children[-1].value
    assert len(c.update_times) == 1 and c.update_times[0] < 1.0
    c.press("reset")
    assert c.text == "n = 0"
    bundle = c._repr_mimebundle_()
    assert {"application/vnd.jupyter.widget-view+json", "image/png", "text/plain"} <= set(bundle)
    assert bundle["text/plain"] == "n = 0"
    # the static picture (a docs page) carries its text alternative
    assert 'alt="n = 0"' in bundle["text/html"] and "data:image/png;base64," in bundle["text/html"]
    with pytest.raises(KeyError, match="there are: n, reset"):
        c.set(m=1)


def test_quiz_checks_explains_a_right_answer_and_reveals_only_on_request():
    q = Quiz("vm_end is?", ["the last byte", "the first byte after"], 1, "It is exclusive.",
             hints={0: "Think of vm_end - vm_start."})
    assert q.check() is None and "Pick" in q.feedback.value
    q.choose(0)
    assert q.check() is False and "vm_end - vm_start" in q.feedback.value
    assert "exclusive" not in q.feedback.value  # no spoiler
    q.choose(1)
    assert q.check() is True
    assert "Right:" in q.feedback.value and "exclusive" in q.feedback.value  # and why
    q.show()
    assert "exclusive" in q.feedback.value and "first byte after" in q.feedback.value
    assert "first byte after" in q._repr_mimebundle_()["text/plain"]


def test_check_function_counts_and_shows_the_failing_case_with_what_was_expected():
    cases = [((1,), 2), ((2,), 4), ((3,), 6)]
    assert check_function(lambda x: 2 * x, cases).ok
    r = check_function(lambda x: x + 1, cases, name="double")
    assert (r.passed, r.total) == (1, 3)
    assert r.first_failure == "double(2) returned 3; expected 4"

    def todo(x):
        raise NotImplementedError

    assert check_function(todo, cases).not_done
    assert "Not done yet" in str(check_function(lambda x: ..., cases))
    assert "raised ZeroDivisionError" in str(check_function(lambda x: 1 / 0, cases))


class Double(Drill):
    def make(self):
        n = self.rng.randrange(100)
        return f"What is 2 * {n}?", 2 * n


def test_drill_is_the_same_for_the_same_seed():
    a, b = Double(7), Double(7)
    assert a.problem() == b.problem() and a.answer() == b.answer()
    assert a.check(a.answer()) and not a.check(-1)
    assert a.next() == b.next() and "problem 2" in a.problem()


def test_compare_guess():
    assert "right" in compare_guess(3, 3)
    assert "You guessed 2" in compare_guess(2, 3)
    assert "did not write a guess" in compare_guess(..., 3)
    assert "You guessed None" in compare_guess(None, 3)


def test_course_data_is_found_from_a_notebook_folder_or_the_package(tmp_path, monkeypatch):
    from mmlab.viz.base import course_data

    monkeypatch.delenv("MMLAB_DATA", raising=False)
    monkeypatch.chdir(tmp_path)  # nowhere near the checkout: next to the package
    assert course_data("kernel-captures", "xip-scenarios.json").exists()
    lite = tmp_path / "site"
    (lite / "data" / "course").mkdir(parents=True)
    (lite / "notebooks" / "labs").mkdir(parents=True)
    monkeypatch.chdir(lite / "notebooks" / "labs")  # a lab, as JupyterLite lays the files out
    assert course_data("course") == lite / "data" / "course"
    (tmp_path / "elsewhere" / "course").mkdir(parents=True)
    monkeypatch.setenv("MMLAB_DATA", str(tmp_path / "elsewhere"))
    assert course_data("course") == tmp_path / "elsewhere" / "course"  # the setting wins
