"""The workshop copy leaves solutions out and hides quiz answers; the answer key is in step."""

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from mmlab.viz.quiz import WORKSHOP_MARKER, Quiz, compare_guess, quiz_bank, workshop_mode
from mmlab.workshop import (
    COPY_REWRITES,
    _quiz_names,
    answer_cells,
    answers_markdown,
    is_why_block,
    make_workshop_copy,
    nbgitpuller_link,
    quiz_answers,
    why_blocks,
    workshop_readme,
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
    assert copy.commit is None
    assert "not from a commit" in (tmp_path / "ws" / "WORKSHOP.md").read_text()


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
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", committed=False)
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


@pytest.mark.parametrize(("repo", "name"), [
    ("https://github.com/o/mmlab.git", "mmlab"), ("https://github.com/o/mmlab", "mmlab"),
    ("https://github.com/o/mmlab/", "mmlab"), ("https://git.example.org/srv/course.git", "course"),
])
def test_nbgitpuller_link_opens_the_first_chapter_in_the_folder_it_clones_into(repo, name):
    """nbgitpuller 1.3 clones into `targetpath`, or by default into the URL's last part
    (`mmlab.git` for .../mmlab.git): the link names the folder, and opens the chapter there."""
    from urllib.parse import parse_qs, urlparse

    link = nbgitpuller_link("https://hub.example.org/", repo, "ws")
    url = urlparse(link)
    assert (url.netloc, url.path) == ("hub.example.org", "/hub/user-redirect/git-pull")
    assert parse_qs(url.query) == {"repo": [repo], "branch": ["ws"], "targetpath": [name],
                                   "urlpath": [f"lab/tree/{name}/notebooks/00-welcome.ipynb"]}


def test_the_workshop_copy_of_the_course_still_runs_and_does_not_scold(tmp_path):
    """Leaving cells out must not break the cells after them; the room runs the cells of a
    section the instructor summarises without writing guesses, and is not told off for it."""
    from nbclient import NotebookClient

    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=ROOT / "data",
                              committed=False)
    run = [p for p in copy.notebooks
           if copy.removed[str(p.relative_to(tmp_path / "ws" / "notebooks"))]
           or p.name.startswith("05-")]  # 05: five of its predictions summarised in 3 hours
    for path in run:
        nb = nbformat.read(path, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(path.parent)}}).execute()
        outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]
        errors = [o for o in outputs if o.output_type == "error"]
        assert not errors, f"{path.name}: {errors[0]['ename']}: {errors[0]['evalue']}"
        printed = "".join(o.get("text", "") for o in outputs)
        assert "guess first" not in printed, path.name
        if path.name.startswith("05-"):
            assert "No guess written; " in printed


def test_a_missing_guess_is_not_scolded_in_a_workshop_copy(tmp_path, monkeypatch):
    monkeypatch.delenv("MMLAB_WORKSHOP", raising=False)
    monkeypatch.delenv("MMLAB_SITE", raising=False)
    monkeypatch.chdir(tmp_path)
    assert "Next time, guess first" in compare_guess(..., 3, "the VMAs", verb="are")
    (tmp_path / WORKSHOP_MARKER).write_text("")
    assert compare_guess(..., 3, "the VMAs", verb="are") == "No guess written; the VMAs are 3."
    assert compare_guess(2, 3, "the VMAs", verb="are").startswith("You guessed 2; the VMAs are 3")
    assert compare_guess("3", 3, "the VMAs", verb="are").startswith("Your guess '3' is right")


# --- answers out, conclusions and explanations kept ---------------------------------------------
def test_the_workshop_copy_keeps_every_why_block_and_the_guide_says_so(tmp_path):
    """The rule (issue 19: the copy keeps the conclusions and removes only answers): a
    prediction's collapsed "Why?" block is opened after the run, so it explains what the learner
    has just seen; the copy keeps every one, tagged or not. What it leaves out is an answer a
    learner would see before running the question's cell."""
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=None, committed=False)
    kept = [c.source for p in copy.notebooks for c in nbformat.read(p, as_version=4).cells]
    blocks = why_blocks(ROOT / "notebooks")
    assert len(blocks) >= 40
    for block in blocks:
        assert block.text in kept, (block.notebook, block.heading)
    for answer in answer_cells(ROOT / "notebooks"):
        assert not answer.text.lstrip().startswith("<details>"), (answer.notebook, answer.heading)
        assert answer.text not in kept
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):  # each follows its prediction
        cells = nbformat.read(path, as_version=4).cells
        for i, cell in enumerate(cells):
            if is_why_block(cell):
                code = [c for c in cells[:i] if c.cell_type == "code"][-1].source
                assert "compare_guess" in code, (path.name, i)
    guide = re.sub(r"\s+", " ", (ROOT / "docs" / "instructor-guide.md").read_text())
    assert "keeps every collapsed \"Why?\" explanation" in guide
    assert "the cells tagged `solution`; the conclusions" not in guide  # the old rule


