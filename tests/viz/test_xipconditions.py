"""mmlab.viz.xipconditions: which check of cramfs_physmem_mmap stops a mapping, as a learner
drives it."""

import json
import re
from pathlib import Path

import pytest

from mmlab.constants import MAP_PRIVATE, PAGE_SIZE, PROT_EXEC, PROT_READ, VM_MIXEDMAP, VM_PFNMAP
from mmlab.cramfs.reader import open_image
from mmlab.scenarios import SCENARIOS, run_scenario, scenario_image
from mmlab.system import System
from mmlab.viz.xipconditions import (
    PAGE_KINDS,
    PROTS,
    STAGES,
    STATUS_KINDS,
    InPlaceDrill,
    XipConditionsExplorer,
    bailout_cases,
    captured_errors,
    check_bailout_reason,
    format_captured_errors,
    hand_made_vma,
    misalign_first_pointer,
    regular_files,
    xip_decision,
)
from mmlab.xip import mount
from tests.viz.drawn import look

CAPTURES = Path(__file__).resolve().parents[2] / "data" / "kernel-captures" / "xip-scenarios.json"
_PROT_NAME = {v: k for k, v in PROTS.items()}
_FLAG_NAME = {MAP_PRIVATE: "MAP_PRIVATE", 1: "MAP_SHARED"}


def reason_of(lines):
    for line in lines:
        m = re.search(r"direct mmap (?:impossible|failed): (.*)$", line)
        if m:
            return m.group(1)
    return None


def settings_of(sc):
    return dict(path=sc.path, pgoff=sc.offset // PAGE_SIZE, pages=sc.pages,
                prot=_PROT_NAME[sc.prot], flags=_FLAG_NAME[sc.flags], open_write=sc.open_write)


@pytest.fixture(scope="module")
def explorer():
    e = XipConditionsExplorer()
    e.widget()
    return e


def test_default_is_libc_mapped_in_part(explorer):
    explorer.set(**settings_of(SCENARIOS[1]), strategy="mixedmap")
    d = explorer.decision
    assert (d.stage, d.outcome, d.in_place, d.pages) == ("map", "vm_insert_mixed", 3, 5)
    assert d.vm_flags & VM_MIXEDMAP and not d.vm_flags & VM_PFNMAP
    assert "(3/5 pages)" in d.kernel_log[-1] and "3/5 page(s) in place" in explorer.text
    assert [d.status(k) for k, _ in STAGES] == ["pass"] * len(STAGES)


@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_every_scenario_logs_what_run_scenario_logs(explorer, sc):
    explorer.set(strategy="mixedmap", **settings_of(sc))
    run = run_scenario(sc, "mixedmap")
    d = explorer.decision
    strip = re.compile(r"vma 0x[0-9a-f]+")
    assert [strip.sub("vma", x) for x in d.kernel_log] == \
        [strip.sub("vma", x) for x in run.kernel_log]
    assert d.reason == reason_of(run.kernel_log)
    if run.open_error or run.mmap_error:
        assert (d.stage, d.outcome) == ("vfs", run.open_error or run.mmap_error)
    else:
        mapped = re.search(r"\((\d+)/(\d+) pages\)", " ".join(run.kernel_log))
        assert d.in_place == (int(mapped.group(1)) if mapped else 0)
        assert d.in_place == run.ram.flash  # touching the other pages adds none on flash


