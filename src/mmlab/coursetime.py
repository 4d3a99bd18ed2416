"""How long a learner spends on each chapter and lab: the course's time model.

Each chapter's stated time ("It takes N to M minutes", in its first cell), the labs' table, the
instructor guide's table of chapter times and its workshop plans come from this model
(``--write-times`` writes the first three, all from the same figures); ``tests/test_coursetime.py``
keeps them within it, and the guide's table equal to the chapters' own lines.
``python -m mmlab.coursetime`` prints the table (it runs every notebook once, headless, to
measure what only a run shows: how long the cells take and how much they print).

What a learner spends time on, and how the model counts it (low and high figures: a quick
learner and a careful one; every figure is in :data:`FIGURES` with where it comes from):

* **reading**: the words of the markdown cells, and of the comments in code cells (they are
  prose: "# your prediction: how many VMAs?"), at 150 words a minute, the figure the course's
  review (issue 19) read the chapters at; a link's address and HTML tags are not words.
* **code cells**: each cell with code costs a fixed time to run it, wait for it and look at
  what it printed, plus a time per line of code read; the wait itself is *measured*: the
  model runs the notebook (every notebook of the course runs in under 3 s of kernel time, so
  the wait is a few seconds a chapter).
* **printed output**: the words a cell prints (a maps listing, a table, a kernel log),
  *measured* by running the notebook (the course stores notebooks without outputs). A learner
  scans a table for the value the text points at rather than reading it through, so output
  words count at a scanning rate, two to three times the reading rate.
* **widgets**: each explorer shown costs the time to explore it, a figure per explorer type
  (:data:`EXPLORER_MINUTES`: its controls, and what the chapter asks to do with it); an
  explorer of a type the learner already used in the same notebook costs less.
* **exercises**: a "predict, then run" question (each ``compare_guess``), a quiz (its
  question, options and explanation read, plus the time to decide; the words come from the
  quiz bank), a function to complete (each ``def my_...``), a seeded drill, a lab's work cell
  (tagged ``exercise``), and an open "try it" cell (an empty cell after "Try it below").

The model was calibrated against the times trial learners took (issue 19: notebook 07, the
fault-time split, took 60 to 75 minutes, notebook 08 30 to 40): its figures are round numbers
chosen so that both fall inside the model's range; nothing here is fitted more finely.

Model helper: no kernel counterpart (course tooling).
"""

from __future__ import annotations

import argparse
import ast
import io
import json
import math
import re
import sys
import tokenize
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType

import nbformat

from mmlab.viz.quiz import quiz_bank

__all__ = ["EXPLORER_MINUTES", "FIGURES", "WORDS_PER_MINUTE", "CellRun", "Counts", "Figure",
           "NotebookTime", "Section", "course_notebooks", "course_times", "main",
           "markdown_words", "notebook_time", "round_range", "run_notebook", "stated_minutes",
           "table", "write_guide_table", "write_stated_times"]

#: Reading speed for the course's prose, in words a minute (the figure issue 19 used).
WORDS_PER_MINUTE = 150


@dataclass(frozen=True)
class Figure:
    """One figure of the model: a low and a high value, its unit, and where it comes from.

    Model helper: no kernel counterpart.
    """

    low: float
    high: float
    unit: str
    why: str


