"""What each reader sees of a case: staff get the whole document, the citizen a public summary.

The citizen's view never carries internal notes, classifier explanations, staff identities or the
full phone number.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Any

from contracts.catalogue import agency as agency_of
from contracts.events import STATUS_FA
from contracts.persian import has_non_decimal_digits, to_ascii_digits
from services.tracking.domain.calendar import WorkCalendar, jalali
from services.tracking.domain.model import Case, TimelineEntry


def mask_phone(phone: str | None) -> str | None:
    """+989151234567 -> +98915***4567."""
    if not phone:
        return None
    return phone[:-7] + "***" + phone[-4:] if len(phone) > 7 else "*" * len(phone)


_ASCII_DIGITS = frozenset("0123456789")


def unusable_digits(text: str) -> bool:
    """Characters that look like digits but are none (superscripts, circled digits, fractions): a
    lookup with them is refused as invalid input, never guessed at."""
    return has_non_decimal_digits(text)


# Compared in place of a number when there is none (the code names no case), so a wrong code costs
# the same comparison as a wrong phone; the answer is False all the same.
_NO_PHONE = "0" * 10


def phone_matches(stored: str | None, given: str) -> bool:
    """The citizen's second factor: the full number in any common form, or its last four digits.
    The stored number is compared in constant time, and the same way when there is none."""
    # ASCII digits only: every script's decimal digits were converted, and look-alikes (²) were
    # refused before a lookup (unusable_digits); comparing non-ASCII text would raise.
    digits = "".join(ch for ch in to_ascii_digits(given) if ch in _ASCII_DIGITS)
    mine = "".join(ch for ch in (stored or _NO_PHONE) if ch in _ASCII_DIGITS)
    # How long the given digits are is the caller's own knowledge: branching on it tells nothing.
    if len(digits) == 4:
        same = hmac.compare_digest(digits, mine[-4:])
    elif len(digits) >= 10:
        same = hmac.compare_digest(digits[-10:], mine[-10:])
    else:
        same = False
    return same and bool(stored)


def agency_view(code: str | None) -> dict[str, str] | None:
    if not code:
        return None
    try:
        a = agency_of(code)
    except (KeyError, ValueError):
        return {"code": code, "fa": code, "en": code}
    return {"code": code, "fa": a.fa, "en": a.en}


def _public_text(entry: TimelineEntry) -> str:
    status = entry.status
    if status == "registered":
        return "پرونده ثبت شد" if not entry.agency else "پرونده برای ارجاع به دستگاه دیگری بازگشت"
    if status == "routed":
        named = agency_view(entry.agency)
        return f"پرونده به {named['fa'] if named else 'دستگاه مسئول'} ارجاع شد"
    if status == "triage":
        return "پرونده برای تعیین دستگاه مسئول در حال بررسی است"
    if status == "in_progress":
        return "دستگاه مسئول پرونده را پذیرفت و در حال رسیدگی است"
    if status == "waiting_for_citizen":
        question = str(entry.data.get("question") or "").strip()
        return "دستگاه مسئول برای رسیدگی اطلاعات بیشتری از شما خواسته است" + (
            f": {question}" if question else ""
        )
    if status == "resolved":
        return "دستگاه مسئول به پرونده پاسخ داد"
    if status == "rejected":
        return "پرونده رد شد"
    if status == "reopened":
        return "پرونده بازگشایی شد"
    if status == "closed":
        return "پرونده بسته شد"
    return STATUS_FA.get(str(status), "")


def citizen_view(case: Case) -> dict[str, Any]:
    """Status, agency and the public answer; never internal notes; the phone masked."""
    history = [
        {
            "time": e.time,
            "time_jalali": jalali(e.time, with_time=True),
            "status": e.status,
            "status_fa": STATUS_FA.get(str(e.status), ""),
            "text": _public_text(e),
        }
        for e in case.timeline
        if e.public and not e.rejected and e.status is not None
    ]
    resolved = case.status in ("resolved", "closed") and case.answer
    return {
        "tracking_code": case.tracking_code,
        "status": case.status,
        "status_fa": STATUS_FA.get(str(case.status), ""),
        "agency": agency_view(case.agency),
        "answer": case.answer if resolved else None,
        "rejection_reason": case.rejection_reason if case.status in ("rejected", "closed") else None,
        # What the agency asked, while it waits for the citizen's answer (by calling 111).
        "question": case.waiting.question if case.waiting else None,
        "subject": case.subject,
        "phone": mask_phone(case.citizen.phone if case.citizen else None),
        "registered_at": case.registered_at,
        "registered_at_jalali": jalali(case.registered_at, with_time=True),
        "updated_at": case.updated_at,
        "history": history,
    }


# A case in one of these states needs nothing more from anyone (a repeat call reopens it, not a link).
FINISHED = frozenset({"resolved", "rejected", "closed"})


def summary_view(case: Case, now: datetime) -> dict[str, Any]:
    """One line of a search result: enough to recognise the case and open it."""
    return {
        "case_id": case.id,
        "tracking_code": case.tracking_code,
        "status": case.status,
        "status_fa": STATUS_FA.get(str(case.status), ""),
        "subject": case.subject,
        "agency": agency_view(case.agency),
        "registered_at": case.registered_at,
        "registered_at_jalali": jalali(case.registered_at, with_time=True),
        "overdue": case.is_overdue(now),
        "open": str(case.status) not in FINISHED,
    }


_DEFAULT_CALENDAR = WorkCalendar()


def deadline_view(case: Case, kind: str, now: datetime, calendar: WorkCalendar) -> dict[str, Any] | None:
    """One deadline as staff read it: when, and its state: ``pending``, ``overdue``, ``paused`` (the
    case waits for the citizen), ``met``, ``met_late`` or ``closed`` (the case ended otherwise); with
    the working days left (negative: how many late) while it is not met."""
    acknowledge = kind == "acknowledge"
    due = case.due.acknowledge if acknowledge else case.due.resolve
    if due is None:
        return None
    if acknowledge:
        done = case.acknowledged_at
    else:
        answered = case.answer or case.answer_sealed is not None
        done = case.resolved_at if case.status in ("resolved", "closed") and answered else None
    breached = case.due.acknowledge_breached if acknowledge else case.due.resolve_breached
    left: int | None = None
    hours: float | None = None
    if done is not None:
        state = "met" if done <= due else "met_late"
    elif str(case.status) in FINISHED:
        state = "closed"
    elif case.status == "waiting_for_citizen" and case.due.paused_at is not None:
        state = "paused"
        left = calendar.working_days_left(case.due.paused_at, due)
        hours = round((due - case.due.paused_at).total_seconds() / 3600, 1)
    else:
        state = "overdue" if due < now else "pending"
        left = calendar.working_days_left(now, due)
        hours = round((due - now).total_seconds() / 3600, 1)
    return {
        "due": due.isoformat(),
        "due_jalali": jalali(due, with_time=True),
        "state": state,
        "working_days_left": left,
        "hours_left": hours,
        "breached": breached,
    }


def staff_view(
    case: Case, now: datetime, with_timeline: bool = True, calendar: WorkCalendar | None = None
) -> dict[str, Any]:
    """The whole case for staff: every field, overdue now, agency names, Jalali dates, the timeline,
    and each deadline with the working days left."""
    doc = case.model_dump(mode="json", exclude={"timeline"} if not with_timeline else None)
    cal = calendar or _DEFAULT_CALENDAR
    doc["sla"] = {
        "acknowledge": deadline_view(case, "acknowledge", now, cal),
        "resolve": deadline_view(case, "resolve", now, cal),
    }
    doc.pop("id", None)
    doc["case_id"] = case.id
    doc["overdue"] = case.is_overdue(now)
    doc["status_fa"] = STATUS_FA.get(str(case.status), "")
    doc["agency_name"] = agency_view(case.agency)
    doc["registered_at_jalali"] = jalali(case.registered_at, with_time=True)
    doc["due"]["next_jalali"] = jalali(case.due.next, with_time=True)
    if with_timeline:
        for item, entry in zip(doc["timeline"], case.timeline, strict=True):
            item["time_jalali"] = jalali(entry.time, with_time=True)
    return doc
