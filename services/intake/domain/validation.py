"""Validation rules for what operators type: phone numbers, national ids, counties, Persian free text.

Each rule returns the stored form of a value or raises ``Invalid`` with an English and a Persian reason,
so the same sentence reaches the operator from the HTTP API, the CSV import and Open311.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers

from contracts.catalogue import County, provinces
from contracts.persian import matching_form, normalize_text, to_ascii_digits, to_persian_digits

IRAN = "IR"


@dataclass(frozen=True)
class Invalid(ValueError):
    """A value that breaks a rule; ``code`` is stable, ``en`` and ``fa`` explain it to a person."""

    code: str
    en: str
    fa: str

    def __str__(self) -> str:
        return self.en


# Separators people type inside numbers: spaces, dashes, dots, parentheses and direction marks.
_NUMBER_NOISE = re.compile(r"[\s\-.()\u200c\u200e\u200f\u202a-\u202e]")


def _digits_form(raw: str) -> str:
    return _NUMBER_NOISE.sub("", to_ascii_digits(raw.strip()))


def _parse_phone(raw: str) -> phonenumbers.PhoneNumber:
    text = _digits_form(raw)
    if not text or not re.fullmatch(r"\+?\d{4,16}", text):
        raise Invalid(
            "phone_format",
            "not a phone number: use digits, e.g. 09151234567 or +989151234567",
            "شمارهٔ تلفن معتبر نیست؛ فقط رقم وارد کنید، مثلاً ۰۹۱۵۱۲۳۴۵۶۷",
        )
    # "989151234567" is an international number written without its plus sign.
    if not text.startswith(("+", "0")) and text.startswith("98") and len(text) == 12:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, IRAN)
    except phonenumbers.NumberParseException as exc:
        raise Invalid(
            "phone_format",
            f"not a phone number ({exc})",
            "شمارهٔ تلفن معتبر نیست",
        ) from exc
    if not phonenumbers.is_valid_number(number):
        raise Invalid(
            "phone_invalid",
            "this phone number does not exist in the numbering plan",
            "این شمارهٔ تلفن در طرح شماره‌گذاری وجود ندارد",
        )
    return number


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_phone(raw: str) -> str:
    """Any valid phone number (mobile or landline, Persian digits allowed) in E.164: calls accept these."""
    return _e164(_parse_phone(raw))


def normalize_mobile(raw: str) -> str:
    """An Iranian mobile number in E.164 (+989…): a case needs one, since updates go out by SMS."""
    number = _parse_phone(raw)
    kind = phonenumbers.number_type(number)
    if phonenumbers.region_code_for_number(number) != IRAN or kind not in (
        phonenumbers.PhoneNumberType.MOBILE,
        phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise Invalid(
            "mobile_required",
            "an Iranian mobile number is required (09…), since status updates are sent by SMS",
            "شمارهٔ همراه ایرانی لازم است (۰۹…)؛ پیامک پیگیری به این شماره فرستاده می‌شود",
        )
    return _e164(number)


def is_valid_national_id(digits: str) -> bool:
    """The کد ملی check: ten digits whose last one is derived from the first nine (mod 11)."""
    if len(digits) != 10 or not digits.isdigit() or len(set(digits)) == 1:
        return False
    total = sum(int(d) * (10 - i) for i, d in enumerate(digits[:9])) % 11
    check = int(digits[9])
    return check == total if total < 2 else check == 11 - total


def normalize_national_id(raw: str) -> str:
    """A national id as ten ASCII digits. Ids written without their leading zeros (8 or 9 digits) are padded."""
    digits = _digits_form(raw)
    if not digits.isdigit() or not 8 <= len(digits) <= 10:
        raise Invalid(
            "national_id_format",
            "a national id has 10 digits",
            "کد ملی باید ۱۰ رقم باشد",
        )
    digits = digits.zfill(10)
    if not is_valid_national_id(digits):
        raise Invalid(
            "national_id_checksum",
            "this national id fails its check digit: a digit is wrong or two are swapped",
            "رقم کنترل کد ملی درست نیست؛ یکی از رقم‌ها اشتباه یا جابه‌جا وارد شده است",
        )
    return digits


def _key(text: str) -> str:
    return matching_form(text).replace(" ", "").replace("-", "").replace("_", "").lower()


def resolve_county(raw: str, province: str) -> County:
    """A county of the province, named by its code, its Persian name or its English name."""
    p = provinces().get(province)
    if p is None:
        raise Invalid("province_unknown", f"unknown province {province!r}", "استان شناخته‌شده نیست")
    wanted = _key(raw)
    for c in p.counties:
        if wanted in (_key(c.code), _key(c.fa), _key(c.en)):
            return c
    raise Invalid(
        "county_unknown",
        f"{raw!r} is not a county of {p.en}; use a county code such as 'mashhad' or its Persian name",
        f"«{raw}» از شهرستان‌های استان {p.fa} نیست؛ کد یا نام فارسی شهرستان را وارد کنید",
    )


def find_county_in(text: str, province: str) -> County | None:
    """The county named anywhere in a free address ("خیابان امام، نیشابور"); the longest name wins."""
    p = provinces().get(province)
    if p is None:
        return None
    haystack = f" {matching_form(text).lower()} "
    best: County | None = None
    best_len = 0
    for c in p.counties:
        for name in (c.fa, c.en, c.code.replace("_", " ")):
            needle = f" {matching_form(name).lower()} "
            # Persian addresses glue commas to words: compare on word boundaries after splitting punctuation.
            spaced = re.sub(r"[،,;:/\\()\[\]\-]", " ", haystack)
            if needle in f" {' '.join(spaced.split())} " and len(needle) > best_len:
                best, best_len = c, len(needle)
    return best


# C0 controls, DEL and C1 controls: nothing a person types, and each can break what shows the text
# (XML 1.0 cannot carry most of them; ESC and CSI drive terminals). Python reads some of them (VT, FF,
# the separators 1C-1F, NEL) as whitespace: they are refused all the same.
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# What may break a line in text that runs over several lines (a description).
LINE_BREAKS = frozenset("\t\n\r")


def refuse_controls(raw: str, *, multiline: bool = False) -> str:
    """The text unchanged, or ``Invalid`` naming the first control character in it. Tab and line
    breaks are allowed only in ``multiline`` text (and become spaces when it is normalised)."""
    for match in _CONTROLS.finditer(raw):
        char = match.group()
        if multiline and char in LINE_BREAKS:
            continue
        where = match.start() + 1
        allowed_en = "; only tab and line breaks are allowed here" if multiline else ""
        allowed_fa = "؛ اینجا فقط جهش (tab) و سطر تازه مجاز است" if multiline else ""
        raise Invalid(
            "control_character",
            f"control character U+{ord(char):04X} at position {where} is not allowed{allowed_en}",
            to_persian_digits(f"نویسهٔ کنترلی U+{ord(char):04X} در جایگاه {where} مجاز نیست{allowed_fa}"),
        )
    return raw


def clean_text(raw: str, *, max_length: int, min_length: int = 1) -> str:
    """Free text in its stored form (Persian letters and ASCII digits), within length limits."""
    text = normalize_text(raw)
    if len(text) < min_length:
        raise Invalid(
            "text_too_short",
            f"must have at least {min_length} characters",
            to_persian_digits(f"باید دست‌کم {min_length} نویسه داشته باشد"),
        )
    if len(text) > max_length:
        raise Invalid(
            "text_too_long",
            f"must have at most {max_length} characters (has {len(text)})",
            to_persian_digits(f"حداکثر {max_length} نویسه مجاز است (اکنون {len(text)} نویسه)"),
        )
    return text


_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def clean_reference(raw: str) -> str:
    """An identifier from another system (call id, operator id, duty session id)."""
    text = raw.strip()
    if not _REF.fullmatch(text):
        raise Invalid(
            "reference_format",
            "use 1-128 ASCII letters, digits, '.', '_', ':' or '-'",
            "فقط ۱ تا ۱۲۸ حرف و رقم لاتین و نشانه‌های . _ : - مجاز است",
        )
    return text


CLOCK_SKEW = timedelta(minutes=5)


def check_not_future(started_at: datetime, now: datetime) -> Invalid | None:
    """A call cannot start in the future (beyond a few minutes of clock skew between machines)."""
    if started_at > now + CLOCK_SKEW:
        return Invalid(
            "in_future",
            "the call cannot start in the future; check the date and its time zone",
            "زمان شروع تماس نمی‌تواند در آینده باشد؛ تاریخ و منطقهٔ زمانی را بررسی کنید",
        )
    return None
