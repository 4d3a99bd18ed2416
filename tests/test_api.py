"""The surface a reader meets: the package map, the quick start, one citation style, no state.

Held by the source itself (docstrings, imports), so a new module or function that breaks the
conventions fails here, not in review.
"""

from __future__ import annotations

import ast
import importlib
import pathlib
import re
import subprocess
import sys
import textwrap

import pytest

import mmlab

SRC = pathlib.Path(mmlab.__file__).parent
MODEL = [m for m in mmlab.SUBMODULES if m not in ("cramfs", "cli", "viz", "labs")]
#: Modules that model no single kernel file (their first docstring line needs no path).
NO_KERNEL_FILE = {"version", "live", "scenarios", "race", "workshop", "lite", "workcopy",
                  "coursetime"}
ELIXIR = "https://elixir.bootlin.com/linux/v4.15/source/"
#: A function that exists only in newer kernels (the 6.x mode of chapter 09) cites the release
#: the model follows there, read in Debian's linux-source-6.12 (see mmlab.version).
FOOTER = re.compile(
    r"Kernel: (``[^`]+`` in )?`(?P<shown>[^`<]+?) @ (?P<ver>v4\.15|v6\.12\.118) <"
    r"https://elixir\.bootlin\.com/linux/(?P=ver)/source/"
    r"(?P<url>[^#>]+)(#L\d+)?>`_\."
    r"|Model helper: .+"
    r"|Patch: .+ \(LKML, \d{4}-\d\d-\d\d\).*, never merged\..*"
    r"|util-linux: ``[^`]+``(, ``[^`]+``)*( and ``[^`]+``)? in `[^`<]+ @ v2\.38 "
    r"<https://github\.com/util-linux/[^>]+>`_\."
    r"|cramfs-tools: .+"
)  # fmt: skip
LABEL = re.compile(r"^(Kernel|Model helper|util-linux|cramfs-tools|Patch):", re.M)


def source_files() -> list[pathlib.Path]:
    return sorted(p for p in SRC.rglob("*.py") if "bench" not in p.parts)


def public_defs(tree: ast.Module, *, functions_only: bool = False, no_methods: bool = False):
    """Module-level functions and classes, and the methods of public classes (not properties).

    ``functions_only``: module-level functions alone (the cramfs package: its classes are data).
    """
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            if functions_only and isinstance(node, ast.ClassDef):
                continue
            yield node
            if isinstance(node, ast.ClassDef) and not no_methods:
                for item in node.body:
                    is_prop = isinstance(item, ast.FunctionDef) and any(
                        (isinstance(d, ast.Name) and d.id == "property")
                        or (isinstance(d, ast.Attribute) and d.attr == "setter")
                        for d in item.decorator_list
                    )
                    if (
                        isinstance(item, ast.FunctionDef)
                        and not item.name.startswith("_")
                        and not is_prop
                        and not any(getattr(b, "id", "") == "Protocol" for b in node.bases)
                    ):
                        yield item


def test_dir_lists_the_submodules_and_each_loads_on_access():
    assert set(mmlab.SUBMODULES) <= set(dir(mmlab))
    for name in mmlab.SUBMODULES:
        assert getattr(mmlab, name).__name__ == f"mmlab.{name}"
    with pytest.raises(AttributeError):
        mmlab.nonexistent  # noqa: B018


def test_every_source_module_is_on_the_map():
    on_disk = {p.stem for p in SRC.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in SRC.iterdir() if (p / "__init__.py").exists() and p.name != "bench"}
    assert on_disk == set(mmlab.SUBMODULES)
    for name in MODEL:
        assert f"``{name}``" in mmlab.__doc__, f"{name} is missing from the map in mmlab.__doc__"


def test_the_quick_start_in_help_runs():
    doc = mmlab.__doc__
    block = doc[doc.index("Quick start::") + len("Quick start::") : doc.index("Where each part")]
    code = textwrap.dedent(block).strip()
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "FaultResult(" in out and "'do_page_fault'" in out and "rw-p" in out


