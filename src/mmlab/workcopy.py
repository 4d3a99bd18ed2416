"""A learner's own copy of the course, which ``git pull`` never touches.

``make lab`` runs ``python -m mmlab.workcopy sync``: it copies the course's notebooks
(``notebooks/``, the labs and their README) into ``my-notebooks/`` (git-ignored) and opens
JupyterLab there. JupyterLab saves a learner's answers every two minutes; in the copy they stay
the learner's, and the tracked notebooks stay as the course ships them, so the next
``git pull`` never conflicts. A later ``sync`` copies only what the copy lacks (a chapter added
upstream); it never overwrites a learner's file.

``make reset CHAPTER=04`` (``python -m mmlab.workcopy reset 04``) puts notebook 04 back as the
course ships it; the learner's version is kept in ``my-notebooks/.old/`` first. ``labs/05``
names lab 05.

Model helper: no kernel counterpart (course tooling).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

__all__ = ["course_files", "main", "reset", "sync"]

#: Where a reset keeps the learner's previous version of a notebook, inside the copy.
OLD = ".old"


def course_files(src: Path) -> list[Path]:
    """The files of the course under ``src`` that a learner works in or reads (notebooks and
    the labs' README), relative to ``src``; no checkpoints.

    Model helper: no kernel counterpart.
    """
    found = [p.relative_to(src) for p in src.rglob("*")
             if p.is_file() and p.suffix in (".ipynb", ".md")
             and ".ipynb_checkpoints" not in p.parts]
    return sorted(found)


def sync(src: Path | str, dst: Path | str) -> list[Path]:
    """Copy into ``dst`` each course file of ``src`` that ``dst`` does not have yet.

    Returns the files copied (relative paths). A file the learner already has is left alone,
    changed or not.

    Model helper: no kernel counterpart.
    """
    src, dst = Path(src), Path(dst)
    if not src.is_dir():
        raise FileNotFoundError(f"no course notebooks at {src}")
    copied = []
    for rel in course_files(src):
        target = dst / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src / rel, target)
            copied.append(rel)
    return copied


def _matching(src: Path, chapter: str) -> list[Path]:
    """The notebooks that ``chapter`` names: ``04`` is chapter 04, ``labs/05`` lab 05, and
    ``labs/solutions/05`` its solution; a full file name works too."""
    wanted = chapter.strip().removesuffix(".ipynb").strip("/")
    folder, _, stem = wanted.rpartition("/")
    return [rel for rel in course_files(src)
            if rel.suffix == ".ipynb" and str(rel.parent) == (folder or ".")
            and (rel.stem == stem or rel.stem.split("-", 1)[0] == stem)]


def reset(src: Path | str, dst: Path | str, chapter: str) -> list[Path]:
    """Put ``chapter`` back in ``dst`` as ``src`` ships it; the learner's version is moved to
    ``dst/.old/<name>-<time>.ipynb`` first. Returns the notebooks restored.

    Model helper: no kernel counterpart.
    """
    src, dst = Path(src), Path(dst)
    matches = _matching(src, chapter)
    if not matches:
        names = ", ".join(str(r.with_suffix("")) for r in course_files(src) if r.suffix == ".ipynb")
        raise ValueError(f"no chapter {chapter!r}; say 00 to 08, labs/01 to labs/06, or one of: "
                         f"{names}")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for rel in matches:
        target = dst / rel
        if target.exists():
            kept = dst / OLD / rel.parent / f"{rel.stem}-{stamp}{rel.suffix}"
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(target, kept)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, target)
    return matches


def main(argv: list[str] | None = None) -> int:
    """``python -m mmlab.workcopy sync|reset [CHAPTER] [--src notebooks] [--dst my-notebooks]``.

    Model helper: no kernel counterpart.
    """
    parser = argparse.ArgumentParser(prog="python -m mmlab.workcopy",
                                     description="Your own copy of the course's notebooks.")
    parser.add_argument("action", choices=("sync", "reset"))
    parser.add_argument("chapter", nargs="?", help="for reset: 04, labs/05, ...")
    parser.add_argument("--src", default="notebooks")
    parser.add_argument("--dst", default="my-notebooks")
    args = parser.parse_args(argv)
    try:
        if args.action == "sync":
            copied = sync(args.src, args.dst)
            if copied:
                print(f"copied {len(copied)} course files into {args.dst}/ (your working copy; "
                      "git ignores it)")
            return 0
        if not args.chapter:
            parser.error("say which chapter to reset, e.g. CHAPTER=04 or CHAPTER=labs/05")
        restored = reset(args.src, args.dst, args.chapter)
    except (OSError, ValueError) as err:
        print(f"mmlab.workcopy: {err}", file=sys.stderr)
        return 2
    for rel in restored:
        print(f"{args.dst}/{rel} is as the course ships it again "
              f"(your version is in {args.dst}/{OLD}/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
