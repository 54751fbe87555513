"""The read audit on the real stack: tracking as its own process, FerretDB and Keycloak's tokens. Each
read of a case leaves one record in tracking's database (who, role, case, client behind the trusted
proxy, endpoint, screen, shown or masked) that holds none of the citizen's data; supervisors query it;
records still queued when tracking is stopped cleanly are written before it exits."""

from __future__ import annotations

import json
import signal
import uuid
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from contracts.catalogue import AgencyCode
from services.common.auth import PURPOSE_HEADER, Role
from tests.integration.tracking.conftest import bearer, publish
from tests.integration.tracking.test_api import wait_case
from tests.support.identity import state
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.unit.tracking.factory import PHONE, CaseEvents

NAME = "مریم رضایی"
DESCRIPTION = "سه روز است آب محله قطع است."


async def registered(tracking: ServiceProcess) -> CaseEvents:
    c = CaseEvents(f"audit-{uuid.uuid4().hex[:8]}")
    await publish([c.registered(), c.routed(AgencyCode.water_wastewater)])
    await wait_case(tracking, c.case_id, lambda d: d["status"] == "routed")
    return c


async def records(
    mongo: AsyncMongoClient[dict[str, Any]], db: str, case_id: str, n: int
) -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        docs = await mongo[db]["read_audit"].find({"case_id": case_id}).to_list(None)
        return docs if len(docs) >= n else None

    result: list[dict[str, Any]] = await wait_for(found, timeout=30, interval=0.3)
    return result


async def test_each_read_is_recorded_without_personal_data_and_supervisors_query_it(
    tracking: ServiceProcess, tracking_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    c = await registered(tracking)
    ops = bearer(Role.ops, sub="ops-1")
    operator = bearer(Role.operator, sub="op-1")
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        seen = await client.get(
            f"/v1/cases/{c.case_id}",
            headers={**ops, PURPOSE_HEADER: "console /desk/cases/{ref}", "X-Forwarded-For": "203.0.113.9"},
        )
        assert seen.status_code == 200 and seen.json()["personal"] == "masked"
        assert PHONE not in seen.text and NAME not in seen.text and DESCRIPTION not in seen.text
        handled = await client.get(
            f"/v1/cases/{c.case_id}", headers=operator, params={"caller_phone": "09151234567"}
        )
        assert handled.json()["personal"] == "shown" and handled.json()["citizen"]["phone"] == PHONE
    # The supervisor's read in wait_case came first; the two above follow.
    docs = await records(mongo, tracking_db, c.case_id, 3)
    mine = {(d["user"], d["disclosure"]): d for d in docs}
    ops_read = mine[("ops-1", "masked")]
    assert ops_read["role"] == "ops" and ops_read["client"] == "203.0.113.9"
    assert ops_read["endpoint"] == "GET /v1/cases/{ref}" and ops_read["screen"] == "console /desk/cases/{ref}"
    assert mine[("op-1", "shown")]["client"] == "127.0.0.1"
    raw = json.dumps(docs, default=str, ensure_ascii=False)
    for personal in (PHONE, "9151234567", NAME, DESCRIPTION):
        assert personal not in raw
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        sup = bearer(Role.supervisor, sub="sup-1")
        r = await client.get("/v1/audit/reads", headers=sup, params={"case_id": c.case_id, "user": "ops-1"})
        assert r.status_code == 200, r.text
        assert [(i["user"], i["disclosure"], i["client"]) for i in r.json()["items"]] == [
            ("ops-1", "masked", "203.0.113.9")
        ]
        bad = await client.get("/v1/audit/reads", headers=sup, params={"to": "1405-13-40"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "to"
        assert (await client.get("/v1/audit/reads", headers=ops)).status_code == 403


async def test_records_still_queued_at_a_clean_stop_are_written(
    tracking: ServiceProcess, tracking_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    c = await registered(tracking)
    # A second tracking on the same database that would write its records only an hour from now.
    quiet = ServiceProcess(
        "tracking",
        free_port(),
        {
            "SAMAD_DB_NAME": tracking_db,
            "SAMAD_CONSUMER_GROUP_PREFIX": f"test.tracking.quiet.{uuid.uuid4().hex[:6]}",
            "SAMAD_CONSUMER_OFFSET_RESET": "latest",
            "SAMAD_SWEEP_INTERVAL_SECONDS": "0",
            "SAMAD_READ_AUDIT_INTERVAL_SECONDS": "3600",
        },
        log_dir(),
    ).start(timeout=120)
    try:
        async with httpx.AsyncClient(base_url=quiet.url, timeout=10) as client:
            for _ in range(3):
                r = await client.get(f"/v1/cases/{c.case_id}", headers=bearer(Role.ops, sub="ops-quiet"))
                assert r.status_code == 200
        assert await mongo[tracking_db]["read_audit"].count_documents({"user": "ops-quiet"}) == 0
    finally:
        # SIGTERM: uvicorn's clean shutdown runs tracking's shutdown hooks, then exits (0 or by the signal).
        assert quiet.stop() in (0, -signal.SIGTERM), quiet.log_tail()
    assert await mongo[tracking_db]["read_audit"].count_documents({"user": "ops-quiet"}) == 3


async def test_notify_hands_its_reads_over_with_the_services_client_and_nobody_else_can(
    tracking: ServiceProcess, tracking_db: str, mongo: AsyncMongoClient[dict[str, Any]]
) -> None:
    services = state()["services_client"]
    async with httpx.AsyncClient(timeout=30) as client:
        granted = await client.post(
            state()["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(services["client_id"], services["client_secret"]),
        )
        granted.raise_for_status()
        service_token = {"Authorization": f"Bearer {granted.json()['access_token']}"}
    record = {
        "at": "2026-12-05T20:00:00+00:00",
        "user": "ops-sms",
        "role": "ops",
        "case_id": f"sms-{uuid.uuid4().hex[:8]}",
        "client": "10.1.2.3",
        "endpoint": "GET /v1/sms",
        "screen": "console /desk/cases/{case_id}/sms",
        "disclosure": "masked",
    }
    async with httpx.AsyncClient(base_url=tracking.url, timeout=10) as client:
        r = await client.post("/v1/audit/reads", json={"records": [record]}, headers=service_token)
        assert r.status_code == 202, r.text
        person = await client.post(
            "/v1/audit/reads", json={"records": [record]}, headers=bearer(Role.supervisor, sub="sup-1")
        )
        assert person.status_code == 403
    (doc,) = await records(mongo, tracking_db, record["case_id"], 1)
    assert (doc["user"], doc["endpoint"], doc["client"], doc["disclosure"]) == (
        "ops-sms",
        "GET /v1/sms",
        "10.1.2.3",
        "masked",
    )