def test_a_why_block_stays_whatever_its_tag_and_an_answer_before_the_run_goes(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    why = "<details><summary>Why? (open it after you have run the cell above)</summary>\n\nOne."
    cells = [new_markdown_cell("# ch\n\n## Part\n\n### Predict, then run"),
             new_markdown_cell("(The answer: one.)", metadata={"tags": ["solution"]}),
             new_code_cell("print(compare_guess(guess, 1))"),
             new_markdown_cell(why, metadata={"tags": ["solution"]}),
             new_markdown_cell("So the rule holds.", metadata={"tags": ["conclusion"]})]
    nbformat.write(new_notebook(cells=cells), src / "01-x.ipynb")
    (answer,) = answer_cells(src)
    assert (answer.notebook, answer.heading, answer.text) == (
        "01-x.ipynb", "Part › Predict, then run", "(The answer: one.)")
    (block,) = why_blocks(src)
    assert (block.heading, block.text) == ("Part › Predict, then run", why)
    copy = make_workshop_copy(src, tmp_path / "ws")
    nb = nbformat.read(copy.notebooks[0], as_version=4)
    assert [c.source for c in nb.cells][-2:] == [why, "So the rule holds."]
    assert copy.removed == {"01-x.ipynb": 1}


def test_the_workshop_copy_keeps_the_conclusions(tmp_path):
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=None, committed=False)
    kept = "\n".join(c.source for p in copy.notebooks
                     for c in nbformat.read(p, as_version=4).cells)
    # the two conclusions the issue found missing from the copy, and the others
    for conclusion in ("So what the model says: both forms agree when `vm_pgoff` is 0",
                       "The fault-time split was not rejected for what it cost",
                       "So **every `MAP_PRIVATE` file mapping is a",
                       "A library is exactly this case", "The merged driver never touches"):
        assert conclusion in kept.replace("\n", " "), conclusion
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            tags = cell.metadata.get("tags", [])
            assert not ({"solution", "conclusion"} <= set(tags)), path.name
            if "conclusion" in tags:
                assert cell.source in kept, (path.name, cell.source[:40])


def test_every_prediction_of_the_story_has_its_answer_in_the_guide():
    """The guide's "After each exercise" has an entry for each prediction of chapters 00-09, in
    the chapter's order, each naming the section (its ``##`` heading) the question is in, for
    the instructor who says the answer aloud (tests/test_coursetime.py checks the marks of the
    plans that ask it in the room)."""
    guide = (ROOT / "docs" / "instructor-guide.md").read_text()
    aloud = guide[guide.index("## After each exercise"):guide.index("## Where learners")]
    entries: dict[str, list[str]] = {}
    for entry in re.split(r"\n(?=- \*\*\d\d\*\*)", aloud)[1:]:
        entries.setdefault(entry[4:6], []).append(" ".join(entry.split()))
    wrong = []
    blocks = [b for b in why_blocks(ROOT / "notebooks") if "/" not in b.notebook]  # not labs
    for chapter in sorted({b.notebook[:2] for b in blocks} | set(entries)):
        parts = [b.heading.split(" › ")[0] for b in blocks if b.notebook[:2] == chapter]
        told = entries.get(chapter, [])
        if len(told) != len(parts) or not all(part in entry for part, entry in
                                              zip(parts, told, strict=True)):
            wrong.append(f"{chapter}: the chapter asks, in order, {parts}; the guide answers "
                         f"{[e[:70] for e in told]}")
    assert not wrong, "\n".join(wrong)


# --- what the copy says about itself --------------------------------------------------------------
def test_the_copy_promises_no_show_the_answer_button_and_no_solutions_folder(tmp_path):
    copy = make_workshop_copy(ROOT / "notebooks", tmp_path / "ws", data=None, committed=False)
    for old, _new in COPY_REWRITES:
        assert copy.rewritten.get(old), f"no notebook says {old!r} any more: update COPY_REWRITES"
    root = tmp_path / "ws" / "notebooks"
    texts = {p: "\n".join(c.source for c in nbformat.read(p, as_version=4).cells
                          if c.cell_type == "markdown") for p in copy.notebooks}
    texts |= {p: p.read_text() for p in root.rglob("*.md")}
    for path, text in texts.items():
        assert "Show the answer" not in text, path.name
        for link in re.findall(r"\]\(([^)\s#]+)[^)]*\)", text):
            target = (path.parent / link).resolve()
            if ":" in link or not target.is_relative_to(root.resolve()):
                continue  # a web address, or the repository's docs (not the copy's)
            assert target.exists(), f"{path.relative_to(root)}: {link}"
    readme = (root / "labs" / "README.md").read_text()
    assert "solutions/" not in readme and "| Solution |" not in readme
    assert "Your instructor has the solutions" in readme
    header = next(line for line in readme.splitlines() if line.startswith("| Lab |"))
    rows = [line for line in readme.splitlines() if line.startswith("| [")]
    assert len(rows) >= 7 and all(r.count("|") == header.count("|") for r in rows)


