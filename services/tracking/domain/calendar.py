"""The Iranian working calendar: Friday off, official holidays from a data file, Tehran local time.

Iran has kept Tehran time at UTC+03:30 all year since 2022 (no daylight saving), so a fixed offset is
exact for the years the holiday file covers and keeps every computation independent of the host's
time-zone database.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import jdatetime

TEHRAN = timezone(timedelta(hours=3, minutes=30), "Asia/Tehran")
FRIDAY = 4  # date.weekday(): Monday is 0
# How far a count of working hours may look ahead before the calendar is called broken.
MAX_DAYS_AHEAD = 3660


@dataclass(frozen=True)
class OfficeHours:
    """The part of a working day agencies are at work (Tehran time), in which escalation delays run."""

    start: time = time(7, 30)
    end: time = time(14, 30)


@dataclass(frozen=True)
class Holiday:
    day: date  # Gregorian
    fa: str
    en: str


@dataclass(frozen=True)
class WorkCalendar:
    """Which days an agency works. Days outside the covered Jalali years count only Fridays as off."""

    holidays: Mapping[date, Holiday] = field(default_factory=dict)
    weekend: frozenset[int] = frozenset({FRIDAY})
    covered_years: frozenset[int] = frozenset()  # Jalali years the holiday file lists

    @classmethod
    def from_mapping(cls, raw: Mapping[str, Any]) -> WorkCalendar:
        """Build from the parsed holidays file: ``{years: {1405: [{date: "1405-01-01", fa, en}, ...]}}``."""
        holidays: dict[date, Holiday] = {}
        years: set[int] = set()
        for year, rows in (raw.get("years") or {}).items():
            years.add(int(year))
            for row in rows or ():
                day = parse_jalali(str(row["date"]))
                holidays[day] = Holiday(day, str(row.get("fa", "")), str(row.get("en", "")))
        weekend = frozenset(int(d) for d in raw.get("weekend", [FRIDAY]))
        return cls(holidays, weekend, frozenset(years))

    def is_working_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and day not in self.holidays

    def holiday(self, day: date) -> Holiday | None:
        return self.holidays.get(day)

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The end (23:59:59.999 Tehran) of the ``days``-th working day after the day of ``start``.

        "Acknowledge within 2 working days" of a case routed on Wednesday means by the end of
        Saturday: Thursday and Saturday are the two working days, Friday is skipped.
        """
        day = start.astimezone(TEHRAN).date()
        counted = 0
        while counted < days:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return end_of_day(day)

    def add_working_hours(self, start: datetime, hours: float, office: OfficeHours) -> datetime:
        """``hours`` of office time after ``start``: only the office hours of working days count (a
        case late at 20:00 on Wednesday, two working hours on, is due at 09:30 on Thursday with
        office hours from 07:30). Zero hours is ``start`` itself."""
        if hours <= 0:
            return start
        remaining = timedelta(hours=hours)
        moment = start.astimezone(TEHRAN)
        day = moment.date()
        for _ in range(MAX_DAYS_AHEAD):
            if self.is_working_day(day):
                opens = datetime.combine(day, office.start, TEHRAN)
                closes = datetime.combine(day, office.end, TEHRAN)
                begin = max(moment, opens)
                if begin < closes:
                    if remaining <= closes - begin:
                        return (begin + remaining).astimezone(UTC)
                    remaining -= closes - begin
            day += timedelta(days=1)
            moment = datetime.combine(day, time(0, 0), TEHRAN)
        raise ValueError(f"no office hours in the {MAX_DAYS_AHEAD} days after {start.isoformat()}")

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Whole working days from today to the deadline's day (Tehran): 0 when it is due today,
        negative when it has passed (how many working days late)."""
        today, day = tehran_day(now), tehran_day(due)
        if due >= now:
            return self.working_days_between(today, day)
        return -self.working_days_between(day, today)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        count = 0
        day = start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count

    def upcoming(self, start: date, count: int) -> list[Holiday]:
        return [self.holidays[d] for d in sorted(self.holidays) if d >= start][:count]


def end_of_day(day: date) -> datetime:
    local = datetime.combine(day, time(23, 59, 59, 999000), TEHRAN)
    return local.astimezone(UTC)


def parse_jalali(text: str) -> date:
    """``1405-01-01`` (Solar Hijri, ASCII or Persian digits) to a Gregorian date."""
    from contracts.persian import to_ascii_digits

    y, m, d = (int(p) for p in to_ascii_digits(text.strip()).replace("/", "-").split("-"))
    result: date = jdatetime.date(y, m, d).togregorian()
    return result


def parse_day(text: str) -> date:
    """A date written as Gregorian (2026-11-22) or Solar Hijri (1405-09-01); the year tells which."""
    from contracts.persian import to_ascii_digits

    clean = to_ascii_digits(text.strip()).replace("/", "-")
    year = int(clean.split("-")[0])
    if year < 1700:
        return parse_jalali(clean)
    return date.fromisoformat(clean)


def jalali(value: datetime | date | None, with_time: bool = False) -> str | None:
    """The Solar Hijri form (Tehran time for datetimes): 1405-09-07 or 1405-09-07 14:05."""
    if value is None:
        return None
    if isinstance(value, datetime):
        local = value.astimezone(TEHRAN)
        j = jdatetime.datetime.fromgregorian(datetime=local.replace(tzinfo=None))
        formatted: str = j.strftime("%Y-%m-%d %H:%M" if with_time else "%Y-%m-%d")
        return formatted
    jd = jdatetime.date.fromgregorian(date=value)
    text: str = jd.strftime("%Y-%m-%d")
    return text


def jalali_week_start(day: date) -> date:
    """The Saturday that starts the Iranian week holding ``day``."""
    return day - timedelta(days=(day.weekday() - 5) % 7)


def tehran_day(value: datetime) -> date:
    return value.astimezone(TEHRAN).date()


def day_start(day: date) -> datetime:
    """Midnight in Tehran at the start of ``day``, as UTC."""
    return datetime.combine(day, time(0, 0), TEHRAN).astimezone(UTC)


def day_bounds(days: Iterable[date]) -> tuple[datetime, datetime]:
    ordered = sorted(days)
    return day_start(ordered[0]), day_start(ordered[-1] + timedelta(days=1))
