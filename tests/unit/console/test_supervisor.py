"""The governorate supervisor's pages on fakes: the dashboard (period, duty session, county; Persian
digits; every case count linked; charts fed from JSON, never inline script), the cases behind a number,
the CSV exports, the duty wall, the triage desk and the duty roster (routing's refusals beside their
fields). Only a supervisor opens them (ops reads the dashboard); every POST needs the CSRF token."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import httpx
import pytest

from services.common.auth import Principal, Role
from services.common.clock import FixedClock
from services.console.adapters.identity import FakeProvider
from services.console.adapters.platform import ApiRefused, InMemoryPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.domain.forms import Form
from services.console.domain.supervisor import (
    Period,
    cases_url,
    hours_fa,
    number_fa,
    read_day,
    read_time,
    roster_body,
    this_week,
    trend_of,
)
from services.console.entrypoints.http import create_app
from services.console.service.live import Hub
from services.console.service.supervisor import funnel_changes, funnel_topic
from services.console.settings import ConsoleSettings

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # Thursday 1405-09-05, 09:30 in Tehran
SATURDAY, FRIDAY = date(2026, 11, 21), date(2026, 11, 27)
SUPERVISOR = Principal("sup-1", Role.supervisor, name="ناظر استان", province="khorasan_razavi")


@dataclass
class Rig:
    client: httpx.AsyncClient
    platform: InMemoryPlatform
    who: dict[str, Principal]


def scenario(platform: InMemoryPlatform) -> None:
    """Tracking's and routing's answers: the source document's duty session and a week of reports."""
    platform.reports = {
        "funnel": {"calls_received": 110, "calls_answered": 81, "cases_registered": 65, "cases_referred": 65},
        "agencies": {
            "agencies": [
                {
                    "agency": "education",
                    "agency_fa": "آموزش و پرورش",
                    "received": 16,
                    "acknowledged": 12,
                    "acknowledged_within_sla": 10,
                    "acknowledged_within_sla_pct": 83.3,
                    "resolved": 9,
                    "median_hours_to_resolve": 30.5,
                    "p90_hours_to_resolve": 70.0,
                    "currently_overdue": 2,
                },
                {
                    "agency": "welfare",
                    "agency_fa": "بهزیستی",
                    "received": 0,
                    "acknowledged": 0,
                    "acknowledged_within_sla": 0,
                    "acknowledged_within_sla_pct": None,
                    "resolved": 0,
                    "median_hours_to_resolve": None,
                    "p90_hours_to_resolve": None,
                    "currently_overdue": 0,
                },
            ]
        },
        "weeks": {
            "weeks": [
                {
                    "week_start": "2026-11-14",
                    "calls_received": 40,
                    "calls_answered": 30,
                    "cases_registered": 20,
                    "cases_referred": 19,
                    "cases_resolved": 5,
                },
                {
                    "week_start": "2026-11-21",
                    "calls_received": 70,
                    "calls_answered": 51,
                    "cases_registered": 45,
                    "cases_referred": 46,
                    "cases_resolved": 7,
                },
            ]
        },
        "counties": {
            "counties": [
                {
                    "county": "gonabad",
                    "registered": 4,
                    "referred": 4,
                    "resolved": 1,
                    "rejected": 0,
                    "open": 3,
                    "currently_overdue": 1,
                    "median_hours_to_resolve": None,
                }
            ]
        },
    }
    platform.triage_items = [
        {
            "case_id": "case-t1",
            "subject": "درخواست پیگیری",
            "registered_at": "2026-11-26T05:00:00+00:00",
            "reason": "low_confidence",
            "candidates": [
                {"agency": "welfare", "score": 0.31},
                {"agency": "social_security", "score": 0.22},
            ],
            "explanation": ["واژهٔ «مستمری» به بهزیستی نزدیک است"],
            "declined_agencies": [],
        }
    ]
    platform.cases["case-t1"] = {
        "case_id": "case-t1",
        "tracking_code": "1234567890",
        "subject": "درخواست پیگیری",
        "description": "سلام، لطفاً پیگیری کنید",
        "county": "mashhad",
        "status": "triage",
        "status_fa": "در حال بررسی",
        "open": True,
        "agency": None,
    }


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    platform = InMemoryPlatform()
    scenario(platform)
    who = {"principal": SUPERVISOR}

    async def verify(_token: str) -> Principal:
        return who["principal"]

    async def service_token() -> str:
        return "service-token"

    container = bootstrap(
        ConsoleSettings(console_url="http://console.test"),
        platform=platform,
        sessions=InMemorySessionStore(),
        counters=InMemoryCounters(),
        identity=FakeProvider(),
        verify_token=verify,
        service_token=service_token,
        with_broker=False,
        clock=FixedClock(NOW),
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(container)), base_url="http://console.test"
    ) as client:
        yield Rig(client, platform, who)


