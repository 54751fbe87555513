"""The source document's duty session imported years after it happened, from intake's import into
tracking's reports (both on their fakes): a case registered from a call counts in the period of its
call, so the session's funnel and the funnel of the month it happened in are the same, and the day of
the import shows neither calls nor cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from contracts.catalogue import AgencyCode
from contracts.events import CaseRegistered, CaseRouted, Envelope, RouteReason, make_event
from services.common.clock import FixedClock
from services.intake.adapters.call_log import SCENARIO, CsvCallLog
from services.intake.service.import_calls import read_rows
from tests.unit.intake.conftest import build_world
from tests.unit.tracking.fakes import Fakes

SESSION = "duty-1396-12-08-education"
# The day of the import: 1405-09-04, long after the session of 1396-12-08 (2018-02-27).
IMPORTED = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def routed(events: list[Envelope]) -> list[Envelope]:
    """What routing publishes for each registered case: every one goes to an agency."""
    return [
        make_event(
            CaseRouted(
                case_id=e.data.case_id,
                agency=AgencyCode.education,
                reason=RouteReason.classifier,
                confidence=0.9,
                duty_session_id=e.data.duty_session_id,
            ),
            source="/samad/routing",
            time=e.time + timedelta(seconds=1),
        )
        for e in events
        if isinstance(e.data, CaseRegistered)
    ]


def counts(funnel: object) -> tuple[int, int, int, int]:
    return (
        funnel.calls_received,  # type: ignore[attr-defined]
        funnel.calls_answered,  # type: ignore[attr-defined]
        funnel.cases_registered,  # type: ignore[attr-defined]
        funnel.cases_referred,  # type: ignore[attr-defined]
    )


async def test_an_imported_session_counts_in_the_period_of_its_calls() -> None:
    world = build_world()
    world.clock.set(IMPORTED)
    summary = await world.intake.import_calls(read_rows(CsvCallLog(SCENARIO)), key_prefix="period-test")
    assert (summary.calls_published, summary.cases_registered) == (110, 65)
    published = list(world.publisher.events)

    tracking = Fakes(clock=FixedClock(IMPORTED))
    await tracking.consume(published + routed(published))
    reports = tracking.tracking.reports

    _none, by_session = await reports.funnel(duty_session_id=SESSION)
    assert counts(by_session) == (110, 81, 65, 65)
    month, by_month = await reports.funnel("1396-12-01", "1396-12-29")
    assert month is not None and month.first.isoformat() == "2018-02-20"
    assert counts(by_month) == (110, 81, 65, 65)
    _day, on_the_day = await reports.funnel("1396-12-08", "1396-12-08")
    assert counts(on_the_day) == (110, 81, 65, 65)
    # The day of the import: no call was made, so no case counts there either.
    _today, import_day = await reports.funnel()
    assert counts(import_day) == (0, 0, 0, 0)

    # The week and county reports count the cases in the same period as the funnel.
    _p, weeks = await reports.weeks("1396-12-01", "1396-12-29")
    assert sum(w["calls_received"] for w in weeks) == 110
    assert sum(w["cases_registered"] for w in weeks) == 65 and sum(w["cases_referred"] for w in weeks) == 65
    _p, counties = await reports.counties("1396-12-01", "1396-12-29")
    assert sum(c["registered"] for c in counties) == 65
    # Both times are kept: the case still says when it was registered.
    case = next(iter(tracking.cases.docs.values()))
    assert case["registered_at"] == IMPORTED and case["call_started_at"].year == 2018
