"""The learner-time model: what it counts, its figures, and the times the course states from it
(each notebook's first cell, the labs' README, the instructor guide's plans)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from mmlab import coursetime
from mmlab.coursetime import (
    EXPLORER_MINUTES,
    FIGURES,
    WORDS_PER_MINUTE,
    CellRun,
    course_notebooks,
    markdown_words,
    notebook_time,
    round_range,
    run_notebook,
    stated_minutes,
)
from mmlab.viz.quiz import quiz_bank
from mmlab.workshop import is_why_block

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "instructor-guide.md"
#: How far a stated time may be from the model's rounded range, at each end, in minutes.
TOLERANCE = 5


@pytest.fixture(scope="module")
def measured():
    """Every chapter and lab, run once headless: {name: (path, runs, NotebookTime)}."""
    out = {}
    for path in course_notebooks(ROOT):
        runs = run_notebook(path)
        t = notebook_time(path, runs)
        out[t.name] = (path, runs, t)
    return out


# --- counting ------------------------------------------------------------------------------------
def test_markdown_words_leave_out_link_addresses_tags_and_punctuation():
    text = ("A [`remap_pfn_range`](https://elixir.bootlin.com/linux/v4.15/source/mm/memory.c#L2045)"
            " call, <b>bold</b> — and `vm_pgoff` | 2 |")
    assert markdown_words(text) == 7  # A, `remap_pfn_range`, call, bold, and, `vm_pgoff`, 2
    assert markdown_words("") == 0


def _course_like(tmp_path: Path) -> Path:
    quiz = next(iter(quiz_bank()))
    cells = [
        new_markdown_cell("# 9 · A chapter\n\n" + "word " * 148 + "\n\n## Part one"),
        new_code_cell("# a comment of six words here\nx = 1\n\ny = 2"),
        new_code_cell("guess = None   # your guess"),
        new_code_cell("print(compare_guess(guess, 3, 'three'))"),
        new_code_cell("from mmlab.viz.stepper import TraceStepper\n\nTraceStepper(t)"),
        new_markdown_cell("## Part two\n\n### Predict, then run\n\nWhat next?"),
        new_code_cell("races = RaceExplorer('two faults', 'split')\nprint(races.text)"),
        new_code_cell("races"),
        new_code_cell(f'Quiz.named("{quiz}")'),
        new_code_cell("def my_pack(a, b):\n    raise NotImplementedError\n\n"
                      "def my_unpack(v):\n    raise NotImplementedError"),
        new_code_cell("drill = PackDrill(seed=2017)\nprint(drill.problem())"),
        new_code_cell("RaceExplorer('munmap in the window')"),
        new_code_cell("# your code here"),
        new_code_cell(""),
    ]
    path = tmp_path / "notebooks" / "09-x.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(new_notebook(cells=cells), path)
    return path


def test_a_notebook_is_counted_as_a_learner_meets_it(tmp_path):
    path = _course_like(tmp_path)
    t = notebook_time(path)
    c = t.counts
    assert (t.name, t.title) == ("09-x", "9 · A chapter")
    assert c.words == 3 + 148 + 2 + 2 + 5  # "9 A chapter", words, two headings, "Predict..."
    assert c.comment_words == 6 + 2 + 3
    assert (c.cells, c.tries) == (10, 2)
    assert c.widgets == ["TraceStepper", "RaceExplorer", "RaceExplorer"]  # `races` shown by name
    assert (c.predicts, len(c.quizzes), c.functions, c.drills, c.lab_work) == (1, 1, 2, 1, 0)
    assert c.exercises == 5
    assert c.quiz_words > 10


def test_the_minutes_are_the_figures_added_up(tmp_path):
    path = _course_like(tmp_path)
    runs = {4: CellRun(30.0, 300, 1)}  # half a minute of kernel time, 300 words printed
    t = notebook_time(path, runs)
    c = t.counts
    for end in ("low", "high"):
        def f(name, end=end):
            return getattr(FIGURES[name], end)
        stepper, race = EXPLORER_MINUTES["TraceStepper"], EXPLORER_MINUTES["RaceExplorer"]
        explorers = {"low": stepper[0] + race[0] * (1 + f("explorer again")),
                     "high": stepper[1] + race[1] * (1 + f("explorer again"))}[end]
        expected = ((c.words + c.comment_words + c.quiz_words) / WORDS_PER_MINUTE
                    + 300 / f("output") + 0.5
                    + c.cells * f("cell") + c.code_lines * f("code line") / 60
                    + f("predict") + f("quiz") + 2 * f("function") + f("drill")
                    + 2 * f("try it") + explorers)
        assert getattr(t, end) == pytest.approx(expected), end
    assert t.low < t.high


def test_sections_are_cut_at_headings_and_can_be_left_out(tmp_path):
    t = notebook_time(_course_like(tmp_path))
    assert [(s.part, s.title) for s in t.sections] == [
        ("(introduction)", "(introduction)"), ("Part one", "Part one"),
        ("Part two", "Part two"), ("Part two", "Predict, then run")]
    assert t.low == pytest.approx(sum(s.low for s in t.sections))
    low, high = t.without(["Part two"])  # a ## part takes its ### sections with it
    assert (low, high) == pytest.approx((t.sections[0].low + t.sections[1].low,
                                         t.sections[0].high + t.sections[1].high))
    assert t.without(["Predict"]) == pytest.approx((t.low - t.sections[3].low,
                                                    t.high - t.sections[3].high))
    aloud = t.in_room(aloud=["Part one"])
    assert aloud[0] == pytest.approx(t.low - t.sections[1].low + FIGURES["aloud"].low)
    with pytest.raises(KeyError, match="0 headings match 'Nowhere'"):
        t.without(["Nowhere"])
    with pytest.raises(KeyError, match="2 headings match 'Part'"):
        t.without(["Part"])


def test_round_range_rounds_outwards_to_five_minutes():
    assert round_range(17.2, 31.0) == (15, 35)
    assert round_range(15.0, 30.0) == (15, 30)
    assert round_range(0.4, 4.9) == (0, 5)


def test_every_explorer_of_the_course_has_a_figure():
    import mmlab.viz
    from mmlab.viz.base import Explorer

    found = set()
    for info in pkgutil.iter_modules(mmlab.viz.__path__):
        module = importlib.import_module(f"mmlab.viz.{info.name}")
        found |= {name for name, obj in inspect.getmembers(module, inspect.isclass)
                  if issubclass(obj, Explorer) and obj is not Explorer}
    assert found == set(EXPLORER_MINUTES)
    for name, (low, high, why) in EXPLORER_MINUTES.items():
        assert 0 < low <= high and why, name
    for name, fig in FIGURES.items():
        assert fig.why and fig.unit, name


def test_the_command_line_prints_the_table_and_the_figures(capsys):
    assert coursetime.main(["--static", "--root", str(ROOT), "--sections"]) == 0
    out = capsys.readouterr().out
    assert "07-fault-time-split" in out and "labs/03-race-recheck" in out
    assert "3 · Two faulting threads" in out
    assert coursetime.main(["--figures"]) == 0
    out = capsys.readouterr().out
    assert "RaceExplorer" in out and "150-150 words/minute" in out


def test_write_stated_times_changes_only_the_sentence_and_the_readme_row(tmp_path):
    nbs = tmp_path / "notebooks"
    (nbs / "labs" / "solutions").mkdir(parents=True)
    first = "# 1 · A chapter\n\n" + "word " * 300 + "\n\nIt takes 1 to 2 minutes. Run the cells."
    nbformat.write(new_notebook(cells=[new_markdown_cell(first), new_code_cell("x = 1")]),
                   nbs / "01-a.ipynb")
    lab = new_notebook(cells=[new_markdown_cell("# Lab 01 · L\n\n*It takes 1 to 2 minutes.*"),
                              new_code_cell("def f():\n    ...", metadata={"tags": ["exercise"]})])
    nbformat.write(lab, nbs / "labs" / "01-l.ipynb")
    nbformat.write(lab, nbs / "labs" / "solutions" / "01-l.ipynb")
    (nbs / "labs" / "README.md").write_text(
        "| Lab | Time |\n| --- | --- |\n| [01 · L](01-l.ipynb) | 20 min |\n")
    times = [notebook_time(p) for p in course_notebooks(tmp_path)]
    changed = coursetime.write_stated_times(tmp_path, times)
    assert len(changed) == 4
    for t, path in zip(times, course_notebooks(tmp_path), strict=True):
        assert stated_minutes(path) == t.rounded
    assert stated_minutes(nbs / "labs" / "solutions" / "01-l.ipynb") == times[1].rounded
    text = nbformat.read(nbs / "01-a.ipynb", as_version=4).cells[0].source
    assert text.endswith(f"It takes {times[0].rounded[0]} to {times[0].rounded[1]} minutes. "
                         "Run the cells.")
    low, high = times[1].rounded
    readme = (nbs / "labs" / "README.md").read_text()
    assert f"| [01 · L](01-l.ipynb) | {low}-{high} min |" in readme
    assert coursetime.write_stated_times(tmp_path, times) == []


# --- the course, run -----------------------------------------------------------------------------
def test_the_model_sees_every_widget_a_run_shows(measured):
    """Counted from the code, checked against the run: each widget shown is an explorer the
    model has a figure for, or a quiz."""
    for name, (_path, runs, t) in measured.items():
        shown = sum(r.widgets for r in runs.values())
        assert shown == len(t.counts.widgets) + len(t.counts.quizzes), name
        assert t.counts.run_seconds < 60, f"{name} runs for {t.counts.run_seconds:.0f} s"


def test_each_chapter_and_lab_states_its_time_from_the_model(measured):
    wrong = []
    for name, (path, _runs, t) in measured.items():
        stated = stated_minutes(path)
        assert stated, f"{path.name}: no 'It takes N to M minutes' in its first cell"
        low, high = t.rounded
        if abs(stated[0] - low) > TOLERANCE or abs(stated[1] - high) > TOLERANCE:
            wrong.append(f"{name}: says {stated[0]} to {stated[1]}, the model {low} to {high}")
        if "labs" in path.parts:
            assert stated_minutes(path.parent / "solutions" / path.name) == stated, name
    assert not wrong, ("run python -m mmlab.coursetime --write-times (or update the first "
                       "cell's 'It takes N to M minutes'):\n" + "\n".join(wrong))


def test_the_labs_readme_gives_each_labs_time(measured):
    readme = (ROOT / "notebooks" / "labs" / "README.md").read_text()
    for name, (path, _runs, _t) in measured.items():
        if "labs" not in path.parts:
            continue
        row = next(line for line in readme.splitlines() if f"]({path.name})" in line)
        low, high = stated_minutes(path)
        assert f"| {low}-{high} min |" in row, name


# --- the instructor guide's plans ----------------------------------------------------------------
_ROW = re.compile(r"^\| (\d+):(\d\d) \| (.*?) \|\s*(\d*)\s*\|(.*)\|(.*)\|$")


def _plan(title: str) -> list[tuple[int, str, int | None, list[str], list[str]]]:
    """(start minute, chapter number or "break"/"end", minutes, aloud, later) per row."""
    text = GUIDE.read_text()
    part = text[text.index(f"### {title}"):]
    part = part[:part.index("\n### ", 5)]
    rows = []
    for line in part.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        start = int(m.group(1)) * 60 + int(m.group(2))
        chapter = re.match(r"\[(\d\d) ·", m.group(3))
        what = chapter.group(1) if chapter else m.group(3).split(":")[0].strip()
        items = [re.findall(r"\*([^*]+)\*", m.group(k)) for k in (5, 6)]
        rows.append((start, what, int(m.group(4)) if m.group(4) else None, *items))
    return rows


@pytest.mark.parametrize(("title", "length"), [("The 4-hour plan", 240),
                                               ("The 3-hour plan", 180)])
def test_each_plan_fits_the_model_and_its_length(measured, title, length):
    rows = _plan(title)
    assert rows[0][1] == "setup" and 5 <= rows[0][2] <= 10, \
        f"{title}: a setup slot of 5-10 minutes first (logins, the first clone, the kernels)"
    # chapter 09, the same story on today's kernel, comes after the story: not in the plans
    chapters = {t.name[:2]: t for name, (_p, _r, t) in measured.items()
                if "/" not in name and t.name[:2] <= "08"}
    assert [r[1] for r in rows if r[1] in chapters] == sorted(chapters), \
        "every chapter, 00 to 08 (which ends the story), in order"
    clock, since_break, wrong = 0, 0, []
    for start, what, minutes, aloud, later in rows:
        assert start == clock, f"{title}: a row starts at {start} min, the last ended at {clock}"
        if what == "end":
            break
        clock += minutes
        since_break = 0 if what == "break" else since_break + minutes
        assert since_break <= 100, f"{title}: more than 100 minutes without a break"
        if what in chapters:
            low, high = chapters[what].in_room(aloud, later)
            if not low <= minutes <= high:
                wrong.append(f"{what}: {minutes} min, the model {low:.1f}-{high:.1f} for the "
                             f"room (aloud: {aloud}; later: {later})")
    assert rows[-1][1] == "end" and rows[-1][0] == length, f"{title} must end at {length} min"
    assert sum(1 for r in rows if r[1] == "break") >= (2 if length >= 240 else 1)
    assert not wrong, f"{title} (python -m mmlab.coursetime --sections):\n" + "\n".join(wrong)


def test_the_guide_says_what_to_say_for_every_section_summarised_aloud():
    text = GUIDE.read_text()
    say = text[text.index("### What to say instead of a section"):text.index("## After each")]
    for title in ("The 4-hour plan", "The 3-hour plan"):
        for _start, what, _minutes, aloud, _later in _plan(title):
            for heading in aloud:
                assert re.search(rf"^- \*\*{what} · {re.escape(heading)}", say, re.M), \
                    f"{title}: nothing to say for {what} · {heading}"


def test_the_guides_table_of_whole_chapters_is_the_chapters_own(measured):
    """The guide's table and each chapter's "It takes N to M minutes" come from one place
    (``--write-times`` writes both from the model): they are equal; the labs' row spans the
    labs' own times."""
    text = GUIDE.read_text()
    wrong = []
    for name, (path, _runs, _t) in measured.items():
        if "/" in name:
            continue
        row = next(line for line in text.splitlines()
                   if f"]({'../notebooks/' + path.name})" in line and line.endswith(" min |"))
        low, high = stated_minutes(path)
        if not row.endswith(f"| {low}-{high} min |"):
            wrong.append(f"{name}: the guide says {row.split('|')[-2].strip()}, the chapter "
                         f"{low}-{high} min")
    labs = [stated_minutes(path) for _name, (path, _r, _t) in measured.items()
            if "labs" in path.parts]
    row = next(line for line in text.splitlines() if "](../notebooks/labs/README.md), each" in line)
    span = f"{min(low for low, _ in labs)}-{max(high for _, high in labs)} min"
    if not row.endswith(f"| {span} |"):
        wrong.append(f"labs: the guide's row {row!r}, the labs {span}")
    assert not wrong, "run python -m mmlab.coursetime --write-times:\n" + "\n".join(wrong)


