"""Tracking codes: short numeric codes with a Verhoeff check digit.

Verhoeff catches every single-digit error and every swap of adjacent digits, so a code misheard on
the phone or mistyped on a keypad is rejected instead of matching someone else's case.
"""

from __future__ import annotations

import hashlib

from contracts.persian import to_ascii_digits

_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 7, 2),
    (9, 4, 5, 3, 1, 2, 8, 7, 0, 6),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)

BODY_DIGITS = 9  # 10^9 codes (first digit non-zero): collisions stay rare for decades of cases
CODE_LENGTH = BODY_DIGITS + 1


def check_digit(body: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return str(_INV[c])


def is_valid(code: str) -> bool:
    """True when the code (ASCII or Persian digits, spaces and dashes allowed) passes the check."""
    digits = clean(code)
    if len(digits) != CODE_LENGTH or not digits.isdigit() or digits[0] == "0":
        return False
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def clean(code: str) -> str:
    return to_ascii_digits(code).replace(" ", "").replace("-", "")


def from_seed(seed: str) -> str:
    """A deterministic code for a case id: the same case always gets the same code."""
    n = int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big")
    body = str(10 ** (BODY_DIGITS - 1) + n % (9 * 10 ** (BODY_DIGITS - 1)))
    return body + check_digit(body)
