"""mmlab.viz.compare: the strategies side by side, the summary table, the RAM drill, and the
model's replay of the real-kernel captures, driven as a learner drives them."""

import copy
import json
import pathlib

import pytest

from mmlab.constants import VM_MIXEDMAP, VM_PFNMAP
from mmlab.scenarios import SCENARIOS, run_scenario, scenario
from mmlab.viz import compare
from mmlab.viz.compare import (
    COLUMNS,
    PAGE_KINDS,
    VMA_KINDS,
    RamDrill,
    StrategyExplorer,
    StrategyRuns,
    capture_comparison,
    capture_scenarios,
    compare_capture,
    comparison_counts,
    data_dir,
    format_race_rows,
    format_rows,
    format_summary,
    load_capture,
    race_rows,
    ram_cases,
    replay_capture,
    summary_rows,
)
from mmlab.viz.quiz import check_function
from tests.viz.drawn import look

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def runs():
    return StrategyRuns()


def test_runs_are_kept_once_computed(runs):
    first = runs.get("libc-past-xip", "split")
    assert runs.get("libc-past-xip", "split") is first
    assert first.strategy == "split" and first.scenario.name == "libc-past-xip"


def test_explorer_shows_three_columns_and_follows_the_scenario(runs):
    e = StrategyExplorer("xip-executable", runs=runs)
    box = e.widget()
    assert e.strategies == COLUMNS
    before = e.png()
    text = e.text
    assert text.startswith("xip-executable:")
    for strategy in COLUMNS:
        assert f"--- {strategy} (" in text
    e.set(scenario="libc-past-xip")
    assert e.name == "libc-past-xip" and e.png() != before
    assert "libc-past-xip" in box.children[-1].value
    text = e.text
    # the split column has two VMAs after the touches, the merged one still one
    split, merged = run_scenario("libc-past-xip", "split"), run_scenario("libc-past-xip")
    assert len(split.maps_after) == 2 and len(merged.maps_after) == 1
    for line in split.maps_after + merged.maps_after:
        assert line in text
    assert "RAM 2 pages (page cache 2, anonymous 0), flash 3 pages" in text
    assert "RAM 5 pages (page cache 5, anonymous 0), flash 0 pages" in text  # refuse
    assert "r3:page cache 1M 0m" in text and "r0:flash 0M 0m" in text
    # the seed's split logs at fault time, the merged driver never does
    assert "cramfs: fault: addr=" in text
    assert sum(line.startswith("  log: cramfs: fault") for line in text.splitlines()) == 1
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text


def test_the_v3_column_comes_and_goes(runs):
    e = StrategyExplorer("last-page-shared", runs=runs)
    e.widget()
    three = e.png()
    e.set(**{"split-v3": True})
    assert e.strategies == ("refuse", "split", "split-v3", "mixedmap")
    assert "--- split-v3 (" in e.text and e.png() != three
    e.set(**{"split-v3": False})
    assert "split-v3" not in e.text


def test_vma_kinds_drawn_come_from_the_vmas(runs):
    run = runs.get("libc-past-xip", "split")
    spans = compare._vma_spans(run, after=False)
    assert [(a, b, kind) for a, b, _off, kind in spans] == [(0, 5, "pfnmap")]
    assert run.vmas[0].vm_flags & VM_PFNMAP or len(run.vmas) == 2
    merged = runs.get("libc-past-xip", "mixedmap")
    assert [k for *_x, k in compare._vma_spans(merged, after=True)] == ["mixed"]
    assert merged.vmas[0].vm_flags & VM_MIXEDMAP
    v3 = runs.get("libc-past-xip", "split-v3")
    after = compare._vma_spans(v3, after=True)
    assert [(a, b, k) for a, b, _o, k in after] == [(0, 3, "pfnmap"), (3, 5, "file")]
    assert after[1][2] == "00003000"  # the page-cache part shows the real file offset


def test_a_failed_open_is_drawn_as_such(runs):
    e = StrategyExplorer("shared-writable", runs=runs)
    assert e.text.count("open failed: EROFS") == 3
    e.png()
    pic = look(e)
    assert pic.problems == []
    rows = {t.get_text(): t.get_position()[1] for t in pic.texts}
    # the failure sits on the "after mmap" row, and the row below says nothing was touched
    assert rows["open failed: EROFS"] == rows["after mmap"]
    assert rows["no mapping, nothing touched"] == rows["after touches"]


