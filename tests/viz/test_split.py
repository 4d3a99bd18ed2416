"""Chapter 7's explorers and helpers, driven as a learner drives them.

Expected values are written out from the patch (16/16 packing, v3's 12 + vpn), from
fs/cramfs/inode.c and mm/memory.c @ v4.15, and from the independent cramfs reader, not taken
from the code under test.
"""

from __future__ import annotations

import errno

import pytest

from mmlab.constants import (
    PAGE_SIZE,
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
)
from mmlab.cramfs import open_image
from mmlab.race import RACES
from mmlab.scenarios import scenario_image
from mmlab.viz.quiz import check_function
from mmlab.viz.split import (
    PackDrill,
    PackingExplorer,
    RaceExplorer,
    direct_part_fault,
    format_return_paths,
    format_tail_table,
    format_vm_end_story,
    handler_return_paths,
    pack_cases,
    remap_partial_cow,
    split_fault_trace,
    tail_check_table,
    tail_lab_image,
    tail_lab_leak,
    unpack_cases,
    unpack_seed,
    vm_end_story,
)
from mmlab.viz.stepper import TraceStepper
from tests.viz.drawn import Picture, look

FLASH = 0x08000000  # the model's default flash window
LIBC_START = 0x7FFFF7FFA000


def libc_first_block() -> int:
    img = open_image(scenario_image())
    return img.blocks(img.lookup("lib/libc.so.6"))[0].target


# --- packing -----------------------------------------------------------------------------------
def test_packing_explorer_shows_the_fields_and_unpacks_them():
    p = PackingExplorer()
    p.widget()
    first = p.png()
    assert "= 0x30003" in p.text and "split_addr = 0x7ffff7ffd000" in p.text
    p.set(split_page=5, split_pgoff=12)
    assert p.value == 12 + 5 * 65536
    assert f"= {12 + 5 * 65536:#x}" in p.text and "split_pgoff = 12" in p.text
    assert f"split_addr = {LIBC_START + 5 * PAGE_SIZE:#x}" in p.text
    assert p.png() != first
    p.set(strategy="split-v3")
    vpn = (LIBC_START >> 12) + 5
    assert p.value == 12 | (vpn << 12)
    assert f"{vpn:#x}" in p.text and "split_pgoff 12 fits in 12 bits" in p.text
    p.set(split_page=0, split_pgoff=0, strategy="split")
    assert p.value == 0 and "no split point" in p.text
    assert len(p.update_times) == 6  # one redraw per control moved
    assert "image/png" in p._repr_mimebundle_()


def test_the_largest_split_pgoff_fits_the_seed_and_overlaps_v3s_split_point():
    p = PackingExplorer()
    assert p.controls["split_pgoff"].max == 4096  # a 4096-page file mapped to its end
    # the split page's slider ends a little past libc's 5 pages: each value a pixel apart
    assert p.controls["split_page"].max == PackingExplorer.SPLIT_PAGE_MAX == 8
    p = PackingExplorer(split_page=4096, split_pgoff=4096)
    assert p.value == 4096 + (4096 << 16) and not p.overlaps
    assert "split_pgoff 4096 fits in 16 bits" in p.text
    p.set(split_pgoff=4095, strategy="split-v3")
    assert p.value & 0xFFF == 4095 and not p.overlaps
    p.set(split_page=2, split_pgoff=4096)  # an even virtual page number: bit 12 was 0
    vpn = (p.vm_start >> 12) + 2
    assert vpn % 2 == 0 and p.overlaps
    assert p.value == 4096 | (vpn << 12)  # as v3's code packs it: the fields overlap
    assert "does not fit in 12 bits" in p.text
    assert "decodes the split point as " + f"{(vpn + 1) << 12:#x}, with split_pgoff 0" \
        in p.text  # a page too high
    assert "page number is even" in p.text and "moves one page up" in p.text
    assert look(p).problems == []
    meant = p.vm_start + 2 * PAGE_SIZE  # the picture says where the split point was meant to be
    assert f"(meant: 4096 at {meant:#x})" in " ".join(look(p).strings())
    p.set(split_page=3)  # an odd page number: bit 12 was 1 already, the split point stays
    assert "page number is odd" in p.text and "the split point stays" in p.text
    assert unpack_seed(p.value, p.vm_start, "split-v3") == (0, p.vm_start + 3 * PAGE_SIZE)


