"""Self-checks that give feedback and never spoil: choices, function checks, seeded drills.

* :class:`Quiz`: a multiple-choice question. Its question, options, answer and explanation
  live in a data file per chapter (``mmlab/viz/quizzes/<chapter>.toml``) and a notebook loads
  it by name (``Quiz.named("ch01/vma-pages")``), so the notebook holds no answer. "Check" says
  right (with the explanation) or wrong (with a hint); "Show the answer" reveals it on request.
* :func:`check_function`: runs a learner's function on cases and reports how many pass; on a
  failure it shows the input, what came back and what was expected (the learner has tried).
  A function that is not written yet (``...`` body, ``NotImplementedError``) gets "not done
  yet", nothing more. Sequences compare by value whatever their type (a list for a tuple);
  a check declares where order does not matter.
* :class:`Drill`: a seeded exercise generator (same seed, same problem for everybody): a
  problem, an answer checker, and the answer on request.
* :func:`compare_guess`: the "predict, then run" comparison; a number may be written as a
  string or in hex, a set in any order.

In a workshop copy of the course (``make workshop``: a file named :data:`WORKSHOP_MARKER` sits
in the notebooks' folder, or the environment sets ``MMLAB_WORKSHOP=1``) a :class:`Quiz` has no
"Show the answer" button: the instructor holds the answers.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import errno
import functools
import html
import inspect
import operator
import os
import random
import re
import textwrap
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType

import ipywidgets as widgets

__all__ = ["BARE_HEX_WORDS", "OUTPUT_WIDTH", "WORKSHOP_MARKER", "CheckResult", "Drill", "Quiz",
           "QuizData", "check_function", "compare_guess", "learner_value", "quiz_bank",
           "same_value", "show_value", "workshop_mode", "wrap_output"]

#: The file whose presence in the notebook's folder (or the one above) marks a workshop copy.
WORKSHOP_MARKER = ".mmlab-workshop"

#: Words in a quantity's name that say it is read in hex (addresses, frames, offsets, flags):
#: a whole word of the name, or the end of a kernel identifier in it (``vm_pgoff``).
HEX_WORDS = frozenset({"address", "addr", "pfn", "frame", "offset", "pgoff", "flags", "pointer"})
HEX_SUFFIXES = ("_pgoff", "_flags", "_addr", "_start", "_end", "_pfn", "_private_data")

#: Numbers a learner may write as words.
NUMBER_WORDS = MappingProxyType({w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    "fifteen sixteen seventeen eighteen nineteen twenty".split())} | {"none": 0})

#: Words for True and False, where the answer is one.
YES_NO = MappingProxyType({"yes": True, "no": False, "true": True, "false": False})

_HEX_DIGITS = re.compile(r"[0-9a-fA-F]+")

#: Digits that read as a number in either base (no ``0x``, no letter a-f).
_DECIMAL_DIGITS = re.compile(r"[0-9]+")

#: Words in a quantity's name that say it is printed as bare hex digits (a column of
#: ``/proc/PID/maps``): there, digits without ``0x`` are hex only, as the learner copied them.
BARE_HEX_WORDS = frozenset({"column"})

#: An errno name as a return value: ``-EINVAL`` (or ``EINVAL``) for -22.
_ERRNO = re.compile(r"(-?)(E[A-Z0-9]+)")

#: A signal's name, in any case.
_SIGNAL = re.compile(r"SIG[A-Z]+")

#: A unit word after a number ("20 bytes", "3 pages"): the number is what is compared.
_UNIT = re.compile(r"\s+(bytes?|pages?|VMAs?|faults?|frames?|blocks?)$", re.IGNORECASE)

#: What a number may be named before it: "page 3", "file page 3", "pfn 0x8001".
_NAMED = re.compile(r"^(file\s+page|page|pfn|frame|block)\s+(?=\S)", re.IGNORECASE)

#: The signals the course's faults end in, written without their SIG ("segv" is SIGSEGV).
_BARE_SIGNALS = frozenset({"SEGV", "BUS"})

#: CSS for a quiz: long options wrap beside their own radio button instead of running over the
#: next one (JupyterLab gives each radio label one line of fixed height).
_QUIZ_CSS = """<style>
.mmlab-quiz .widget-radio-box label { height: auto !important; white-space: normal !important;
  display: flex !important; align-items: flex-start; line-height: 1.35 !important;
  margin: 0 0 0.4em 0; overflow: visible; }
