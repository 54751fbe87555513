"""The HTTP entry points on the fakes (no Kafka, no database): what each answer and refusal looks like.

The same routes against the real Kafka and FerretDB are in tests/integration/intake.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contracts.events import CallReceived, CaseRegistered
from services.common.auth import Role
from services.intake.entrypoints.http import create_app
from tests.support.tokens import unit_bearer
from tests.unit.intake.conftest import WATER, World, build_world

Client = tuple[httpx.AsyncClient, World]


@pytest.fixture
async def http() -> AsyncIterator[Client]:
    world = build_world()
    app = create_app(world.intake)  # no lifespan: nothing connects
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield client, world


def headers(key: str | None = None, role: Role = Role.operator, subject: str = "op-1") -> dict[str, str]:
    h = unit_bearer(role, sub=subject)
    if key:
        h["Idempotency-Key"] = key
    return h


MISSED: dict[str, Any] = {
    "outcome": "missed",
    "started_at": "2018-02-27T09:00:00+03:30",
    "duration_seconds": 0,
}


async def test_a_case_is_201_with_location_and_its_retry_is_marked_replayed(http: Client) -> None:
    client, world = http
    first = await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    assert first.status_code == 201, first.text
    assert first.headers["location"] == first.json()["status_url"]
    again = await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(world.publisher.events) == 1


async def test_a_repeat_call_is_200_without_location(http: Client) -> None:
    client, _ = http
    await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    repeat = await client.post("/v1/cases", json=WATER, headers=headers("k2"))
    assert repeat.status_code == 200 and "location" not in repeat.headers
    assert repeat.json()["status"] == "repeat_call"


async def test_a_call_with_its_case_is_201_with_both_and_its_retry_is_marked_replayed(http: Client) -> None:
    client, world = http
    body = {"call": MISSED | {"outcome": "answered", "caller_phone": WATER["phone"]}, "case": WATER}
    first = await client.post("/v1/calls/with-case", json=body, headers=headers("k1"))
    assert first.status_code == 201, first.text
    assert first.headers["location"] == first.json()["case"]["status_url"]
    assert first.json()["call"]["status"] == "received" and first.json()["case"]["status"] == "registered"
    again = await client.post("/v1/calls/with-case", json=body, headers=headers("k1"))
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert [type(e.data) for e in world.publisher.events] == [CallReceived, CaseRegistered]


async def test_a_call_with_its_case_names_a_bad_field_within_its_part_and_logs_nothing(http: Client) -> None:
    client, world = http
    call = MISSED | {"outcome": "answered"}
    blank = await client.post(
        "/v1/calls/with-case", json={"call": call, "case": WATER | {"description": ""}}, headers=headers("k1")
    )
    assert blank.status_code == 422 and [e["field"] for e in blank.json()["errors"]] == ["case.description"]
    missed = await client.post(
        "/v1/calls/with-case", json={"call": MISSED, "case": WATER}, headers=headers("k2")
    )
    assert missed.status_code == 422 and [e["field"] for e in missed.json()["errors"]] == ["call.outcome"]
    assert missed.json()["errors"][0]["message"].startswith("فقط برای تماس پاسخ‌داده")
    assert world.publisher.events == [] and world.store.keys == {}


async def test_an_operator_posing_as_another_is_403_and_a_supervisor_may_name_one(http: Client) -> None:
    client, world = http
    posing = await client.post("/v1/cases", json=WATER | {"operator_id": "op-2"}, headers=headers("k1"))
    assert posing.status_code == 403 and posing.headers["content-type"] == "application/problem+json"
    call = await client.post("/v1/calls", json=MISSED | {"operator_id": "op-2"}, headers=headers("k2"))
    assert call.status_code == 403 and world.publisher.events == []
    on_behalf = await client.post(
        "/v1/calls", json=MISSED | {"operator_id": "op-2"}, headers=headers("k3", Role.supervisor, "sup")
    )
    assert on_behalf.status_code == 201
    assert [e.data.operator_id for e in world.publisher.events if isinstance(e.data, CallReceived)] == [
        "op-2"
    ]


async def test_a_missed_call_carries_no_operator_an_answered_one_the_sender(http: Client) -> None:
    client, world = http
    assert (await client.post("/v1/calls", json=MISSED, headers=headers("k1"))).status_code == 201
    answered = MISSED | {"outcome": "answered", "duration_seconds": 30}
    assert (await client.post("/v1/calls", json=answered, headers=headers("k2"))).status_code == 201
    assert [e.data.operator_id for e in world.publisher.events] == [None, "op-1"]  # type: ignore[attr-defined]


async def test_refusals_are_problem_documents_with_their_status(http: Client) -> None:
    client, _ = http
    assert (await client.post("/v1/cases", json=WATER)).status_code == 401
    staff = await client.post("/v1/cases", json=WATER, headers=headers(role=Role.ops))
    assert staff.status_code == 403
    bad_key = await client.post("/v1/cases", json=WATER, headers=headers("has space"))
    assert bad_key.status_code == 422 and bad_key.json()["errors"][0]["field"] == "Idempotency-Key"
    await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    reused = await client.post("/v1/cases", json=WATER | {"subject": "فاضلاب"}, headers=headers("k1"))
    assert reused.status_code == 409 and reused.json()["type"].endswith("idempotency-key-reused")
    future = MISSED | {"started_at": "2099-01-01T00:00:00+03:30"}
    late = await client.post("/v1/calls", json=future, headers=headers("k9"))
    assert late.status_code == 422 and late.json()["errors"][0]["field"] == "started_at"


async def test_a_key_still_in_use_is_409_with_retry_after(http: Client) -> None:
    client, world = http
    from services.intake.adapters.store import KeyRecord
    from services.intake.domain.ids import fingerprint
    from services.intake.domain.requests import CaseIn

    body = CaseIn.model_validate(WATER).as_sent() | {"operator_id": "op-1", "channel": "phone"}
    await world.store.reserve_key(KeyRecord("cases", "k1", fingerprint("cases", body), world.clock.now()))
    r = await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    assert r.status_code == 409 and r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("idempotency-key-in-use")


async def test_kafka_or_the_database_down_is_503_naming_which(http: Client) -> None:
    client, world = http
    world.publisher.available = False
    kafka = await client.post("/v1/cases", json=WATER, headers=headers("k1"))
    assert kafka.status_code == 503 and "Kafka" in kafka.json()["detail_en"]
    assert kafka.headers["retry-after"] == str(world.intake.settings.retry_after_seconds)
    world.publisher.available = True
    world.store.available = False
    mongo = await client.post("/v1/calls", json=MISSED, headers=headers("k2"))
    assert mongo.status_code == 503 and "MongoDB" in mongo.json()["detail_en"]


async def test_catalogues_for_the_operator_screen(http: Client) -> None:
    client, _ = http
    categories = (await client.get("/v1/categories")).json()
    water = next(c for c in categories if c["code"] == "water_outage")
    assert water["agency"] == "water_wastewater" and water["agency_name"] and water["keywords"]
    counties = (await client.get("/v1/counties")).json()
    assert {
        "code": "mashhad",
        "name": "مشهد",
        "name_en": "Mashhad",
        "province": "khorasan_razavi",
    } in counties


async def test_open311_answers_in_the_format_asked_and_errors_in_the_spec_array(http: Client) -> None:
    client, world = http
    xml = await client.get("/open311/v2/services.xml")
    assert xml.status_code == 200 and xml.headers["content-type"].startswith("text/xml")
    assert xml.text.startswith('<?xml version="1.0" encoding="utf-8"?>')
    wrong = await client.get("/open311/v2/services.yaml")
    assert wrong.status_code == 404 and wrong.json()[0]["code"] == 404
    elsewhere = await client.get("/open311/v2/services.json", params={"jurisdiction_id": "tehran"})
    assert elsewhere.status_code == 404
    not_form = await client.post("/open311/v2/requests.json", json={"api_key": "unit-key"})
    assert not_form.status_code == 400
    discovery = (await client.get("/open311/v2/discovery.json")).json()
    assert discovery["endpoints"][0]["url"] == "http://intake.test/open311/v2"
    world.store.available = False
    down = await client.get("/open311/v2/requests.xml")
    assert (
        down.status_code == 503
        and down.headers["retry-after"] == str(world.intake.settings.retry_after_seconds)
        and b"<errors>" in down.content
    )


async def test_an_open311_submission_over_http(http: Client) -> None:
    client, world = http
    form = {
        "api_key": "unit-key",
        "service_code": "water_outage",
        "address_string": "بلوار وکیل‌آباد، مشهد",
        "phone": "09351234567",
        "description": "فشار آب طبقهٔ سوم از صبح کم است",
    }
    r = await client.post("/open311/v2/requests.json", data=form, headers={"Idempotency-Key": "o-1"})
    assert r.status_code == 200, r.text
    [answer] = r.json()
    one = await client.get(f"/open311/v2/requests/{answer['service_request_id']}.json")
    assert one.status_code == 200 and one.json()[0]["service_request_id"] == answer["service_request_id"]
    assert (await client.get("/open311/v2/tokens/abc.json")).status_code == 404
    assert len(world.publisher.events) == 1
