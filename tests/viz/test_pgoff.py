"""mmlab.viz.pgoff: the vm_pgoff explorer, the linear rule broken on purpose, the partial map
refused, filemap_fault on a repurposed vm_pgoff, and the chapter's self-checks."""

import errno

import pytest

from mmlab import filemap, memory
from mmlab.constants import (
    FAULT_FLAG_USER,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_READ,
    VM_FAULT_SIGBUS,
    VM_PFNMAP,
    is_cow_mapping,
)
from mmlab.fs import file_from_bytes
from mmlab.mm import MM
from mmlab.mm_types import VmFault, linear_page_index
from mmlab.physmem import PHYS_PFN, PhysMem
from mmlab.scenarios import run_scenario
from mmlab.system import System
from mmlab.viz.pgoff import (
    FRAME_KINDS,
    KINDS,
    NPAGES,
    MapsOffsetDrill,
    PgoffExplorer,
    captured_maps,
    cow_copy_that_fits,
    format_page_rows,
    frame_books,
    linear_index_cases,
    page_rows,
    pgoff_world,
    unfaulted_split_mapping,
)
from mmlab.viz.quiz import check_function
from tests.viz.drawn import look

FLASH = 0x08000000


def xipexe_first_block(file_page=0):
    run = run_scenario("xip-executable", "mixedmap")
    return run.sb.linear_phys_addr + run.sb.image.blocks(run.sb.image.lookup("bin/xipexe"))[
        file_page].target


def test_remapped_private_holds_a_pfn_and_the_linear_rule_names_the_raw_frames():
    e = PgoffExplorer()
    first = e.png()
    assert e.kind == "remapped private"
    _mm, vma, rows = e.world(True)
    phys = xipexe_first_block()
    assert vma.vm_pgoff == PHYS_PFN(phys) and vma.vm_flags & VM_PFNMAP
    assert is_cow_mapping(vma.vm_flags)
    assert [r.pfn for r in rows] == [PHYS_PFN(phys) + i for i in range(NPAGES)]
    assert all(r.rule_holds and r.frame == "flash" and r.normal == "None" for r in rows)
    assert f"vm_pgoff = {vma.vm_pgoff:#x}: a pfn" in e.text
    assert "the linear rule holds" in e.text
    assert f"r--p {phys:08x}" in e.text  # the physical address as the maps "offset"
    arm = e.row(False)
    assert arm.normal == "None" and "linear rule holds" in arm.reason
    e.set(page=2)
    assert e.page == 2 and f"pfn {PHYS_PFN(phys) + 2:#x}" in e.text
    assert e.png() != first
    bundle = e._repr_mimebundle_()
    assert "image/png" in bundle and bundle["text/plain"] == e.text


def test_a_cow_copy_breaks_the_rule_and_is_a_normal_page_on_both_machines():
    e = PgoffExplorer()
    box = e.widget()
    before = e.png()
    e.set(written=True, page=1)
    assert "a COW copy" in box.children[-1].value and len(e.update_times) == 2
    for special in (True, False):
        mm, vma, rows = e.world(special)
        copy = rows[1]
        assert copy.frame == "anonymous copy" and not copy.rule_holds
        assert copy.pfn == mm.pgd.walk(vma.vm_start + PAGE_SIZE).pfn
        assert copy.normal == f"page {copy.pfn:#x}"
        assert rows[0].normal == rows[2].normal == "None"
        assert memory.check_mm_invariants(mm) == []
    assert "linear rule fails: a COW copy" in e.text and "rw-p" in e.text
    assert e.png() != before


def test_file_and_shared_kinds_keep_the_file_offset():
    e = PgoffExplorer(file_page=1)
    e.set(kind="remapped shared")
    _mm, vma, rows = e.world(False)
    assert vma.vm_pgoff == 1 and not is_cow_mapping(vma.vm_flags)
    assert rows[0].pfn == PHYS_PFN(xipexe_first_block(1)) and not rows[0].rule_holds
    assert rows[0].normal == "None" and "not a COW mapping" in rows[0].reason
    assert "r--s 00001000" in e.text
    e.set(kind="file private")
    _mm, vma, rows = e.world(True)
    assert vma.vm_pgoff == 1 and not vma.vm_flags & VM_PFNMAP
    assert [r.linear for r in rows] == [1, 2, 3]
    assert all(r.frame == "page cache" and r.normal == f"page {r.pfn:#x}" for r in rows)
    assert "r--p 00001000" in e.text and "filemap_fault looks up" in e.text
    e.set(kind="file shared", written=True)  # a shared read-only mapping cannot be written
    assert "cannot be written" in e.text and "r--s" in e.text


