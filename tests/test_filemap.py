"""The page cache and filemap_fault (mm/filemap.c @ v4.15) through the real fault path."""

from __future__ import annotations

import errno

import pytest

from mmlab import fault, filemap, fs, memory, procfs, shmem, system, trace, truncate
from mmlab.constants import (
    MAP_ANONYMOUS,
    MAP_PRIVATE,
    MAP_SHARED,
    PAGE_SHIFT,
    PAGE_SIZE,
    PROT_EXEC,
    PROT_READ,
    PROT_WRITE,
)
from mmlab.fault import (
    VM_FAULT_LOCKED,
    VM_FAULT_MAJOR,
    VM_FAULT_NOPAGE,
    VM_FAULT_SIGBUS,
    SignalDelivered,
    VmFault,
    do_page_fault,
)
from mmlab.memory import remap_pfn_range, zap_page_range
from mmlab.mm import MM, find_vma
from mmlab.physmem import PHYS_PFN, SetPageError, page_count, page_mapcount, unlock_page
from mmlab.uaccess import user_read, user_write
from tests.helpers import model_file

FLASH = 0x08000000


@pytest.fixture
def no_fault_around():
    """``echo 4096 > /sys/kernel/debug/fault_around_bytes``: fault-around off."""
    system.default_system().fault_around_bytes = PAGE_SIZE


def filemap_results(rec) -> list[int]:
    return [s.result for s in rec.steps if s.name == "filemap_fault"]


def test_reexports_fs_types():
    assert filemap.AddressSpace is fs.AddressSpace
    assert filemap.File is fs.File and filemap.Inode is fs.Inode


def test_first_touch_is_major_second_mapping_minor(no_fault_around):
    mm = MM()
    f = model_file(b"m" * (2 * PAGE_SIZE))
    a = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    b = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    with trace.record(snapshots=False) as rec:
        first = do_page_fault(mm, a + PAGE_SIZE)
    assert filemap_results(rec) == [VM_FAULT_MAJOR | VM_FAULT_LOCKED] == [0x204]
    assert first.ret == 0x204 and first.major and first.ok
    assert (mm.maj_flt, mm.min_flt) == (1, 0)
    assert mm.system.vmstat["pgmajfault"] == 1
    names = [n for n in rec.names if n not in ("find_get_page", "add_to_page_cache_lru")]
    assert names == [
        "do_page_fault",
        "down_read_trylock",
        "find_vma",
        "handle_mm_fault",
        "__handle_mm_fault",
        "handle_pte_fault",
        "do_fault",
        "do_read_fault",
        "__do_fault",
        "filemap_fault",
        "page_cache_read",
        "model_readpage",  # the filesystem's ->readpage
        "finish_fault",
        "up_read",
    ]
    with trace.record(snapshots=False) as rec:
        second = do_page_fault(mm, b + PAGE_SIZE)
    assert filemap_results(rec) == [VM_FAULT_LOCKED] == [0x200]
    assert second.ret == 0x200 and not second.major
    assert (mm.maj_flt, mm.min_flt) == (1, 1)
    page = f.f_mapping.pages[1]
    assert mm.pgd.walk(a + PAGE_SIZE).pfn == mm.pgd.walk(b + PAGE_SIZE).pfn == page.pfn
    assert page_mapcount(page) == 2 and page_count(page) == 3
    assert "PG_locked" not in page.flags
    assert memory.check_mm_invariants(mm) == []


