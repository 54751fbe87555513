"""Working days on the Iranian calendar and the SLA table."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import jdatetime
import pytest
import yaml

from services.tracking.adapters.data import load_policy
from services.tracking.domain.calendar import (
    TEHRAN,
    WorkCalendar,
    jalali,
    jalali_week_start,
    parse_day,
)
from services.tracking.domain.sla import Duration, SlaPolicy

POLICY = load_policy()
CAL = POLICY.calendar


def tehran(y: int, m: int, d: int, h: int = 10) -> datetime:
    return datetime(y, m, d, h, 0, tzinfo=TEHRAN)


def test_friday_is_not_a_working_day() -> None:
    assert not CAL.is_working_day(date(2026, 11, 27))  # Friday
    assert CAL.is_working_day(date(2026, 11, 28))  # Saturday
    assert CAL.is_working_day(date(2026, 11, 26))  # Thursday


def test_two_working_days_from_wednesday_end_on_saturday_night() -> None:
    due = CAL.add_working_days(tehran(2026, 11, 25), 2)  # Wednesday 1405-09-04
    local = due.astimezone(TEHRAN)
    assert local.date() == date(2026, 11, 28) and (local.hour, local.minute) == (23, 59)


def test_official_holidays_are_skipped() -> None:
    # 1405-11-22 (2027-02-11, Thursday) is the Revolution's anniversary; Friday follows.
    assert CAL.holiday(date(2027, 2, 11)) is not None
    due = CAL.add_working_days(tehran(2027, 2, 10), 1)  # Wednesday
    assert due.astimezone(TEHRAN).date() == date(2027, 2, 13)  # Saturday
    # Nowruz: 1406-01-01..04 are holidays.
    due = CAL.add_working_days(tehran(2027, 3, 20), 2)
    assert due.astimezone(TEHRAN).date() == date(2027, 3, 27)


def test_the_holiday_file_covers_this_and_next_year_and_its_dates_agree() -> None:
    from importlib import resources

    raw = yaml.safe_load(
        resources.files("services.tracking").joinpath("data", "holidays.yaml").read_text("utf-8")
    )
    assert {1405, 1406} <= set(raw["years"])
    for year, rows in raw["years"].items():
        assert 20 <= len(rows) <= 30, year  # 26 official holidays, some of which coincide
        for row in rows:
            y, m, d = (int(p) for p in str(row["date"]).split("-"))
            assert y == year
            assert jdatetime.date(y, m, d).togregorian() == date.fromisoformat(str(row["gregorian"]))
            assert row["fa"] and row["en"]
    assert CAL.covered_years >= {1405, 1406}


def test_sla_lookup_prefers_category_then_agency_then_default() -> None:
    assert POLICY.sla_for("water_wastewater", "outage").acknowledge == Duration(hours=4)
    assert POLICY.sla_for("water_wastewater", None).acknowledge == Duration(working_days=2)
    assert POLICY.sla_for("social_security", None).resolve == Duration(days=15)
    assert POLICY.sla_for("education", "anything").resolve == Duration(days=10)
    start = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
    assert POLICY.acknowledge_due("water_wastewater", "outage", start) == start + timedelta(hours=4)
    assert POLICY.close_due(start) == start + timedelta(days=7)


def test_bad_durations_are_refused() -> None:
    for bad in ({"weeks": 1}, {"days": 0}, {"days": 1, "hours": 2}, 3):
        with pytest.raises(ValueError):
            Duration.parse(bad)


def test_a_policy_from_a_mapping() -> None:
    policy = SlaPolicy.from_mapping(
        {
            "defaults": {"acknowledge": {"hours": 1}, "resolve": {"working_days": 3}},
            "close_after": {"days": 2},
        },
        WorkCalendar(),
    )
    assert policy.sla_for("education", None).acknowledge == Duration(hours=1)
    assert policy.close_after == Duration(days=2)


def test_dates_in_either_calendar() -> None:
    assert parse_day("1405-09-07") == date(2026, 11, 28)
    assert parse_day("۱۴۰۵/۰۹/۰۷") == date(2026, 11, 28)
    assert parse_day("2026-11-28") == date(2026, 11, 28)
    assert jalali(date(2026, 11, 28)) == "1405-09-07"
    assert jalali(datetime(2026, 11, 28, 20, 30, tzinfo=UTC), with_time=True) == "1405-09-08 00:00"
    assert jalali_week_start(date(2026, 11, 27)) == date(2026, 11, 21)  # Friday -> its Saturday
    assert jalali_week_start(date(2026, 11, 28)) == date(2026, 11, 28)
