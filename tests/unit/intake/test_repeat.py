"""The repeat-call rule: same phone, same agency, near-identical description, within the window, still open."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from contracts.catalogue import AgencyCode
from services.intake.domain.cases import CaseView, RepeatPolicy, find_repeat, similarity

NOW = datetime(2018, 3, 1, 8, 0, tzinfo=UTC)
POLICY = RepeatPolicy(window=timedelta(days=30), threshold=0.85)
OPEN = CaseView(
    case_id="c1",
    tracking_code="1234567890",
    phone="+989151234567",
    province="khorasan_razavi",
    county="mashhad",
    channel="phone",
    subject="قطعی آب",
    description="آب محلهٔ ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده است",
    category="water_outage",
    operator_agency=None,
    agency=AgencyCode.water_wastewater,
    status="routed",
    status_notes=None,
    registered_at=NOW - timedelta(days=3),
    updated_at=NOW - timedelta(days=3),
)
AGAIN = "آب محله ما از ديروز قطع است و هيچ اطلاع رساني نشده"  # Arabic yeh, no half-spaces


def repeat(**changes: object) -> object:
    args: dict[str, object] = {
        "phone": "+989151234567",
        "agency": None,
        "description": AGAIN,
        "candidates": [OPEN],
        "now": NOW,
        "policy": POLICY,
    }
    args.update(changes)
    return find_repeat(**args)  # type: ignore[arg-type]


def test_near_identical_words_typed_differently_are_similar() -> None:
    assert similarity(OPEN.description, AGAIN) >= 0.85
    assert similarity(OPEN.description, "مستمری بازنشستگی پدرم دو ماه است واریز نشده") < 0.5


def test_same_phone_same_agency_same_problem_is_a_repeat() -> None:
    found = repeat(agency=AgencyCode.water_wastewater)
    assert found is not None and found.case.case_id == "c1"  # type: ignore[attr-defined]


def test_without_an_operator_choice_the_text_decides() -> None:
    assert repeat(agency=None) is not None


def test_another_agency_is_another_case() -> None:
    assert repeat(agency=AgencyCode.education) is None


def test_another_phone_is_another_citizen() -> None:
    assert repeat(phone="+989159999999") is None


def test_outside_the_window_is_a_new_case() -> None:
    old = dataclasses.replace(OPEN, registered_at=NOW - timedelta(days=31))
    assert repeat(candidates=[old]) is None
    assert repeat(candidates=[old], policy=RepeatPolicy(window=timedelta(days=60))) is not None


def test_a_finished_case_is_not_reopened_by_a_new_call() -> None:
    for status in ("resolved", "rejected", "closed"):
        assert repeat(candidates=[dataclasses.replace(OPEN, status=status)]) is None
    assert repeat(candidates=[dataclasses.replace(OPEN, status="reopened")]) is not None


def test_a_case_not_routed_yet_matches_on_the_operators_first_choice() -> None:
    unrouted = dataclasses.replace(OPEN, agency=None, operator_agency=AgencyCode.water_wastewater)
    assert repeat(candidates=[unrouted], agency=AgencyCode.education) is None
    assert repeat(
        candidates=[dataclasses.replace(unrouted, operator_agency=None)], agency=AgencyCode.education
    )


def test_the_closest_and_then_newest_open_case_wins() -> None:
    older = dataclasses.replace(OPEN, case_id="old", registered_at=NOW - timedelta(days=9))
    newer = dataclasses.replace(OPEN, case_id="new", registered_at=NOW - timedelta(days=1))
    found = repeat(candidates=[older, newer])
    assert found is not None and found.case.case_id == "new"  # type: ignore[attr-defined]


def test_the_threshold_is_configurable() -> None:
    loose = "آب قطع است"
    assert repeat(description=loose) is None
    assert repeat(description=loose, policy=RepeatPolicy(threshold=0.3)) is not None


def test_a_retry_never_repeats_itself() -> None:
    assert repeat(exclude_case_id="c1") is None
