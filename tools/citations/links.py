"""Find the kernel-source links of the course and what each one claims to point at.

Used by ``tools/citations/build_index.py`` (which files and names the index must cover) and by
``tests/test_citations.py`` (which checks every link against the index). Standard library only.

Where links are read: every ``.py`` file under ``src/`` (docstrings and comments), every cell of
every notebook under ``notebooks/`` (markdown and code, labs and their solutions), the Markdown
files under ``docs/`` and ``README.md``. A link is an Elixir address
(``https://elixir.bootlin.com/linux/<version>/source/<path>[#L<n>]``) written as a Markdown link
``[text](url)``, a reStructuredText link ```text <url>`_``, or bare.

What a link claims (:func:`claim`), in this order:

1. **The link text names a symbol**: a backticked C name in the text (```find_vma``` or
   ````find_vma````; ``struct x`` gives ``x``, ``f(args)`` gives ``f``, ``a->b`` and ``a.b`` give
   ``b``, ``SYSCALL_DEFINE3(mprotect)`` gives ``mprotect``). The line must name that symbol (have
   it as a whole word, in code or comment) or lie inside one of its definitions (from the line
   that names it to its end).

   A docstring's label ("Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <...>`_") and a citation in
   words of the form "``cramfs_readpage`` L817" say where the symbol is defined: when the file
   defines it, the line must be the first line of one of its definitions (the line that names
   it); when the file does not, the line must name it.
2. **The link text names a line** ("line 1379", "L1379", "lines 775-816", "L1411-L1440"): a link
   to a particular statement. The number must be the link's own ``#L`` and the line must exist.
   If a backticked C name stands right before the link ("`vm_start` ([L283](...))",
   "(`split_vma`, [mm/mmap.c L2621](...))"), the line must also name it (a call, a use) or lie
   inside its definition.
3. **Otherwise the symbol is the nearest backticked C name before the link in the same
   sentence** (back to a sentence end, a blank line, a list item or a table cell; one backticked
   span that is not a C name, such as ``"/proc/self/maps"``, is passed over): the line must name
   it or lie inside its definition.
4. A link with a ``#L`` anchor and none of the above fails: the reader cannot tell what the line
   is. A link without an anchor only has to name a file of the index.

Citations in words are read too, as links to v4.15 (or to the version they name): a path and a
line ("mm/mmap.c @ v4.15 L2552", "task_mmu.c L297"; a path given by its end only is resolved by
the index's ``aliases``), and, after a link in the same paragraph, "``name`` L123", "``name``
(L123)" or "``name``, L123" (a line of the file that link names). Their text names a line, so
rules 1 and 2 apply to them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_SITE = "https://elixir.bootlin.com/linux"
ELIXIR = re.compile(
    r"https?://elixir\.bootlin\.com/linux/(?P<version>[^/\s]+)/source/(?P<path>[^#\s)>`'\"]+)"
    r"(?:#L(?P<line>\d+)(?:-L?(?P<end>\d+))?)?"
)
_MD_LINK = re.compile(r"\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\((?P<url>https?://elixir[^)\s]+)\)")
_RST_LINK = re.compile(r"`(?P<text>[^`<]*?)\s*<(?P<url>https?://elixir[^>\s]+)>`__?")
_BARE = re.compile(r"https?://elixir\.bootlin\.com/[^\s)>`'\"]+")
# A citation in words: "mm/mmap.c @ v4.15 L2552", "pgtable_types.h L258", "mm.h L170-L282".
_PLAIN = re.compile(
    r"(?<![\w/.<-])(?P<path>(?:[\w.-]+/)*[\w-]+\.[ch])(?:\s+@\s+(?P<version>v[\d.]+))?,?"
    r"\s+(?:at\s+)?L(?P<line>\d+)(?:\s*[-–]\s*L?(?P<end>\d+))?\b"
)
# "``cramfs_readpage`` L817", "`VM_MIXEDMAP` (L419)", "(`down_read_trylock`, L1355)" after a link
# to the file in the same paragraph
_LISTED = re.compile(
    r"(?:``(?P<rst>[^`\n]+?)``|`(?P<md>[^`\n]+?)`)(?:\s+|\s*,\s*|\s*\(\s*)L(?P<line>\d+)\b"
)
# ``x`` (reST) or `x` (Markdown), never across a blank line.
_TICKED = re.compile(r"``(?P<rst>[^`]+?)``|`(?P<md>[^`\n]+?)`")
_LINE_WORDS = re.compile(r"\b(?:lines?\s+|L)(?P<line>\d+)(?:\s*[-–]\s*L?(?P<end>\d+))?\b")
_IDENT = re.compile(r"[A-Za-z_]\w*")
_C_KEYWORDS = frozenset(
    "struct union enum const static unsigned signed long int char void volatile inline extern "
    "return if else for while do switch case break continue goto sizeof typedef".split()
)
# "`x` (" or "`x`," right before the link: the link says where x is
_ADJACENT = re.compile(r"(?:``(?P<rst>[^`]+?)``|`(?P<md>[^`\n]+?)`)\s*[(,]?\s*\(?\s*$")
# a docstring's label: "Kernel: ``find_vma`` in `mm/mmap.c @ v4.15 <...>`_"
_KERNEL_LABEL = re.compile(r"Kernel:\s*(?:``(?P<rst>[^`]+?)``|`(?P<md>[^`\n]+?)`)\s+in\s*$")
_SYSCALL = re.compile(r"^(?:COMPAT_)?SYSCALL_DEFINE\d\((?P<name>\w+)")
# Where a sentence (and so the search for a symbol before a link) stops, going backwards.
_SENTENCE_END = re.compile(
    r"(?:(?<!\be\.g)(?<!\bi\.e)(?<!\bvs)(?<!\betc)\.\s+(?=[A-Z(`*_\"])|[!?]\s+|\n\s*\n"
    r"|\n\s*(?:[-*+]|\d+\.)\s|\|)"
)


@dataclass(frozen=True)
class Link:
    """One Elixir link where it was found."""

    source: str  # repository path of the file that holds it
    where: str  # "line N" of a text file, "cell N" of a notebook
    url: str
    text: str  # the link text ("" for a bare address)
    before: str  # the sentence before the link, whitespace folded
    plain: bool = False  # a citation in words ("mm/mmap.c L2552"), not a link: see the module

    @property
    def version(self) -> str:
        return self._match()["version"]

    @property
    def path(self) -> str:
        return self._match()["path"]

    @property
    def end(self) -> int | None:
        value = self._match()["end"]
        return int(value) if value else None

    @property
    def line(self) -> int | None:
        value = self._match()["line"]
        return int(value) if value else None

    def _match(self) -> re.Match[str]:
        match = ELIXIR.match(self.url)
        if match is None:
            raise ValueError(f"{self.source} {self.where}: not an Elixir address: {self.url}")
        return match


@dataclass(frozen=True)
class Claim:
    """What a link says it points at: a symbol, a line, both, or (no anchor) only a file."""

    symbol: str | None = None  # the C name the line must name or lie inside the definition of
    line: int | None = None  # the line the link text names ("line 1379", "L1379")
    from_text: bool = False  # the symbol is named in the link text, not before it
    definition: bool = False  # the link points into the symbol's definition (see rule 1)
    exact: bool = False  # ... at its first line: a docstring label, or "``name`` L123"

    @property
    def symbols(self) -> tuple[str, ...]:
        return (self.symbol,) if self.symbol else ()


def c_name(span: str) -> str | None:
    """The C name a backticked span stands for, or None when it is not one (see the module)."""
    span = span.strip().rstrip(";")
    syscall = _SYSCALL.match(span)
    if syscall:
        return syscall["name"]
    words = span.split()
    while len(words) > 1 and words[0] in _C_KEYWORDS:
        words.pop(0)
    span = " ".join(words)
    call = re.fullmatch(r"(?P<name>[A-Za-z_]\w*)\s*\(.*\)", span)
    if call:
        return call["name"]
    if re.fullmatch(r"[A-Za-z_]\w*(?:\s*(?:->|\.)\s*[A-Za-z_]\w*)+(?:\(\))?", span):
        return _IDENT.findall(span)[-1]
    if re.fullmatch(r"[A-Za-z_]\w*", span) and span not in _C_KEYWORDS:
        return span
    return None


def _names_in(text: str) -> list[str]:
    names = []
    for match in _TICKED.finditer(text):
        name = c_name(match["rst"] or match["md"])
        if name:
            names.append(name)
    return names


def claim(link: Link) -> Claim:
    """What ``link`` says it points at (the rules of the module docstring)."""
    in_text = _names_in(link.text)
    said = _LINE_WORDS.search(link.text)
    if in_text:
        listed = link.plain and said is not None  # "``cramfs_readpage`` L817"
        return Claim(in_text[0], line=int(said["line"]) if said else None, from_text=True,
                     definition=listed, exact=listed)
    if said:
        adjacent = _ADJACENT.search(link.before)
        name = c_name(adjacent["rst"] or adjacent["md"]) if adjacent else None
        return Claim(name, line=int(said["line"]))
    if link.line is None:
        return Claim()
    label = _KERNEL_LABEL.search(link.before)
    if label:
        name = c_name(label["rst"] or label["md"])
        if name:
            return Claim(name, definition=True, exact=True)
    skipped = 0
    for match in reversed(list(_TICKED.finditer(link.before))):
        name = c_name(match["rst"] or match["md"])
        if name:
            return Claim(name)
        skipped += 1
        if skipped > 1:
            break
    return Claim()


def _sentence_before(text: str, end: int) -> str:
    start = max(0, end - 600)
    window = text[start:end]
    cut = 0
    for match in _SENTENCE_END.finditer(window):
        cut = match.end()
    return " ".join(window[cut:].split())


def _strip_python_comments(text: str) -> str:
    # "# a comment\n    # continued" reads as one sentence: drop the markers, keep the offsets
    return re.sub(r"(?m)^(\s*)#", lambda m: m.group(1) + " ", text)


def links_in_text(text: str, source: str, where_of: str | None = None) -> Iterator[Link]:
    """Every Elixir link of one text (a file or a notebook cell)."""
    readable = _strip_python_comments(text) if source.endswith((".py", ".ipynb")) else text
    taken: list[tuple[int, int]] = []
    found: list[tuple[int, str, str]] = []
    for pattern in (_MD_LINK, _RST_LINK):
        for match in pattern.finditer(readable):
            if any(a <= match.start() < b for a, b in taken):
                continue
            taken.append((match.start(), match.end()))
            found.append((match.start(), match["url"], " ".join(match["text"].split())))
    for match in _BARE.finditer(readable):
        if any(a <= match.start() < b for a, b in taken):
            continue
        found.append((match.start(), match.group(0), ""))
    plain: list[tuple[int, str, str]] = []
    for match in _PLAIN.finditer(readable):
        if any(a <= match.start() < b for a, b in taken):
            continue
        version = match["version"] or "v4.15"
        end = f"-L{match['end']}" if match["end"] else ""
        url = f"{_SITE}/{version}/source/{match['path']}#L{match['line']}{end}"
        plain.append((match.start(), url, " ".join(match.group(0).split())))
    for match in _LISTED.finditer(readable):
        if any(a <= match.start() < b for a, b in taken):
            continue
        paragraph = readable.rfind("\n\n", 0, match.start())
        before = [(a, url) for a, url, _ in found if paragraph < a < match.start()]
        if not before:
            continue
        cited = ELIXIR.match(before[-1][1])
        assert cited is not None
        url = f"{_SITE}/{cited['version']}/source/{cited['path']}#L{match['line']}"
        plain.append((match.start(), url, " ".join(match.group(0).split())))
    for start, url, link_text in sorted(found):
        where = where_of or f"line {readable.count(chr(10), 0, start) + 1}"
        yield Link(source, where, url, link_text, _sentence_before(readable, start))
    for start, url, link_text in sorted(plain):
        where = where_of or f"line {readable.count(chr(10), 0, start) + 1}"
        yield Link(source, where, url, link_text, _sentence_before(readable, start), plain=True)


def project_files(root: Path) -> Iterator[Path]:
    """The files whose links are checked: src/, notebooks/, docs/ and README.md."""
    yield from sorted((root / "src").rglob("*.py"))
    yield from sorted(p for p in (root / "notebooks").rglob("*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts)
    yield from sorted((root / "docs").rglob("*.md"))
    yield root / "README.md"


def project_links(root: Path) -> Iterator[Link]:
    """Every Elixir link of the project (see :func:`project_files`)."""
    for path in project_files(root):
        source = path.relative_to(root).as_posix()
        if path.suffix == ".ipynb":
            notebook = json.loads(path.read_text(encoding="utf-8"))
            for number, cell in enumerate(notebook["cells"]):
                text = "".join(cell["source"])
                yield from links_in_text(text, source, f"cell {number} ({cell['cell_type']})")
        else:
            yield from links_in_text(path.read_text(encoding="utf-8"), source)
