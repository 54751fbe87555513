"""Who sees a case's personal data (docs/privacy.md): the rules, their enforcement on every read route,
and the read audit each read leaves."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import jwt
import pytest

from contracts.catalogue import AgencyCode
from services.common.auth import PURPOSE_HEADER, Role
from services.common.clock import FixedClock
from services.tracking.adapters.audit import InMemoryReadAudit
from services.tracking.domain.access import Staff
from services.tracking.domain.audit import ReadContext
from services.tracking.domain.model import Case
from services.tracking.domain.privacy import MASKED, Disclosure, disclosure, mask_data, masked_view
from services.tracking.entrypoints.http import create_app
from services.tracking.service.read_audit import AuditTrail
from tests.support.tokens import UNIT_ISSUER, UNIT_KEY, unit_bearer
from tests.unit.tracking.factory import PHONE, CaseEvents
from tests.unit.tracking.fakes import NOW, Fakes

NAME = "مریم رضایی"
DESCRIPTION = "سه روز است آب محله قطع است."
NOTE = "شهروند گفت کد ملی 0012345678 است"
SMS_TEXT_PART = "پرونده شما با کد"


def case(operator: str = "op-7", agency: str | None = "water_wastewater", nid: str | None = None) -> Case:
    return Case.model_validate(
        {
            "_id": "c1",
            "status": "routed",
            "agency": agency,
            "operator_id": operator,
            "citizen": {"phone": PHONE, "name": NAME, "national_id": nid},
        }
    )


@pytest.mark.parametrize(
    ("staff", "looked_up", "expected"),
    [
        (Staff("supervisor", "sup"), (), Disclosure.shown),
        (Staff("ops", "ops1"), (), Disclosure.masked),
        (Staff("ops", "ops1"), (f"phone:{PHONE}",), Disclosure.masked),
        (Staff("operator", "op-7"), (), Disclosure.shown),  # registered it
        (Staff("operator", "op-9"), (), Disclosure.masked),  # someone else's case
        (Staff("operator", "op-9"), (f"phone:{PHONE}",), Disclosure.shown),  # handling that caller
        (Staff("operator", "op-9"), ("phone:+989120000000",), Disclosure.masked),  # another caller
        (Staff("operator", "op-9"), ("nid:0012345678",), Disclosure.shown),
        (Staff("agency_staff", "s1", "water_wastewater"), (), Disclosure.shown),
        (Staff("agency_staff", "s2", "education"), (), Disclosure.masked),
    ],
)
def test_who_sees_the_personal_fields(staff: Staff, looked_up: tuple[str, ...], expected: Disclosure) -> None:
    assert disclosure(staff, case(nid="0012345678"), looked_up) is expected


def test_an_operator_without_a_name_never_matches_a_case_without_an_operator() -> None:
    assert disclosure(Staff("operator", ""), case(operator="")) is Disclosure.masked


def test_payloads_are_masked_at_any_depth() -> None:
    data = {"citizen": {"phone": PHONE, "name": NAME, "national_id": "0012345678"}, "subject": "قطعی آب"}
    masked = mask_data(data)
    assert masked == {
        "citizen": {"phone": "+98915***4567", "name": MASKED, "national_id": "001*****78"},
        "subject": "قطعی آب",
    }


def test_timeline_texts_keep_what_happened_and_lose_what_they_quote() -> None:
    words = "عبارت «پس زده» (وزن 4)"
    doc = {
        "timeline": [
            {
                "type": "ir.samad.case.routed",
                "text": f"ارجاع به شرکت آب و فاضلاب ({words})",
                "data": {"agency": "water_wastewater", "explanation": [words]},
            },
            {
                "type": "ir.samad.case.triage_required",
                "text": f"تعیین دستگاه مسئول به کارشناس سپرده شد: {words}",
            },
            {"type": "ir.samad.case.status_changed", "text": "پاسخ شرکت آب و فاضلاب: لوله تعمیر شد"},
            {"type": "ir.samad.case.note_added", "text": "با شهروند تماس گرفته شد"},
            {"type": "ir.samad.case.escalated", "text": "شماره 09151234567 تماس گرفت"},
        ]
    }
    texts = [e["text"] for e in masked_view(doc)["timeline"]]
    assert texts == [
        f"ارجاع به شرکت آب و فاضلاب ({MASKED})",
        f"تعیین دستگاه مسئول به کارشناس سپرده شد: {MASKED}",
        f"پاسخ شرکت آب و فاضلاب: {MASKED}",
        MASKED,
        "شماره 0915***4567 تماس گرفت",
    ]
    assert doc["timeline"][0]["data"] == {"agency": "water_wastewater", "explanation": [MASKED]}


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes()
    c = CaseEvents("p1")
    await fakes.consume(
        [
            c.registered(),
            c.routed(),
            c.note(NOTE),
            c.repeat_call(),
            c.sms_sent(),
            c.acknowledged(),
            c.resolved("آب وصل شد"),
        ]
    )
    return fakes


@pytest.fixture
async def client(fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(fakes.tracking)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tracking"
    ) as client:
        yield client


def leaks(doc: Any) -> list[str]:
    """The personal data of case p1 that appears anywhere in ``doc``."""
    text = json.dumps(doc, ensure_ascii=False)
    secrets = (
        PHONE,
        "9151234567",
        NAME,
        DESCRIPTION,
        "0012345678",
        "باز هم قطع است",
        SMS_TEXT_PART,
        "آب وصل شد",
    )
    return [s for s in secrets if s in text]


async def read(client: httpx.AsyncClient, headers: dict[str, str], **params: str) -> dict[str, Any]:
    r = await client.get("/v1/cases/p1", headers=headers, params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_ops_read_every_case_masked_and_supervisors_in_full(client: httpx.AsyncClient) -> None:
    ops = await read(client, unit_bearer(Role.ops, sub="ops1"))
    assert ops["personal"] == "masked" and leaks(ops) == []
    assert ops["citizen"]["phone"] == "+98915***4567" and ops["description"] == MASKED
    assert ops["subject"] == "قطعی آب" and ops["status"] == "resolved"  # the work itself stays readable
    full = await read(client, unit_bearer(Role.supervisor, sub="sup"))
    assert (
        full["personal"] == "shown"
        and full["citizen"]["phone"] == PHONE
        and full["description"] == DESCRIPTION
    )


async def test_operators_see_their_own_registrations_and_the_caller_they_look_up(
    client: httpx.AsyncClient,
) -> None:
    assert (await read(client, unit_bearer(Role.operator, sub="op-7")))["personal"] == "shown"
    other = await read(client, unit_bearer(Role.operator, sub="op-9"))
    assert other["personal"] == "masked" and leaks(other) == []
    handling = await read(client, unit_bearer(Role.operator, sub="op-9"), caller_phone="09151234567")
    assert handling["personal"] == "shown" and handling["citizen"]["name"] == NAME
    wrong = await read(client, unit_bearer(Role.operator, sub="op-9"), caller_phone="09120000000")
    assert wrong["personal"] == "masked"
    r = await client.get(
        "/v1/cases/p1", headers=unit_bearer(Role.operator, sub="op-9"), params={"caller_phone": "12"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "caller_phone"
    # The screen-pop: a lookup by the caller's phone is that caller.
    found = await client.get(
        "/v1/cases", headers=unit_bearer(Role.operator, sub="op-9"), params={"phone": "09151234567"}
    )
    assert [i["personal"] for i in found.json()["items"]] == ["shown"]


async def test_agency_staff_read_their_own_agency_only(client: httpx.AsyncClient) -> None:
    mine = unit_bearer(Role.agency_staff, AgencyCode.water_wastewater, "staff-1")
    assert (await read(client, mine))["personal"] == "shown"
    other = unit_bearer(Role.agency_staff, AgencyCode.education, "staff-2")
    assert (await client.get("/v1/cases/p1", headers=other)).status_code == 403
    assert (await client.get("/v1/agencies/water_wastewater/cases", headers=other)).status_code == 403
    found = await client.get("/v1/cases", headers=other, params={"phone": "09151234567"})
    assert found.json()["items"] == []


async def test_lists_mask_for_ops(client: httpx.AsyncClient) -> None:
    ops = unit_bearer(Role.ops, sub="ops1")
    queue = (await client.get("/v1/agencies/water_wastewater/cases", headers=ops)).json()
    assert queue["items"] and leaks(queue) == [] and queue["items"][0]["personal"] == "masked"
    staff = unit_bearer(Role.agency_staff, AgencyCode.water_wastewater, "staff-1")
    shown = (await client.get("/v1/agencies/water_wastewater/cases", headers=staff)).json()
    assert shown["items"][0]["citizen"]["phone"] == PHONE


async def test_every_read_is_audited_without_personal_data(client: httpx.AsyncClient, fakes: Fakes) -> None:
    await read(client, {**unit_bearer(Role.ops, sub="ops1"), PURPOSE_HEADER: "console:case"})
    await read(client, unit_bearer(Role.operator, sub="op-9"), caller_phone="09151234567")
    await client.get(
        "/v1/cases", headers=unit_bearer(Role.operator, sub="op-9"), params={"phone": "09151234567"}
    )
    await fakes.tracking.audit_trail.flush()
    records = fakes.read_audit.records
    assert [(r.user, r.role, r.case_id, r.disclosure, r.endpoint, r.screen) for r in records] == [
        ("ops1", "ops", "p1", "masked", "GET /v1/cases/{ref}", "console:case"),
        ("op-9", "operator", "p1", "shown", "GET /v1/cases/{ref}", None),
        ("op-9", "operator", "p1", "shown", "GET /v1/cases", None),
    ]
    assert all(r.client == "127.0.0.1" and r.at == NOW for r in records)
    assert not leaks(str([r.as_dict() for r in records]))


async def test_supervisors_query_the_audit(client: httpx.AsyncClient, fakes: Fakes) -> None:
    await read(client, unit_bearer(Role.ops, sub="ops1"))
    await read(client, unit_bearer(Role.supervisor, sub="sup"))
    await fakes.tracking.audit_trail.flush()
    sup = unit_bearer(Role.supervisor, sub="sup")
    r = await client.get("/v1/audit/reads", headers=sup, params={"case_id": "p1", "user": "ops1"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1 and body["items"][0]["disclosure"] == "masked" and body["items"][0]["at_jalali"]
    day = NOW.date().isoformat()
    assert (await client.get("/v1/audit/reads", headers=sup, params={"from": day, "to": day})).json()[
        "total"
    ] == 2
    bad = await client.get("/v1/audit/reads", headers=sup, params={"from": "دیروز"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from" and bad.json()["detail"]
    reversed_ = await client.get(
        "/v1/audit/reads", headers=sup, params={"from": "2026-12-02", "to": "2026-12-01"}
    )
    assert reversed_.status_code == 422 and reversed_.json()["errors"][0]["field"] == "from"
    for role in (Role.ops, Role.operator):
        assert (await client.get("/v1/audit/reads", headers=unit_bearer(role))).status_code == 403


async def test_the_trail_batches_in_the_background_and_loses_nothing_at_a_clean_stop() -> None:
    store = InMemoryReadAudit()
    trail = AuditTrail(store, FixedClock(NOW), batch_size=2, interval_seconds=3600)
    await trail.start()
    ctx = ReadContext("10.0.0.1", "GET /v1/cases/{ref}")
    trail.record(Staff("ops", "o"), ctx, [("a", Disclosure.masked)])
    assert store.records == []  # the read did not wait for the database
    trail.record(Staff("ops", "o"), ctx, [("b", Disclosure.masked), ("c", Disclosure.masked)])
    for _ in range(50):  # a full batch wakes the writer
        if len(store.records) >= 2:
            break
        await asyncio.sleep(0.01)
    assert len(store.records) >= 2
    store.failing = True
    trail.record(Staff("ops", "o"), ctx, [("d", Disclosure.masked)])
    with pytest.raises(ConnectionError):
        await trail.flush()
    assert trail.pending  # a failed write keeps the records
    store.failing = False
    await trail.stop()
    assert sorted(r.case_id for r in store.records) == ["a", "b", "c", "d"] and trail.pending == []


def services_bearer(client: str = "samad-services") -> dict[str, str]:
    """A token of the client credentials grant: the services' own client (``azp``), a supervisor-like
    service account."""
    now = int(time.time())
    claims = {
        "sub": "service-account",
        "preferred_username": "service-account-samad-services",
        "realm_access": {"roles": ["supervisor"]},
        "azp": client,
        "iss": UNIT_ISSUER,
        "aud": "samad",
        "iat": now,
        "exp": now + 600,
    }
    return {"Authorization": f"Bearer {jwt.encode(claims, UNIT_KEY, algorithm='HS256')}"}


async def test_other_services_hand_their_reads_to_the_audit_and_only_they_may(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    record = {
        "at": "2026-11-25T07:00:00+00:00",
        "user": "ops1",
        "role": "ops",
        "case_id": "p1",
        "client": "10.0.0.7",
        "endpoint": "GET /v1/sms",
        "screen": "console /desk/cases/{ref}/sms",
        "disclosure": "masked",
    }
    r = await client.post("/v1/audit/reads", json={"records": [record]}, headers=services_bearer())
    assert r.status_code == 202, r.text
    await fakes.tracking.audit_trail.flush()
    assert [(x.user, x.endpoint, x.disclosure) for x in fakes.read_audit.records] == [
        ("ops1", "GET /v1/sms", "masked")
    ]
    # A person, even a supervisor, cannot write the audit; nor another client's service account.
    for headers in (unit_bearer(Role.supervisor, sub="sup"), services_bearer("samad-console")):
        refused = await client.post("/v1/audit/reads", json={"records": [record]}, headers=headers)
        assert refused.status_code == 403
    bad = await client.post(
        "/v1/audit/reads", json={"records": [record | {"disclosure": "peeked"}]}, headers=services_bearer()
    )
    assert bad.status_code == 422 and "disclosure" in bad.text
    assert len(fakes.read_audit.records) == 1
