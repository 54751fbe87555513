"""The routers on the fakes: every refusal of a use case reaches the caller as its problem document,
and the answers keep their shape (the same routes run on the real stack in the integration tests)."""

from __future__ import annotations

import csv
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from contracts.catalogue import AgencyCode
from services.common.auth import Role
from services.tracking.entrypoints.http import create_app
from services.tracking.entrypoints.reports import csv_lines
from services.tracking.settings import TrackingSettings
from tests.support.tokens import unit_bearer
from tests.unit.tracking.factory import T0, CaseEvents
from tests.unit.tracking.fakes import Fakes

DAY = T0.date().isoformat()


def bearer(role: Role, agency: AgencyCode | None = None, sub: str = "tester") -> dict[str, str]:
    return unit_bearer(role, agency, sub)


STAFF = bearer(Role.agency_staff, AgencyCode.water_wastewater, "staff-1")
OTHER_STAFF = bearer(Role.agency_staff, AgencyCode.education, "staff-2")
OPERATOR = bearer(Role.operator, sub="op-1")
SUPERVISOR = bearer(Role.supervisor, sub="sup-1")


@pytest.fixture
async def fakes() -> Fakes:
    fakes = Fakes(TrackingSettings(status_client_attempts=2))
    c = CaseEvents("h1")
    await fakes.consume([c.registered(), c.routed()])
    return fakes


@pytest.fixture
async def client(fakes: Fakes) -> AsyncIterator[httpx.AsyncClient]:
    # No lifespan: the broker is never started, the fakes need nothing else.
    app = create_app(fakes.tracking)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://tracking"
    ) as client:
        yield client


def problem(r: httpx.Response, status: int) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = r.json()
    assert body["title"] and body["title_en"]
    return body


