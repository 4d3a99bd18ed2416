"""docs/seed-coverage.md maps every line the 2017 patch adds to the model and to the cell of
chapter 07 that explains it; the cell must mention the line's key words."""

import importlib
import re
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
SEED = ROOT / "data" / "seed" / "cramfs-xip-vmasplit-2017-08-16.txt"
TABLE = ROOT / "docs" / "seed-coverage.md"

#: Names a code line uses only as arguments of a debug message: not key words.
MESSAGE_ONLY = {"file_dentry", "d_name", "name", "pgprot_val"}
C_WORDS = {"if", "while", "for", "return", "sizeof", "unsigned", "long", "int", "void", "char",
           "struct", "static", "const"}


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


def code_of(row: list[str]) -> str:
    return row[1].strip("`").replace("\\|", "|")


def key_words(row: list[str]) -> list[str]:
    return re.findall(r"`([^`]+)`", row[5])


def required(code: str) -> set[str]:
    """What a code line's key words must name: the functions it calls, the fields it reads
    through ``->`` or ``.``, what it takes the address of, its constants in capitals."""
    if code.lstrip().startswith(("/*", "*")):
        return set()
    bare = re.sub(r'"[^"]*"', '""', code)  # string literals say nothing about the code
    names = set(re.findall(r"\b([A-Za-z_]\w*)\s*\(", bare))
    names |= set(re.findall(r"(?:->|\.)\s*([A-Za-z_]\w*)", bare))
    names |= set(re.findall(r"&\s*([A-Za-z_]\w*)\b(?!\s*->)", bare))
    names |= set(re.findall(r"\b([A-Z][A-Z0-9_]{2,})\b", bare))
    return names - MESSAGE_ONLY - C_WORDS


def test_every_added_line_is_in_the_table_in_order():
    wanted = [" ".join(line.split()) for line in added_lines() if line.strip()]
    got = [" ".join(code_of(r).split()) for r in rows()]
    assert got == wanted
    assert len(wanted) == 95


def test_every_model_name_exists():
    for r in rows():
        module, _, name = r[2].strip("`").rpartition(".")
        assert hasattr(importlib.import_module(module), name), r[2]


def _cells(path: str) -> tuple[list, dict[str, int]]:
    nb = nbformat.read(ROOT / "notebooks" / path, as_version=4)
    return nb.cells, {c.id: i for i, c in enumerate(nb.cells)}


def _under(cells: list, index: int, title: str) -> bool:
    """Is cell ``index`` under the heading ``title``: the heading comes before it, with no
    heading of the same or a higher level in between?"""
    level_seen = 99
    for cell in reversed(cells[:index + 1]):
        if cell.cell_type != "markdown":
            continue
        for line in reversed(cell.source.splitlines()):
            m = re.match(r"(#+)\s+(.*)", line)
            if not m:
                continue
            level = len(m.group(1))
            if m.group(2).strip() == title and level < level_seen:
                return True
            level_seen = min(level_seen, level)
    return False


def test_each_named_cell_is_under_its_section_and_mentions_the_key_words():
    notebooks: dict[str, tuple[list, dict[str, int]]] = {}
    missing = []
    for r in rows():
        title, path = re.fullmatch(r"\[\d\d · (.+)\]\(\.\./notebooks/(.+)\)", r[3]).groups()
        cell_id = r[4].strip("`")
        if path not in notebooks:
            notebooks[path] = _cells(path)
        cells, ids = notebooks[path]
        assert cell_id in ids, f"row {r[0]}: {path} has no cell {cell_id}"
        assert _under(cells, ids[cell_id], title), \
            f"row {r[0]}: cell {cell_id} is not under the section {title!r}"
        source = " ".join(cells[ids[cell_id]].source.split())  # a key word may wrap
        for word in key_words(r):
            if word not in source:
                missing.append(f"row {r[0]} ({code_of(r)}): cell {cell_id} lacks {word!r}")
    assert not missing, "\n".join(missing)


