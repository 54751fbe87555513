"""The domain's rules on access (who may see and do what), on actions (their texts, the status after)
and on periods (typed days in either calendar)."""

from __future__ import annotations

from datetime import date

import pytest

from contracts.events import SYSTEM, CaseNoteAdded, CaseRerouteRequested, CaseStatus, CaseStatusChanged
from services.tracking.domain.access import (
    ActionForbidden,
    OtherAgency,
    Staff,
    check_action,
    report_agency,
)
from services.tracking.domain.actions import (
    ACTION_ROLES,
    NEEDS_TEXT,
    TEXT_FIELD,
    ActionKind,
    may_take,
    status_after,
)
from services.tracking.domain.periods import BadDate, Period, ReversedPeriod, period_of, registered_between

WATER = Staff("agency_staff", "u1", "water_wastewater")


def test_who_may_do_what() -> None:
    assert "ops" not in set().union(*ACTION_ROLES.values())
    assert ACTION_ROLES[ActionKind.reopen] == {"operator", "supervisor"}
    assert "operator" not in ACTION_ROLES[ActionKind.resolve]
    assert may_take("supervisor", ActionKind.reroute) and not may_take("operator", ActionKind.acknowledge)
    assert all(may_take("supervisor", kind) for kind in ActionKind)
    assert [kind for kind in ActionKind if may_take("operator", kind)] == [ActionKind.note, ActionKind.reopen]
    with pytest.raises(ActionForbidden) as refused:
        check_action(WATER, ActionKind.reopen)
    assert refused.value.allowed == ["operator", "supervisor"]


def test_agency_staff_see_only_what_their_agency_holds() -> None:
    assert WATER.sees("water_wastewater") and not WATER.sees("education") and not WATER.sees(None)
    for role in ("operator", "supervisor", "ops"):
        assert Staff(role, "x").sees("education") and Staff(role, "x").sees(None)


def test_the_agency_a_report_covers() -> None:
    assert report_agency(WATER, None) == "water_wastewater"
    assert report_agency(WATER, "water_wastewater") == "water_wastewater"
    with pytest.raises(OtherAgency):
        report_agency(WATER, "education")
    supervisor = Staff("supervisor", "s")
    assert report_agency(supervisor, None) is None and report_agency(supervisor, "education") == "education"


def test_each_action_names_where_its_text_is_and_whether_it_needs_one() -> None:
    assert set(TEXT_FIELD) == set(ActionKind)
    assert {k: TEXT_FIELD[k] for k in NEEDS_TEXT} == {
        ActionKind.resolve: "answer",
        ActionKind.reject: "reason",
        ActionKind.reroute: "reason",
        ActionKind.note: "text",
        ActionKind.ask: "question",
    }
    assert ActionKind.reopen not in NEEDS_TEXT and ActionKind.acknowledge not in NEEDS_TEXT
    # Assigning to nobody gives the case back to the agency; resuming may say why, or not.
    assert ActionKind.assign not in NEEDS_TEXT and ActionKind.resume not in NEEDS_TEXT


def test_the_status_after_an_action() -> None:
    change = CaseStatusChanged(case_id="c", status=CaseStatus.resolved, actor=SYSTEM, answer="x")
    assert status_after(ActionKind.resolve, change, "in_progress") == CaseStatus.resolved
    reroute = CaseRerouteRequested.model_validate(
        {"case_id": "c", "agency": "education", "reason": "x", "actor": SYSTEM}
    )
    assert status_after(ActionKind.reroute, reroute, "in_progress") == CaseStatus.registered
    note = CaseNoteAdded(case_id="c", text="x", actor=SYSTEM)
    assert status_after(ActionKind.note, note, "routed") == CaseStatus.routed
    assert status_after(ActionKind.note, note, None) is None


def test_periods_of_typed_days_in_either_calendar() -> None:
    today = date(2026, 11, 25)
    default = period_of(None, None, today)
    assert (default.first, default.last) == (date(2026, 10, 27), today)
    jalali = period_of("1405-09-01", "۱۴۰۵-۰۹-۱۰", today)
    assert (jalali.first, jalali.last) == (date(2026, 11, 22), date(2026, 12, 1))
    assert period_of("2026-11-22", " ", today) == Period(date(2026, 11, 22), today)
    assert period_of(None, "2026-11-01", today).first == date(2026, 10, 3)
    assert jalali.as_dict() == {
        "from": "2026-11-22",
        "to": "2026-12-01",
        "from_jalali": "1405-09-01",
        "to_jalali": "1405-09-10",
    }
    # Whole Tehran days: from midnight in Tehran (UTC+03:30) to the midnight after the last day.
    assert jalali.start.isoformat() == "2026-11-21T20:30:00+00:00"
    assert jalali.end.isoformat() == "2026-12-01T20:30:00+00:00"
    with pytest.raises(ReversedPeriod):
        period_of("2026-11-23", "2026-11-22", today)
    # The last day is read first: when both are wrong, the error names ``to``.
    with pytest.raises(BadDate) as bad:
        period_of("nope", "2026-13-01", today)
    assert bad.value.field == "to"


def test_a_queue_cut_to_days_reads_from_first() -> None:
    assert registered_between(None, "") == (None, None)
    start, end = registered_between("2026-11-22", None)
    assert start is not None and start.isoformat() == "2026-11-21T20:30:00+00:00" and end is None
    with pytest.raises(BadDate) as bad:
        registered_between("nope", "also-not")
    assert bad.value.field == "from"
