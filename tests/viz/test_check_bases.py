"""The check helpers of mmlab.viz and mmlab.labs report in the base their quantities are read
in: pointers, addresses, offsets and flags in hex (small ones too: a block pointer 0x2f4, an
image offset 0x3000), counts and booleans in decimal, error codes as -22."""

import re

import pytest

from mmlab.constants import PAGE_SIZE
from mmlab.labs import remap_cow_rule, tail_check
from mmlab.viz.cramfs_map import check_block_pointer_kind
from mmlab.viz.xipconditions import bailout_cases, check_bailout_reason


def test_a_block_pointer_is_shown_in_hex_even_a_small_one():
    report = check_block_pointer_kind(lambda ptr: "uncompressed").first_failure
    assert report.startswith("my_block_pointer_kind(0x2f4) returned 'uncompressed'")


def test_remap_cow_rule_shows_flags_addresses_and_pfns_in_hex_and_errors_as_minus_22():
    wrong = remap_cow_rule.check(lambda *args: -22 if args[1] else 0)
    args = re.match(r"remap_cow_rule\((.*)\) returned", wrong.first_failure).group(1)
    assert all(a.startswith("0x") or a == "0" for a in args.split(", ")), args
    assert " returned -22; expected 0x" in wrong.first_failure
    assert "returned -0x" not in wrong.first_failure


def test_tail_range_shows_pointers_and_image_offsets_in_hex():
    wrong = tail_check.check(lambda i_size, ptr: (ptr, 1) if i_size % PAGE_SIZE else None)
    call = re.match(r"tail_range\(\S+, (\S+)\) returned \((\S+), \S+\); expected \((\S+),",
                    wrong.first_failure)
    assert all(call.group(k).startswith("0x") for k in (1, 2, 3)), wrong.first_failure


def test_counts_and_booleans_stay_decimal():
    wrong = check_bailout_reason(lambda *args: "nonsense")
    assert "0x" not in wrong.first_failure
    assert all(not isinstance(a, int) or a <= 0xFFFF for args, _ in bailout_cases() for a in args)


def test_each_helper_asks_for_its_base_itself_not_by_the_size_of_its_inputs(monkeypatch):
    """The automatic choice (hex when an input is past 0xFFFF) is a guess from the cases; a
    helper whose inputs are pointers, addresses or flags says so."""
    from mmlab.viz import cramfs_map, xipconditions

    asked = {}

    def spy(fn, cases, *, name=None, hex_ints=None, **_rest):
        asked[name] = hex_ints
        raise StopIteration

    for module in (cramfs_map, xipconditions, remap_cow_rule, tail_check):
        monkeypatch.setattr(module, "check_function", spy)
    for run in (lambda: check_block_pointer_kind(len), lambda: remap_cow_rule.check(max),
                lambda: tail_check.check(max),
                lambda: xipconditions.check_bailout_reason(max)):
        with pytest.raises(StopIteration):
            run()
    assert asked == {"my_block_pointer_kind": True, "remap_cow_rule": True, "tail_range": True,
                     "my_bailout_reason": None}
