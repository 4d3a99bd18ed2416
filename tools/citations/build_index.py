"""Write data/kernel-index/<version>.json: what ``tests/test_citations.py`` needs to know of a tree.

**v4.15** (every chapter's kernel): the git repository ``casys-kaist/linux-v4.15-page-migration``
at commit ``c26e69d3dd8a9c7f9744b44700e2a22f8dd008fb`` ("global: add kernel v4.15"), which is
plain Linux 4.15.0 (the repository's later commits are its authors' own work, not read here).
Run::

    python tools/citations/build_index.py --git-dir PATH/TO/linux-v4.15-page-migration.git

**v6.12.118** (chapter 09 and the model's 6.x mode): Debian's ``linux-source-6.12`` package,
version 6.12.118-1~deb12u1 (bookworm-security), unpacked: ``apt-get download
linux-source-6.12``, ``dpkg -x`` it, then ``tar -xJf usr/src/linux-source-6.12.tar.xz``. That is
the 6.12.118 stable release with Debian's patches applied; the links go to elixir's
``v6.12.118`` (the upstream tag), so a line could differ in a file that Debian patches. Run::

    python tools/citations/build_index.py --tree PATH/TO/linux-source-6.12 --version v6.12.118

after a link is added or changed in ``src/``, ``notebooks/``, ``docs/`` or ``README.md`` (the test
says so when the index lacks a file or a name a link cites). It needs git and Universal Ctags
(Debian: ``apt-get install universal-ctags``); the test needs neither, only the JSON.

For each kernel file a v4.15 link cites, the index holds (and nothing of the file's text):

``lines``
    how many lines the file has;
``defs``
    for each name any link cites (in whichever file), its definitions in this file as Universal
    Ctags finds them (functions, macros, structs, unions, enums and their members and
    enumerators, typedefs, variables, goto labels, prototypes): the first and last line of each,
    or one number for a one-line definition; a ``SYSCALL_DEFINEn(name, ...)`` is indexed under
    ``name``;
``uses``
    for each name a link says it points at in that file: the numbers of the lines whose text
    (code or comment) has the name as a whole word.

and ``aliases``: the file a citation in words means when it gives only the end of a path
("task_mmu.c L297", see :func:`resolve_aliases`).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import links  # noqa: E402  (the link finder shared with the test)

ROOT = Path(__file__).resolve().parents[2]
REPOSITORY = "https://github.com/casys-kaist/linux-v4.15-page-migration"
COMMIT = "c26e69d3dd8a9c7f9744b44700e2a22f8dd008fb"
VERSION = "v4.15"
OUTPUT = ROOT / "data" / "kernel-index" / f"{VERSION}.json"
#: What a tree read with --tree is, per version (written into the index).
TREES = {
    "v6.12.118": "Debian linux-source-6.12 6.12.118-1~deb12u1 (bookworm-security): "
                 "usr/src/linux-source-6.12.tar.xz, the 6.12.118 stable release with Debian's "
                 "patches applied",
}


class Tree:
    """Where the kernel files are read: a git commit (v4.15) or an unpacked directory."""

    def __init__(self, git_dir: Path | None = None, directory: Path | None = None) -> None:
        self.git_dir, self.directory = git_dir, directory

    def read(self, path: str) -> str | None:
        if self.directory is not None:
            file = self.directory / path
            return file.read_text(encoding="utf-8", errors="replace") if file.is_file() else None
        assert self.git_dir is not None
        return kernel_file(self.git_dir, path)

    def files(self) -> list[str]:
        if self.directory is not None:
            return sorted(str(p.relative_to(self.directory)) for p in self.directory.rglob("*")
                          if p.is_file())
        assert self.git_dir is not None
        return subprocess.run(
            ["git", "--git-dir", str(self.git_dir), "ls-tree", "-r", "--name-only", COMMIT],
            capture_output=True, text=True, check=True,
        ).stdout.split()
# ctags kinds kept (C): not local variables, parameters or included headers
KINDS = "defgLmpstuvx"
DROPPED = {"local", "parameter", "macroparam", "header"}
# Macros that confuse ctags the way 4.15 uses them, on top of those scripts/tags.sh names:
# RB_DECLARE_CALLBACKS(...) at file scope in mm/mmap.c would swallow vma_gap_update.
MORE_IGNORED = ["RB_DECLARE_CALLBACKS+"]
# Names 4.15's macros make that its scripts/tags.sh forgets: __PAGEFLAG(Locked, ...) makes
# PageLocked too (TESTPAGEFLAG is part of it).
MORE_REGEXES = [r"/^__PAGEFLAG(\([[:alnum:]_]*\).*/Page\1/"]
SYSCALL = re.compile(r"^/\^\s*(?:COMPAT_)?SYSCALL_DEFINE\d\((\w+)")
WORD = re.compile(r"[A-Za-z_]\w*")


def kernel_file(git_dir: Path, path: str) -> str | None:
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), "show", f"{COMMIT}:{path}"],
        capture_output=True, check=False,
    )
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


def kernel_ctags_options(tree: Tree) -> list[str]:
    """The options 4.15's own ``make tags`` gives ctags (scripts/tags.sh, its "exuberant" mode).

    Its ``-I`` list (attributes such as ``__read_mostly`` that ctags must skip) and its C regexes
    (the names macros make: ``PAGEFLAG(Error, ...)`` makes ``PageError``, ``SetPageError`` and
    ``ClearPageError``; ``SYSCALL_DEFINE3(mprotect, ...)`` makes ``sys_mprotect``), read from the
    tree at the commit, plus :data:`MORE_IGNORED` and :data:`MORE_REGEXES`.
    """
    script = tree.read("scripts/tags.sh")
    if script is None:
        raise SystemExit("scripts/tags.sh is not in the tree: is this a Linux tree?")
    body = script[script.index("\nexuberant()"):]
    body = body[:body.index("\n}")]
    ignored = [word for line in re.findall(r"-I ([^\\\n]+)", body)
               for word in line.replace(",", " ").split()]
    block = script[script.index("\nregex_c=("):]
    block = block[:block.index("\n)")]
    regexes = re.findall(r"^\s*'(/.*/)'\s*$", block, re.M) + MORE_REGEXES
    return (["-I", ",".join(ignored + MORE_IGNORED)]
            + [f"--regex-C={regex}b" for regex in regexes])


def definitions(path: str, text: str, names: set[str], options: list[str]
                ) -> dict[str, list[int | list[int]]]:
    """name -> [start or [start, end], ...] from Universal Ctags, for the names of one file."""
    if not re.search(r"\.(c|h)$", path):
        return {}
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / Path(path).name
        copy.write_text(text, encoding="utf-8")
        done = subprocess.run(
            ["ctags", "--output-format=json", "--fields=+neK", f"--kinds-C={KINDS}",
             "--language-force=C", *options, "-o", "-", str(copy)],
            capture_output=True, text=True, check=True,
        )
    defs: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for row in done.stdout.splitlines():
        tag = json.loads(row)
        if tag.get("_type") != "tag" or tag.get("kind") in DROPPED:
            continue
        start = int(tag["line"])
        end = int(tag.get("end", start))
        defs[tag["name"]].add((start, end))
        syscall = SYSCALL.match(tag.get("pattern", ""))
        if syscall:
            defs[syscall[1]].add((start, end))
    return {
        name: [start if start == end else [start, end] for start, end in sorted(spans)]
        for name, spans in sorted(defs.items()) if name in names
    }


def uses(text: str, names: set[str]) -> dict[str, list[int]]:
    found: dict[str, list[int]] = {name: [] for name in sorted(names)}
    for number, line in enumerate(text.splitlines(), 1):
        for word in set(WORD.findall(line)) & names:
            found[word].append(number)
    return found


def build(tree: Tree, version: str = VERSION) -> dict[str, object]:
    cited: dict[str, set[str]] = defaultdict(set)
    for link in links.project_links(ROOT):
        if link.version != version:
            continue
        said = links.claim(link)
        cited[link.path]  # noqa: B018  (a file cited without a symbol is indexed too)
        for name in said.symbols:
            cited[link.path].add(name)
    every_name = set().union(*cited.values())
    options = kernel_ctags_options(tree)
    aliases = resolve_aliases(tree, cited)
    for short, path in aliases.items():
        cited[path] |= cited.pop(short)
    files: dict[str, object] = {}
    missing = []
    for path in sorted(cited):
        text = tree.read(path)
        if text is None:
            missing.append(path)
            continue
        files[path] = {
            "lines": len(text.splitlines()),
            "defs": definitions(path, text, every_name, options),
            "uses": uses(text, cited[path]),
        }
    for path in missing:
        print(f"not in {version}: {path} (left out of the index; the test will fail on it)")
    source: dict[str, object] = (
        {"repository": REPOSITORY, "commit": COMMIT} if tree.directory is None
        else {"source": TREES[version]})
    return {
        "version": version,
        **source,
        "made_by": "tools/citations/build_index.py (Universal Ctags " + ctags_version() + ")",
        "aliases": aliases,
        "files": files,
    }


def resolve_aliases(source: Tree, cited: dict[str, set[str]]) -> dict[str, str]:
    """Paths written short in a citation in words ("task_mmu.c L297") -> the file they mean.

    The file another link cites in full if there is one, else the only file of the tree with
    that ending, else the only one under arch/x86/ (the model's architecture); none when still
    ambiguous (the test then fails on the citation).
    """
    tree = source.files()
    tree_set = set(tree)
    aliases = {}
    for short in sorted(cited):
        if short in tree_set:
            continue
        ending = "/" + short
        for pool in ([p for p in cited if p.endswith(ending)],
                     [p for p in tree if p.endswith(ending)],
                     [p for p in tree if p.endswith(ending) and p.startswith("arch/x86/")]):
            if len(pool) == 1:
                aliases[short] = pool[0]
                break
    return aliases


def ctags_version() -> str:
    first = subprocess.run(["ctags", "--version"], capture_output=True, text=True, check=True)
    match = re.search(r"Universal Ctags ([\w.]+)", first.stdout)
    return match[1] if match else "?"


def write(index: dict[str, object], output: Path) -> None:
    """One kernel file a line, so a change to the index reads as a small diff."""
    head = {key: value for key, value in index.items() if key != "files"}
    files = index["files"]
    assert isinstance(files, dict)
    lines = ["{"]
    for key, value in head.items():
        lines.append(f" {json.dumps(key)}: {json.dumps(value)},")
    lines.append(' "files": {')
    rows = [f"  {json.dumps(path)}: {json.dumps(entry, separators=(',', ':'))}"
            for path, entry in files.items()]
    lines.append(",\n".join(rows))
    lines.append(" }")
    lines.append("}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--git-dir", type=Path,
                       help="a clone (bare or not) of " + REPOSITORY + " that has " + COMMIT[:12])
    where.add_argument("--tree", type=Path, help="an unpacked kernel tree (see the docstring)")
    parser.add_argument("--version", default=None,
                        help=f"the version of --tree: one of {', '.join(TREES)}")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.tree is not None:
        if args.version not in TREES:
            parser.error(f"--tree needs --version, one of {', '.join(TREES)}")
        version, tree = args.version, Tree(directory=args.tree)
    else:
        version, tree = VERSION, Tree(git_dir=args.git_dir)
    output = args.output or ROOT / "data" / "kernel-index" / f"{version}.json"
    index = build(tree, version)
    write(index, output)
    args.output = output
    files = index["files"]
    assert isinstance(files, dict)
    print(f"{args.output}: {len(files)} files, {args.output.stat().st_size} bytes")


if __name__ == "__main__":
    main()
