"""The in-memory fakes answer every typed query as the MongoDB stores do on FerretDB: the use-case unit
tests run on the fakes, so the fakes must not drift from the database."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, Envelope
from services.tracking.adapters.calls import InMemoryCallStore, MongoCallStore
from services.tracking.adapters.cases import InMemoryCaseStore, MongoCaseStore, QueueFilter
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import T0, CaseEvents, call

WATER = AgencyCode.water_wastewater.value


def history() -> list[Envelope]:
    """Cases in every state, at two agencies, over two weeks, in two duty sessions."""
    events: list[Envelope] = []
    for i in range(12):
        c = CaseEvents(f"s{i:02}", start=T0 + timedelta(days=i), duty_session_id=f"duty-{i % 2}")
        agency = AgencyCode.water_wastewater if i % 3 else AgencyCode.education
        events += [c.registered(county="neyshabur" if i % 4 == 0 else "mashhad")]
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
            a, b = await real.overdue_at_agencies(now, agency), await fake.overdue_at_agencies(now, agency)
            assert sorted(ids(a)) == sorted(ids(b)), (days, agency)


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
        a = await real.received_by_agencies(start, end, agency)
        b = await fake.received_by_agencies(start, end, agency)
        assert sorted(a, key=lambda c: c.id) == sorted(b, key=lambda c: c.id)
    for registered_only in (True, False):
        a = await real.registered_in(start, end, registered_only=registered_only)
        b = await fake.registered_in(start, end, registered_only=registered_only)
        assert sorted(a, key=lambda c: c.id) == sorted(b, key=lambda c: c.id)
    a, b = (
        await real.resolved_in(T0, T0 + timedelta(days=10)),
        await fake.resolved_in(T0, T0 + timedelta(days=10)),
    )
    assert sorted(ids(a)) == sorted(ids(b)) == ["s01", "s09"]
    assert sorted(await real_calls.started_in(start, end)) == sorted(await fake_calls.started_in(start, end))
    for session in ("duty-0", "duty-1", "nobody"):
        a, b = await real.in_duty_session(session), await fake.in_duty_session(session)
        assert sorted(ids(a)) == sorted(ids(b)), session
        assert len(a) == (await real.count_registered(duty_session_id=session))[0], session
