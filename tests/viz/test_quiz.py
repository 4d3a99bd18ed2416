"""Fair checks: a right answer in any reasonable form passes; a wrong one says what was expected."""

from __future__ import annotations

import html

import pytest

from mmlab import race
from mmlab.viz.addrspace import find_vma_cases, my_find_vma_reference
from mmlab.viz.pagetable import address_fields
from mmlab.viz.quiz import (
    OUTPUT_WIDTH,
    Drill,
    Quiz,
    check_function,
    compare_guess,
    learner_value,
    quiz_bank,
    same_value,
    show_value,
    wrap_output,
)


def test_a_list_for_a_tuple_passes():
    def my_find_vma(vmas, addr):
        found = my_find_vma_reference(vmas, addr)
        return None if found is None else list(found)  # [s, e], not (s, e)

    result = check_function(my_find_vma, find_vma_cases())
    assert result.ok, str(result)


def test_my_indices_returning_a_list_passes():
    cases = [((a,), address_fields(a)[:4]) for a in (0x7F3A5C2D1E8F, 0x400123, 0x1000)]
    assert check_function(lambda a: list(address_fields(a)[:4]), cases).ok


def test_a_failure_shows_input_result_and_expected_in_hex_for_addresses():
    cases = [((0x7F0000001000,), 0x7F0000000000)]
    result = check_function(lambda a: a, cases, name="page_start", hex_ints=True)
    assert result.first_failure == ("page_start(0x7f0000001000) returned 0x7f0000001000; "
                                    "expected 0x7f0000000000")


def test_an_unordered_check_takes_any_order():
    cases = [((), [0, 2, 3])]
    assert check_function(lambda: [3, 0, 2], cases, unordered=True).ok
    assert not check_function(lambda: [3, 0, 2], cases).ok


def test_compare_guess_takes_a_number_as_text_or_hex():
    assert "is right" in compare_guess("3", 3)
    assert "is right" in compare_guess(" 3 ", 3)
    assert "is right" in compare_guess("0x8001", 0x8001, "vm_pgoff")
    assert "is right" in compare_guess(0x8001, "0x8001")


def test_compare_guess_takes_a_set_in_any_order():
    present = {0, 2, 3, 4, 5}
    assert "is right" in compare_guess({0, 2, 3, 4, 5}, present, "the present pages")
    assert "is right" in compare_guess([2, 0, 3, 4, 5], present, "the present pages")
    assert "is right" in compare_guess([2, 0, 3, 4, 5], [0, 2, 3, 4, 5], "the present pages",
                                       unordered=True)
    assert "is right" not in compare_guess([2, 0, 3, 4], present, "the present pages")


def test_compare_guess_prints_in_the_base_the_quantity_is_read_in():
    line = compare_guess(0x8000, 0x8001, "vm_pgoff")
    assert "0x8000" in line and "0x8001" in line
    assert "0x10004000" in compare_guess(None, 0x10004000, "the split address")
    assert compare_guess(2, 3, "the number of VMAs") == (
        "You guessed 2; the number of VMAs is 3. Find where your reasoning parted.")
    assert "0x3" in compare_guess("0x2", 3, "the number of VMAs")  # the learner wrote hex


def test_compare_guess_keeps_booleans_and_none_apart_from_numbers():
    assert "is right" in compare_guess(True, True)
    assert "is right" in compare_guess("True", True)
    assert "is right" in compare_guess(1, True) and "is right" in compare_guess(0, False)
    assert "is right" not in compare_guess(0, True) and "is right" not in compare_guess(2, True)
    assert "is right" not in compare_guess(True, 1)  # a count is not answered by True
    assert "is right" in compare_guess("None", None) or "did not write" in compare_guess(
        "None", None)
    assert "is right" not in compare_guess(0, None)


def test_reports_are_wrapped_between_words_for_the_output_area():
    line = compare_guess("split_vma", "mmap_read_unlock",
                         "the first call that goes wrong (in 6.12's names)")
    assert max(map(len, line.splitlines())) <= OUTPUT_WIDTH < len(" ".join(line.split()))
    assert "'mmap_read_unlock'" in line and "reasoning parted" in line.splitlines()[-1]
    text = wrap_output("x " * 30 + "__split_vma(-EINVAL) " + "y " * 40 + "\n  short")
    assert "__split_vma(-EINVAL)" in text.split() and text.endswith("\n  short")
    assert all(len(row) <= OUTPUT_WIDTH for row in text.splitlines())
    assert wrap_output("a" * 120) == "a" * 120  # one word longer than the width stays whole
    assert race._TABLE_WIDTH == OUTPUT_WIDTH  # the model's race table wraps at the same width


