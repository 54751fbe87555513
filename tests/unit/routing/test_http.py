"""Routing's HTTP API on the in-memory fakes: the routes translate to the use cases and back, with the
same answers and problem documents as on the real stack."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import Actor, ActorKind
from services.common.auth import Role
from services.common.clock import FixedClock
from services.routing.adapters.roster import Claim, InMemoryRosterStore
from services.routing.bootstrap import RoutingContainer
from services.routing.domain.roster import occupied_slots
from services.routing.entrypoints.http import create_app
from services.routing.service.triage import DecisionOwed
from tests.support.tokens import unit_bearer
from tests.unit.routing.helpers import container, entry, published, registered

SUPERVISOR = unit_bearer(Role.supervisor, sub="sup-unit")
OPERATOR = unit_bearer(Role.operator, sub="op-unit")
AT_TEN = datetime(2025, 3, 22, 6, 30, tzinfo=UTC)  # Saturday 10:00 in Tehran


def routing_actor() -> Actor:
    return Actor(kind=ActorKind.supervisor, id="sup-unit")


@pytest.fixture
def routing() -> RoutingContainer:
    return container([entry(AgencyCode.education, entry_id="e1")], clock=FixedClock(AT_TEN))


@pytest.fixture
async def http(routing: RoutingContainer) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(routing))
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
        yield client


def week(agency: str, start: str = "09:00", end: str = "12:00") -> dict[str, object]:
    return {
        "week_start": "1404-01-02",
        "agency": agency,
        "director_name": "مهندس کریمی",
        "hours": [{"date": "2025-03-22", "start": start, "end": end}],
    }


async def test_triage_decide_queue_and_history(routing: RoutingContainer, http: httpx.AsyncClient) -> None:
    await routing.case_events.one(registered("h1", "سلام، لطفاً رسیدگی کنید"))
    queue = (await http.get("/v1/triage", headers=OPERATOR)).json()["items"]
    assert [i["case_id"] for i in queue] == ["h1"] and queue[0]["reason"] == "low_confidence"
    assert (await http.post("/v1/triage/h1", json={"agency": "welfare"})).status_code == 401
    answer = await http.post(
        "/v1/triage/h1", json={"agency": "welfare", "note": "بررسی شد"}, headers=OPERATOR
    )
    assert answer.status_code == 201 and answer.json()["reason"] == "manual"
    assert published(routing).events[-1].data.actor.kind == "operator"  # type: ignore[union-attr]
    again = await http.post("/v1/triage/h1", json={"agency": "welfare"}, headers=SUPERVISOR)
    assert again.status_code == 200 and again.json()["event_id"] == answer.json()["event_id"]
    conflict = await http.post("/v1/triage/h1", json={"agency": "education"}, headers=SUPERVISOR)
    assert conflict.status_code == 409
    assert conflict.json()["case_status"] == "routed" and conflict.json()["agency"] == "welfare"
    missing = await http.post("/v1/triage/nope", json={"agency": "education"}, headers=SUPERVISOR)
    assert missing.status_code == 404 and "nope" in missing.json()["detail_en"]
    history = (await http.get("/v1/routing/cases/h1", headers=SUPERVISOR)).json()
    assert [h["event"]["data"].get("reason") for h in history["hops"]] == ["low_confidence", "manual"]
    assert (await http.get("/v1/routing/cases/nope", headers=SUPERVISOR)).status_code == 404


async def test_a_decision_kafka_did_not_take_is_kept_answered_503_and_published_later(
    routing: RoutingContainer, http: httpx.AsyncClient
) -> None:
    await routing.case_events.one(registered("h2", "سلام، لطفاً رسیدگی کنید"))
    published(routing).available = False
    answer = await http.post("/v1/triage/h2", json={"agency": "welfare"}, headers=SUPERVISOR)
    assert answer.status_code == 503 and answer.headers["retry-after"] == "15"
    assert answer.headers["content-type"].startswith("application/problem+json")
    doc = answer.json()
    assert doc["type"] == "https://samad.ir/problems/decision-owed"
    assert doc["title"] == "تصمیم ثبت شد ولی هنوز اعلام نشده است" and "kept" in doc["detail_en"]
    assert (doc["case_id"], doc["agency"]) == ("h2", "welfare")
    # The decision is stored: the case left the queue, and a retry meets the same decision, still owed.
    assert (await http.get("/v1/triage", headers=SUPERVISOR)).json()["items"] == []
    still = await http.post("/v1/triage/h2", json={"agency": "welfare"}, headers=SUPERVISOR)
    assert still.status_code == 503 and still.json()["event_id"] == doc["event_id"]
    other = await http.post("/v1/triage/h2", json={"agency": "education"}, headers=SUPERVISOR)
    assert other.status_code == 409

    published(routing).available = True
    assert isinstance(routing.clock, FixedClock)
    routing.clock.advance(timedelta(seconds=15))
    assert await routing.republish_owed.once() == 1
    assert [e.id for e in published(routing).events] == [doc["event_id"]]
    again = await http.post("/v1/triage/h2", json={"agency": "welfare"}, headers=SUPERVISOR)
    assert again.status_code == 200 and again.json()["event_id"] == doc["event_id"]
    assert len(published(routing).events) == 1


async def test_the_app_runs_the_republisher_while_it_serves(routing: RoutingContainer) -> None:
    await routing.case_events.one(registered("h3", "سلام، لطفاً رسیدگی کنید"))
    published(routing).available = False
    with pytest.raises(DecisionOwed) as owed:
        await routing.decide_triage("h3", AgencyCode.welfare, routing_actor())
    published(routing).available = True
    assert isinstance(routing.clock, FixedClock)
    routing.clock.advance(timedelta(seconds=15))
    app = create_app(routing)
    async with app.router.lifespan_context(app):
        for _ in range(100):  # its first round runs as the app starts
            if published(routing).events:
                break
            await asyncio.sleep(0.01)
        assert [e.id for e in published(routing).events] == [owed.value.envelope.id]
        assert routing.republish_owed.running
    assert not routing.republish_owed.running  # stopped with the app


async def test_classify(http: httpx.AsyncClient) -> None:
    out = (await http.post("/v1/classify", json={"text": "قبض آب چهار برابر شده"}, headers=OPERATOR)).json()
    assert out["agency"] == "water_wastewater" and out["candidates"][0]["agency"] == "water_wastewater"
    assert (await http.post("/v1/classify", json={"text": "x"})).status_code == 401


async def test_roster_add_overlap_invalid_and_remove(http: httpx.AsyncClient) -> None:
    overlap = await http.post("/v1/roster", json=week("welfare", "11:00", "13:00"), headers=SUPERVISOR)
    assert overlap.status_code == 409
    doc = overlap.json()
    assert doc["type"] == "https://samad.ir/problems/roster-overlap"
    assert doc["title"] == "برنامهٔ کشیک با برنامهٔ دیگری هم‌پوشانی دارد"
    assert doc["conflicts"][0]["id"] == "e1" and doc["detail_en"].endswith("education, دکتر احمدی")

    bad = await http.post(
        "/v1/roster", json={**week("welfare"), "week_start": "2025-03-23"}, headers=SUPERVISOR
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["code"] == "not_saturday"
    assert (
        await http.post("/v1/roster", json={**week("welfare"), "province": "x"}, headers=SUPERVISOR)
    ).status_code == 422

    created = await http.post("/v1/roster", json=week("welfare", "12:00", "14:00"), headers=SUPERVISOR)
    assert created.status_code == 201 and created.headers["Location"] == f"/v1/roster/{created.json()['id']}"
    assert (await http.get(f"/v1/roster/{created.json()['id']}")).json()["agency"] == "welfare"

    assert (await http.delete("/v1/roster/e1")).status_code == 401
    assert (await http.delete("/v1/roster/e1", headers=SUPERVISOR)).status_code == 204
    assert (await http.delete("/v1/roster/e1", headers=SUPERVISOR)).status_code == 404
    assert (await http.get("/v1/roster/e1")).status_code == 404
    # The removed entry's hours are free again.
    again = await http.post("/v1/roster", json=week("tax_affairs", "09:00", "12:00"), headers=SUPERVISOR)
    assert again.status_code == 201


async def test_roster_move_answers_the_entry_or_its_refusal(http: httpx.AsyncClient) -> None:
    created = (
        await http.post("/v1/roster", json=week("welfare", "12:00", "14:00"), headers=SUPERVISOR)
    ).json()
    url = f"/v1/roster/{created['id']}"
    assert (await http.put(url, json=week("welfare", "13:00", "15:00"))).status_code == 401
    assert (await http.put(url, json=week("welfare", "13:00", "15:00"), headers=OPERATOR)).status_code == 403
    moved = await http.put(url, json=week("welfare", "13:00", "15:00"), headers=SUPERVISOR)
    assert moved.status_code == 200 and moved.json()["id"] == created["id"]
    assert (await http.get(url)).json()["hours"][0]["start"] == "13:00"
    overlap = await http.put(url, json=week("welfare", "11:00", "15:00"), headers=SUPERVISOR)
    assert overlap.status_code == 409 and overlap.json()["conflicts"][0]["id"] == "e1"
    bad = await http.put(url, json={**week("welfare"), "week_start": "2025-03-23"}, headers=SUPERVISOR)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "week_start"
    gone = await http.put("/v1/roster/nope", json=week("welfare", "16:00", "17:00"), headers=SUPERVISOR)
    assert gone.status_code == 404


async def test_roster_reads_current_and_feeds(http: httpx.AsyncClient) -> None:
    listed = (await http.get("/v1/roster", params={"from": "2025-03-22", "to": "2025-03-28"})).json()
    assert listed["province"] == "khorasan_razavi" and [e["id"] for e in listed["entries"]] == ["e1"]
    assert (await http.get("/v1/roster", params={"from": "2025-04-01"})).json()["entries"] == []
    current = (await http.get("/v1/roster/current")).json()
    assert current["on_duty"] and current["entry"]["id"] == "e1"
    assert (await http.get("/v1/roster/current", params={"province": "tehran"})).json() == {"on_duty": False}
    feed = await http.get("/v1/roster/feed.json")
    assert feed.headers["content-type"].startswith("application/feed+json")
    assert feed.json()["feed_url"] == "http://routing/v1/roster/feed.json"
    ics = await http.get("/v1/roster/calendar.ics")
    assert ics.headers["content-type"].startswith("text/calendar") and "BEGIN:VEVENT" in ics.text


async def test_a_roster_held_up_by_a_create_that_never_ends_answers_503() -> None:
    """A claim that stays young (the clock stands still here) and whose entry never appears."""
    busy = container(clock=FixedClock(AT_TEN), lease_seconds=0.05)
    store = busy.roster
    assert isinstance(store, InMemoryRosterStore)
    probe = entry(AgencyCode.welfare, entry_id="stuck")
    slot = occupied_slots(probe, busy.tz)[0]
    store.table.claims[slot] = Claim(slot, "stuck", AT_TEN)
    transport = httpx.ASGITransport(app=create_app(busy))
    async with httpx.AsyncClient(transport=transport, base_url="http://routing") as client:
        answer = await client.post("/v1/roster", json=week("education"), headers=SUPERVISOR)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "1"
    assert answer.json()["type"] == "https://samad.ir/problems/roster-busy"
    assert store.table.claims == {slot: Claim(slot, "stuck", AT_TEN)}  # it gave back what it held
