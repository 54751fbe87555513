"""The reports' daily rollups: on the same cases they give what counting the cases gives, before and
after the background job, after a replay and when two replicas recompute at once."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, Envelope
from services.tracking.adapters.rollups import InMemoryRollupStore, field_name
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.projection import apply_all
from services.tracking.domain.reports import Funnel
from services.tracking.domain.rollups import CaseFacts, DayFigures
from services.tracking.service.reports import Reports
from services.tracking.service.rollups import DailyRollups, Flights
from tests.unit.tracking.factory import T0, CaseEvents, call
from tests.unit.tracking.fakes import NOW, Fakes

FIRST = (T0 - timedelta(days=12)).date().isoformat()
LAST = NOW.date().isoformat()


def history() -> list[Envelope]:
    """Twelve days of cases: acknowledged late and in time, resolved, re-routed to another agency,
    rejected, reopened, still open (some overdue by now), cases from calls that started the day
    before their registration, events of a case never registered, and calls answered or not."""
    events: list[Envelope] = []
    agencies = (AgencyCode.water_wastewater, AgencyCode.education, AgencyCode.welfare)
    for i in range(36):
        start = T0 - timedelta(days=12) + timedelta(hours=8 * i)
        session = "session-a" if i % 8 == 0 else None
        c = CaseEvents(f"case-{i}", start=start, duty_session_id=session)
        agency = agencies[i % 3]
        called = start - timedelta(days=1, hours=2) if i % 4 == 0 else None
        if called is not None:
            events.append(call(f"call-case-{i}", CallOutcome.answered, session=session, at=called))
        events += [
            c.registered(county=("mashhad", "neyshabur", "sabzevar")[i % 3], call_started_at=called),
            c.routed(agency),
        ]
        if i % 5 == 1:
            events += [c.reroute(agency=agency), c.routed(agencies[(i + 1) % 3])]
            agency = agencies[(i + 1) % 3]
        c.clock += timedelta(hours=(3, 30, 70)[i % 3])
        if i % 6 != 5:
            events.append(c.acknowledged(agency=agency))
        if i % 2 == 0 and i % 6 != 5:
            c.clock += timedelta(hours=5 + i)
            events.append(c.resolved(agency=agency))
            if i % 8 == 0:
                events.append(c.reopened())
        elif i % 7 == 3:
            events.append(c.rejected(agency=agency))
    for n in range(10):
        at = T0 - timedelta(days=n, hours=n)
        session = "session-a" if n % 2 else None
        events.append(
            call(f"lone-{n}", CallOutcome.answered if n % 3 else CallOutcome.missed, session, at=at)
        )
    orphan = CaseEvents("never-registered", start=T0 - timedelta(days=2))
    events.append(orphan.routed(AgencyCode.education))
    return events


async def reports_of(reports: Reports) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["funnel"] = (await reports.funnel(FIRST, LAST))[1]
    out["funnel_khorasan"] = (await reports.funnel(FIRST, LAST, province="khorasan_razavi"))[1]
    out["funnel_other"] = (await reports.funnel(FIRST, LAST, province="east_azerbaijan"))[1]
    out["session"] = (await reports.funnel(duty_session_id="session-a"))[1]
    out["session_khorasan"] = (await reports.funnel(duty_session_id="session-a", province="khorasan_razavi"))[
        1
    ]
    out["session_other"] = (await reports.funnel(duty_session_id="session-a", province="east_azerbaijan"))[1]
    out["no_session"] = (await reports.funnel(duty_session_id="nobody"))[1]
    out["agencies"] = (await reports.agencies(FIRST, LAST))[1]
    out["education"] = (await reports.agencies(FIRST, LAST, agency="education"))[1]
    out["counties"] = (await reports.counties(FIRST, LAST))[1]
    out["weeks"] = (await reports.weeks(FIRST, LAST))[1]
    out["three_days"] = (await reports.agencies((T0 - timedelta(days=4)).date().isoformat(), None))[1]
    return out


def tracking_with_rollups() -> tuple[Fakes, Reports]:
    fakes = Fakes(rollups=InMemoryRollupStore())
    live = Reports(fakes.cases, fakes.calls, fakes.clock)
    return fakes, live


async def test_rollups_give_what_counting_the_cases_gives() -> None:
    fakes, live = tracking_with_rollups()
    events = history()
    for n in range(0, len(events), 7):  # batches as the consumer gets them
        await fakes.consume(events[n : n + 7])
    expected = await reports_of(live)
    assert expected["funnel"].cases_registered == 35 and expected["funnel"].calls_received == 18
    assert expected["session"] == Funnel(10, 8, 5, 5)
    assert any(r["currently_overdue"] for r in expected["agencies"])
    rollups = fakes.tracking.rollups
    assert rollups is not None
    # Nothing recomputed yet: every day is dirty and computed when asked.
    assert await reports_of(fakes.tracking.reports) == expected
    assert await rollups.recompute_dirty() > 0
    assert await rollups.store.pending() == {}
    # Every day from its stored rollup now.
    assert await reports_of(fakes.tracking.reports) == expected
    # Later, more deadlines have passed: the stored deadlines count them as counting the cases does.
    fakes.clock.set(NOW + timedelta(days=6))
    assert await reports_of(fakes.tracking.reports) == await reports_of(live)


async def test_a_case_counts_in_the_day_of_its_call() -> None:
    fakes, live = tracking_with_rollups()
    c = CaseEvents("from-a-call", start=T0)
    called = T0 - timedelta(days=3)
    await fakes.consume(
        [
            call("call-from-a-call", CallOutcome.answered, at=called),
            c.registered(call_started_at=called),
            c.routed(),
        ]
    )
    rollups = fakes.tracking.rollups
    assert rollups is not None
    await rollups.recompute_dirty()
    call_day = tehran_day(called).isoformat()
    _period, funnel = await fakes.tracking.reports.funnel(call_day, call_day)
    assert (funnel.calls_received, funnel.cases_registered) == (1, 1)
    _period, today = await fakes.tracking.reports.funnel(T0.date().isoformat(), T0.date().isoformat())
    assert today.cases_registered == 0
    assert await reports_of(fakes.tracking.reports) == await reports_of(live)


async def test_a_replay_counts_nothing_twice() -> None:
    fakes, live = tracking_with_rollups()
    events = history()
    await fakes.consume(events)
    rollups = fakes.tracking.rollups
    assert rollups is not None
    await rollups.recompute_dirty()
    stored = dict(fakes.rollups.stored)
    await fakes.consume(events)  # redelivered: every case already has these events
    await fakes.consume(events[: len(events) // 2])
    await rollups.recompute_dirty()
    assert {d: f for d, (_t, f) in fakes.rollups.stored.items()} == {d: f for d, (_t, f) in stored.items()}
    assert await reports_of(fakes.tracking.reports) == await reports_of(live)


async def test_two_replicas_recomputing_at_once_agree() -> None:
    fakes, live = tracking_with_rollups()
    await fakes.consume(history())
    store = fakes.rollups
    replicas = [
        DailyRollups(store, fakes.cases, fakes.calls, fakes.clock, fakes.claims, f"replica-{n}")
        for n in range(2)
    ]
    await asyncio.gather(*(r.recompute_dirty() for r in replicas))
    assert await store.pending() == {}
    assert await reports_of(fakes.tracking.reports) == await reports_of(live)


async def test_a_generation_another_replica_claimed_is_left_to_it() -> None:
    fakes, _live = tracking_with_rollups()
    c = CaseEvents("two-folders", start=T0)
    await fakes.consume([c.registered(), c.routed()])
    store, day = fakes.rollups, tehran_day(T0)
    rollups = fakes.tracking.rollups
    assert rollups is not None
    now = fakes.clock.now()
    assert await fakes.claims.claim(f"rollups:{day.isoformat()}:0", "other", now, now + timedelta(minutes=2))
    await rollups.recompute_dirty()
    assert day in await rollups.dirty()  # the other replica folds generation 0, not this one
    fakes.clock.set(now + timedelta(minutes=3))  # it died: its lease runs out, this replica takes over
    await rollups.recompute_dirty()
    assert day not in await rollups.dirty()
    assert store.stored[day][0] == 1
    assert DayFigures.from_json(store.stored[day][1]).hops["water_wastewater"]["received"] == 1
    await fakes.consume([c.acknowledged()])
    await rollups.recompute_dirty()  # generation 1 -> 2
    assert DayFigures.from_json(store.stored[day][1]).hops["water_wastewater"]["acknowledged"] == 1
    assert store.stored[day][0] == 2


async def test_a_start_rebuilds_the_days_of_cases_kept_before_the_rollups() -> None:
    plain = Fakes()
    await plain.consume(history())  # kept without rollups
    store = InMemoryRollupStore()
    await store.add({"2026-01-01": ({"gone": "not facts"}, {})}, "0")  # a leftover, forgotten
    rollups = DailyRollups(store, plain.cases, plain.calls, plain.clock)
    assert (await rollups.ensure() or 0) >= 12
    assert await rollups.ensure() is None  # current now: the next start does nothing
    await rollups.recompute_dirty()
    with_rollups = Reports(plain.cases, plain.calls, plain.clock, rollups=rollups)
    assert await reports_of(with_rollups) == await reports_of(plain.tracking.reports)


async def test_a_day_is_computed_from_its_document_alone() -> None:
    """A day's figures come from the facts its document keeps: with the cases' store emptied, the
    figures stay (nothing is read from the cases)."""
    fakes, live = tracking_with_rollups()
    await fakes.consume(history())
    expected = await reports_of(live)
    fakes.cases.docs.clear()
    assert await reports_of(fakes.tracking.reports) == expected


def test_a_case_s_facts_survive_their_text_exactly() -> None:
    c = CaseEvents("facts", start=T0)
    case = apply_all(None, [c.registered(county="mashhad"), c.routed(), c.acknowledged(), c.resolved()])
    facts = CaseFacts.of(case)
    assert facts.agencies and facts.resolved_at is not None
    assert CaseFacts.from_text(facts.to_text()) == facts


def test_an_id_with_a_dot_or_a_dollar_is_one_field() -> None:
    assert "." not in field_name("a.b") and not field_name("$x").startswith("$")
    assert field_name("a.b") != field_name("a_b")


def test_days_are_tehran_days() -> None:
    assert tehran_day(T0) == date(2026, 11, 25)


async def test_a_report_asked_while_cases_are_written_counts_them() -> None:
    """The days are dirty from before the write: a report asked between the write and the end of the
    batch counts the written case, not the day's older rollup."""
    fakes, _live = tracking_with_rollups()
    called = T0 - timedelta(days=3)
    day = tehran_day(called).isoformat()
    await fakes.consume([call("call-window", CallOutcome.answered, at=called)])
    rollups = fakes.tracking.rollups
    assert rollups is not None
    await rollups.recompute_dirty()  # the day's rollup: the call alone
    seen: list[int] = []
    save = fakes.cases.save

    async def save_then_report(cases: Any, expected_n: Any) -> Any:
        result = await save(cases, expected_n)
        seen.append((await fakes.tracking.reports.funnel(day, day))[1].cases_registered)
        return result

    fakes.cases.save = save_then_report  # type: ignore[method-assign]
    c = CaseEvents("window", start=T0)
    await fakes.consume([c.registered(call_started_at=called), c.routed()])
    assert seen and all(n == 1 for n in seen)


