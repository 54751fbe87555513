"""A manual decision whose event Kafka did not take, on the real FerretDB: the decision and its debt are
stored, the request answers 503, and the re-publisher publishes the stored event later, once, with its
id; the app runs the re-publisher in the background. Kafka is the in-memory publisher, switched off and
on again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRouted,
    Citizen,
    Envelope,
    decode,
    make_event,
    utcnow,
)
from services.common.auth import Role
from services.common.clock import Clock, FixedClock
from services.common.publishing import InMemoryPublisher
from services.routing.adapters.roster import InMemoryRosterStore
from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.entrypoints.http import create_app
from services.routing.service.triage import DecisionOwed
from services.routing.settings import RoutingSettings
from tests.support.identity import LazyBearer
from tests.support.stack import MONGO

SUPERVISOR = LazyBearer(Role.supervisor, sub="sup-owed")
VAGUE = "سلام، لطفاً به کار من رسیدگی کنید"


def registered(case_id: str) -> Envelope:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone="+989121234567"),
        subject="شکایت شهروند",
        description=VAGUE,
        registered_at=utcnow(),
    )
    return make_event(data, source="/samad/intake")


def routing_on(db: Any, clock: Clock | None = None, **settings: Any) -> RoutingContainer:
    """Routing on the real FerretDB (its own client, as a replica has), publishing in memory."""
    return bootstrap(
        RoutingSettings(db_name=db.name, mongo_url=MONGO, **settings),
        roster=InMemoryRosterStore(),
        publisher=InMemoryPublisher("routing"),
        clock=clock,
    )


def kafka(c: RoutingContainer) -> InMemoryPublisher:
    assert isinstance(c.publisher, InMemoryPublisher)
    return c.publisher


@pytest.fixture
async def routing(scratch_db: Any) -> AsyncIterator[RoutingContainer]:
    c = routing_on(scratch_db, FixedClock(utcnow()))
    await c.startup()
    try:
        yield c
    finally:
        await c.shutdown()


async def test_the_stored_decision_owes_its_event_until_the_republisher_publishes_it(
    routing: RoutingContainer, scratch_db: Any
) -> None:
    [triage] = await routing.case_events.one(registered("owed-1"))
    kafka(routing).available = False
    with pytest.raises(DecisionOwed) as owed:
        await routing.decide_triage("owed-1", AgencyCode.welfare, Actor(kind=ActorKind.supervisor, id="sup"))
    event_id = owed.value.envelope.id

    case = await scratch_db["cases"].find_one({"_id": "owed-1"})
    assert (case["status"], case["agency"]) == ("routed", "welfare")
    assert case["hops"][-1]["event_id"] == event_id and case["hops"][-1]["cause_id"] == triage.id
    debt = await scratch_db["owed_events"].find_one({"_id": event_id})
    assert debt is not None and (debt["case_id"], debt["cause_id"]) == ("owed-1", triage.id)
    stored = decode(case["hops"][-1]["event_json"])

    clock = routing.clock
    assert isinstance(clock, FixedClock)
    assert await routing.republish_owed.once() == 0  # within the grace: the request may still publish
    clock.advance(timedelta(seconds=routing.settings.routing_republish_grace_seconds))
    with pytest.raises(ConnectionError):
        await routing.republish_owed.once()  # Kafka still down
    assert kafka(routing).events == [] and await scratch_db["owed_events"].count_documents({}) == 1

    kafka(routing).available = True
    assert await routing.republish_owed.once() == 1
    assert await routing.republish_owed.once() == 0
    [event] = kafka(routing).events
    assert event.id == stored.id == event_id and event.to_json() == stored.to_json()
    assert isinstance(event.data, CaseRouted) and event.data.agency == AgencyCode.welfare
    assert await scratch_db["owed_events"].count_documents({}) == 0
    # A retry of the same decision returns the stored event and publishes nothing more.
    again, new = await routing.decide_triage(
        "owed-1", AgencyCode.welfare, Actor(kind=ActorKind.supervisor, id="sup")
    )
    assert not new and again.id == event_id and len(kafka(routing).events) == 1


async def test_the_app_answers_503_keeps_the_decision_and_publishes_it_in_the_background(
    scratch_db: Any,
) -> None:
    c = routing_on(scratch_db, routing_republish_seconds=0.2, routing_republish_grace_seconds=0.5)
    app = create_app(c)
    async with app.router.lifespan_context(app):
        await c.case_events.one(registered("owed-2"))
        kafka(c).available = False
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://routing") as http:
            answer = await http.post("/v1/triage/owed-2", json={"agency": "education"}, headers=SUPERVISOR)
            assert answer.status_code == 503, answer.text
            assert answer.headers["retry-after"] == "1"
            doc = answer.json()
            assert doc["type"] == "https://samad.ir/problems/decision-owed" and doc["title_en"]
            assert (doc["case_id"], doc["agency"]) == ("owed-2", "education")
            await asyncio.sleep(1.0)  # past the grace, Kafka still down: the worker keeps it owed
            assert kafka(c).events == []

            kafka(c).available = True
            for _ in range(50):
                if kafka(c).events:
                    break
                await asyncio.sleep(0.1)
            assert [e.id for e in kafka(c).events] == [doc["event_id"]]
            assert await scratch_db["owed_events"].count_documents({}) == 0

            again = await http.post("/v1/triage/owed-2", json={"agency": "education"}, headers=SUPERVISOR)
            assert again.status_code == 200 and again.json()["event_id"] == doc["event_id"]
            assert len(kafka(c).events) == 1
    assert not c.republish_owed.running