def test_learner_values():
    assert learner_value("file page 3") == 3 == learner_value("page 3")
    assert learner_value("pfn 0x8001") == 0x8001 and learner_value("segv") == "SIGSEGV"
    assert "is right" in compare_guess("Bus", "SIGBUS", "the signal")
    assert learner_value("page fault") == "page fault"  # a word answer stays words
    assert learner_value("0x10") == 16 and learner_value("NULL") is None
    assert learner_value([1, "2"]) == (1, 2) and learner_value({1, "0x2"}) == frozenset({1, 2})
    assert same_value([1, 2], (1, 2)) and not same_value([2, 1], (1, 2))
    assert show_value({3, 1}) == "{1, 3}" and show_value(0x7F0000000000) == "0x7f0000000000"


class Pair(Drill):
    def make(self):
        return "a pair?", (self.rng.randrange(9), 4)


def test_a_drill_takes_a_list_for_a_tuple():
    d = Pair(3)
    assert d.check(list(d.answer())) and d.check(tuple(str(v) for v in d.answer()))


def test_every_quiz_of_the_bank_loads_and_its_answer_is_an_option():
    bank = quiz_bank()
    assert len(bank) >= 40
    for name, data in bank.items():
        q = Quiz.named(name)
        q.choose(data.answer)
        assert q.check() is True and html.escape(data.why) in q.feedback.value
        assert all(0 <= i < len(data.options) and i != data.answer for i in data.hints), name


def test_an_unknown_quiz_name_lists_the_chapter_s_questions():
    with pytest.raises(KeyError, match="ch01/vma-pages"):
        Quiz.named("ch01/nonsense")


def test_compare_guess_reads_bare_hex_digits_where_the_quantity_is_hex():
    assert "is right" in compare_guess("08001000", 0x08001000, "the offset column")
    assert "is right" in compare_guess("00000000", 0, "the offset column")
    assert "is right" not in compare_guess("10", 10, "the offset column")  # hex 0x10
    assert "is right" in compare_guess("10", 10, "the number of pages")


def test_a_guess_may_carry_its_unit_or_be_a_pair_written_as_text():
    assert "is right" in compare_guess("20 bytes", 20, "the size of directory bin")
    assert "is right" in compare_guess("3 pages", 3, "the number of pages")
    assert same_value("5, 0", (5, 0)) and same_value("(5, 0)", (5, 0))
    assert not same_value("5", (5, 0)) and not same_value("5, x", (5, 0))


def test_a_check_reports_every_input_in_one_base():
    def kind(ptr):
        if ptr == 756:
            raise AttributeError("boom")
        return "x"

    cases = [((0x80002F4C,), "y"), ((756,), "y")]
    report = str(check_function(kind, cases, name="kind"))
    assert "kind(0x80002f4c) returned 'x'; expected 'y'" in report
    report = str(check_function(lambda p: "y" if p > 1000 else "z", cases, name="kind"))
    assert "kind(0x2f4)" in report


def test_a_quiz_verdict_names_its_option_and_goes_when_the_choice_changes():
    q = Quiz("vm_end is?", ["the last byte", "the first byte after"], 1, "It is exclusive.")
    q.choose(0)
    q.check()
    assert "Not quite:</b> <i>the last byte</i>" in q.feedback.value
    q.choose(1)
    assert q.feedback.value == ""
    q.check()
    assert "Right:</b> <i>the first byte after</i>" in q.feedback.value


def test_none_is_a_guess_and_only_the_placeholder_is_not():
    assert "is right" in compare_guess(None, None, "the first page of what find_vma returns")
    assert "You guessed None" in compare_guess(None, 12, "the first page")
    assert "did not write a guess" in compare_guess(..., 12, "the first page")


def test_words_errno_names_and_the_base_of_a_return_value():
    assert "is right" in compare_guess("three", 3, "the number of VMAs")
    assert "is right" in compare_guess("-EINVAL", -22, "remap_pfn_range's return")
    line = compare_guess(-22, -22, "remap_pfn_range's return")
    assert line == "Your guess -22 is right: remap_pfn_range's return is -22."
    assert "0x0" not in compare_guess(0, -22, "remap_pfn_range's return")
    assert "0x8001" in compare_guess(1, 0x8001, "vma.vm_pgoff")


def test_a_failing_tuple_says_where_it_differs():
    cases = [((1,), (255, 511, 447, 507, 0x123))]
    report = str(check_function(lambda a: (255, 511, 447, 251, 0x123), cases, name="f"))
    assert report.endswith("(the 4th value: 251 (0xfb) against 507 (0x1fb))")


def test_each_column_of_a_check_keeps_its_own_base():
    cases = [((0x40000000, 4), 4), ((0x40001000, 5), 5)]
    report = str(check_function(lambda addr, n: n + 1, cases, name="pages"))
    assert "pages(0x40000000, 4) returned 5; expected 4" in report
    assert "is right" in compare_guess("none", 0, "the number of major faults")


