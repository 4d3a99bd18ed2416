"""mmlab.xip: cramfs mounted from flash and its mmap in four strategies, on the scenario image.

The expectations are written out by hand from fs/cramfs/inode.c @ v4.15 and the 2017-08-16
patch, not computed by the code under test; block addresses come from the independent cramfs
reader (mmlab.cramfs), which is itself held against fsck.cramfs elsewhere.
"""

from __future__ import annotations

import errno

import pytest

from mmlab import fault, trace, xip
from mmlab.constants import (
    FAULT_FLAG_ALLOW_RETRY,
    FAULT_FLAG_KILLABLE,
    MAP_PRIVATE,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    VM_FAULT_OOM,
    VM_FAULT_RETRY,
    VM_FAULT_SIGSEGV,
    VM_IO,
    VM_MIXEDMAP,
    VM_PFNMAP,
)
from mmlab.cramfs import CramfsError, open_image
from mmlab.cramfs.tree import Dir, File
from mmlab.cramfs.writer import build_image
from mmlab.memory import check_mm_invariants
from mmlab.mm import MM
from mmlab.mm_types import VmFault, linear_page_index
from mmlab.physmem import PhysMem
from mmlab.scenarios import SCENARIOS, Scenario, run_scenario, scenario, scenario_image
from mmlab.system import System

IMAGE = scenario_image()
FLASH = 0x08000000  # the default flash window of PhysMem
RX = PROT_READ | PROT_EXEC


def mounted(strategy: str = "mixedmap", **kw) -> xip.CramfsSuperBlock:
    return xip.mount(IMAGE, None, strategy, system=System(), **kw)


def block_targets(path: str) -> list[int | None]:
    img = open_image(IMAGE)
    return [b.target for b in img.blocks(img.lookup(path))]


# --- mount, open, read ------------------------------------------------------------------------
def test_mount_logs_like_cramfs_mtd_fill_super_and_fills_the_sb_info():
    sb = mounted()
    assert sb.system.dmesg == [
        "cramfs: checking physical address 0x0000000008000000 for linear cramfs image",
        "cramfs: linear cramfs image on mtd:xipfs appears to be 72 KB in size",
    ]
    assert (sb.linear_phys_addr, sb.size, sb.files, sb.magic) == (FLASH, len(IMAGE), 9, 0x28CD3D45)
    assert sb.flags & 0x800  # CRAMFS_FLAG_EXT_BLOCK_POINTERS: direct pointers
    assert sb.mtd_point_size == sb.size
    assert sb.system.physmem.read_phys(FLASH, len(IMAGE)) == IMAGE  # burnt into flash


def test_mount_anywhere_in_the_flash_window_and_nowhere_else():
    system = System(physmem=PhysMem(flash_phys=0x10000000, flash_size=32 << 20))
    sb = xip.mount(IMAGE, 0x10000000 + 0x200000, "mixedmap", system=system)
    run = run_scenario("file-offset", "mixedmap", sb=sb)
    assert run.maps[0].split()[2] == "10202000"  # physical address of block 1 as the "offset"
    with pytest.raises(ValueError, match="flash window"):
        xip.mount(IMAGE, 0x0F000000, "mixedmap", system=system)
    with pytest.raises(ValueError, match="page aligned"):
        xip.mount(IMAGE, 0x10000100, "mixedmap", system=system)
    with pytest.raises(ValueError, match="strategy"):
        xip.mount(IMAGE, None, "lazy", system=system)
    with pytest.raises(CramfsError):
        xip.mount(b"\0" * 4096, None, "mixedmap", system=System())