def test_the_real_kernel_stopped_at_the_same_check(explorer):
    capture = json.loads(CAPTURES.read_text())
    for sc in capture["scenarios"]:
        explorer.set(strategy="mixedmap", path=sc["path"], pgoff=sc["offset"] // PAGE_SIZE,
                     pages=-(-sc["length"] // PAGE_SIZE), prot=_PROT_NAME[sc["prot"]],
                     flags=_FLAG_NAME[sc["flags"]], open_write=sc["open_write"])
        d = explorer.decision
        assert d.reason == reason_of(sc["kernel_log"]), sc["name"]
        errno_name = sc["open_errno"] or sc["mmap_errno"]
        if errno_name:
            assert (d.stage, d.outcome) == ("vfs", errno_name), sc["name"]
        else:
            dropped = any(x.endswith("last page is shared") for x in sc["kernel_log"])
            assert d.last_page_dropped == dropped, sc["name"]


@pytest.mark.parametrize("settings, stage, outcome", [
    (dict(path="/bin/xipexe", pgoff=0, pages=4, prot="r-x"), "map", "remap_pfn_range"),
    (dict(path="/bin/xipexe", pgoff=0, pages=4, prot="rw-"), "vma is writable", "bailout"),
    (dict(path="/bin/xipexe", pgoff=4, pages=1, prot="r--"), "beyond file limit", "bailout"),
    (dict(path="/etc/motd.txt", pgoff=0, pages=2, prot="r--"), "unsuitable block layout",
     "bailout"),
    (dict(path="/lib/ld-tail.so", pgoff=2, pages=1, prot="r--"),
     "no suitable block remaining", "bailout"),
    (dict(path="/lib/gappy.so", pgoff=1, pages=1, prot="r--"), "unsuitable block layout",
     "bailout"),
    (dict(path="/bin/xipexe", pgoff=0, pages=4, prot="rw-", flags="MAP_SHARED"), "vfs",
     "EACCES"),
    (dict(path="/bin/xipexe", pgoff=0, pages=4, prot="rw-", flags="MAP_SHARED",
          open_write=True), "vfs", "EROFS"),
])
def test_each_check_is_reached(explorer, settings, stage, outcome):
    base = dict(flags="MAP_PRIVATE", open_write=False, strategy="mixedmap")
    explorer.set(**{**base, **settings})
    d = explorer.decision
    assert (d.stage, d.outcome) == (stage, outcome)
    fired = [k for k, _ in STAGES if d.status(k) == "fired"]
    assert fired == ([] if outcome == "remap_pfn_range" else [stage])
    assert all(d.status(k) == "not reached"
               for k, _ in STAGES[[k for k, _ in STAGES].index(stage) + 1:])


def test_unaligned_data_needs_a_corrupt_image():
    image = scenario_image()
    bad = misalign_first_pointer(image, "/bin/xipexe")
    assert len(bad) == len(image) and sum(a != b for a, b in zip(bad, image, strict=True)) == 1
    assert open_image(bad).crc_ok() is False  # the CRC is stale; the kernel never checks it
    e = XipConditionsExplorer(bad, path="/bin/xipexe", pages=4)
    assert e.decision.stage == "data is not page aligned"
    assert e.decision.kernel_log[-1].endswith("direct mmap impossible: data is not page aligned")
    with pytest.raises(ValueError, match="not a direct XIP pointer"):
        misalign_first_pointer(image, "/etc/motd.txt")
    with pytest.raises(ValueError, match="multiple of 4"):
        misalign_first_pointer(image, "/bin/xipexe", 2)


def test_refuse_strategy_says_fix_me_where_v415_maps_in_part(explorer):
    explorer.set(path="/lib/libc.so.6", pgoff=0, pages=5, prot="r-x", flags="MAP_PRIVATE",
                 open_write=False, strategy="refuse")
    d = explorer.decision
    assert (d.stage, d.outcome, d.reason, d.in_place) == ("map", "refused", "fix me", 0)
    assert d.status("map") == "fired" and "fix me" in explorer.text
    explorer.set(path="/bin/xipexe", pages=4)
    assert (explorer.decision.outcome, explorer.decision.in_place) == ("remap_pfn_range", 4)


def test_picture_changes_and_static_fallback(explorer):
    explorer.set(path="/bin/xipexe", pgoff=0, pages=4, prot="r-x", flags="MAP_PRIVATE",
                 open_write=False, strategy="mixedmap")
    before = explorer.png()
    explorer.set(prot="rw-")
    assert explorer.png() != before
    assert "image/png" in explorer._repr_mimebundle_()
    assert explorer.update_times and max(explorer.update_times) < 1.0


def test_unknown_file_is_named():
    with pytest.raises(ValueError, match="there are: /bin/xipexe"):
        XipConditionsExplorer(path="/nope")


def test_xip_decision_leaves_the_process_clean():
    sb = mount(scenario_image(), None, "mixedmap", system=System())
    assert regular_files(sb)[0].startswith("/")
    a = xip_decision(sb, "/lib/libc.so.6", 0, 5, PROT_READ | PROT_EXEC)
    b = xip_decision(sb, "/lib/libc.so.6", 0, 5, PROT_READ | PROT_EXEC)
    assert a == b


def reference(writable, pgoff, vma_pages, max_pages, run, aligned, last_page_shared):
    if writable:
        return "vma is writable"
    if pgoff >= max_pages:
        return "beyond file limit"
    if not run:
        return "unsuitable block layout"
    if not aligned:
        return "data is not page aligned"
    if pgoff + run == max_pages and last_page_shared:
        run -= 1
    if not run:
        return "no suitable block remaining"
    return None


def test_bailout_cases_come_from_the_model_and_cover_every_reason():
    cases = bailout_cases()
    answers = {expected for _, expected in cases}
    assert answers == {None, "vma is writable", "beyond file limit", "unsuitable block layout",
                       "data is not page aligned", "no suitable block remaining"}
    assert len({args for args, _ in cases}) == len(cases)
    assert check_bailout_reason(reference).ok
    wrong = check_bailout_reason(lambda *a: None if a[0] else reference(*a))
    assert not wrong.ok and "returned None" in str(wrong)
    assert check_bailout_reason(lambda *a: ...).not_done


def test_drill_is_seeded_and_answered_by_the_model():
    a, b = InPlaceDrill(5), InPlaceDrill(5)
    assert a.problem() == b.problem() and a.answer() == b.answer()
    for _ in range(8):
        text = a.problem()
        path = re.search(r"of (/\S+) from", text).group(1)
        pgoff = int(re.search(r"file page (\d+)", text).group(1))
        pages = int(re.search(r"mmap\((\d+) page", text).group(1))
        e = XipConditionsExplorer(path=path, pgoff=pgoff, pages=pages, prot="r-x")
        assert a.check(e.decision.in_place) and a.check(str(e.decision.in_place))
        assert not a.check(e.decision.in_place + 1) and not a.check("many")
        a.next()


def test_drill_feedback_and_explain_name_the_check_that_decided():
    d = InPlaceDrill(2017)
    seen = set()
    for _ in range(30):
        decision = d.decision
        answer = d.answer()
        assert answer == decision.in_place
        text = d.explain()
        assert decision.path in text and all(line in text for line in decision.kernel_log)
        if decision.outcome == "bailout":
            assert f"the check {decision.reason!r} stops it" in text.lower()
        else:
            assert f"map {answer}" in text or f"maps all {answer}" in text
        seen.add(decision.outcome)
        right = d.feedback(str(answer))
        assert right.startswith("Right. ") and text.split("\n")[1] in right
        wrong = d.feedback(answer + 1)
        assert wrong.startswith(f"Not quite: you wrote {answer + 1}, the model maps {answer}")
        assert "drill.explain()" in wrong
        assert "Not answered yet" in d.feedback(...)
        assert "'many'" in d.feedback("many") and "whole number" in d.feedback(True)
        d.next()
    assert seen >= {"bailout", "remap_pfn_range", "vm_insert_mixed"}


def test_explorer_says_when_it_brings_a_typed_number_into_range():
    e = XipConditionsExplorer()
    e.widget()
    for name, typed, used in (("pgoff", 99, 16), ("pgoff", -1, 0), ("pages", 100000, 8),
                              ("pages", 0, 1)):
        e.set(**{name: typed})
        assert e.state[name] == used and e.controls[name].value == used
        assert e.text.splitlines()[0] == (f"You typed {name} {typed}; this explorer takes "
                                          f"{e.LIMITS[name][0]} to {e.LIMITS[name][1]}, so it "
                                          f"uses {used}.")
        assert e.layout_problems() == []
    e.set(pages=3)
    assert "You typed" not in e.text and e.decision.pages == 3
    with pytest.raises(ValueError, match="pgoff 17: the explorer takes 0 to 16"):
        XipConditionsExplorer(pgoff=17)


def test_hand_made_vma_is_fresh_each_time():
    from mmlab.memory import remap_pfn_range

    for _ in range(2):  # the chapter's cell, run twice
        mm, vma, pfn = hand_made_vma()
        assert vma.vm_mm is mm and vma.vm_pgoff == 0 and pfn == mm.physmem.flash_phys >> 12
        assert remap_pfn_range(vma, vma.vm_start, pfn, 4 * PAGE_SIZE, vma.vm_page_prot) == 0
        assert vma.vm_pgoff == pfn


def test_captured_errors_in_words():
    lines = format_captured_errors().splitlines()
    assert lines[0].startswith("shared-writable") and "open: EROFS" in lines[0]
    assert "mmap: not tried (open failed)" in lines[0] and "None" not in lines[0]
    assert "open: succeeded" in lines[1] and "mmap: EACCES" in lines[1]


def test_captured_errors_are_what_the_model_answers():
    got = captured_errors()
    assert [g[0] for g in got] == ["shared-writable", "shared-write-readonly-fd"]
    for name, open_errno, mmap_errno, log in got:
        run = run_scenario(name)
        assert (open_errno, mmap_errno, log) == (run.open_error, run.mmap_error, ())


# --- the picture ---------------------------------------------------------------------------------
def test_picture_reads_right_for_every_file_offset_length_and_driver():
    e = XipConditionsExplorer()
    for strategy in ("mixedmap", "refuse"):
        for path in e.files:
            for pgoff in (0, 2, 7):
                for pages in (1, 3, 8):
                    e.set(strategy=strategy, path=path, pgoff=pgoff, pages=pages)
                    pic = look(e)
                    assert pic.problems == [], (strategy, path, pgoff, pages)
                    assert pic.used == pic.legend  # exactly the kinds drawn
                    assert pic.smallest_font >= 7
                    # one label per page, on its own box, saying what the page is
                    kinds = e.page_kinds()
                    pages_drawn = sorted((lab for lab in pic.box_labels
                                          if lab.text.startswith("page ")),
                                         key=lambda lab: lab.centre[0])
                    assert [lab.text for lab in pages_drawn] == [
                        f"page {pgoff + i}\n{k}" for i, k in enumerate(kinds)]
                    d = e.decision
                    assert kinds.count("flash") == d.in_place
                    past = max(0, pgoff + pages - max(d.max_pages, pgoff))
                    if d.stage != "vfs":
                        assert kinds.count("past EOF") == past


def test_picture_kinds_follow_the_decision():
    e = XipConditionsExplorer()
    e.set(path="/lib/libc.so.6", pgoff=0, pages=5)
    pic = look(e)
    assert {"check-pass", "flash", "file"} == pic.used - {"check-fired"}
    e.set(path="/lib/ld-tail.so", pgoff=0, pages=3)  # the last page is left out
    pic = look(e)
    assert "check-trimmed" in pic.used and e.decision.last_page_dropped
    e.set(prot="rw-", flags="MAP_SHARED", path="/bin/xipexe", pages=4)  # EACCES: no VMA
    pic = look(e)
    assert {"check-fired", "check-not-reached", "no-vma"} <= pic.used
    assert "check-pass" not in pic.used and "flash" not in pic.used
    assert "vfs: fired" in e.alt_text() and "page 0 no VMA" in e.alt_text()
    # every filled kind looks different; the hollow dashed ones are what did not happen
    filled = [k for k in (*STATUS_KINDS.values(), *PAGE_KINDS.values()) if k.face is not None]
    assert len({(k.face, k.hatch) for k in filled}) == len(filled)
    assert {k.key for k in (*STATUS_KINDS.values(), *PAGE_KINDS.values())
            if k.face is None} == {"check-not-reached", "no-vma"}


def test_the_words_say_what_the_picture_draws_for_the_pages_not_in_place():
    e = XipConditionsExplorer()
    e.set(path="/bin/xipexe", pgoff=0, pages=5)  # 4 pages on flash, the 5th past the file
    head = e.describe().splitlines()[1]
    assert e.page_kinds()[-1] == "past EOF"
    assert "1 page lies past the end of the file" in head and "page cache" not in head
    e.set(path="/lib/libc.so.6", pgoff=0, pages=5)
    assert "the page cache serves 2 pages" in e.describe() and "past the end" not in e.describe()
    e.set(path="/bin/xipexe", pgoff=8, pages=1)  # beyond file limit: nothing to serve
    head = e.describe().splitlines()[1]
    assert "beyond file limit" in head and "page cache" not in head and "SIGBUS" in head
    e.set(path="/etc/motd.txt", pgoff=0, pages=3)
    assert "the page cache serves all 3 pages" in e.describe()