#: Every figure of the model (minutes unless the unit says otherwise).
FIGURES: Mapping[str, Figure] = MappingProxyType({
    "reading": Figure(
        WORDS_PER_MINUTE, WORDS_PER_MINUTE, "words/minute",
        "Markdown and code comments, read to learn from: 150 words a minute, the rate issue 19 "
        "timed the chapters at (adults read easy prose at 200-300 words a minute; a dense "
        "technical text read to be understood goes at about half that)."),
    "output": Figure(
        750, 300, "words/minute",
        "Printed output (maps lines, tables, kernel logs) is scanned for the value the text "
        "points at, not read through: a quick learner skims it at five times the reading "
        "rate, a careful one reads it at twice the rate (it is short lines of numbers and "
        "names the text has just explained)."),
    "cell": Figure(
        0.1, 0.2, "minutes/cell",
        "Run a cell (Shift+Enter), see it finish, find where its output starts: 6-12 s, "
        "before reading its code and output."),
    "code line": Figure(
        1.0, 2.0, "seconds/line",
        "A line of code is read more slowly than prose, but most are imports or calls the "
        "text has just described: 1-2 s a line (about 5 tokens, glanced at or read)."),
    "predict": Figure(
        0.5, 1.25, "minutes/question",
        "Decide a guess from what the chapter taught so far, type it, run, read the verdict: "
        "30 s to 1.25 min (a number, a word or True/False; the guess is one line)."),
    "quiz": Figure(
        0.33, 0.75, "minutes/quiz",
        "Decide between the options and press Check, once or twice, on top of reading the "
        "question, the options and the explanation (their words from the quiz bank, at the "
        "reading rate)."),
    "function": Figure(
        2.0, 5.0, "minutes/function",
        "Write a function of 2-8 lines whose rule the chapter stated, run the check, fix the "
        "mistake it reports: 2 minutes right first time, 5 with a fix or two."),
    "drill": Figure(
        1.0, 2.5, "minutes/drill",
        "Work one seeded problem by hand (cut an address, count faults, pack a value) and "
        "check it: 1-2.5 minutes."),
    "lab work": Figure(
        6.0, 14.0, "minutes/work cell",
        "A lab's work cell (tagged exercise): write or fix a function or a schedule against a "
        "check of 20-600 cases, with a failure or two on the way: 6-14 minutes, so that a lab "
        "of one work cell takes the 20-30 minutes the labs' authors planned."),
    "try it": Figure(
        0.0, 2.0, "minutes/cell",
        "An open cell after \"Try it below\": optional; a quick learner skips it, a careful one "
        "tries one thing."),
    "aloud": Figure(
        1.0, 2.0, "minutes/section",
        "In a workshop, a section the instructor summarises instead of the room reading it: "
        "its conclusion in two or three sentences, its picture or output on the projector."),
    "explorer again": Figure(
        0.4, 0.4, "share",
        "An explorer of a type already used in the same notebook: only its new state is new, "
        "so it costs 40% of the first one."),
})

#: Minutes to explore each widget, low and high, and where the figure comes from. An explorer
#: is a picture with its legend to read (0.5-1 minute) and controls to move: each move the
#: chapter's text asks for (or that a learner makes to see what a control does) costs 0.5-1
#: minute, a move and a look at what changed in the picture and the text under it. So an
#: explorer with k moves costs 0.5 + 0.5k to 1 + k minutes. The two step-through explorers
#: (the trace stepper and the race explorer) are counted by their steps instead.
EXPLORER_MINUTES: Mapping[str, tuple[float, float, str]] = MappingProxyType({
    "XipGlance": (1.5, 3.0, "2 moves: the chapter asks for each strategy (a toggle of three) "
                  "to be clicked and the pictures compared"),
    "StripView": (0.5, 1.0, "no controls: read the picture and its legend"),
    "AddressSpaceExplorer": (3.0, 6.0, "5 moves of its 8 controls (call, page, pages, prot, "
                             "file page, run, address, reset): a split at a VMA's end, one "
                             "in its middle, a find_vma in a hole"),
    "TraceStepper": (3.0, 5.0, "a step-through: 20-40 calls stepped with previous/next or the "
                     "slider, 5-8 s each, the ones the text names read closely"),
    "PageTableWalkExplorer": (1.5, 3.0, "2 moves: two or three addresses typed or picked"),
    "PhysMemExplorer": (1.5, 3.0, "2 moves (VMA and page menus): a RAM frame and a flash one"),
    "ImageMapExplorer": (2.5, 5.0, "4 moves of its 5 controls (row width, file, byte, "
                         "previous/next): a file's blocks, a byte or two decoded"),
    "PageCacheExplorer": (2.5, 5.0, "4 moves of its 6 controls (VMA, page, access, touch, "
                          "fault-around, reset): touch a few pages, read the counters"),
    "RamCostExplorer": (1.0, 2.0, "1 move: another scenario in its menu"),
    "XipConditionsExplorer": (3.0, 6.0, "5 moves of its 7 controls (file, offset, pages, "
                              "prot, flags, open mode, driver): make two or three checks "
                              "fire"),
    "PgoffExplorer": (2.5, 5.0, "4 moves: the four kinds of VMA the section names, a page "
                      "written"),
    "PackingExplorer": (1.5, 3.0, "2 moves of its 3 controls (split page, split offset, "
                        "form): two values packed, the bits read"),
    "RaceExplorer": (10.0, 12.0, "a step-through: 3 menus (race, strategy, class of "
                     "interleavings) and each race the text names stepped to where it breaks "
                     "(4-6 races of 10-20 steps, 5-8 s a step); chapter 07's trial learners "
                     "spent longest here"),
    "StrategyExplorer": (2.0, 4.0, "3 moves (another scenario twice, the log checkbox); "
                         "three columns of VMAs and pages to compare each time"),
    "LockTimelineExplorer": (2.5, 5.0, "4 moves: the kernel toggled for the handler's pair, "
                             "the two other pairs, a few steps of one stepped through"),
})