async def sign_in(rig: Rig, then: str) -> httpx.Response:
    r = await rig.client.get(then)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    r = await rig.client.get(r.headers["location"])
    r = await rig.client.get(r.headers["location"].removeprefix("http://console.test"))
    assert r.status_code == 303
    return await rig.client.get(then)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF field on the page"
    return found.group(1)


def asked(rig: Rig, what: str) -> list[dict[str, Any]]:
    return [body for name, body in rig.platform.calls if name == what]


# --- the pure parts ------------------------------------------------------------------------------------


def test_days_and_hours_are_read_in_any_digits_and_either_calendar() -> None:
    assert read_day("۱۴۰۵/۰۹/۰۱") == read_day("1405-9-1") == read_day("05.09.01") == date(2026, 11, 22)
    assert read_day("2026-11-22") == date(2026, 11, 22)
    for bad in ("1405/13/01", "دیروز", "1405/09"):
        with pytest.raises(ValueError):
            read_day(bad)
    assert read_time("۹") == read_time("09:00") and read_time("۱۴٫۳۰").minute == 30
    assert number_fa(12345) == "۱۲٬۳۴۵" and number_fa(None) == "—" and hours_fa(30.5) == "۱ روز و ۶ ساعت"


def test_the_default_period_is_this_iranian_week_and_the_trend_twelve_weeks() -> None:
    week = this_week(NOW.date())
    assert (week.first, week.last) == (SATURDAY, FRIDAY)
    trend = trend_of(week)
    assert trend.last == FRIDAY and (week.first - trend.first).days == 77 and trend.first.weekday() == 5
    long = Period(date(2026, 1, 3), FRIDAY)
    assert trend_of(long).first == date(2026, 1, 3)


def test_the_roster_form_becomes_routings_body_or_says_what_to_fix() -> None:
    form = Form(
        {
            "week_start": "۱۴۰۵/۰۸/۳۰",
            "agency": "education",
            "director_name": "دکتر احمدی",
            "day0_start": "۹",
            "day0_end": "۱۲:۳۰",
            "day2_start": "10:00",
            "day2_end": "11:00",
        },
        (),
    )
    typed = roster_body(form)
    assert typed is not None and form.ok
    body, rows = typed
    assert body["week_start"] == "2026-11-21" and rows == [0, 2]
    assert body["hours"] == [
        {"date": "2026-11-21", "start": "09:00", "end": "12:30"},
        {"date": "2026-11-23", "start": "10:00", "end": "11:00"},
    ]
    empty = Form({"week_start": "x"}, ())
    assert roster_body(empty) is None
    assert set(empty.errors) == {"week_start", "agency", "director_name", "day0_start"}


# --- roles and CSRF --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "principal",
    [
        Principal("op-1", Role.operator, name="اپراتور", province="khorasan_razavi"),
        Principal("st-1", Role.agency_staff, name="کارشناس", province="khorasan_razavi"),
    ],
)
async def test_an_operator_or_agency_staff_gets_403_on_every_supervisor_page(
    rig: Rig, principal: Principal
) -> None:
    rig.who["principal"] = principal
    await sign_in(rig, "/desk/find")
    for path in (
        "/dashboard",
        "/dashboard/cases?report=funnel&measure=cases_registered",
        "/dashboard/export/funnel.csv",
        "/duty",
        "/duty/panel",
        "/live/duty",
        "/triage",
        "/roster",
        "/roster/new",
    ):
        r = await rig.client.get(path)
        assert r.status_code == 403, path
    page = await rig.client.get("/desk/find")
    token = csrf_of(page.text)
    for path in ("/triage/case-t1", "/roster/new"):
        assert (
            await rig.client.post(path, data={"csrf_token": token, "agency": "welfare"})
        ).status_code == 403
    assert not asked(rig, "route_triage") and not asked(rig, "add_roster_entry")
    assert "داشبورد استان" not in page.text and "برنامهٔ کشیک" not in page.text