def test_every_kind_and_page_matches_a_fresh_world():
    e = PgoffExplorer()
    for kind, _path, flags in KINDS:
        e.set(kind=kind)
        for page in range(NPAGES):
            e.set(page=page)
            mm, vma = pgoff_world(kind, 0, False)
            pte = mm.pgd.walk(vma.vm_start + page * PAGE_SIZE)
            assert e.row(False).pfn == pte.pfn
            got = memory.vm_normal_page(vma, vma.vm_start + page * PAGE_SIZE, pte)
            assert e.row(False).normal == ("None" if got is None else f"page {got.pfn:#x}")
            assert e.row(False).linear == vma.vm_pgoff + page
        assert ("p " if flags == MAP_PRIVATE else "s ") in e.maps_line()
    with pytest.raises(ValueError, match="cannot be written"):
        pgoff_world("remapped shared", written=True)
    with pytest.raises(KeyError, match="no VMA kind"):
        PgoffExplorer(kind="anonymous")


def test_page_rows_table():
    mm, vma = pgoff_world("remapped private", written=True)
    text = format_page_rows(page_rows(mm, vma))
    lines = text.splitlines()
    assert len(lines) == 1 + NPAGES and "vm_normal_page" in lines[0]
    assert "anonymous copy" in lines[2] and " no " in lines[2] and "flash" in lines[1]


def test_cow_copy_that_fits_fools_the_linear_rule():
    mm, vma = cow_copy_that_fits()
    assert not mm.system.have_pte_special and is_cow_mapping(vma.vm_flags)
    pte = mm.pgd.walk(vma.vm_start + PAGE_SIZE)
    copy = mm.physmem.pfn_to_page(pte.pfn)
    assert pte.pfn == vma.vm_pgoff + 1 and copy.mapping is not None
    assert memory.vm_normal_page(vma, vma.vm_start + PAGE_SIZE, pte) is None
    problems = memory.check_mm_invariants(mm)
    assert any("mapcount 1 but 0 PTE(s)" in p for p in problems)
    rows = page_rows(mm, vma)
    assert rows[1].rule_holds and rows[1].frame == "anonymous copy" and rows[1].normal == "None"
    # With the special bit the same steps are fine: the copy's PTE is not special.
    mm, vma = cow_copy_that_fits(have_pte_special=True)
    pte = mm.pgd.walk(vma.vm_start + PAGE_SIZE)
    assert pte.pfn == vma.vm_pgoff + 1
    assert memory.vm_normal_page(vma, vma.vm_start + PAGE_SIZE, pte).pfn == pte.pfn
    assert memory.check_mm_invariants(mm) == []


@pytest.mark.parametrize("special", [False, True])
def test_the_fitting_copy_is_mapped_until_the_unmap_and_then_leaked(special):
    mm, vma = cow_copy_that_fits(have_pte_special=special)
    copy = page_rows(mm, vma)[1].pfn
    before = frame_books(mm, copy)
    # mapped by its PTE and counted by its struct page, whatever vm_normal_page says
    assert (before.ptes, before.mapcount, before.refcount) == (1, 1, 1)
    assert before.counted == int(special) and not before.leaked
    assert "mapped by 1 PTE" in str(before) and "leaked" not in str(before)
    assert ("calls raw" in str(before)) is not special
    mm.munmap(vma.vm_start, 2 * PAGE_SIZE)
    after = frame_books(mm, copy)
    assert after.ptes == 0
    if special:
        assert after.refcount == 0 and "free" in str(after) and not after.leaked
        assert memory.check_mm_invariants(mm) == []
    else:  # the zap cleared the PTE but uncounted nothing: the page stays held
        assert (after.mapcount, after.refcount) == (1, 1) and after.leaked
        assert "no PTE maps it" in str(after) and "leaked" in str(after)
        assert any("mapped nowhere" in p for p in memory.check_mm_invariants(mm))


def test_frame_books_wants_a_ram_frame():
    mm, vma = pgoff_world("remapped private")
    flash = mm.pgd.walk(vma.vm_start).pfn
    with pytest.raises(ValueError, match="no struct page"):
        frame_books(mm, flash)


def test_vm_pgoff_put_back_to_the_file_offset_makes_flash_frames_bad_ptes():
    mm, vma = pgoff_world("remapped private", have_pte_special=False)
    vma.vm_pgoff = 0
    assert memory.vm_normal_page(vma, vma.vm_start, mm.pgd.walk(vma.vm_start)) is None
    assert "Bad page map" in mm.system.dmesg[-1]


def test_partial_remap_of_a_cow_mapping_is_refused_but_not_of_a_shared_one():
    mm = MM()
    f = file_from_bytes(b"x" * 4 * PAGE_SIZE)
    for flags, want in ((MAP_PRIVATE, -errno.EINVAL), (MAP_SHARED, 0)):
        addr = mm.mmap(0, 4 * PAGE_SIZE, PROT_READ, flags, f, 0)
        vma = mm.find_vma(addr)
        assert memory.remap_pfn_range(vma, addr, PHYS_PFN(FLASH), 2 * PAGE_SIZE,
                                      vma.vm_page_prot) == want
        assert vma.vm_pgoff == 0