@dataclass
class Counts:
    """What a learner meets in a notebook (or one section of it).

    Model helper: no kernel counterpart.
    """

    words: int = 0
    comment_words: int = 0
    output_words: int = 0
    run_seconds: float = 0.0
    cells: int = 0
    code_lines: int = 0
    widgets: list[str] = field(default_factory=list)
    predicts: int = 0
    quizzes: list[str] = field(default_factory=list)
    quiz_words: int = 0
    functions: int = 0
    drills: int = 0
    lab_work: int = 0
    tries: int = 0

    @property
    def exercises(self) -> int:
        """Predict questions, quizzes, functions, drills and lab work cells."""
        return (self.predicts + len(self.quizzes) + self.functions + self.drills
                + self.lab_work)

    def add(self, other: Counts) -> Counts:
        """The counts of this and ``other`` together.

        Model helper: no kernel counterpart.
        """
        return Counts(
            self.words + other.words, self.comment_words + other.comment_words,
            self.output_words + other.output_words, self.run_seconds + other.run_seconds,
            self.cells + other.cells, self.code_lines + other.code_lines,
            self.widgets + other.widgets, self.predicts + other.predicts,
            self.quizzes + other.quizzes, self.quiz_words + other.quiz_words,
            self.functions + other.functions, self.drills + other.drills,
            self.lab_work + other.lab_work, self.tries + other.tries)


@dataclass(frozen=True)
class Section:
    """A piece of a notebook cut at its ``##`` and ``###`` headings, its counts and minutes.

    ``part`` is the ``##`` heading it belongs to (its own title for the text between a ``##``
    heading and the first ``###`` under it; "(introduction)" before the first heading).

    Model helper: no kernel counterpart.
    """

    title: str
    part: str
    counts: Counts
    low: float
    high: float
    explorers_low: float
    explorers_high: float


