"""The glossary: entries in order, each with an anchor, and every link to it lands on one."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLOSSARY = ROOT / "notebooks" / "glossary.md"
ANCHOR = re.compile(r'^<a id="([a-z0-9-]+)"></a>\n\*\*([^*]+)\*\*', re.M)


def entries() -> list[tuple[str, str]]:
    return ANCHOR.findall(GLOSSARY.read_text())


def test_entries_are_in_alphabetical_order_with_unique_anchors():
    found = entries()
    assert found, "no entries"
    names = [term.lower().lstrip("`_") for _anchor, term in found]
    assert names == sorted(names), "keep the glossary in alphabetical order"
    anchors = [a for a, _ in found]
    assert len(anchors) == len(set(anchors))


def test_every_link_to_the_glossary_lands_on_an_entry():
    anchors = {a for a, _ in entries()}
    broken = []
    for path in sorted((ROOT / "notebooks").rglob("*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            if cell["cell_type"] != "markdown":
                continue
            for anchor in re.findall(r"glossary\.md#([\w-]+)", "".join(cell["source"])):
                if anchor not in anchors:
                    broken.append(f"{path.name}: #{anchor}")
    assert not broken, "links to missing glossary entries: " + ", ".join(broken)