def test_packing_names_a_split_point_the_handler_refuses():
    p = PackingExplorer()
    assert p.refusal() == "" and "SIGSEGV" not in p.text
    p.set(split_page=5)  # libc's VMA has 5 pages: page 5 is its end
    assert "at or past the end of this 5-page VMA" in p.text
    assert "SIGSEGV" in p.refusal()
    pic = look(p)
    assert pic.problems == []
    assert any("SIGSEGV" in t for t in pic.strings())
    p.set(split_page=0, split_pgoff=0)
    assert p.refusal().startswith('0: "no split point"')
    p = PackingExplorer(split_page=4096, split_pgoff=4096)  # each field: hex, then decimal
    assert {"bits 16-31: split page = 0x1000 = 4096",
            "bits 0-15: split pgoff = 0x1000 = 4096"} <= set(look(p).strings())


def test_packing_says_a_split_page_0_splits_at_vm_start():
    p = PackingExplorer()
    p.widget()
    assert p.at_start() == ""
    p.set(split_page=0, split_pgoff=3)  # value 0x3: not "no split point", a split at vm_start
    assert p.value == 3 and p.refusal() == ""
    assert "split_vma at the VMA's first" in p.text and "mprotect race" in p.text
    assert max(len(line) for line in p.text.splitlines()) <= 96
    assert "split point at vm_start" in " ".join(look(p).strings())
    p.set(strategy="split-v3")
    assert "v3 splits nothing" in p.text
    p.set(split_page=0, split_pgoff=0, strategy="split")
    assert p.at_start() == "" and "no split point" in p.text


def test_packing_marks_v3s_overflowing_bit():
    p = PackingExplorer(strategy="split-v3", split_page=2, split_pgoff=4096)
    assert p.overlaps and "split pgoff's bit 12" in look(p).strings()
    assert "split pgoff's bit 12" not in look(PackingExplorer(strategy="split-v3")).strings()


def test_packing_says_a_split_pgoff_past_the_file_reads_past_its_end():
    p = PackingExplorer()
    assert p.past_eof() == "" and "SIGBUS" not in p.text
    p.set(split_pgoff=4)  # libc's last page: fine
    assert p.past_eof() == ""
    p.set(split_pgoff=5)  # libc.so.6 has 5 pages: page 5 is past its end
    assert "file page 5 is past libc's 5 pages" in p.past_eof()
    assert "filemap_fault answers VM_FAULT_SIGBUS" in p.text
    pic = look(p)
    assert pic.problems == [] and any("SIGBUS" in t for t in pic.strings())
    p.set(split_pgoff=4096)
    assert "SIGBUS" in " ".join(look(p).strings())
    p.set(split_page=5)  # a refused split point says SIGSEGV, not SIGBUS
    assert p.past_eof() == "" and "SIGBUS" not in p.text
    p.set(split_page=2, strategy="split-v3")  # 4096 overlaps: decoded 0, the meant note
    assert p.past_eof() == "" and "meant: 4096" in " ".join(look(p).strings())


# --- the mmap side -----------------------------------------------------------------------------
def test_vm_end_is_shrunk_only_around_remap_pfn_range():
    rows = {r.name: r for r in vm_end_story("split")}
    five, three = LIBC_START + 5 * PAGE_SIZE, LIBC_START + 3 * PAGE_SIZE
    assert rows["seed_physmem_mmap"].vm_end == five
    assert rows["remap_pfn_range"].vm_end == three
    assert rows["up_write"].vm_end == five
    assert rows["do_mmap"].vm_end is None
    text = format_vm_end_story(vm_end_story("split"))
    assert "0x7ffff7ffd000  3" in text
    assert all(r.vm_end in (None, five) for r in vm_end_story("mixedmap"))


def test_remap_of_part_of_a_cow_vma_needs_the_cheat():
    r = remap_partial_cow()
    assert r.without == -errno.EINVAL and r.with_cheat == 0
    assert r.vm_end_during == LIBC_START + 3 * PAGE_SIZE
    assert r.vm_end_after == LIBC_START + 5 * PAGE_SIZE
    assert r.vm_pgoff_after == (FLASH + libc_first_block()) >> 12 and r.ptes == 3


