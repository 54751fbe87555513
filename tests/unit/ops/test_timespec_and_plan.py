"""Times and positions as operators type them, and the per-partition plan they resolve to."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.ops.domain.plan import make_plan, resolve
from services.ops.domain.timespec import EARLIEST, LATEST, Position, SpecError, parse_position, parse_time

TEHRAN = ZoneInfo("Asia/Tehran")
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def t(text: str) -> datetime:
    return parse_time(text, now=NOW, zone=TEHRAN)


def test_relative_times_count_back_from_now() -> None:
    assert t("15m") == NOW - timedelta(minutes=15)
    assert t("-2h") == NOW - timedelta(hours=2)
    assert t("3d ago") == NOW - timedelta(days=3)
    assert t("now") == NOW


def test_naive_times_are_in_the_operators_zone_and_aware_ones_are_kept() -> None:
    assert t("2025-03-01 08:00") == datetime(2025, 3, 1, 4, 30, tzinfo=UTC)
    assert t("2025-03-01T08:00:00+00:00") == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert t("2025-03-01") == datetime(2025, 2, 28, 20, 30, tzinfo=UTC)


def test_solar_hijri_dates_and_persian_digits_are_understood() -> None:
    # 1403-12-11 is 2025-03-01 in the Gregorian calendar.
    assert t("1403-12-11 08:00") == datetime(2025, 3, 1, 4, 30, tzinfo=UTC)
    assert t("۱۴۰۳-۱۲-۱۱ ۰۸:۰۰") == t("1403-12-11 08:00")


def test_epoch_seconds_and_milliseconds() -> None:
    assert t("1740830400") == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    assert t("1740830400000") == datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def test_nonsense_is_refused_with_the_accepted_forms() -> None:
    with pytest.raises(SpecError, match="ISO 8601"):
        t("yesterday-ish")
    with pytest.raises(SpecError):
        t("1403-13-40")


def test_positions_offsets_edges_and_per_partition() -> None:
    def pos(text: str) -> Position:
        return parse_position(text, now=NOW, zone=TEHRAN)

    assert pos("earliest") == EARLIEST
    assert pos("latest") == LATEST
    assert pos("1200") == Position(offset=1200)
    assert pos("3:40, 0:1200") == Position(offsets=((0, 1200), (3, 40)))
    assert pos("2h").time == NOW - timedelta(hours=2)


BOUNDS = {0: (0, 100), 1: (10, 50), 2: (0, 0)}


def test_time_positions_use_offsets_for_times_and_missing_means_the_end() -> None:
    position = Position(time=NOW)
    starts = resolve(position, BOUNDS, {0: 40, 1: None, 2: None}, is_start=True)
    assert starts == {0: 40, 1: 50, 2: 0}
    plan = make_plan("t", BOUNDS, starts, resolve(LATEST, BOUNDS, None, is_start=False))
    assert [(r.partition, r.start, r.stop, r.count) for r in plan.ranges] == [
        (0, 40, 100, 60),
        (1, 50, 50, 0),
        (2, 0, 0, 0),
    ]
    assert plan.total == 60


def test_offsets_are_clamped_to_what_the_log_still_has() -> None:
    starts = resolve(Position(offset=5), BOUNDS, None, is_start=True)
    assert starts == {0: 5, 1: 10, 2: 0}
    stops = resolve(Position(offset=30), BOUNDS, None, is_start=False)
    plan = make_plan("t", BOUNDS, starts, stops)
    assert plan.total == 25 + 20


def test_per_partition_start_reads_only_the_named_partitions() -> None:
    starts = resolve(Position(offsets=((1, 20),)), BOUNDS, None, is_start=True)
    assert starts == {1: 20}
    plan = make_plan("t", BOUNDS, starts, resolve(LATEST, BOUNDS, None, is_start=False))
    assert plan.total == 30
    with pytest.raises(SpecError, match="no partition"):
        resolve(Position(offsets=((7, 1),)), BOUNDS, None, is_start=True)