def test_open_names_errors_as_a_read_only_mount_does():
    sb = mounted()
    with pytest.raises(OSError) as err:
        sb.open("/bin/xipexe", write=True)
    assert err.value.errno == errno.EROFS
    with pytest.raises(FileNotFoundError):
        sb.open("/bin/missing")
    with pytest.raises(IsADirectoryError):
        sb.open("/lib")
    f = sb.open("/lib/libc.so.6")
    entry = open_image(IMAGE).lookup("lib/libc.so.6")
    assert (f.f_inode.i_ino, f.f_inode.i_size, f.f_path) == (entry.ino, 20480,
                                                             "/mnt/lib/libc.so.6")
    assert f.f_inode.i_sb.s_dev == (31 << 20)  # MKDEV(MTD_BLOCK_MAJOR, 0): maps shows 1f:00


def test_readpage_reads_what_the_reader_reads_except_v415s_last_xip_page():
    """v4.15 caps an uncompressed direct last block at i_size % PAGE_SIZE: 0 for xipexe."""
    sb = mounted()
    img = open_image(IMAGE)
    capped = []
    for entry in img.walk():
        if not entry.is_file():
            continue
        got = sb.open("/" + entry.path).read(0, entry.size)
        want = img.read_file(entry)
        last = img.blocks(entry)[-1]
        if entry.size % PAGE_SIZE == 0 and last.kind == "direct":  # xipexe and gappy.so
            capped.append(entry.path)
            assert got[:-PAGE_SIZE] == want[:-PAGE_SIZE]
            assert got[-PAGE_SIZE:] == bytes(PAGE_SIZE) != want[-PAGE_SIZE:]
        else:
            assert got == want, entry.path
    assert capped == ["bin/xipexe", "lib/gappy.so"]


# --- the XIP conditions -----------------------------------------------------------------------
def test_get_block_range_follows_contiguous_direct_uncompressed_pointers():
    sb = mounted()
    exe, libc, gappy = (sb.open(p).f_inode for p in ("/bin/xipexe", "/lib/libc.so.6",
                                                     "/lib/gappy.so"))
    assert xip.cramfs_get_block_range(exe, 0, 4) == (block_targets("bin/xipexe")[0], 4)
    assert xip.cramfs_get_block_range(exe, 1, 3) == (block_targets("bin/xipexe")[1], 3)
    assert xip.cramfs_get_block_range(libc, 0, 5) == (block_targets("lib/libc.so.6")[0], 3)
    assert xip.cramfs_get_block_range(gappy, 0, 4) == (block_targets("lib/gappy.so")[0], 1)
    assert xip.cramfs_get_block_range(gappy, 1, 3)[0] == 0  # a compressed first block
    assert xip.cramfs_get_block_range(gappy, 2, 2) == (block_targets("lib/gappy.so")[2], 2)
    log = [line for line in sb.system.dmesg if "range:" in line]
    assert log[0].startswith("cramfs: range: block 3/4 got 0x") and log[0].endswith(
        "expects 0xc0004400")  # (0x10000 >> 2) + 0x400, DIRECT_PTR | UNCOMPRESSED


def test_last_page_is_shared_looks_at_the_tail_of_the_last_block():
    sb = mounted()
    assert xip.cramfs_last_page_is_shared(sb.open("/lib/ld-tail.so").f_inode)
    assert not xip.cramfs_last_page_is_shared(sb.open("/bin/xipexe").f_inode)  # page multiple
    alone = build_image(Dir({"z": File(b"t" * 5000)}), endian="little", xip=("*",))
    sb2 = xip.mount(alone, None, "mixedmap", system=System())
    assert not xip.cramfs_last_page_is_shared(sb2.open("/z").f_inode)  # image ends: zeros


def test_split_private_data_packing():
    assert xip.split_private_data(3, 3, 0x7000) == 3 + (3 << 16)
    assert xip.split_private_data(0xFFFF, 1, 0) == 0x1FFFF
    with pytest.raises(ValueError, match="16 bits"):
        xip.split_private_data(1 << 16, 1, 0)
    v3 = xip.split_private_data(3, 3, 0x7FFFF7FFA000, "split-v3")
    assert v3 & 0xFFF == 3 and (v3 >> 12) << 12 == 0x7FFFF7FFD000
    with pytest.raises(ValueError, match="12 bits"):
        xip.split_private_data(4096, 1, 0, "split-v3")