# --- the fault side ----------------------------------------------------------------------------
def test_the_recorded_fault_steps_through_the_lock_dance():
    rec, result = split_fault_trace()
    assert "MAJOR|LOCKED" in result
    wanted = ["down_read_trylock", "cramfs_vmasplit_fault", "up_read", "down_write_killable",
              "find_vma", "split_vma", "downgrade_write", "filemap_fault", "finish_fault"]
    names = [n for n in rec.names if n in wanted]
    start = names.index("cramfs_vmasplit_fault")
    assert names[0] == "down_read_trylock"
    assert names[start:] == ["cramfs_vmasplit_fault", "up_read", "down_write_killable",
                             "find_vma", "split_vma", "find_vma", "downgrade_write",
                             "filemap_fault", "finish_fault", "up_read"]
    stepper = TraceStepper(rec, start=rec.names.index("down_write_killable"))
    assert "lock=write" in stepper.text
    before = stepper.png()
    stepper.press("next")
    assert stepper.png() != before


def test_every_return_path_is_reached_with_the_right_lock_state():
    paths = {p.name: p for p in handler_return_paths()}
    assert paths["success"].ret == VM_FAULT_MAJOR | VM_FAULT_LOCKED and paths["success"].ours
    assert paths["SIGSEGV"].ret == VM_FAULT_SIGSEGV and paths["SIGSEGV"].ours
    assert paths["SIGSEGV"].events == ("VM_FAULT_SIGSEGV",)  # before any lock operation
    assert paths["RETRY"].ret == VM_FAULT_RETRY and not paths["RETRY"].ours
    assert paths["NOPAGE"].ret == VM_FAULT_NOPAGE and paths["NOPAGE"].ours
    assert "split_vma" not in paths["NOPAGE"].events
    assert paths["OOM"].ret == VM_FAULT_OOM and paths["OOM"].ours
    assert "split_vma -12" in paths["OOM"].events  # -ENOMEM from split_vma
    assert "RELEASED" in format_return_paths(list(paths.values()))


def test_a_fault_in_the_direct_part_after_the_split_would_map_the_zero_page():
    """vm_ops = NULL makes the lower VMA anonymous to handle_pte_fault: an emptied PTE there
    would be filled with the zero page, and the program would read zeros instead of its code."""
    d = direct_part_fault()
    assert d.vm_ops is None and d.anonymous
    assert d.path == ("handle_mm_fault", "handle_pte_fault", "do_anonymous_page")
    assert d.frame == "zero page"
    assert any(d.before) and d.after == bytes(8)


# --- the race explorer -------------------------------------------------------------------------
def test_race_explorer_classes_and_the_example_schedule():
    r = RaceExplorer()
    r.widget()
    rep = r.report()
    assert rep.interleavings == sum(n for _, n in r.classes())
    assert "fault page 3 | fault page 4 (split, mm of v4.15)" in r.text
    assert any("NOPAGE" in " ".join(outcomes) for (outcomes, _), _ in r.classes())
    assert not rep.broken_runs
    first = r.png()
    r.press("next")
    r.press("next")
    assert "2 of" in r.text and "   2. thread" in r.text
    assert r.png() != first
    r.set(step=len(r.run.schedule))
    assert "outcomes:" in r.text
    r.set(klass=1)
    assert r.index == 0 and r.controls["step"].value == 0 and "class 2" in r.text


def test_race_explorer_switches_race_and_strategy_and_keeps_each_report():
    r = RaceExplorer()
    two = r.report()
    r.set(race="munmap in the window")
    assert r.report().interleavings == 5
    assert "NULL pointer dereference" in " ".join(r.text.split()) and "BROKEN" in r.text
    # the broken class: the schedule marks the step that broke and stops the oopsed thread there
    broken = next(i for i, ((_, b), _) in enumerate(r.classes()) if b)
    r.set(klass=broken)
    r.set(step=len(r.run.schedule))
    lines = r.text.splitlines()
    at = lines.index(next(line for line in lines if "broke here" in line))
    assert lines[at - 1].endswith("thread 0: down_write_killable")
    assert "NULL pointer dereference" in lines[at]
    assert lines[at + 1].startswith("  after the run: the explorer reads back")
    assert lines[at + 2].startswith("      ✖ found after the last step: mmap_sem left held")
    pic = look(r)
    marks = sorted((t for t in pic.texts if t.get_text() == "✖"),
                   key=lambda t: -t.get_position()[1])
    (label,) = [t for t in pic.texts if t.get_text() == "down_write_killable"]
    (after,) = [t for t in pic.texts if t.get_text() == r.AFTER]
    # one mark on the step that oopsed, one on the after-run row (the lock left held)
    assert [m.get_position()[1] for m in marks] == [label.get_position()[1],
                                                    after.get_position()[1]]
    notes = " ".join(t for t in pic.strings() if t != "✖")
    assert "✖ at step 5 (thread 0: down_write_killable): oops" in notes
    assert "✖ after the run (the explorer's read-back and checks): mmap_sem left held" in notes
    r.set(strategy="split-v3")
    assert "BROKEN" not in r.text  # v3 returns SIGSEGV when the VMA is gone
    r.set(race="remap in the window")
    assert "use after free" in r.text  # not fixed by v3
    r.set(race="two faults", strategy="split")
    assert r.report() is two  # explored once, kept
    labels = [label for label, _ in r.controls["klass"].options]
    assert len(labels) == len(r.classes())


