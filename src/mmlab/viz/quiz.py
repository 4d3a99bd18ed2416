"""Self-checks that give feedback and never spoil: choices, function checks, seeded drills.

* :class:`Quiz`: a multiple-choice question. "Check" says right or wrong (with a hint when
  wrong); the answer and its explanation appear only after "Show the answer" is pressed, so
  running every cell of a notebook reveals nothing.
* :func:`check_function`: runs a learner's function on cases and reports how many pass, and the
  first input that fails with what came back (not the expected value). A function that is not
  written yet (``...`` body, ``NotImplementedError``) gets "not done yet", nothing more.
* :class:`Drill`: a seeded exercise generator (same seed, same problem for everybody): a
  problem, an answer checker, and the answer on request.
* :func:`compare_guess`: the "predict, then run" comparison.

In a workshop copy of the course (``make workshop``: a file named :data:`WORKSHOP_MARKER` sits
in the notebooks' folder, or the environment sets ``MMLAB_WORKSHOP=1``) a :class:`Quiz` has no
"Show the answer" button: the instructor holds the answers.

Model helper: no kernel counterpart.
"""

from __future__ import annotations

import html
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import ipywidgets as widgets

__all__ = ["WORKSHOP_MARKER", "CheckResult", "Drill", "Quiz", "check_function", "compare_guess",
           "workshop_mode"]

#: The file whose presence in the notebook's folder (or the one above) marks a workshop copy.
WORKSHOP_MARKER = ".mmlab-workshop"


def workshop_mode() -> bool:
    """Is this a workshop copy of the course (answers held by the instructor)?

    Model helper: no kernel counterpart.
    """
    if os.environ.get("MMLAB_WORKSHOP", "") not in ("", "0"):
        return True
    here = os.getcwd()
    return any(os.path.exists(os.path.join(d, WORKSHOP_MARKER))
               for d in (here, os.path.dirname(here)))


class Quiz:
    """One multiple-choice question with feedback.

    ``answer`` is the index of the right option; ``why`` explains it (shown on request);
    ``hints`` optionally maps a wrong option's index to a hint shown when it is checked.
    :meth:`choose` and :meth:`check` let tests (and keyboards) drive it.

    Model helper: no kernel counterpart.
    """

    def __init__(self, question: str, options: Sequence[str], answer: int, why: str,
                 hints: dict[int, str] | None = None) -> None:
        if not 0 <= answer < len(options):
            raise ValueError("answer must index an option")
        self.question, self.options, self.answer, self.why = question, list(options), answer, why
        self.hints = hints or {}
        self.choice = widgets.RadioButtons(options=self.options, value=None,
                                           layout=widgets.Layout(width="auto"))
        self.check_button = widgets.Button(description="Check", button_style="primary")
        self.show_button = widgets.Button(description="Show the answer")
        self.feedback = widgets.HTML("")
        self.check_button.on_click(lambda _b: self.check())
        self.show_button.on_click(lambda _b: self.show())

    def choose(self, index: int) -> None:
        """Select option ``index`` (as a click would)."""
        self.choice.value = self.options[index]

    def check(self) -> bool | None:
        """Say whether the selected option is right; ``None`` if nothing is selected."""
        if self.choice.value is None:
            self.feedback.value = "<i>Pick an option first.</i>"
            return None
        index = self.options.index(self.choice.value)
        if index == self.answer:
            self.feedback.value = "<b style='color:#2a7a2a'>Right.</b>"
            return True
        hint = self.hints.get(index, "Look again at what the chapter showed.")
        self.feedback.value = (f"<b style='color:#b03030'>Not quite.</b> "
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
        return widgets.VBox([widgets.HTML(f"<b>{html.escape(self.question)}</b>"), self.choice,
                             widgets.HBox(buttons), self.feedback])

    def _repr_mimebundle_(self, include: object = None, exclude: object = None) -> dict:
        bundle = dict(self.widget()._repr_mimebundle_())
        bundle["text/plain"] = "\n".join(
            [self.question, *(f"  {chr(97 + i)}) {o}" for i, o in enumerate(self.options))])
        return bundle


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
        return f"{line} First failure: {self.first_failure}"


def check_function(fn: Callable[..., object], cases: Sequence[tuple[tuple, object]],
                   *, name: str | None = None) -> CheckResult:
    """Run ``fn(*args)`` for each ``(args, expected)`` case and count the passes.

    The report names the first failing call and what it returned (or raised), never the
    expected value, so the check helps without giving the answer away.

    Model helper: no kernel counterpart.
    """
    label = name or getattr(fn, "__name__", "f")
    passed = 0
    first: str | None = None
    for args, expected in cases:
        call = f"{label}({', '.join(_show(a) for a in args)})"
        try:
            got = fn(*args)
        except NotImplementedError:
            return CheckResult(0, len(cases), None, not_done=True)
        except Exception as exc:  # noqa: BLE001 - a learner's bug is feedback, not a crash
            first = first or f"{call} raised {type(exc).__name__}: {exc}"
            continue
        if got is Ellipsis:
            return CheckResult(0, len(cases), None, not_done=True)
        if got == expected:
            passed += 1
        elif first is None:
            first = f"{call} returned {_show(got)}"
    return CheckResult(passed, len(cases), first)


def _show(value: object) -> str:
    """A value as a learner reads it: addresses (large ints) in hex, also inside lists."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int):
        return hex(value) if value > 4096 else repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(_show(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner}{',' if len(value) == 1 else ''})"
        return f"[{inner}]"
    return repr(value)


class Drill:
    """A seeded exercise: ``problem()``, ``check(answer)``, ``answer()`` on request.

    Subclasses implement :meth:`make` (draw a problem and its answer from ``self.rng``) and may
    override :meth:`same` (how an answer is compared). The seed makes the problem the same for
    everybody in a workshop; ``next()`` draws the next problem of the same seed.

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
        """Does ``given`` count as ``answer``?"""
        return given == answer

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


def compare_guess(guess: object, actual: object, what: str = "the result") -> str:
    """The "predict, then run" line: the learner's guess next to what the model did.

    Model helper: no kernel counterpart.
    """
    if guess is None or guess is Ellipsis:
        return (f"You did not write a guess; {what} is {actual!r}. "
                "Next time, guess first: it is how the idea sticks.")
    if guess == actual:
        return f"Your guess {guess!r} is right: {what} is {actual!r}."
    return f"You guessed {guess!r}; {what} is {actual!r}. Find where your reasoning parted."