async def test_a_read_is_shared_only_with_callers_who_began_before_it_started() -> None:
    flights = Flights()
    reads: list[int] = []
    gate = asyncio.Event()

    async def read() -> int:
        reads.append(len(reads))
        await gate.wait()
        return len(reads)

    early = flights.begin()
    also_early = flights.begin()
    first = asyncio.ensure_future(flights.run("day", early, read))
    await asyncio.sleep(0)
    joined = asyncio.ensure_future(flights.run("day", also_early, read))
    late = flights.begin()  # began after the read started: a write it saw may be missing from it
    own = asyncio.ensure_future(flights.run("day", late, read))
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(first, joined, own) == [2, 2, 2]
    assert len(reads) == 2  # the early pair shared one read; the late caller made its own


async def test_the_dashboard_s_four_reports_at_once_read_each_day_once() -> None:
    fakes, live = tracking_with_rollups()
    await fakes.consume(history())
    rollups = fakes.tracking.rollups
    assert rollups is not None
    await rollups.recompute_dirty()
    store = fakes.rollups
    asked: list[date] = []
    read = store.read

    async def counted(days: Any) -> dict[date, DayFigures]:
        wanted = list(days)
        asked.extend(wanted)
        await asyncio.sleep(0.01)
        return await read(wanted)

    store.read = counted  # type: ignore[method-assign]
    reports = fakes.tracking.reports
    together = await asyncio.gather(
        reports.funnel(FIRST, LAST),
        reports.agencies(FIRST, LAST),
        reports.counties(FIRST, LAST),
        reports.weeks(FIRST, LAST),
    )
    assert len(asked) == len(set(asked)) > 0
    assert [r[1] for r in together] == [
        (await live.funnel(FIRST, LAST))[1],
        (await live.agencies(FIRST, LAST))[1],
        (await live.counties(FIRST, LAST))[1],
        (await live.weeks(FIRST, LAST))[1],
    ]
