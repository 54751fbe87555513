"""The inbox's routes on the fakes: the queue's new filters and order, the agency's staff, the
escalation queues, and the new actions with their refusals as problem documents."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest

from contracts.catalogue import AgencyCode
from services.common.auth import Role
from services.tracking.entrypoints.http import create_app
from tests.support.tokens import unit_bearer
from tests.unit.tracking.factory import CaseEvents
from tests.unit.tracking.fakes import Fakes
from tests.unit.tracking.test_http import problem

STAFF = unit_bearer(Role.agency_staff, AgencyCode.water_wastewater, "staff-1")
HEAD = unit_bearer(Role.agency_staff, AgencyCode.water_wastewater, "head-water", also=("agency_head",))
OTHER_HEAD = unit_bearer(Role.agency_staff, AgencyCode.education, "head-education", also=("agency_head",))
SUPERVISOR = unit_bearer(Role.supervisor, sub="supervisor1")


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    c = CaseEvents("h1")
    await fakes.consume([c.registered(), c.routed()])
    return fakes


@pytest.fixture
async def client(fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fakes.tracking)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tracking"
    ) as client:
        yield client


async def test_assign_ask_and_resume_through_the_api(client: httpx.AsyncClient, fakes: Fakes) -> None:
    r = await client.post(
        "/v1/cases/h1/actions", json={"action": "assign", "assignee": "staff-3"}, headers=STAFF
    )
    assert r.status_code == 202, r.text
    assert fakes.publisher.events[-1].data.assignee_name == "سارا امینی"  # type: ignore[attr-defined]
    refused = problem(
        await client.post(
            "/v1/cases/h1/actions", json={"action": "assign", "assignee": "head-education"}, headers=STAFF
        ),
        422,
    )
    assert refused["errors"][0]["field"] == "assignee" and refused["errors"][0]["code"] == "not_a_colleague"
    missing = problem(await client.post("/v1/cases/h1/actions", json={"action": "ask"}, headers=STAFF), 422)
    assert missing["errors"][0]["field"] == "question"
    asked = await client.post(
        "/v1/cases/h1/actions", json={"action": "ask", "question": "پلاک منزل؟"}, headers=STAFF
    )
    assert asked.status_code == 202 and asked.json()["status_after"] == "waiting_for_citizen"
    await fakes.consume_published()
    resumed = await client.post("/v1/cases/h1/actions", json={"action": "resume"}, headers=STAFF)
    assert resumed.status_code == 202 and resumed.json()["status_after"] == "in_progress"
    fakes.directory.down = True
    down = problem(
        await client.post(
            "/v1/cases/h1/actions", json={"action": "assign", "assignee": "staff-3"}, headers=STAFF
        ),
        503,
    )
    assert down["title"] and down["title_en"]


async def test_the_queue_by_assignee_and_urgency(client: httpx.AsyncClient, fakes: Fakes) -> None:
    c = CaseEvents("h2")
    await fakes.consume([c.registered(), c.routed(), c.assigned("staff-3")])
    r = await client.get("/v1/agencies/water_wastewater/cases?assignee=none&sort=urgent", headers=STAFF)
    assert r.status_code == 200 and r.json()["sort"] == "urgent"
    assert [i["case_id"] for i in r.json()["items"]] == ["h1"]
    item = r.json()["items"][0]
    assert item["sla"]["acknowledge"]["state"] == "pending"
    assert isinstance(item["sla"]["acknowledge"]["working_days_left"], int)
    r = await client.get("/v1/agencies/water_wastewater/cases?assignee=staff-3", headers=STAFF)
    assert [i["case_id"] for i in r.json()["items"]] == ["h2"]
    assert problem(await client.get("/v1/agencies/water_wastewater/cases?sort=oldest", headers=STAFF), 422)


async def test_the_agency_staff_list_is_the_agency_s_own(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/agencies/water_wastewater/staff", headers=STAFF)
    assert r.status_code == 200 and {p["id"] for p in r.json()["items"]} == {
        "staff-1",
        "staff-3",
        "head-water",
    }
    assert "phone" not in r.text and "+98" not in r.text
    assert problem(await client.get("/v1/agencies/education/staff", headers=STAFF), 403)


async def test_the_escalation_queues(client: httpx.AsyncClient, fakes: Fakes) -> None:
    assert problem(await client.get("/v1/escalations", headers=STAFF), 403)
    fakes.clock.advance(timedelta(days=4))
    await fakes.tracking.sweep_timers()
    await fakes.consume_published()
    head = await client.get("/v1/escalations", headers=HEAD)
    assert head.status_code == 200 and head.json()["to"] == "agency_head"
    assert [i["case_id"] for i in head.json()["items"]] == ["h1"]
    assert head.json()["items"][0]["escalation"]["reached"] == ["agency_head"]
    assert (await client.get("/v1/escalations", headers=OTHER_HEAD)).json()["total"] == 0
    assert problem(await client.get("/v1/escalations?agency=education", headers=HEAD), 403)
    sup = await client.get("/v1/escalations", headers=SUPERVISOR)
    assert sup.json()["to"] == "supervisor" and sup.json()["total"] == 0
    heads_step = await client.get("/v1/escalations?to=agency_head", headers=SUPERVISOR)
    assert [i["case_id"] for i in heads_step.json()["items"]] == ["h1"]