async def test_ops_reads_the_dashboard_and_the_wall_but_not_triage_or_the_roster(rig: Rig) -> None:
    rig.who["principal"] = Principal("ops-1", Role.ops, name="پشتیبانی", province="khorasan_razavi")
    page = await sign_in(rig, "/dashboard")
    assert page.status_code == 200 and "داشبورد استان" in page.text and 'href="/triage"' not in page.text
    assert (await rig.client.get("/duty")).status_code == 200
    assert (await rig.client.get("/triage")).status_code == 403
    assert (await rig.client.get("/roster")).status_code == 403


async def test_every_post_needs_the_sessions_csrf_token(rig: Rig) -> None:
    await sign_in(rig, "/roster")
    rig.platform.roster_entries["r-9"] = {
        "id": "r-9",
        "week_start": "2026-11-21",
        "agency": "education",
        "agency_fa": "آموزش و پرورش",
        "director_name": "دکتر احمدی",
        "hours": [{"date": "2026-11-21", "start": "09:00", "end": "12:00"}],
    }
    for path, data in (
        ("/triage/case-t1", {"agency": "welfare"}),
        ("/roster/new", {"week_start": "1405/08/30"}),
        ("/roster/r-9/move", {"week_start": "1405/08/30"}),
        ("/roster/r-9/remove", {}),
    ):
        assert (await rig.client.post(path, data=data)).status_code == 403, path
        assert (await rig.client.post(path, data={**data, "csrf_token": "forged"})).status_code == 403, path
    assert not [
        c
        for c in rig.platform.calls
        if c[0] in ("route_triage", "add_roster_entry", "move_roster_entry", "remove_roster_entry")
    ]
    assert "r-9" in rig.platform.roster_entries


# --- the dashboard ---------------------------------------------------------------------------------------


async def test_the_dashboard_shows_this_weeks_funnel_in_persian_with_each_case_count_linked(rig: Rig) -> None:
    page = await sign_in(rig, "/dashboard")
    assert page.status_code == 200
    funnel = asked(rig, "report")[0]
    assert funnel == {"name": "funnel", "from": "2026-11-21", "to": "2026-11-27"}
    table = page.text.split('id="funnel-table"')[1].split("</table>")[0]
    cells = re.findall(r'<td class="num" data-count>(?:<a href="([^"]*)">)?([۰-۹٬]+)', table)
    assert [n for _u, n in cells] == ["۱۱۰", "۸۱", "۶۵", "۶۵"]
    assert [u for u, _n in cells][:2] == ["", ""]  # calls are not cases: no list behind them
    referred = cells[3][0].replace("&amp;", "&")
    assert referred == cases_url("funnel", "cases_referred", Period(SATURDAY, FRIDAY))
    assert "شنبه ۳۰ آبان ۱۴۰۵ تا جمعه ۶ آذر ۱۴۰۵" in page.text
    # The charts' numbers come in JSON blocks; no inline script runs.
    scripts = re.findall(r"<script(?![^>]*\bsrc=)([^>]*)>", page.text)
    assert scripts and all('type="application/json"' in attrs for attrs in scripts)
    assert '"data": [110, 81, 65, 65]' in page.text or '"data":[110,81,65,65]' in page.text.replace(" ", "")
    assert 'aria-label="نمودار قیف — تماس دریافتی: ۱۱۰' in page.text
    # Per agency, with the overdue count linked to the agency's queue; a zero links nowhere.
    row = page.text.split('data-agency="education"')[1].split("</tr>")[0]
    assert "۸۳٪" in row and "۱ روز و ۷ ساعت" not in row and "۱ روز و ۶ ساعت" in row
    assert "overdue=true" in row and "agency=education" in row
    welfare = page.text.split('data-agency="welfare"')[1].split("</tr>")[0]
    assert "<a " not in welfare
    assert "هفتهٔ ۲۳ آبان ۱۴۰۵" in page.text and "گناباد" in page.text