async def test_a_case_and_its_refusals(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/cases/h1", headers=STAFF)
    assert r.status_code == 200 and r.json()["case_id"] == "h1" and r.json()["agency_name"]["fa"]
    code = r.json()["tracking_code"]
    assert (await client.get(f"/v1/cases/{code}", headers=OPERATOR)).json()["case_id"] == "h1"
    assert (
        problem(await client.get("/v1/cases/h1", headers=OTHER_STAFF), 403)["title_en"]
        == "This case belongs to another agency"
    )
    assert problem(await client.get("/v1/cases/nobody", headers=STAFF), 404)["title_en"] == "Case not found"
    problem(await client.get("/v1/cases/h1"), 401)


async def test_actions_answer_202_409_422_and_403(client: httpx.AsyncClient, fakes: Fakes) -> None:
    url = "/v1/cases/h1/actions"
    r = await client.post(url, json={"action": "acknowledge"}, headers={**STAFF, "Idempotency-Key": "k"})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["status_after"] == "in_progress" and not body["repeated"]
    assert (
        body["event_type"] == "ir.samad.case.status_changed"
        and body["event_id"] == fakes.publisher.events[0].id
    )
    again = await client.post(url, json={"action": "acknowledge"}, headers={**STAFF, "Idempotency-Key": "k"})
    assert again.json()["event_id"] == body["event_id"] and not again.json()["repeated"]  # not applied yet
    conflict = problem(await client.post(url, json={"action": "resolve", "answer": "x"}, headers=STAFF), 409)
    assert conflict["code"] == "illegal_transition" and conflict["status_now"] == "routed"
    missing = problem(await client.post(url, json={"action": "reject"}, headers=STAFF), 422)
    assert missing["errors"][0]["field"] == "reason" and missing["errors"][0]["code"] == "missing"
    blank = problem(await client.post(url, json={"action": "note", "text": "   "}, headers=STAFF), 422)
    assert blank["errors"][0]["field"] == "text"
    forbidden = problem(
        await client.post(url, json={"action": "resolve", "answer": "x"}, headers=OPERATOR), 403
    )
    assert forbidden["detail_en"] == "Only these roles may resolve: agency_staff, supervisor"
    problem(await client.post(url, json={"action": "note", "text": "x"}, headers=OTHER_STAFF), 403)
    problem(await client.post(url, json={"action": "note", "text": "x"}, headers=bearer(Role.ops)), 403)
    problem(
        await client.post("/v1/cases/nobody/actions", json={"action": "note", "text": "x"}, headers=STAFF),
        404,
    )
    assert len(fakes.publisher.events) == 2


async def test_the_citizen_lookup_answers_404_alike_and_429_with_retry_after(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    case = await fakes.cases.get("h1")
    assert case is not None and case.tracking_code
    ok = await client.get(f"/v1/status/{case.tracking_code}", params={"phone": "4567"})
    assert ok.status_code == 200 and ok.json()["status"] == "routed"
    wrong = problem(await client.get(f"/v1/status/{case.tracking_code}", params={"phone": "1111"}), 404)
    assert wrong["title_en"] == "No case with this tracking code and phone number"
    limited = await client.get(f"/v1/status/{case.tracking_code}", params={"phone": "4567"})
    body = problem(limited, 429)
    assert body["title"] == "تعداد درخواست‌ها بیش از حد مجاز است؛ کمی بعد دوباره تلاش کنید"
    # The fake clock stands at a whole hour: the client's one-minute window has all of it to run.
    assert limited.headers["retry-after"] == "60"
    # No proxy is trusted here: X-Forwarded-For from this peer is ignored, the peer is the client.
    forwarded = await client.get(
        f"/v1/status/{case.tracking_code}", params={"phone": "4567"}, headers={"X-Forwarded-For": "10.1.1.1"}
    )
    assert forwarded.status_code == 429
    assert {k for k in fakes.attempts.asked if k.startswith("client:")} == {"client:127.0.0.1"}


async def test_behind_a_trusted_proxy_the_forwarded_client_is_counted() -> None:
    fakes = Fakes(TrackingSettings(status_client_attempts=1, trusted_proxies=["127.0.0.0/8"]))
    c = CaseEvents("proxied")
    await fakes.consume([c.registered()])
    app = create_app(fakes.tracking)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:

        async def ask(*hops: str) -> int:
            headers = {"X-Forwarded-For": ", ".join(hops)} if hops else {}
            r = await client.get(f"/v1/status/{c.code}", params={"phone": "4567"}, headers=headers)
            return r.status_code

        # Each forwarded client has its own attempt; what a client writes left of the proxy's hop
        # does not make it another client.
        assert [await ask("198.51.100.1"), await ask("198.51.100.2")] == [200, 200]
        assert await ask("203.0.113.50", "198.51.100.1") == 429
        assert await ask() == 200  # the proxy itself, asking for itself
    assert [k for k in fakes.attempts.asked if k.startswith("client:")] == [
        "client:198.51.100.1",
        "client:198.51.100.2",
        "client:198.51.100.1",
        "client:127.0.0.1",
    ]


async def test_a_wrong_code_and_a_wrong_phone_get_the_very_same_answer(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    """Status, headers and body byte for byte: nothing tells which of the two was wrong."""
    code = CaseEvents("h1").code
    answers = []
    for ref, phone in ((code, "1111"), (CaseEvents("nobody").code, "4567"), ("12345", "4567")):
        fakes.attempts.taken.clear()  # this test is not about the limit
        r = await client.get(f"/v1/status/{ref}", params={"phone": phone})
        answers.append((r.status_code, sorted(r.headers.items()), r.content))
    assert answers[0][0] == 404 and answers[0] == answers[1] == answers[2]


async def test_the_queue_and_its_bad_dates(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/agencies/water_wastewater/cases", headers=STAFF, params={"page_size": 1})
    assert r.status_code == 200
    assert {k: v for k, v in r.json().items() if k != "items"} == {
        "agency": "water_wastewater",
        "sort": "newest",
        "page": 1,
        "page_size": 1,
        "total": 1,
    }
    assert problem(await client.get("/v1/agencies/education/cases", headers=STAFF), 403)
    bad = problem(
        await client.get("/v1/agencies/water_wastewater/cases", headers=STAFF, params={"to": "nope"}), 422
    )
    assert bad["errors"][0]["field"] == "to"


async def test_reports_as_json_and_csv(client: httpx.AsyncClient) -> None:
    days = {"from": DAY, "to": DAY}
    funnel = (await client.get("/v1/reports/funnel", headers=SUPERVISOR, params=days)).json()
    assert funnel["period"]["from"] == DAY and funnel["cases_registered"] == 1 and funnel["province"] is None
    by_session = (
        await client.get("/v1/reports/funnel", headers=OPERATOR, params={"duty_session_id": "x"})
    ).json()
    assert by_session["duty_session_id"] == "x" and "period" not in by_session
    exported = await client.get("/v1/reports/funnel.csv", headers=SUPERVISOR, params=days)
    assert exported.headers["content-type"].startswith("text/csv") and exported.text.startswith("\ufeff")
    row = next(csv.DictReader(exported.text.lstrip("\ufeff").splitlines()))
    assert row["from"] == DAY and row["cases_registered"] == "1"
    unknown = problem(
        await client.get("/v1/reports/funnel", headers=SUPERVISOR, params={"province": "x"}), 422
    )
    assert unknown["errors"][0]["field"] == "province"
    reversed_ = problem(
        await client.get(
            "/v1/reports/counties", headers=SUPERVISOR, params={"from": "2026-12-01", "to": DAY}
        ),
        422,
    )
    assert reversed_["errors"][0]["field"] == "from"
    own = (await client.get("/v1/reports/agencies", headers=STAFF, params=days)).json()
    assert [r["agency"] for r in own["agencies"]] == ["water_wastewater"] and own["agencies"][0][
        "received"
    ] == 1
    problem(await client.get("/v1/reports/agencies", headers=STAFF, params={"agency": "education"}), 403)
    for name in ("agencies", "counties", "weeks"):
        r = await client.get(f"/v1/reports/{name}.csv", headers=SUPERVISOR, params=days)
        assert (
            r.status_code == 200 and r.headers["content-disposition"] == f'attachment; filename="{name}.csv"'
        )
    weeks = (await client.get("/v1/reports/weeks", headers=SUPERVISOR, params=days)).json()
    assert weeks["period"]["from_jalali"] == "1405-09-04" and weeks["weeks"][0]["cases_registered"] == 1
    problem(await client.get("/v1/reports/weeks", headers=STAFF), 403)


async def test_the_citizen_lookup_reads_every_script_s_digits_and_refuses_look_alikes(
    client: httpx.AsyncClient, fakes: Fakes
) -> None:
    """Fullwidth, Devanagari and Persian digits are digits; superscripts are not: a 422 naming the
    field, never a crash (500) or a different answer for a known and an unknown code."""
    case = await fakes.cases.get("h1")
    assert case is not None and case.tracking_code
    for digits in ("４５６７", "४५६७", "۴۵۶۷"):
        ok = await client.get(f"/v1/status/{case.tracking_code}", params={"phone": digits})
        assert ok.status_code == 200, (digits, ok.text)
        fakes.attempts.taken.clear()  # this test is not about the limit
    for code in (case.tracking_code, "1234567890"):
        fakes.attempts.taken.clear()
        refused = problem(await client.get(f"/v1/status/{code}", params={"phone": "²³¹¹"}), 422)
        assert refused["errors"][0]["field"] == "phone"
    wrong_code = problem(await client.get("/v1/status/²²²²²²²²²²", params={"phone": "4567"}), 422)
    assert wrong_code["errors"][0]["field"] == "tracking_code"


def test_phone_matching_never_crashes_on_other_scripts() -> None:
    from services.tracking.domain.views import phone_matches

    assert phone_matches("+989151234567", "４５６７")
    assert phone_matches("+989151234567", "۰۹۱۵۱۲۳۴۵۶۷")
    assert not phone_matches("+989151234567", "４４４４")


async def test_a_report_over_more_than_a_year_is_refused_naming_from(client: httpx.AsyncClient) -> None:
    for name in ("funnel", "agencies", "counties.csv", "weeks"):
        r = await client.get(
            f"/v1/reports/{name}", headers=SUPERVISOR, params={"from": "1380-01-01", "to": "1405-09-04"}
        )
        body = problem(r, 422)
        [error] = body["errors"]
        assert error["field"] == "from" and error["code"] == "period_too_long"
        assert error["message"].startswith("بازهٔ گزارش حداکثر ۳۶۶ روز است")
        assert "366 days" in error["message_en"]


def test_csv_is_written_a_row_at_a_time() -> None:
    rows = ({"county": f"c{i}", "registered": i} for i in range(3))
    lines = list(csv_lines(rows, ("county", "registered")))
    assert lines == ["\ufeffcounty,registered\r\n", "c0,0\r\n", "c1,1\r\n", "c2,2\r\n"]
    assert list(csv_lines([], ("county",))) == ["\ufeffcounty\r\n"]