def test_the_key_words_of_a_code_line_name_what_it_calls_reads_and_uses():
    thin = []
    for r in rows():
        words = " ".join(key_words(r))
        lacking = sorted(n for n in required(code_of(r)) if n not in words)
        if lacking:
            thin.append(f"row {r[0]} ({code_of(r)}): key words lack {lacking}")
    assert not thin, "\n".join(thin)


def test_the_rule_finds_calls_fields_addresses_and_constants():
    assert required("ret = split_vma(mm, vma, split_addr, 0);") == {"split_vma"}
    assert required("up_read(&mm->mmap_sem);") == {"up_read", "mmap_sem"}
    assert required("new_vma->vm_ops = &generic_file_vm_ops;") == {"vm_ops",
                                                                    "generic_file_vm_ops"}
    assert required("return VM_FAULT_SIGSEGV;") == {"VM_FAULT_SIGSEGV"}
    assert required('pr_debug("fault: addr=%#lx\\n",') == {"pr_debug"}
    assert required("* remap_pfn_range() overwrites vma->vm_pgoff") == set()


def test_a_section_check_tells_a_cell_under_a_heading_from_one_past_it():
    cells = [nbformat.v4.new_markdown_cell("## A"), nbformat.v4.new_markdown_cell("### B"),
             nbformat.v4.new_code_cell("x"), nbformat.v4.new_markdown_cell("## C"),
             nbformat.v4.new_code_cell("y")]
    assert _under(cells, 2, "A") and _under(cells, 2, "B")
    assert not _under(cells, 4, "A") and _under(cells, 4, "C")


def test_the_lines_the_learners_could_not_explain_are_explained_where_the_table_says():
    """BUG_ON, the NULL check after the split, vm_ops = NULL: issue 19's untaught lines."""
    by_code = {code_of(r): r for r in rows()}
    cells, ids = _cells("07-fault-time-split.ipynb")
    for code, words in (("BUG_ON(new_vma == vma);", ("new_below", "oops")),
                        ("if (!new_vma) {", ("cannot happen",)),
                        ("vma->vm_ops = NULL;", ("vma_is_anonymous", "do_anonymous_page",
                                                 "zero page"))):
        cell = cells[ids[by_code[code][4].strip("`")]].source
        assert all(w in cell for w in words), code


def context_rows() -> list[list[str]]:
    """The rows of the table of what the mail shows around the added lines: a hunk header
    (``h1``...) or a line of context (``c1``...)."""
    out = []
    for line in TABLE.read_text().splitlines():
        if re.match(r"\| [hc]\d+ \|", line):
            out.append([c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]])
    return out


def shown_lines() -> list[str]:
    """The lines of the mail's diff that neither add nor remove: hunk headers and context."""
    lines = SEED.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("diff --git"))
    return [line for line in lines[start:]
            if line.strip() and not line.startswith(("+", "-", "diff --git", "index "))]


def test_the_hunk_headers_and_context_lines_are_explained_where_the_table_says():
    """The first hunk's header and its context (``return blockaddr << 2;``) and the other
    hunks' headers: each is in the mail, in order, and its cell explains it."""
    found = context_rows()
    assert [r[0] for r in found] == ["h1", "c1", "c2", "h2", "h3", "h4"]
    mail = shown_lines()
    at = -1
    for r in found:
        code = r[1].strip("`")
        assert code in mail[at + 1:], f"row {r[0]}: {code!r} is not in the mail after row above"
        at = mail.index(code, at + 1)
        assert code.startswith("@@") == r[0].startswith("h")
    cells, ids = _cells("07-fault-time-split.ipynb")
    for r in found:
        title = re.fullmatch(r"\[\d\d · (.+)\]\(\.\./notebooks/(.+)\)", r[2]).group(1)
        cell_id = r[3].strip("`")
        assert _under(cells, ids[cell_id], title), r[0]
        source = " ".join(cells[ids[cell_id]].source.split())
        missing = [w for w in re.findall(r"`([^`]+)`", r[4]) if w not in source]
        assert not missing, f"row {r[0]}: cell {cell_id} lacks {missing}"
