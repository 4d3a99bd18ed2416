"""The workshop copy leaves solutions out and hides quiz answers; the answer key is in step."""

import os
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mmlab.viz.quiz import WORKSHOP_MARKER, Quiz, quiz_bank, workshop_mode
from mmlab.workshop import (
    _quiz_names,
    answers_markdown,
    make_workshop_copy,
    nbgitpuller_link,
    quiz_answers,
)

ROOT = Path(__file__).resolve().parent.parent


def course(tmp_path):
    src = tmp_path / "notebooks"
    (src / "labs" / "solutions").mkdir(parents=True)
    solved = new_code_cell("def f(x):\n    return 2 * x", metadata={"tags": ["solution"]})
    quiz = new_code_cell('from mmlab.viz.quiz import Quiz\n\nQuiz.named("ch01/vma-pages")')
    done = new_code_cell("print(1)", outputs=[new_output("stream", name="stdout", text="1\n")],
                         execution_count=3)
    nbformat.write(new_notebook(cells=[new_markdown_cell("# ch"), solved, quiz, done]),
                   src / "01-x.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("def f(x):\n    ...")]),
                   src / "labs" / "01-lab.ipynb")
    nbformat.write(new_notebook(cells=[solved]), src / "labs" / "solutions" / "01-lab.ipynb")
    (src / "labs" / "README.md").write_text("# labs\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.json").write_text("{}")
    return src


def test_workshop_copy_drops_solutions_outputs_and_the_solutions_folder(tmp_path):
    src = course(tmp_path)
    copy = make_workshop_copy(src, tmp_path / "ws")
    names = sorted(str(p.relative_to(tmp_path / "ws")) for p in copy.notebooks)
    assert names == ["notebooks/01-x.ipynb", "notebooks/labs/01-lab.ipynb"]
    nb = nbformat.read(tmp_path / "ws" / "notebooks" / "01-x.ipynb", as_version=4)
    assert [c.cell_type for c in nb.cells] == ["markdown", "code", "code"]
    assert all(not c.outputs and c.execution_count is None for c in nb.cells[1:])
    assert copy.removed["01-x.ipynb"] == 1
    assert (tmp_path / "ws" / "notebooks" / WORKSHOP_MARKER).exists()
    assert (tmp_path / "ws" / "notebooks" / "labs" / "README.md").exists()
    assert (tmp_path / "ws" / "data" / "x.json").exists()


def test_quizzes_hide_the_answer_button_in_a_workshop_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("MMLAB_WORKSHOP", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not workshop_mode()
    q = Quiz("Two?", ["one", "two"], 1, "Because.")
    assert len(q.widget().children[2].children) == 2
    (tmp_path / WORKSHOP_MARKER).write_text("")
    sub = tmp_path / "labs"
    sub.mkdir()
    os.chdir(sub)  # a lab, one folder down, is a workshop copy too
    assert workshop_mode()
    assert [b.description for b in q.widget().children[2].children] == ["Check"]
    q.choose(1)
    assert q.check() is True  # checking still works


def test_answer_key_lists_each_quiz_once_with_its_right_option(tmp_path):
    src = course(tmp_path)
    (answer,) = quiz_answers(src)
    bank = quiz_bank()["ch01/vma-pages"]
    assert (answer.question, answer.answer, answer.why) == (
        bank.question, bank.options[bank.answer], bank.why)
    assert f"Answer: {bank.options[bank.answer]}" in answers_markdown(src)


def test_no_notebook_and_no_workshop_copy_holds_a_quiz_answer(tmp_path):
    """Every quiz is loaded by name: the notebooks hold neither the answer index nor the
    explanation, and neither does the workshop copy."""
    bank = quiz_bank()
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws")
    for path in [*sorted((ROOT / "notebooks").rglob("*.ipynb")), *copy.notebooks]:
        text = path.read_text()
        assert "Quiz(" not in text and "answer=" not in text, path
        for data in bank.values():
            assert data.why not in text.replace("\\n", " "), (path, data.name)
    shown = {name for path in copy.notebooks
             for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "code"
             for name in _quiz_names(cell.source)}
    assert shown == set(bank), "every question of the bank is asked somewhere, and only those"
    assert not list((tmp_path / "ws").rglob("*.toml"))


def test_the_committed_answer_key_is_in_step_with_the_notebooks():
    key = ROOT / "docs" / "quiz-answers.md"
    assert key.read_text() == answers_markdown(ROOT / "notebooks"), (
        "run: .venv/bin/python -m mmlab.workshop --answers docs/quiz-answers.md")
    assert len(quiz_answers(ROOT / "notebooks")) >= 16


def test_nbgitpuller_link_opens_the_first_chapter_of_the_clone():
    from urllib.parse import parse_qs, urlparse

    link = nbgitpuller_link("https://hub.example.org/", "https://github.com/o/mmlab.git", "ws")
    url = urlparse(link)
    assert (url.netloc, url.path) == ("hub.example.org", "/hub/user-redirect/git-pull")
    assert parse_qs(url.query) == {"repo": ["https://github.com/o/mmlab.git"], "branch": ["ws"],
                                   "urlpath": ["lab/tree/mmlab/notebooks/00-welcome.ipynb"]}


def test_the_workshop_copy_of_the_course_still_runs(tmp_path):
    """Leaving the solution cells out must not break the cells after them."""
    from nbclient import NotebookClient

    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=ROOT / "data")
    changed = [p for p in copy.notebooks
               if copy.removed[str(p.relative_to(tmp_path / "ws" / "notebooks"))]]
    assert changed, "no notebook has solution cells any more"
    for path in changed:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
