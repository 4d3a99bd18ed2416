"""The workshop copy of the course, and the answer key an instructor keeps.

``make workshop`` (``python -m mmlab.workshop``) copies the course into ``build/workshop/``:

* every notebook of ``notebooks/`` and ``notebooks/labs/``, without the cells tagged
  ``"solution"`` (solved functions, answers written out) and without outputs; the labs'
  ``solutions/`` folder is left out. A chapter's explanation after a "predict, then run" is
  cut in two where it also holds a conclusion the chapter builds on (07's verdict on the tail
  check, 08's reading of the strategy table): the answer (tagged ``"solution"``) is left out,
  for the instructor to give aloud (:func:`answer_cells` lists them), and the conclusion
  (tagged ``"conclusion"``) stays;
* a :data:`~mmlab.viz.quiz.WORKSHOP_MARKER` file, so that every ``Quiz`` hides its "Show the
  answer" button (the instructor holds the answers);
* ``data/``, which some cells read.

:func:`quiz_answers` collects every ``Quiz`` of the notebooks (question, right option, why)
into the markdown answer key that ``docs/quiz-answers.md`` holds (a test keeps it in step).

Model helper: no kernel counterpart (course tooling).
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import nbformat

from mmlab.viz.quiz import WORKSHOP_MARKER, quiz_bank

__all__ = ["CONCLUSION_TAG", "SOLUTION_TAG", "AnswerCell", "QuizAnswer", "WorkshopCopy",
           "answer_cells", "answers_markdown", "main", "make_workshop_copy", "nbgitpuller_link",
           "quiz_answers"]

#: The cell tag that marks a solution or an answer: such cells are not in the workshop copy.
SOLUTION_TAG = "solution"

#: The cell tag that marks a conclusion next to an answer: such cells stay in the workshop copy
#: (the tag only documents why the cell is not part of the answer before it).
CONCLUSION_TAG = "conclusion"


@dataclass
class WorkshopCopy:
    """What :func:`make_workshop_copy` wrote: notebooks, and cells removed from each.

    Model helper: no kernel counterpart.
    """

    root: Path
    notebooks: list[Path] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)


def _course_notebooks(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*.ipynb")
                  if "solutions" not in p.relative_to(src).parts
                  and ".ipynb_checkpoints" not in p.parts)


def make_workshop_copy(src: Path | str, dst: Path | str,
                       data: Path | str | None = None) -> WorkshopCopy:
    """Copy the notebooks under ``src`` to ``dst/notebooks`` without solutions or outputs.

    ``data`` (default: the ``data`` folder next to ``src``) is copied to ``dst/data``. ``dst``
    is replaced if it exists.

    Model helper: no kernel counterpart.
    """
    src, dst = Path(src), Path(dst)
    if dst.exists():
        shutil.rmtree(dst)
    out = WorkshopCopy(dst)
    target = dst / "notebooks"
    for path in _course_notebooks(src):
        nb = nbformat.read(path, as_version=4)
        kept = [c for c in nb.cells if SOLUTION_TAG not in c.get("metadata", {}).get("tags", [])]
        out.removed[str(path.relative_to(src))] = len(nb.cells) - len(kept)
        for cell in kept:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
        nb.cells = kept
        dest = target / path.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        out.notebooks.append(dest)
    for extra in src.rglob("*.md"):
        if "solutions" not in extra.relative_to(src).parts:
            dest = target / extra.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(extra, dest)
    target.mkdir(parents=True, exist_ok=True)
    (target / WORKSHOP_MARKER).write_text(
        "This is a workshop copy: Quiz answers are hidden (see docs/quiz-answers.md).\n")
    data_dir = Path(data) if data is not None else src.parent / "data"
    if data_dir.is_dir():
        shutil.copytree(data_dir, dst / "data")
    return out


@dataclass(frozen=True)
class AnswerCell:
    """A cell the workshop copy leaves out: where it is (notebook, the headings above it,
    ``"COW mappings › Predict, then run"`` for a ``###`` under a ``##``), its kind and its text.

    Model helper: no kernel counterpart.
    """

    notebook: str
    heading: str
    cell_type: str
    text: str


def answer_cells(src: Path | str) -> list[AnswerCell]:
    """Every cell tagged ``"solution"`` in the notebooks under ``src`` (not the labs'
    ``solutions/`` folder), with the heading it sits under: what the instructor of a workshop
    says aloud after the exercise.

    Model helper: no kernel counterpart.
    """
    src = Path(src)
    found = []
    for path in _course_notebooks(src):
        part = heading = ""
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("## "):
                        part = heading = line[3:].strip()
                    elif line.startswith("### "):
                        heading = f"{part} › {line[4:].strip()}" if part else line[4:].strip()
            if SOLUTION_TAG in cell.get("metadata", {}).get("tags", []):
                found.append(AnswerCell(str(path.relative_to(src)), heading, cell.cell_type,
                                        cell.source))
    return found


@dataclass(frozen=True)
class QuizAnswer:
    """One ``Quiz`` found in a notebook: where, the question, the right option and why.

    Model helper: no kernel counterpart.
    """

    notebook: str
    question: str
    answer: str
    why: str


def _quiz_names(source: str) -> list[str]:
    """The names of the bank's questions a cell shows (``Quiz.named("ch01/vma-pages")``)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "named" and getattr(node.func.value, "id", "") == "Quiz"
                and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(str(node.args[0].value))
    return names


def quiz_answers(src: Path | str) -> list[QuizAnswer]:
    """Every quiz the notebooks under ``src`` show (``Quiz.named(...)``), with its answer from
    the bank (:func:`mmlab.viz.quiz.quiz_bank`), in the notebooks' order.

    Model helper: no kernel counterpart.
    """
    src = Path(src)
    bank = quiz_bank()
    found: list[QuizAnswer] = []
    for path in _course_notebooks(src):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            for name in _quiz_names(cell.source):
                data = bank[name]
                found.append(QuizAnswer(str(path.relative_to(src)), data.question,
                                        data.options[data.answer], data.why))
    return found


def answers_markdown(src: Path | str) -> str:
    """The answer key as markdown, one section per notebook.

    Model helper: no kernel counterpart.
    """
    lines = ["# Answers to the self-check quizzes", "",
             "Made by `python -m mmlab.workshop --answers docs/quiz-answers.md` from the "
             "quiz bank (`src/mmlab/viz/quizzes/`) in the order the notebooks ask them (a test "
             "keeps it in step). For instructors: the workshop copy hides "
             "the quizzes' \"Show the answer\" button.", ""]
    current = None
    for qa in quiz_answers(src):
        if qa.notebook != current:
            current = qa.notebook
            lines += [f"## {current}", ""]
        lines += [f"- **{qa.question}**  ", f"  Answer: {qa.answer}  ", f"  Why: {qa.why}", ""]
    return "\n".join(lines)


#: The schemes a repository URL may have: what ``git clone`` on the hub can fetch from.
_GIT_SCHEMES = ("http", "https", "git", "ssh", "git+ssh", "ssh+git")
#: scp-like git addresses: ``git@github.com:owner/mmlab.git``.
_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:[^/\s][^\s]*$")


def _check_hub(hub: str) -> str:
    url = urlsplit(hub.strip())
    if not url.scheme:
        raise ValueError(f"hub URL {hub!r} has no scheme: write it in full, e.g. "
                         f"'https://{hub.strip().lstrip('/')}' (without one the link would be "
                         "relative to the page it is on)")
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"hub URL {hub!r} is not an http(s) address of a JupyterHub "
                         "(e.g. 'https://hub.example.org')")
    if url.query or url.fragment:
        raise ValueError(f"hub URL {hub!r} has a query or fragment: give the hub's address "
                         "alone (e.g. 'https://hub.example.org')")
    return hub.strip().rstrip("/")