.mmlab-quiz .widget-radio-box label input { order: -1; flex: none; float: none;
  height: auto !important; margin: 0.2em 0.6em 0 1px; }
.mmlab-quiz .widget-radio-box { overflow: visible; }
.mmlab-quiz .widget-radio { width: auto; max-width: 100%; }
</style>"""


def workshop_mode() -> bool:
    """Is this a workshop copy of the course (answers held by the instructor)?

    Model helper: no kernel counterpart.
    """
    if os.environ.get("MMLAB_WORKSHOP", "") not in ("", "0"):
        return True
    here = os.getcwd()
    return any(os.path.exists(os.path.join(d, WORKSHOP_MARKER))
               for d in (here, os.path.dirname(here)))


# --- values as a learner writes them -----------------------------------------------------------
def learner_value(value: object, *, hex_text: bool = False) -> object:
    """``value`` in a form that compares by meaning: ``"3"`` and ``"0x3"`` as the number 3,
    ``"None"``/``"NULL"`` as None, any sequence as a tuple, any set as a frozenset (recursively);
    a number's unit or name goes (``"3 pages"``, ``"file page 3"``), a signal may lack its SIG
    (``"segv"``).
    With ``hex_text`` (a quantity read in hex) digits without ``0x`` are hex too: ``"08001000"``
    as ``/proc/PID/maps`` prints an offset.

    Model helper: no kernel counterpart.
    """
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, str):
        text = value.strip()
        if text in ("None", "NULL", "null"):
            return None
        if text in ("True", "False"):
            return text == "True"
        if text.lower() in NUMBER_WORDS:
            return NUMBER_WORDS[text.lower()]
        errno_name = _ERRNO.fullmatch(text.upper())
        if errno_name and hasattr(errno, errno_name.group(2)):  # "-EINVAL" as the kernel says
            return -getattr(errno, errno_name.group(2))
        if _SIGNAL.fullmatch(text.upper()):  # "sigbus" is SIGBUS
            return text.upper()
        if text.upper() in _BARE_SIGNALS:
            return "SIG" + text.upper()
        digits = _NAMED.sub("", _UNIT.sub("", text)).replace("_", "")
        try:
            return int(digits, 16) if hex_text and _HEX_DIGITS.fullmatch(digits) else int(digits, 0)
        except ValueError:
            pass
        if "," in text or len(text.split()) > 1:  # "5, 0", "(5, 0)", "00 10 00 00": a tuple
            parts = text.strip("()[] ").split("," if "," in text else None)
            values = tuple(learner_value(p, hex_text=hex_text) for p in parts if p.strip())
            if values and all(not isinstance(v, str) for v in values):
                return values
        return text
    if isinstance(value, set | frozenset):
        return frozenset(learner_value(v, hex_text=hex_text) for v in value)
    if isinstance(value, bytes | bytearray):  # b"\x00\x10" is the list of its bytes
        return tuple(value)
    if isinstance(value, list | tuple | range):
        return tuple(learner_value(v, hex_text=hex_text) for v in value)
    try:
        return operator.index(value)  # type: ignore[arg-type]  # numpy ints and the like
    except TypeError:
        return value


def same_value(given: object, expected: object, *, unordered: bool = False,
               hex_text: bool = False) -> bool:
    """Does ``given`` mean ``expected``? A list for a tuple, ``"3"`` for 3, ``"0x1f"`` for 31,
    ``"yes"`` or 1 for True (but never True for 1);
    with ``unordered`` (or when ``expected`` is a set) a collection in any order; with
    ``hex_text`` bare hex digits in a string (see :func:`learner_value`).

    Model helper: no kernel counterpart.
    """
    got = learner_value(given, hex_text=hex_text)
    want = learner_value(expected, hex_text=hex_text)
    if isinstance(want, bool) and isinstance(got, str) and got.lower() in YES_NO:
        got = YES_NO[got.lower()]
    if isinstance(want, bool) and type(got) is int and got in (0, 1):  # C's truth: 0 and 1
        got = bool(got)
    if isinstance(want, str) and isinstance(got, str):  # a word answer: "Oops." is "oops"
        return _word(got) == _word(want)
    if isinstance(want, bool) != isinstance(got, bool) and want is not None and got is not None:
        return False
    if (unordered or isinstance(want, frozenset)) and isinstance(got, tuple | frozenset) \
            and isinstance(want, tuple | frozenset):
        if isinstance(want, frozenset) or isinstance(got, frozenset):
            return frozenset(got) == frozenset(want)
        return sorted(map(repr, got)) == sorted(map(repr, want))
    return got == want


def _word(text: str) -> str:
    return text.strip().rstrip(".!").casefold()


def _reads_in_hex(what: str) -> bool:
    """Does the name of a quantity say it is read in hex? (``remap_pfn_range's return`` does
    not: a word inside an identifier counts only as its suffix, like ``vm_pgoff``.)"""
    for word in re.findall(r"[A-Za-z_]+", what.lower()):
        if word in HEX_WORDS or word.endswith(HEX_SUFFIXES):
            return True
    return False


def show_value(value: object, *, hex_ints: bool | None = None) -> str:
    """A value as a learner reads it: ``NULL``-free Python, ints in hex where ``hex_ints``
    (by default: large ints, which are addresses), also inside lists, tuples and sets.

    Model helper: no kernel counterpart.
    """
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):  # a negative number is an error code: decimal, as -22
        as_hex = hex_ints if hex_ints is not None else value > 0xFFFF
        return hex(value) if as_hex and value >= 0 else repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(show_value(v, hex_ints=hex_ints) for v in value)
        if isinstance(value, tuple):
            return f"({inner}{',' if len(value) == 1 else ''})"
        return f"[{inner}]"
    if isinstance(value, set | frozenset):
        if not value:
            return "set()"
        try:
            items = sorted(value)
        except TypeError:
            items = sorted(value, key=repr)
        return "{" + ", ".join(show_value(v, hex_ints=hex_ints) for v in items) + "}"
    return repr(value)


# --- multiple choice -----------------------------------------------------------------------------
@dataclass(frozen=True)
class QuizData:
    """One question of the bank: its name, text, options, the right option and why.

    Model helper: no kernel counterpart.
    """

    name: str
    question: str
    options: tuple[str, ...]
    answer: int
    why: str
    hints: Mapping[int, str]


def _bank_files() -> list[tuple[str, str]]:
    folder = resources.files("mmlab.viz") / "quizzes"
    return sorted((entry.name.removesuffix(".toml"), entry.read_text(encoding="utf-8"))
                  for entry in folder.iterdir() if entry.name.endswith(".toml"))


@functools.cache
def quiz_bank() -> Mapping[str, QuizData]:
    """Every question of the course by name (``"ch01/vma-pages"``: file ``ch01.toml``,
    table ``[vma-pages]``), read once from the package's ``quizzes/`` folder.

    Model helper: no kernel counterpart.
    """
    bank: dict[str, QuizData] = {}
    for chapter, text in _bank_files():
        for key, entry in tomllib.loads(text).items():
            name = f"{chapter}/{key}"
            options = tuple(entry["options"])
            answer = int(entry["answer"])
            if not 0 <= answer < len(options):
                raise ValueError(f"quiz {name}: answer {answer} is not an option's index")
            hints = {int(k): str(v) for k, v in entry.get("hints", {}).items()}
            bank[name] = QuizData(name, entry["question"], options, answer, entry["why"],
                                  MappingProxyType(hints))
    return MappingProxyType(bank)


class Quiz:
    """One multiple-choice question with feedback.

    ``answer`` is the index of the right option; ``why`` explains it (shown after a right
    answer, or on request); ``hints`` optionally maps a wrong option's index to a hint shown
    when it is checked. The course's quizzes come from the bank by name
    (:meth:`named`), so that no notebook holds an answer. :meth:`choose` and :meth:`check` let
    tests (and keyboards) drive it.

    Model helper: no kernel counterpart.
    """

    def __init__(self, question: str, options: Sequence[str], answer: int, why: str,
                 hints: Mapping[int, str] | None = None) -> None:
        if not 0 <= answer < len(options):
            raise ValueError("answer must index an option")
        self.question, self.options, self.answer, self.why = question, list(options), answer, why
        self.hints = dict(hints or {})
        self.choice = widgets.RadioButtons(options=self.options, value=None,
                                           layout=widgets.Layout(width="auto"))
        self.check_button = widgets.Button(description="Check", button_style="primary")
        self.show_button = widgets.Button(description="Show the answer")
        self.feedback = widgets.HTML("")
        self.check_button.on_click(lambda _b: self.check())
        self.show_button.on_click(lambda _b: self.show())
        # a verdict belongs to the option it judged: another choice clears it
        self.choice.observe(lambda _change: setattr(self.feedback, "value", ""), names="value")

    @classmethod
    def named(cls, name: str) -> Quiz:
        """The question ``name`` of the course's bank (``"ch01/vma-pages"``).

        Model helper: no kernel counterpart.
        """
        bank = quiz_bank()
        if name not in bank:
            chapter = name.split("/")[0]
            near = [n for n in bank if n.startswith(chapter + "/")] or sorted(bank)[:8]
            raise KeyError(f"no quiz named {name!r}; there are: {', '.join(near)}")
        data = bank[name]
        return cls(data.question, data.options, data.answer, data.why, data.hints)

    def choose(self, index: int) -> None:
        """Select option ``index`` (as a click would)."""
        self.choice.value = self.options[index]

    def check(self) -> bool | None:
        """Say whether the selected option is right (and why); ``None`` if nothing is selected."""
        if self.choice.value is None:
            self.feedback.value = "<i>Pick an option first.</i>"
            return None
        index = self.options.index(self.choice.value)
        picked = f"<i>{html.escape(self.options[index])}</i>"
        if index == self.answer:
            self.feedback.value = (f"<b style='color:#1b7837'>Right:</b> {picked}. "
                                   f"{html.escape(self.why)}")
            return True
        hint = self.hints.get(index, "Look again at what the chapter showed.")
        self.feedback.value = (f"<b style='color:#b2182b'>Not quite:</b> {picked}. "
                               f"{html.escape(hint)}")
        return False

    def show(self) -> None:
        """Reveal the right option and why."""
        self.feedback.value = (f"<b>Answer:</b> {html.escape(self.options[self.answer])}<br>"
                               f"{html.escape(self.why)}")

    def widget(self) -> widgets.VBox:
        """The question, its options, the buttons and the feedback line (no "Show the answer"
        in a workshop copy)."""
        buttons = [self.check_button] if workshop_mode() else [self.check_button,
                                                                self.show_button]
        box = widgets.VBox([widgets.HTML(_QUIZ_CSS + f"<b>{html.escape(self.question)}</b>"),
                            self.choice, widgets.HBox(buttons), self.feedback],
                           layout=widgets.Layout(max_width="100%"))
        box.add_class("mmlab-quiz")
        return box

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle["text/plain"] = "\n".join(
            [self.question, *(f"  {chr(97 + i)}) {o}" for i, o in enumerate(self.options))])
        return bundle


def _differs_at(got: object, expected: object) -> str:
    """`` (they differ at position 3)`` for two sequences of one length, else nothing."""
    mine, want = learner_value(got), learner_value(expected)
    if not (isinstance(mine, tuple) and isinstance(want, tuple) and len(mine) == len(want)
            and len(want) > 1):
        return ""
    where = [i for i, (a, b) in enumerate(zip(mine, want, strict=True)) if a != b]
    if not where or len(where) == len(want):
        return ""

    def both(v: object) -> str:  # a number in both bases, so either reading finds it
        return f"{v} ({v:#x})" if isinstance(v, int) and not isinstance(v, bool) and v > 9 \
            else show_value(v)

    parts = [f"the {_ordinal(i + 1)} value: {both(mine[i])} against {both(want[i])}"
             for i in where]
    return " (" + "; ".join(parts) + ")"


def _ordinal(n: int) -> str:
    return f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"


def _parameter_names(fn: Callable[..., object]) -> list[str]:
    """The names of ``fn``'s positional parameters, to label a call of many arguments
    (``f(writable=False, pgoff=4, ...)`` reads better than seven bare values)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def _has_big_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value > 0xFFFF
    if isinstance(value, list | tuple | set | frozenset):
        return any(_has_big_int(v) for v in value)
    return False


