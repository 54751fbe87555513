"""Routing as its own process on the real Kafka and FerretDB: registered cases are routed, redeliveries
yield the same event, declines re-route and then go to triage, a person decides, the roster marks live
sessions and its feeds are valid. Kafka is read by an independent aiokafka reader."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRerouteRequested,
    Citizen,
    Envelope,
    make_event,
    new_id,
    utcnow,
)
from contracts.topics import CASES
from services.common.auth import Role
from services.routing.domain.roster import week_of
from tests.support.identity import LazyBearer
from tests.support.kafka import TopicReader, produce_raw
from tests.support.processes import ServiceProcess, free_port, log_dir

TEHRAN = ZoneInfo("Asia/Tehran")
SUPERVISOR = LazyBearer(Role.supervisor, sub="sup-test")


@pytest.fixture(scope="module")
def routing() -> Iterator[ServiceProcess]:
    tag = new_id()[:10]
    proc = ServiceProcess(
        "routing",
        free_port(),
        {
            "SAMAD_DB_NAME": f"samad_routing_test_{tag}",
            "SAMAD_CONSUMER_GROUP_PREFIX": f"test.routing.{tag}",
            "SAMAD_CONSUMER_OFFSET_RESET": "latest",
            "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        },
        log_dir(),
    ).start(timeout=90)
    try:
        yield proc
    finally:
        proc.stop()


def registered(case_id: str, description: str, at: datetime | None = None) -> Envelope:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone="+989121234567"),
        subject="شکایت شهروند",
        description=description,
        registered_at=at or utcnow(),
    )
    return make_event(data, source="/samad/intake")


def declined(case_id: str, by: AgencyCode, reason: str) -> Envelope:
    actor = Actor(kind=ActorKind.agency_staff, id="staff-1", agency=by)
    return make_event(
        CaseRerouteRequested(case_id=case_id, agency=by, reason=reason, actor=actor), source="/samad/tracking"
    )


async def publish(event: Envelope) -> None:
    await produce_raw(
        CASES, event.to_json(), key=event.key, headers=[("content-type", b"application/cloudevents+json")]
    )


def from_routing(reader: TopicReader, case_ids: set[str]) -> list[dict[str, Any]]:
    return [
        e for e in reader.events() if e.get("source") == "/samad/routing" and e.get("subject") in case_ids
    ]


async def wait_routing(reader: TopicReader, case_ids: set[str], count: int) -> list[dict[str, Any]]:
    await reader.collect(lambda _r: len(from_routing(reader, case_ids)) >= count, timeout=40)
    found = from_routing(reader, case_ids)
    assert len(found) >= count, f"expected {count} routing events, got {found}"
    return found


async def test_registered_cases_are_routed_once_per_registration(routing: ServiceProcess) -> None:
    tag = new_id()[:8]
    water, tax, vague = f"w-{tag}", f"t-{tag}", f"v-{tag}"
    reader = await TopicReader.from_now(CASES)
    first = registered(water, "قبض آب این ماه چهار برابر شده، احتمالا کنتور خرابه")
    await publish(first)
    await publish(registered(tax, "برگ تشخیص مالياتي مغازه ام خيلي بيشتر از درآمد واقعي صادر شده"))
    await publish(registered(vague, "سلام، لطفا به کار من رسیدگی کنید"))
    await publish(first)  # redelivered: must not create a second, different routing event

    events = await wait_routing(reader, {water, tax, vague}, 4)
    by_case: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        by_case.setdefault(e["subject"], []).append(e)
    assert by_case[water][0]["type"] == "ir.samad.case.routed"
    assert by_case[water][0]["data"]["agency"] == "water_wastewater"
    assert by_case[water][0]["data"]["reason"] == "classifier"
    assert by_case[water][0]["causationid"] == first.id
    assert any("قبض آب" in line for line in by_case[water][0]["data"]["explanation"])
    assert {e["id"] for e in by_case[water]} == {by_case[water][0]["id"]}  # the repeat has the same id
    assert by_case[tax][0]["data"]["agency"] == "tax_affairs"
    assert by_case[vague][0]["type"] == "ir.samad.case.triage_required"
    assert by_case[vague][0]["data"]["reason"] == "low_confidence"


async def test_declines_reroute_then_triage_then_a_supervisor_decides(routing: ServiceProcess) -> None:
    case = f"r-{new_id()[:8]}"
    reader = await TopicReader.from_now(CASES)
    await publish(registered(case, "آب آشامیدنی مدرسه روستا آلوده است و قبض آب مدرسه هم زیاد آمده"))
    [routed] = await wait_routing(reader, {case}, 1)
    assert routed["data"]["agency"] == "water_wastewater"

    await publish(declined(case, AgencyCode.water_wastewater, "آب مدرسه با آموزش و پرورش است"))
    hop = (await wait_routing(reader, {case}, 2))[1]
    assert hop["type"] == "ir.samad.case.routed"
    assert (hop["data"]["agency"], hop["data"]["reason"]) == ("education", "reroute")
    assert hop["data"]["declined_agencies"] == ["water_wastewater"]

    await publish(declined(case, AgencyCode.education, "مربوط به ما نیست"))
    triage = (await wait_routing(reader, {case}, 3))[2]
    assert triage["type"] == "ir.samad.case.triage_required"
    assert triage["data"]["reason"] == "declined_twice"

    async with httpx.AsyncClient(base_url=routing.url, timeout=10) as http:
        queue = (await http.get("/v1/triage", headers=SUPERVISOR)).json()["items"]
        assert case in {item["case_id"] for item in queue}
        answer = await http.post(
            f"/v1/triage/{case}", json={"agency": "welfare", "note": "بررسی شد"}, headers=SUPERVISOR
        )
        assert answer.status_code == 201, answer.text
        assert answer.json()["reason"] == "manual"
        again = await http.post(f"/v1/triage/{case}", json={"agency": "education"}, headers=SUPERVISOR)
        assert again.status_code == 409 and again.json()["title"]  # Persian title, English beside it
        assert (await http.post(f"/v1/triage/{case}", json={"agency": "welfare"})).status_code == 401
        history = (await http.get(f"/v1/routing/cases/{case}", headers=SUPERVISOR)).json()
        assert [h["event"]["data"].get("reason") for h in history["hops"]] == [
            "classifier",
            "reroute",
            "declined_twice",
            "manual",
        ]

    manual = (await wait_routing(reader, {case}, 4))[3]
    assert (manual["data"]["agency"], manual["data"]["reason"]) == ("welfare", "manual")
    assert manual["data"]["actor"]["id"] == "sup-test"


async def test_the_roster_marks_live_sessions_and_publishes_its_feeds(routing: ServiceProcess) -> None:
    now = datetime.now(TEHRAN)
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0, second=0, microsecond=0))
    end = min(now + timedelta(hours=1), now.replace(hour=23, minute=59, second=0, microsecond=0))
    body = {
        "week_start": week_of(now.date()).isoformat(),
        "agency": "water_wastewater",
        "director_name": "مهندس کریمی",
        "hours": [
            {"date": now.date().isoformat(), "start": start.strftime("%H:%M"), "end": end.strftime("%H:%M")}
        ],
    }
    async with httpx.AsyncClient(base_url=routing.url, timeout=10) as http:
        assert (await http.post("/v1/roster", json=body)).status_code == 401
        created = await http.post("/v1/roster", json=body, headers=SUPERVISOR)
        assert created.status_code == 201, created.text
        overlap = await http.post("/v1/roster", json={**body, "agency": "education"}, headers=SUPERVISOR)
        assert overlap.status_code == 409
        assert overlap.json()["title"] == "برنامهٔ کشیک با برنامهٔ دیگری هم‌پوشانی دارد"
        assert overlap.json()["conflicts"][0]["id"] == created.json()["id"]
        bad = await http.post("/v1/roster", json={**body, "week_start": "not a date"}, headers=SUPERVISOR)
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "week_start"

        current = (await http.get("/v1/roster/current")).json()
        assert current["on_duty"] and current["entry"]["director_name"] == "مهندس کریمی"
        feed = await http.get("/v1/roster/feed.json")
        assert feed.headers["content-type"].startswith("application/feed+json")
        assert feed.json()["items"][0]["_samad"]["agency"] == "water_wastewater"
        ics = await http.get("/v1/roster/calendar.ics")
        assert ics.headers["content-type"].startswith("text/calendar")
        [event] = list(icalendar.Calendar.from_ical(ics.text).walk("VEVENT"))
        assert "مهندس کریمی" in str(event.get("DESCRIPTION"))

    case = f"l-{new_id()[:8]}"
    reader = await TopicReader.from_now(CASES)
    await publish(registered(case, "قبض آب این ماه چهار برابر شده"))
    [routed] = await wait_routing(reader, {case}, 1)
    assert routed["data"]["agency"] == "water_wastewater"
    assert routed["data"]["live_session"] is True
    assert routed["data"]["duty_session_id"] == current["session_id"]