@dataclass(frozen=True)
class NotebookTime:
    """A notebook's counts and minutes, whole and by section.

    Model helper: no kernel counterpart.
    """

    name: str
    title: str
    sections: tuple[Section, ...]

    @property
    def counts(self) -> Counts:
        """The whole notebook's counts."""
        total = Counts()
        for s in self.sections:
            total = total.add(s.counts)
        return total

    @property
    def low(self) -> float:
        """Minutes for a quick learner."""
        return sum(s.low for s in self.sections)

    @property
    def high(self) -> float:
        """Minutes for a careful learner."""
        return sum(s.high for s in self.sections)

    @property
    def rounded(self) -> tuple[int, int]:
        """The range as a learner is told it: low down and high up to 5 minutes."""
        return round_range(self.low, self.high)

    def heading(self, title: str) -> str:
        """The one heading (``##`` or ``###``) that is ``title`` or starts with it.

        Model helper: no kernel counterpart.
        """
        names = list(dict.fromkeys(n for s in self.sections for n in (s.part, s.title)))
        found = [n for n in names if n == title] or [n for n in names if n.startswith(title)]
        if len(found) != 1:
            raise KeyError(f"{self.name}: {len(found)} headings match {title!r}; the "
                           "headings are: " + "; ".join(names))
        return found[0]

    def pieces(self, heading: str) -> list[Section]:
        """The sections under ``heading``: a ``##`` heading's own text and all its ``###``
        subsections, or one ``###`` subsection (a ``###`` title used twice, such as "Predict,
        then run", is ambiguous: name its ``##`` part instead).

        Model helper: no kernel counterpart.
        """
        name = self.heading(heading)
        found = [s for s in self.sections if name in (s.part, s.title)]
        if not any(s.part == name for s in found) and len(found) > 1:
            raise KeyError(f"{self.name}: {len(found)} sections are called {name!r}")
        return found

    def without(self, headings: Iterable[str]) -> tuple[float, float]:
        """Minutes (low, high) for the notebook with the sections under ``headings`` left
        out (see :meth:`pieces`).

        Model helper: no kernel counterpart.
        """
        left = {id(s) for h in headings for s in self.pieces(h)}
        kept = [s for s in self.sections if id(s) not in left]
        return sum(s.low for s in kept), sum(s.high for s in kept)

    def in_room(self, aloud: Sequence[str] = (), later: Sequence[str] = ()) -> tuple[float, float]:
        """Minutes (low, high) a workshop room spends on the notebook when the instructor
        summarises the sections ``aloud`` (:data:`FIGURES` "aloud" each) and the sections
        ``later`` are left for after the workshop.

        Model helper: no kernel counterpart.
        """
        low, high = self.without([*aloud, *later])
        return (low + len(aloud) * FIGURES["aloud"].low,
                high + len(aloud) * FIGURES["aloud"].high)


def round_range(low: float, high: float) -> tuple[int, int]:
    """``(low, high)`` minutes rounded outwards to multiples of 5 (``(17.2, 31.0)`` ->
    ``(15, 35)``).

    Model helper: no kernel counterpart.
    """
    return 5 * math.floor(low / 5 + 1e-9), 5 * math.ceil(high / 5 - 1e-9)


# --- counting ------------------------------------------------------------------------------------
_LINK_TARGET = re.compile(r"\]\([^)]*\)")
_TAG = re.compile(r"<[^>]+>")
_WORD = re.compile(r"\S*[A-Za-z0-9]\S*")


def markdown_words(text: str) -> int:
    """The words of a markdown text as a reader meets them: whitespace-separated tokens with a
    letter or digit in them; a link's address and HTML tags are not read.

    Model helper: no kernel counterpart.
    """
    return len(_WORD.findall(_TAG.sub(" ", _LINK_TARGET.sub("]", text))))


def _comments_and_code(source: str) -> tuple[int, int]:
    """(words in comments, lines of code that are not blank or comment-only)."""
    words = 0
    code_rows: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT:
                words += markdown_words(tok.string.lstrip("#"))
            elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER):
                code_rows.update(range(tok.start[0], tok.end[0] + 1))
    except (tokenize.TokenError, SyntaxError) as exc:
        raise ValueError(f"a code cell does not tokenize ({exc}): {source[:60]!r}") from exc
    return words, len(code_rows)


