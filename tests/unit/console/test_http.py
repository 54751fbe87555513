"""The console's routes on fakes (the platform, the identity provider, the stores): sign-in and its
session, CSRF, who may open which page, the desk's submit, the citizen's status and one-time codes."""

from __future__ import annotations

import copy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from starlette.requests import Request

from services.common.auth import Principal, Role
from services.console.adapters.identity import FakeProvider
from services.console.adapters.platform import ApiRefused, InMemoryPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.entrypoints.auth import safe_next
from services.console.entrypoints.http import create_app
from services.console.entrypoints.web import LIVE_KEY, granted, live_grant, new_live_key
from services.console.settings import ConsoleSettings


@dataclass
class Rig:
    client: httpx.AsyncClient
    platform: InMemoryPlatform
    sessions: InMemorySessionStore
    who: dict[str, Principal]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    platform, sessions = InMemoryPlatform(), InMemorySessionStore()
    who = {"principal": Principal("operator1", Role.operator, name="زهرا احمدی", province="khorasan_razavi")}

    async def verify(_token: str) -> Principal:
        return who["principal"]

    async def service_token() -> str:
        return "service-token"

    container = bootstrap(
        ConsoleSettings(console_url="http://console.test", otp_per_phone_hour=2),
        platform=platform,
        sessions=sessions,
        counters=InMemoryCounters(),
        identity=FakeProvider(),
        verify_token=verify,
        service_token=service_token,
        with_broker=False,
    )
    app = create_app(container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as client:
        yield Rig(client, platform, sessions, who)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


async def sign_in(rig: Rig, then: str = "/desk") -> httpx.Response:
    r = await rig.client.get(then)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = await rig.client.get(r.headers["location"])  # to the provider, which answers with a code
    callback = r.headers["location"].removeprefix("http://console.test")
    r = await rig.client.get(callback)
    assert r.status_code == 303 and r.headers["location"] == then
    return await rig.client.get(then)


async def test_signing_in_gives_a_new_session_id_and_shows_who_and_which_role(rig: Rig) -> None:
    await rig.client.get("/")  # an anonymous session first (a planted id must not survive sign-in)
    before = rig.client.cookies.get("samad_session")
    page = await sign_in(rig)
    after = rig.client.cookies.get("samad_session")
    assert before and after and before != after
    assert page.status_code == 200 and "زهرا احمدی" in page.text and "اپراتور" in page.text
    cookie = page.request.headers.get("cookie", "")
    assert "samad_session" in cookie
    assert len(rig.sessions.docs) == 1  # the anonymous session was removed at sign-in


async def test_the_session_cookie_is_httponly_samesite_and_holds_only_an_id(rig: Rig) -> None:
    r = await rig.client.get("/status")
    header = r.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header  # local http
    value = header.split(";")[0].split("=", 1)[1]
    assert value not in repr(rig.sessions.docs)  # the store keeps a hash of it


async def test_every_form_needs_the_sessions_csrf_token(rig: Rig) -> None:
    page = await sign_in(rig)
    body = {"outcome": "missed", "caller_phone": "09151234567", "started_at": "2026-12-05T10:00:00+00:00"}
    refused = await rig.client.post("/desk", data=body)
    assert refused.status_code == 403 and "منقضی" in refused.text
    forged = await rig.client.post("/desk", data={**body, "csrf_token": "forged"})
    assert forged.status_code == 403
    assert not [c for c in rig.platform.calls if c[0] == "log_call"]
    ok = await rig.client.post("/desk", data={**body, "csrf_token": csrf_of(page.text), "form_key": "k1"})
    assert ok.status_code == 200 and "تماس ثبت شد" in ok.text


async def test_an_answered_call_registers_a_case_with_the_chosen_agency_and_why(rig: Rig) -> None:
    page = await sign_in(rig)
    form = {
        "csrf_token": csrf_of(page.text),
        "form_key": "k2",
        "started_at": "2026-12-05T10:00:00+00:00",
        "caller_phone": "۰۹۱۵ ۱۲۳ ۴۵۶۷",
        "outcome": "answered",
        "county": "مشهد",
        "subject": "سرویس مدرسه",
        "description": "سرویس مدرسه دخترم یک هفته است نمی‌آید",
        "suggested_agency": "roads_urban_development",
        "agency_choice": "other",
        "other_agency": "education",
        "override_reason": "سرویس مدرسه با آموزش و پرورش است",
    }
    done = await rig.client.post("/desk", data=form)
    assert done.status_code == 200 and "پرونده ثبت شد" in done.text and "۱۰۰ ۰۰۰ ۰۰۰۱" in done.text
    # One request to intake for the call and its case (intake links the case to the call it logs).
    [(what, sent)] = [
        c for c in rig.platform.calls if c[0] in ("log_call", "register_case", "log_call_with_case")
    ]
    call, case = sent["call"], sent["case"]
    assert what == "log_call_with_case" and "call_id" not in case
    assert call["outcome"] == "answered" and call["duty_session_id"] is None
    assert case["agency"] == "education" and case["phone"] == "۰۹۱۵ ۱۲۳ ۴۵۶۷"
    assert "سرویس مدرسه با آموزش و پرورش است" in case["agency_reason"]
    # Sent again (a double click): the same keys, so the same call and case.
    again = await rig.client.post("/desk", data=form)
    assert "۱۰۰ ۰۰۰ ۰۰۰۱" in again.text and len(rig.platform.cases) == 1


async def test_the_page_with_the_new_code_watches_its_case_without_a_session_write(rig: Rig) -> None:
    page = await sign_in(rig)
    saved = copy.deepcopy(rig.sessions.docs)
    form = {
        "csrf_token": csrf_of(page.text),
        "form_key": "k-live",
        "started_at": "2026-12-05T10:00:00+00:00",
        "caller_phone": "09151234567",
        "outcome": "answered",
        "county": "مشهد",
        "subject": "قطعی آب",
        "description": "آب محله از دیروز قطع است",
        "suggested_agency": "water_wastewater",
        "agency_choice": "suggested",
    }
    done = await rig.client.post("/desk", data=form)
    assert done.status_code == 200 and "پرونده ثبت شد" in done.text
    # The submit wrote nothing into the session (one database write fewer while the operator waits).
    assert rig.sessions.docs == saved
    found = re.search(r'sse-connect="/live/cases/([^"?]+)\?grant=([0-9a-f]+)"', done.text)
    assert found, "the page watches its case with a grant"
    case_id, grant = found.groups()
    [(data, _expires)] = rig.sessions.docs.values()
    session = Request({"type": "http", "session": data})
    assert granted(session, case_id, grant)
    # Another case, a forged grant or no grant: the watch asks the services, who know no such case.
    rig.platform.cases.clear()
    for path in (f"/live/cases/{case_id}?grant={'0' * 64}", f"/live/cases/{case_id}", "/live/cases/c-other"):
        assert (await rig.client.get(path)).status_code == 404, path


def test_a_watch_grant_holds_for_its_own_session_and_case_only() -> None:
    mine = Request({"type": "http", "session": {LIVE_KEY: new_live_key()}})
    other = Request({"type": "http", "session": {LIVE_KEY: new_live_key()}})
    grant = live_grant(mine, "case-1")
    assert grant and granted(mine, "case-1", grant)
    assert not granted(mine, "case-2", grant) and not granted(other, "case-1", grant)
    assert not granted(mine, "case-1", None) and not granted(mine, "case-1", "")
    keyless = Request({"type": "http", "session": {}})  # a session from before sessions had a key
    assert live_grant(keyless, "case-1") is None and not granted(keyless, "case-1", grant)


async def test_a_refused_field_comes_back_beside_it_with_everything_typed_kept(rig: Rig) -> None:
    page = await sign_in(rig)
    rig.platform.refuse["log_call_with_case"] = ApiRefused(
        422,
        "نامعتبر",
        [
            {"field": "case.county", "message": "شهرستان شناخته‌شده نیست"},
            {"field": "call.started_at", "message": "زمان تماس در آینده است"},
        ],
    )
    r = await rig.client.post(
        "/desk",
        data={
            "csrf_token": csrf_of(page.text),
            "caller_phone": "09151234567",
            "outcome": "answered",
            "county": "آتلانتیس",
            "subject": "قطعی آب",
            "description": "آب قطع است از دیروز",
        },
    )
    assert r.status_code == 422
    assert 'href="#county"' in r.text and "شهرستان شناخته‌شده نیست" in r.text
    assert 'href="#outcome"' in r.text and "زمان تماس در آینده است" in r.text  # a call's field with no box
    assert 'value="آتلانتیس"' in r.text and "آب قطع است از دیروز" in r.text


async def test_when_a_service_is_down_the_form_comes_back_filled(rig: Rig) -> None:
    page = await sign_in(rig)
    rig.platform.down.add("log_call")
    r = await rig.client.post(
        "/desk",
        data={"csrf_token": csrf_of(page.text), "caller_phone": "09151234567", "outcome": "missed"},
    )
    assert r.status_code == 422 and "دوباره «ثبت» را بزنید" in r.text and 'value="09151234567"' in r.text


async def test_a_supervisor_on_duty_tags_their_calls_with_the_session(rig: Rig) -> None:
    rig.who["principal"] = Principal("dg-water", Role.supervisor, name="مدیرکل", province="khorasan_razavi")
    rig.platform.duty = {
        "on_duty": True,
        "session_id": "duty-1405-09-14-water",
        "ends_at": "2026-12-05T12:00:00+00:00",
        "entry": {"director_name": "مهندس رضایی", "agency_fa": "آب و فاضلاب", "director_title": None},
    }
    page = await sign_in(rig)
    assert "مهندس رضایی" in page.text
    await rig.client.post(
        "/desk",
        data={"csrf_token": csrf_of(page.text), "caller_phone": "09151234567", "outcome": "missed"},
    )
    call = next(body for what, body in rig.platform.calls if what == "log_call")
    assert call["duty_session_id"] == "duty-1405-09-14-water"


async def test_agency_staff_cannot_sit_at_the_desk(rig: Rig) -> None:
    rig.who["principal"] = Principal(
        "staff-water", Role.agency_staff, agency=None, province="khorasan_razavi"
    )
    await rig.client.get("/desk/find")
    r = await rig.client.get("/login?next=/desk")
    await rig.client.get(r.headers["location"].removeprefix("http://console.test"))
    assert (await rig.client.get("/desk")).status_code == 403


async def test_signing_out_ends_the_session_here_and_at_the_provider(rig: Rig) -> None:
    page = await sign_in(rig)
    r = await rig.client.post("/logout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303 and r.headers["location"].startswith("https://sso.invalid/logout")
    assert rig.sessions.docs == {}
    assert (await rig.client.get("/desk")).status_code == 303


def test_only_a_path_on_this_site_is_followed_after_sign_in() -> None:
    assert safe_next("/desk?x=1") == "/desk?x=1"
    for bad in ("//evil.example/", "https://evil.example/", "/\\evil", None, ""):
        assert safe_next(bad) is None


async def test_a_citizen_gets_the_same_words_for_a_wrong_code_or_phone(rig: Rig) -> None:
    page = await rig.client.get("/status")
    r = await rig.client.post(
        "/status", data={"csrf_token": csrf_of(page.text), "tracking_code": "1000000001", "phone": "1111"}
    )
    assert r.status_code == 422 and "هر دو را دوباره بررسی کنید" in r.text
    lookups = [body for what, body in rig.platform.calls if what == "citizen_status"]
    assert lookups == [{"code": "1000000001", "phone": "1111", "client": "127.0.0.1"}]


async def test_one_time_codes_are_limited_per_phone(rig: Rig) -> None:
    page = await rig.client.get("/register/phone")
    token = csrf_of(page.text)
    for _ in range(2):
        r = await rig.client.post("/register/phone", data={"csrf_token": token, "phone": "09151234567"})
        assert r.status_code == 303
    r = await rig.client.post("/register/phone", data={"csrf_token": token, "phone": "۰۹۱۵۱۲۳۴۵۶۷"})
    assert r.status_code == 422 and "بیش از حد" in r.text
    assert [p for p, _, _ in rig.platform.codes_sent] == ["+989151234567"] * 2


async def test_the_online_form_cannot_skip_the_code(rig: Rig) -> None:
    assert (await rig.client.get("/register/details")).headers["location"] == "/register/phone"
    page = await rig.client.get("/register/phone")
    await rig.client.post("/register/phone", data={"csrf_token": csrf_of(page.text), "phone": "09151234567"})
    assert (await rig.client.get("/register/details")).headers["location"] == "/register/phone"
    _, code, _ = rig.platform.codes_sent[-1]
    page = await rig.client.get("/register/code")
    r = await rig.client.post("/register/code", data={"csrf_token": csrf_of(page.text), "code": code})
    assert r.headers["location"] == "/register/details"
    assert (await rig.client.get("/register/details")).status_code == 200