async def test_a_duty_session_a_county_or_typed_days_choose_what_the_dashboard_shows(rig: Rig) -> None:
    await sign_in(rig, "/dashboard")
    rig.platform.calls.clear()
    page = await rig.client.get("/dashboard", params={"session": "duty-1396-12-08-education"})
    assert page.status_code == 200
    assert asked(rig, "report")[0] == {"name": "funnel", "duty_session_id": "duty-1396-12-08-education"}
    assert "session=duty-1396-12-08-education" in page.text  # the case counts link to the session's lists
    assert "/dashboard/export/funnel.csv?duty_session_id=duty-1396-12-08-education" in page.text

    rig.platform.calls.clear()
    page = await rig.client.get(
        "/dashboard", params={"from": "۱۳۹۶/۱۲/۰۸", "to": "1396-12-08", "county": "gonabad"}
    )
    assert page.status_code == 200
    assert asked(rig, "report")[0] == {"name": "funnel", "from": "2018-02-27", "to": "2018-02-27"}
    assert "پرونده‌های شهرستان گناباد" in page.text and "county=gonabad" in page.text

    bad = await rig.client.get("/dashboard", params={"from": "1405/13/01", "county": "atlantis"})
    assert bad.status_code == 422
    assert 'href="#from"' in bad.text and 'href="#county"' in bad.text and 'value="1405/13/01"' in bad.text

    rig.platform.refuse["report"] = ApiRefused(
        422, "نامعتبر", [{"field": "to", "message": "روز پایان پیش از آغاز است"}]
    )
    refused = await rig.client.get("/dashboard", params={"from": "1405/09/01", "to": "1405/09/02"})
    assert refused.status_code == 422 and "روز پایان پیش از آغاز است" in refused.text


async def test_the_cases_behind_a_number_come_from_tracking_and_overdue_from_the_agencys_queue(
    rig: Rig,
) -> None:
    await sign_in(rig, "/dashboard")
    rig.platform.cases["case-t1"]["agency"] = "education"
    listed = await rig.client.get(
        "/dashboard/cases",
        params={
            "report": "funnel",
            "measure": "cases_referred",
            "session": "duty-1396-12-08-education",
            "page": "2",
        },
    )
    assert listed.status_code == 200
    assert asked(rig, "report_cases")[-1] == {
        "report": "funnel",
        "measure": "cases_referred",
        "duty_session_id": "duty-1396-12-08-education",
        "page": "2",
        "page_size": "50",
    }
    assert "پرونده‌های ارجاع‌شده به دستگاه — جلسهٔ کشیک duty-1396-12-08-education" in listed.text
    assert "۱۲۳ ۴۵۶ ۷۸۹۰" in listed.text and 'href="/desk/cases/case-t1"' in listed.text
    overdue = await rig.client.get(
        "/dashboard/cases",
        params={
            "report": "agencies",
            "measure": "currently_overdue",
            "agency": "education",
            "overdue": "true",
        },
    )
    assert overdue.status_code == 200 and "آموزش و پرورش" in overdue.text
    assert asked(rig, "agency_queue")[-1] == {
        "agency": "education",
        "overdue": "true",
        "page": "1",
        "page_size": "50",
    }
    rig.platform.refuse["report_cases"] = ApiRefused(422, "ستون این گزارش شناخته نیست", [])
    refused = await rig.client.get("/dashboard/cases", params={"report": "funnel", "measure": "x"})
    assert refused.status_code == 422 and "ستون این گزارش شناخته نیست" in refused.text


