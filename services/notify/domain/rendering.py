"""Render a template into the SMS text: Persian digits, Solar Hijri dates in Tehran time, agency names.

Free text that staff typed (an answer, a reason) is shortened with an ellipsis when the whole
message would not fit the template's part limit; everything else is never cut.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo

import jdatetime

from contracts.persian import normalize_text, to_persian_digits
from services.notify.domain.segments import Segmentation, segment
from services.notify.domain.templates import Template

ELLIPSIS = "…"


def tehran_zone() -> tzinfo:
    """Iran Standard Time. Iran has kept +03:30 all year since 2022; the tz database knows it."""
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo("Asia/Tehran")
    except Exception:  # no tz database on this machine
        return timezone(timedelta(hours=3, minutes=30), "IRST")


TEHRAN = tehran_zone()


def solar_hijri_date(moment: datetime) -> str:
    """1404/03/11 in Persian digits, for the day in Tehran."""
    local = moment.astimezone(TEHRAN)
    day = jdatetime.date.fromgregorian(date=local.date())
    return to_persian_digits(f"{day.year:04d}/{day.month:02d}/{day.day:02d}")


def tehran_clock(moment: datetime) -> str:
    local = moment.astimezone(TEHRAN)
    return to_persian_digits(f"{local.hour:02d}:{local.minute:02d}")


def free_text(text: str | None) -> str:
    """Staff text as one line: normalised letters, Persian digits, no line breaks."""
    return to_persian_digits(" ".join(normalize_text(text or "").split()))


# What an escalation SMS says was late, per missed deadline.
LATE_FA = {"acknowledge": "پذیرش", "resolve": "رسیدگی"}


@dataclass(frozen=True)
class MessageValues:
    tracking_code: str
    agency_fa: str
    moment: datetime
    answer: str | None = None
    reason: str | None = None
    question: str | None = None  # what the agency asks the citizen
    late: str | None = None  # the missed deadline of an escalation: acknowledge or resolve

    def fields(self) -> dict[str, str]:
        return {
            "tracking_code": to_persian_digits(self.tracking_code),
            "agency": self.agency_fa,
            "date": solar_hijri_date(self.moment),
            "time": tehran_clock(self.moment),
            "answer": free_text(self.answer) or "—",
            "reason": free_text(self.reason) or "—",
            "question": free_text(self.question) or "—",
            "late": LATE_FA.get(self.late or "", "پاسخ"),
        }


@dataclass(frozen=True)
class RenderedSms:
    template: str
    text: str
    segmentation: Segmentation
    shortened: bool

    @property
    def parts(self) -> int:
        return self.segmentation.parts


class DoesNotFit(ValueError):
    """The template's fixed text alone exceeds its part limit: the template itself must be shortened."""


def _shorten(value: str, keep: int) -> str:
    if len(value) <= keep:
        return value
    return value[: max(keep, 0)].rstrip() + ELLIPSIS


def render(template: Template, values: MessageValues) -> RenderedSms:
    fields = values.fields()
    text = template.text.format(**fields)
    seg = segment(text)
    if seg.parts <= template.max_parts:
        return RenderedSms(template.key.value, text, seg, shortened=False)
    if not template.shrink:
        raise DoesNotFit(f"template {template.key.value!r} needs {seg.parts} parts with these values")
    # The longest cut of the shrinkable fields that fits: binary search on the kept length.
    longest = max(len(fields[f]) for f in template.shrink)
    lo, hi, best = 0, longest, None
    while lo <= hi:
        mid = (lo + hi) // 2
        trial = dict(fields)
        for f in template.shrink:
            trial[f] = _shorten(fields[f], mid)
        candidate = template.text.format(**trial)
        cseg = segment(candidate)
        if cseg.parts <= template.max_parts:
            best = (candidate, cseg)
            lo = mid + 1
        else:
            hi = mid - 1
    if best is None:
        raise DoesNotFit(f"template {template.key.value!r} does not fit in {template.max_parts} parts")
    return RenderedSms(template.key.value, best[0], best[1], shortened=True)


def utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
