"""Every widget or check cell runs after a kernel restart: it imports what it uses itself.

A learner who restarts the kernel midway re-runs the cells that compute things, but a widget
or check cell whose import sat seven cells up would fail with a NameError. So each cell that
shows a widget or runs a check imports every imported name it uses. Each chapter also says,
near the top, what to do when a widget shows a broken link.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").rglob("*.ipynb"))

#: What makes a cell a widget or check cell.
MARKERS = re.compile(r"Explorer\(|Glance\(|Stepper\(|StripView\(|Quiz\.named|check_function|"
                     r"comparison\(|replay\(|trace\.record|"
                     r"compare_guess|\.check\(|Drill\(")


def imported(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom | ast.Import):
            names |= {a.asname or a.name.split(".")[0] for a in node.names}
    return names


def defined(tree: ast.Module) -> set[str]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            out.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            out.add(node.name)
    return out


def used(tree: ast.Module) -> set[str]:
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_widget_and_check_cells_import_what_they_use(path):
    cells = json.loads(path.read_text())["cells"]
    earlier: set[str] = set()
    missing = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        tree = ast.parse(source)
        if MARKERS.search(source):
            lacking = (used(tree) - imported(tree) - defined(tree)) & earlier
            if lacking:
                missing.append(f"cell {index}: {sorted(lacking)}")
        earlier |= imported(tree)
    assert not missing, "imports to add: " + "; ".join(missing)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_each_notebook_says_near_the_top_what_to_do_with_a_broken_widget(path):
    first = "".join(json.loads(path.read_text())["cells"][0]["source"])
    assert "broken-image icon" in first and "NameError" in first
    assert "chain-link icon" in first  # what a widget shows once its kernel is gone
    assert "Run All Above Selected Cell" in first


#: The notebook metadata JupyterLab writes when it opens a notebook on the course's kernel
#: (kernelspec and the language_info of ipykernel); stored whole, so that opening a notebook
#: does not mark it changed. The Python version is the reference machine's.
LANGUAGE_KEYS = {"codemirror_mode", "file_extension", "mimetype", "name", "nbconvert_exporter",
                 "pygments_lexer", "version"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT / "notebooks")))
def test_notebooks_are_stored_as_jupyter_saves_them(path):
    """Byte for byte what Jupyter's server writes on save (sorted keys, one-space indent, cell
    ids, no outputs), with the complete kernel metadata: opening and saving changes nothing."""
    import nbformat

    text = path.read_text()
    nb = nbformat.reads(text, as_version=4)
    assert nbformat.writes(nb) + "\n" == text
    assert nb.metadata.kernelspec == {"display_name": "Python 3 (ipykernel)",
                                      "language": "python", "name": "python3"}
    assert set(nb.metadata.language_info) == LANGUAGE_KEYS
    assert nb.metadata.language_info.version.startswith("3.11.")
