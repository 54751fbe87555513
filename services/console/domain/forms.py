"""Forms as people fill them: what they typed, kept as typed, and the errors in the order of the fields,
each saying what to do (the GOV.UK pattern: a summary at the top linking to each field, the message
beside the field)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from contracts.persian import to_ascii_digits

# Intake's field names -> the desk form's.
API_FIELDS = {"phone": "caller_phone", "caller_phone": "caller_phone"}
OUTCOMES = ("answered", "missed", "abandoned")


@dataclass
class Form:
    values: dict[str, str]
    order: tuple[str, ...]
    errors: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(cls, data: Any, order: tuple[str, ...]) -> Form:
        values = {name: str(data.get(name) or "").strip() for name in order}
        return cls(values, order)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def add(self, name: str, message: str) -> None:
        self.errors.setdefault(name, message)

    def add_api_errors(
        self, errors: list[dict[str, Any]], fallback: str, parts: Mapping[str, str] | None = None
    ) -> None:
        """Errors a service answered with (422 problem documents) on the fields they name; one the form
        has no field for on ``fallback``. ``parts``: the request was made of parts, and names each field
        within its part ("case.county"); for each part, the field its unknown fields fall back to."""
        for e in errors:
            field, to = str(e.get("field")), fallback
            part, _, within = field.partition(".")
            if parts and part in parts and within:
                field, to = within, parts[part]
            name = API_FIELDS.get(field, field)
            self.add(name if name in self.order else to, str(e.get("message") or e.get("message_en")))

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> list[tuple[str, str]]:
        """The errors in the order of the form's fields (then any others)."""
        known = [(n, self.errors[n]) for n in self.order if n in self.errors]
        return known + [(n, m) for n, m in self.errors.items() if n not in self.order]


def digits(text: str) -> str:
    """Digits in any script as ASCII, spaces and dashes dropped: «۰۹۱۵ ۱۲۳-۴۵۶۷» -> 09151234567."""
    return "".join(ch for ch in to_ascii_digits(text) if ch not in " -\u200c")


def looks_like_mobile(text: str) -> bool:
    d = digits(text)
    if d.startswith("+98"):
        d = "0" + d[3:]
    elif d.startswith("0098"):
        d = "0" + d[4:]
    return len(d) == 11 and d.startswith("09") and d.isdigit()


DESK_FIELDS = (
    "caller_phone",
    "outcome",
    "name",
    "national_id",
    "county",
    "subject",
    "description",
    "agency_choice",
    "other_agency",
    "override_reason",
    "repeat_of",
    "service",
)


def check_desk(form: Form, action: str) -> None:
    """What the desk checks before asking intake (which checks every field again)."""
    outcome = form.get("outcome")
    if outcome not in OUTCOMES:
        form.add("outcome", "نتیجهٔ تماس را انتخاب کنید: پاسخ داده شد، بی‌پاسخ یا قطع پیش از پاسخ")
    if action == "auto":
        action = "register" if outcome == "answered" else "log"
    if action == "log":
        return
    if outcome and outcome != "answered":
        form.add("outcome", "پرونده فقط برای تماس پاسخ‌داده‌شده ثبت می‌شود؛ «پاسخ داده شد» را انتخاب کنید")
    if not looks_like_mobile(form.get("caller_phone")):
        form.add("caller_phone", "شماره همراه تماس‌گیرنده را با ۱۱ رقم وارد کنید، مثلاً ۰۹۱۵۱۲۳۴۵۶۷")
    if action == "link":
        if not form.get("repeat_of"):
            form.add("repeat_of", "پرونده‌ای را که این تماس تکرار آن است از فهرست پرونده‌های باز انتخاب کنید")
        return
    if not form.get("county"):
        form.add("county", "شهرستان محل مشکل را انتخاب کنید")
    if len(form.get("subject")) < 2:
        form.add("subject", "عنوان کوتاهی برای مشکل بنویسید، مثلاً «قطعی آب»")
    if len(form.get("description")) < 5:
        form.add("description", "شرح مشکل را از زبان تماس‌گیرنده بنویسید (دست‌کم ۵ نویسه)")
    if form.get("agency_choice") == "other":
        if not form.get("other_agency"):
            form.add("other_agency", "دستگاه مسئول را از فهرست انتخاب کنید")
        if not form.get("override_reason"):
            form.add("override_reason", "بنویسید چرا دستگاهی جز پیشنهاد سامانه را انتخاب کردید")


def chosen_agency(form: Form) -> str:
    """The agency the operator chose: the suggestion they accepted, or the one they picked instead
    (empty: no suggestion yet and none picked, so routing decides)."""
    if form.get("agency_choice") == "other":
        return form.get("other_agency")
    return form.get("suggested_agency")


CITIZEN_STATUS_FIELDS = ("tracking_code", "phone")


def check_status(form: Form) -> None:
    code = digits(form.get("tracking_code"))
    if len(code) != 10 or not code.isdigit():
        form.add("tracking_code", "کد رهگیری ۱۰ رقمی را که با پیامک برایتان آمده وارد کنید")
    phone = digits(form.get("phone"))
    if not (len(phone) == 4 and phone.isdigit()) and not looks_like_mobile(phone):
        form.add("phone", "شماره همراه را با ۱۱ رقم یا ۴ رقم آخر آن وارد کنید")


def check_details(form: Form) -> None:
    """The online form's details page."""
    if not form.get("county"):
        form.add("county", "شهرستانی را که مشکل در آن است انتخاب کنید")
    if len(form.get("subject")) < 2:
        form.add("subject", "عنوان کوتاهی برای درخواست بنویسید، مثلاً «قطعی آب»")
    if len(form.get("description")) < 5:
        form.add("description", "مشکل را با جزئیات بنویسید: کجا، از کی، و چه شده است")
