"""Notify's HTTP routers on the fakes: who may opt a number out or back in, numbers as staff type them,
and the ledger as supervisors read it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.common.auth import Role
from services.notify.adapters.providers.base import ReportStatus
from services.notify.entrypoints.http import create_app
from tests.support.tokens import unit_bearer
from tests.unit.notify.conftest import Rig, make_rig
from tests.unit.notify.factory import PHONE, registered


def auth(role: Role) -> dict[str, str]:
    return unit_bearer(role, sub="staff-7")


@pytest.fixture
async def api() -> AsyncIterator[tuple[httpx.AsyncClient, Rig]]:
    rig = make_rig()
    await rig.notify.start(workers=False)
    app = create_app(rig.notify)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify") as client:
        yield client, rig


async def test_staff_opt_a_number_out_and_only_managers_opt_it_back_in(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    r = await client.post(
        "/v1/optouts", json={"phone": "۰۹۱۲۱۲۳۴۵۶۷", "reason": "گفت"}, headers=auth(Role.operator)
    )
    assert r.status_code == 200
    assert r.json() | {"updated_at": None} == {
        "phone": PHONE,
        "opted_out": True,
        "source": "staff",
        "by": "staff-7",
        "reason": "گفت",
        "updated_at": None,
    }
    assert await rig.optouts.is_opted_out(PHONE)
    assert (await client.delete("/v1/optouts/09121234567", headers=auth(Role.operator))).status_code == 403
    r = await client.delete("/v1/optouts/09121234567", headers=auth(Role.supervisor))
    assert r.status_code == 200 and r.json()["opted_out"] is False


async def test_a_number_never_opted_out_receives_sms(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, _ = api
    r = await client.get("/v1/optouts/+989121234567", headers=auth(Role.operator))
    assert r.json() == {"phone": PHONE, "opted_out": False}


async def test_a_path_number_that_is_not_a_mobile_is_a_422_naming_the_field(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, _ = api
    r = await client.get("/v1/optouts/02112345678", headers=auth(Role.operator))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone"


async def test_the_ledger_shows_each_sms_with_its_history(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    assert (await client.get("/v1/sms", headers=auth(Role.operator))).status_code == 422  # one case at a time
    r = await client.get("/v1/sms?case_id=case-1&state=submitted", headers=auth(Role.supervisor))
    [item] = r.json()["items"]
    assert set(item) == {
        "sms_id", "case_id", "source_event_id", "source_event_type", "template", "recipient", "text",
        "parts", "state", "provider", "provider_message_ids", "part_states", "claims", "not_before", "error",
        "replay_run", "created_at", "updated_at", "history",
    }  # fmt: skip
    assert (item["state"], item["provider_message_ids"], item["claims"]) == ("submitted", ["fake-1"], 1)
    assert [h["to"] for h in item["history"]] == ["pending", "sending", "submitted"]
    assert {p["state"] for p in item["part_states"]} == {"accepted"}  # one id for the whole message
    r = await client.get("/v1/sms?case_id=case-1&state=delivered", headers=auth(Role.supervisor))
    assert r.json() == {"items": []}


async def test_unmatched_receipts_are_listed_for_managers(api: tuple[httpx.AsyncClient, Rig]) -> None:
    client, rig = api
    await rig.notify.provider.start(rig.notify.receipts.on_report, rig.notify.opt_out.on_inbound)
    await rig.provider.report("nobody-knows", ReportStatus.delivered)
    assert (await client.get("/v1/sms/receipts/unmatched", headers=auth(Role.operator))).status_code == 403
    r = await client.get("/v1/sms/receipts/unmatched", headers=auth(Role.ops))
    [item] = r.json()["items"]
    assert (item["message_id"], item["outcome"], item["reported_at"]) == ("nobody-knows", "delivered", None)


async def test_a_verification_code_goes_out_at_once_and_only_the_console_service_may_send_one(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    body = {"phone": "۰۹۱۲ ۱۲۳ ۴۵۶۷", "code": "482913", "minutes": 5}
    assert (
        await client.post("/v1/verification-sms", json=body, headers=auth(Role.operator))
    ).status_code == 403
    r = await client.post("/v1/verification-sms", json=body, headers=auth(Role.supervisor))
    assert r.status_code == 202 and r.json()["parts"] == 1
    sent = rig.provider.accepted[-1]
    assert sent.recipient == PHONE and "۴۸۲۹۱۳" in sent.text and "۵ دقیقه" in sent.text
    # Nothing about the code reaches the ledger.
    assert await rig.notify.lookup.records(case_id=None, state=None, limit=10) == []
    bad = await client.post(
        "/v1/verification-sms",
        json={**body, "code": "12ab", "phone": "0211234"},
        headers=auth(Role.supervisor),
    )
    assert bad.status_code == 422 and "code" in bad.text


async def test_operators_read_the_sms_of_one_case_with_the_number_masked(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    await rig.handle(registered("c-77"))
    r = await client.get("/v1/sms", headers=auth(Role.operator))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "case_id"
    items = (await client.get("/v1/sms?case_id=c-77", headers=auth(Role.operator))).json()["items"]
    assert items and items[0]["recipient"] == PHONE[:6] + "***" + PHONE[-4:] and "text" not in items[0]


async def test_ops_read_the_ledger_with_recipients_and_texts_masked(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    await rig.handle(registered("c-78"))
    ops = (await client.get("/v1/sms?case_id=c-78", headers=auth(Role.ops))).json()["items"]
    assert ops and ops[0]["state"] and ops[0]["personal"] == "masked"
    assert PHONE[-7:] not in str(ops) and ops[0]["recipient"] == PHONE[:-7] + "***" + PHONE[-4:]
    assert ops[0]["text"] == "***"
    full = (await client.get("/v1/sms?case_id=c-78", headers=auth(Role.supervisor))).json()["items"]
    assert full[0]["recipient"] == PHONE and full[0]["text"] != "***"


async def test_every_read_of_the_ledger_goes_to_the_read_audit_without_personal_data(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    await rig.handle(registered("c-79"))
    await client.get(
        "/v1/sms?case_id=c-79", headers={**auth(Role.ops), "X-Samad-Purpose": "console /desk/cases/{ref}/sms"}
    )
    await client.get("/v1/sms?case_id=c-79", headers=auth(Role.supervisor))
    await client.get("/v1/sms?case_id=c-79", headers=auth(Role.operator))
    await rig.notify.read_audit.batches.flush()
    assert [
        (r["user"], r["role"], r["case_id"], r["disclosure"], r["screen"]) for r in rig.read_audit.records
    ] == [
        ("staff-7", "ops", "c-79", "masked", "console /desk/cases/{ref}/sms"),
        ("staff-7", "supervisor", "c-79", "shown", None),
        ("staff-7", "operator", "c-79", "masked", None),
    ]
    assert all(r["endpoint"] == "GET /v1/sms" and r["client"] == "127.0.0.1" for r in rig.read_audit.records)
    assert PHONE[-7:] not in str(rig.read_audit.records)


async def test_staff_preview_the_sms_their_answer_becomes_with_its_parts(
    api: tuple[httpx.AsyncClient, Rig],
) -> None:
    client, rig = api
    staff = unit_bearer(Role.agency_staff, "water_wastewater", "staff-7")
    body = {
        "template": "resolved",
        "tracking_code": "9876543210",
        "agency": "water_wastewater",
        "answer": "لوله تعمیر شد و آب وصل است.",
    }
    r = await client.post("/v1/sms/preview", json=body, headers=staff)
    assert r.status_code == 200, r.text
    shown = r.json()
    assert "۹۸۷۶۵۴۳۲۱۰" in shown["text"] and "لوله تعمیر شد و آب وصل است." in shown["text"]
    assert "شرکت آب و فاضلاب مشهد" in shown["text"]
    assert shown["encoding"] == "ucs2" and shown["parts"] == 2 and shown["per_part"] == 67
    assert shown["characters"] == len(shown["text"]) and not shown["shortened"]
    # A long answer is cut to fit two parts, and says so.
    long = await client.post("/v1/sms/preview", json=body | {"answer": "آب " * 200}, headers=staff)
    assert long.json()["parts"] == 2 and long.json()["shortened"] and "…" in long.json()["text"]
    # Nothing was recorded or sent.
    assert rig.ledger.records == {}
    bad = await client.post("/v1/sms/preview", json=body | {"template": "nope"}, headers=staff)
    assert bad.status_code == 422