def _check_repository(repository: str) -> str:
    repo = repository.strip()
    if _SCP_LIKE.match(repo):
        return repo
    url = urlsplit(repo)
    if url.scheme in _GIT_SCHEMES and url.netloc and url.path.strip("/"):
        return repo
    raise ValueError(f"repository URL {repository!r} is not one a hub can clone: give an "
                     "http(s) address ('https://github.com/OWNER/mmlab') or a git one "
                     "('git@github.com:OWNER/mmlab.git', 'ssh://host/path/mmlab.git')")


def nbgitpuller_link(hub: str, repository: str, branch: str = "main",
                     notebook: str = "notebooks/00-welcome.ipynb") -> str:
    """A link that makes a JupyterHub clone (or update) the course and open ``notebook``.

    The hub needs nbgitpuller installed; each learner who clicks gets their own copy, and a
    second click pulls new commits without overwriting their changes. ``hub`` must be an
    http(s) address (without a scheme the link would be relative: a ``ValueError`` says so);
    ``repository`` an http(s) or git address (``git@host:path``, ``ssh://``, ``git://``).

    Model helper: no kernel counterpart (nbgitpuller's ``git-pull`` link format).
    """
    hub = _check_hub(hub)
    repository = _check_repository(repository)
    if not branch.strip():
        raise ValueError("branch is empty: name the branch the hub clones (e.g. 'main')")
    name = re.split(r"[/:]", repository.rstrip("/"))[-1].removesuffix(".git")
    query = urlencode({"repo": repository, "branch": branch,
                       "urlpath": f"lab/tree/{name}/{notebook}"})
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def main(argv: list[str] | None = None) -> int:
    """``python -m mmlab.workshop [--src notebooks] [--dst build/workshop] [--answers FILE]``.

    Model helper: no kernel counterpart.
    """
    parser = argparse.ArgumentParser(prog="python -m mmlab.workshop",
                                     description="Make the workshop copy of the course.")
    parser.add_argument("--src", default="notebooks")
    parser.add_argument("--dst", default="build/workshop")
    parser.add_argument("--answers", help="write the quiz answer key (markdown) to this file")
    parser.add_argument("--nbgitpuller", nargs=2, metavar=("HUB", "REPOSITORY"),
                        help="print the link that opens the course on a JupyterHub")
    parser.add_argument("--branch", default="main", help="the branch nbgitpuller clones")
    args = parser.parse_args(argv)
    if args.nbgitpuller:
        try:
            print(nbgitpuller_link(*args.nbgitpuller, branch=args.branch))
        except ValueError as exc:
            parser.error(str(exc))
        return 0
    if args.answers:
        Path(args.answers).write_text(answers_markdown(args.src))
        print(f"answer key: {args.answers}")
        return 0
    copy = make_workshop_copy(args.src, args.dst)
    removed = sum(copy.removed.values())
    print(f"workshop copy in {copy.root}: {len(copy.notebooks)} notebooks, "
          f"{removed} solution cells left out")
    return 0


if __name__ == "__main__":
    sys.exit(main())