def test_write_guide_table_writes_the_models_ranges(tmp_path):
    (tmp_path / "docs").mkdir()
    guide = ("| chapter | time |\n|---|---|\n| [01 · A](../notebooks/01-a.ipynb) | 1-2 min |\n"
             "| [labs](../notebooks/labs/README.md), each | 1-2 min |\n\n"
             "| 0:00 | [01 · A](../notebooks/01-a.ipynb) | 15 | *x* | |\n")
    (tmp_path / coursetime.GUIDE).write_text(guide)
    nbs = tmp_path / "notebooks"
    (nbs / "labs").mkdir(parents=True)
    nbformat.write(new_notebook(cells=[new_markdown_cell("# 1 · A\n\n" + "word " * 1500)]),
                   nbs / "01-a.ipynb")
    nbformat.write(new_notebook(cells=[new_markdown_cell("# Lab\n\n" + "word " * 500)]),
                   nbs / "labs" / "01-l.ipynb")
    times = [notebook_time(p) for p in course_notebooks(tmp_path)]
    (low, high), (lab_low, lab_high) = (t.rounded for t in times)
    assert (low, high) != (1, 2) and (lab_low, lab_high) != (1, 2)
    changed = coursetime.write_guide_table(tmp_path, times)
    assert changed == [f"docs/instructor-guide.md: 01 · A {low}-{high} min",
                       f"docs/instructor-guide.md: labs {lab_low}-{lab_high} min"]
    assert (tmp_path / coursetime.GUIDE).read_text() == guide.replace(
        "ipynb) | 1-2 min", f"ipynb) | {low}-{high} min").replace(
        "each | 1-2 min", f"each | {lab_low}-{lab_high} min")  # the plan's row is left alone
    assert coursetime.write_guide_table(tmp_path, times) == []


