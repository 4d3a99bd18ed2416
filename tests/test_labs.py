"""The labs: each check fails on the exercise as handed out and passes on its solution; every lab
notebook (exercises and solutions) runs headless, is stored clean, and the two copies differ
only in the cell that holds the learner's work."""

from __future__ import annotations

import errno
import pathlib
import re

import nbformat
import pytest
from nbclient import NotebookClient

from mmlab.constants import PAGE_SIZE, VM_MAYWRITE, VM_SHARED
from mmlab.labs import (
    mixedmap_plan,
    private_data,
    race_recheck,
    remap_cow_rule,
    tail_check,
    vma_lock_fallback,
    xip_layout,
)
from mmlab.race import Fault, Mprotect, Munmap
from mmlab.xip import CRAMFS_VMASPLIT_OPS

LABS_DIR = pathlib.Path(__file__).parent.parent / "notebooks" / "labs"
EXERCISES = sorted(LABS_DIR.glob("*.ipynb"))
SOLUTIONS = sorted((LABS_DIR / "solutions").glob("*.ipynb"))

#: notebook -> how to run its check on the names the learner's cell defines
CHECKS = {
    "01-remap-cow-rule": lambda ns: [remap_cow_rule.check(ns["remap_cow_rule"])],
    "02-tail-check": lambda ns: [tail_check.check(ns["tail_range"])],
    "03-race-recheck": lambda ns: [race_recheck.check_own_race(ns["my_race"], ns["my_schedule"]),
                                   race_recheck.check_recheck(ns["still_ours"])],
    "04-private-data": lambda ns: [private_data.check(ns["first_read"])],
    "05-xip-layout": lambda ns: [xip_layout.check(ns["make_layout"]),
                                 xip_layout.check(ns["make_layout"], reads=True)],
    "06-mixedmap-plan": lambda ns: [mixedmap_plan.check(ns["text_offsets"])],
    "07-vma-lock-fallback": lambda ns: [vma_lock_fallback.check(ns["fault_lock"])],
}


def _work_cells(path: pathlib.Path, tag: str) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    cells = [c for c in nb.cells if tag in c.metadata.get("tags", [])]
    assert cells, f"{path.name}: no cell tagged {tag!r}"
    assert all(c.cell_type == "code" for c in cells)
    return [c.source for c in cells]


def _run_checks(path: pathlib.Path, tag: str) -> list:
    """Run the learner's cells (as handed out, or solved) and every check of the lab on them."""
    namespace: dict = {}
    for source in _work_cells(path, tag):
        exec(compile(source, str(path), "exec"), namespace)  # noqa: S102 - our notebooks
    return CHECKS[path.stem](namespace)


def test_there_are_seven_labs_each_with_its_solution():
    assert [p.stem for p in EXERCISES] == list(CHECKS)
    assert [p.name for p in SOLUTIONS] == [p.name for p in EXERCISES]


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_check_fails_on_the_exercise(name):
    for result in _run_checks(LABS_DIR / f"{name}.ipynb", "exercise"):
        assert not result.ok, str(result)


@pytest.mark.parametrize("name", list(CHECKS))
def test_the_check_passes_on_the_solution(name):
    for result in _run_checks(LABS_DIR / "solutions" / f"{name}.ipynb", "solution"):
        assert result.ok, str(result)


@pytest.mark.parametrize("name", list(CHECKS))
def test_exercise_and_solution_differ_only_in_the_work_cell(name):
    ex = nbformat.read(LABS_DIR / f"{name}.ipynb", as_version=4)
    so = nbformat.read(LABS_DIR / "solutions" / f"{name}.ipynb", as_version=4)
    assert len(ex.cells) == len(so.cells)
    for a, b in zip(ex.cells, so.cells, strict=True):
        if "exercise" in a.metadata.get("tags", []):
            assert b.metadata.get("tags") == ["solution"]
            assert a.source != b.source
        else:  # the same, but for links, which start one folder further down
            one_down = b.source.replace("](../../", "](../").replace("](../README.md)",
                                                                     "](README.md)")
            assert a.source == one_down and a.cell_type == b.cell_type
            assert "solution" not in b.metadata.get("tags", [])