#: The width a check's or a guess's report is wrapped to: JupyterLab breaks a longer output line
#: wherever the panel ends, in the middle of a word ("SIG" / "BUS") at 1280 px with the file
#: browser open.
OUTPUT_WIDTH = 88


def wrap_output(text: str, width: int = OUTPUT_WIDTH) -> str:
    """``text`` with each line longer than ``width`` wrapped between words (never inside one,
    never at a hyphen: ``__split_vma`` and ``-EINVAL`` stay whole), the following lines
    indented two spaces more than the first.

    Model helper: no kernel counterpart.
    """
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        indent = line[:len(line) - len(line.lstrip())]
        out.append(textwrap.fill(line.strip(), width, initial_indent=indent,
                                 subsequent_indent=indent + "  ", break_long_words=False,
                                 break_on_hyphens=False))
    return "\n".join(out)


# --- function checks -----------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckResult:
    """What :func:`check_function` found: passes out of total, and the first failure.

    Model helper: no kernel counterpart.
    """

    passed: int
    total: int
    first_failure: str | None = None
    not_done: bool = False

    @property
    def ok(self) -> bool:
        """Every case passed."""
        return not self.not_done and self.passed == self.total

    def __str__(self) -> str:
        if self.not_done:
            return "Not done yet: write the function above, then run this cell again."
        line = f"{self.passed}/{self.total} cases pass."
        if self.ok:
            return line + " Well done."
        return wrap_output(f"{line} First failure: {self.first_failure}")

    def _repr_pretty_(self, printer: object, cycle: bool) -> None:
        printer.text(str(self))  # type: ignore[attr-defined]


