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
