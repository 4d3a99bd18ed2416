"""The workshop copy of the course, and the answer key an instructor keeps.

``make workshop`` (``python -m mmlab.workshop``) copies the course into ``build/workshop/``:

* the course as committed: in a git checkout the copy is made from ``HEAD``'s files (what
  ``git ls-tree HEAD`` lists under ``notebooks/`` and ``data/``), never from uncommitted or
  untracked ones, which are named in a warning; the commit is written into the copy
  (``WORKSHOP.md`` and the marker file), so that the hub's image can install ``mmlab`` from
  the same commit. Outside git (or with ``--from-tree``) the files are copied as they are;
* every notebook of ``notebooks/`` and ``notebooks/labs/`` without outputs, and without the
  cells tagged ``"solution"`` (:data:`SOLUTION_TAG`: an answer a learner would see *before*
  running the question's cell); the labs' ``solutions/`` folder is left out. **The copy keeps
  every collapsed "Why?" explanation of a prediction** (``<details><summary>Why?``), tagged or
  not: a learner opens it after running the cell and seeing the result, so it explains the
  run, it does not give the answer away (the rule of issue 19: the copy keeps the conclusions
  and removes only answers); cells tagged ``"conclusion"`` stay too;
* the sentences that promise what the copy does not have rewritten (:data:`COPY_REWRITES`:
  "Show the answer" in the introductions of the labs and of the chapter on what Linux merged;
  the labs' README loses its Solution column and its ``solutions/`` sentence);
* a :data:`~mmlab.viz.quiz.WORKSHOP_MARKER` file, so that every ``Quiz`` hides its "Show the
  answer" button (the instructor holds the answers) and a missing guess is not scolded;
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
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode, urlsplit, urlunsplit

import nbformat

from mmlab.viz.quiz import WORKSHOP_MARKER, quiz_bank

__all__ = ["CONCLUSION_TAG", "COPY_REWRITES", "SOLUTION_TAG", "AnswerCell", "QuizAnswer",
           "WorkshopCopy", "answer_cells", "answers_markdown", "is_why_block", "main",
           "make_workshop_copy", "nbgitpuller_link", "quiz_answers", "why_blocks",
           "workshop_readme"]

#: The cell tag that marks a solution or an answer a learner would see before running the
#: question's cell: such cells are not in the workshop copy (a collapsed "Why?" block stays,
#: tagged or not: see :func:`is_why_block`).
SOLUTION_TAG = "solution"

#: The cell tag that marks a conclusion next to an answer: such cells stay in the workshop copy
#: (the tag only documents why the cell is not part of the answer before it).
CONCLUSION_TAG = "conclusion"

#: The sentences of the course's markdown that promise a "Show the answer" button, and what
#: the workshop copy says instead (its quizzes have no such button). Matched with any run of
#: white space between the words (a sentence may be wrapped anywhere).
COPY_REWRITES: tuple[tuple[str, str], ...] = (
    # the labs' introductions, "How a lab works."
    ('The quizzes say right or wrong; "Show the answer" reveals theirs.',
     "The quizzes say right or wrong; your instructor has their answers."),
    # chapter 08, "Check your understanding"
    ('Quizzes first: "Check" says right or wrong; "Show the answer" explains.',
     'Quizzes first: "Check" says right or wrong; your instructor has the answers.'),
)

#: The collapsed explanation after a "predict, then run" question.
_WHY_BLOCK = re.compile(r"^\s*<details>\s*<summary>\s*Why\?")


def is_why_block(cell: nbformat.NotebookNode) -> bool:
    """Is ``cell`` the collapsed "Why? (open it after you have run the cell above)" explanation
    of a prediction? The workshop copy keeps such cells, whatever their tags.

    Model helper: no kernel counterpart.
    """
    return cell.cell_type == "markdown" and bool(_WHY_BLOCK.match(cell.source))


def _left_out(cell: nbformat.NotebookNode) -> bool:
    """Does the workshop copy leave ``cell`` out (tagged solution and not a Why block)?"""
    return SOLUTION_TAG in cell.get("metadata", {}).get("tags", []) and not is_why_block(cell)


def _rewrite(text: str, counts: dict[str, int]) -> str:
    """``text`` with the sentences of :data:`COPY_REWRITES` replaced; ``counts`` (by the old
    sentence) updated."""
    for old, new in COPY_REWRITES:
        pattern = re.compile(r"\s+".join(re.escape(w) for w in old.split()))
        text, n = pattern.subn(new, text)
        if n:
            counts[old] = counts.get(old, 0) + n
    return text


def workshop_readme(text: str) -> str:
    """The labs' README as the workshop copy has it: no Solution column (the copy has no
    ``solutions/`` folder), and "your instructor has the solutions" where it said where they
    are.

    Model helper: no kernel counterpart.
    """
    text = re.sub(r"The\s+`solutions/`\s+folder\s+holds.*?tried\.",
                  "Your instructor has the solutions: ask once you have tried.", text,
                  flags=re.S)
    out, column = [], None
    for line in text.splitlines(keepends=True):
        if not line.startswith("|"):
            column = None
            out.append(line)
            continue
        cells = line.rstrip("\n").split("|")
        if column is None and "Solution" in [c.strip() for c in cells]:
            column = [c.strip() for c in cells].index("Solution")
        if column is not None and column < len(cells):
            del cells[column]
            line = "|".join(cells) + ("\n" if line.endswith("\n") else "")
        out.append(line)
    return "".join(out)


@dataclass
class WorkshopCopy:
    """What :func:`make_workshop_copy` wrote: notebooks, cells removed from each, sentences
    rewritten, the commit it was made from (``None`` outside git or with ``committed=False``)
    and what of the working tree it left out (uncommitted and untracked paths).

    Model helper: no kernel counterpart.
    """

    root: Path
    notebooks: list[Path] = field(default_factory=list)
    removed: dict[str, int] = field(default_factory=dict)
    rewritten: dict[str, int] = field(default_factory=dict)
    commit: str | None = None
    uncommitted: list[str] = field(default_factory=list)


def _course_notebooks(src: Path) -> list[Path]:
    return sorted(p for p in src.rglob("*.ipynb")
                  if "solutions" not in p.relative_to(src).parts
                  and ".ipynb_checkpoints" not in p.parts)


def _git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                          text=True).stdout


def _git_top(path: Path) -> Path | None:
    """The work tree ``path`` is in, or None (not in git, or no git)."""
    try:
        return Path(_git(path, "rev-parse", "--show-toplevel").strip())
    except (OSError, subprocess.CalledProcessError):
        return None


def _export_head(top: Path, paths: list[Path], into: Path) -> None:
    """Write the files ``HEAD`` holds under ``paths`` (relative to ``top``) into ``into``."""
    listing = subprocess.run(["git", "-C", str(top), "ls-tree", "-r", "-z", "HEAD", "--",
                              *map(str, paths)], check=True, capture_output=True).stdout
    entries = []
    for row in listing.split(b"\0"):
        if not row:
            continue
        meta, name = row.split(b"\t", 1)
        mode, kind, sha = meta.split()
        if kind == b"blob" and mode != b"120000":  # files (symbolic links are left out)
            entries.append((sha, name.decode()))
    if not entries:
        return
    batch = subprocess.run(["git", "-C", str(top), "cat-file", "--batch"], check=True,
                           capture_output=True,
                           input=b"".join(sha + b"\n" for sha, _ in entries)).stdout
    at = 0
    for _sha, name in entries:
        head_end = batch.index(b"\n", at)
        size = int(batch[at:head_end].split()[2])
        body = batch[head_end + 1:head_end + 1 + size]
        at = head_end + 1 + size + 1
        target = into / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)


def _https_of(remote: str) -> str | None:
    """An https address for a git remote (an SSH one rewritten; credentials dropped)."""
    scp = _SCP_LIKE.match(remote)
    if scp:
        return f"https://{scp.group('host')}/{scp.group('path')}"
    url = urlsplit(remote)
    if url.scheme in _SSH_SCHEMES and url.hostname:
        return f"https://{url.hostname}{url.path}"
    if url.scheme in ("http", "https") and url.hostname:
        netloc = url.hostname + (f":{url.port}" if url.port else "")
        return urlunsplit((url.scheme, netloc, url.path, "", ""))
    return None


def _provenance(top: Path | None, commit: str | None) -> tuple[str, str]:
    """(``WORKSHOP.md``'s text, the marker file's text) for a copy made from ``commit``."""
    marker = "This is a workshop copy: Quiz answers are hidden (see docs/quiz-answers.md).\n"
    if top is None or commit is None:
        note = ("# mmlab: the workshop copy\n\n"
                "Made by `make workshop` (`python -m mmlab.workshop`) from the files as they\n"
                "were, not from a commit: install `mmlab` on the hub from the same files.\n")
        return note, marker
    date = _git(top, "show", "-s", "--format=%cI", commit).strip()
    try:
        remote = _https_of(_git(top, "remote", "get-url", "origin").strip())
    except subprocess.CalledProcessError:
        remote = None
    where = remote or "https://github.com/OWNER/REPO"
    note = (f"# mmlab: the workshop copy\n\n"
            f"Made by `make workshop` (`python -m mmlab.workshop`) from commit\n`{commit}`\n"
            f"of the course ({date}).\n\n"
            "The notebooks call the `mmlab` library, which this copy does not hold: the hub's\n"
            "image (or each learner) must install it from the same commit, or the notebooks\n"
            "and the library may not agree:\n\n"
            f"```sh\npip install \"git+{where}@{commit}\"\n```\n")
    return note, marker + f"Made from commit {commit} ({date}).\n"


def make_workshop_copy(src: Path | str, dst: Path | str, data: Path | str | None = None, *,
                       committed: bool | None = None) -> WorkshopCopy:
    """Copy the notebooks under ``src`` to ``dst/notebooks`` without solutions or outputs.

    ``data`` (default: the ``data`` folder next to ``src``) is copied to ``dst/data``. ``dst``
    is replaced if it exists. ``committed`` (default: whenever ``src`` is in a git checkout)
    makes the copy from the files of ``HEAD``, leaving out uncommitted changes and untracked
    files (listed in :attr:`WorkshopCopy.uncommitted`); ``committed=False`` copies the files
    as they are. The copy's ``WORKSHOP.md`` names the commit and how to install ``mmlab``
    from it.

    Model helper: no kernel counterpart.
    """
    src, dst = Path(src), Path(dst)
    data_dir = Path(data) if data is not None else src.parent / "data"
    top = _git_top(src) if committed is not False else None
    if committed and top is None:
        raise ValueError(f"{src} is not in a git checkout: a copy from HEAD needs one "
                         "(or copy the files as they are: committed=False, --from-tree)")
    with tempfile.TemporaryDirectory() as tmp:
        out = WorkshopCopy(dst)
        if top is not None:
            out.commit = _git(top, "rev-parse", "HEAD").strip()
            inside = [p.resolve().relative_to(top) for p in (src, data_dir)
                      if p.resolve().is_relative_to(top)]
            _export_head(top, inside, Path(tmp))
            status = _git(top, "status", "--porcelain", "--untracked-files=all", "--",
                          *map(str, inside))
            out.uncommitted = [line[3:] for line in status.splitlines() if line.strip()]
            src = Path(tmp) / src.resolve().relative_to(top)
            if data_dir.resolve().is_relative_to(top):
                data_dir = Path(tmp) / data_dir.resolve().relative_to(top)
        if dst.exists():
            shutil.rmtree(dst)
        _write_copy(src, dst, data_dir, out)
    note, marker = _provenance(top, out.commit)
    (dst / "WORKSHOP.md").write_text(note)
    (dst / "notebooks" / WORKSHOP_MARKER).write_text(marker)
    return out


def _write_copy(src: Path, dst: Path, data_dir: Path, out: WorkshopCopy) -> None:
    """The copy itself, from the files under ``src`` and ``data_dir``."""
    target = dst / "notebooks"
    for path in _course_notebooks(src):
        nb = nbformat.read(path, as_version=4)
        kept = [c for c in nb.cells if not _left_out(c)]
        out.removed[str(path.relative_to(src))] = len(nb.cells) - len(kept)
        for cell in kept:
            if cell.cell_type == "code":
                cell.outputs = []
                cell.execution_count = None
            elif cell.cell_type == "markdown":
                cell.source = _rewrite(cell.source, out.rewritten)
        nb.cells = kept
        dest = target / path.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, dest)
        out.notebooks.append(dest)
    for extra in src.rglob("*.md"):
        if "solutions" not in extra.relative_to(src).parts:
            dest = target / extra.relative_to(src)
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = _rewrite(extra.read_text(), out.rewritten)
            if extra.relative_to(src) == Path("labs", "README.md"):
                text = workshop_readme(text)
            dest.write_text(text)
    target.mkdir(parents=True, exist_ok=True)
    if data_dir.is_dir():
        shutil.copytree(data_dir, dst / "data")


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


def _headed_cells(src: Path) -> list[tuple[str, str, nbformat.NotebookNode]]:
    """(notebook, heading, cell) for every cell of the notebooks under ``src`` (not the labs'
    ``solutions/`` folder); the heading is ``"part › section"`` under a ``###``, the last one
    the cell itself opens if it has any, except for a Why block, which explains the question
    above it whatever headings follow it in its cell."""
    found = []
    for path in _course_notebooks(src):
        part = heading = ""
        for cell in nbformat.read(path, as_version=4).cells:
            if is_why_block(cell):
                found.append((str(path.relative_to(src)), heading, cell))
            if cell.cell_type == "markdown":
                for line in cell.source.splitlines():
                    if line.startswith("## "):
                        part = heading = line[3:].strip()
                    elif line.startswith("### "):
                        heading = f"{part} › {line[4:].strip()}" if part else line[4:].strip()
            if not is_why_block(cell):
                found.append((str(path.relative_to(src)), heading, cell))
    return found


def answer_cells(src: Path | str) -> list[AnswerCell]:
    """Every cell the workshop copy leaves out of the notebooks under ``src`` (tagged
    ``"solution"`` and not a collapsed "Why?" block; not the labs' ``solutions/`` folder), with
    the heading it sits under: what the instructor of a workshop says aloud instead.

    Model helper: no kernel counterpart.
    """
    return [AnswerCell(nb, heading, cell.cell_type, cell.source)
            for nb, heading, cell in _headed_cells(Path(src)) if _left_out(cell)]


def why_blocks(src: Path | str) -> list[AnswerCell]:
    """Every collapsed "Why?" explanation of a prediction in the notebooks under ``src``, with
    the heading it sits under: the workshop copy keeps them all (:func:`is_why_block`).

    Model helper: no kernel counterpart.
    """
    return [AnswerCell(nb, heading, cell.cell_type, cell.source)
            for nb, heading, cell in _headed_cells(Path(src)) if is_why_block(cell)]


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


#: The schemes of an address a hub can clone from without a key of its own.
_CLONE_SCHEMES = ("http", "https", "git")
#: SSH addresses: ``ssh://host/path``; the hub's servers have no SSH key to clone them with.
_SSH_SCHEMES = ("ssh", "git+ssh", "ssh+git")
#: scp-like git addresses (SSH too): ``git@github.com:owner/mmlab.git``.
_SCP_LIKE = re.compile(r"^(?:[\w.-]+@)?(?P<host>[\w.-]+):(?P<path>[^/\s][^\s]*)$")
#: A page of a forge's web site, not a repository: GitHub's ``/OWNER/NAME/tree/BRANCH``,
#: GitLab's ``/GROUP/NAME/-/tree/BRANCH`` (and ``blob``, ``commit``, ``commits``).
_WEB_PAGE = re.compile(r"^(?P<repo>/[^/]+/[^/]+?|/.+?/-)/(?P<kind>tree|blob|commits?)"
                       r"(?:/(?P<ref>[^/]+))?")
#: Where a hub's own pages start in an address copied from the browser (``/hub/home``,
#: ``/user/NAME/lab``): the hub's address is what comes before.
_HUB_PAGES = ("hub", "user")


def _check_hub(hub: str) -> str:
    """The hub's base address (scheme, host, prefix), from what an instructor pasted."""
    text = hub.strip()
    if "://" not in text:
        raise ValueError(f"hub URL {hub!r} has no scheme: write it in full, e.g. "
                         f"'https://{text.lstrip('/')}' (without one the link would be "
                         "relative to the page it is on)")
    url = urlsplit(text)
    if url.scheme not in ("http", "https") or not url.netloc:
        raise ValueError(f"hub URL {hub!r} is not an http(s) address of a JupyterHub "
                         "(e.g. 'https://hub.example.org')")
    segments = url.path.split("/")
    page = next((i for i, seg in enumerate(segments) if seg in _HUB_PAGES), None)
    if page is None and (url.query or url.fragment):
        raise ValueError(f"hub URL {hub!r} has a query or fragment: give the hub's address "
                         "alone (e.g. 'https://hub.example.org')")
    path = "/".join(segments[:page]) if page is not None else url.path
    return urlunsplit((url.scheme, url.netloc, path.rstrip("/"), "", ""))


def _check_repository(repository: str) -> tuple[str, str]:
    """(the address a hub clones, the name of the folder the clone goes into)."""
    repo = repository.strip()
    url = urlsplit(repo)
    https = _https_of(repo)
    if _SCP_LIKE.match(repo) or url.scheme in _SSH_SCHEMES:
        raise ValueError(f"repository URL {repository!r} is an SSH address: a hub's servers "
                         "have no SSH key to clone it with; give its https address"
                         + (f", '{https}'" if https else " ('https://github.com/OWNER/mmlab')"))
    if url.scheme not in _CLONE_SCHEMES or not url.netloc or not url.path.strip("/"):
        raise ValueError(f"repository URL {repository!r} is not one a hub can clone: give "
                         "its https address (e.g. 'https://github.com/OWNER/mmlab')")
    page = _WEB_PAGE.match(url.path)
    if page:
        where = urlunsplit((url.scheme, url.netloc, page.group("repo").removesuffix("/-"),
                            "", ""))
        branch = f" --branch {page.group('ref')}" if page.group("ref") else " --branch"
        raise ValueError(f"repository URL {repository!r} is a page of the repository's web "
                         f"site (…/{page.group('kind')}/…), not its address: give '{where}' "
                         f"and the branch apart ({branch.strip()})")
    name = url.path.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
    if name in ("", ".", ".."):
        raise ValueError(f"repository URL {repository!r} names no repository at its end "
                         "(e.g. 'https://github.com/OWNER/mmlab')")
    return repo, name


def nbgitpuller_link(hub: str, repository: str, branch: str = "main",
                     notebook: str = "notebooks/00-welcome.ipynb") -> str:
    """A link that makes a JupyterHub clone (or update) the course and open ``notebook``.

    The hub needs nbgitpuller installed; each learner who clicks gets their own copy, and a
    second click pulls new commits without overwriting their changes. ``hub`` must be an
    http(s) address (without a scheme the link would be relative: a ``ValueError`` says so);
    an address copied from the browser is cut where the hub's own pages start
    (``https://hub.example.org/hub/home`` gives ``https://hub.example.org``). ``repository``
    must be one the hub can clone without a key: an http(s) (or ``git://``) address, not an
    SSH one (``git@host:path``, ``ssh://``: refused, with the https address to use instead),
    nor a page of a forge's web site (``.../tree/BRANCH``: give the branch as ``branch``).

    The clone goes into the folder ``targetpath`` names, the repository's name without
    ``.git`` (nbgitpuller 1.3's own default is the URL's last part, ``mmlab.git`` for
    ``.../mmlab.git``), and ``urlpath`` opens ``notebook`` in that same folder.

    Model helper: no kernel counterpart (nbgitpuller's ``git-pull`` link format:
    ``repo``, ``branch``, ``targetpath``, ``urlpath``).
    """
    hub = _check_hub(hub)
    repository, name = _check_repository(repository)
    if not branch.strip():
        raise ValueError("branch is empty: name the branch the hub clones (e.g. 'main')")
    query = urlencode({"repo": repository, "branch": branch, "targetpath": name,
                       "urlpath": f"lab/tree/{name}/{notebook}"})
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def main(argv: list[str] | None = None) -> int:
    """``python -m mmlab.workshop [--src notebooks] [--dst build/workshop] [--from-tree]
    [--answers FILE] [--nbgitpuller HUB REPOSITORY [--branch BRANCH]]``.

    Model helper: no kernel counterpart.
    """
    parser = argparse.ArgumentParser(prog="python -m mmlab.workshop",
                                     description="Make the workshop copy of the course.")
    parser.add_argument("--src", default="notebooks")
    parser.add_argument("--dst", default="build/workshop")
    parser.add_argument("--from-tree", action="store_true",
                        help="copy the files as they are, uncommitted changes included "
                             "(by default, in a git checkout, the copy is HEAD's)")
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
    copy = make_workshop_copy(args.src, args.dst, committed=False if args.from_tree else None)
    removed = sum(copy.removed.values())
    made = f"commit {copy.commit[:12]}" if copy.commit else "the files as they are"
    print(f"workshop copy in {copy.root}, made from {made}: {len(copy.notebooks)} notebooks, "
          f"{removed} solution cells left out, {sum(copy.rewritten.values())} sentences "
          "rewritten; see its WORKSHOP.md")
    if copy.uncommitted:
        shown = ", ".join(copy.uncommitted[:5]) + (", ..." if len(copy.uncommitted) > 5 else "")
        print(f"warning: {len(copy.uncommitted)} uncommitted or untracked paths are not in "
              f"the copy ({shown}): commit them first, or use --from-tree", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
