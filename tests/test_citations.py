"""Every link to the kernel source lands where its text says.

The links are read from ``src/``, ``notebooks/`` (markdown and code cells, labs and solutions),
``docs/`` and ``README.md`` by ``tools/citations/links.py``, whose docstring says how a link's text
maps to the symbol or line it claims. They are checked against ``data/kernel-index/v4.15.json``,
which ``tools/citations/build_index.py`` wrote from the 4.15.0 source (the repository and commit
are in the index); when a link is added or moved to a file or name the index lacks, run that
script again. Links to ``v6.12.118`` (chapter 09 and the model's 6.x mode) are checked the same
way against ``data/kernel-index/v6.12.118.json``, written from Debian's linux-source-6.12
(6.12.118-1~deb12u1; the index says so).
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX = ROOT / "data" / "kernel-index" / "v4.15.json"
#: The versions with an index of their own, and its file.
INDEXES = {"v4.15": INDEX, "v6.12.118": ROOT / "data" / "kernel-index" / "v6.12.118.json"}
REBUILD = "run tools/citations/build_index.py (see its docstring)"
# Links to versions that have no index; none at the moment. A link to such a version must be
# listed here, with why it cannot be checked.
OTHER_VERSIONS: dict[str, str] = {}
# a path in a link's text ("mm/mmap.c L1462", "`fs/cramfs/inode.c`", "cramfs_fs.h L30", "README")
PATH_IN_TEXT = re.compile(
    r"(?<![\w/.-])((?:[\w.-]+/)*[\w.-]+\.[chS]|(?:[\w.-]+/)+[\w.-]+)(?![\w/.-])"
)


@cache
def links_module() -> ModuleType:
    path = ROOT / "tools" / "citations" / "links.py"
    spec = importlib.util.spec_from_file_location("mmlab_citation_links", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@cache
def index(version: str = "v4.15") -> dict[str, object]:
    return json.loads(INDEXES[version].read_text(encoding="utf-8"))


def spans(entry: dict[str, object], name: str) -> list[tuple[int, int]]:
    defs = entry["defs"]
    assert isinstance(defs, dict)
    return [(d, d) if isinstance(d, int) else (d[0], d[1]) for d in defs.get(name, [])]


def where_defined(name: str, version: str = "v4.15") -> str:
    files = index(version)["files"]
    assert isinstance(files, dict)
    found = [f"{path} L{a}" + (f"-{b}" if b != a else "")
             for path, entry in files.items() for a, b in spans(entry, name)]
    return "; defined at " + ", ".join(found[:4]) if found else ""


def problems(link: object) -> list[str]:
    """What is wrong with one link (an empty list when it lands where its text says)."""
    links = links_module()
    assert isinstance(link, links.Link)
    version = link.version
    if version not in INDEXES:
        if link.url in OTHER_VERSIONS:
            return []
        return [f"links to {version}, which has no index (only "
                f"{', '.join(INDEXES)} links can be checked)"]
    files = index(version)["files"]
    assert isinstance(files, dict)
    aliases = index(version)["aliases"]
    assert isinstance(aliases, dict)
    entry = files.get(aliases.get(link.path, link.path))
    if entry is None:
        return [f"{link.path} is not in the {version} index: not in {version}, or {REBUILD}"]
    found = []
    for named in PATH_IN_TEXT.findall(link.text):
        if not (link.path == named or link.path.endswith("/" + named)):
            found.append(f"the text names {named}, the address {link.path}")
    said = links.claim(link)
    line = link.line
    if line is None:
        if said.line is not None:
            found.append(f"the text names line {said.line}, the address has no #L")
        return found
    if line > entry["lines"]:
        found.append(f"line {line} is past the end of {link.path} ({entry['lines']} lines)")
        return found
    if said.line is not None and said.line != line:
        found.append(f"the text names line {said.line}, the address #L{line}")
    if said.symbol is not None:
        name = said.symbol
        uses = entry["uses"]
        assert isinstance(uses, dict)
        if name not in uses:
            found.append(f"`{name}` is not in the index for {link.path}: {REBUILD}")
        elif said.exact and spans(entry, name):
            if not any(a == line for a, b in spans(entry, name)):
                found.append(f"{link.path} L{line} is not the first line of a definition of "
                             f"`{name}`" + where_defined(name, version))
        elif said.definition and spans(entry, name):
            if not any(a <= line <= b for a, b in spans(entry, name)):
                found.append(f"{link.path} L{line} is not inside the definition of `{name}`"
                             + where_defined(name, version))
        elif line not in uses[name] and not any(a <= line <= b for a, b in spans(entry, name)):
            lines = uses[name]
            hint = (f"; the file names it on lines {', '.join(map(str, lines[:6]))}"
                    + ("..." if len(lines) > 6 else "")) if lines else "; the file never names it"
            found.append(f"{link.path} L{line} neither names `{name}` nor lies inside it"
                         + where_defined(name, version) + hint)
    elif said.line is None:
        found.append("the link has a #L anchor but neither its text nor the words before it say "
                     "what is there (name the symbol, or say 'line N')")
    return found


def all_links() -> list[object]:
    return list(links_module().project_links(ROOT))


def test_index_says_what_it_was_read_from() -> None:
    data = index()
    assert data["version"] == "v4.15"
    assert data["repository"] == "https://github.com/casys-kaist/linux-v4.15-page-migration"
    assert data["commit"] == "c26e69d3dd8a9c7f9744b44700e2a22f8dd008fb"
    newer = index("v6.12.118")
    assert newer["version"] == "v6.12.118"
    assert "Debian linux-source-6.12 6.12.118-1~deb12u1" in str(newer["source"])


def test_every_kernel_link_lands_where_its_text_says() -> None:
    checked = all_links()
    assert len(checked) > 400, "the link finder found far fewer links than the course has"
    wrong = []
    for link in checked:
        for problem in problems(link):
            wrong.append(f"{link.source} {link.where}: {link.url}\n    {problem}")
    assert not wrong, f"{len(wrong)} of {len(checked)} links are wrong:\n" + "\n".join(wrong)


def test_other_versions_are_listed() -> None:
    others = {link.url for link in all_links() if link.version not in INDEXES}
    assert others == set(OTHER_VERSIONS)


# The rules themselves, on links made up for the purpose: each would let a wrong citation through
# if it were broken.

MMAP = "https://elixir.bootlin.com/linux/v4.15/source/mm/mmap.c"


def problems_in(markdown: str) -> list[str]:
    found = list(links_module().links_in_text(markdown, "example.md"))
    assert found
    return [problem for link in found for problem in problems(link)]


@pytest.mark.parametrize(
    ("markdown", "fault"),
    [
        (f"Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <{MMAP}#L2131>`_.", None),
        (f"Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <{MMAP}#L2552>`_.", "not the first line"),
        # a line that calls find_vma is not its definition; a docstring's label names its first
        (f"Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <{MMAP}#L234>`_.", "not the first line"),
        (f"Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <{MMAP}#L2140>`_.", "not the first line"),
        (f"[`find_vma`]({MMAP}#L2140)", None),
        (f"Models, in `mm/mmap.c <{MMAP}>`_: ``find_vma`` L2131, ``vma_merge`` L1098.",
         "L1098 is not the first line of a definition of `vma_merge`"),
        (f"[`find_vma`]({MMAP}#L234)", None),  # a line naming it: a call
        (f"[`find_vma`]({MMAP}#L531)", "neither names `find_vma`"),
        (f"It looks the VMA up (`find_vma`, [mm/mmap.c L234]({MMAP}#L234)).", None),
        (f"`do_munmap` ([mm/mmap.c L2635]({MMAP}#L2635))", None),
        (f"`do_munmap` ([mm/mmap.c L2636]({MMAP}#L2635))", "the text names line 2636"),
        (f"`vma_merge` ([mm/mprotect.c L1099]({MMAP}#L1099))", "the text names mm/mprotect.c"),
        (f"(`vma_merge`, [mm/mmap.c L2635]({MMAP}#L2635))", "neither names `vma_merge`"),
        (f"Its comment says so ([line 2635]({MMAP}#L2635)).", None),
        (f"The length is checked ([mm/mmap.c]({MMAP}#L1340)).", "neither its text nor the words"),
        (f"See [mm/mmap.c]({MMAP}) for all of it.", None),
        (f"See [mm/mmap.c L99999]({MMAP}#L99999).", "past the end"),
        (f"Kernel: `x <{MMAP.replace('mmap.c', 'nosuch.c')}#L1>`_", "not in the v4.15 index"),
        (f"See [mmap.c]({MMAP.replace('v4.15', 'v6.1')}).", "links to v6.1"),
        # a v6.12.118 link is held to the v6.12.118 index: lock_vma_under_rcu is at L6273 there
        ("Kernel: ``lock_vma_under_rcu`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin."
         "com/linux/v6.12.118/source/mm/memory.c#L6273>`_.", None),
        ("Kernel: ``lock_vma_under_rcu`` in `mm/memory.c @ v6.12.118 <https://elixir.bootlin."
         "com/linux/v6.12.118/source/mm/memory.c#L6080>`_.", "not the first line"),
    ],
)
def test_a_link_is_held_to_its_text(markdown: str, fault: str | None) -> None:
    found = problems_in(markdown)
    if fault is None:
        assert found == []
    else:
        assert any(fault in problem for problem in found), found


@pytest.mark.parametrize(
    ("span", "name"),
    [
        ("struct vm_area_struct", "vm_area_struct"),
        ("vm_normal_page(vma, addr, pte)", "vm_normal_page"),
        ("vma->vm_pgoff", "vm_pgoff"),
        ("SYSCALL_DEFINE3(mprotect)", "mprotect"),
        ("mmap()", "mmap"),
        ("/proc/self/maps", None),
        ("-EINVAL", None),
        ("vm_flags & VM_SHARED", None),
    ],
)
def test_a_backticked_span_names_one_c_name(span: str, name: str | None) -> None:
    assert links_module().c_name(span) == name