def test_ram_drill_feedback_and_explain(runs):
    d = RamDrill(seed=2017, runs=runs)
    for _ in range(6):
        answer = d.answer()
        assert d.feedback(answer).startswith("Right: ")
        assert d.feedback(str(answer)).startswith("Right: ")
        wrong = d.feedback(answer + 1)  # the first wrong answer: a hint, not the number
        assert wrong.startswith(f"Not quite: you wrote {answer + 1}; the mapping holds fewer")
        assert "drill.explain()" in wrong and f"holds {answer} " not in wrong
        again = d.feedback(answer + 2)  # the second: the model's count
        assert again.startswith(f"Not quite: you wrote {answer + 2}, the model holds {answer} ")
        assert f"RAM {answer} page" in d.explain()
        assert "Not answered yet" in d.feedback(...)
        d.next()


def test_ram_drill_asks_for_a_number_of_pages(runs):
    d = RamDrill(seed=2017, runs=runs)
    for odd in ("two", -1, True, None, [2]):
        text = d.feedback(odd)
        assert text.startswith(("Write a number of pages in digits", "A number of pages is 0")), \
            text
        assert str(d.answer()) + " page" not in text
    assert d.feedback(" 2 ").startswith(("Right", "Not quite: you wrote 2;"))
    d = RamDrill(seed=2017, runs=runs)  # a first wrong answer, below the count
    if d.answer() > 0:
        assert "holds more pages" in d.feedback(0)


def test_summary_rows_match_the_runs(runs):
    rows = summary_rows(runs=runs)
    assert len(rows) == len(SCENARIOS) * len(COLUMNS)
    for row in rows:
        run = run_scenario(row.scenario, row.strategy)
        assert (row.flash, row.ram) == (run.ram.flash, run.ram.ram)
        assert row.major == sum(t.majflt for t in run.touches)
        assert row.error == (run.open_error or run.mmap_error)
    by = {(r.scenario, r.strategy): r for r in rows}
    assert by["libc-past-xip", "refuse"].cell == "0F 5R 5M 0m"
    assert by["libc-past-xip", "split"].cell == "3F 2R 2M 0m 1->2V"
    assert by["libc-past-xip", "mixedmap"].cell == "3F 2R 2M 0m"
    assert by["beyond-eof", "mixedmap"].signals == ("SIGBUS",)
    table = format_summary(rows)
    assert table.splitlines()[0].split() == ["scenario", *COLUMNS]
    assert "shared-writable" in table and "EROFS" in table
    # split and mixedmap cost the same RAM in every scenario: the split's problem was not RAM
    for sc in SCENARIOS:
        assert by[sc.name, "split"].ram == by[sc.name, "mixedmap"].ram


def reference_ram(pages, xip_pages, strategy):
    if strategy == "refuse":
        return 0 if xip_pages == pages else pages
    return pages - xip_pages


def test_ram_cases_agree_with_the_rule_the_chapter_teaches(runs):
    cases = ram_cases(runs)
    assert len(cases) >= 15
    assert {c[0][2] for c in cases} == set(COLUMNS)
    assert check_function(reference_ram, cases).ok
    assert not check_function(lambda p, x, s: p - x, cases).ok  # "refuse" is all or nothing


def test_ram_drill_is_seeded_and_checks_against_the_model(runs):
    a, b = RamDrill(seed=7, runs=runs), RamDrill(seed=7, runs=runs)
    assert a.problem() == b.problem()
    name = a.problem().split("'")[1]
    strategy = a.problem().split("Under '")[1].split("'")[0]
    assert a.check(run_scenario(name, strategy).ram.ram)
    a.next()
    assert "problem 2" in a.problem()


def test_data_dir_from_the_notebooks_folder_and_from_anywhere(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT / "notebooks")
    assert data_dir() == ROOT / "data"
    monkeypatch.chdir(tmp_path)
    assert data_dir() == ROOT / "data"  # from the package's path
    assert data_dir(ROOT) == ROOT / "data"


@pytest.mark.parametrize("name", ["xip-scenarios", "xip-sample"])
def test_every_captured_field_matches_the_model(name):
    rows = capture_comparison(name)
    assert len(rows) > 300
    assert all(r.same for r in rows), format_rows(rows, only_different=True)
    counts = comparison_counts(rows)
    assert counts["(mount)"] == (1, 1)
    assert sum(n for n, _ok in counts.values()) == len(rows)


