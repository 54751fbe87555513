"""Importing a call log: the scenario file, bad rows with their reasons, the dry run, and the import
itself on the fakes (re-running publishes nothing new)."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from contracts.events import CallReceived, CaseRegistered, CaseRepeatCall
from services.intake.adapters.call_log import SCENARIO, CsvCallLog, FileProblem, InMemoryCallLog
from services.intake.service.import_calls import check_rows, read_rows
from tests.unit.intake.conftest import World

HEADER = "call_ref,started_at,duration_seconds,caller_phone,channel,outcome,operator_id,county,subject,description,case_phone,national_id\n"


def write(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "calls.csv"
    path.write_text(header + "".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_the_scenario_is_the_source_documents_duty_session() -> None:
    rows = list(read_rows(CsvCallLog(SCENARIO)))
    assert len(rows) == 110
    assert all(not r.problems for r in rows)
    outcomes = Counter(r.call.outcome.value for r in rows if r.call)
    assert outcomes["answered"] == 81 and outcomes["missed"] + outcomes["abandoned"] == 29
    cases = [r.case for r in rows if r.case]
    assert len(cases) == 65
    assert all(r.call and r.call.outcome.value == "answered" for r in rows if r.case)
    with SCENARIO.open(encoding="utf-8") as handle:
        expected = Counter(row["expected_agency"] for row in csv.DictReader(handle) if row["expected_agency"])
    assert len(expected) == 14  # every agency of the source document gets cases
    assert expected.most_common(1)[0][0] == "education"  # the session's headline
    assert len({c.phone for c in cases}) == 65  # one citizen per case: no repeat calls in the session


def test_dry_run_counts_what_would_be_published() -> None:
    summary = check_rows(read_rows(CsvCallLog(SCENARIO)))
    assert (summary.rows, summary.calls_published, summary.cases_registered) == (110, 110, 65)
    assert summary.outcomes == {"answered": 81, "missed": 21, "abandoned": 8}
    assert summary.rejected == []


def test_local_times_without_a_zone_are_tehran_time(tmp_path: Path) -> None:
    path = write(tmp_path, "r1,2018-02-27 09:00:00,60,09151234567,phone,answered,op-1,mashhad,,,,")
    [row] = list(read_rows(CsvCallLog(path)))
    assert row.call is not None and row.call.started_at.utcoffset() == timedelta(hours=3, minutes=30)


def test_bad_rows_are_reported_with_line_field_and_persian_reason(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "r1,2018-02-27 09:00:00,60,09151234567,phone,answered,op-1,mashhad,قطعی آب,آب قطع است,,1234567890",
        "r2,دیروز,60,0915,phone,picked_up,op-1,tehran,,,,",
        "r3,2018-02-27 09:10:00,0,,phone,missed,,,قطعی آب,آب قطع است,09151234567,",
        "r1,2018-02-27 09:20:00,60,09151234567,phone,answered,op-1,mashhad,,,,",
        "r5,2018-02-27 09:30:00,60,05138001234,phone,answered,op-1,mashhad,قطعی آب,آب قطع است,,",
    )
    rows = list(read_rows(CsvCallLog(path)))
    problems = {(p.row, p.part, p.field) for r in rows for p in r.problems}
    assert (2, "case", "national_id") in problems
    assert {(3, "call", f) for f in ("started_at", "caller_phone", "outcome", "county")} <= problems
    assert (4, "case", "outcome") in problems  # a missed call cannot become a case
    assert (5, "call", "call_ref") in problems  # the same call twice in one file
    assert (6, "case", "phone") in problems  # a landline and no mobile for the SMS
    assert all(p.message and p.message_en for r in rows for p in r.problems)
    assert rows[0].call is not None  # the call is still good when only its case is wrong


def test_a_file_without_the_required_columns_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "1,2,3", header="a,b,c\n")
    with pytest.raises(FileProblem, match="call_ref"):
        list(read_rows(CsvCallLog(path)))
    with pytest.raises(FileProblem):
        list(read_rows(CsvCallLog(tmp_path / "missing.csv")))


def test_the_duty_session_can_be_set_for_the_whole_file() -> None:
    rows = list(read_rows(CsvCallLog(SCENARIO), duty_session="rehearsal-1"))
    assert {r.call.duty_session_id for r in rows if r.call} == {"rehearsal-1"}
    assert {r.case.duty_session_id for r in rows if r.case} == {"rehearsal-1"}


def test_the_file_counts_its_lines_for_progress() -> None:
    assert CsvCallLog(SCENARIO).count() == 110


ROW = {
    "call_ref": "r1",
    "started_at": "2018-02-27 09:00:00",
    "duration_seconds": "60",
    "caller_phone": "09151234567",
    "channel": "phone",
    "outcome": "answered",
    "operator_id": "op-1",
    "county": "mashhad",
    "subject": "قطعی آب",
    "description": "آب محلهٔ ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده است",
}


async def test_the_scenario_imports_as_110_calls_and_65_cases_and_a_rerun_publishes_nothing(
    world: World,
) -> None:
    world.clock.advance(timedelta(days=2))  # the session ended before the import
    first = await world.intake.import_calls(read_rows(CsvCallLog(SCENARIO), key_prefix="t-"), key_prefix="t-")
    assert (first.rows, first.calls_published, first.cases_registered) == (110, 110, 65)
    assert first.rejected == [] and len(first.case_ids) == 65
    calls = world.publisher.of_type(CallReceived.event_type)
    cases = world.publisher.of_type(CaseRegistered.event_type)
    assert (len(calls), len(cases)) == (110, 65)
    answered = {
        e.data.call_id for e in calls if isinstance(e.data, CallReceived) and e.data.outcome == "answered"
    }
    assert {e.data.call_id for e in cases if isinstance(e.data, CaseRegistered)} <= answered
    # Each case keeps its call's time beside its registration (two days later): reports count the
    # case with its call.
    started = {e.data.call_id: e.data.started_at for e in calls if isinstance(e.data, CallReceived)}
    for e in cases:
        assert isinstance(e.data, CaseRegistered) and e.data.call_id is not None
        assert e.data.call_started_at == started[e.data.call_id] < e.data.registered_at - timedelta(days=1)
    again = await world.intake.import_calls(read_rows(CsvCallLog(SCENARIO), key_prefix="t-"), key_prefix="t-")
    assert (again.calls_already_imported, again.cases_already_imported) == (110, 65)
    assert (again.calls_published, again.cases_registered) == (0, 0)
    assert len(world.publisher.events) == 175  # nothing new


async def test_a_repeat_call_in_the_file_is_linked_to_the_case_before_it(world: World) -> None:
    log = InMemoryCallLog([ROW, {**ROW, "call_ref": "r2", "started_at": "2018-02-27 09:10:00"}])
    summary = await world.intake.import_calls(read_rows(log))
    assert (summary.cases_registered, summary.repeat_calls) == (1, 1)
    assert summary.case_ids[0] == summary.case_ids[1]
    assert len(world.publisher.of_type(CaseRepeatCall.event_type)) == 1


async def test_a_row_imported_before_with_other_content_is_rejected_not_published(world: World) -> None:
    await world.intake.import_calls(read_rows(InMemoryCallLog([ROW])))
    changed = await world.intake.import_calls(read_rows(InMemoryCallLog([{**ROW, "duration_seconds": "61"}])))
    [problem] = changed.rejected
    assert (problem.part, problem.field, problem.row) == ("call", "call_ref", 2)
    assert changed.calls_published == 0 and len(world.publisher.events) == 2


async def test_a_call_in_the_future_is_rejected_with_its_row(world: World) -> None:
    future = {**ROW, "started_at": "2018-03-01T09:00:00+03:30"}  # after the fixed clock
    summary = await world.intake.import_calls(read_rows(InMemoryCallLog([future])))
    [problem] = summary.rejected
    assert (problem.row, problem.part, problem.field) == (2, "call", "started_at")
    assert problem.message and problem.message_en and world.publisher.events == []


def test_a_log_without_the_required_columns_is_refused_before_any_row() -> None:
    with pytest.raises(FileProblem, match="outcome"):
        read_rows(InMemoryCallLog([{"call_ref": "r1", "started_at": "2018-02-27 09:00:00"}]))
