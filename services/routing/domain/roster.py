"""The weekly duty roster: each week one agency's director-general answers calls live at the SAMAD centre.

An entry names the week (a Saturday, the first day of the Iranian week), the agency, the
director-general and the hours of each day of presence. Entries are validated here; two entries whose
hours overlap in the same province are rejected, and so is a second entry for the same agency and week.
The same rule is also expressed as the slots an entry occupies (``occupied_slots``): two entries
conflict exactly when they share a slot, which lets the database hold the rule with a unique key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import jdatetime

from contracts.catalogue import AgencyCode
from contracts.events import deterministic_id
from contracts.persian import to_persian_digits

SATURDAY = 5  # date.weekday(): Monday is 0
DEFAULT_LOCATION = "مرکز سامانهٔ ارتباط مردم و دولت (سامد)، استانداری"


@dataclass(frozen=True)
class DutyHours:
    day: date
    start: time
    end: time


@dataclass(frozen=True)
class DutySession:
    """One stretch of live presence: the unit a case's duty_session_id points to."""

    id: str
    entry_id: str
    province: str
    agency: AgencyCode
    director_name: str
    starts_at: datetime
    ends_at: datetime
    location: str

    def contains(self, moment: datetime) -> bool:
        return self.starts_at <= moment < self.ends_at

    def overlaps(self, other: DutySession) -> bool:
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True)
class RosterEntry:
    id: str
    province: str
    week_start: date
    agency: AgencyCode
    director_name: str
    hours: tuple[DutyHours, ...]
    location: str = DEFAULT_LOCATION
    director_title: str | None = None

    @property
    def week_end(self) -> date:
        return self.week_start + timedelta(days=6)

    def sessions(self, tz: ZoneInfo) -> list[DutySession]:
        out = []
        for h in sorted(self.hours, key=lambda h: (h.day, h.start)):
            starts = datetime.combine(h.day, h.start, tz)
            out.append(
                DutySession(
                    id=deterministic_id("duty-session", self.id, starts.isoformat()),
                    entry_id=self.id,
                    province=self.province,
                    agency=self.agency,
                    director_name=self.director_name,
                    starts_at=starts,
                    ends_at=datetime.combine(h.day, h.end, tz),
                    location=self.location,
                )
            )
        return out


@dataclass(frozen=True)
class RosterProblem:
    """One reason an entry cannot be accepted, naming the field, in English and Persian."""

    field: str
    code: str
    en: str
    fa: str


def validate(entry: RosterEntry) -> list[RosterProblem]:
    problems: list[RosterProblem] = []
    if entry.week_start.weekday() != SATURDAY:
        problems.append(
            RosterProblem(
                "week_start",
                "not_saturday",
                "The week must start on a Saturday",
                "هفته باید از شنبه شروع شود",
            )
        )
    if not entry.director_name.strip():
        problems.append(
            RosterProblem(
                "director_name", "missing", "The director's name is required", "نام مدیرکل لازم است"
            )
        )
    if not entry.hours:
        problems.append(
            RosterProblem(
                "hours", "missing", "At least one day of presence is required", "دست‌کم یک روز حضور لازم است"
            )
        )
    for i, h in enumerate(entry.hours):
        if not entry.week_start <= h.day <= entry.week_end:
            problems.append(
                RosterProblem(
                    f"hours.{i}.date",
                    "outside_week",
                    "The day is outside the entry's week",
                    "این روز خارج از هفتهٔ کشیک است",
                )
            )
        if h.end <= h.start:
            problems.append(
                RosterProblem(
                    f"hours.{i}.end",
                    "end_before_start",
                    "The end must be after the start",
                    "ساعت پایان باید بعد از ساعت شروع باشد",
                )
            )
    ordered = sorted(
        ((i, h) for i, h in enumerate(entry.hours) if h.end > h.start), key=lambda p: (p[1].day, p[1].start)
    )
    for (_, a), (j, b) in pairwise(ordered):
        if a.day == b.day and b.start < a.end:
            problems.append(
                RosterProblem(
                    f"hours.{j}",
                    "overlapping_hours",
                    "Two periods of the same day overlap",
                    "دو بازهٔ ساعتی در یک روز با هم هم‌پوشانی دارند",
                )
            )
    return problems


@dataclass(frozen=True)
class Conflict:
    entry: RosterEntry
    why_en: str
    why_fa: str


def conflicts(entry: RosterEntry, existing: Iterable[RosterEntry], tz: ZoneInfo) -> list[Conflict]:
    """Entries of the same province that the new one collides with (its own id excluded)."""
    mine = entry.sessions(tz)
    out: list[Conflict] = []
    for other in existing:
        if other.id == entry.id or other.province != entry.province:
            continue
        if other.agency == entry.agency and other.week_start == entry.week_start:
            out.append(
                Conflict(
                    other,
                    "This agency already has an entry for this week",
                    "این دستگاه برای این هفته پیش‌تر برنامهٔ کشیک دارد",
                )
            )
        elif any(s.overlaps(o) for s in mine for o in other.sessions(tz)):
            out.append(
                Conflict(
                    other,
                    "The hours overlap another director-general's duty",
                    "ساعت‌ها با کشیک مدیرکل دیگری هم‌پوشانی دارد",
                )
            )
    return out


