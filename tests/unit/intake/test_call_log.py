"""The rules of a call log row: Tehran time, the file-wide duty session, cases only from answered calls."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.events import CallOutcome
from services.intake.domain import call_log as c
from services.intake.domain import ids


def test_a_time_without_a_zone_is_tehran_time_and_one_with_a_zone_is_kept() -> None:
    local = c.started_at("2018-02-27 09:00:00")
    assert isinstance(local, datetime) and local.utcoffset() == timedelta(hours=3, minutes=30)
    assert c.started_at("2018-02-27T05:30:00Z") == datetime(2018, 2, 27, 5, 30, tzinfo=UTC)
    assert c.started_at(" دیروز ") == "دیروز"  # left for CallIn to report


def test_the_session_named_for_the_file_wins_over_the_column() -> None:
    assert c.duty_session("rehearsal-1", "duty-7") == "rehearsal-1"
    assert c.duty_session(None, "duty-7") == "duty-7"
    assert c.duty_session(None, "") is None
    assert c.duty_session(None, None) is None


def test_only_an_answered_call_may_become_a_case() -> None:
    assert c.case_without_answer(3, "r1", CallOutcome.answered) is None
    for outcome in (CallOutcome.missed, CallOutcome.abandoned):
        problem = c.case_without_answer(3, "r1", outcome)
        assert problem is not None and (problem.row, problem.part, problem.field) == (3, "case", "outcome")
        assert problem.message and problem.message_en


def test_a_row_describes_a_case_when_it_has_a_subject_or_a_description() -> None:
    assert c.has_case({"subject": "قطعی آب"}) and c.has_case({"description": "آب قطع است"})
    assert not c.has_case({"subject": "", "description": ""})


def test_the_case_is_tied_to_the_call_of_its_row_under_the_key_prefix() -> None:
    values = c.cleaned({"call_ref": " r1 ", "caller_phone": "09151234567", "case_phone": None})
    fields = c.case_fields(values, "p-", None)
    assert fields["call_id"] == ids.call_ids(f"{c.CALL_SCOPE}:p-r1").call_id
    assert fields["phone"] == "09151234567"  # the caller's number when no other mobile is given
    assert c.call_key("p-", "r1") == "p-r1"


def test_empty_cells_become_absent_fields_with_the_defaults_of_a_call() -> None:
    fields = c.call_fields({"outcome": "missed", "started_at": "2018-02-27 09:00:00"}, None)
    assert fields["caller_phone"] is None and fields["channel"] == "phone"
    assert fields["duration_seconds"] == "0" and fields["operator_id"] is None


def test_the_required_columns_are_named_when_missing() -> None:
    assert c.missing_columns(["call_ref", "started_at", "outcome", "x"]) == []
    assert c.missing_columns(["call_ref"]) == ["started_at", "outcome"]
