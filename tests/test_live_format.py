"""live.format_op: the operations of a replay as the calls they make, flags by name."""

from __future__ import annotations

import pytest

from mmlab import live
from mmlab.constants import MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ, PROT_WRITE
from mmlab.viz.addrspace import REPLAYS
from mmlab.viz.pagetable import PAGEMAP_STEPS


@pytest.mark.parametrize(("op", "text"), [
    (("mmap", 4, 8, PROT_READ | PROT_WRITE, MAP_PRIVATE, "anon", 0),
     "mmap(+4, 8 pages, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_FIXED|MAP_ANONYMOUS)"),
    (("mmap", 10, 4, PROT_READ | PROT_EXEC, MAP_SHARED, "A", 3),
     "mmap(+10, 4 pages, PROT_READ|PROT_EXEC, MAP_SHARED|MAP_FIXED, file A from its page 3)"),
    (("mprotect", 7, 1, PROT_READ), "mprotect(+7, 1 page, PROT_READ)"),
    (("mprotect", 7, 2, PROT_NONE), "mprotect(+7, 2 pages, PROT_NONE)"),
    (("munmap", 6, 1.5), "munmap(+6, 1.5 pages)"),
    (("touch", 2, False), "read one byte of page +2"),
    (("touch", 0, True), "write one byte of page +0"),
    (("mprotect", 1, 1, PROT_READ | 0x100), "mprotect(+1, 1 page, PROT_READ|0x100)"),
])
def test_an_operation_reads_as_its_call(op, text):
    assert live.format_op(op) == text


def test_every_operation_the_chapters_replay_has_no_bare_number_for_prot_or_flags():
    for op in [o for ops in REPLAYS.values() for o in ops] + list(PAGEMAP_STEPS):
        text = live.format_op(op)
        if op[0] in ("mmap", "mprotect"):
            assert "PROT_" in text, text
        if op[0] == "mmap":
            assert "MAP_PRIVATE" in text or "MAP_SHARED" in text, text


@pytest.mark.parametrize("op", [(), ("mremap", 1, 2), ("mmap", 1, 2, 3), ("touch", 1),
                                ("mprotect", 1, 1, "rw")])
def test_an_unknown_operation_is_refused_by_name(op):
    with pytest.raises(ValueError, match="operation"):
        live.format_op(op)


def test_a_mismatch_names_its_call():
    bad = live.Mismatch(1, ("munmap", 6, 2), 0, -22, ["+ 4..+6 rw-p"], ["+ 4..+12 rw-p"])
    assert str(bad).startswith("after step 1, munmap(+6, 2 pages): kernel returned 0, model -22")
