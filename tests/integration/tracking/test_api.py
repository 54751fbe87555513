"""Tracking's HTTP API against the real Kafka and FerretDB: access control for every role on every
endpoint, staff actions flowing through Kafka back into the case, the citizen's status page."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus
from contracts.persian import to_persian_digits
from services.common.auth import Role
from tests.integration.tracking.conftest import bearer, publish
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess
from tests.unit.tracking.factory import CaseEvents

OWN = AgencyCode.water_wastewater
OTHER = AgencyCode.education
ROLES: dict[str, dict[str, str]] = {
    "anonymous": {},
    "operator": bearer(Role.operator, sub="op-1"),
    "own_agency_staff": bearer(Role.agency_staff, OWN, sub="staff-own"),
    "other_agency_staff": bearer(Role.agency_staff, OTHER, sub="staff-other"),
    "supervisor": bearer(Role.supervisor, sub="sup-1"),
    "ops": bearer(Role.ops, sub="ops-1"),
}


async def routed_case(tracking: ServiceProcess, name: str) -> CaseEvents:
    c = CaseEvents(f"api-{name}-{uuid.uuid4().hex[:8]}")
    await publish([c.registered(), c.routed(OWN)])
    await wait_case(tracking, c.case_id, lambda d: d["status"] == "routed")
    return c


async def wait_case(tracking: ServiceProcess, ref: str, ok: Any, timeout: float = 30) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=tracking.url, headers=ROLES["supervisor"], timeout=10) as client:

        async def fetch() -> dict[str, Any] | None:
            r = await client.get(f"/v1/cases/{ref}")
            return r.json() if r.status_code == 200 and ok(r.json()) else None

        result: dict[str, Any] = await wait_for(fetch, timeout=timeout, interval=0.2)
        return result


@pytest.fixture(scope="module")
async def case(tracking: ServiceProcess) -> CaseEvents:
    return await routed_case(tracking, "matrix")


# Expected status per endpoint and role: 401 without a token, 403 for a role or agency that may not.
MATRIX: list[tuple[str, str, dict[str, int]]] = [
    (
        "GET",
        "/v1/agencies/{own}/cases",
        dict(
            anonymous=401, operator=403, own_agency_staff=200, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/agencies/{other}/cases",
        dict(
            anonymous=401, operator=403, own_agency_staff=403, other_agency_staff=200, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/cases/{id}",
        dict(
            anonymous=401, operator=200, own_agency_staff=200, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/cases/{code}",
        dict(
            anonymous=401, operator=200, own_agency_staff=200, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "POST note",
        "/v1/cases/{id}/actions",
        dict(
            anonymous=401, operator=202, own_agency_staff=202, other_agency_staff=403, supervisor=202, ops=403
        ),
    ),
    (
        "POST acknowledge",
        "/v1/cases/{id}/actions",
        dict(anonymous=401, operator=403, other_agency_staff=403, ops=403),
    ),
    (
        "POST resolve",
        "/v1/cases/{id}/actions",
        dict(
            anonymous=401, operator=403, other_agency_staff=403, ops=403, own_agency_staff=409, supervisor=409
        ),
    ),
    (
        "POST reject",
        "/v1/cases/{id}/actions",
        dict(anonymous=401, operator=403, other_agency_staff=403, ops=403),
    ),
    (
        "POST reroute",
        "/v1/cases/{id}/actions",
        dict(anonymous=401, operator=403, other_agency_staff=403, ops=403),
    ),
    (
        "POST reopen",
        "/v1/cases/{id}/actions",
        dict(
            anonymous=401, own_agency_staff=403, other_agency_staff=403, ops=403, operator=409, supervisor=409
        ),
    ),
    (
        "GET",
        "/v1/status/{code}?phone=4567",
        dict(
            anonymous=200, operator=200, own_agency_staff=200, other_agency_staff=200, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/funnel",
        dict(
            anonymous=401, operator=200, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/funnel.csv",
        dict(
            anonymous=401, operator=200, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/agencies",
        dict(
            anonymous=401, operator=403, own_agency_staff=200, other_agency_staff=200, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/agencies?agency={own}",
        dict(
            anonymous=401, operator=403, own_agency_staff=200, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/agencies.csv",
        dict(
            anonymous=401, operator=403, own_agency_staff=200, other_agency_staff=200, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/counties",
        dict(
            anonymous=401, operator=403, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/counties.csv",
        dict(
            anonymous=401, operator=403, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/weeks",
        dict(
            anonymous=401, operator=403, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
    (
        "GET",
        "/v1/reports/weeks.csv",
        dict(
            anonymous=401, operator=403, own_agency_staff=403, other_agency_staff=403, supervisor=200, ops=200
        ),
    ),
]
BODIES = {
    "note": {"action": "note", "text": "یادداشت آزمایشی"},
    "acknowledge": {"action": "acknowledge"},
    "resolve": {"action": "resolve", "answer": "حل شد"},
    "reject": {"action": "reject", "reason": "تکراری"},
    "reroute": {"action": "reroute", "reason": "مربوط به ما نیست"},
    "reopen": {"action": "reopen", "reason": "راضی نیستم"},
}


@pytest.mark.parametrize(("method", "path", "expected"), MATRIX, ids=[f"{m} {p}" for m, p, _ in MATRIX])
async def test_every_role_on_every_endpoint(
    tracking: ServiceProcess, case: CaseEvents, method: str, path: str, expected: dict[str, int]
) -> None:
    url = path.format(own=OWN.value, other=OTHER.value, id=case.case_id, code=case.code)
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        for role, status in expected.items():
            headers = {**ROLES[role], "X-Forwarded-For": f"10.1.{len(role)}.{uuid.uuid4().int % 250}"}
            if method.startswith("POST"):
                r = await client.post(url, json=BODIES[method.split()[1]], headers=headers)
            else:
                r = await client.get(url, headers=headers)
            assert r.status_code == status, (role, r.status_code, r.text[:300])
            if status >= 400:
                assert r.headers["content-type"].startswith("application/problem+json")
                assert r.json()["title"] and r.json()["title_en"]


async def test_staff_actions_travel_through_kafka_into_the_timeline(tracking: ServiceProcess) -> None:
    c = await routed_case(tracking, "flow")
    staff = ROLES["own_agency_staff"]
    async with httpx.AsyncClient(base_url=tracking.url, headers=staff, timeout=10) as client:
        r = await client.post(
            f"/v1/cases/{c.code}/actions",
            json={"action": "acknowledge"},
            headers={"Idempotency-Key": "ack-1"},
        )
        assert r.status_code == 202, r.text
        ack = r.json()
        assert ack["status_after"] == "in_progress" and not ack["repeated"]
        again = await client.post(
            f"/v1/cases/{c.code}/actions",
            json={"action": "acknowledge"},
            headers={"Idempotency-Key": "ack-1"},
        )
        assert again.status_code == 202 and again.json()["event_id"] == ack["event_id"]
        await wait_case(tracking, c.case_id, lambda d: d["status"] == "in_progress")

        # Resolving needs the answer: a 422 naming the field, in Persian and English.
        missing = await client.post(f"/v1/cases/{c.case_id}/actions", json={"action": "resolve"})
        assert missing.status_code == 422
        assert missing.json()["errors"][0]["field"] == "answer"
        unknown = await client.post(f"/v1/cases/{c.case_id}/actions", json={"action": "explode"})
        assert unknown.status_code == 422

        note = await client.post(
            f"/v1/cases/{c.case_id}/actions",
            json={"action": "note", "text": "شهروند تماس گرفت؛ شماره دوم 09127654321"},
        )
        assert note.status_code == 202
        r = await client.post(
            f"/v1/cases/{c.case_id}/actions", json={"action": "resolve", "answer": "لوله ترکیده تعمیر شد."}
        )
        assert r.status_code == 202, r.text
        doc = await wait_case(tracking, c.case_id, lambda d: d["status"] == "resolved")
        assert doc["answer"] == "لوله ترکیده تعمیر شد."
        assert doc["agency"] == OWN.value and doc["agency_name"]["fa"]
        types = [e["type"].rsplit(".", 1)[-1] for e in doc["timeline"]]
        assert types.count("status_changed") == 2 and "note_added" in types
        entry = next(e for e in doc["timeline"] if e["type"].endswith("note_added"))
        assert entry["actor"] == {"kind": "agency_staff", "id": "staff-own", "agency": OWN.value}
        assert entry["time_jalali"].startswith("14")

        # A second resolve is now illegal: 409 with the reason in both languages.
        conflict = await client.post(
            f"/v1/cases/{c.case_id}/actions", json={"action": "resolve", "answer": "x"}
        )
        assert conflict.status_code == 409
        assert conflict.json()["code"] == "illegal_transition" and conflict.json()["status_now"] == "resolved"

    # The citizen sees the answer, masked phone, no note, no staff ids; with the code in Persian digits.
    async with httpx.AsyncClient(
        base_url=tracking.url, timeout=10, headers={"X-Forwarded-For": "10.9.9.1"}
    ) as client:
        r = await client.get(f"/v1/status/{to_persian_digits(c.code)}", params={"phone": "۰۹۱۵۱۲۳۴۵۶۷"})
        assert r.status_code == 200, r.text
        view = r.json()
        assert view["status"] == "resolved" and view["answer"] == "لوله ترکیده تعمیر شد."
        assert view["agency"]["code"] == OWN.value and view["phone"] == "+98915***4567"
        assert "09127654321" not in r.text and "staff-own" not in r.text and "یادداشت" not in r.text

        # A wrong phone and a wrong code give the same answer.
        wrong_phone = await client.get(f"/v1/status/{c.code}", params={"phone": "1111"})
        other_code = CaseEvents(f"nobody-{uuid.uuid4().hex}").code
        wrong_code = await client.get(f"/v1/status/{other_code}", params={"phone": "4567"})
        garbage = await client.get("/v1/status/12345", params={"phone": "4567"})
        assert wrong_phone.status_code == wrong_code.status_code == garbage.status_code == 404
        assert wrong_phone.json() == wrong_code.json() == garbage.json()


async def test_citizen_lookups_are_rate_limited_per_client_and_per_code(tracking: ServiceProcess) -> None:
    c = await routed_case(tracking, "ratelimit")
    other = await routed_case(tracking, "ratelimit-other")
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        codes = []
        for _ in range(8):
            r = await client.get(
                f"/v1/status/{c.code}", params={"phone": "0000"}, headers={"X-Forwarded-For": "10.7.7.7"}
            )
            codes.append(r.status_code)
        assert codes[:5] == [404] * 5 and codes[5:] == [429] * 3
        assert int(r.headers["retry-after"]) >= 1
        assert r.json()["title"] == "تعداد درخواست‌ها بیش از حد مجاز است؛ کمی بعد دوباره تلاش کنید"
        # The code's five failures are used up: it answers 429 to another client too, the right phone
        # included (a 200 now would confirm a guess).
        locked = await client.get(
            f"/v1/status/{c.code}", params={"phone": "4567"}, headers={"X-Forwarded-For": "10.7.7.8"}
        )
        assert locked.status_code == 429
        # Another client asking about another code is not affected.
        ok = await client.get(
            f"/v1/status/{other.code}", params={"phone": "4567"}, headers={"X-Forwarded-For": "10.7.7.9"}
        )
        assert ok.status_code == 200


async def test_the_agency_queue_filters_and_pages(tracking: ServiceProcess) -> None:
    a = await routed_case(tracking, "queue-a")
    b = CaseEvents(f"api-queue-b-{uuid.uuid4().hex[:8]}")
    await publish([b.registered(county="neyshabur"), b.routed(OWN), b.acknowledged()])
    await wait_case(tracking, b.case_id, lambda d: d["status"] == "in_progress")
    staff = ROLES["own_agency_staff"]
    async with httpx.AsyncClient(base_url=tracking.url, headers=staff, timeout=10) as client:
        r = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"county": "neyshabur"})
        assert r.status_code == 200
        ids = [i["case_id"] for i in r.json()["items"]]
        assert b.case_id in ids and a.case_id not in ids
        r = await client.get(
            f"/v1/agencies/{OWN.value}/cases", params={"status": "in_progress", "page_size": 200}
        )
        assert all(i["status"] == "in_progress" for i in r.json()["items"])
        assert "timeline" not in r.json()["items"][0]
        r = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"status": "open", "page_size": 200})
        assert r.status_code == 200 and {a.case_id, b.case_id} <= {i["case_id"] for i in r.json()["items"]}
        assert {i["status"] for i in r.json()["items"]} <= {
            "routed",
            "in_progress",
            "waiting_for_citizen",
            "reopened",
        }
        wrong = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"status": "opened"})
        assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "status"
        # The fixed test clock puts these cases in 1405-09: both calendars select them.
        for day_from, day_to in (("1405-09-01", "1405-09-10"), ("2026-11-22", "2026-12-01")):
            r = await client.get(
                f"/v1/agencies/{OWN.value}/cases", params={"from": day_from, "to": day_to, "page_size": 200}
            )
            assert {a.case_id, b.case_id} <= {i["case_id"] for i in r.json()["items"]}
        r = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"from": "2026-12-02"})
        assert a.case_id not in {i["case_id"] for i in r.json()["items"]}
        # Overdue: the cases were routed in November 2026 with a 2-working-day deadline.
        r = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"overdue": "true", "page_size": 200})
        overdue = {i["case_id"] for i in r.json()["items"]}
        assert a.case_id in overdue and all(i["overdue"] for i in r.json()["items"])
        fine = await client.get(
            f"/v1/agencies/{OWN.value}/cases", params={"overdue": "false", "page_size": 200}
        )
        assert fine.status_code == 200 and not any(i["overdue"] for i in fine.json()["items"])
        assert a.case_id not in {i["case_id"] for i in fine.json()["items"]}
        page = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"page_size": 1, "page": 2})
        assert page.json()["total"] >= 2 and len(page.json()["items"]) == 1
        bad = await client.get(f"/v1/agencies/{OWN.value}/cases", params={"from": "not-a-date"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "from"
        unknown = await client.get("/v1/agencies/nasa/cases")
        assert unknown.status_code == 422
        missing = await client.get("/v1/cases/no-such-case")
        assert missing.status_code == 404


async def test_reroute_request_is_published_and_history_kept(tracking: ServiceProcess) -> None:
    c = await routed_case(tracking, "reroute")
    async with httpx.AsyncClient(
        base_url=tracking.url, headers=ROLES["own_agency_staff"], timeout=10
    ) as client:
        r = await client.post(
            f"/v1/cases/{c.case_id}/actions", json={"action": "reroute", "reason": "مربوط به شهرداری"}
        )
        assert r.status_code == 202 and r.json()["event_type"] == "ir.samad.case.reroute_requested"
    doc = await wait_case(tracking, c.case_id, lambda d: d["reroute_pending"])
    assert doc["status"] == CaseStatus.registered and doc["agency"] is None
    assert doc["declined_agencies"] == [OWN.value]
    assert doc["agencies"][0]["outcome"] == "declined"
    # The declining agency no longer sees the case.
    async with httpx.AsyncClient(
        base_url=tracking.url, headers=ROLES["own_agency_staff"], timeout=10
    ) as client:
        assert (await client.get(f"/v1/cases/{c.case_id}")).status_code == 403


async def test_openapi_documents_the_api(tracking: ServiceProcess) -> None:
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        spec = (await client.get("/openapi.json")).json()
        assert (await client.get("/docs")).status_code == 200
    for path in (
        "/v1/agencies/{code}/cases",
        "/v1/cases/{ref}",
        "/v1/cases/{ref}/actions",
        "/v1/status/{tracking_code}",
        "/v1/reports/funnel",
        "/v1/reports/agencies.csv",
    ):
        assert path in spec["paths"], path