# --- every scenario under every strategy ------------------------------------------------------
# scenario -> strategy (or "*") -> (maps offset fields after the touches, (flash, cache, anon))
WHOLE = {"*": (["08001000"], (4, 0, 0))}
EXPECT: dict[str, dict[str, tuple[list[str], tuple[int, int, int]]]] = {
    "xip-executable": WHOLE,
    "libc-past-xip": {"refuse": (["00000000"], (0, 5, 0)),
                      "split": (["0800e000", "00003000"], (3, 2, 0)),
                      "mixedmap": (["00000000"], (3, 2, 0))},
    "last-page-shared": {"refuse": (["00000000"], (0, 3, 0)),
                         "split": (["0800b000", "00002000"], (2, 1, 0)),
                         "mixedmap": (["00000000"], (2, 1, 0))},
    "compressed": {"*": (["00000000"], (0, 3, 0))},
    "writable-private": {"*": (["00000000"], (0, 1, 1))},
    "file-offset": {"*": (["08002000"], (3, 0, 0))},
    "non-contiguous": {"refuse": (["00000000"], (0, 4, 0)),
                       "split": (["08006000", "00001000"], (1, 3, 0)),
                       "mixedmap": (["00000000"], (1, 3, 0))},
    "non-contiguous-tail": {"*": (["08008000"], (2, 0, 0))},
    "shared-readonly": {"*": (["00000000"], (4, 0, 0))},  # not COW: vm_pgoff kept
    "tail-at-offset": {"refuse": (["00001000"], (0, 2, 0)),
                       "split": (["0800c000", "00002000"], (1, 1, 0)),
                       "mixedmap": (["00001000"], (1, 1, 0))},
    "beyond-eof": {"*": (["00008000"], (0, 0, 0))},
}


def expected(name: str, strategy: str):
    table = EXPECT[name]
    key = "split" if strategy == "split-v3" else strategy
    return table.get(key, table.get("*"))


@pytest.mark.parametrize("strategy", xip.STRATEGIES)
@pytest.mark.parametrize("sc", SCENARIOS, ids=lambda s: s.name)
def test_scenario(sc: Scenario, strategy: str):
    run = run_scenario(sc, strategy, image=IMAGE)
    if sc.name == "shared-writable":
        assert run.open_error == "EROFS" and run.driver_ret == -errno.EINVAL
        return
    if sc.name == "shared-write-readonly-fd":
        assert run.open_error is None and run.mmap_error == "EACCES" and run.kernel_log == []
        assert list(run.mm) == []
        return
    offsets, ram = expected(sc.name, strategy)
    assert run.mmap_error is None
    assert [line.split()[2] for line in run.maps_after] == offsets
    assert (run.ram.flash, run.ram.page_cache, run.ram.anonymous) == ram
    assert run.ram.rss_kb == 4 * (ram[1] + ram[2]) and run.ram.anonymous_kb == 4 * ram[2]
    for t in run.touches:
        if sc.name == "beyond-eof":
            assert t.signal == "SIGBUS"
            continue
        assert t.signal is None and t.zero_past_eof is not False, t
        on_flash = t.where == "flash"
        assert (t.minflt, t.majflt) == ((0, 0) if on_flash else (1, 0) if t.kind == "write"
                                        else (0, 1)), t
        # the last page of xipexe and gappy.so: flash holds the data, v4.15's read(2) zeros
        last_page = sc.path in ("/bin/xipexe", "/lib/gappy.so") and (sc.offset >> 12) + t.page == 3
        assert t.matches_read is not (on_flash and last_page), t
    assert check_mm_invariants(run.mm) == []