def test_race_explorer_notes_what_broke_in_full_and_grows_to_hold_it():
    r = RaceExplorer("mremap of the same file", "split-v3")
    r.set(klass=next(i for i, ((o, _b), _n) in enumerate(r.classes())
                     if o == ("split, done", "done")))
    r.set(step=len(r.run.schedule))
    # the read that finds SIGBUS is the explorer's, after the run: the last row marks it
    assert r.run.broken_at == (None, None)
    assert r.notes()[0] == ("✖ after the run (the explorer's read-back and checks): page 3 "
                            "reads as SIGBUS after the fault succeeded")
    pic = look(r)
    assert pic.problems == []
    drawn = " ".join(pic.strings())
    assert "page 3 reads as SIGBUS after the fault succeeded" in drawn
    assert "what broke in class" in r.text and r.notes()[1] in r.text
    # a class with five problems: the picture grows, whole notes only, the rest counted
    r.set(klass=0)
    assert len(r.notes()) == 5
    pic = look(r)
    assert pic.problems == [] and r._figure.get_figheight() > r.figsize[1]
    texts = pic.texts
    start = [t.get_text() for t in texts].index("What broke in class 1's run:") + 1
    lines = [t.get_text() for t in texts[start:] if t.get_position()[0] == 1]
    assert 0 < len(lines) <= r.NOTE_LINES
    shown = " ".join(lines)
    if lines[-1].startswith("+ "):  # whole notes, then how many more the text lists
        assert lines[-1].endswith("more (the text under the picture lists every one)")
    else:
        assert shown == " ".join(r.notes())  # every note, in full, none cut short


def test_race_explorer_marks_the_sigkill_and_labels_fit_the_menu():
    r = RaceExplorer("fatal signal", "split")
    killed = next(i for i, ((o, _b), _n) in enumerate(r.classes()) if "killed" in o[0])
    r.set(klass=killed)
    at = r.killed_at()
    assert r.run.schedule[at] == (0, "down_write_killable")
    r.set(step=len(r.run.schedule))
    assert f"{at + 1:2}. thread 0: down_write_killable   † SIGKILL arrives" in r.text
    pic = look(r)
    assert pic.problems == [] and "†" in pic.strings()
    r.set(klass=0)
    assert r.killed_at() is None
    for name in RACES:
        r.set(race=name)
        assert all(len(label) <= 70 for label, _ in r.controls["klass"].options)


# --- the pictures --------------------------------------------------------------------------------
def _bit_labels(pic: Picture) -> tuple[str, str]:
    """The 0/1 labels of the bit boxes, left to right, and the hex digits under them."""
    bits = sorted((lab for lab in pic.box_labels if lab.text in ("0", "1")
                   and lab.box[3] - lab.box[1] > 0.15), key=lambda lab: lab.centre[0])
    bit_row = min(lab.box[1] for lab in bits)
    digits = sorted((lab for lab in pic.box_labels if lab.box[3] <= bit_row + 1e-3),
                    key=lambda lab: lab.centre[0])
    return "".join(lab.text for lab in bits), "".join(lab.text for lab in digits)


@pytest.mark.parametrize("strategy", ["split", "split-v3"])
def test_packing_picture_has_each_bit_on_its_box(strategy):
    p = PackingExplorer(strategy=strategy)
    nbits = 48 if strategy == "split-v3" else 32
    for page, pgoff in ((3, 3), (0, 0), (4095, 4095), (1, 4094), (258, 17)):
        p = PackingExplorer(split_page=page, split_pgoff=pgoff, strategy=strategy)
        pic = look(p)
        assert pic.problems == []
        bits, digits = _bit_labels(pic)
        assert bits == format(p.value, f"0{nbits}b")  # bit 47/31 left, bit 0 right
        assert digits == format(p.value, f"0{nbits // 4}x")  # one hex digit per 4 bits, as
        # the text writes hex: lowercase
        assert pic.used == pic.legend == {"split-field", "pgoff-field"}
        assert pic.smallest_font >= 7
    low = 12 if strategy == "split-v3" else 16
    assert f"bits {low - 1}..0 = {format(p.value & ((1 << low) - 1), f'0{low}b')}" \
        in p.alt_text()


