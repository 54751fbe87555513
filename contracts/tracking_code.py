"""Tracking codes: short numeric codes with a Verhoeff check digit.

Verhoeff catches every single-digit error and every swap of adjacent digits, so a code misheard on
the phone or mistyped on a keypad is rejected instead of matching someone else's case.
"""

from __future__ import annotations

import hashlib

from stdnum import verhoeff

from contracts.persian import to_ascii_digits

# 9 x 10^8 possible codes. A code derived from a case id by hashing is unique only with high
# probability (the birthday bound reaches even odds of one clash near 35,000 cases), so whoever
# allocates codes must check them against the codes already issued: see from_seed(attempt=...).
BODY_DIGITS = 9
CODE_LENGTH = BODY_DIGITS + 1


def check_digit(body: str) -> str:
    return str(verhoeff.calc_check_digit(body))


def is_valid(code: str) -> bool:
    """True when the code (ASCII or Persian digits, spaces and dashes allowed) passes the check."""
    digits = clean(code)
    if len(digits) != CODE_LENGTH or not digits.isdigit() or digits[0] == "0":
        return False
    return bool(verhoeff.is_valid(digits))


def clean(code: str) -> str:
    return to_ascii_digits(code).replace(" ", "").replace("-", "")


def from_seed(seed: str, attempt: int = 0) -> str:
    """A deterministic code for a case id: the same case always gets the same code.

    ``attempt`` gives the next candidate when the first one is already taken by another case.
    """
    material = seed if attempt == 0 else f"{seed}#{attempt}"
    n = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")
    body = str(10 ** (BODY_DIGITS - 1) + n % (9 * 10 ** (BODY_DIGITS - 1)))
    return body + check_digit(body)