def test_refuse_maps_nothing_in_place_for_libc():
    run = run_scenario("libc-past-xip", "refuse")
    assert any("fix me" in line for line in run.kernel_log)
    assert run.vmas[0].vm_pgoff == 0 and not run.vmas[0].vm_flags & VM_PFNMAP


def test_filemap_fault_on_the_unmapped_part_asks_for_a_page_far_past_eof():
    mm, vma = unfaulted_split_mapping()
    assert vma.vm_end - vma.vm_start == 5 * PAGE_SIZE and vma.vm_flags & VM_PFNMAP
    assert vma.vm_pgoff == mm.pgd.walk(vma.vm_start).pfn
    addr = vma.vm_start + 3 * PAGE_SIZE
    assert mm.pgd.walk(addr) is None
    vmf = VmFault(vma, FAULT_FLAG_USER, linear_page_index(vma, addr), addr)
    assert vmf.pgoff == vma.vm_pgoff + 3 > vma.vm_file.f_inode.i_size >> PAGE_SHIFT
    assert filemap.filemap_fault(vmf) == VM_FAULT_SIGBUS
    assert vmf.page is None


def test_maps_of_the_model_and_the_capture():
    base, lines = captured_maps("xip-executable")
    assert base == 0x10000000 and " r-xp 10001000 " in lines[0]
    assert " r-xp 08001000 " in run_scenario("xip-executable").maps[0]
    system = System(physmem=PhysMem(flash_phys=base, flash_size=32 << 20))
    model = run_scenario("xip-executable", system=system, phys_addr=base).maps[0]
    assert model.split()[1:3] == lines[0].split()[1:3]
    _base, shared = captured_maps("shared-readonly")
    assert run_scenario("shared-readonly").maps[0].split()[1:3] == shared[0].split()[1:3]
    with pytest.raises(KeyError):
        captured_maps("nope")


def test_linear_index_check_and_drill():
    cases = linear_index_cases()
    assert len(cases) >= 10
    good = check_function(lambda s, p, a: p + ((a - s) >> PAGE_SHIFT), cases)
    assert good.ok
    bad = check_function(lambda s, p, a: p + (a - s) // PAGE_SIZE + 1, cases)
    assert not bad.ok and "returned" in bad.first_failure
    assert check_function(lambda s, p, a: ..., cases).not_done
    d1, d2 = MapsOffsetDrill(seed=6), MapsOffsetDrill(seed=6)
    assert d1.problem() == d2.problem()
    for _ in range(20):
        shown = d1.answer()  # as the maps column prints it: 8 hex digits
        assert isinstance(shown, str) and len(shown) == 8
        answer = int(shown, 16)
        assert d1.check(answer) and d1.check(shown) and d1.check(f"0x{shown}")
        assert not d1.check(answer + 1) and not d1.check("zz") and not d1.check(True)
        if "MAP_SHARED" in d1.problem():
            assert answer < 4 * PAGE_SIZE and "not a COW mapping" in d1.explain()
        else:
            assert answer >= 0x08000000 and "COW mapping" in d1.explain()
        assert shown in d1.explain()
        assert d1.feedback(answer) == f"Right: the column shows {shown}."
        wrong = d1.feedback(answer + PAGE_SIZE)
        assert wrong.startswith(f"Not quite: you wrote {answer + PAGE_SIZE:08x}") and shown in wrong
        assert "Not answered yet" in d1.feedback(...) and "'zz'" in d1.feedback("zz")
        d1.next()


# --- the picture ---------------------------------------------------------------------------------
def test_picture_reads_right_for_every_kind_page_and_write():
    e = PgoffExplorer()
    frame_kind = {name: kind.key for name, kind in FRAME_KINDS.items()}
    for kind, _path, _flags in KINDS:
        for file_page in (0, 1):
            for written in (False, True):
                for page in range(NPAGES):
                    e.set(kind=kind, file_page=file_page, written=written, page=page)
                    pic = look(e)
                    assert pic.problems == [], (kind, file_page, written, page)
                    assert pic.used == pic.legend
                    assert pic.smallest_font >= 7
                    _mm, _vma, rows = e.world(True)
                    assert pic.used - {"chosen-page", "verdict-raw", "verdict-page"} == {
                        frame_kind[r.frame] for r in rows}
                    # each page's number, pfn and frame sit on that page's box, left to right
                    for what in ("page ", "pfn "):
                        labels = sorted((lab for lab in pic.box_labels
                                         if lab.text.startswith(what)
                                         and lab.text != "page cache"),
                                        key=lambda lab: lab.centre[0])
                        expect = [f"page {r.page}" if what == "page " else f"pfn {r.pfn:#x}"
                                  for r in rows]
                        assert [lab.text for lab in labels] == expect
                    raw = {e.row(True).normal == "None", e.row(False).normal == "None"}
                    assert ("verdict-raw" in pic.used) == (True in raw)
                    assert ("verdict-page" in pic.used) == (False in raw)
    assert "page 1: 0x" in e.alt_text()