def test_the_kernel_log_of_each_strategy_is_verbatim():
    logs = {s: run_scenario("libc-past-xip", s, image=IMAGE).kernel_log for s in xip.STRATEGIES}
    assert logs["refuse"][-1] == "cramfs: libc.so.6: direct mmap failed: fix me"
    assert logs["split"][-1] == (
        "cramfs: mapped libc.so.6 at 0x0800e000, 3/5 pages to vma 0x7ffff7ffa000, "
        "page_prot 0x25")
    assert logs["split-v3"][-1] == (  # v3's form, as the patched 6.1 prints it (issue 20)
        "cramfs: mapped libc.so.6 at 0x0800e000 (3/5 pages) to vma 0x7ffff7ffa000, "
        "page_prot 0x25")
    assert logs["mixedmap"][-1] == (
        "cramfs: mapped libc.so.6[0] at 0x0800e000 (3/5 pages) to vma 0x7ffff7ffa000, "
        "page_prot 0x25")
    beyond = run_scenario("beyond-eof", "mixedmap", image=IMAGE).kernel_log
    assert beyond == ["cramfs: xipexe[8]: direct mmap impossible: beyond file limit"]
    shared = run_scenario("last-page-shared", "split", image=IMAGE).kernel_log
    assert "cramfs: mmap: ld-tail.so: last page is shared" in shared


def test_vm_ops_and_flags_after_mmap_per_strategy():
    whole = {s: run_scenario("xip-executable", s, image=IMAGE).vmas[0] for s in xip.STRATEGIES}
    assert whole["mixedmap"].vm_ops is xip.generic_file_vm_ops  # installed first, kept
    assert whole["split"].vm_ops is None  # the patch sets ops only for partial and failed maps
    for vma in whole.values():
        assert vma.vm_flags & (VM_IO | VM_PFNMAP) == VM_IO | VM_PFNMAP
    part = {s: run_scenario("libc-past-xip", s, image=IMAGE) for s in xip.STRATEGIES}
    mixed = part["mixedmap"].vmas[0]
    assert mixed.vm_flags & VM_MIXEDMAP and not mixed.vm_flags & VM_PFNMAP
    lower, upper = part["split"].vmas
    assert lower.vm_ops is None and upper.vm_ops is xip.generic_file_vm_ops
    assert upper.vm_flags & VM_PFNMAP  # inherited from the split: the patch leaves it
    assert not part["split-v3"].vmas[1].vm_flags & VM_PFNMAP  # v3 clears it


# --- the split handler ------------------------------------------------------------------------
def split_mapping(strategy: str = "split"):
    sb = mounted(strategy)
    mm = MM(sb.system)
    addr = mm.mmap(0, 5 * PAGE_SIZE, RX, MAP_PRIVATE, sb.open("/lib/libc.so.6"), 0)
    return sb, mm, addr


def test_split_fault_lock_dance_is_traced_in_order():
    _sb, mm, addr = split_mapping()
    with trace.record(snapshots=False) as rec:
        res = fault.do_page_fault(mm, addr + 3 * PAGE_SIZE)
    assert res.ok and not mm.mmap_sem.is_locked
    names = rec.names
    assert names[:2] == ["do_page_fault", "down_read_trylock"]  # x86 tries before down_read
    inside = names[names.index("cramfs_vmasplit_fault") + 1:]
    wanted = {"up_read", "down_write_killable", "find_vma", "split_vma", "downgrade_write",
              "filemap_fault"}
    assert [n for n in inside if n in wanted] == [
        "up_read", "down_write_killable", "find_vma", "split_vma", "find_vma",
        "downgrade_write", "filemap_fault", "up_read"]


def vmf_at(mm, addr, flags=FAULT_FLAG_ALLOW_RETRY | FAULT_FLAG_KILLABLE):
    vma = mm.find_vma(addr)
    return VmFault(vma, flags, linear_page_index(vma, addr), addr)