def test_race_picture_puts_each_step_in_its_thread_column_on_its_own_row():
    r = RaceExplorer()
    for name in RACES:
        for strategy in r.STRATEGIES:
            r.set(race=name, strategy=strategy)
            for klass in range(len(r.classes())):
                r.set(klass=klass)
                steps = (0, len(r.run.schedule) // 2) if klass == 0 else ()
                for step in (*steps, len(r.run.schedule)):
                    r.set(step=step)
                    pic = look(r)
                    assert pic.problems == [], (name, strategy, klass, step)
                    assert pic.smallest_font >= 7
                    assert pic.used <= pic.legend == {"race-ok", "race-broken"}
                    assert ("race-broken" in pic.used) == any(b for (_, b), _ in r.classes())
            # the schedule: one text per step, in its thread's column, rows top to bottom
            r.set(klass=0, step=0)  # every step is drawn, none hidden
            pic = look(r)
            headers = {int(t.get_text().split()[1]): t.get_position()[0] for t in pic.texts
                       if t.get_text().startswith("thread ")}
            window = r.run.schedule
            steps = [t for t in pic.texts if t.get_fontfamily() == ["monospace"]]
            assert [t.get_text() for t in steps] == [label for _, label in window]
            (after,) = [t for t in pic.texts if t.get_text() == r.AFTER]
            assert after.get_position()[1] < min(t.get_position()[1] for t in steps)
            for t, (thread, _label) in zip(steps, window, strict=True):
                assert t.get_position()[0] == pytest.approx(headers[thread])
            ys = [t.get_position()[1] for t in steps]
            assert ys == sorted(ys, reverse=True) and len(set(ys)) == len(ys)


# --- the tail check ----------------------------------------------------------------------------
def test_tail_table_the_patch_form_differs_only_when_vm_pgoff_is_not_zero():
    image = tail_lab_image()
    rows = tail_check_table(image, "/a")
    assert [r.vm_pgoff for r in rows] == [0, 1, 2]
    assert all(r.truth for r in rows)  # /b's block pointer follows /a's last byte
    assert all(r.before is not None and r.before[0] for r in rows)  # (pages - 1): always right
    assert rows[0].patch == rows[0].before
    assert [r.patch[0] for r in rows[1:] if r.patch] == [False, False]
    assert rows[1].patch[1] == rows[1].last_block + PAGE_SIZE + 100  # one page too far
    text = format_tail_table(rows, len(image))
    assert text.count(" NO") == 2 and "past the image" in text


def test_a_last_page_not_shared_both_forms_agree_though_one_reads_past_the_image():
    image = tail_lab_image(neighbour=False)
    rows = tail_check_table(image, "/a")
    assert not rows[0].truth
    assert all(r.before == (False, rows[0].last_block + 100) for r in rows)
    assert all(r.patch is not None and not r.patch[0] for r in rows)
    assert rows[2].patch[1] >= len(image)  # two pages past the last block: past the image
    assert "NO" not in format_tail_table(rows, len(image))


def test_the_patch_form_leaks_the_next_files_block_pointer():
    assert tail_lab_leak("max_pages-1")[:2] == (2, False)
    leaked = tail_lab_leak("max_pages-1")[2]
    img = open_image(tail_lab_image())
    pointer = img.blocks(img.lookup("b"))[0]
    assert pointer.pointer_offset == 0x3000 + 100  # right after /a's last byte
    assert int.from_bytes(leaked[:4], "little") == pointer.pointer
    assert tail_lab_leak("pages-1") == (1, True, bytes(16))
    assert tail_lab_leak(None) == (1, True, bytes(16))  # v4.15
    assert tail_lab_leak("max_pages-1", vm_pgoff=0)[:2] == (2, True)  # last page not mapped


# --- self-check --------------------------------------------------------------------------------
def test_pack_and_unpack_cases_check_a_right_and_a_wrong_answer():
    def pack(pgoff, page):
        return pgoff | page << 16

    def unpack(value):
        return value & 0xFFFF, value >> 16

    def wrong(pgoff, page):
        return page | pgoff << 16

    assert check_function(pack, pack_cases()).ok
    assert check_function(unpack, unpack_cases()).ok
    assert not check_function(wrong, pack_cases()).ok
    assert check_function(lambda v: ..., unpack_cases()).not_done


def test_pack_drill_is_seeded_and_checks_both_kinds():
    a, b = PackDrill(seed=7), PackDrill(seed=7)
    assert a.problem() == b.problem()
    seen = set()
    for _ in range(12):
        answer = a.answer()
        seen.add(type(answer))
        assert a.check(answer)
        if isinstance(answer, tuple):
            assert a.check(list(answer)) and not a.check(answer[::-1] + (0,))
            assert answer[0] == (int(a.problem().split("is ")[1].split(".")[0], 16) & 0xFFFF)
        else:
            assert not a.check(answer + 1)
        a.next()
    assert seen == {int, tuple}


def test_race_explorer_says_none_when_no_vma_is_left():
    r = RaceExplorer("munmap in the window", "split")
    gone = [k for k, ((_o, _b), _n) in enumerate(r.classes())
            if not r.report().examples[r.classes()[k][0]].vmas]
    assert gone  # the munmap ran to its end: libc has no VMA left
    r.set(klass=gone[0])
    r.set(step=len(r.run.schedule))
    assert "VMAs at the end (start page, end page, vm_pgoff): (none)" in r.text


def test_a_wrong_packed_guess_names_the_field_that_differs():
    from mmlab.viz.split import packed_fields_hint

    hint = " ".join(packed_fields_hint(0x3003, 0x30003).split())  # split_page << 12, not 16
    assert max(len(line) for line in packed_fields_hint(0x3003, 0x30003).splitlines()) <= 88
    assert "split_pgoff (bits 0-15): yours is 0x3003 = 12291, it should be 3" in hint
    assert "split_page (bits 16+): yours is 0, it should be 3" in hint
    other = " ".join(packed_fields_hint("0x30004", 0x30003).split())
    assert "split_pgoff (bits 0-15): yours is 4, it should be 3" in other
    assert "split_page (bits 16+): yours is 3, right" in other
    for right_or_none in ("0x30003", 196611, ..., "split page 3", True):
        assert packed_fields_hint(right_or_none, 0x30003) == ""


def test_race_explorer_shows_the_lock_and_the_vmas_of_the_step_shown():
    """Stepping the seed's broken munmap class: who holds mmap_sem and who waits, and the VMAs,
    under the step table, in the text and the picture, for the step chosen."""
    r = RaceExplorer("munmap in the window", "split")
    r.set(klass=next(i for i, ((_, b), _) in enumerate(r.classes()) if b))
    r.widget()
    r.set(step=0)
    assert "  before the first step:" in r.text
    assert "      pages 0-4, vm_pgoff 0x800e, ops: split (libc.so.6)" in r.text
    r.set(step=2)
    assert "    mmap_sem: held for reading by thread 0; thread 1 waits to run syscall" in r.text
    r.set(step=3)
    assert "  after step 3 (thread 0: up_read):" in r.text
    assert "    mmap_sem: free; nobody waits" in r.text and "pages 0-4" in r.text
    r.set(step=4)
    lines = r.text.splitlines()
    at = lines.index("  after step 4 (thread 1: syscall):")
    assert lines[at + 1:at + 3] == ["    mmap_sem: free; nobody waits", "    VMAs: none"]
    assert "pages 0-4, vm_pgoff" not in r.text  # munmap removed the VMA
    assert "after step 4 (thread 1: syscall):" in look(r).strings()
    r.press("next")
    assert "    mmap_sem: held for writing by thread 0; nobody waits" in r.text
    assert "mmap_sem: held for writing by thread 0; nobody waits" in look(r).strings()
    assert not look(r).problems
    assert max(len(line) for line in r.state_lines()) <= 88


def test_race_explorer_shows_the_two_halves_after_the_split():
    r = RaceExplorer("two faults", "split")
    split = next(j for j, (_t, label) in enumerate(r.run.schedule)
                 if label == "down_write_killable")
    r.set(step=split + 1)
    text = r.text
    assert "      pages 0-2, vm_pgoff 0x800e, ops: none (libc.so.6)" in text
    assert "      pages 3-4, vm_pgoff 0x3, ops: page-cache (libc.so.6)" in text
    assert f"held for writing by thread {r.run.schedule[split][0]}" in text
    assert max(len(line) for line in r.state_lines()) <= 88
    r.set(step=split)  # before the split: one VMA
    assert [line for line in r.state_lines() if "vm_pgoff" in line] == [
        "      pages 0-4, vm_pgoff 0x800e, ops: split (libc.so.6)"]