def _call_name(node: ast.AST) -> str:
    """``f`` for ``f(...)``, ``attr`` for ``x.attr(...)``, the class for ``Cls.method(...)``."""
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name) and func.value.id in EXPLORER_MINUTES:
                return func.value.id
            return func.attr
    return ""


def _count_code(source: str, tags: Sequence[str], explorers: dict[str, str],
                counts: Counts, lab: bool) -> None:
    """Add one code cell to ``counts``; ``explorers`` maps variable names bound to explorers
    (``races = RaceExplorer(...)``) to their class, across the notebook's cells."""
    comment_words, code_lines = _comments_and_code(source)
    counts.comment_words += comment_words
    if code_lines == 0:
        counts.tries += 1
        return
    counts.cells += 1
    counts.code_lines += code_lines
    if "exercise" in tags:
        counts.lab_work += 1
    tree = ast.parse(source)
    bank = quiz_bank()
    for node in ast.walk(tree):
        name = _call_name(node)
        if name == "compare_guess":
            counts.predicts += 1
        elif name == "named" and isinstance(node, ast.Call) and node.args \
                and isinstance(node.args[0], ast.Constant):
            quiz_name = str(node.args[0].value)
            counts.quizzes.append(quiz_name)
            if quiz_name in bank:  # (a question being written may not be in the bank yet)
                quiz = bank[quiz_name]
                counts.quiz_words += sum(markdown_words(t) for t in
                                         (quiz.question, *quiz.options, quiz.why))
        elif name.endswith("Drill") and name != "Drill":
            counts.drills += 1
        elif isinstance(node, ast.FunctionDef) and node.name.startswith("my_") and not lab:
            counts.functions += 1
        elif isinstance(node, ast.Assign) and _call_name(node.value) in EXPLORER_MINUTES:
            for target in node.targets:
                if isinstance(target, ast.Name):
                    explorers[target.id] = _call_name(node.value)
    last = tree.body[-1] if tree.body else None
    if isinstance(last, ast.Expr):
        shown = _call_name(last.value)
        if isinstance(last.value, ast.Name):
            shown = explorers.get(last.value.id, "")
        if shown in EXPLORER_MINUTES:
            counts.widgets.append(shown)


_HEADING = re.compile(r"^(##|###) +(.+?)\s*$", re.MULTILINE)


def _sections(nb: nbformat.NotebookNode) -> list[tuple[str, str, list[tuple[int, str]]]]:
    """The notebook cut at its ``##`` and ``###`` headings: (title, part, [(cell index,
    text)]); a markdown cell with two headings gives each its own text."""
    intro = "(introduction)"
    sections: list[tuple[str, str, list[tuple[int, str]]]] = [(intro, intro, [])]
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            sections[-1][2].append((i, cell.source))
            continue
        text = cell.source
        cuts = list(_HEADING.finditer(text))
        if not cuts:
            sections[-1][2].append((i, text))
            continue
        if cuts[0].start() > 0:
            sections[-1][2].append((i, text[:cuts[0].start()]))
        for k, cut in enumerate(cuts):
            end = cuts[k + 1].start() if k + 1 < len(cuts) else len(text)
            title = cut.group(2).strip()
            part = title if cut.group(1) == "##" else sections[-1][1]
            sections.append((title, part, [(i, text[cut.start():end])]))
    return [s for s in sections if s[2]]


# --- running ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CellRun:
    """What running one code cell showed: seconds of kernel time, words printed, widgets.

    Model helper: no kernel counterpart.
    """

    seconds: float
    output_words: int
    widgets: int