def test_split_handler_sigsegv_paths():
    _sb, mm, addr = split_mapping()
    mm.mmap_sem.down_read()
    vmf = vmf_at(mm, addr + 3 * PAGE_SIZE)
    vmf.address = addr + PAGE_SIZE  # below the split point: "should no longer ever fault"
    assert xip.cramfs_vmasplit_fault(vmf) == VM_FAULT_SIGSEGV
    vmf = vmf_at(mm, addr + 3 * PAGE_SIZE)
    vmf.vma.vm_private_data = None
    assert xip.cramfs_vmasplit_fault(vmf) == VM_FAULT_SIGSEGV
    assert mm.mmap_sem.readers == 1  # SIGSEGV returns before the lock dance
    assert mm.system.dmesg[-2:] == [
        "cramfs: fault: addr=0x7ffff7ffb000 vma=0x7ffff7ffa000-0x7ffff7fff000 split=0x7ffff7ffd000",
        "cramfs: fault: addr=0x7ffff7ffd000 vma=0x7ffff7ffa000-0x7ffff7fff000 split=0x7ffff7ffa000",
    ]  # without private data the split point decodes to the VMA start
    mm.mmap_sem.up_read()


def test_split_handler_oom_at_the_map_count_limit():
    _sb, mm, addr = split_mapping()
    mm.system.max_map_count = mm.map_count
    res = fault.do_page_fault(mm, addr + 4 * PAGE_SIZE)
    assert res.oom and res.ret & VM_FAULT_OOM and not mm.mmap_sem.is_locked
    assert len(list(mm)) == 1  # nothing split


def test_split_handler_killed_while_waiting_returns_retry_without_the_lock():
    _sb, mm, addr = split_mapping()
    sem = mm.mmap_sem
    sem.down_read()
    sem.down_read()  # another reader: the write lock would have to wait
    steps = xip.vmasplit_fault_steps(vmf_at(mm, addr + 3 * PAGE_SIZE), lambda: sem.is_locked)
    assert [next(steps), next(steps)] == ["up_read", "down_write_killable"]
    with pytest.raises(StopIteration) as done:
        next(steps)
    assert done.value.value == VM_FAULT_RETRY and sem.readers == 1  # ours dropped, not retaken
    sem.up_read()
    res = fault.do_page_fault(mm, addr + 3 * PAGE_SIZE, fatal_signal_pending=True)
    assert res.ok and not sem.is_locked  # uncontended, down_write_killable does not wait


def test_mixedmap_insert_failure_fails_the_mmap_and_leaves_no_vma():
    sb = mounted("mixedmap")
    mm = MM(sb.system)
    mm.pgd.fail_next_alloc = 1
    with pytest.raises(OSError) as err:
        mm.mmap(0, 5 * PAGE_SIZE, RX, MAP_PRIVATE, sb.open("/lib/libc.so.6"), 0)
    assert err.value.errno == errno.ENOMEM and list(mm) == []


def test_direct_pages_point_at_the_blocks_the_reader_finds():
    for strategy in ("split", "mixedmap"):
        run = run_scenario("libc-past-xip", strategy, image=IMAGE)
        targets = block_targets("lib/libc.so.6")
        assert [t.pfn for t in run.touches[:3]] == [(FLASH + targets[i]) >> 12 for i in range(3)]
        assert all(not run.mm.physmem.pfn_valid(t.pfn) for t in run.touches[:3])


# --- the tail check the patch changes ----------------------------------------------------------
def tail_lab_image() -> bytes:
    """``a``: 2 pages + 100 bytes of XIP; right after it ``b``'s pointers, then b's zero page."""
    return build_image(Dir({"a": File(b"A" * (2 * PAGE_SIZE + 100)), "b": File(bytes(PAGE_SIZE))}),
                       endian="little", xip=("*",))


