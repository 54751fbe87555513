"""The operators' API on the real Kafka: what is answered is on the topic, once, and nothing else is."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx

from contracts import tracking_code
from contracts.events import CaseStatus, CaseStatusChanged, make_event
from contracts.topics import CALLS, CASES
from services.common.auth import Role
from services.intake.domain.ids import call_ids, case_ids
from tests.integration.intake.conftest import bearer, read_to_end
from tests.support.kafka import TopicReader, produce_raw, wait_for

App = tuple[httpx.AsyncClient, Any]


def mobile() -> str:
    """A fresh, valid mobile number per test so repeat-call detection never links tests together."""
    return "0915" + str(uuid.uuid4().int % 10**7).zfill(7)


def case_body(phone: str, **changes: Any) -> dict[str, Any]:
    return {
        "phone": phone,
        "county": "نيشابور",
        "subject": "قطعي آب",
        "description": "آب محلهٔ ما از ديروز قطع است و هيچ اطلاع‌رساني نشده است",
        "national_id": "۰۴۹۹۳۷۰۸۹۹",
        **changes,
    }


def headers(key: str | None = None, role: Role = Role.operator) -> dict[str, str]:
    h = bearer(role)
    if key:
        h["Idempotency-Key"] = key
    return h


def mine(records: list[Any], key: str) -> list[dict[str, Any]]:
    return [json.loads(r.value) for r in records if r.key == key.encode()]


async def test_a_registered_case_is_on_the_topic_before_the_answer(intake_app: App) -> None:
    client, _ = intake_app
    reader = await TopicReader.from_now(CASES)
    r = await client.post("/v1/cases", json=case_body(mobile()), headers=headers(str(uuid.uuid4())))
    assert r.status_code == 201, r.text
    body = r.json()
    assert tracking_code.is_valid(body["tracking_code"])
    assert (
        r.headers["location"]
        == body["status_url"]
        == f"http://tracking.test/v1/status/{body['tracking_code']}"
    )
    [event] = mine(await read_to_end(reader), body["case_id"])
    assert event["type"] == "ir.samad.case.registered" and event["id"] == body["event_id"]
    assert event["specversion"] == "1.0" and event["subject"] == body["case_id"]
    data = event["data"]
    assert data["citizen"]["phone"].startswith("+98915") and data["citizen"]["national_id"] == "0499370899"
    assert data["county"] == "neyshabur" and data["subject"] == "قطعی آب"
    assert "ي" not in data["description"] and data["operator_id"] == "op-test"
    assert data["tracking_code"] == body["tracking_code"]


async def test_a_retry_returns_the_same_answer_and_publishes_nothing_new(intake_app: App) -> None:
    client, _ = intake_app
    key, phone = str(uuid.uuid4()), mobile()
    reader = await TopicReader.from_now(CASES)
    first = await client.post("/v1/cases", json=case_body(phone), headers=headers(key))
    again = await client.post("/v1/cases", json=case_body(phone), headers=headers(key))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(mine(await read_to_end(reader), first.json()["case_id"])) == 1


async def test_the_same_key_with_another_body_is_409(intake_app: App) -> None:
    client, _ = intake_app
    key, phone = str(uuid.uuid4()), mobile()
    assert (await client.post("/v1/cases", json=case_body(phone), headers=headers(key))).status_code == 201
    r = await client.post("/v1/cases", json=case_body(phone, subject="فاضلاب"), headers=headers(key))
    assert r.status_code == 409
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"].endswith("idempotency-key-reused") and r.json()["title"]


async def test_invalid_input_is_422_naming_every_field_in_persian_and_english(intake_app: App) -> None:
    client, _ = intake_app
    reader = await TopicReader.from_now(CASES)
    bad = case_body("02188776655", county="تهران", national_id="1234567890", agency="police", colour="red")
    r = await client.post("/v1/cases", json=bad, headers=headers(str(uuid.uuid4())))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["type"].startswith("https://")
    fields = {e["field"]: e for e in problem["errors"]}
    assert set(fields) == {"phone", "county", "national_id", "agency", "colour"}
    assert all(e["message"] and e["message_en"] for e in fields.values())
    assert "کد ملی" in fields["national_id"]["message"]
    bad_key = await client.post("/v1/cases", json=case_body(mobile()), headers=headers("has space"))
    assert bad_key.status_code == 422 and bad_key.json()["errors"][0]["field"] == "Idempotency-Key"
    records = await read_to_end(reader)
    assert not [r for r in records if b"+982188776655" in (r.value or b"")]


async def test_control_characters_are_422_and_never_reach_the_topic(intake_app: App) -> None:
    client, _ = intake_app
    reader = await TopicReader.from_now(CASES)
    key, phone = str(uuid.uuid4()), mobile()
    bad = case_body(phone, subject="قطعی\x00آب", description="آب قطع است \x1b[2J\x85")
    r = await client.post("/v1/cases", json=bad, headers=headers(key))
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    fields = {e["field"]: e for e in r.json()["errors"]}
    assert set(fields) == {"subject", "description"}
    assert all(e["code"] == "control_character" and "کنترلی" in e["message"] for e in fields.values())
    multiline = case_body(phone, description="آب محله ما\r\nاز دیروز\tقطع است")
    ok = await client.post("/v1/cases", json=multiline, headers=headers(str(uuid.uuid4())))
    assert ok.status_code == 201, ok.text
    [event] = mine(await read_to_end(reader), ok.json()["case_id"])
    assert event["data"]["description"] == "آب محله ما از دیروز قطع است"
    assert mine(reader.records, case_ids(f"cases:{key}").case_id) == []


async def test_oversized_bodies_are_413(intake_app: App) -> None:
    client, _ = intake_app
    body = case_body(mobile(), description="آ" * 40_000)  # 80 kB in UTF-8
    r = await client.post(
        "/v1/cases", content=json.dumps(body), headers=headers() | {"content-type": "application/json"}
    )
    assert r.status_code == 413 and r.json()["title_en"] == "Request body too large"


async def test_only_operators_and_supervisors_may_post(intake_app: App) -> None:
    client, _ = intake_app
    body = case_body(mobile())
    assert (await client.post("/v1/cases", json=body)).status_code == 401
    r = await client.post("/v1/cases", json=body, headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 401
    staff = await client.post("/v1/cases", json=body, headers=headers(role=Role.ops))
    assert staff.status_code == 403 and staff.json()["title"]
    posing = await client.post("/v1/cases", json=body | {"operator_id": "op-other"}, headers=headers())
    assert posing.status_code == 403
    on_behalf = await client.post(
        "/v1/cases", json=body | {"operator_id": "op-night"}, headers=headers(role=Role.supervisor)
    )
    assert on_behalf.status_code == 201


async def test_a_repeat_call_is_linked_and_recorded_on_the_case(intake_app: App) -> None:
    client, _ = intake_app
    phone = mobile()
    reader = await TopicReader.from_now(CASES)
    first = (await client.post("/v1/cases", json=case_body(phone), headers=headers(str(uuid.uuid4())))).json()
    again_body = case_body(
        "+98" + phone[1:], description="آب محله ما از دیروز قطع است و هیچ اطلاع رسانی نشده", call_id="call-77"
    )
    r = await client.post("/v1/cases", json=again_body, headers=headers(str(uuid.uuid4())))
    assert r.status_code == 200, r.text
    linked = r.json()
    assert linked["duplicate_of"] == first["case_id"] and linked["tracking_code"] == first["tracking_code"]
    events = mine(await read_to_end(reader), first["case_id"])
    assert [e["type"] for e in events] == ["ir.samad.case.registered", "ir.samad.case.repeat_call"]
    assert events[1]["data"]["call_id"] == "call-77" and events[1]["data"]["similarity"] >= 0.85


async def test_a_resolved_case_seen_on_the_topic_is_not_reused(intake_app: App) -> None:
    client, app = intake_app
    phone = mobile()
    first = (await client.post("/v1/cases", json=case_body(phone), headers=headers(str(uuid.uuid4())))).json()
    resolved = make_event(
        CaseStatusChanged(case_id=first["case_id"], status=CaseStatus.resolved, answer="لوله تعمیر شد"),
        source="/samad/tracking",
    )
    await produce_raw(CASES, resolved.to_json(), key=first["case_id"].encode())
    store = app.state.container.store

    async def seen_resolved() -> bool:
        view = await store.get_case(first["case_id"])
        return view is not None and view.status == "resolved"

    await wait_for(seen_resolved, timeout=30)  # intake's consumer applied tracking's event
    r = await client.post("/v1/cases", json=case_body(phone), headers=headers(str(uuid.uuid4())))
    assert r.status_code == 201 and r.json()["case_id"] != first["case_id"]


async def test_every_call_is_logged_answered_or_not(intake_app: App) -> None:
    client, _ = intake_app
    reader = await TopicReader.from_now(CALLS)
    answered = {
        "caller_phone": "۰۵۱-۳۸۰۰۱۲۳۴",
        "outcome": "answered",
        "started_at": "2018-02-27T09:05:00+03:30",
        "duration_seconds": 240,
        "county": "مشهد",
        "duty_session_id": "duty-test",
    }
    missed = {"outcome": "missed", "started_at": "2018-02-27T09:07:00+03:30", "duration_seconds": 0}
    a = await client.post("/v1/calls", json=answered, headers=headers(str(uuid.uuid4())))
    m = await client.post("/v1/calls", json=missed, headers=headers(str(uuid.uuid4())))
    assert (a.status_code, m.status_code) == (201, 201)
    records = await read_to_end(reader)
    [ea] = mine(records, a.json()["call_id"])
    [em] = mine(records, m.json()["call_id"])
    assert ea["type"] == "ir.samad.call.received" and ea["data"]["caller_phone"] == "+985138001234"
    assert ea["data"]["operator_id"] == "op-test" and ea["data"]["county"] == "mashhad"
    assert (
        em["data"]["outcome"] == "missed"
        and "operator_id" not in em["data"]
        and "caller_phone" not in em["data"]
    )
    future = dict(missed, started_at="2099-01-01T00:00:00+03:30")
    r = await client.post("/v1/calls", json=future, headers=headers())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "started_at"


async def test_a_call_with_its_case_is_on_both_topics_once_under_one_key(intake_app: App) -> None:
    client, intake = intake_app
    calls, cases = await TopicReader.from_now(CALLS), await TopicReader.from_now(CASES)
    key, phone = str(uuid.uuid4()), mobile()
    call = {
        "caller_phone": phone,
        "outcome": "answered",
        "started_at": "2018-02-27T09:05:00+03:30",
        "duration_seconds": 90,
    }
    body = {"call": call, "case": case_body(phone)}
    r = await client.post("/v1/calls/with-case", json=body, headers=headers(key))
    assert r.status_code == 201, r.text
    logged, registered = r.json()["call"], r.json()["case"]
    assert r.headers["location"] == registered["status_url"] and registered["status"] == "registered"
    again = await client.post("/v1/calls/with-case", json=body, headers=headers(key))
    assert again.json() == r.json() and again.headers["idempotent-replayed"] == "true"
    [call_event] = mine(await read_to_end(calls), logged["call_id"])
    [case_event] = mine(await read_to_end(cases), registered["case_id"])
    assert call_event["id"] == logged["event_id"] and call_event["data"]["operator_id"] == "op-test"
    assert case_event["id"] == registered["event_id"] and case_event["data"]["call_id"] == logged["call_id"]
    assert case_event["data"]["tracking_code"] == registered["tracking_code"]
    view = await intake.state.container.store.get_case(registered["case_id"])  # written before the answer
    assert view is not None and view.tracking_code == registered["tracking_code"]
    # A refused case part logs no call either, and names the field within its part.
    calls, bad_key = await TopicReader.from_now(CALLS), str(uuid.uuid4())
    bad = {"call": call, "case": case_body(phone, county="تهران")}
    refused = await client.post("/v1/calls/with-case", json=bad, headers=headers(bad_key))
    assert refused.status_code == 422 and [e["field"] for e in refused.json()["errors"]] == ["case.county"]
    assert mine(await read_to_end(calls), call_ids(f"calls-with-case:{bad_key}").call_id) == []


async def test_catalogues_for_the_operator_screen(intake_app: App) -> None:
    client, _ = intake_app
    categories = (await client.get("/v1/categories")).json()
    assert {c["agency"] for c in categories} >= {"education", "water_wastewater"}
    counties = (await client.get("/v1/counties")).json()
    assert {
        "code": "mashhad",
        "name": "مشهد",
        "name_en": "Mashhad",
        "province": "khorasan_razavi",
    } in counties


async def test_kafka_unreachable_is_503_with_retry_after_and_nothing_published() -> None:
    from services.intake.bootstrap import bootstrap
    from services.intake.entrypoints.http import create_app
    from tests.integration.intake.conftest import drop_database, intake_settings

    tag = uuid.uuid4().hex[:10]
    settings = intake_settings(tag, kafka_bootstrap="127.0.0.1:1", publish_timeout_seconds=2.0)
    app = create_app(bootstrap(settings))
    key = str(uuid.uuid4())
    reader = await TopicReader.from_now(CASES)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
            r = await client.post("/v1/cases", json=case_body(mobile()), headers=headers(key))
            assert r.status_code == 503
            assert r.headers["retry-after"] == str(settings.retry_after_seconds)
            assert (
                r.headers["content-type"] == "application/problem+json" and "Kafka" in r.json()["detail_en"]
            )
            ready = await client.get("/readyz")
            assert ready.status_code == 503 and ready.json()["checks"]["kafka"] is False
            assert (await client.get("/healthz")).status_code == 200
    await drop_database(settings.db_name)
    case_id = case_ids(f"cases:{key}").case_id
    assert mine(await read_to_end(reader), case_id) == []