def _stamp(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def run_notebook(path: Path | str, timeout: int = 300) -> dict[int, CellRun]:
    """Run the notebook headless in its own folder and return, per code cell's index, how long
    the kernel took and how many words it printed (widgets' own text excluded: an explorer's
    description is part of exploring it).

    Model helper: no kernel counterpart.
    """
    from nbclient import NotebookClient

    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=True,
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    runs: dict[int, CellRun] = {}
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        timing = cell.metadata.get("execution", {})
        start, end = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        seconds = (_stamp(end) - _stamp(start)).total_seconds() if start and end else 0.0
        words = widgets = 0
        for out in cell.outputs:
            if out.output_type == "error":
                raise RuntimeError(f"{path.name}, cell {i}: {out.ename}: {out.evalue}")
            if out.output_type == "stream":
                words += markdown_words(out.text)
            elif out.output_type in ("execute_result", "display_data"):
                if "application/vnd.jupyter.widget-view+json" in out.data:
                    widgets += 1
                elif "text/plain" in out.data:
                    words += markdown_words(out.data["text/plain"])
        runs[i] = CellRun(max(seconds, 0.0), words, widgets)
    return runs


# --- the model -----------------------------------------------------------------------------------
def _minutes(c: Counts, first_use: set[str]) -> tuple[float, float, float, float]:
    """(low, high, explorers low, explorers high) minutes for ``c``; ``first_use`` holds the
    explorer types already met in the notebook (updated)."""
    f = FIGURES
    out = []
    for end in ("low", "high"):

        def pick(fig: Figure, e: str = end) -> float:
            return float(getattr(fig, e))

        read = (c.words + c.comment_words + c.quiz_words) / pick(f["reading"])
        output = c.output_words / pick(f["output"])
        cells = c.cells * pick(f["cell"]) + c.code_lines * pick(f["code line"]) / 60
        cells += c.run_seconds / 60
        tasks = (c.predicts * pick(f["predict"]) + len(c.quizzes) * pick(f["quiz"])
                 + c.functions * pick(f["function"]) + c.drills * pick(f["drill"])
                 + c.lab_work * pick(f["lab work"]) + c.tries * pick(f["try it"]))
        out.append(read + output + cells + tasks)
    explorers = [0.0, 0.0]
    for name in c.widgets:
        low, high, _why = EXPLORER_MINUTES[name]
        share = f["explorer again"].low if name in first_use else 1.0
        first_use.add(name)
        explorers[0] += low * share
        explorers[1] += high * share
    return out[0] + explorers[0], out[1] + explorers[1], explorers[0], explorers[1]


def notebook_time(path: Path | str, runs: dict[int, CellRun] | None = None) -> NotebookTime:
    """The model's minutes for one notebook, by section. ``runs`` (from :func:`run_notebook`)
    adds the measured kernel time and printed words; without it they count as nothing.

    Model helper: no kernel counterpart.
    """
    path = Path(path)
    nb = nbformat.read(path, as_version=4)
    lab = "labs" in path.parts
    explorers: dict[str, str] = {}
    first_use: set[str] = set()
    sections = []
    for title, part, cells in _sections(nb):
        c = Counts()
        for i, text in cells:
            cell = nb.cells[i]
            if cell.cell_type == "markdown":
                c.words += markdown_words(text)
            elif cell.cell_type == "code":
                _count_code(cell.source, cell.metadata.get("tags", []), explorers, c, lab)
                if runs and i in runs:
                    c.output_words += runs[i].output_words
                    c.run_seconds += runs[i].seconds
        low, high, e_low, e_high = _minutes(c, first_use)
        sections.append(Section(title, part, c, low, high, e_low, e_high))
    heading = re.search(r"^# +(.+)$", nb.cells[0].source, re.MULTILINE) if nb.cells else None
    return NotebookTime(_name(path), heading.group(1) if heading else _name(path),
                        tuple(sections))


def _name(path: Path) -> str:
    """How the model names a notebook: ``07-fault-time-split``, ``labs/02-tail-check``."""
    return f"labs/{path.stem}" if "labs" in path.parts else path.stem


def course_notebooks(root: Path | str) -> list[Path]:
    """The chapters, then the labs (not their solutions), under ``root/notebooks``.

    Model helper: no kernel counterpart.
    """
    nbs = Path(root) / "notebooks"
    return sorted(nbs.glob("*.ipynb")) + sorted((nbs / "labs").glob("*.ipynb"))


def course_times(root: Path | str, *, run: bool = True) -> list[NotebookTime]:
    """The model for every chapter and lab; ``run`` runs each notebook to measure it.

    Model helper: no kernel counterpart.
    """
    return [notebook_time(p, run_notebook(p) if run else None) for p in course_notebooks(root)]


_STATED = re.compile(r"It takes (\d+) to (\d+) minutes")


def stated_minutes(path: Path | str) -> tuple[int, int] | None:
    """The time a notebook's first cell states ("It takes N to M minutes"), or None.

    Model helper: no kernel counterpart.
    """
    nb = nbformat.read(Path(path), as_version=4)
    found = _STATED.search(nb.cells[0].source) if nb.cells else None
    return (int(found.group(1)), int(found.group(2))) if found else None


def write_stated_times(root: Path | str, times: Sequence[NotebookTime]) -> list[str]:
    """Put the model's rounded range in each notebook's first cell ("It takes N to M
    minutes", the sentence only; a lab's solution too) and in the labs' README table; returns
    what changed. Notebooks are rewritten as the course stores them (JSON, indent 1).

    Model helper: no kernel counterpart.
    """
    root = Path(root)
    changed = []
    by_name = {t.name: t for t in times}
    for path in course_notebooks(root):
        t = by_name.get(_name(path))
        if t is None:
            continue
        low, high = t.rounded
        paths = [path] + ([path.parent / "solutions" / path.name]
                          if path.parent.name == "labs" else [])
        for target in paths:
            nb = json.loads(target.read_text())
            first = "".join(nb["cells"][0]["source"])
            if not _STATED.search(first):
                raise ValueError(f"{target}: its first cell has no 'It takes N to M minutes'")
            new = _STATED.sub(f"It takes {low} to {high} minutes", first, count=1)
            if new != first:
                nb["cells"][0]["source"] = new.splitlines(keepends=True)
                target.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
                changed.append(f"{target.relative_to(root)}: {low} to {high} minutes")
    readme = root / "notebooks" / "labs" / "README.md"
    if readme.exists():
        text = readme.read_text()
        for t in times:
            if not t.name.startswith("labs/"):
                continue
            low, high = t.rounded
            row = re.compile(rf"^(\|[^\n]*\]\({re.escape(t.name[5:])}\.ipynb\)[^\n]*?\| )"
                             r"\d+(?:-\d+)? min( \|)", re.MULTILINE)
            new = row.sub(rf"\g<1>{low}-{high} min\g<2>", text, count=1)
            if new != text:
                changed.append(f"{readme.relative_to(root)}: {t.name} {low}-{high} min")
                text = new
        readme.write_text(text)
    return changed


#: The instructor guide, whose table of chapter times :func:`write_guide_table` writes.
GUIDE = Path("docs", "instructor-guide.md")


def write_guide_table(root: Path | str, times: Sequence[NotebookTime]) -> list[str]:
    """Put the model's rounded range of each chapter in the instructor guide's table of chapter
    times (the row that links the chapter and ends ``| N-M min |``), the same figures
    :func:`write_stated_times` puts in the chapters' first cells, and the labs' span (the
    quickest lab's low to the longest one's high) in its labs row; returns what changed.

    Model helper: no kernel counterpart.
    """
    path = Path(root) / GUIDE
    if not path.exists():
        return []
    text = path.read_text()
    changed = []
    rows: list[tuple[str, tuple[int, int]]] = [
        (rf"\.\./notebooks/{re.escape(t.name)}\.ipynb\)", t.rounded)
        for t in times if "/" not in t.name]
    labs = [t.rounded for t in times if t.name.startswith("labs/")]
    if labs:
        rows.append((r"\.\./notebooks/labs/README\.md\), each",
                     (min(low for low, _ in labs), max(high for _, high in labs))))
    for link, (low, high) in rows:
        row = re.compile(rf"^(\| \[[^\n]*\]\({link} \| )(\d+-\d+) min( \|)$", re.MULTILINE)
        found = row.search(text)
        if found and found.group(2) != f"{low}-{high}":
            text = row.sub(rf"\g<1>{low}-{high} min\g<3>", text, count=1)
            changed.append(f"{GUIDE}: {found.group(0).split('](')[0][3:]} {low}-{high} min")
    path.write_text(text)
    return changed


def table(times: Sequence[NotebookTime]) -> str:
    """The model's table: per notebook, words, code cells, widgets, exercises, minutes.

    Model helper: no kernel counterpart.
    """
    rows = [f"{'notebook':28} {'words':>6} {'read':>5} {'cells':>5} {'out':>5} {'widgets':>7} "
            f"{'exerc.':>6}  {'minutes':>11}  {'told':>7}"]
    for t in times:
        c = t.counts
        low, high = t.rounded
        rows.append(
            f"{t.name:28} {c.words + c.comment_words:6} "
            f"{(c.words + c.comment_words) / WORDS_PER_MINUTE:5.1f} {c.cells:5} "
            f"{c.output_words:5} {len(c.widgets):7} {c.exercises:6}  "
            f"{t.low:4.0f}-{t.high:<4.0f}  {low:3}-{high:<3}")
    chapters = [t for t in times if "/" not in t.name]
    labs = [t for t in times if "/" in t.name]
    for label, group in (("chapters", chapters), ("labs", labs)):
        if group:
            rows.append(f"{label + ' together':28} {'':46}  "
                        f"{sum(t.low for t in group):4.0f}-{sum(t.high for t in group):<4.0f}")
    rows.append("words: markdown and code comments (read at 150/min); out: words printed; "
                "exerc.: predict, quiz, function, drill, lab work; told: rounded to 5 min.")
    return "\n".join(rows)


def _sections_table(t: NotebookTime) -> str:
    rows = [f"{t.name}: {t.title}"]
    for s in t.sections:
        c = s.counts
        title = s.title if s.part == s.title else f"  {s.title}"
        rows.append(f"  {s.low:5.1f}-{s.high:<5.1f} {c.words:5} words {c.cells:3} cells "
                    f"{len(c.widgets)} widgets {c.exercises} exercises  {title}")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    """``python -m mmlab.coursetime [--root .] [--static] [--sections] [--figures]
    [--write-times]``.

    Model helper: no kernel counterpart.
    """
    parser = argparse.ArgumentParser(prog="python -m mmlab.coursetime",
                                     description="The learner-time model of the course.")
    parser.add_argument("--root", default=".", help="the repository (holding notebooks/)")
    parser.add_argument("--static", action="store_true",
                        help="do not run the notebooks (no measured output or kernel time)")
    parser.add_argument("--sections", action="store_true", help="minutes per section too")
    parser.add_argument("--figures", action="store_true",
                        help="print the model's figures and where they come from")
    parser.add_argument("--write-times", action="store_true",
                        help="write the model's times into each notebook's first cell "
                             "('It takes N to M minutes'), the labs' README and the "
                             "instructor guide's table")
    args = parser.parse_args(argv)
    if args.figures:
        for name, fig in FIGURES.items():
            print(f"{name:15} {fig.low:g}-{fig.high:g} {fig.unit}: {fig.why}")
        for name, (low, high, why) in EXPLORER_MINUTES.items():
            print(f"{name:22} {low:g}-{high:g} minutes: {why}")
        return 0
    times = course_times(args.root, run=not args.static)
    print(table(times))
    if args.write_times:
        changed = write_stated_times(args.root, times) + write_guide_table(args.root, times)
        for line in changed or ["every stated time is the model's"]:
            print(line)
    if args.sections:
        for t in times:
            print()
            print(_sections_table(t))
    return 0


if __name__ == "__main__":
    sys.exit(main())