@pytest.mark.parametrize(("strategy", "tail_check", "direct_pages", "leaks"), [
    ("mixedmap", None, 1, False),          # v4.15 reads the last block's own pointer
    ("split", "pages-1", 1, False),        # before the patch: right for every vm_pgoff
    ("split", "max_pages-1", 2, True),     # the patch: looks vm_pgoff pages too far
])
def test_seed_tail_check_at_a_nonzero_offset(strategy, tail_check, direct_pages, leaks):
    image = tail_lab_image()
    sb = xip.mount(image, None, strategy, system=System(), tail_check=tail_check)
    sc = Scenario("lab", "/a", PAGE_SIZE, 2 * PAGE_SIZE, RX, MAP_PRIVATE, "", touch=(0, 1))
    run = run_scenario(sc, strategy, sb=sb, image=image)
    assert run.ram.flash == direct_pages
    assert run.touches[1].zero_past_eof is (not leaks)  # b's block pointers past a's EOF
    at_zero = run_scenario(Scenario("lab0", "/a", 0, 3 * PAGE_SIZE, RX, MAP_PRIVATE, "",
                                    touch=(2,)), strategy, sb=sb)
    assert at_zero.ram.flash == 2 and at_zero.touches[0].zero_past_eof  # vm_pgoff 0: all agree


def test_scenario_lookup_names_the_choices():
    assert scenario("compressed").path == "/etc/motd.txt"
    with pytest.raises(KeyError, match="xip-executable"):
        scenario("nope")


# scenario -> (reaches cramfs_get_block_range, reaches the last-page test, pages mapped in place
# when the VMA is only partly mappable: None = whole VMA or nothing)
MMAP_PATH = {
    "xip-executable": (True, True, None), "libc-past-xip": (True, False, 3),
    "last-page-shared": (True, True, 2), "compressed": (True, False, 0),
    "writable-private": (False, False, 0), "file-offset": (True, True, None),
    "non-contiguous": (True, False, 1), "non-contiguous-tail": (True, True, None),
    "shared-readonly": (True, True, None), "tail-at-offset": (True, True, 1),
    "beyond-eof": (False, False, 0),
}


@pytest.mark.parametrize("strategy", xip.STRATEGIES)
@pytest.mark.parametrize("name", MMAP_PATH)
def test_the_mmap_runs_the_kernel_functions_in_order(name, strategy):
    in_range, at_tail, partial = MMAP_PATH[name]
    if strategy == "mixedmap":
        want = ["generic_file_readonly_mmap", "generic_file_mmap"]
        tail = "cramfs_last_page_is_shared"
        mapped = ["remap_pfn_range"] if partial is None else ["vm_insert_mixed"] * partial
    else:  # the patch's version: its own checks, remap_pfn_range even for a part
        want = ["seed_physmem_mmap"]
        tail = "seed_last_page_is_shared"
        mapped = ["remap_pfn_range"] if partial is None or (partial and strategy != "refuse") \
            else []
    want += ["cramfs_get_block_range"] * in_range + [tail] * at_tail
    if in_range and partial != 0:
        want += mapped
    assert run_scenario(name, strategy, image=IMAGE).mmap_calls == want


PAGE_CACHE_INSIDE = {"find_get_page", "page_cache_read", "add_to_page_cache_lru", "cramfs_readpage"}
FAULT_ENTRY = ["do_page_fault", "down_read_trylock", "find_vma", "handle_mm_fault",
               "__handle_mm_fault", "handle_pte_fault", "do_fault", "do_read_fault"]


@pytest.mark.parametrize("strategy", xip.STRATEGIES)
def test_the_first_fault_past_the_xip_part_runs_the_kernel_functions_in_order(strategy):
    run = run_scenario("libc-past-xip", strategy, image=IMAGE)
    page3 = next(t for t in run.touches if t.page == 3)
    calls = [c for c in page3.calls if c not in PAGE_CACHE_INSIDE]
    calls = calls[:calls.index("up_read", calls.index("finish_fault")) + 1]
    if strategy.startswith("split"):  # the split ops have no map_pages: no fault-around
        assert calls == FAULT_ENTRY + [
            "__do_fault", "cramfs_vmasplit_fault", "up_read", "down_write_killable", "find_vma",
            "split_vma", "__split_vma", "find_vma", "downgrade_write", "filemap_fault",
            "finish_fault", "up_read"]
    else:
        assert calls == FAULT_ENTRY + ["do_fault_around", "filemap_map_pages", "__do_fault",
                                       "filemap_fault", "finish_fault", "up_read"]