_ENTRY = re.compile(r"^- \*\*(\d\d)\*\* \(([^)]*)\) · ", re.MULTILINE)


def test_the_guide_marks_which_questions_each_plan_asks_in_the_room(measured):
    """After each exercise: each chapter's predictions in order, each marked with the plans
    that ask it in the room (its section neither summarised nor left for after)."""
    text = GUIDE.read_text()
    aloud = text[text.index("## After each exercise"):text.index("## Where learners")]
    marked: dict[str, list[str]] = {}
    for m in _ENTRY.finditer(aloud):
        marked.setdefault(m.group(1), []).append(m.group(2))
    plans = {"4 h": _plan("The 4-hour plan"), "3 h": _plan("The 3-hour plan")}
    wrong = []
    for name, (path, _runs, t) in measured.items():
        if "/" in name:
            continue
        chapter = name[:2]
        nb = nbformat.read(path, as_version=4)
        cut = coursetime._sections(nb)  # the sections of t, in the same order
        expected = []
        for i, cell in enumerate(nb.cells):
            if not is_why_block(cell):
                continue
            section = t.sections[next(k for k, (_title, _part, cells) in enumerate(cut)
                                      if any(j == i for j, _text in cells))]
            asked = []
            for label, rows in plans.items():
                row = next((r for r in rows if r[1] == chapter), None)
                if row is not None and id(section) not in {
                        id(s) for h in [*row[3], *row[4]] for s in t.pieces(h)}:
                    asked.append(label)
            expected.append(", ".join(asked) or
                            ("summarised" if chapter <= "08" else "after the workshop"))
        if marked.get(chapter, []) != expected:
            wrong.append(f"{chapter}: the guide marks {marked.get(chapter, [])}, the plans "
                         f"ask {expected}")
    assert not wrong, "\n".join(wrong)
