"""Periods of whole Tehran days, read from the dates people type in either calendar.

Reports cover a period (the last 30 days unless told otherwise, at most ``max_days``); the agency queue
can be cut to cases registered between two days. Both ends are included: ``to`` 1405-09-10 means up to
the end of that day.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from services.tracking.domain.calendar import day_start, jalali, parse_day

DEFAULT_DAYS = 30


class BadDate(ValueError):
    """A day that is neither Gregorian (2026-11-22) nor Solar Hijri (1405-09-01)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason


class ReversedPeriod(ValueError):
    """The first day is after the last one."""


class PeriodTooLong(ValueError):
    """A report's period spans more than ``max_days`` days (``field``: the day to move)."""

    def __init__(self, max_days: int, field: str = "from") -> None:
        super().__init__(f"a report covers at most {max_days} days")
        self.max_days = max_days
        self.field = field


def read_day(text: str | None, field: str) -> date | None:
    """The day ``text`` names, or None when it is left out (absent or blank)."""
    if text is None or not text.strip():
        return None
    try:
        return parse_day(text)
    except (ValueError, TypeError, IndexError) as exc:
        raise BadDate(field, str(exc)) from None


@dataclass(frozen=True)
class Period:
    """Whole Tehran days from ``first`` to ``last``, both included."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return day_start(self.first)

    @property
    def end(self) -> datetime:
        """The instant just after the period (midnight in Tehran after its last day)."""
        return day_start(self.last + timedelta(days=1))

    def as_dict(self) -> dict[str, str | None]:
        return {
            "from": self.first.isoformat(),
            "to": self.last.isoformat(),
            "from_jalali": jalali(self.first),
            "to_jalali": jalali(self.last),
        }


def period_of(first: str | None, last: str | None, today: date, max_days: int | None = None) -> Period:
    """The period between two typed days. Without a last day it ends today; without a first day it
    is the 30 days (at most ``max_days``) up to the last one. Longer than ``max_days``: PeriodTooLong."""
    last_day = read_day(last, "to") or today
    default_days = min(DEFAULT_DAYS, max_days) if max_days else DEFAULT_DAYS
    first_day = read_day(first, "from") or last_day - timedelta(days=default_days - 1)
    if first_day > last_day:
        raise ReversedPeriod(f"{first_day} is after {last_day}")
    if max_days is not None and (last_day - first_day).days + 1 > max_days:
        raise PeriodTooLong(max_days)
    return Period(first_day, last_day)


def registered_between(first: str | None, last: str | None) -> tuple[datetime | None, datetime | None]:
    """The bounds [start, end) of the optional days a queue is cut to; an absent day leaves its side
    open."""
    first_day, last_day = read_day(first, "from"), read_day(last, "to")
    start = day_start(first_day) if first_day else None
    end = day_start(last_day + timedelta(days=1)) if last_day else None
    return start, end
