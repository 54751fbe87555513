"""Persian text normalisation shared by every service: one spelling of letters and digits everywhere."""

from __future__ import annotations

import re
import unicodedata

# Arabic letter variants that Persian keyboards and old systems produce, mapped to the Persian letters.
_LETTERS = {
    "\u064a": "\u06cc",  # ARABIC YEH -> FARSI YEH
    "\u0649": "\u06cc",  # ALEF MAKSURA -> FARSI YEH
    "\u0643": "\u06a9",  # ARABIC KAF -> KEHEH
    "\u0629": "\u0647",  # TEH MARBUTA -> HEH
}
_PERSIAN_DIGITS = "۰۱۲۳۴۵۶۷۸۹"
_ARABIC_DIGITS = "٠١٢٣٤٥٦٧٨٩"
_TO_ASCII = str.maketrans(
    {
        **{d: str(i) for i, d in enumerate(_PERSIAN_DIGITS)},
        **{d: str(i) for i, d in enumerate(_ARABIC_DIGITS)},
    }
)
_TO_PERSIAN = str.maketrans({str(i): d for i, d in enumerate(_PERSIAN_DIGITS)})
_LETTER_TABLE = str.maketrans(_LETTERS)
ZWNJ = "\u200c"
# Arabic diacritics (harakat) and tatweel carry no meaning for matching and are dropped.
_DIACRITICS = re.compile("[\u064b-\u065f\u0670\u0640]")
# Every Unicode space, including no-break and thin spaces, but not the zero-width non-joiner.
_SPACES = re.compile(r"[^\S\u200c]+|[\u00a0\u2000-\u200b\u202f\u205f\u3000]+")
_ZWNJ_RUNS = re.compile("\u200c{2,}")
_ZWNJ_AT_EDGES = re.compile(r"\s*\u200c\s*(?=\s)|(?<=\s)\u200c|^\u200c+|\u200c+$")
_CONTROL = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


# Any other decimal digit (fullwidth ４, Devanagari ४, Bengali ৪ ...): Unicode category Nd.
_OTHER_DECIMALS = re.compile(r"(?![0-9])\d")


def to_ascii_digits(text: str) -> str:
    """Every decimal digit to ASCII 0-9: Persian (۰-۹), Arabic-Indic (٠-٩) and any other script's
    (fullwidth, Devanagari, ...)."""
    text = text.translate(_TO_ASCII)
    if text.isascii():
        return text
    return _OTHER_DECIMALS.sub(lambda m: str(unicodedata.decimal(m.group())), text)


def has_non_decimal_digits(text: str) -> bool:
    """Characters that look like digits but are not decimal digits (superscripts ²³, circled ①,
    fractions): they are refused, never guessed."""
    return any(ch.isnumeric() and not ch.isdecimal() for ch in text)


def to_persian_digits(text: str) -> str:
    """ASCII digits to Persian digits, for SMS and UI."""
    return text.translate(_TO_PERSIAN)


def normalize_text(text: str) -> str:
    """The stored form of free text typed by an operator or a citizen.

    Arabic letter variants become Persian, digits become ASCII, direction marks are dropped,
    whitespace is trimmed and collapsed, and zero-width non-joiners (half-spaces) are kept
    except where they stand next to a space, where they mean nothing.
    """
    text = _CONTROL.sub("", text)
    text = to_ascii_digits(text.translate(_LETTER_TABLE))
    text = _DIACRITICS.sub("", text)
    text = _SPACES.sub(" ", text)
    text = _ZWNJ_RUNS.sub(ZWNJ, text)
    text = _ZWNJ_AT_EDGES.sub("", text)
    return text.strip()


def matching_form(text: str) -> str:
    """A looser form for matching words: as normalize_text, with half-spaces read as spaces.

    Used by routing rules and repeat-call detection so that «می‌خواهم», «میخواهم» and «می خواهم»
    meet on the same tokens as far as possible.
    """
    return " ".join(normalize_text(text).replace(ZWNJ, " ").split())
