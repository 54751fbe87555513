"""Tokens for matching: Persian normalisation (contracts.persian.matching_form) and loose word endings."""

from __future__ import annotations

import re

from contracts.persian import matching_form

_WORD = re.compile(r"[^\W_]+")
# Endings that attach to a noun without changing what it names: plurals, possessives, the
# indefinite/ezafe «ی», object «رو/را» glued on in speech. «قبضم», «کنتورها», «بیمه‌ام» → the stem.
SUFFIXES: tuple[str, ...] = (
    "هایمان",
    "هایتان",
    "هایشان",
    "هامون",
    "هاتون",
    "هاشون",
    "هایم",
    "هایت",
    "هایش",
    "های",
    "ها",
    "مان",
    "تان",
    "شان",
    "مون",
    "تون",
    "شون",
    "ام",
    "ات",
    "اش",
    "ای",
    "یم",
    "ید",
    "ی",
    "م",
    "ت",
    "ش",
    "و",
    "رو",
    "ه",
)
MIN_STEM = 3


def tokens(text: str) -> list[str]:
    """The words of a text in matching form: Persian letters and digits, half-spaces read as spaces."""
    return _WORD.findall(matching_form(text).lower())


def stems(token: str) -> tuple[str, ...]:
    """The token itself and what remains after one known ending is cut off (longest endings first)."""
    out = [token]
    for suffix in SUFFIXES:
        if token.endswith(suffix) and len(token) - len(suffix) >= MIN_STEM:
            out.append(token[: -len(suffix)])
    return tuple(out)


def words_match(rule_word: str, token: str) -> bool:
    """A rule's word matches the token itself or the token with one ending removed."""
    return rule_word == token or rule_word in stems(token)
