"""The reports: the counting rules (domain) and the report use cases on the fakes (periods, duty
sessions, provinces, agency scoping)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, CaseRegistered, Citizen, make_event
from services.tracking.domain.access import OtherAgency, Staff
from services.tracking.domain.periods import BadDate, PeriodTooLong, ReversedPeriod
from services.tracking.domain.projection import apply_all
from services.tracking.domain.reports import agency_report, county_report, percentile
from services.tracking.service.reports import YIELD_EVERY
from services.tracking.settings import TrackingSettings
from tests.unit.tracking.factory import T0, CaseEvents, call
from tests.unit.tracking.fakes import Fakes

DAY = T0.date().isoformat()


def test_reports_count_hops_and_percentiles() -> None:
    cases = []
    for i, hours in enumerate((5, 10, 20, 100)):
        c = CaseEvents(f"r{i}")
        registered, routed = c.registered(), c.routed(AgencyCode.education)
        c.clock += timedelta(hours=hours)
        ack = c.acknowledged(agency=AgencyCode.education)
        cases.append(apply_all(None, [registered, routed, ack, c.resolved(agency=AgencyCode.education)]))
    late = CaseEvents("late")
    cases.append(apply_all(None, [late.registered(), late.routed(AgencyCode.education)]))
    rows = {
        r["agency"]: r
        for r in agency_report(cases, T0, T0 + timedelta(days=5), T0 + timedelta(days=20), cases)
    }
    edu = rows["education"]
    assert edu["received"] == 5 and edu["resolved"] == 4 and edu["currently_overdue"] == 1
    # Routed on a Wednesday morning: 2 working days end on Saturday night, so 5, 10 and 20 h are in
    # time, 100 h (Sunday) is late, and the case never acknowledged is late too.
    assert edu["acknowledged_within_sla"] == 3 and edu["acknowledged_within_sla_pct"] == 60.0
    assert edu["median_hours_to_resolve"] == pytest.approx(15.03, abs=0.05)
    assert edu["p90_hours_to_resolve"] == pytest.approx(76.0, abs=0.1)
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90) == pytest.approx(9.1)
    assert rows["welfare"]["received"] == 0
    counties = county_report(cases, T0 + timedelta(days=20))
    assert counties == [c for c in counties if c["county"] == "mashhad"] and counties[0]["registered"] == 5


async def a_duty_session(fakes: Fakes) -> None:
    """Four calls (three answered) in session duty-1, two registered cases, one referred; and one
    case of another session and another province."""
    calls = [
        call("c1", CallOutcome.answered, "duty-1", T0),
        call("c2", CallOutcome.answered, "duty-1", T0),
        call("c3", CallOutcome.answered, "duty-1", T0),
        call("c4", CallOutcome.missed, "duty-1", T0),
    ]
    a, b = CaseEvents("fa", duty_session_id="duty-1"), CaseEvents("fb", duty_session_id="duty-1")
    elsewhere = CaseEvents("fc", duty_session_id="duty-2")
    registered = elsewhere.registered().data
    assert isinstance(registered, CaseRegistered)
    tabriz = make_event(
        registered.model_copy(
            update={"province": "east_azerbaijan", "citizen": Citizen(phone="+989141234567")}
        ),
        source="/samad/test",
        time=elsewhere.clock,
    )
    await fakes.consume([*calls, a.registered(), a.routed(), b.registered(), tabriz])


async def test_the_funnel_by_duty_session_or_by_period() -> None:
    fakes = Fakes()
    await a_duty_session(fakes)
    reports = fakes.tracking.reports
    period, funnel = await reports.funnel(duty_session_id="duty-1")
    assert period is None
    assert (funnel.calls_received, funnel.calls_answered, funnel.cases_registered, funnel.cases_referred) == (
        4,
        3,
        2,
        1,
    )
    period, by_day = await reports.funnel(DAY, DAY)
    assert period is not None and period.first == T0.date() == period.last
    assert (by_day.calls_received, by_day.cases_registered) == (4, 3)
    _p, tabriz = await reports.funnel(DAY, DAY, province="east_azerbaijan")
    assert (tabriz.calls_received, tabriz.cases_registered) == (0, 1)
    # Without days: the 30 days up to today (the fake clock's), which hold T0.
    period, default = await reports.funnel()
    assert period is not None and (period.last - period.first).days == 29 and default.cases_registered == 3


async def test_the_agency_report_is_scoped_for_agency_staff() -> None:
    fakes = Fakes()
    await a_duty_session(fakes)
    reports = fakes.tracking.reports
    _period, every = await reports.agencies(DAY, DAY)
    assert len(every) == 14 and sum(r["received"] for r in every) == 1
    staff = Staff("agency_staff", "u", "education")
    _period, own = await reports.agencies(DAY, DAY, None, staff)
    assert [r["agency"] for r in own] == ["education"] and own[0]["received"] == 0
    with pytest.raises(OtherAgency):
        await reports.agencies(DAY, DAY, "water_wastewater", staff)
    _period, one = await reports.agencies(DAY, DAY, "water_wastewater", Staff("supervisor", "s"))
    assert [(r["agency"], r["received"]) for r in one] == [("water_wastewater", 1)]


async def test_counties_and_weeks() -> None:
    fakes = Fakes()
    await a_duty_session(fakes)
    c = CaseEvents("fd", start=T0 + timedelta(days=7))
    await fakes.consume([c.registered(), c.routed(), c.acknowledged(), c.resolved()])
    reports = fakes.tracking.reports
    period, counties = await reports.counties(DAY, DAY)
    assert period.first == T0.date() and [(r["county"], r["registered"]) for r in counties] == [
        ("mashhad", 3)
    ]
    period, weeks = await reports.weeks(DAY, (T0 + timedelta(days=7)).date().isoformat())
    assert [(w["calls_received"], w["cases_registered"], w["cases_resolved"]) for w in weeks] == [
        (4, 3, 0),
        (0, 1, 1),
    ]


async def test_bad_periods_are_refused() -> None:
    reports = Fakes().tracking.reports
    with pytest.raises(BadDate) as bad:
        await reports.counties("1405-13-40", None)
    assert bad.value.field == "from"
    with pytest.raises(ReversedPeriod):
        await reports.weeks("2026-12-01", "2026-11-01")


async def test_a_report_covers_at_most_max_days() -> None:
    """An unbounded period would read the whole database: a report covers at most a year (366 days,
    SAMAD_REPORT_MAX_DAYS), and a longer one is refused naming its first day."""
    reports = Fakes().tracking.reports
    period, _rows = await reports.counties("1404-09-05", "1405-09-05")  # 366 days, both ends included
    assert (period.last - period.first).days == 365
    for name in ("funnel", "agencies", "counties", "weeks"):
        with pytest.raises(PeriodTooLong) as refused:
            await getattr(reports, name)("1404-09-04", "1405-09-05")
        assert refused.value.field == "from" and refused.value.max_days == 366
    with pytest.raises(PeriodTooLong):
        await reports.weeks("1300-01-01", None)
    # A duty session is one session, whatever its days.
    assert (await reports.funnel(duty_session_id="duty-1"))[0] is None
    short = Fakes(TrackingSettings(report_max_days=7)).tracking.reports
    period, _f = await short.funnel()  # the default period shrinks to the limit
    assert (period is not None) and (period.last - period.first).days == 6
    with pytest.raises(PeriodTooLong):
        await short.agencies("2026-11-01", "2026-11-08")


async def a_large_history(fakes: Fakes, cases: int) -> None:
    events = []
    for i in range(cases):
        c = CaseEvents(f"big-{i}", start=T0 + timedelta(minutes=i))
        events += [c.registered(), c.routed(AgencyCode.education)]
        if i % 2:
            events += [c.acknowledged(agency=AgencyCode.education), c.resolved(agency=AgencyCode.education)]
    events += [
        call(f"big-call-{i}", CallOutcome.answered, None, T0 + timedelta(minutes=i)) for i in range(cases)
    ]
    await fakes.consume(events)


# What each report streams from 2,000 cases (half of them resolved) and 2,000 calls; the rest the
# database counts.
STREAMED = {"agencies": 2000, "counties": 1000, "weeks": 5000}


@pytest.mark.parametrize("report", sorted(STREAMED))
async def test_a_large_report_lets_the_consumer_run_while_it_counts(report: str) -> None:
    """The HTTP app shares its event loop with the Kafka consumer, whose heartbeats keep its
    partitions: a report hands the loop over while it counts, not only once at the end. (Counted
    in turns another task gets, not in time.)"""
    fakes = Fakes()
    await a_large_history(fakes, 2000)
    turns = 0

    async def consumer() -> None:
        nonlocal turns
        while True:
            await asyncio.sleep(0)
            turns += 1

    other = asyncio.create_task(consumer())
    await asyncio.sleep(0)
    before = turns
    _period, rows = await getattr(fakes.tracking.reports, report)(
        DAY, (T0 + timedelta(days=2)).date().isoformat()
    )
    during = turns - before
    other.cancel()
    assert rows
    # At least one turn per YIELD_EVERY items streamed (the in-memory store never waits itself).
    assert during >= STREAMED[report] // YIELD_EVERY, during
    if report == "agencies":
        education = next(r for r in rows if r["agency"] == "education")
        assert (education["received"], education["resolved"]) == (2000, 1000)
    if report == "weeks":
        assert (
            sum(w["calls_received"] for w in rows) == 2000 and sum(w["cases_resolved"] for w in rows) == 1000
        )
    if report == "counties":
        assert rows[0]["registered"] == 2000 and rows[0]["resolved"] == 1000
