"""Notify's staff API: opting a citizen out and back in, with Persian problems for bad numbers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.common.auth import Role
from services.common.mongo import make_client
from services.notify.entrypoints.http import create_app
from tests.support.identity import bearer
from tests.support.stack import KAFKA, MONGO


@pytest.fixture
async def api(unique: str, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[httpx.AsyncClient]:
    db_name = f"test_notify_api_{unique}"
    monkeypatch.setenv("SAMAD_DB_NAME", db_name)
    monkeypatch.setenv("SAMAD_MONGO_URL", MONGO)
    monkeypatch.setenv("SAMAD_KAFKA_BOOTSTRAP", KAFKA)
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://notify") as client:
        yield client
    mongo = make_client(MONGO, "notify-api-test")
    await mongo.drop_database(db_name)
    await mongo.close()


def auth(role: Role) -> dict[str, str]:
    return bearer(role, sub="staff-7")


async def test_staff_opt_a_citizen_out_and_back_in(api: httpx.AsyncClient) -> None:
    r = await api.post(
        "/v1/optouts", json={"phone": "۰۹۱۲۱۲۳۴۵۶۷", "reason": "به اپراتور گفت"}, headers=auth(Role.operator)
    )
    assert r.status_code == 200
    assert r.json()["phone"] == "+989121234567" and r.json()["opted_out"] is True

    r = await api.get("/v1/optouts/09121234567", headers=auth(Role.operator))
    assert r.json()["opted_out"] is True and r.json()["by"] == "staff-7"

    assert (await api.delete("/v1/optouts/09121234567", headers=auth(Role.operator))).status_code == 403
    r = await api.delete("/v1/optouts/09121234567", headers=auth(Role.supervisor))
    assert r.status_code == 200 and r.json()["opted_out"] is False


async def test_a_number_that_is_not_a_mobile_is_refused_in_persian(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/optouts", json={"phone": "02112345678"}, headers=auth(Role.supervisor))
    assert r.status_code == 422
    body = r.json()
    assert body["errors"][0]["field"] == "phone"
    assert "تلفن همراه" in body["errors"][0]["message"]


async def test_opt_out_needs_a_token(api: httpx.AsyncClient) -> None:
    r = await api.post("/v1/optouts", json={"phone": "09121234567"})
    assert r.status_code == 401
