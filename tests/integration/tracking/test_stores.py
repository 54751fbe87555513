"""The in-memory fakes answer every typed query as the MongoDB stores do on FerretDB: the use-case unit
tests run on the fakes, so the fakes must not drift from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, Envelope
from services.tracking.adapters.calls import InMemoryCallStore, MongoCallStore
from services.tracking.adapters.cases import InMemoryCaseStore, MongoCaseStore
from services.tracking.domain.queue import QueueFilter
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import T0, CaseEvents, call

WATER = AgencyCode.water_wastewater.value


def history() -> list[Envelope]:
    """Cases in every state, at two agencies, over two weeks, in two duty sessions, some from calls
    imported days after they were made."""
    events: list[Envelope] = []
    for i in range(12):
        c = CaseEvents(f"s{i:02}", start=T0 + timedelta(days=i), duty_session_id=f"duty-{i % 2}")
        agency = AgencyCode.water_wastewater if i % 3 else AgencyCode.education
        # Every third case comes from a call imported later: reported five days before its registration.
        reported = T0 + timedelta(days=i - 5) if i % 3 == 2 else None
        events += [c.registered(county="neyshabur" if i % 4 == 0 else "mashhad", call_started_at=reported)]
        if i % 6 == 5:
            events += [c.triage()]
            continue
        events += [c.routed(agency)]
        if i % 2:
            events += [c.acknowledged(agency=agency)]
            if i % 4 == 1:
                events += [c.resolved(agency=agency)]
        if i == 7:
            events += [c.reroute(agency)]
    events += [CaseEvents("unregistered").sms_sent()]
    return events


def ids(cases: list[Any]) -> list[str]:
    return [c.id for c in cases]


@pytest.fixture
async def stores(mongo: Any, unique: str) -> Any:
    db = mongo[f"test_tracking_stores_{unique}"]
    real, fake = MongoCaseStore(db), InMemoryCaseStore()
    real_calls, fake_calls = MongoCallStore(db), InMemoryCallStore()
    events = history()
    for store in (real, fake):
        await apply_events(store, events)
    calls = [
        call(
            f"c{i}",
            CallOutcome.answered if i % 3 else CallOutcome.missed,
            f"duty-{i % 2}",
            T0 + timedelta(days=i),
        )
        for i in range(10)
    ]
    for call_store in (real_calls, fake_calls):
        assert await call_store.add(calls + calls[:3]) == 10
    try:
        yield real, fake, real_calls, fake_calls
    finally:
        await mongo.drop_database(db.name)


async def test_the_fake_case_store_selects_what_mongodb_selects(stores: Any) -> None:
    real, fake, _rc, _fc = stores
    code = CaseEvents("s03").code
    assert (await real.by_tracking_code(code)) == (await fake.by_tracking_code(code))
    assert await real.by_tracking_code(CaseEvents("unregistered").code) is None
    assert await fake.by_tracking_code(CaseEvents("unregistered").code) is None
    for days in (0, 3, 10, 40):
        now = T0 + timedelta(days=days)
        filters = [
            QueueFilter(WATER),
            QueueFilter(WATER, status="in_progress"),
            QueueFilter(WATER, county="neyshabur"),
            QueueFilter(WATER, overdue=True),
            QueueFilter(WATER, status="routed", overdue=True),
            QueueFilter(WATER, overdue=False),
            QueueFilter(WATER, registered_from=T0 + timedelta(days=2), registered_to=T0 + timedelta(days=8)),
            QueueFilter(AgencyCode.education.value, registered_to=T0 + timedelta(days=7)),
        ]
        for f in filters:
            for skip, limit in ((0, 50), (1, 2)):
                a, b = await real.queue(f, now, skip, limit), await fake.queue(f, now, skip, limit)
                assert (a.total, a.items) == (b.total, b.items), (f, days, skip)
        for finder in ("acknowledge_overdue", "resolve_overdue", "due_to_close"):
            a = await getattr(real, finder)(now, 100)
            b = await getattr(fake, finder)(now, 100)
            assert sorted(a, key=lambda c: c.id) == sorted(b, key=lambda c: c.id), (finder, days)
        for agency in (None, WATER):
            a, b = await real.overdue_per_agency(now, agency), await fake.overdue_per_agency(now, agency)
            assert a == b, (days, agency)
        span = (T0 + timedelta(days=1), T0 + timedelta(days=9))
        assert await real.overdue_per_county(*span, now) == await fake.overdue_per_county(*span, now), days


async def test_the_fake_report_selections_match_mongodb(stores: Any) -> None:
    real, fake, real_calls, fake_calls = stores
    start, end = T0 + timedelta(days=2), T0 + timedelta(days=9)
    for scope in (
        {"duty_session_id": "duty-1"},
        {"duty_session_id": "duty-0", "province": "khorasan_razavi"},
        {"start": start, "end": end},
        {"start": start},
        {},
        {"start": start, "end": end, "province": "elsewhere"},
    ):
        assert await real.count_registered(**scope) == await fake.count_registered(**scope), scope
        assert await real_calls.count_received(**scope) == await fake_calls.count_received(**scope), scope
    for agency in (None, WATER):
        a = [h async for h in real.hops_received(start, end, agency)]
        b = [h async for h in fake.hops_received(start, end, agency)]
        assert sorted(a, key=lambda h: h.event_id) == sorted(b, key=lambda h: h.event_id) and a, agency
    groups = await real.county_groups(start, end)
    assert sorted(groups, key=repr) == sorted(await fake.county_groups(start, end), key=repr)
    assert sum(g.n for g in groups) == (await real.count_registered(start=start, end=end))[0]
    for stream in ("resolve_times", "reported"):
        a = [x async for x in getattr(real, stream)(start, end)]
        b = [x async for x in getattr(fake, stream)(start, end)]
        assert sorted(a, key=repr) == sorted(b, key=repr), stream
    # A case from a call counts when the call was made: at T0 + 6 days s06 was registered and s11's
    # call started (its registration came 5 days later); s02 was registered at T0 + 2 days from a
    # call 5 days before, and counts then.
    for at, expected in (
        (T0 + timedelta(days=6), 2),
        (T0 + timedelta(days=2), 0),
        (T0 - timedelta(days=3), 1),
    ):
        for store in (real, fake):
            got = await store.count_registered(start=at, end=at + timedelta(seconds=30))
            assert got[0] == expected, (at, store)
    resolved = [x async for x in real.resolved_between(T0, T0 + timedelta(days=10))]
    assert sorted(resolved) == sorted([x async for x in fake.resolved_between(T0, T0 + timedelta(days=10))])
    assert len(resolved) == 2
    a = [x async for x in real_calls.start_times(start, end)]
    assert sorted(a) == sorted([x async for x in fake_calls.start_times(start, end)]) and a
    # The cases behind a report's numbers: the same candidates from the real store and the fake.
    for kind, agency, session in (
        ("reported", None, None),
        ("resolved", None, None),
        ("received", None, None),
        ("received", "water_wastewater", None),
        ("session", None, "duty-0"),
        ("session", None, "duty-1"),
        ("session", None, "nobody"),
    ):
        a = [c async for c in real.report_candidates(kind, start, end, agency=agency, session=session)]
        b = [c async for c in fake.report_candidates(kind, start, end, agency=agency, session=session)]
        assert sorted(ids(a)) == sorted(ids(b)), (kind, agency, session)
        if kind == "session":
            assert len(a) == (await real.count_registered(duty_session_id=session))[0], session
