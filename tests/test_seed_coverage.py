"""docs/seed-coverage.md maps every line the 2017 patch adds to the model and to a notebook."""

import importlib
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "seed" / "cramfs-xip-vmasplit-2017-08-16.txt"
TABLE = ROOT / "docs" / "seed-coverage.md"


def added_lines() -> list[str]:
    """The lines the patch's diff adds (the mail's own diff, not the one it quotes)."""
    lines = SEED.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("diff --git"))
    return [line[1:] for line in lines[start:]
            if line.startswith("+") and not line.startswith("+++")]


def rows() -> list[list[str]]:
    out = []
    for line in TABLE.read_text().splitlines():
        if re.match(r"\| \d+ \|", line):
            cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
            out.append(cells)
    return out


def test_every_added_line_is_in_the_table_in_order():
    wanted = [" ".join(line.split()) for line in added_lines() if line.strip()]
    got = [" ".join(r[1].strip("`").replace("\\|", "|").split()) for r in rows()]
    assert got == wanted
    assert len(wanted) == 95


def test_every_model_name_exists():
    for r in rows():
        module, _, name = r[2].strip("`").rpartition(".")
        assert hasattr(importlib.import_module(module), name), r[2]


def test_every_section_is_in_its_notebook():
    headings: dict[str, set[str]] = {}
    for r in rows():
        title, path = re.fullmatch(r"\[\d\d · (.+)\]\(\.\./notebooks/(.+)\)", r[3]).groups()
        if path not in headings:
            nb = nbformat.read(ROOT / "notebooks" / path, as_version=4)
            headings[path] = {line.lstrip("#").strip() for c in nb.cells
                              if c.cell_type == "markdown"
                              for line in c.source.splitlines() if line.startswith("#")}
        assert title in headings[path], f"{path} has no section {title!r}"