def test_workshop_readme_drops_the_solution_column():
    text = ("# Labs\n\nThe\n`solutions/` folder holds them solved: look there after you have "
            "tried.\n\n| Lab | Time | Solution |\n| --- | --- | --- |\n"
            "| [01 · L](01-l.ipynb) | 20 min | [solved](solutions/01-l.ipynb) |\n\nEnd.\n")
    assert workshop_readme(text) == (
        "# Labs\n\nYour instructor has the solutions: ask once you have tried.\n\n"
        "| Lab | Time |\n| --- | --- |\n| [01 · L](01-l.ipynb) | 20 min |\n\nEnd.\n")


def _git_course(tmp_path: Path, remote: str | None) -> tuple[Path, str]:
    import subprocess

    repo = tmp_path / "course"
    (repo / "notebooks").mkdir(parents=True)
    (repo / "data").mkdir()
    nbformat.write(new_notebook(cells=[new_markdown_cell("# committed")]),
                   repo / "notebooks" / "01-x.ipynb")
    (repo / "data" / "x.json").write_text("{}")
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.org",
               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.org")

    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(repo), *args], env=env, check=True,
                              capture_output=True, text=True).stdout

    git("init", "-q", "-b", "main")
    git("add", ".")
    git("commit", "-qm", "course")
    if remote:
        git("remote", "add", "origin", remote)
    return repo, git("rev-parse", "HEAD").strip()


@pytest.mark.parametrize(("remote", "pip"), [
    ("https://someone:secret@github.com/o/mmlab.git", "git+https://github.com/o/mmlab.git@"),
    ("git@github.com:o/mmlab.git", "git+https://github.com/o/mmlab.git@"),
    (None, "git+https://github.com/OWNER/REPO@"),
])
def test_in_a_git_checkout_the_copy_is_heads_and_names_its_commit(tmp_path, remote, pip,
                                                                   capsys):
    """The branch's commit says "Workshop copy of <HEAD>": the copy holds HEAD's files, not
    uncommitted changes or untracked files (named in a warning), and says how to install the
    library from that commit."""
    repo, head = _git_course(tmp_path, remote)
    nbformat.write(new_notebook(cells=[new_markdown_cell("# changed, not committed")]),
                   repo / "notebooks" / "01-x.ipynb")
    nbformat.write(new_notebook(cells=[]), repo / "notebooks" / "02-new.ipynb")
    (repo / "data" / "y.json").write_text("{}")
    copy = make_workshop_copy(repo / "notebooks", tmp_path / "ws")
    assert copy.commit == head
    assert [p.name for p in copy.notebooks] == ["01-x.ipynb"]
    assert nbformat.read(copy.notebooks[0], as_version=4).cells[0].source == "# committed"
    assert sorted((tmp_path / "ws" / "data").iterdir()) == [tmp_path / "ws" / "data" / "x.json"]
    assert sorted(copy.uncommitted) == ["data/y.json", "notebooks/01-x.ipynb",
                                        "notebooks/02-new.ipynb"]
    note = (tmp_path / "ws" / "WORKSHOP.md").read_text()
    assert f'pip install "{pip}{head}"' in note and "secret" not in note
    assert head in (tmp_path / "ws" / "notebooks" / WORKSHOP_MARKER).read_text()
    as_is = make_workshop_copy(repo / "notebooks", tmp_path / "ws2", committed=False)
    assert as_is.commit is None and len(as_is.notebooks) == 2
    assert workshop_main(["--src", str(repo / "notebooks"), "--dst", str(tmp_path / "ws3")]) == 0
    out = capsys.readouterr()
    assert f"made from commit {head[:12]}" in out.out
    assert "warning: 3 uncommitted or untracked paths are not in the copy" in out.err


def test_make_workshop_needs_only_the_lab_install():
    """The copy takes a second: `make workshop` installs what `make lab` does, not the test
    and site tools; nbformat, which it reads notebooks with, comes with JupyterLab."""
    from importlib.metadata import requires

    rule = re.search(r"^workshop:(.*)$", (ROOT / "Makefile").read_text(), re.M)
    assert rule and rule.group(1).split() == ["$(LAB_STAMP)"]
    assert any(r.split()[0].startswith("nbformat") for r in requires("jupyter_server"))
    assert any(r.startswith("jupyter") and "server" in r.split(";")[0]
               for r in requires("jupyterlab"))