def test_import_mmlab_is_cheap():
    out = subprocess.run(
        [sys.executable, "-c", "import sys, mmlab; print(sorted(m for m in sys.modules "
         "if m.startswith('mmlab')))"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert out.strip() == "['mmlab']"


@pytest.mark.parametrize("name", MODEL)
def test_public_names_resolve_and_none_is_annotations(name):
    module = importlib.import_module(f"mmlab.{name}")
    public = getattr(module, "__all__", None)
    assert public is not None, f"mmlab.{name} has no __all__"
    assert "annotations" not in public
    assert len(public) == len(set(public)), "a name is listed twice"
    for item in public:
        assert hasattr(module, item), f"mmlab.{name}.__all__ lists {item}, which is not there"


def test_mmlab_mm_keeps_its_import_paths():
    from mmlab import fault, filemap, fs, memory, mm, procfs, trace

    for module, names in (
        (mm, ["MM", "find_vma", "split_vma", "vma_merge", "PAGE_SIZE", "VM_PFNMAP", "MAP_SHARED"]),
        (memory, ["remap_pfn_range", "vm_insert_mixed", "vm_normal_page"]),
        (fault, ["do_page_fault", "handle_mm_fault", "VmFault", "VM_FAULT_SIGBUS"]),
        (filemap, ["filemap_fault"]),
        (fs, ["file_from_bytes", "file_from_path"]),
        (procfs, ["format_maps", "parse_maps"]),
        (trace, ["record"]),
    ):
        for attr in names:
            assert attr in module.__all__, f"{module.__name__}.{attr}"
    assert "annotations" not in dir(mm)  # what a notebook's tab completion offers


@pytest.mark.parametrize("path", source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_one_citation_style(path):
    """Every public function and class ends with one citation paragraph, in one format."""
    tree = ast.parse(path.read_text())
    module_doc = ast.get_docstring(tree) or ""
    assert module_doc, "no module docstring"
    first = module_doc.split("\n", 1)[0]
    if path.parent == SRC and path.stem in MODEL and path.stem not in NO_KERNEL_FILE:
        assert re.search(r"[\w-]+/|\.[ch]\b", first), f"first line names no kernel file: {first}"
    for text in [module_doc, *(ast.get_docstring(n) or "" for n in public_defs(tree))]:
        for banned in ("kernel-facts", "§", "seed mail", "Source:", "Sources"):
            assert banned not in text, f"{banned!r} in a docstring of {path.name}"
        assert not re.search(r"\bchapter \d", text, re.I), f"a chapter is cited in {path.name}"
    # the format package's classes are data, the drawings' methods are widget plumbing: only
    # their module-level functions (and, for the drawings, classes) need a citation each
    for node in public_defs(tree, functions_only="cramfs" in path.parts,
                            no_methods="viz" in path.parts):
        doc = ast.get_docstring(node)
        assert doc, f"{path.name}: {node.name} has no docstring"
        last = " ".join(re.split(r"\n\s*\n", doc.strip())[-1].split())
        footer = FOOTER.fullmatch(last)
        assert footer, f"{path.name}: {node.name} does not end with a citation: {last!r}"
        assert len(LABEL.findall(doc)) == 1, f"{path.name}: {node.name} has two citations"
        if footer.group("url"):
            assert footer.group("shown") == footer.group("url"), node.name
        inline = re.findall(r"`[^`<]+ @ v4\.15 <https", doc)
        assert len(inline) <= 1, f"{path.name}: {node.name} cites the source twice"


def test_no_mutable_state_at_module_level_but_the_default_system():
    """Module-level names bound to lists, dicts or sets (or made by list()/dict()/set()...)."""
    allowed = {("system", "_default")}
    found = []
    for path in source_files():
        tree = ast.parse(path.read_text())
        for node in tree.body:
            targets = []
            if isinstance(node, ast.Assign):
                targets, value = node.targets, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                targets, value = [node.target], node.value
            else:
                continue
            mutable = isinstance(value, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp)
            if isinstance(value, ast.Call) and getattr(value.func, "id", "") in (
                "list", "dict", "set", "Counter", "defaultdict", "bytearray",
            ):  # fmt: skip
                mutable = True
            for t in targets:
                name = getattr(t, "id", None)
                if mutable and name not in ("__all__",) and (path.stem, name) not in allowed:
                    found.append(f"{path.relative_to(SRC)}: {name}")
    assert found == []


def test_the_readmes_python_examples_run(capsys):
    """Every ```python block of README.md runs as it is and prints what its comments say."""
    readme = (SRC.parent.parent / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    for block in blocks:
        exec(compile(block, "README.md", "exec"), {})  # noqa: S102 - our own README
    out = capsys.readouterr().out
    assert "r-xp 0800e000 1f:00" in out and "r-xp 00003000 1f:00" in out  # the split VMA
    assert "cramfs: fault: addr=" in out