def test_fault_around_maps_cached_neighbours_without_filemap_fault():
    assert system.default_system().fault_around_bytes == 65536  # the v4.15 default: 16 pages
    mm = MM()
    f = model_file(bytes(range(256)) * 16 * 6)  # 6 pages
    a = mm.mmap(0, 6 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    for i in (0, 2, 3):
        assert do_page_fault(mm, a + i * PAGE_SIZE).ret == 0x204  # cold: map_pages finds nothing
    b = mm.mmap(0, 6 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, b + 2 * PAGE_SIZE)
    assert res.ret == VM_FAULT_NOPAGE and not res.major and res.ok
    assert "filemap_map_pages" in rec.names and "filemap_fault" not in rec.names
    mapped = [(addr - b) >> PAGE_SHIFT for addr, _ in mm.pgd.range(b, b + 6 * PAGE_SIZE)]
    assert mapped == [0, 2, 3]  # only pages already in the cache, no reads
    assert f.f_mapping.nrpages == 3
    assert memory.check_mm_invariants(mm) == []


def test_beyond_eof_is_sigbus_but_the_tail_of_the_last_page_reads_zero():
    mm = MM()
    data = b"E" * (PAGE_SIZE + 100)
    f = model_file(data)
    addr = mm.mmap(0, 3 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    assert user_read(mm, addr + PAGE_SIZE + 98, 6) == b"EE\0\0\0\0"
    assert user_read(mm, addr + 2 * PAGE_SIZE - 1, 1) == b"\0"
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr + 2 * PAGE_SIZE)
    assert res.signal == "SIGBUS" and res.si_code == "BUS_ADRERR"
    assert res.ret == VM_FAULT_SIGBUS and filemap_results(rec) == [VM_FAULT_SIGBUS]
    assert "page_cache_read" not in rec.names  # no read beyond EOF
    assert mm.mmap_sem.readers == 0 and not mm.mmap_sem.writer
    with pytest.raises(SignalDelivered):
        user_read(mm, addr + 2 * PAGE_SIZE + 5, 1)


def test_xip_consequence_vm_pgoff_is_a_pfn_so_filemap_fault_sigbuses():
    """After remap_pfn_range on a private file VMA, a PTE that gets zapped and re-faulted goes
    to filemap_fault with pgoff = pfn + n: far beyond EOF."""
    mm = MM()
    data = b"X" * (2 * PAGE_SIZE)
    mm.physmem.load_flash(data)
    f = model_file(data)
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    vma = find_vma(mm, addr)
    assert remap_pfn_range(vma, addr, PHYS_PFN(FLASH), 2 * PAGE_SIZE, vma.vm_page_prot) == 0
    assert user_read(mm, addr, 2) == b"XX"
    zap_page_range(vma, addr + PAGE_SIZE, PAGE_SIZE)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, addr + PAGE_SIZE)
    vmf = next(s.args["vmf"] for s in rec.steps if s.name == "filemap_fault")
    assert vmf.pgoff == PHYS_PFN(FLASH) + 1
    assert res.signal == "SIGBUS"


def test_direct_filemap_fault_results():
    mm = MM()
    f = model_file(b"d" * 10)
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    vma = find_vma(mm, addr)
    mm.mmap_sem.down_read()
    vmf = VmFault(vma=vma, flags=fault.FAULT_FLAG_ALLOW_RETRY, pgoff=0, address=addr)
    assert filemap.filemap_fault(vmf) == 0x204 and vmf.page is f.f_mapping.pages[0]
    assert "PG_locked" in vmf.page.flags and page_count(vmf.page) == 2
    unlock_page(vmf.page)
    mm.physmem.put_page(vmf.page)
    vmf = VmFault(vma=vma, flags=0, pgoff=0, address=addr)
    assert filemap.filemap_fault(vmf) == 0x200
    unlock_page(vmf.page)
    mm.physmem.put_page(vmf.page)
    assert filemap.filemap_fault(VmFault(vma=vma, flags=0, pgoff=1, address=addr)) == 0x2
    mm.mmap_sem.up_read()


def test_locked_page_makes_the_fault_retry_once():
    mm = MM()
    f = model_file(b"L" * PAGE_SIZE)
    a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    user_read(mm, a, 1)
    mm.munmap(a, PAGE_SIZE)
    page = f.f_mapping.pages[0]
    page.flags.add("PG_locked")  # an I/O in flight on the cached page
    b = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, b)
    # First try: fault-around skips the locked page (trylock fails), filemap_fault drops
    # mmap_sem, waits for the I/O and says RETRY. Second try: the page is unlocked now and
    # fault-around maps it (VM_FAULT_NOPAGE) without calling filemap_fault at all.
    assert res.retries == 1 and res.ok and res.ret == VM_FAULT_NOPAGE
    assert filemap_results(rec) == [fault.VM_FAULT_RETRY]
    assert rec.names.count("filemap_map_pages") == 2
    assert mm.mmap_sem.readers == 0 and "PG_locked" not in page.flags
    assert memory.check_mm_invariants(mm) == []


