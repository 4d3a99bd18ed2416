"""Every link of the course's reading stays inside ``notebooks/`` and lands on a file.

``make lab`` opens JupyterLab on the learner's copy of ``notebooks/`` (``my-notebooks/``, made
by :mod:`mmlab.workcopy`): nothing outside that folder can be opened from it, so a chapter's
link to ``../docs/...`` or ``../data/...`` is dead for a learner. Each markdown link of a
notebook (``notebooks/**/*.ipynb``) or of a page next to them (``notebooks/**/*.md``) that is
not a web address or an anchor on its own page must point inside ``notebooks/``, at a file
that exists, unless :data:`ALLOWED` names it with a reason.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"

#: A markdown link's target: ``[text](target)`` or ``[text](target "title")``.
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")

#: (file relative to notebooks/, target) -> why it may point outside notebooks/. None today:
#: a file outside the learner's copy is named in words ("docs/instructor-guide.md in the
#: course's repository"), not linked.
ALLOWED: dict[tuple[str, str], str] = {}


def reading() -> list[Path]:
    return sorted(p for p in NOTEBOOKS.rglob("*") if p.suffix in (".ipynb", ".md")
                  and ".ipynb_checkpoints" not in p.parts)


def markdown_of(path: Path) -> list[str]:
    if path.suffix == ".md":
        return [path.read_text()]
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"]
            if c["cell_type"] == "markdown"]


def bad_links(path: Path, texts: list[str]) -> list[str]:
    """The links of ``texts`` (the markdown of ``path``) that leave notebooks/ or land on no
    file, as ``"target (why)"``."""
    out = []
    for text in texts:
        for target in LINK.findall(text):
            if re.match(r"[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a web address, a mail address, an anchor of this page
            where = (path.parent / target.split("#")[0]).resolve()
            rel = str(path.relative_to(NOTEBOOKS))
            if (rel, target) in ALLOWED:
                continue
            if NOTEBOOKS.resolve() not in where.parents:
                out.append(f"{target} (outside notebooks/: dead in the learner's copy)")
            elif not where.exists():
                out.append(f"{target} (no such file)")
    return out


@pytest.mark.parametrize("path", reading(), ids=lambda p: str(p.relative_to(NOTEBOOKS)))
def test_links_stay_inside_the_learners_copy(path):
    bad = bad_links(path, markdown_of(path))
    assert not bad, f"{path.relative_to(NOTEBOOKS)}: " + "; ".join(bad)


def test_the_check_finds_a_link_out_and_a_missing_file():
    page = NOTEBOOKS / "08-what-upstream-merged.ipynb"
    texts = ["see [the guide](../docs/instructor-guide.md), [sources](review-sources.md#v1), "
             "[gone](nothing-here.md), [web](https://elixir.bootlin.com/x) and [here](#top)"]
    assert bad_links(page, texts) == [
        "../docs/instructor-guide.md (outside notebooks/: dead in the learner's copy)",
        "nothing-here.md (no such file)"]


def test_every_allowed_link_says_why_and_still_exists():
    for (rel, target), why in ALLOWED.items():
        assert why.strip(), (rel, target)
        assert target in "".join(markdown_of(NOTEBOOKS / rel)), f"{rel}: {target} is gone"