def test_bytes_written_as_a_dump_prints_them():
    assert "is right" in compare_guess("00 10 00 00", [0, 0x10, 0, 0], "the list of bytes 4 to 7",
                                       hex_ints=True)
    assert "is right" not in compare_guess("00 10 00 00", [0, 0x10, 0, 0], "the bytes")


def test_names_of_errors_and_signals_in_any_case_and_yes_for_true():
    assert "Your guess 'EROFS' is right" in compare_guess("EROFS", -30, "open(O_RDWR)'s error")
    assert "is right" in compare_guess("erofs", "EROFS", "open(O_RDWR)'s error")
    assert "is right" in compare_guess("sigbus", "SIGBUS", "the signal")
    assert "is right" in compare_guess("-einval", -22, "the return")
    assert "is right" in compare_guess("yes", True, "whether both threads can split")
    assert "is right" not in compare_guess("no", True, "whether both threads can split")
    assert "is right" not in compare_guess("no", 0, "the number of faults")


def test_bytes_compare_as_the_list_of_their_values():
    assert "is right" in compare_guess(b"\x00\x10\x00\x00", [0, 0x10, 0, 0],
                                       "the list of bytes 4 to 7", hex_ints=True)
    assert same_value(bytes([0, 16, 0, 0]), [0, 16, 0, 0])


def test_a_check_of_many_arguments_names_them():
    def my_reason(writable, pgoff, pages, max_pages):
        return None

    report = " ".join(str(check_function(my_reason, [((False, 4, 1, 4), "too far")])).split())
    assert "my_reason(writable=False, pgoff=4, pages=1, max_pages=4) returned None" in report


def test_compare_guess_formats_plurals_booleans_and_the_chapters_own_form():
    assert compare_guess((2, 1), (2, 1), "the VMA counts", verb="are").endswith(
        "the VMA counts are (2, 1).")
    assert "0x1" not in compare_guess(1, True, "is_cow_mapping(vma.vm_flags)")
    line = compare_guess("00000000", 0, "the offset column", show=lambda v: f"{v:08x}")
    assert line == "Your guess '00000000' is right: the offset column is 00000000."


def test_a_word_answer_in_any_case():
    assert "is right" in compare_guess("Oops.", "oops", "what happens")
    assert "is right" not in compare_guess("fine", "oops", "what happens")


def test_bare_digits_of_a_hex_quantity_count_in_either_base_and_say_how_they_were_read():
    """Chapter 9's pfn (0x10000): "65536" (decimal) and "10000" (hex) are both right, each
    echoed as typed with the value read; an int is echoed as Python holds it, hex beside."""
    assert compare_guess("65536", 0x10000, "the pfn", hex_ints=True) == (
        "Your guess '65536' (read as 65536 = 0x10000) is right: the pfn is 0x10000.")
    assert compare_guess("10000", 0x10000, "the pfn", hex_ints=True) == (
        "Your guess '10000' (read as 0x10000) is right: the pfn is 0x10000.")
    assert compare_guess(65536, 0x10000, "the pfn", hex_ints=True).startswith(
        "Your guess 65536 (= 0x10000) is right")
    assert compare_guess(10000, 0x10000, "the pfn", hex_ints=True).startswith(
        "You guessed 10000 (= 0x2710); the pfn is 0x10000.")
    assert compare_guess("12345", 0x10000, "the pfn", hex_ints=True).startswith(
        "You guessed '12345' (read as 0x12345, or as decimal 12345 = 0x3039);")
    assert compare_guess("0x10000", 0x10000, "the pfn").startswith("Your guess '0x10000' is right")
    assert compare_guess("7", 7, "the pfn").startswith("Your guess '7' is right:")
    # a column printed in bare hex (maps' offsets) reads them in hex only
    assert compare_guess("08001000", 0x08001000, "the offset column", hex_ints=True).startswith(
        "Your guess '08001000' (read as 0x8001000) is right")
    assert "is right" not in compare_guess("10", 10, "the offset column", hex_ints=True)


def test_a_guess_read_through_a_translation_is_echoed_in_the_learner_s_words():
    def new_name(guess):
        return {"up_read": "mmap_read_unlock"}.get(str(guess).strip().lower(), guess)

    line = " ".join(compare_guess(" Up_Read ", "mmap_read_unlock", "the call",
                                  read_as=new_name).split())  # unwrapped
    assert line == ("Your guess 'Up_Read' (read as 'mmap_read_unlock') is right: the call is "
                    "'mmap_read_unlock'.")
    assert " ".join(compare_guess("split_vma", "mmap_read_unlock", "the call",
                                  read_as=new_name).split()) == (
        "You guessed 'split_vma'; the call is 'mmap_read_unlock'. Find where your reasoning "
        "parted.")
    assert "did not write a guess" in compare_guess(..., "x", "the call", read_as=new_name)