def check_function(fn: Callable[..., object], cases: Sequence[tuple[tuple, object]],
                   *, name: str | None = None, unordered: bool = False,
                   hex_ints: bool | None = None,
                   same: Callable[[object, object], bool] | None = None,
                   explain: Callable[[tuple, object], str] | None = None) -> CheckResult:
    """Run ``fn(*args)`` for each ``(args, expected)`` case and count the passes.

    Results compare by value (:func:`same_value`: a list for a tuple, ``"3"`` for 3); with
    ``unordered`` a collection in any order; ``same`` replaces the comparison altogether. The
    report names the first failing call, what it returned (or raised) and what was expected,
    in hex where ``hex_ints`` says; by default an argument (or the result) is in hex in every
    case when it holds an address-sized number in any case, so a column reads in one base.
    ``explain(args, got)``, where given, adds a sentence to the first failure when ``fn``
    returned a wrong value there (not when it raised): what the lab can say about that case.

    Model helper: no kernel counterpart.
    """
    label = name or getattr(fn, "__name__", "f")
    equal = same or (lambda got, want: same_value(got, want, unordered=unordered))
    # one base per argument and per result across all cases: a column that holds an address
    # anywhere is in hex everywhere, a column of counts stays decimal
    arg_hex = [hex_ints if hex_ints is not None else
               any(_has_big_int(c[0][i]) for c in cases if i < len(c[0])) or None
               for i in range(max((len(a) for a, _ in cases), default=0))]
    out_hex = hex_ints if hex_ints is not None else (
        any(_has_big_int(expected) for _, expected in cases) or None)
    names = _parameter_names(fn) if len(arg_hex) > 2 else []
    passed = 0
    first: str | None = None
    for args, expected in cases:
        shown = (f"{names[i]}={v}" if i < len(names) else v
                 for i, v in enumerate(show_value(a, hex_ints=arg_hex[i])
                                       for i, a in enumerate(args)))
        call = f"{label}({', '.join(shown)})"
        want = show_value(expected, hex_ints=out_hex)
        try:
            got = fn(*args)
        except NotImplementedError:
            return CheckResult(0, len(cases), None, not_done=True)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            first = first or f"{call} raised {type(exc).__name__}: {exc}; expected {want}"
            continue
        if got is Ellipsis:
            return CheckResult(0, len(cases), None, not_done=True)
        if equal(got, expected):
            passed += 1
        elif first is None:
            first = (f"{call} returned {show_value(got, hex_ints=out_hex)}; expected {want}"
                     + _differs_at(got, expected))
            if explain is not None:
                first += f". {explain(args, got)}"
    return CheckResult(passed, len(cases), first)