def occupied_slots(entry: RosterEntry, tz: ZoneInfo) -> tuple[str, ...]:
    """The slots an entry holds while it exists, sorted: its agency's week in its province, and every
    minute (UTC) of its sessions in its province.

    Two entries of which neither has times finer than a minute (the roster stores hours as HH:MM)
    share a slot exactly when ``conflicts`` says they collide. Times are cut to the minute as stored,
    so an entry read back holds the same slots it claimed."""
    keys = {f"week|{entry.province}|{entry.agency.value}|{entry.week_start.isoformat()}"}
    for h in entry.hours:
        moment = datetime.combine(h.day, _to_minute(h.start), tz).astimezone(UTC)
        end = datetime.combine(h.day, _to_minute(h.end), tz).astimezone(UTC)
        while moment < end:
            keys.add(f"minute|{entry.province}|{moment:%Y-%m-%dT%H:%M}Z")
            moment += timedelta(minutes=1)
    return tuple(sorted(keys))


def _to_minute(t: time) -> time:
    return t.replace(second=0, microsecond=0)


def session_at(
    entries: Iterable[RosterEntry], agency: AgencyCode, province: str, moment: datetime, tz: ZoneInfo
) -> DutySession | None:
    """The on-duty session of this agency in this province at this moment, if any."""
    for entry in entries:
        if entry.agency != agency or entry.province != province:
            continue
        for s in entry.sessions(tz):
            if s.contains(moment):
                return s
    return None


def live_session(
    entries: Iterable[RosterEntry],
    agency: AgencyCode,
    province: str,
    registered_at: datetime,
    named_session_id: str | None,
    tz: ZoneInfo,
) -> DutySession | None:
    """The duty session a case routed to ``agency`` counts for: the agency's session in the province at
    the moment the case was registered; failing that, the session intake named at registration
    (``named_session_id``), if it is one of this agency's."""
    entries = list(entries)
    session = session_at(entries, agency, province, registered_at, tz)
    if session is not None or not named_session_id:
        return session
    for entry in entries:
        if entry.agency == agency:
            named = next((s for s in entry.sessions(tz) if s.id == named_session_id), None)
            if named is not None:
                return named
    return None


def on_duty(
    entries: Sequence[RosterEntry], province: str, moment: datetime, tz: ZoneInfo
) -> tuple[DutySession, RosterEntry] | None:
    """Who is on duty at the centre at this moment (agencies in catalogue order), and their entry."""
    for code in AgencyCode:
        session = session_at(entries, code, province, moment, tz)
        if session is not None:
            return session, next(e for e in entries if e.id == session.entry_id)
    return None


def within(entries: Iterable[RosterEntry], start: date | None, end: date | None) -> list[RosterEntry]:
    """The entries whose week touches the days from ``start`` to ``end`` (either open), in order."""
    return sort_entries(
        [
            e
            for e in entries
            if (start is None or e.week_end >= start) and (end is None or e.week_start <= end)
        ]
    )


def week_of(day: date) -> date:
    """The Saturday that starts the Iranian week containing ``day``."""
    return day - timedelta(days=(day.weekday() - SATURDAY) % 7)


def jalali_date(day: date) -> str:
    """«شنبه ۲ فروردین ۱۴۰۴»: the Solar Hijri date as announcements print it."""
    j = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
    text: str = j.strftime("%A %d %B %Y")
    parts = text.split(" ")
    parts[1] = str(int(parts[1]))
    return to_persian_digits(" ".join(parts))


def jalali_iso(day: date) -> str:
    """«1404-01-02»: the Solar Hijri date in ISO order, for machines."""
    j = jdatetime.date.fromgregorian(date=day)
    return f"{j.year:04d}-{j.month:02d}-{j.day:02d}"


def parse_day(text: str) -> date:
    """A day given as Gregorian «2025-03-22» or Solar Hijri «1404-01-02» (a year below 1700 is Jalali)."""
    from contracts.persian import to_ascii_digits

    y, m, d = (int(p) for p in to_ascii_digits(text.strip()).replace("/", "-").split("-"))
    if y < 1700:
        g = jdatetime.date(y, m, d).togregorian()
        return date(g.year, g.month, g.day)
    return date(y, m, d)


def sort_entries(entries: Sequence[RosterEntry]) -> list[RosterEntry]:
    return sorted(
        entries,
        key=lambda e: (
            e.week_start,
            min((h.day, h.start) for h in e.hours) if e.hours else (e.week_start, time()),
        ),
    )
