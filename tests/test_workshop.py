"""The workshop copy leaves solutions out and hides quiz answers; the answer key is in step."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mmlab.viz.quiz import WORKSHOP_MARKER, Quiz, quiz_bank, workshop_mode
from mmlab.workshop import (
    _quiz_names,
    answer_cells,
    answers_markdown,
    make_workshop_copy,
    nbgitpuller_link,
    quiz_answers,
)
from mmlab.workshop import main as workshop_main

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


# --- answers out, conclusions kept ---------------------------------------------------------------
def test_the_workshop_copy_keeps_the_conclusions_and_leaves_out_only_the_answers(tmp_path):
    """A solution cell of a chapter is an answer; where the explanation also held a conclusion
    the chapter builds on, that part is a cell of its own, tagged conclusion, and stays."""
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=None)
    kept = "\n".join(c.source for p in copy.notebooks
                     for c in nbformat.read(p, as_version=4).cells)
    # the two conclusions the issue found missing from the copy, and the others
    for conclusion in ("So what the model says: both forms agree when `vm_pgoff` is 0",
                       "The fault-time split was not rejected for what it cost",
                       "So **every `MAP_PRIVATE` file mapping is a COW mapping**",
                       "A library is exactly this case", "The merged driver never touches"):
        assert conclusion in kept.replace("\n", " "), conclusion
    for answer in answer_cells(ROOT / "notebooks"):
        assert answer.text not in kept, (answer.notebook, answer.heading)
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            assert not ({"solution", "conclusion"} <= set(tags)), path.name
            if "conclusion" in tags:
                assert cell.source in kept, (path.name, cell.source[:40])


def test_every_answer_left_out_of_a_chapter_follows_a_question_and_the_guide_says_it_aloud():
    guide = (ROOT / "docs" / "instructor-guide.md").read_text()
    aloud = guide[guide.index("## After each exercise"):]
    answers = answer_cells(ROOT / "notebooks")
    assert answers, "no chapter has an answer cell any more"
    for answer in answers:
        nb = nbformat.read(ROOT / "notebooks" / answer.notebook, as_version=4)
        index = [c.source for c in nb.cells].index(answer.text)
        code = [c for c in nb.cells[:index] if c.cell_type == "code"][-1].source
        asked = [c.source for c in nb.cells[:index] if c.cell_type == "markdown"][-1]
        assert "compare_guess" in code or "Predict" in asked, (answer.notebook, answer.heading)
        chapter = answer.notebook[:2]
        heading = answer.heading.split(" › ")[0]
        assert re.search(rf"\*\*{chapter}\b[^\n]*{re.escape(heading)}", aloud), \
            f"the guide gives no answer aloud for {answer.notebook}, {heading}"


def test_answer_cells_name_their_section(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    cells = [new_markdown_cell("# ch\n\n## Part\n\n### Predict, then run"),
             new_code_cell("print(compare_guess(guess, 1))"),
             new_markdown_cell("One.", metadata={"tags": ["solution"]}),
             new_markdown_cell("So the rule holds.", metadata={"tags": ["conclusion"]})]
    nbformat.write(new_notebook(cells=cells), src / "01-x.ipynb")
    (answer,) = answer_cells(src)
    assert (answer.notebook, answer.heading, answer.text) == (
        "01-x.ipynb", "Part › Predict, then run", "One.")
    copy = make_workshop_copy(src, tmp_path / "ws")
    nb = nbformat.read(copy.notebooks[0], as_version=4)
    assert [c.source for c in nb.cells][-1] == "So the rule holds."


# --- nbgitpuller: checked URLs, and a branch that holds the workshop copy ------------------------
@pytest.mark.parametrize(("hub", "repo", "message"), [
    ("hub.example.org", "https://github.com/o/mmlab", "has no scheme"),
    ("//hub.example.org", "https://github.com/o/mmlab", "has no scheme"),
    ("ftp://hub.example.org", "https://github.com/o/mmlab", "not an http(s) address"),
    ("https://", "https://github.com/o/mmlab", "not an http(s) address"),
    ("https://hub.example.org/?x=1", "https://github.com/o/mmlab", "query or fragment"),
    ("https://hub.example.org", "github.com/o/mmlab", "not one a hub can clone"),
    ("https://hub.example.org", "file:///srv/mmlab.git", "not one a hub can clone"),
    ("https://hub.example.org", "https://github.com/", "not one a hub can clone"),
    ("https://hub.example.org", "", "not one a hub can clone"),
])
def test_nbgitpuller_link_refuses_a_url_it_cannot_use(hub, repo, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        nbgitpuller_link(hub, repo)


@pytest.mark.parametrize("repo", ["https://github.com/o/mmlab", "http://git.local/o/mmlab.git",
                                  "git@github.com:o/mmlab.git", "ssh://git@host/srv/mmlab.git",
                                  "git://host/mmlab.git"])
def test_nbgitpuller_link_takes_http_and_git_repositories(repo):
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(nbgitpuller_link("http://hub.local:8000", repo)).query)
    assert query["repo"] == [repo]
    assert query["urlpath"] == ["lab/tree/mmlab/notebooks/00-welcome.ipynb"]


def test_the_command_line_says_what_is_wrong_with_a_hub_url(capsys):
    with pytest.raises(SystemExit) as exit_:
        workshop_main(["--nbgitpuller", "hub.example.org", "https://github.com/o/mmlab"])
    assert exit_.value.code == 2
    assert "has no scheme" in capsys.readouterr().err


def _recipe() -> str:
    """The guide's shell recipe that puts the workshop copy on a branch."""
    guide = (ROOT / "docs" / "instructor-guide.md").read_text()
    part = guide[guide.index("### A branch holding the workshop copy"):]
    return re.search(r"```sh\n(.*?)```", part, re.S).group(1)