def test_locked_page_retry_without_fault_around(no_fault_around):
    mm = MM()
    f = model_file(b"L" * PAGE_SIZE)
    a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    user_read(mm, a, 1)
    mm.munmap(a, PAGE_SIZE)
    f.f_mapping.pages[0].flags.add("PG_locked")
    b = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    with trace.record(snapshots=False) as rec:
        res = do_page_fault(mm, b)
    assert filemap_results(rec) == [fault.VM_FAULT_RETRY, VM_FAULT_LOCKED]
    assert res.retries == 1 and res.ret == VM_FAULT_LOCKED and mm.min_flt == 1
    assert mm.mmap_sem.readers == 0


def test_readpage_errors_become_sigbus():
    mm = MM()
    f = model_file(b"x" * PAGE_SIZE)

    def failing_readpage(file, page):
        SetPageError(page)
        unlock_page(page)
        return -errno.EIO

    f.f_mapping.a_ops = fs.AddressSpaceOperations(readpage=failing_readpage)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    res = do_page_fault(mm, addr)
    assert res.signal == "SIGBUS" and mm.mmap_sem.readers == 0

    # cramfs "bad data blocksize": readpage returns 0 but leaves the page not uptodate.
    g = model_file(b"y" * PAGE_SIZE)
    calls = []

    def bad_block_readpage(file, page):
        calls.append(page.index)
        SetPageError(page)
        unlock_page(page)
        return 0

    g.f_mapping.a_ops = fs.AddressSpaceOperations(readpage=bad_block_readpage)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, g, 0)
    res = do_page_fault(mm, addr)
    assert res.signal == "SIGBUS" and calls == [0, 0]  # read, then page_not_uptodate's retry
    assert memory.check_mm_invariants(mm) == []


def test_out_of_memory_reading_a_page_is_oom():
    mm = MM()
    f = model_file(b"o" * PAGE_SIZE)
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    mm.physmem.fail_next_allocs = 1
    res = do_page_fault(mm, addr)
    assert res.ret == fault.VM_FAULT_OOM and res.oom and res.signal is None


def test_drop_caches_makes_the_next_fault_major_again(no_fault_around):
    mm = MM()
    f = model_file(b"c" * PAGE_SIZE)
    a = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    user_read(mm, a, 1)
    assert truncate.invalidate_mapping_pages(f.f_mapping) == 0  # mapped pages stay
    mm.munmap(a, PAGE_SIZE)
    free = mm.physmem.nr_free
    assert truncate.invalidate_mapping_pages(f.f_mapping) == 1
    assert mm.physmem.nr_free == free + 1 and f.f_mapping.nrpages == 0
    b = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    assert do_page_fault(mm, b).major and mm.maj_flt == 2


def test_generic_file_mmap_and_readonly_mmap_errors():
    mm = MM()
    f = model_file(b"g" * PAGE_SIZE)
    f.f_mapping.a_ops = fs.AddressSpaceOperations(readpage=None)
    with pytest.raises(OSError) as exc:
        mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, f, 0)
    assert exc.value.errno == errno.ENOEXEC
    assert mm.map_count == 0

    ro_ops = fs.FileOperations(mmap=filemap.generic_file_readonly_mmap)
    rw = model_file(b"r" * PAGE_SIZE, mode=fs.FMODE_READ | fs.FMODE_WRITE)
    rw.f_op = ro_ops
    with pytest.raises(OSError) as exc:
        mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, rw, 0)  # shared + VM_MAYWRITE
    assert exc.value.errno == errno.EINVAL
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ | PROT_EXEC, MAP_PRIVATE, rw, 0)  # COW is fine
    assert find_vma(mm, addr).vm_ops is filemap.generic_file_vm_ops
    ro = model_file(b"o" * PAGE_SIZE)
    ro.f_op = ro_ops
    addr = mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_SHARED, ro, 0)  # O_RDONLY: no VM_MAYWRITE
    assert user_read(mm, addr, 1) == b"o"


def test_shmem_zero_setup_faults_are_minor_and_shared():
    mm = MM()
    addr = mm.mmap(0, 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS)
    vma = find_vma(mm, addr)
    assert shmem.shmem_zero_setup(vma) == 0
    assert vma.vm_ops is shmem.shmem_vm_ops
    user_write(mm, addr + PAGE_SIZE, b"shared")
    assert mm.maj_flt == 0 and mm.min_flt >= 1
    page = vma.vm_file.f_mapping.pages[1]
    assert page.read(0, 6) == b"shared"
    assert user_read(mm, addr, 2) == b"\0\0"
    assert "/dev/zero (deleted)" in procfs.format_vma(vma)
    assert memory.check_mm_invariants(mm) == []
