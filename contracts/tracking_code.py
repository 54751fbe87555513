"""Tracking codes: short numeric codes with a Verhoeff check digit.

Verhoeff catches every single-digit error and every swap of adjacent digits, so a code misheard on
the phone or mistyped on a keypad is rejected instead of matching someone else's case.
"""

from __future__ import annotations

import hashlib
import secrets

from stdnum import verhoeff

from contracts.persian import to_ascii_digits

# 9 x 10^8 possible codes. A random code is unique only with high probability (the birthday bound
# reaches even odds of one clash near 35,000 codes), so whoever allocates codes must claim each one
# against the codes already issued and draw again when it is taken.
BODY_DIGITS = 9
CODE_LENGTH = BODY_DIGITS + 1


def check_digit(body: str) -> str:
    return str(verhoeff.calc_check_digit(body))


def is_valid(code: str) -> bool:
    """True when the code (ASCII or Persian digits, spaces and dashes allowed) passes the check."""
    digits = clean(code)
    if len(digits) != CODE_LENGTH or not (digits.isascii() and digits.isdigit()) or digits[0] == "0":
        return False
    return bool(verhoeff.is_valid(digits))


def clean(code: str) -> str:
    return to_ascii_digits(code).replace(" ", "").replace("-", "")


def random_code() -> str:
    """A code drawn from the operating system's cryptographic source (``secrets``).

    This is the code a citizen is given: nothing about the case (its id, the Idempotency-Key, a CSV
    ``call_ref``) predicts it, so knowing one does not lead to anyone's case.
    """
    body = str(10 ** (BODY_DIGITS - 1) + secrets.randbelow(9 * 10 ** (BODY_DIGITS - 1)))
    return body + check_digit(body)


def from_seed(seed: str, attempt: int = 0) -> str:
    """A deterministic code computed from a seed: for test fixtures and examples only.

    Anyone who knows the seed can compute the code, so a code given to a citizen must come from
    ``random_code`` instead. ``attempt`` gives another candidate for the same seed.
    """
    material = seed if attempt == 0 else f"{seed}#{attempt}"
    n = int.from_bytes(hashlib.sha256(material.encode()).digest()[:8], "big")
    body = str(10 ** (BODY_DIGITS - 1) + n % (9 * 10 ** (BODY_DIGITS - 1)))
    return body + check_digit(body)
