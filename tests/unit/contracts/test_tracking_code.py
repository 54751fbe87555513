"""Tracking codes: a misheard or mistyped digit, or two swapped digits, never match another case."""

from __future__ import annotations

from contracts import tracking_code
from contracts.persian import to_persian_digits


def test_codes_are_deterministic_numeric_and_valid() -> None:
    code = tracking_code.from_seed("case-42")
    assert code == tracking_code.from_seed("case-42")
    assert len(code) == tracking_code.CODE_LENGTH and code.isdigit() and code[0] != "0"
    assert tracking_code.is_valid(code)


def test_random_codes_have_the_same_form_and_are_not_repeated() -> None:
    codes = [tracking_code.random_code() for _ in range(500)]
    for code in codes:
        assert len(code) == tracking_code.CODE_LENGTH and code.isdigit() and code[0] != "0"
        assert tracking_code.is_valid(code)
    assert len(set(codes)) == len(codes)  # 500 draws from 9 x 10^8: a repeat would mean no randomness
    assert {code[0] for code in codes} == set("123456789")


def test_every_single_digit_error_and_adjacent_swap_is_rejected() -> None:
    for seed in range(300):
        code = tracking_code.from_seed(f"case-{seed}")
        for i in range(len(code)):
            for d in "0123456789":
                if d != code[i]:
                    assert not tracking_code.is_valid(code[:i] + d + code[i + 1 :])
        for i in range(len(code) - 1):
            if code[i] != code[i + 1]:
                swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
                assert not tracking_code.is_valid(swapped)


def test_persian_digits_spaces_and_dashes_are_read() -> None:
    code = tracking_code.from_seed("case-7")
    spoken = to_persian_digits(code[:3]) + " " + code[3:6] + "-" + code[6:]
    assert tracking_code.is_valid(spoken)
    assert tracking_code.clean(spoken) == code


def test_wrong_length_and_non_digits_are_rejected() -> None:
    assert not tracking_code.is_valid("")
    assert not tracking_code.is_valid("12345")
    assert not tracking_code.is_valid("abcdefghij")
