"""How things read on screen: Persian digits, Jalali dates with the weekday, codes grouped for reading
aloud, names of roles, call outcomes and SMS states."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import jdatetime

from contracts.persian import to_persian_digits

TEHRAN = ZoneInfo("Asia/Tehran")

ROLE_FA = {
    "operator": "اپراتور",
    "agency_staff": "کارشناس دستگاه",
    "supervisor": "ناظر استان",
    "ops": "پشتیبانی فنی",
}
OUTCOME_FA = {"answered": "پاسخ داده شد", "missed": "بی‌پاسخ", "abandoned": "قطع پیش از پاسخ"}
# The states of notify's SMS ledger (services/notify/domain/ledger.py, SmsState) as staff read them.
SMS_STATE_FA = {
    "pending": "در صف ارسال",
    "deferred": "در انتظار پایان ساعات آرام",
    "sending": "در حال ارسال",
    "submitted": "ارسال شد",
    "delivered": "تحویل شد",
    "failed": "ناموفق",
    "unknown": "نامعلوم",
    "skipped_stale": "ارسال نشد (وضعیت پرونده تغییر کرده بود)",
    "skipped_opted_out": "ارسال نشد (انصراف شهروند)",
    "skipped_erased": "ارسال نشد (اطلاعات شهروند حذف شده)",
}
TEMPLATE_FA = {
    "registered": "پیامک ثبت",
    "routed": "پیامک ارجاع",
    "acknowledged": "پیامک پذیرش",
    "resolved": "پیامک پاسخ",
    "rejected": "پیامک رد",
    "reopened": "پیامک بازگشایی",
    "closed": "پیامک بستن",
    "info_requested": "پیامک درخواست اطلاعات",
    "escalated": "پیامک پیگیری دیرکرد",
}


def fa(value: object) -> str:
    """Any value with its digits in Persian (None reads as empty)."""
    return "" if value is None else to_persian_digits(str(value))


def as_datetime(value: datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def jalali(value: datetime | str | None, with_time: bool = True) -> str:
    """«شنبه ۱۵ آذر ۱۴۰۵، ۱۴:۳۰» in Tehran time."""
    moment = as_datetime(value)
    if moment is None:
        return ""
    local = moment.astimezone(TEHRAN).replace(tzinfo=None)
    j = jdatetime.datetime.fromgregorian(datetime=local, locale="fa_IR")
    text = f"{j.strftime('%A')} {j.day} {j.strftime('%B')} {j.year}"
    if with_time:
        text += f"، {j.hour:02d}:{j.minute:02d}"
    return to_persian_digits(text)


def grouped_code(code: str | None) -> str:
    """A ten-digit tracking code as «۱۲۳ ۴۵۶ ۷۸۹۰»: three groups, easy to read aloud and to write down."""
    if not code:
        return ""
    return to_persian_digits(" ".join([code[:3], code[3:6], code[6:]]) if len(code) == 10 else code)


def masked_phone(phone: str | None) -> str:
    """+989151234567 -> ۰۹۱۵***۴۵۶۷ (national form, the middle hidden)."""
    if not phone:
        return ""
    national = "0" + phone[3:] if phone.startswith("+98") else phone
    return to_persian_digits(national[:4] + "***" + national[-4:])


def national_phone(phone: str | None) -> str:
    """+989151234567 -> ۰۹۱۵۱۲۳۴۵۶۷."""
    if not phone:
        return ""
    return to_persian_digits("0" + phone[3:] if phone.startswith("+98") else phone)


def percent(value: float | None) -> str:
    return "" if value is None else to_persian_digits(f"{round(value * 100)}٪")


EVENT_FA = {
    "case.registered": "ثبت پرونده",
    "case.routed": "ارجاع به دستگاه",
    "case.triage_required": "نیاز به تعیین دستگاه",
    "case.status_changed": "تغییر وضعیت",
    "case.note_added": "یادداشت",
    "case.repeat_call": "تماس تکراری",
    "case.reroute_requested": "درخواست ارجاع دوباره",
    "case.sla_breached": "عبور از مهلت",
    "case.assigned": "سپردن به کارشناس",
    "case.resumed": "ادامهٔ رسیدگی",
    "case.escalated": "پیگیری دیرکرد",
    "sms.sent": "پیامک فرستاده شد",
    "sms.delivered": "پیامک تحویل شد",
    "sms.failed": "پیامک ناموفق",
}


def event_fa(event_type: str) -> str:
    short = event_type.removeprefix("ir.samad.")
    return EVENT_FA.get(short, short)