def test_the_guides_recipe_makes_a_branch_nbgitpuller_can_pull_twice(tmp_path):
    """The recipe, run in a clone (but for make workshop and git push): the branch holds the
    workshop copy at its root, and a second run adds a commit on top of the first, so that a
    learner's second click (nbgitpuller's pull, a merge) fast-forwards."""
    import subprocess

    recipe = _recipe()
    assert "make workshop" in recipe and "git push" in recipe
    script = "\n".join(line for line in recipe.splitlines()
                       if not line.startswith(("make workshop", "git push")))
    repo = tmp_path / "course"
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")

    def sh(cmd: str) -> str:
        return subprocess.run(["bash", "-euo", "pipefail", "-c", cmd], cwd=repo, env=env,
                              check=True, capture_output=True, text=True).stdout

    repo.mkdir()
    (repo / ".gitignore").write_text((ROOT / ".gitignore").read_text())
    sh("git init -q -b main && echo course > README.md && git add README.md .gitignore "
       "&& git commit -qm course")
    make_workshop_copy(ROOT / "notebooks", repo / "build" / "workshop", data=ROOT / "data")
    sh(script)
    files = sh("git ls-tree -r --name-only workshop").split()
    assert {"notebooks/00-welcome.ipynb", "notebooks/labs/01-remap-cow-rule.ipynb"} <= set(files)
    assert f"notebooks/{WORKSHOP_MARKER}" in files and any(f.startswith("data/") for f in files)
    assert not any("solutions" in f for f in files) and "README.md" not in files
    first = sh("git rev-parse workshop").strip()
    assert sh("git status --porcelain --untracked-files=no") == ""  # main's index untouched
    (repo / "build" / "workshop" / "notebooks" / "labs" / "README.md").write_text("# changed\n")
    sh(script)
    assert sh("git rev-parse workshop^").strip() == first
    assert sh("git rev-parse --abbrev-ref HEAD").strip() == "main"
