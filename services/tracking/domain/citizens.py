"""How staff find a citizen's cases: by phone (any common form) or by national id, through keys that
the store indexes as documents (never a scan of the cases)."""

from __future__ import annotations

import phonenumbers

from contracts.persian import to_ascii_digits
from services.tracking.domain.model import Case

IRAN = "IR"


class NotACitizenKey(ValueError):
    """The phone or national id cannot name anyone; ``field`` says which, the messages say why."""

    def __init__(self, field: str, fa: str, en: str) -> None:
        super().__init__(en)
        self.field, self.fa, self.en = field, fa, en


def phone_key(raw: str) -> str:
    """``phone:<E.164>`` for a phone in any common form (09…, +989…, 00989…, Persian digits)."""
    text = to_ascii_digits(raw).strip()
    try:
        number = phonenumbers.parse(text, IRAN)
    except phonenumbers.NumberParseException as exc:
        raise NotACitizenKey(
            "phone", "شماره تلفن را با رقم وارد کنید، مثلاً ۰۹۱۵۱۲۳۴۵۶۷", "not a phone number"
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise NotACitizenKey(
            "phone", "این شماره تلفن معتبر نیست؛ ۱۱ رقم با ۰۹ شروع می‌شود", "not a valid phone number"
        )
    return "phone:" + phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_id_key(raw: str) -> str:
    """``nid:<ten digits>``; ids written without leading zeros are padded, as intake stores them."""
    digits = "".join(ch for ch in to_ascii_digits(raw) if not ch.isspace() and ch != "-")
    if not digits.isdigit() or not 8 <= len(digits) <= 10:
        raise NotACitizenKey("national_id", "کد ملی باید ۱۰ رقم باشد", "a national id has 10 digits")
    return "nid:" + digits.zfill(10)


def citizen_keys(case: Case) -> list[str]:
    """The keys a registered case is found by: its citizen's phone and national id (or their HMACs)."""
    if case.status is None or case.citizen is None:
        return []
    keys = [f"phone:{case.citizen.phone}"] if case.citizen.phone else []
    if case.citizen.national_id:
        keys.append(f"nid:{case.citizen.national_id}")
    # Sealed cases are found by the citizen's key id and the national id's lookup key, both HMACs
    # under the index key (docs/privacy.md): the index holds no phone and no national id.
    if case.citizen.key_id:
        keys.append(f"kid:{case.citizen.key_id}")
    if case.citizen.national_id_index:
        keys.append(f"nidx:{case.citizen.national_id_index}")
    return keys