# --- drills --------------------------------------------------------------------------------------
class Drill:
    """A seeded exercise: ``problem()``, ``check(answer)``, ``answer()`` on request.

    Subclasses implement :meth:`make` (draw a problem and its answer from ``self.rng``) and may
    override :meth:`same` (how an answer is compared; by default :func:`same_value`). The seed
    makes the problem the same for everybody in a workshop; ``next()`` draws the next problem
    of the same seed.

    Model helper: no kernel counterpart.
    """

    def __init__(self, seed: int = 2017) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.number = 0
        self._problem, self._answer = self.make()

    def make(self) -> tuple[str, object]:
        """A new ``(problem text, answer)``."""
        raise NotImplementedError

    def same(self, given: object, answer: object) -> bool:
        """Does ``given`` count as ``answer``? (A list for a tuple, ``"0x10"`` for 16.)"""
        return same_value(given, answer)

    def problem(self) -> str:
        """The current problem, with its seed and number so everyone can compare."""
        return f"[seed {self.seed}, problem {self.number + 1}] {self._problem}"

    def check(self, given: object) -> bool:
        """Is ``given`` the answer to the current problem?"""
        return self.same(given, self._answer)

    def answer(self) -> object:
        """The answer to the current problem (only when asked)."""
        return self._answer

    def next(self) -> str:
        """Draw the next problem; returns its text."""
        self.number += 1
        self._problem, self._answer = self.make()
        return self.problem()