def test_the_comparison_catches_a_change(tmp_path):
    capture = load_capture()
    system, runs = replay_capture(capture)
    changed = copy.deepcopy(capture)
    libc = next(s for s in changed["scenarios"] if s["name"] == "libc-past-xip")
    libc["touched"][3]["majflt"] = 0
    libc["maps"][0] = libc["maps"][0].replace("00000000", "1000e000")
    rows = compare_capture(changed, system, runs)
    wrong = [r for r in rows if not r.same]
    assert [(r.scenario, r.field) for r in wrong] == [
        ("libc-past-xip", "maps"), ("libc-past-xip", "read page 3: faults (minor, major)")]
    assert wrong[1].kernel == "(0, 0)" and wrong[1].model == "(0, 1)"
    assert "NO" in format_rows(rows, only_different=True)


def test_capture_programs_are_the_course_scenarios():
    capture = json.loads((ROOT / "data/kernel-captures/xip-scenarios.json").read_text())
    programs = capture_scenarios(capture)
    assert [p.name for p in programs] == [s.name for s in SCENARIOS]
    for p in programs:
        s = scenario(p.name)
        assert (p.touch, p.write, p.offset, p.length) == (s.touch, s.write, s.offset, s.length)


def test_format_rows_filters():
    rows = capture_comparison()
    text = format_rows(rows, scenario_name="xip-executable", field_contains="pagemap")
    body = text.splitlines()[1:-1]
    # pagemap walks a VM_PFNMAP range as a hole: not present (not a pfn hidden from the reader)
    assert len(body) == 4 and all(line.endswith(" not present") for line in body)
    assert text.endswith("4 fields shown, 4 the same.")
    assert format_rows(rows, only_different=True).startswith("no field differs (")


def test_format_rows_cuts_nothing():
    """The trial: 'faults (minor, maj…' and the maps after the split cut at 21 characters."""
    rows = capture_comparison("split-scenarios")
    text = format_rows(rows, scenario_name="libc-past-xip", field_contains="page 3")
    assert "…" not in text and "read page 3: faults (minor, major)  (0, 1)" in text
    assert "      +0x3000-+0x5000 r-xp 00003000 1f:00 53348 /mnt/lib/libc.so.6" in text
    assert max(len(line) for line in text.splitlines()) <= 88
    changed = [compare.FieldRow("s", "maps", "a | b", "a | c", False)]
    assert format_rows(changed).splitlines()[1:4] == [
        "NOmaps  kernel: a", "        kernel: b", "        model:  a"]


def test_race_rows_count_what_each_strategy_breaks():
    from mmlab.race import RACES, explore

    names = ["munmap in the window", "mprotect in the window", "remap in the window"]
    rows = race_rows(names)
    assert [(r.race, r.strategy) for r in rows] == [
        (n, s) for n in names for s in ("split", "split-v3", "mixedmap")]
    for r in rows:
        report = explore(RACES[r.race], r.strategy)
        assert (r.interleavings, r.broken) == (report.interleavings, report.broken_runs)
        assert bool(r.problems) == bool(r.broken)
    by = {(r.race, r.strategy): r for r in rows}
    assert all(by[n, "mixedmap"].broken == 0 for n in names)
    assert by["munmap in the window", "split"].broken > 0
    assert by["munmap in the window", "split-v3"].broken == 0  # v3 re-checks find_vma
    assert by["remap in the window", "split-v3"].broken > 0   # the stale pmd v3 kept
    text = format_race_rows(rows)
    assert "vmf->pmd" in text and text.splitlines()[0].split()[:2] == ["race", "strategy"]
    # every problem in full (the trial: sentences cut with '…'), wrapped at 88 columns
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= 88
    flat = " ".join(text.split())
    assert all(" ".join(p.split()) in flat for r in rows for p in r.problems)


def test_a_page_read_then_written_shows_both_faults(runs, monkeypatch):
    e = StrategyExplorer("writable-private", runs=runs)
    drawn = []
    from matplotlib.axes import Axes

    original = Axes.text

    def spy(self, x, y, s, *args, **kwargs):
        drawn.append(s)
        return original(self, x, y, s, *args, **kwargs)

    monkeypatch.setattr(Axes, "text", spy)
    e.png()
    run = runs.get("writable-private", "mixedmap")
    page1 = [t for t in run.touches if t.page == 1]
    assert [(t.kind, t.majflt, t.minflt) for t in page1] == [("read", 1, 0), ("write", 0, 1)]
    assert drawn.count("Mm") == 3  # one per column: the read's major, then the COW's minor
    assert "r1:page cache 1M 0m" in e.text and "w1:anonymous 0M 1m" in e.text


