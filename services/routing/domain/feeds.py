"""The roster as it is announced: a JSON Feed (jsonfeed.org 1.1) and an iCalendar (RFC 5545) feed.

Both carry the Solar Hijri date in Persian in their descriptions. The iCalendar text is written here
(times in UTC, CRLF line ends, lines folded at 75 octets without splitting a UTF-8 character, text
escaped), so that any calendar client, and any independent parser, reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.catalogue import agency
from contracts.persian import to_persian_digits
from services.routing.domain.roster import DutySession, RosterEntry, jalali_date, jalali_iso

PRODID = "-//SAMAD-111//Duty roster//FA"
CALENDAR_NAME = "برنامهٔ حضور مدیران کل در سامد ۱۱۱"


def _hhmm(moment: datetime, tz: ZoneInfo) -> str:
    return to_persian_digits(moment.astimezone(tz).strftime("%H:%M"))


def session_title(s: DutySession) -> str:
    return f"پاسخگویی مستقیم {agency(s.agency).fa} در سامد ۱۱۱"


def session_description(s: DutySession, entry: RosterEntry, tz: ZoneInfo) -> str:
    local = s.starts_at.astimezone(tz)
    title = f"{entry.director_title} " if entry.director_title else ""
    return (
        f"{title}{s.director_name}، مدیرکل {agency(s.agency).fa}، "
        f"روز {jalali_date(local.date())} از ساعت {_hhmm(s.starts_at, tz)} تا {_hhmm(s.ends_at, tz)} "
        f"در {s.location} به تماس‌های شهروندان با سامانهٔ ۱۱۱ به‌طور مستقیم پاسخ می‌دهد."
    )


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> list[str]:
    """RFC 5545 §3.1: at most 75 octets per line; continuation lines start with one space."""
    out: list[str] = []
    current = ""
    limit = 75
    for ch in line:
        if len((current + ch).encode()) > limit:
            out.append(current)
            current = " " + ch
            limit = 75
        else:
            current += ch
    out.append(current)
    return out


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def icalendar(entries: Sequence[RosterEntry], tz: ZoneInfo, now: datetime, domain: str = "samad.ir") -> str:
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_escape(CALENDAR_NAME)}",
        f"X-WR-TIMEZONE:{tz.key}",
    ]
    for entry in entries:
        for s in entry.sessions(tz):
            lines += [
                "BEGIN:VEVENT",
                f"UID:{s.id}@{domain}",
                f"DTSTAMP:{_utc(now)}",
                f"DTSTART:{_utc(s.starts_at)}",
                f"DTEND:{_utc(s.ends_at)}",
                f"SUMMARY:{_escape(session_title(s))}",
                f"DESCRIPTION:{_escape(session_description(s, entry, tz))}",
                f"LOCATION:{_escape(s.location)}",
                f"CATEGORIES:{entry.agency.value}",
                "STATUS:CONFIRMED",
                "TRANSP:OPAQUE",
                "END:VEVENT",
            ]
    lines.append("END:VCALENDAR")
    return "".join(folded + "\r\n" for line in lines for folded in _fold(line))


def entry_document(entry: RosterEntry, tz: ZoneInfo) -> dict[str, Any]:
    """The roster entry as the API and the JSON feed show it."""
    return {
        "id": entry.id,
        "province": entry.province,
        "week_start": entry.week_start.isoformat(),
        "week_start_jalali": jalali_iso(entry.week_start),
        "week_end": entry.week_end.isoformat(),
        "agency": entry.agency.value,
        "agency_fa": agency(entry.agency).fa,
        "director_name": entry.director_name,
        "director_title": entry.director_title,
        "location": entry.location,
        "hours": [
            {"date": h.day.isoformat(), "start": h.start.strftime("%H:%M"), "end": h.end.strftime("%H:%M")}
            for h in entry.hours
        ],
        "sessions": [
            {
                "id": s.id,
                "starts_at": s.starts_at.isoformat(),
                "ends_at": s.ends_at.isoformat(),
                "date_jalali": jalali_iso(s.starts_at.astimezone(tz).date()),
                "date_fa": jalali_date(s.starts_at.astimezone(tz).date()),
            }
            for s in entry.sessions(tz)
        ],
    }


def json_feed(entries: Sequence[RosterEntry], tz: ZoneInfo, home_url: str, feed_url: str) -> dict[str, Any]:
    items = []
    for entry in entries:
        sessions = entry.sessions(tz)
        if not sessions:
            continue
        lines = [session_description(s, entry, tz) for s in sessions]
        items.append(
            {
                "id": entry.id,
                "url": f"{home_url}#{entry.id}",
                "title": (
                    f"حضور مدیرکل {agency(entry.agency).fa} در سامد ۱۱۱ — "
                    f"هفتهٔ {jalali_date(entry.week_start)}"
                ),
                "content_text": "\n".join(lines),
                "date_published": sessions[0].starts_at.isoformat(),
                "tags": [entry.agency.value],
                "_samad": entry_document(entry, tz),
            }
        )
    return {
        "version": "https://jsonfeed.org/version/1.1",
        "title": CALENDAR_NAME,
        "home_page_url": home_url,
        "feed_url": feed_url,
        "language": "fa-IR",
        "description": "هر هفته یکی از مدیران کل استان در مرکز سامد به تماس‌های شهروندان پاسخ می‌دهد.",
        "items": items,
    }