# --- predict, then run ---------------------------------------------------------------------------
def _guess_readings(guess: object, actual: object, what: str, hex_text: bool,
                    read_as: Callable[[object], object] | None) -> tuple[list[object], str]:
    """The values a guess may mean, and what to say it was read as ("" when it reads as
    written): ``read_as``'s value; under ``hex_text`` the two readings of bare digits, hex and
    decimal (only hex in a column printed in bare hex, :data:`BARE_HEX_WORDS`)."""
    if read_as is not None:
        meant = read_as(guess)
        same = (isinstance(meant, str) and isinstance(guess, str) and _word(meant) == _word(guess)
                or meant is guess)
        return [meant], "" if same else f"read as {show_value(meant)}"
    digits = guess.strip().replace("_", "") if isinstance(guess, str) else ""
    if not (hex_text and _DECIMAL_DIGITS.fullmatch(digits) and isinstance(actual, int)
            and not isinstance(actual, bool)):
        return [guess], ""
    as_hex, as_dec = int(digits, 16), int(digits, 10)
    if as_hex == as_dec:
        return [guess], ""
    if set(re.findall(r"[a-z]+", what.lower())) & BARE_HEX_WORDS:
        return [as_hex], f"read as {as_hex:#x}"
    if as_hex == actual or as_dec != actual:
        return [as_hex, as_dec], (f"read as {as_hex:#x}" if as_hex == actual else
                                  f"read as {as_hex:#x}, or as decimal {as_dec} = {as_dec:#x}")
    return [as_dec], f"read as {as_dec} = {as_dec:#x}"