# --- the picture ---------------------------------------------------------------------------------
def test_picture_reads_right_for_every_scenario(runs):
    e = StrategyExplorer(runs=runs)
    for sc in SCENARIOS:
        for v3 in (False, True):
            e.set(scenario=sc.name, **{"split-v3": v3})
            pic = look(e)
            assert pic.problems == [], (sc.name, v3)
            assert pic.used == pic.legend  # the legend lists exactly the kinds drawn
            assert pic.smallest_font >= 6.5
            expect = set()
            for strategy in e.strategies:
                run = e.run(strategy)
                if run.open_error or run.mmap_error:
                    continue
                for after in (False, True):
                    expect |= {VMA_KINDS[k].key for *_x, k in compare._vma_spans(run, after)}
                touched = {t.page: t for t in run.touches}
                for page in range(sc.pages):
                    t = touched.get(page)
                    expect.add(PAGE_KINDS["untouched"].key if t is None else
                               PAGE_KINDS["signal"].key if t.signal else
                               PAGE_KINDS.get(t.where, PAGE_KINDS["other"]).key)
            assert pic.used == expect, sc.name


def test_picture_puts_offsets_and_faults_on_their_boxes(runs):
    e = StrategyExplorer("libc-past-xip", runs=runs)
    pic = look(e)
    offsets = sorted((lab for lab in pic.box_labels
                      if lab.text in ("00000000", "0800e000", "00003000")),
                     key=lambda lab: (round(-lab.centre[1], 2), lab.centre[0]))
    # the offset column as maps prints it (the trial: '800e000' did not read as '0800e000');
    # refuse: 0 and 0; split: 0800e000, then 0800e000 and 00003000 after the split; mixedmap: 0
    assert [lab.text for lab in offsets] == ["00000000", "0800e000", "00000000", "00000000",
                                             "0800e000", "00003000", "00000000"]
    split_after = [lab for lab in offsets if lab.text in ("0800e000", "00003000")][1:]
    assert split_after[0].box[2] <= split_after[1].box[0] + 1e-3  # side by side, in order
    faults = [lab for lab in pic.box_labels if set(lab.text) <= {"M", "m"}]
    assert len(faults) == 5 + 2 + 2  # refuse faults on every page; split and mixedmap on 3-4


def test_ram_differences_name_the_scenarios_that_differ(runs):
    rows = summary_rows(runs=runs)
    assert compare.ram_differences(rows, "split", "mixedmap") == []
    assert compare.ram_differences(rows, "refuse", "mixedmap") == [
        "libc-past-xip", "last-page-shared", "non-contiguous", "tail-at-offset"]
    with pytest.raises(ValueError, match="no rows for strategy 'split-v3'"):
        compare.ram_differences(rows, "split-v3")


def test_counts_and_nouns_agree_in_number(runs):
    """One field, one page; never '1 fields' or 'RAM 1 pages' (issue 19's grammar slips)."""
    rows = capture_comparison()
    counts = compare.format_counts(compare.comparison_counts(rows))
    assert "(mount)" in counts and " 1 of 1 field the same" in counts
    assert "1 fields" not in counts and counts.splitlines()[-1].startswith("total: ")
    one = format_rows(rows, scenario_name="beyond-eof", field_contains="signal")
    assert one.endswith("\n1 field shown, 1 the same.")
    text = StrategyExplorer("non-contiguous", runs=runs).describe()
    assert "flash 1 page\n" in text + "\n" and "flash 1 pages" not in text
    assert "RAM 0 pages" in StrategyExplorer("xip-executable", runs=runs).describe()


def test_comparison_rows_read_as_a_learner_reads_them():
    """An errno or a signal by its name, a null by what it means there, the scenario column as
    wide as its longest name; the summary's legend names its errno and signal cells."""
    rows = capture_comparison("xip-scenarios")
    text = format_rows(rows, scenario_name="shared-write-readonly-fd")
    assert "  mmap errno  EACCES" in text and "'EACCES'" not in text
    assert "None" not in text and "  open errno  none" in text
    past = format_rows(rows, scenario_name="beyond-eof", field_contains="page 0")
    lines = {line[:36].strip(): line[36:].strip() for line in past.splitlines()}
    assert lines["read page 0: zero past EOF"] == lines["read page 0: matches read(2)"] == \
        "not read (SIGBUS)"
    shared = format_rows(rows, scenario_name="last-page-shared", field_contains="EOF")
    assert "no byte past EOF" in shared.splitlines()[1] and "True" in shared.splitlines()[3]
    assert "EROFS, EACCES: the open or the mmap failed" in format_summary(summary_rows())
