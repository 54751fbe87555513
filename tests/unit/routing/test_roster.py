"""The duty roster: validation, overlaps and the slots that hold them, live sessions, who is on duty, Jalali
dates, JSON Feed and iCalendar feeds."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import icalendar

from contracts.catalogue import AgencyCode
from services.routing.domain.feeds import icalendar as render_ics
from services.routing.domain.feeds import json_feed
from services.routing.domain.roster import (
    DutyHours,
    RosterEntry,
    conflicts,
    jalali_date,
    jalali_iso,
    live_session,
    occupied_slots,
    on_duty,
    parse_day,
    session_at,
    validate,
    week_of,
    within,
)

TEHRAN = ZoneInfo("Asia/Tehran")
SATURDAY = date(2025, 3, 22)  # 2 Farvardin 1404


def entry(
    agency: AgencyCode = AgencyCode.education,
    week: date = SATURDAY,
    hours: tuple[tuple[date, int, int], ...] = ((SATURDAY, 9, 12),),
    entry_id: str = "e1",
    province: str = "khorasan_razavi",
    name: str = "دکتر احمدی",
) -> RosterEntry:
    return RosterEntry(
        id=entry_id,
        province=province,
        week_start=week,
        agency=agency,
        director_name=name,
        hours=tuple(DutyHours(d, time(a), time(b)) for d, a, b in hours),
    )


def codes(e: RosterEntry) -> list[tuple[str, str]]:
    return [(p.field, p.code) for p in validate(e)]


def test_a_well_formed_entry_is_valid() -> None:
    assert validate(entry(hours=((SATURDAY, 9, 12), (SATURDAY + timedelta(days=2), 9, 11)))) == []


def test_the_week_must_start_on_saturday() -> None:
    assert ("week_start", "not_saturday") in codes(entry(week=SATURDAY + timedelta(days=1)))


def test_hours_must_fall_inside_the_week_and_end_after_they_start() -> None:
    bad = entry(hours=((SATURDAY + timedelta(days=7), 9, 12), (SATURDAY, 12, 9)))
    assert set(codes(bad)) == {("hours.0.date", "outside_week"), ("hours.1.end", "end_before_start")}
    problem = validate(bad)[0]
    assert problem.fa and problem.en  # every problem is explained in Persian and English


def test_two_periods_of_one_day_may_not_overlap() -> None:
    assert ("hours.1", "overlapping_hours") in codes(entry(hours=((SATURDAY, 9, 12), (SATURDAY, 11, 13))))


def test_overlapping_entries_of_different_agencies_conflict() -> None:
    a = entry(AgencyCode.education)
    b = entry(AgencyCode.welfare, hours=((SATURDAY, 11, 14),), entry_id="e2")
    c = entry(AgencyCode.welfare, hours=((SATURDAY, 12, 14),), entry_id="e3")  # starts when a ends
    assert [x.entry.id for x in conflicts(b, [a], TEHRAN)] == ["e1"]
    assert conflicts(c, [a], TEHRAN) == []


def test_an_agency_has_one_entry_per_week() -> None:
    a = entry(AgencyCode.education)
    b = entry(AgencyCode.education, hours=((SATURDAY + timedelta(days=3), 9, 12),), entry_id="e2")
    [clash] = conflicts(b, [a], TEHRAN)
    assert "this week" in clash.why_en and "هفته" in clash.why_fa


def test_other_provinces_do_not_conflict() -> None:
    a = entry(AgencyCode.education)
    b = entry(AgencyCode.welfare, entry_id="e2", province="tehran")
    assert conflicts(b, [a], TEHRAN) == []


def test_the_session_at_a_moment_is_found_in_local_time() -> None:
    e = entry(AgencyCode.education)
    inside = datetime(2025, 3, 22, 6, 0, tzinfo=UTC)  # 09:30 Tehran
    outside = datetime(2025, 3, 22, 9, 0, tzinfo=UTC)  # 12:30 Tehran
    session = session_at([e], AgencyCode.education, "khorasan_razavi", inside, TEHRAN)
    assert session is not None and session.entry_id == "e1"
    assert session_at([e], AgencyCode.education, "khorasan_razavi", outside, TEHRAN) is None
    assert session_at([e], AgencyCode.welfare, "khorasan_razavi", inside, TEHRAN) is None


def test_jalali_dates() -> None:
    assert jalali_iso(SATURDAY) == "1404-01-02"
    assert jalali_date(SATURDAY) == "شنبه ۲ فروردین ۱۴۰۴"
    assert parse_day("1404-01-02") == SATURDAY == parse_day("2025-03-22") == parse_day("۱۴۰۴/۰۱/۰۲")
    assert week_of(date(2025, 3, 27)) == SATURDAY  # Thursday belongs to the week starting Saturday


def test_the_icalendar_feed_is_read_by_an_independent_parser() -> None:
    entries = [
        entry(AgencyCode.education, hours=((SATURDAY, 9, 12), (SATURDAY + timedelta(days=1), 10, 12))),
        entry(
            AgencyCode.water_wastewater,
            SATURDAY + timedelta(days=7),
            ((SATURDAY + timedelta(days=7), 9, 11),),
            "e2",
        ),
    ]
    text = render_ics(entries, TEHRAN, datetime(2025, 3, 1, tzinfo=UTC))
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))  # folded per RFC 5545
    assert text.endswith("END:VCALENDAR\r\n")
    cal = icalendar.Calendar.from_ical(text)
    events = list(cal.walk("VEVENT"))
    assert len(events) == 3
    first = events[0]
    assert first.decoded("DTSTART") == datetime(2025, 3, 22, 9, 0, tzinfo=TEHRAN)
    assert first.decoded("DTEND") - first.decoded("DTSTART") == timedelta(hours=3)
    description = str(first.get("DESCRIPTION"))
    assert "شنبه ۲ فروردین ۱۴۰۴" in description and "دکتر احمدی" in description
    assert "اداره کل آموزش و پرورش" in str(first.get("SUMMARY"))
    assert len({str(e.get("UID")) for e in events}) == 3


def test_the_json_feed_follows_json_feed_1_1_with_jalali_text() -> None:
    doc = json_feed([entry()], TEHRAN, "https://samad.example/roster", "https://samad.example/feed.json")
    assert doc["version"] == "https://jsonfeed.org/version/1.1"
    [item] = doc["items"]
    assert item["id"] == "e1" and "۱۴۰۴" in item["title"]
    assert "شنبه ۲ فروردین ۱۴۰۴" in item["content_text"]
    assert item["_samad"]["week_start_jalali"] == "1404-01-02"
    assert item["_samad"]["sessions"][0]["starts_at"] == "2025-03-22T09:00:00+03:30"


# --- slots: the overlap rule as unique keys ---------------------------------------------------------


def test_an_entry_occupies_its_agencys_week_and_every_minute_of_its_hours() -> None:
    slots = occupied_slots(entry(hours=((SATURDAY, 9, 12), (SATURDAY + timedelta(days=1), 10, 11))), TEHRAN)
    assert len(slots) == 1 + 180 + 60 and list(slots) == sorted(set(slots))
    assert "week|khorasan_razavi|education|2025-03-22" in slots
    assert "minute|khorasan_razavi|2025-03-22T05:30Z" in slots  # 09:00 in Tehran
    assert "minute|khorasan_razavi|2025-03-22T08:29Z" in slots  # 11:59
    assert "minute|khorasan_razavi|2025-03-22T08:30Z" not in slots  # 12:00 is free again


def _random_entry(rng: random.Random, entry_id: str) -> RosterEntry:
    week = SATURDAY + timedelta(days=7 * rng.randrange(2))
    hours = []
    for day in rng.sample(range(7), rng.randrange(1, 3)):
        start = rng.randrange(8 * 60, 14 * 60, 15)
        end = start + rng.randrange(15, 4 * 60, 15)
        hours.append(DutyHours(week + timedelta(days=day), _t(start), _t(end)))
    return RosterEntry(
        id=entry_id,
        province=rng.choice(["khorasan_razavi", "tehran"]),
        week_start=week,
        agency=rng.choice(list(AgencyCode)[:3]),
        director_name="x",
        hours=tuple(hours),
    )


def test_two_entries_share_a_slot_exactly_when_they_conflict() -> None:
    rng = random.Random(111)
    clashing = 0
    for n in range(400):
        a, b = _random_entry(rng, f"a{n}"), _random_entry(rng, f"b{n}")
        shared = bool(set(occupied_slots(a, TEHRAN)) & set(occupied_slots(b, TEHRAN)))
        assert shared == bool(conflicts(a, [b], TEHRAN)), (a, b)
        clashing += shared
    assert 40 < clashing < 360  # both outcomes well represented


def test_back_to_back_hours_share_no_slot() -> None:
    a = entry(AgencyCode.education, hours=((SATURDAY, 9, 12),))
    b = entry(AgencyCode.welfare, hours=((SATURDAY, 12, 14),), entry_id="e2")
    assert not set(occupied_slots(a, TEHRAN)) & set(occupied_slots(b, TEHRAN))


def _t(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


# --- sessions: live, on duty, a window ---------------------------------------------------------------


def test_a_case_counts_for_the_session_at_its_registration_else_the_one_intake_named() -> None:
    e = entry(AgencyCode.education, hours=((SATURDAY, 9, 12), (SATURDAY + timedelta(days=1), 9, 12)))
    first, second = e.sessions(TEHRAN)
    inside = datetime(2025, 3, 22, 6, 0, tzinfo=UTC)  # Saturday 09:30 in Tehran
    late = datetime(2025, 3, 22, 12, 0, tzinfo=UTC)  # Saturday 15:30: no session
    province = "khorasan_razavi"
    assert live_session([e], AgencyCode.education, province, inside, None, TEHRAN) == first
    # The moment wins over the session intake named.
    assert live_session([e], AgencyCode.education, province, inside, second.id, TEHRAN) == first
    # Outside the hours, the session intake named at registration still counts.
    assert live_session([e], AgencyCode.education, province, late, second.id, TEHRAN) == second
    assert live_session([e], AgencyCode.education, province, late, None, TEHRAN) is None
    # ...but only if it is the chosen agency's.
    assert live_session([e], AgencyCode.welfare, province, late, second.id, TEHRAN) is None
    assert live_session([e], AgencyCode.education, province, late, "unknown", TEHRAN) is None


def test_who_is_on_duty_now() -> None:
    a = entry(AgencyCode.welfare, hours=((SATURDAY, 9, 12),))
    b = entry(AgencyCode.education, hours=((SATURDAY, 12, 14),), entry_id="e2")
    at_ten = datetime(2025, 3, 22, 6, 30, tzinfo=UTC)
    at_one = datetime(2025, 3, 22, 9, 30, tzinfo=UTC)
    found = on_duty([a, b], "khorasan_razavi", at_ten, TEHRAN)
    assert found is not None and found[1] is a and found[0].entry_id == "e1"
    found = on_duty([a, b], "khorasan_razavi", at_one, TEHRAN)
    assert found is not None and found[1] is b
    assert on_duty([a, b], "tehran", at_ten, TEHRAN) is None
    assert on_duty([a, b], "khorasan_razavi", datetime(2025, 3, 22, 15, 0, tzinfo=UTC), TEHRAN) is None


def test_entries_within_a_window_in_order() -> None:
    later = entry(
        AgencyCode.welfare, SATURDAY + timedelta(days=7), ((SATURDAY + timedelta(days=7), 9, 12),), "e2"
    )
    first = entry(AgencyCode.education)
    assert [e.id for e in within([later, first], None, None)] == ["e1", "e2"]
    assert [e.id for e in within([later, first], SATURDAY + timedelta(days=7), None)] == ["e2"]
    assert [e.id for e in within([later, first], None, SATURDAY + timedelta(days=6))] == ["e1"]
