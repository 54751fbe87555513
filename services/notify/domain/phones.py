"""Iranian mobile numbers as staff type them (0912..., +98912..., Persian digits) to E.164."""

from __future__ import annotations

import phonenumbers

from contracts.persian import to_ascii_digits


def mobile_e164(raw: str) -> str | None:
    """The E.164 form of an Iranian mobile number, or None when it is not one."""
    text = to_ascii_digits(raw).strip()
    try:
        number = phonenumbers.parse(text, "IR")
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    if phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