@pytest.mark.parametrize("path", EXERCISES + SOLUTIONS + [LABS_DIR / "README.md"],
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_relative_links_lead_to_files(path):
    if path.suffix == ".md":
        texts = [path.read_text()]
    else:
        nb = nbformat.read(path, as_version=4)
        texts = [c.source for c in nb.cells if c.cell_type == "markdown"]
    for text in texts:
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if not target.startswith(("http://", "https://", "#")):
                assert (path.parent / target.split("#")[0]).exists(), f"{path.name}: {target}"


@pytest.mark.parametrize("path", EXERCISES + SOLUTIONS,
                         ids=lambda p: f"{p.parent.name}/{p.name}")
def test_lab_notebook_runs_and_is_stored_clean(path, tmp_path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, path.name
    client = NotebookClient(nb, timeout=120, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
              if o.output_type == "error"]
    assert not errors, errors
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                   for o in c.get("outputs", []) if o.output_type == "stream")
    if path.parent.name == "solutions":
        assert "Well done" in text
    else:
        assert "Well done" not in text


def test_the_labs_readme_lists_every_lab():
    readme = (LABS_DIR / "README.md").read_text()
    for path in EXERCISES:
        assert f"({path.name})" in readme and f"(solutions/{path.name})" in readme


# --- the checks themselves, against answers computed here -----------------------------------
def test_remap_cases_agree_with_the_rule_as_v415_writes_it():
    for (flags, start, end, pgoff, addr, size, pfn), expected in remap_cow_rule.cases():
        if flags & (VM_SHARED | VM_MAYWRITE) == VM_MAYWRITE:
            whole = addr == start and addr + -(-size // PAGE_SIZE) * PAGE_SIZE == end
            assert expected == (pfn if whole else -errno.EINVAL)
        else:
            assert expected == pgoff
    kinds = {(a[0], e < 0) for a, e in remap_cow_rule.cases()}
    assert len(kinds) >= 5  # refusals and successes of COW mappings, and the other kinds


def test_tail_answers_are_the_last_blocks_own_range_and_match_the_kernels_verdict():
    for case in tail_check.tail_cases():
        partial = case.i_size % PAGE_SIZE
        if not partial:
            assert case.expected is None and not case.shared
            continue
        start, length = case.expected
        assert length == PAGE_SIZE - partial and start % PAGE_SIZE == partial
        assert start - partial == (case.last_ptr & 0x3FFFFFFF) << 2
    cases = tail_check.tail_cases()
    kinds = {(c.expected is None, c.shared) for c in cases}
    assert kinds == {(True, False), (False, True), (False, False)}  # every kind of answer
    # the lab image's verdicts, as the predict question has them
    assert tail_check.shared_last_pages() == ["/bin/tiny", "/lib/libbig.so", "/lib/libmid.so"]
    lines = tail_check.verdicts()
    assert sum(line.endswith("shared: stays in RAM") for line in lines) == 3
    assert lines[0].startswith("file") and all(len(line) <= 88 for line in lines)
    assert "last_ptr=0xc0" in repr(tail_check.tail_cases()[0])  # pointers in hex
    assert "not written yet" in tail_check.verdicts(lambda i_size, ptr: (_ for _ in ()).throw(
        NotImplementedError()))[0]
    # a guess names the files however the learner writes them
    assert tail_check.as_paths(["bin/tiny", "libbig.so", "/lib/libmid.so", "nope"]) == [
        "/bin/tiny", "/lib/libbig.so", "/lib/libmid.so", "nope"]
    assert tail_check.as_paths(...) is ... and tail_check.as_paths(3) == 3
    # ... or as one text of names separated by spaces or commas
    assert tail_check.as_paths("/bin/tiny /lib/libbig.so, libmid.so") == [
        "/bin/tiny", "/lib/libbig.so", "/lib/libmid.so"]
    assert tail_check.as_paths("[]") == []


def test_tail_quiz_file_two_bytes_short_of_a_page_is_mapped_from_flash():
    """lab02/short-of-a-page: a file 2 bytes short of 4 pages, another file after it: the
    padding to 4 bytes reaches the page's end, so its last page is not shared; 4 bytes short,
    the next file's pointers begin inside that page."""
    from mmlab.cramfs.tree import Dir, File
    from mmlab.cramfs.writer import build_image

    def image(size):
        return build_image(Dir({"lib": Dir({"libodd.so": File(b"\x01" * size, mode=0o755),
                                            "libz.so": File(b"\x02" * 3000, mode=0o755)})}),
                           endian="little", xip=("lib/*",))
    assert tail_check.shared_last_pages(image(4 * PAGE_SIZE - 2)) == []
    assert tail_check.shared_last_pages(image(4 * PAGE_SIZE - 4)) == ["/lib/libodd.so"]


def test_a_schedule_replays_what_explore_found_and_bad_ones_are_refused():
    rep = race_recheck.replay("munmap in the window", [0, 0, 0, 1])
    assert rep.run is not None and rep.broken and "NULL" in rep.broken[0]
    assert "BROKEN here: oops" in str(rep)  # under the step it broke in
    assert race_recheck.replay("munmap in the window", [1, 1]).problem
    assert "not a thread" in (race_recheck.replay("munmap in the window", [0, 5]).problem or "")
    assert race_recheck.replay("munmap in the window", [0] * 20).run is None
    assert race_recheck.check_recheck(race_recheck.v3_still_ours).ok
    seed = race_recheck.check_recheck(lambda vma, address, file: vma.vm_ops is CRAMFS_VMASPLIT_OPS)
    assert not seed.ok and "AttributeError" in str(seed)
    own = race_recheck.replay((Fault(3), Munmap(0, 3)), [0, 0, 0, 1])
    assert own.broken and "your race" in str(own)
    # the re-check's failure names the whole call: the VMA, the address in hex, the file
    half = race_recheck.check_recheck(
        lambda vma, address, file: vma is not None and vma.vm_ops is CRAMFS_VMASPLIT_OPS)
    assert re.search(r"still_ours\(vma=Vma\(0x[0-9a-f]+-.*\), address=0x[0-9a-f]+, "
                     r"file=File\('/mnt/lib/libc.so.6'\)\) returned True; expected False",
                     str(half).replace("\n  ", " ")), str(half)
    # a replay that ends in VM_FAULT_OOM says what OOM is
    oom = race_recheck.replay((Fault(4), Mprotect(4, 1)), [0, 0, 0, 1])
    assert "OOM" in oom.run.outcomes and "split_vma failed" in str(oom)
    assert "VM_FAULT_OOM" not in str(rep)


def test_the_file_page_guess_is_read_as_the_lines_name_it():
    assert race_recheck.as_file_page("file page 3") == 3
    assert race_recheck.as_file_page(" Page 4 ") == 4
    assert race_recheck.as_file_page("zeros") == "zeros" and race_recheck.as_file_page(3) == 3


def test_unmapping_the_first_page_makes_the_seeds_split_point_stale_without_a_race():
    assert race_recheck.unmap_first_page("split", (4, 3, 1)) == [
        "page 4: file page 3", "page 3: zeros", "page 1: file page 1"]
    assert race_recheck.unmap_first_page("split-v3", (4, 3)) == [
        "page 4: file page 4", "page 3: file page 3"]


@pytest.mark.parametrize(("threads", "schedule", "why"), [
    ((Fault(3), Munmap(0, 5)), [0, 0, 0, 1], "chapter's race 'munmap in the window'"),
    ((Fault(4), Munmap(0, 5)), [0, 0, 0, 1], "already puts munmap pages 0-4 in the window"),
    ((Fault(4), Munmap(0, 1)), [1], "does not run in the handler's window"),
    ((Fault(4), Munmap(0, 1)), [0, 0, 0, 1], "nothing breaks under the seed"),
    ((Fault(4), Munmap(3, 1)), [0, 0, 0, 1], None),  # the split point now below the VMA
    ((Fault(3),), [0], "two threads"),
    ((Fault(3), Fault(4)), [0], "two threads"),
    ((Fault(3), Munmap(0, 3)), [1, 1], "cannot run"),
    ((Fault(4), Munmap(7, -1)), [0, 0, 0, 1], "Munmap(7, -1): thread 1's call must name pages"),
    ((Fault(4), Mprotect(3, 0)), [0, 0, 0, 1], "Mprotect(3, 0): thread 1's call must name"),
    ((Fault(4), Munmap(3, 3)), [0, 0, 0, 1], "none past page 4"),
])
def test_a_race_of_ones_own_must_be_new_in_the_window_and_break_only_the_seed(threads, schedule,
                                                                              why):
    result = race_recheck.check_own_race(threads, schedule)
    if why is None:
        assert result.ok, str(result)
    else:
        assert not result.ok and why in " ".join(str(result).split()), str(result)
    assert race_recheck.check_own_race((Fault(3), Munmap(0, 3)), [0, 0, 0, 1]).ok
    assert race_recheck.check_own_race((Fault(4), Mprotect(0, 3)), [0, 0, 0, 1]).ok


@pytest.mark.parametrize(("page", "why"), [
    (9, "page 9 is outside the mapping (pages 0 to 4)"),
    (5, "page 5 is outside the mapping (pages 0 to 4)"),
    (-1, "page -1 is outside the mapping (pages 0 to 4)"),
    (1, "page 1 is mapped from flash since the mmap (pages 0 to 2)"),
])
def test_a_fault_where_no_handler_runs_is_named_as_such(page, why):
    """A fault outside the 5-page mapping, or on a page mapped from flash, never reaches the
    split handler: the check says so, not that the call missed the window."""
    result = race_recheck.check_own_race((Fault(page), Munmap(3, 1)), [0, 0, 0, 1])
    (problem,) = result.problems
    assert problem.startswith(f"Fault({page}): {why}: ") and "handler" in problem, problem
    assert result.seed is None and not result.ok


def test_private_data_cases_hold_each_form_breaking_where_the_other_survives():
    cases = private_data.first_read_cases()
    assert len(cases) == 330
    reads = dict(cases)
    right = {a: r == a[5] for a, r in cases}
    # the seed survives a move and an untouched bottom; v3 survives an unmapped bottom
    assert all(right[a] for a in reads if a[0] == "seed" and (a[3] == "mremap" or a[4] == 0))
    assert all(right[a] for a in reads if a[0] == "v3" and a[3] == "munmap")
    seed_unmap = [(a, r) for a, r in cases if a[0] == "seed" and a[3] == "munmap" and a[4]]
    wrong = [a for a, r in seed_unmap if isinstance(r, int) and r != a[5]]
    below = [a for a, r in seed_unmap if r == "SIGSEGV" and a[5] < a[4] + a[1] < a[2]]
    past = [a for a, r in seed_unmap if r == "SIGSEGV" and a[4] + a[1] >= a[2]]
    assert wrong and below and past
    # v3 after a move: every page past the XIP part gets a signal, by direction
    for a, r in cases:
        if a[0] == "v3" and a[3] == "mremap" and a[5] >= a[1]:
            assert r == ("SIGBUS" if a[4] > 0 else "SIGSEGV"), a
    assert reads[("seed", 3, 5, "munmap", 1, 4)] == 3 and reads[("v3", 3, 5, "munmap", 1, 4)] == 4
    # the first prediction: two pages unmapped, the split point lands on vm_end
    assert reads[("seed", 3, 5, "munmap", 2, 3)] == reads[("seed", 3, 5, "munmap", 2, 4)] == \
        "SIGSEGV"
    assert reads[("v3", 3, 5, "munmap", 2, 3)] == 3 and reads[("seed", 3, 5, "munmap", 1, 3)] == \
        "SIGSEGV"
    first = private_data.read_after("seed", 3, 5, "munmap", 2, 3)
    assert "split=0x40005000" in first.kernel_log[0] and "40002000-40005000" in first.maps_before
    assert reads[("v3", 3, 5, "mremap", 8, 3)] == "SIGBUS"
    assert reads[("seed", 3, 5, "mremap", 8, 3)] == 3
    moved = private_data.read_after("v3", 3, 5, "mremap", 8, 3)
    assert "split=0x40003000" in moved.kernel_log[0] and " 00008000 " in moved.maps_after


def test_private_data_check_is_fair_to_right_answers_written_otherwise():
    def right(form, xip_pages, vma_pages, change, amount, page):
        if page < xip_pages:
            return str(page)
        if form == "seed":
            split, pgoff = xip_pages + (amount if change == "munmap" else 0), xip_pages
        else:
            start = amount if change == "munmap" else 0
            split = xip_pages - (amount if change == "mremap" else 0)
            pgoff, split = xip_pages + max(0, start - split), max(split, start)
        if split >= vma_pages or page < split:
            return "segv"
        return pgoff + page - split if pgoff + page - split < vma_pages else "sigbus"
    assert private_data.check(right).ok
    assert private_data.same_read("SIGSEGV", "SIGSEGV") and private_data.same_read("0x3", 3)
    assert not private_data.same_read(True, 1) and not private_data.same_read("SIGBUS", "SIGSEGV")
    bad = private_data.check(lambda form, x, n, change, amount, p: p)
    assert not bad.ok and "first_read(form='seed'" in str(bad) and "expected" in str(bad)


def test_private_data_guesses_read_as_the_runs_print_them():
    from mmlab.viz.quiz import compare_guess
    assert private_data.as_read("segv") == private_data.as_read(" SigSegv") == "SIGSEGV"
    assert private_data.as_read("bus") == "SIGBUS" and private_data.as_read("file page 3") == 3
    assert private_data.as_read("zeros") == "zeros" and private_data.as_read(3) == 3
    line = compare_guess("segv", "SIGSEGV", "what the read shows", read_as=private_data.as_read,
                         show=private_data.read_text)
    assert line == "Your guess 'segv' (read as 'SIGSEGV') is right: what the read shows is SIGSEGV."
    assert private_data.read_text(3) == "file page 3"


def test_private_data_schedule_refuses_impossible_arguments():
    with pytest.raises(ValueError, match="form must be"):
        private_data.read_after("v4")
    with pytest.raises(ValueError, match="amount .pages unmapped. <= page"):
        private_data.read_after("seed", 3, 5, "munmap", amount=2, page=1)
    with pytest.raises(ValueError, match="onto the old place"):
        private_data.read_after("seed", 3, 5, "mremap", amount=2, page=1)
    with pytest.raises(ValueError, match="change must be"):
        private_data.read_after("seed", 3, 5, "mprotect", amount=1, page=1)
    with pytest.raises(ValueError, match="xip_pages < file_pages"):
        private_data.lab_image(5, 5)


def test_the_largest_split_pgoff_is_4096_and_v3_cannot_pack_it():
    assert private_data.MAX_FILE_PAGES == 4096
    seed = private_data.map_past_the_end("seed")
    assert seed.value == 4096 + (4096 << 16) and seed.refused is None
    assert any("4096/4098 pages" in line for line in seed.kernel_log)
    v3 = private_data.map_past_the_end("v3")
    assert v3.value is None and "12 bits" in (v3.refused or "")
    # no split point when the VMA is no longer than the file
    whole = private_data.map_past_the_end("seed", vma_pages=4096)
    assert whole.value is None and "no split point packed" in str(whole)
    # the quiz lab04/which-overflows: only the last file of 16 MiB - 100 bytes overflows
    mib16 = 16 << 20
    assert "does not fit in 12 bits" in (private_data.map_past_the_end(
        "v3", 4100, file_size=mib16 - 100).refused or "")
    for size, followed in ((mib16 - 100, True), (mib16 - PAGE_SIZE, False)):
        fits = private_data.map_past_the_end("v3", 4100, file_size=size, followed=followed)
        assert fits.refused is None and fits.value is not None
        assert private_data.v3_decode(fits.value)[0] == 4095
        assert "split_pgoff 4095, split point 0x40fff000" in str(fits)
    with pytest.raises(ValueError, match="file_size must be"):
        private_data.map_past_the_end("v3", file_size=1 << 24)
    # v3's own expression mixes the fields: pgoff 0, the split one page up (even page number)
    value = private_data.v3_split_val(4096, 4096, 0x40000000)
    assert private_data.v3_decode(value) == (0, 0x41001000)
    assert private_data.v3_decode(private_data.v3_split_val(4095, 4096, 0x40000000)) == (
        4095, 0x41000000)


def test_layout_check_reports_problems_instead_of_raising():
    from mmlab.cramfs.tree import Dir
    assert "no regular file" in str(xip_layout.check(lambda: (Dir({}), ())))
    assert "must return" in str(xip_layout.check(lambda: Dir({})))

    def not_done():
        raise NotImplementedError
    assert not xip_layout.check(not_done).ok


def test_loader_cases_cover_every_outcome_and_the_labs_story():
    cases = mixedmap_plan.cases()
    by_kind = {}
    for (strategy, file_pages, xip_pages, data_from, flash), offsets in cases:
        kind = ("whole" if xip_pages == file_pages else "none" if xip_pages == 0
                else "split past" if strategy == "split" and data_from > xip_pages
                else "part")
        by_kind.setdefault((strategy, kind), set()).add(len(offsets))
        if flash is None:
            assert xip_pages == 0 and offsets == [0]
    # every strategy meets a whole, a partial and a compressed file; only the split makes two
    # read+exec VMAs, and only when a page past the XIP part is read
    for strategy in mixedmap_plan.STRATEGIES:
        for kind in ("whole", "none", "part"):
            assert by_kind[(strategy, kind)] == {1}, (strategy, kind)
    assert by_kind[("split", "split past")] == {2}
    # the lab's two predictions: libc after the loader's MAP_FIXED, mixed map and split
    merged = mixedmap_plan.LoadedLibrary("/lib/libc.so.6", 3, "mixedmap")
    split = mixedmap_plan.LoadedLibrary("/lib/libc.so.6", 3, "split")
    assert merged.text_offsets == [0]
    assert split.text_offsets == [0x0800E000]
    assert not any("fault:" in line for line in split.log)
    assert len(merged.maps) == len(split.maps) == 2


def test_loader_refuses_a_data_mapping_outside_the_file():
    with pytest.raises(ValueError, match="data_from=0.*1 to 5"):
        mixedmap_plan.LoadedLibrary("/lib/libc.so.6", 0)
    with pytest.raises(ValueError, match="data_from=6"):
        mixedmap_plan.LoadedLibrary("/lib/libc.so.6", 6)


def test_plausible_wrong_answers_fail_the_loader_check():
    """A function that forgets the fault-time split, or treats the mixed map like the split,
    or reads the offset from the data mapping, does not pass."""
    def no_split(strategy, file_pages, xip_pages, data_from, flash):
        if xip_pages == file_pages:
            return [flash]
        return [flash] if strategy == "split" and xip_pages else [0]

    def mixed_like_split(strategy, file_pages, xip_pages, data_from, flash):
        if xip_pages == file_pages:
            return [flash]
        if xip_pages == 0 or strategy == "refuse":
            return [0]
        return [flash, xip_pages * PAGE_SIZE] if data_from > xip_pages else [flash]

    for wrong in (no_split, mixed_like_split):
        result = mixedmap_plan.check(wrong)
        assert not result.ok and "expected" in str(result), wrong.__name__
    # counts of pages in decimal, the flash address and the offsets in hex
    report = str(mixedmap_plan.check(lambda strategy, file_pages, xip_pages, data_from, flash:
                                     [0])).replace("\n  ", " ")
    assert re.search(r"file_pages=4, xip_pages=4, data_from=1, flash=0x8001000\) returned "
                     r"\[0x0\]; expected \[0x8001000\]", report), report


def test_xip_facts_show_the_flash_address_in_hex():
    lib = mixedmap_plan.LoadedLibrary("/lib/ld-tail.so")
    facts = mixedmap_plan.xip_facts(lib.sb, "/lib/ld-tail.so")
    assert facts == (3, 2, 0x800B000) and facts.flash_address == 0x800B000
    assert repr(facts) == "XipFacts(file_pages=3, xip_pages=2, flash_address=0x800b000)"


def _libc_layout(size, libm_dir="lib"):
    """A lab-05 layout: libc one read-only segment of ``size`` bytes, libm in ``libm_dir``."""
    from mmlab.cramfs.elf import PF_R, PF_X, make_elf
    from mmlab.cramfs.tree import Dir, File

    def make_layout():
        libc = make_elf([(PF_R | PF_X, 0, size)], size, fill=b"libc ")
        libm = make_elf([(PF_R | PF_X, 0, PAGE_SIZE + 300)], PAGE_SIZE + 300, fill=b"libm ")
        dirs: dict = {"bin": {}, "lib": {"libc.so.6": File(libc)}}
        dirs[libm_dir]["libm.so.6"] = File(libm)
        return Dir({k: Dir(v) for k, v in dirs.items()}), ("bin/*", "lib/*")
    return make_layout


def test_layout_check_reads_each_page_and_finds_v415s_zero_last_page():
    whole = _libc_layout(5 * PAGE_SIZE)
    assert xip_layout.check(whole).ok  # part 1: every page from flash
    read = xip_layout.check(whole, reads=True)
    assert read.flash == 5 and not read.ok and not read.reads_right
    assert read.reads == ("right",) * 4 + ("zeros",)
    assert "page 4: flash; read(2) gives zeros" in str(read)
    # a libc that ends inside its last page reads right, if nothing follows it in that page
    assert not xip_layout.check(_libc_layout(4 * PAGE_SIZE + 600)).ok  # libm's pointers follow
    assert xip_layout.check(_libc_layout(4 * PAGE_SIZE + 600, "bin"), reads=True).ok
    assert xip_layout.check(_libc_layout(5 * PAGE_SIZE - 1), reads=True).ok  # pointers: next page
    assert xip_layout.check(_libc_layout(5 * PAGE_SIZE - 4)).flash == 4  # pointers: same page
    assert xip_layout.check(whole).reads == ()  # part 1 does not read


def test_labs_package_lists_its_modules():
    import mmlab.labs
    assert set(mmlab.labs.LABS) == {p.stem for p in pathlib.Path(mmlab.labs.__file__).parent
                                    .glob("*.py") if p.stem != "__init__"}
    assert mmlab.labs.tail_check is tail_check


def test_vma_lock_cases_follow_the_6_12_rules_written_out_here():
    """The fallback rules of chapter 9, written independently of the lab's solution."""
    for (kind, access, anon_vma, cached, writer), lock in vma_lock_fallback.cases():
        no_vma_lock = kind == "gap" or writer == "this"
        no_map_pages = kind == "split"
        anon_page = access == "write" and kind in ("anon", "file")
        needs_mmap = anon_page and not anon_vma and writer is not None
        cold = kind == "file" and not cached
        expected = "mmap_lock" if (no_vma_lock or no_map_pages or needs_mmap or cold) else "vma"
        assert lock == expected, (kind, access, anon_vma, cached, writer)


def test_the_2017_handler_with_map_pages_oopses_on_6_12():
    seen = vma_lock_fallback.handler_with_map_pages()
    assert str(seen).startswith("oops: mmap_read_unlock(mmap_lock) without a read hold")
    assert seen.call == "mmap_read_unlock"  # its first line, up_read(&mm->mmap_sem)
    # the 2017 name is told with the result (not in the notebook's code, above the guess)
    assert str(seen).endswith("(mmap_read_unlock is 6.12's name for the 2017 code's up_read)")
    assert str(vma_lock_fallback.HandlerRun("no oops: done", "")) == "no oops: done"
    for guess in ("up_read", "up_read(&mm->mmap_sem)", " mmap_read_unlock ", " Up_Read "):
        assert vma_lock_fallback.as_6_12(guess) == seen.call
    assert vma_lock_fallback.as_6_12("split_vma") == "split_vma"
    assert vma_lock_fallback.as_6_12(...) is Ellipsis


def test_the_map_pages_guess_is_echoed_in_the_learner_s_words():
    """lab07-14 as the cold trial wrote it: the echo is what the learner typed, the 6.12 name
    in brackets; case and spaces do not matter."""
    from mmlab.viz.quiz import compare_guess

    what = "the first call that goes wrong (in 6.12's names)"
    seen = vma_lock_fallback.handler_with_map_pages()

    def line(guess):
        return compare_guess(guess, seen.call, what, read_as=vma_lock_fallback.as_6_12)

    assert line("down_write_killable").startswith(
        "You guessed 'down_write_killable' (read as 'mmap_write_lock_killable');")
    assert line("up_read").startswith("Your guess 'up_read' (read as 'mmap_read_unlock') is right")
    assert line(" Up_Read ").startswith("Your guess 'Up_Read' (read as 'mmap_read_unlock') is")
    assert line("split_vma").startswith("You guessed 'split_vma';")


def test_vma_lock_check_names_the_rule_that_decides_a_failing_case():
    """The natural first attempt (the four rules, no zero page) fails on reads of fresh
    anonymous memory: the check says the zero page decides them."""
    lab = vma_lock_fallback

    def four_rules(kind, access, anon_vma, cached, writer):
        if kind == "gap" or writer == "this" or kind == "split":
            return "mmap_lock"
        if not anon_vma and writer is not None:  # forgets that a read needs no anon_vma
            return "mmap_lock"
        return "mmap_lock" if kind == "file" and not cached else "vma"

    result = lab.check(four_rules)
    assert (result.passed, result.total) == (81, 84)  # as the cold trial found
    assert "access='read'" in result.first_failure and "What decides it: the zero page" in \
        result.first_failure
    rules = {args: lab.decide(*args)[1] for args, _ in lab.cases()}
    assert rules[("anon", "read", False, False, "other")] == "zero-page"
    assert rules[("file", "write", False, False, "other")] == "anon-vma-trylock"
    assert rules[("file", "read", False, False, None)] == "cold-page"
    assert rules[("split", "read", True, True, None)] == "no-map-pages"
    assert rules[("gap", "write", True, True, None)] == "no-vma-lock"
    assert rules[("anon", "write", False, False, None)] == "anon-vma-made"
    assert set(rules.values()) == set(lab.RULES)
    assert str(lab.check(lambda *a: "vma")).count("What decides it:") == 1


def test_vma_lock_check_of_an_answer_that_is_no_lock_says_only_that():
    """True or None is no lock's name: the check says what fault_lock answers with, and no
    rule (the rule of the failing case has nothing to do with the mistake)."""
    for wrong in (True, None, "VMA lock"):
        text = " ".join(str(vma_lock_fallback.check(lambda *a, w=wrong: w)).split())
        assert text.endswith('fault_lock answers with the name of a lock: "vma" or '
                             '"mmap_lock".'), text
        assert "What decides it" not in text
    assert "What decides it" not in str(vma_lock_fallback.check(lambda *a: 1 // 0))
    assert "What decides it" in str(vma_lock_fallback.check(lambda *a: "MMAP_LOCK"))
