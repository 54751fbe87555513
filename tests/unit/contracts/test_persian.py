"""Persian normalisation: one spelling of letters, digits and spaces for storage and matching."""

from __future__ import annotations

import pytest

from contracts.persian import ZWNJ, matching_form, normalize_text, to_ascii_digits, to_persian_digits


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("علي", "علی"),  # Arabic yeh
        ("مصطفى", "مصطفی"),  # alef maksura
        ("كمك", "کمک"),  # Arabic kaf
        ("۰۹۱۲۳۴۵۶۷۸۹", "09123456789"),  # Persian digits
        ("٠٩١٢٣٤٥٦٧٨٩", "09123456789"),  # Arabic-Indic digits
        ("  سلام   دنیا \t\n ", "سلام دنیا"),  # trimmed and collapsed
        ("سلام\u00a0دنیا", "سلام دنیا"),  # no-break space
        ("می\u200cخواهم", "می\u200cخواهم"),  # the half-space is kept
        ("می\u200c\u200cخواهم", "می\u200cخواهم"),  # doubled half-spaces collapse
        ("سلام \u200c دنیا", "سلام دنیا"),  # a half-space beside a space means nothing
        ("\u200fسلام\u200e", "سلام"),  # direction marks dropped
        ("مَدرِسه", "مدرسه"),  # diacritics dropped
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_matching_form_meets_half_space_variants() -> None:
    forms = {matching_form(s) for s in ("می\u200cخواهم", "می خواهم", "مي\u200cخواهم")}
    assert forms == {"می خواهم"}
    assert ZWNJ not in matching_form("کتاب\u200cها")


def test_digits_both_ways() -> None:
    assert to_ascii_digits("کد ۱۲۳۴") == "کد 1234"
    assert to_persian_digits("1403/12/29") == "۱۴۰۳/۱۲/۲۹"


def test_every_script_s_decimal_digits_become_ascii() -> None:
    from contracts.persian import has_non_decimal_digits, to_ascii_digits

    assert to_ascii_digits("４５６７") == "4567"  # fullwidth
    assert to_ascii_digits("४५६७") == "4567"  # Devanagari
    assert to_ascii_digits("۰۹۱۲٣٤٥abc") == "0912345abc"
    assert to_ascii_digits("²³¹¹") == "²³¹¹"  # superscripts are not decimal digits: left alone
    assert has_non_decimal_digits("²³¹¹") and has_non_decimal_digits("①２")
    assert not has_non_decimal_digits("۰۹۱۲ ４५6")
