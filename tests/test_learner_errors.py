"""Learner-facing calls fail with a sentence that says what was wrong and what to do."""

from __future__ import annotations

import pytest

from mmlab.mm import MAP_ANONYMOUS, MAP_PRIVATE, MM, PAGE_SIZE, PROT_READ
from mmlab.system import System


def test_mmap_of_a_path_says_how_to_open_a_file():
    mm = MM(System())
    with pytest.raises(TypeError, match=r"sb\.open\('/lib/libc\.so\.6'\).*file_from_path"):
        mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE, "/lib/libc.so.6")


def test_find_vma_refuses_negative_and_kernel_addresses_with_the_rule():
    mm = MM(System())
    mm.mmap(0, PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS)
    with pytest.raises(ValueError, match="not an address: find_vma takes an unsigned long"):
        mm.find_vma(-1)
    with pytest.raises(ValueError, match="kernel address: user space ends at TASK_SIZE"):
        mm.find_vma(0xFFFF888000000000)
    assert mm.find_vma(0) is not None  # below every VMA: the first one


def test_fault_around_bytes_says_negative_is_not_a_size():
    system = System()
    with pytest.raises(ValueError, match="unsigned number of bytes, not -5"):
        system.fault_around_bytes = -5
    with pytest.raises(ValueError, match="more than one PTE table"):
        system.fault_around_bytes = 1 << 30
    system.fault_around_bytes = 3 * PAGE_SIZE
    assert system.fault_around_bytes == 2 * PAGE_SIZE


def test_page_cache_explorer_names_the_vmas_and_where_the_file_ends():
    from mmlab.viz.pagecache import PageCacheExplorer

    pc = PageCacheExplorer()
    with pytest.raises(KeyError, match="no VMA 'C' here; the VMAs are 'A', 'B'"):
        pc.touch("C", 3)
    with pytest.raises(ValueError, match="file page 25 is not in the file: it has 20 pages"):
        pc.touch("A", 25)
    with pytest.raises(ValueError, match="file page 99 is not in the file"):
        pc.read(99)
    with pytest.raises(ValueError, match="file page -1 is not in the file"):
        pc.read(-1)
    assert pc.touch("A", 3).outcome == "major"


def test_a_bad_replay_name_lists_the_replays():
    from mmlab.viz import addrspace

    with pytest.raises(KeyError, match="no replay 'nonsense'; there are: 'mmap'"):
        addrspace.replay("nonsense")


def test_the_image_map_explains_a_negative_or_unreadable_offset():
    from mmlab.cramfs.samples import sample_tree
    from mmlab.cramfs.writer import build_image
    from mmlab.viz.cramfs_map import ImageMapExplorer

    explorer = ImageMapExplorer(build_image(sample_tree()))
    explorer.set(byte="-3")
    assert "byte -3: offsets count up from 0" in explorer.text and "0x-3" not in explorer.text
    explorer.set(byte="zz")
    assert "'zz' is not a number: type an offset" in explorer.text
    explorer.set(byte="0x10")
    assert "byte 0x10" in explorer.text


def test_lab05_takes_a_list_for_the_pair_and_reports_a_learners_exception():
    from mmlab.labs import xip_layout

    def starting():
        from mmlab.constants import PAGE_SIZE
        from mmlab.cramfs.elf import PF_R, PF_W, PF_X, make_elf
        from mmlab.cramfs.tree import Dir, File

        libc = make_elf([(PF_R | PF_X, 0, 2 * PAGE_SIZE), (PF_R | PF_W, 2 * PAGE_SIZE,
                                                            2 * PAGE_SIZE + 600)],
                        4 * PAGE_SIZE + 600, fill=b"libc text and data ")
        return Dir({"lib": Dir({"libc.so.6": File(libc, mode=0o755)})}), ("lib/*",)

    as_tuple = xip_layout.check(starting)
    as_list = xip_layout.check(lambda: list(starting()))
    assert as_tuple.problem is None and as_list.problem is None
    assert as_list.flash == as_tuple.flash

    def broken():
        raise ValueError("a typo")

    assert xip_layout.check(broken).problem == "make_layout raised ValueError: a typo"
    assert "it returned a Dir" in xip_layout.check(lambda: starting()[0]).problem
