"""The cases behind a report's numbers (GET /v1/reports/cases): for every cell of the funnel, the
per-agency, per-county and per-week reports, the list holds exactly as many cases as the number says,
for a period and for a duty session; only supervisors and ops may read it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome
from services.common.auth import Role
from services.tracking.domain.report_cases import MEASURES
from services.tracking.entrypoints.http import create_app
from tests.support.tokens import unit_bearer
from tests.unit.tracking.factory import T0, CaseEvents, call
from tests.unit.tracking.fakes import Fakes

SUPERVISOR = unit_bearer(Role.supervisor, sub="sup-1")
FIRST, LAST = (T0 - timedelta(days=20)).date(), (T0 + timedelta(days=10)).date()
WATER, EDUCATION, WELFARE = AgencyCode.water_wastewater, AgencyCode.education, AgencyCode.welfare


async def a_month(fakes: Fakes) -> None:
    """Cases of every kind: in a duty session, resolved in time, acknowledged late, declined and
    routed on, rejected, overdue, in other counties, and one resolved a week later."""
    events = [call("c1", CallOutcome.answered, "duty-1"), call("c2", CallOutcome.missed, "duty-1")]
    a, b = CaseEvents("a", duty_session_id="duty-1"), CaseEvents("b", duty_session_id="duty-1")
    events += [a.registered(), a.routed(EDUCATION), b.registered()]
    c = CaseEvents("c")
    events += [
        c.registered(),
        c.routed(EDUCATION),
        c.acknowledged(agency=EDUCATION),
        c.resolved(agency=EDUCATION),
    ]
    d = CaseEvents("d", start=T0 - timedelta(days=12))
    routed = [d.registered(county="neyshabur"), d.routed()]
    d.clock += timedelta(days=9)  # long past the two working days to acknowledge
    events += [*routed, d.acknowledged()]
    e = CaseEvents("e")
    events += [e.registered(), e.routed(), e.reroute(), e.routed(WELFARE)]
    f = CaseEvents("f", start=T0 - timedelta(days=3))
    events += [f.registered(county="sabzevar"), f.routed(), f.rejected()]
    g = CaseEvents("g", start=T0 - timedelta(days=10))
    events += [g.registered(), g.routed()]  # never acknowledged: overdue now
    h = CaseEvents("h", start=T0 + timedelta(days=1))
    registered = [h.registered(county="neyshabur"), h.routed(), h.acknowledged()]
    h.clock += timedelta(days=6)
    events += [*registered, h.resolved()]
    await fakes.consume(events)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    fakes = Fakes()
    fakes.clock.set(T0 + timedelta(days=9))
    await a_month(fakes)
    transport = httpx.ASGITransport(app=create_app(fakes.tracking))
    async with httpx.AsyncClient(transport=transport, base_url="http://tracking") as client:
        yield client


async def listed(client: httpx.AsyncClient, **params: Any) -> list[str]:
    r = await client.get("/v1/reports/cases", params={"page_size": 200, **params}, headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    body = r.json()
    ids = [i["case_id"] for i in body["items"]]
    assert body["total"] == len(ids)
    return ids


async def report(client: httpx.AsyncClient, name: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/v1/reports/{name}", params=params, headers=SUPERVISOR)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_every_funnel_and_per_agency_number_lists_as_many_cases(client: httpx.AsyncClient) -> None:
    days = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    funnel = await report(client, "funnel", **days)
    for measure in MEASURES["funnel"]:
        assert len(await listed(client, report="funnel", measure=measure, **days)) == funnel[measure]
    session = await report(client, "funnel", duty_session_id="duty-1")
    assert (session["cases_registered"], session["cases_referred"]) == (2, 1)
    in_session = await listed(client, report="funnel", measure="cases_registered", duty_session_id="duty-1")
    assert sorted(in_session) == ["a", "b"]
    assert await listed(client, report="funnel", measure="cases_referred", duty_session_id="duty-1") == ["a"]

    rows = (await report(client, "agencies", **days))["agencies"]
    checked = 0
    for row in rows:
        for measure in MEASURES["agencies"]:
            ids = await listed(client, report="agencies", measure=measure, agency=row["agency"], **days)
            assert len(ids) == row[measure], (row["agency"], measure, ids)
            checked += row[measure]
    assert checked > 0
    water = next(r for r in rows if r["agency"] == "water_wastewater")
    assert water["received"] >= 5 and water["acknowledged"] > water["acknowledged_within_sla"]
    # The case declined by water and routed on counts for both agencies that held it.
    assert "e" in await listed(client, report="agencies", measure="received", agency="welfare", **days)
    assert "e" in await listed(
        client, report="agencies", measure="received", agency="water_wastewater", **days
    )


async def test_every_county_and_week_number_lists_as_many_cases(client: httpx.AsyncClient) -> None:
    days = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    counties = (await report(client, "counties", **days))["counties"]
    assert {r["county"] for r in counties} == {"mashhad", "neyshabur", "sabzevar"}
    for row in counties:
        for measure in MEASURES["counties"]:
            ids = await listed(client, report="counties", measure=measure, county=row["county"], **days)
            assert len(ids) == row[measure], (row["county"], measure, ids)
    assert await listed(client, report="counties", measure="rejected", county="sabzevar", **days) == ["f"]

    weeks = (await report(client, "weeks", **days))["weeks"]
    assert sum(w["cases_resolved"] for w in weeks) == 2
    for week in weeks:
        start = max(date.fromisoformat(week["week_start"]), FIRST)
        end = min(date.fromisoformat(week["week_start"]) + timedelta(days=6), LAST)
        for measure in MEASURES["weeks"]:
            ids = await listed(
                client, report="weeks", measure=measure, **{"from": start.isoformat(), "to": end.isoformat()}
            )
            assert len(ids) == week[measure], (week["week_start"], measure, ids)


async def test_lists_are_newest_first_and_paged(client: httpx.AsyncClient) -> None:
    days = {"from": FIRST.isoformat(), "to": LAST.isoformat()}
    every = await listed(client, report="funnel", measure="cases_registered", **days)
    assert every[0] == "h" and every[-1] == "d"
    params = {"report": "funnel", "measure": "cases_registered", "page_size": 3, **days}
    pages = []
    for page in (1, 2, 3):
        r = await client.get("/v1/reports/cases", params={**params, "page": page}, headers=SUPERVISOR)
        assert r.json()["total"] == len(every)
        pages += [i["case_id"] for i in r.json()["items"]]
    assert pages == every
    item = (await client.get("/v1/reports/cases", params=params, headers=SUPERVISOR)).json()["items"][0]
    assert item["tracking_code"] and item["status_fa"] and "timeline" not in item


async def test_only_supervisors_and_ops_read_it_and_a_bad_selection_names_its_field(
    client: httpx.AsyncClient,
) -> None:
    params = {"report": "funnel", "measure": "cases_registered"}
    for role, agency in ((Role.operator, None), (Role.agency_staff, AgencyCode.water_wastewater)):
        r = await client.get("/v1/reports/cases", params=params, headers=unit_bearer(role, agency))
        assert r.status_code == 403
    assert (await client.get("/v1/reports/cases", params=params)).status_code == 401
    ops = await client.get("/v1/reports/cases", params=params, headers=unit_bearer(Role.ops))
    assert ops.status_code == 200
    for bad, field in (
        ({"report": "funnel", "measure": "received"}, "measure"),
        ({"report": "agencies", "measure": "received"}, "agency"),
        ({"report": "counties", "measure": "open"}, "county"),
        ({"report": "weeks", "measure": "cases_resolved", "duty_session_id": "x"}, "duty_session_id"),
        ({"report": "funnel", "measure": "cases_registered", "from": "1405-13-40"}, "from"),
    ):
        r = await client.get("/v1/reports/cases", params=bad, headers=SUPERVISOR)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == field, r.text
    assert (
        await client.get("/v1/reports/cases", params={"report": "x", "measure": "y"}, headers=SUPERVISOR)
    ).status_code == 422