# --- nbgitpuller: checked URLs, and a branch that holds the workshop copy ------------------------
@pytest.mark.parametrize(("hub", "repo", "message"), [
    ("hub.example.org", "https://github.com/o/mmlab", "has no scheme"),
    ("//hub.example.org", "https://github.com/o/mmlab", "has no scheme"),
    ("hub.example.org:8000", "https://github.com/o/mmlab", "has no scheme: write it in full, "
     "e.g. 'https://hub.example.org:8000'"),
    ("localhost:8000/hub", "https://github.com/o/mmlab", "e.g. 'https://localhost:8000/hub'"),
    ("ftp://hub.example.org", "https://github.com/o/mmlab", "not an http(s) address"),
    ("https://", "https://github.com/o/mmlab", "not an http(s) address"),
    ("https://hub.example.org/?x=1", "https://github.com/o/mmlab", "query or fragment"),
    ("https://hub.example.org", "github.com/o/mmlab", "not one a hub can clone"),
    ("https://hub.example.org", "file:///srv/mmlab.git", "not one a hub can clone"),
    ("https://hub.example.org", "https://github.com/", "not one a hub can clone"),
    ("https://hub.example.org", "", "not one a hub can clone"),
    # a page of the forge's web site: the branch goes in --branch
    ("https://hub.example.org", "https://github.com/o/mmlab/tree/workshop",
     "a page of the repository's web site (…/tree/…), not its address: give "
     "'https://github.com/o/mmlab' and the branch apart (--branch workshop)"),
    ("https://hub.example.org", "https://github.com/o/mmlab/blob/main/README.md",
     "give 'https://github.com/o/mmlab' and the branch apart (--branch main)"),
    ("https://hub.example.org", "https://gitlab.com/g/sub/mmlab/-/tree/workshop",
     "give 'https://gitlab.com/g/sub/mmlab' and the branch apart (--branch workshop)"),
    # SSH: the hub's servers have no key; the error gives the https address to use
    ("https://hub.example.org", "git@github.com:o/mmlab.git",
     "is an SSH address: a hub's servers have no SSH key to clone it with; give its https "
     "address, 'https://github.com/o/mmlab.git'"),
    ("https://hub.example.org", "github.com:o/mmlab", "'https://github.com/o/mmlab'"),
    ("https://hub.example.org", "ssh://git@host/srv/mmlab.git",
     "SSH address: a hub's servers have no SSH key to clone it with; give its https address, "
     "'https://host/srv/mmlab.git'"),
    ("https://hub.example.org", "git+ssh://host/mmlab", "'https://host/mmlab'"),
])
def test_nbgitpuller_link_refuses_a_url_it_cannot_use(hub, repo, message):
    with pytest.raises(ValueError, match=re.escape(message)) as error:
        nbgitpuller_link(hub, repo)
    assert "git@" not in str(error.value).replace(repr(repo), ""), "suggest https, not SSH"


@pytest.mark.parametrize("repo", ["https://github.com/o/mmlab", "http://git.local/o/mmlab.git",
                                  "git://host/mmlab.git", "https://git.local/tree/mmlab.git"])
def test_nbgitpuller_link_takes_http_and_git_repositories(repo):
    from urllib.parse import parse_qs, urlparse

    query = parse_qs(urlparse(nbgitpuller_link("http://hub.local:8000", repo)).query)
    assert query["repo"] == [repo] and query["targetpath"] == ["mmlab"]
    assert query["urlpath"] == ["lab/tree/mmlab/notebooks/00-welcome.ipynb"]


@pytest.mark.parametrize(("hub", "base"), [
    ("https://hub.example.org/hub", "https://hub.example.org"),
    ("https://hub.example.org/hub/", "https://hub.example.org"),
    ("https://hub.example.org/hub/home", "https://hub.example.org"),
    ("https://hub.example.org/hub/login?next=%2Fhub%2F", "https://hub.example.org"),
    ("https://hub.example.org/user/alice/lab/tree/mmlab", "https://hub.example.org"),
    ("https://example.org/jupyter/hub/home", "https://example.org/jupyter"),
    ("http://hub.local:8000/", "http://hub.local:8000"),
])
def test_a_hub_address_copied_from_the_browser_is_cut_to_the_hubs_own(hub, base):
    """A hub page's address (`.../hub/home`) would give `.../hub/hub/user-redirect`."""
    link = nbgitpuller_link(hub, "https://github.com/o/mmlab")
    assert link.startswith(f"{base}/hub/user-redirect/git-pull?"), link


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
