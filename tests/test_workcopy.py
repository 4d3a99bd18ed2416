"""make lab works in a git-ignored copy of the notebooks; make reset puts a chapter back."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mmlab.workcopy import main, reset, sync

ROOT = Path(__file__).resolve().parent.parent


def test_sync_copies_the_course_once_and_never_overwrites_the_learner(tmp_path):
    dst = tmp_path / "my-notebooks"
    copied = sync(ROOT / "notebooks", dst)
    names = {str(p) for p in copied}
    assert {"00-welcome.ipynb", "labs/05-xip-layout.ipynb", "labs/README.md"} <= names
    assert (dst / "labs" / "solutions" / "05-xip-layout.ipynb").exists()
    mine = dst / "04-page-cache.ipynb"
    mine.write_text("my answers")
    (dst / "01-address-spaces.ipynb").unlink()
    assert [str(p) for p in sync(ROOT / "notebooks", dst)] == ["01-address-spaces.ipynb"]
    assert mine.read_text() == "my answers"


def test_reset_puts_a_chapter_back_and_keeps_the_learners_version(tmp_path):
    dst = tmp_path / "my-notebooks"
    sync(ROOT / "notebooks", dst)
    (dst / "04-page-cache.ipynb").write_text("my answers")
    (dst / "labs" / "05-xip-layout.ipynb").write_text("my lab")
    assert [str(p) for p in reset(ROOT / "notebooks", dst, "04")] == ["04-page-cache.ipynb"]
    assert (dst / "04-page-cache.ipynb").read_bytes() == \
        (ROOT / "notebooks" / "04-page-cache.ipynb").read_bytes()
    (kept,) = (dst / ".old").glob("04-page-cache-*.ipynb")
    assert kept.read_text() == "my answers"
    assert [str(p) for p in reset(ROOT / "notebooks", dst, "labs/05")] == \
        ["labs/05-xip-layout.ipynb"]
    assert (dst / "labs" / "05-xip-layout.ipynb").read_text() != "my lab"


def test_reset_of_an_unknown_chapter_says_what_exists(tmp_path, capsys):
    with pytest.raises(ValueError, match="say 00 to 08, labs/01 to labs/06"):
        reset(ROOT / "notebooks", tmp_path, "42")
    assert main(["reset", "42", "--src", str(ROOT / "notebooks"), "--dst", str(tmp_path)]) == 2
    assert "no chapter '42'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                    reason="needs the git checkout")
def test_the_working_copy_is_ignored_by_git():
    probe = "my-notebooks/04-page-cache.ipynb"
    result = subprocess.run(["git", "check-ignore", "-q", probe], cwd=ROOT)
    assert result.returncode == 0, f"{probe} is not git-ignored"


def test_make_lab_installs_the_course_without_the_dev_extras():
    """The lab target depends on the course's install (``pip install -e .``) only; the dev
    extras (pytest, playwright, sphinx, ...) come with the test target."""
    makefile = (ROOT / "Makefile").read_text()
    lab_rules = makefile.split("\nlab:", 1)[1].split("\n\n", 1)[0]
    assert "$(LAB_STAMP)" in lab_rules.splitlines()[0] and "$(STAMP)" not in lab_rules
    install = makefile.split("\n$(LAB_STAMP):", 1)[1].split("\n\n", 1)[0]
    assert "pip install -q -e ." in install and "[dev]" not in install
    assert "mmlab.workcopy sync" in lab_rules and "cd $(WORK)" in lab_rules