async def test_the_csv_exports_stream_trackings_csv_with_the_persons_token(rig: Rig) -> None:
    await sign_in(rig, "/dashboard")
    r = await rig.client.get(
        "/dashboard/export/funnel.csv", params={"from": "2026-11-21", "to": "2026-11-27", "x": "y"}
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="samad-funnel.csv"'
    assert r.text.lstrip("\ufeff").splitlines()[1] == "110,81,65,65"
    assert asked(rig, "report_csv")[-1] == {"name": "funnel", "from": "2026-11-21", "to": "2026-11-27"}
    assert (await rig.client.get("/dashboard/export/secrets.csv")).status_code == 404


# --- the duty wall ---------------------------------------------------------------------------------------


async def test_the_wall_shows_the_director_on_duty_and_the_sessions_funnel(rig: Rig) -> None:
    rig.platform.duty = {
        "on_duty": True,
        "session_id": "s-today",
        "starts_at": "2026-11-26T05:30:00+00:00",
        "ends_at": "2026-11-26T08:30:00+00:00",
        "entry": {"director_name": "دکتر احمدی", "director_title": None, "agency_fa": "آموزش و پرورش"},
    }
    page = await sign_in(rig, "/duty")
    assert page.status_code == 200 and "دکتر احمدی" in page.text and "مدیرکل آموزش و پرورش" in page.text
    assert 'sse-connect="/live/duty"' in page.text and 'hx-trigger="sse:funnel, every 30s"' in page.text
    assert re.findall(r'data-stage="\d">([^<]+)<', page.text) == ["۱۱۰", "۸۱", "۶۵", "۶۵"]
    assert asked(rig, "report")[-1] == {"name": "funnel", "duty_session_id": "s-today"}
    assert "تا ساعت ۱۲:۰۰" in page.text  # Tehran time
    panel = await rig.client.get("/duty/panel")
    assert panel.status_code == 200 and "<html" not in panel.text and "دکتر احمدی" in panel.text
    rig.platform.duty = None
    nobody = await rig.client.get("/duty/panel")
    assert "اکنون مدیرکل کشیکی در مرکز نیست" in nobody.text


# --- the triage desk -------------------------------------------------------------------------------------


async def test_triage_shows_why_and_routes_with_one_choice_answering_in_place(rig: Rig) -> None:
    page = await sign_in(rig, "/triage")
    assert "واژهٔ «مستمری» به بهزیستی نزدیک است" in page.text and "سلام، لطفاً پیگیری کنید" in page.text
    assert "۱۲۳ ۴۵۶ ۷۸۹۰" in page.text and "اطمینان ۳۱٪" in page.text and "مشهد" in page.text
    token = csrf_of(page.text)
    r = await rig.client.post(
        "/triage/case-t1",
        data={
            "csrf_token": token,
            "agency": "welfare",
            "note": " با تلفن روشن شد ",
            "subject": "درخواست پیگیری",
        },
        headers={"HX-Request": "true"},
    )
    assert r.status_code == 200 and "پروندهٔ «درخواست پیگیری» به سازمان بهزیستی ارجاع شد" in r.text
    assert "<html" not in r.text
    assert rig.platform.routed == [("case-t1", "welfare", "با تلفن روشن شد")]
    again = await rig.client.post(
        "/triage/case-t1",
        data={"csrf_token": token, "agency": "social_security"},
        headers={"HX-Request": "true"},
    )
    assert again.status_code == 422 and "کس دیگری آن را ارجاع داده است" in again.text


async def test_triage_without_javascript_and_another_agency_chosen(rig: Rig) -> None:
    page = await sign_in(rig, "/triage")
    r = await rig.client.post(
        "/triage/case-t1",
        data={"csrf_token": csrf_of(page.text), "agency": "other", "other_agency": "education"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/triage"
    after = await rig.client.get("/triage")
    assert "آموزش و پرورش ارجاع شد" in after.text and "پرونده‌ای در انتظار تعیین دستگاه نیست" in after.text
    assert rig.platform.routed == [("case-t1", "education", None)]


# --- the duty roster -------------------------------------------------------------------------------------


def roster_form(token: str, **over: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "week_start": "۱۴۰۵/۰۸/۳۰",
        "agency": "education",
        "director_name": "دکتر احمدی",
        "day0_start": "۹",
        "day0_end": "۱۲",
        **over,
    }


async def test_a_roster_entry_is_created_moved_and_removed(rig: Rig) -> None:
    page = await sign_in(rig, "/roster/new")
    token = csrf_of(page.text)
    r = await rig.client.post("/roster/new", data=roster_form(token))
    assert r.status_code == 303 and r.headers["location"] == "/roster"
    assert asked(rig, "add_roster_entry")[-1]["hours"] == [
        {"date": "2026-11-21", "start": "09:00", "end": "12:00"}
    ]
    listing = await rig.client.get("/roster")
    assert (
        "افزوده شد" in listing.text
        and "دکتر احمدی" in listing.text
        and "شنبه ۳۰ آبان: ۰۹:۰۰ تا ۱۲:۰۰" in listing.text
    )
    assert "http://console.test/roster/calendar.ics" in listing.text

    moving = await rig.client.get("/roster/r-1/move")
    assert 'value="۱۴۰۵/۰۸/۳۰"' in moving.text and 'value="۰۹:۰۰"' in moving.text
    r = await rig.client.post(
        "/roster/r-1/move",
        data=roster_form(token, day0_start="", day0_end="", day1_start="14", day1_end="16"),
    )
    assert r.status_code == 303
    assert asked(rig, "move_roster_entry")[-1]["hours"] == [
        {"date": "2026-11-22", "start": "14:00", "end": "16:00"}
    ]
    assert "جابه‌جا شد" in (await rig.client.get("/roster")).text

    confirm = await rig.client.get("/roster/r-1/remove")
    assert "این برنامهٔ کشیک حذف شود؟" in confirm.text
    r = await rig.client.post("/roster/r-1/remove", data={"csrf_token": token})
    assert r.status_code == 303 and rig.platform.roster_entries == {}
    assert "حذف شد" in (await rig.client.get("/roster")).text
    assert (await rig.client.get("/roster/r-1/move")).status_code == 404


async def test_routings_refusals_come_back_beside_their_fields(rig: Rig) -> None:
    page = await sign_in(rig, "/roster/new")
    token = csrf_of(page.text)
    rig.platform.roster_entries["other"] = {
        "id": "other",
        "week_start": "2026-11-21",
        "agency": "welfare",
        "agency_fa": "بهزیستی",
        "director_name": "مهندس کریمی",
        "hours": [{"date": "2026-11-23", "start": "10:00", "end": "11:00"}],
    }
    rig.platform.refuse["add_roster_entry"] = ApiRefused(
        409,
        "ساعت‌ها با کشیک مدیرکل دیگری هم‌پوشانی دارد: بهزیستی، مهندس کریمی",
        [],
        doc={"conflicts": [{"id": "other", "reason": "The hours overlap another director-general's duty"}]},
    )
    r = await rig.client.post("/roster/new", data=roster_form(token, day2_start="۹:۳۰", day2_end="۱۰:۳۰"))
    assert r.status_code == 422
    assert 'href="#day2_start"' in r.text and 'href="#day0_start"' not in r.text
    assert (
        "دوشنبه: ساعت‌ها با کشیک مدیرکل دیگری هم‌پوشانی دارد: بهزیستی، مهندس کریمی؛ هفته یا ساعت دیگری را انتخاب کنید"
        in r.text
    )
    assert 'value="۹:۳۰"' in r.text  # what was typed is kept

    rig.platform.refuse["add_roster_entry"] = ApiRefused(
        422,
        "درخواست نامعتبر است",
        [
            {"field": "week_start", "message": "هفته باید از شنبه شروع شود"},
            {"field": "hours.1.end", "message": "ساعت پایان باید بعد از ساعت شروع باشد"},
        ],
    )
    r = await rig.client.post("/roster/new", data=roster_form(token, day3_start="12", day3_end="9"))
    assert r.status_code == 422
    assert 'href="#week_start"' in r.text and 'href="#day3_end"' in r.text
    assert 'id="day3_end-error"' in r.text and 'aria-invalid="true"' in r.text

    rig.platform.refuse.pop("add_roster_entry")
    r = await rig.client.post("/roster/new", data=roster_form(token, day0_start="نه صبح"))
    assert r.status_code == 422 and "ساعت شروع شنبه را مثل ۹:۰۰ یا ۱۲:۳۰ بنویسید" in r.text
    assert not asked(rig, "add_roster_entry")[2:]


async def test_the_calendar_is_public(rig: Rig) -> None:
    r = await rig.client.get("/roster/calendar.ics")
    assert (
        r.status_code == 200
        and r.headers["content-type"].startswith("text/calendar")
        and "BEGIN:VCALENDAR" in r.text
    )


async def test_a_burst_of_changes_makes_one_wall_reload_after_it_settles() -> None:
    hub = Hub()
    left = asyncio.Event()

    async def gone() -> bool:
        return left.is_set()

    reloads: list[float] = []

    async def wall() -> None:
        async for _ in funnel_changes(hub, gone, settle=0.2, ping=0.05):
            reloads.append(asyncio.get_running_loop().time())

    watching = asyncio.create_task(wall())
    await asyncio.sleep(0.05)
    started = asyncio.get_running_loop().time()
    for _ in range(30):  # an imported call log: thirty events at once
        hub.publish(funnel_topic(), {"event": "funnel"})
    await asyncio.sleep(0.4)
    assert len(reloads) == 1 and reloads[0] - started >= 0.2
    hub.publish(funnel_topic(), {"event": "funnel"})
    await asyncio.sleep(0.4)
    assert len(reloads) == 2
    left.set()
    await asyncio.wait_for(watching, 1)
    assert funnel_topic() not in hub.watchers  # the page's queue is gone with it