def compare_guess(guess: object, actual: object, what: str = "the result", *,
                  unordered: bool = False, hex_ints: bool | None = None,
                  show: Callable[[object], str] | None = None, verb: str = "is",
                  read_as: Callable[[object], object] | None = None) -> str:
    """The "predict, then run" line: the learner's guess next to what the model did.

    A guess counts when it means the same (:func:`same_value`: ``"3"``, ``"three"`` or
    ``"3 pages"`` for 3, hex for a number, ``"-EINVAL"`` for -22, a list for a tuple; any order
    with ``unordered`` or when ``actual`` is a set). ``...`` (the guess cell's placeholder)
    means no guess yet; ``None`` is a guess (NULL). Numbers print in hex where the quantity is
    read in hex (``what`` names an address, a pfn, an offset, flags...; or the learner wrote
    hex), else as ``hex_ints`` says; a True/False answer is never shown in hex. ``show``
    formats the result as the chapter prints it (e.g. eight hex digits for a maps offset);
    ``verb`` is ``"are"`` for a plural ``what``. The guess is echoed as the learner wrote it:
    a text as typed, an int with its hex beside it where the quantity is read in hex
    (``10000 (= 0x2710)``). Bare digits (``"10000"``) where the quantity is read in hex count
    if either reading, hex or decimal, is right, and the echo says which was read
    (``'10000' (read as 0x10000)``); in a column printed in bare hex (a maps offset column,
    :data:`BARE_HEX_WORDS`) they are hex only. ``read_as`` turns the guess into the words
    ``actual`` is in before comparing (a lab's 2017 name into 6.12's), and the echo gives what
    it was read as beside the learner's words. Where the notebook runs for the course site
    (``MMLAB_SITE=1``, set by ``docs/conf.py``) a missing guess gives the result alone: a
    reader of the site has no cell to write a guess in. In a workshop copy
    (:func:`workshop_mode`) it is said without reproach ("No guess written; ..."): a room runs
    the cells of a section the instructor summarises without writing guesses.

    Model helper: no kernel counterpart.
    """
    if isinstance(actual, bool):
        hex_ints = False
    if hex_ints is None and (_reads_in_hex(what) or
                             (isinstance(guess, str) and guess.strip().lower().startswith("0x"))):
        hex_ints = True
    shown = show(actual) if show is not None else show_value(actual, hex_ints=hex_ints)
    if guess is Ellipsis and os.environ.get("MMLAB_SITE", "") not in ("", "0"):
        return wrap_output(f"Result: {what} {verb} {shown}.")
    if guess is Ellipsis and workshop_mode():
        return wrap_output(f"No guess written; {what} {verb} {shown}.")
    if guess is Ellipsis:
        return wrap_output(f"You did not write a guess; {what} {verb} {shown}. "
                           "Next time, guess first: it is how the idea sticks.")
    hex_text = bool(hex_ints)
    # the guess as the learner wrote it: a text is echoed as typed ("EROFS", "0x10"), an int
    # as Python holds it, with its hex where the quantity is read in hex; then what it was read
    # as, where that differs
    if isinstance(guess, str):
        mine = repr(guess.strip())
    elif hex_ints and isinstance(guess, int) and not isinstance(guess, bool) and guess >= 10:
        mine = f"{guess} (= {guess:#x})"
    else:
        mine = show_value(guess, hex_ints=hex_ints)
    readings, read = _guess_readings(guess, actual, what, hex_text, read_as)
    if read:
        mine += f" ({read})"
    if any(same_value(r, actual, unordered=unordered, hex_text=hex_text) for r in readings):
        return wrap_output(f"Your guess {mine} is right: {what} {verb} {shown}.")
    return wrap_output(f"You guessed {mine}; {what} {verb} {shown}. "
                       "Find where your reasoning parted.")
