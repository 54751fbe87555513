"""The agency's inbox on fakes: staff see their own agency's cases only (lists, crafted addresses, live
updates), the list's filters and badges, every action answering in place with its confirmation (and
refusals beside the field, everything typed kept), the SMS preview, and the escalation queues."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseNoteAdded, CaseRerouteRequested, make_event
from services.common.auth import Principal, Role
from services.console.adapters.identity import FakeProvider
from services.console.adapters.platform import InMemoryPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import ConsoleContainer, bootstrap
from services.console.domain.inbox import Filters, badge
from services.console.entrypoints.http import create_app
from services.console.service.inbox import escalation_topic, inbox_topic
from services.console.service.live import case_topic
from services.console.settings import ConsoleSettings
from tests.unit.console.test_http import csrf_of

TOKEN = "token-of-the-person"
WATER_STAFF = Principal(
    "staff-water",
    Role.agency_staff,
    agency=AgencyCode.water_wastewater,
    name="رضا کریمی",
    province="khorasan_razavi",
)
WATER_HEAD = Principal(
    "head-water",
    Role.agency_staff,
    agency=AgencyCode.water_wastewater,
    name="محمود صادقی",
    province="khorasan_razavi",
    agency_head=True,
)


def sla(state: str, left: int) -> dict[str, Any]:
    return {"due": "2026-12-05T20:29:59+00:00", "state": state, "working_days_left": left, "hours_left": 1.0}


def case(case_id: str, agency: str, status: str = "routed", **extra: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "tracking_code": f"{1000000000 + len(case_id) * 7 + ord(case_id[-1])}",
        "agency": agency,
        "status": status,
        "subject": f"موضوع {case_id}",
        "description": "شرح",
        "county": "mashhad",
        "citizen": {"phone": "+989151234567", "name": "مریم"},
        "registered_at": "2026-12-05T06:00:00+00:00",
        "overdue": False,
        "sla": {"acknowledge": sla("pending", 2), "resolve": sla("pending", 8)},
        "timeline": [],
        **extra,
    }


@dataclass
class Rig:
    client: httpx.AsyncClient
    platform: InMemoryPlatform
    container: ConsoleContainer
    who: dict[str, Principal]


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    platform = InMemoryPlatform()
    platform.token_agency[TOKEN] = "water_wastewater"
    platform.cases = {
        "w1": case("w1", "water_wastewater"),
        "w2": case(
            "w2",
            "water_wastewater",
            "in_progress",
            overdue=True,
            sla={"acknowledge": sla("met", 0), "resolve": sla("overdue", -2)},
        ),
        "e1": case("e1", "education", subject="پروندهٔ آموزش و پرورش"),
    }
    platform.staff["water_wastewater"] = [
        {"id": "staff-water", "name": "رضا کریمی", "head": False},
        {"id": "staff-3", "name": "سارا امینی", "head": False},
    ]
    who = {"principal": WATER_STAFF}

    async def verify(_token: str) -> Principal:
        return who["principal"]

    async def service_token() -> str:
        return "service-token"

    container = bootstrap(
        ConsoleSettings(console_url="http://console.test"),
        platform=platform,
        sessions=InMemorySessionStore(),
        counters=InMemoryCounters(),
        identity=FakeProvider(TOKEN),
        verify_token=verify,
        service_token=service_token,
        with_broker=False,
    )
    app = create_app(container)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://console.test"
    ) as client:
        yield Rig(client, platform, container, who)


async def sign_in(rig: Rig, then: str | None = "/inbox") -> httpx.Response:
    """Sign in on the way to ``then`` (None: straight from the sign-in link, to the role's home)."""
    r = await rig.client.get(then) if then else None
    r = await rig.client.get(r.headers["location"] if r is not None else "/login")
    r = await rig.client.get(r.headers["location"].removeprefix("http://console.test"))
    assert r.status_code == 303, r.text
    return await rig.client.get(r.headers["location"])


# --- the list -------------------------------------------------------------------------------------------


async def test_agency_staff_land_in_their_agency_s_inbox_and_see_nothing_of_another(rig: Rig) -> None:
    page = await sign_in(rig, None)
    assert page.url.path == "/inbox" and page.status_code == 200
    assert "کارتابل شرکت آب و فاضلاب مشهد" in page.text
    assert "موضوع w1" in page.text and "موضوع w2" in page.text
    assert "آموزش و پرورش" not in page.text
    queue = [body for what, body in rig.platform.calls if what == "agency_queue"]
    assert queue[-1]["agency"] == "water_wastewater"
    # The overdue case says so in words, not colour alone; the other its working days left.
    assert "دیرکرد" in page.text and "۲ روز کاری گذشته" in page.text and "۲ روز کاری مانده" in page.text
    assert 'href="/inbox"' in page.text and "کارتابل دستگاه" in page.text
    assert "پیگیری دیرکردها" not in page.text  # not a head


async def test_a_crafted_address_shows_nothing_of_another_agency(rig: Rig) -> None:
    await sign_in(rig)
    for path in ("/inbox/cases/e1", "/inbox/cases/e1/summary", "/inbox/cases/e1/timeline"):
        r = await rig.client.get(path)
        assert r.status_code == 404 and "آموزش و پرورش" not in r.text and "موضوع e1" not in r.text
    page = await rig.client.get("/inbox/cases/w1")
    r = await rig.client.post(
        "/inbox/cases/e1/act", data={"csrf_token": csrf_of(page.text), "action": "acknowledge"}
    )
    assert r.status_code == 404 and not rig.platform.actions
    # Even if a service answered with another agency's case, the inbox would not show it.
    rig.platform.token_agency.clear()
    r = await rig.client.get("/inbox/cases/e1")
    assert r.status_code == 404 and "موضوع e1" not in r.text


async def test_the_filters_reach_tracking_and_the_address_keeps_them(rig: Rig) -> None:
    await sign_in(rig)
    r = await rig.client.get("/inbox?status=in_progress&overdue=yes&assignee=me&sort=urgent&county=mashhad")
    assert r.status_code == 200
    sent = [body for what, body in rig.platform.calls if what == "agency_queue"][-1]
    assert sent | {"agency": None} == {
        "agency": None,
        "status": "in_progress",
        "overdue": "true",
        "assignee": "staff-water",  # "mine" is the signed-in person
        "sort": "urgent",
        "county": "mashhad",
        "page": 1,
        "page_size": 25,
    }
    assert 'value="in_progress" selected' in r.text and 'value="urgent" selected' in r.text
    # Nonsense in the address falls back to the defaults rather than failing the page.
    assert Filters.of({"status": "hacked", "sort": "x", "page": "-3"}) == Filters()
    assert Filters(status="routed", page=3).query(page=4) == "status=routed&page=4"


async def test_the_inbox_lists_the_open_cases_first_and_the_finished_ones_on_request(rig: Rig) -> None:
    rig.platform.cases["w3"] = case("w3", "water_wastewater", "resolved", subject="پروندهٔ پاسخ‌داده")
    await sign_in(rig)
    plain = await rig.client.get("/inbox")
    sent = [body for what, body in rig.platform.calls if what == "agency_queue"][-1]
    assert sent["status"] == "open" and 'value="open" selected' in plain.text
    assert "موضوع w1" in plain.text and "پروندهٔ پاسخ‌داده" not in plain.text
    everything = await rig.client.get("/inbox?status=all")
    sent = [body for what, body in rig.platform.calls if what == "agency_queue"][-1]
    assert "status" not in sent and 'value="all" selected' in everything.text
    assert "موضوع w1" in everything.text and "پروندهٔ پاسخ‌داده" in everything.text
    finished = await rig.client.get("/inbox?status=resolved")
    assert "پروندهٔ پاسخ‌داده" in finished.text and "موضوع w1" not in finished.text
    # The default view keeps a clean address; the others keep their view.
    assert Filters().query(page=2) == "page=2" and Filters(status="all").query() == "status=all"


def test_badges_say_what_they_mean() -> None:
    assert badge(sla("overdue", -3)) is not None and badge(sla("overdue", -3)).text == "دیرکرد"  # type: ignore[union-attr]
    assert badge(sla("pending", 1)).tone == "amber"  # type: ignore[union-attr]
    assert badge(sla("pending", 0)).words == "امروز"  # type: ignore[union-attr]
    assert badge(sla("paused", 3)).words == "در انتظار پاسخ شهروند"  # type: ignore[union-attr]
    assert badge(sla("met", 0)).text == "انجام شد" and badge(None) is None  # type: ignore[union-attr]


# --- acting on a case -------------------------------------------------------------------------------


async def test_every_action_answers_in_place_with_a_persian_confirmation(rig: Rig) -> None:
    await sign_in(rig)
    page = await rig.client.get("/inbox/cases/w1")
    assert page.status_code == 200 and "پذیرش پرونده" in page.text
    token = csrf_of(page.text)
    hx = {"HX-Request": "true", "X-CSRF-Token": token}
    steps = [
        ({"action": "acknowledge"}, "پرونده پذیرفته شد"),
        ({"action": "assign", "assignee": "staff-3"}, "پرونده به سارا امینی سپرده شد"),
        ({"action": "ask", "question": "پلاک منزل را بفرمایید"}, "پرسش برای شهروند پیامک شد"),
        ({"action": "resume"}, "رسیدگی ادامه یافت"),
        ({"action": "note", "text": "با شهروند تماس گرفتم"}, "یادداشت داخلی ثبت شد"),
        ({"action": "resolve", "answer": "لوله تعمیر شد"}, "پاسخ ثبت شد"),
    ]
    for n, (data, said) in enumerate(steps):
        r = await rig.client.post("/inbox/cases/w1/act", data={**data, "form_key": f"k{n}"}, headers=hx)
        assert r.status_code == 200, r.text
        assert said in r.text and 'id="case-panel"' in r.text and "<html" not in r.text
    sent = [(body["action"], key) for _, body, key in rig.platform.actions]
    assert sent == [(d["action"], f"k{n}") for n, (d, _) in enumerate(steps)]
    assert rig.platform.actions[1][1]["assignee"] == "staff-3"
    assert rig.platform.actions[2][1]["question"] == "پلاک منزل را بفرمایید"


async def test_reject_and_decline_and_a_declined_case_leaves_the_inbox(rig: Rig) -> None:
    await sign_in(rig)
    page = await rig.client.get("/inbox/cases/w2")
    hx = {"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)}
    r = await rig.client.post(
        "/inbox/cases/w2/act", data={"action": "reroute", "reason": "مربوط به شهرداری"}, headers=hx
    )
    assert "پرونده برای ارجاع به دستگاه مسئول دیگر بازگشت" in r.text
    rig.platform.cases["w1"]["status"] = "in_progress"
    r = await rig.client.post(
        "/inbox/cases/w1/act", data={"action": "reject", "reason": "تکراری"}, headers=hx
    )
    assert "پرونده رد شد" in r.text


async def test_a_missing_answer_is_said_beside_the_field_and_nothing_typed_is_lost(rig: Rig) -> None:
    await sign_in(rig)
    rig.platform.cases["w1"]["status"] = "in_progress"
    page = await rig.client.get("/inbox/cases/w1")
    r = await rig.client.post(
        "/inbox/cases/w1/act",
        data={"csrf_token": csrf_of(page.text), "action": "resolve", "answer": "  ", "form_key": "k9"},
    )
    assert r.status_code == 422 and not rig.platform.actions
    assert 'href="#resolve-answer"' in r.text and "پاسخ به شهروند را بنویسید" in r.text
    assert 'value="k9"' in r.text  # the same submit again is the same action
    # Not allowed in the case's state (here: acknowledging a case in progress).
    r = await rig.client.post(
        "/inbox/cases/w1/act", data={"csrf_token": csrf_of(page.text), "action": "acknowledge"}
    )
    assert r.status_code == 422 and "در وضعیت کنونی پرونده ممکن نیست" in r.text
    # Tracking's refusal lands beside the field it names, the text kept.
    from services.console.adapters.platform import ApiRefused

    rig.platform.refuse["act"] = ApiRefused(
        422,
        "نامعتبر",
        [{"field": "assignee", "message": "این شخص در فهرست کارکنان دستگاه مسئول پرونده نیست"}],
    )
    r = await rig.client.post(
        "/inbox/cases/w1/act", data={"csrf_token": csrf_of(page.text), "action": "assign", "assignee": "x"}
    )
    assert r.status_code == 422 and 'href="#assign-assignee"' in r.text and "فهرست کارکنان" in r.text


async def test_the_answer_s_sms_is_previewed_with_its_parts(rig: Rig) -> None:
    await sign_in(rig)
    rig.platform.cases["w1"]["status"] = "in_progress"
    page = await rig.client.get("/inbox/cases/w1")
    assert "پاسخ‌های آماده" in page.text and "رفع قطعی آب" in page.text  # the agency's ready answers
    r = await rig.client.post(
        "/inbox/cases/w1/preview",
        data={"template": "resolved", "answer": "لوله تعمیر شد و آب وصل است"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(page.text)},
    )
    assert r.status_code == 200 and "بخش پیامک" in r.text and "لوله تعمیر شد و آب وصل است" in r.text
    assert rig.platform.previews[-1] == {
        "template": "resolved",
        "tracking_code": rig.platform.cases["w1"]["tracking_code"],
        "agency": "water_wastewater",
        "answer": "لوله تعمیر شد و آب وصل است",
    }


# --- escalations --------------------------------------------------------------------------------------


async def test_the_escalation_queue_is_the_head_s_and_the_supervisor_s(rig: Rig) -> None:
    rig.platform.cases["w2"]["escalation"] = {
        "active": True,
        "agency": "water_wastewater",
        "reached": ["agency_head"],
        "slas": ["resolve"],
        "deadline": "2026-12-01T20:29:59+00:00",
        "steps": [{"level": 1, "to": "agency_head", "at": "2026-12-02T06:00:00+00:00"}],
    }
    await sign_in(rig)
    assert (await rig.client.get("/inbox/escalations")).status_code == 403  # staff, not the head
    rig.who["principal"] = WATER_HEAD
    await rig.client.post("/logout", data={"csrf_token": csrf_of((await rig.client.get("/inbox")).text)})
    page = await sign_in(rig, "/inbox/escalations")
    assert page.status_code == 200 and "موضوع w2" in page.text and "رئیس دستگاه" in page.text
    assert "پیگیری دیرکردها" in page.text


# --- live -----------------------------------------------------------------------------------------------


async def test_the_live_feed_pushes_a_case_only_to_its_agency_s_pages(rig: Rig) -> None:
    feed, hub = rig.container.inbox_feed, rig.container.hub
    async with (
        hub.watch(inbox_topic("water_wastewater")) as water,
        hub.watch(inbox_topic("education")) as edu,
    ):
        feed.publish(rig.platform.cases["w1"])
        row = water.get_nowait()
        assert row["event"] == "row" and json.loads(row["data"])["case_id"] == "w1"
        assert (
            'id="case-w1"' in json.loads(row["data"])["html"]
            and "موضوع w1" in json.loads(row["data"])["html"]
        )
        assert edu.empty()
        # Declined: the water company's pages drop it; nothing reaches education until routed there.
        moved = {**rig.platform.cases["w1"], "agency": None}
        feed.publish(moved)
        assert water.get_nowait()["event"] == "gone" and edu.empty()
        feed.publish({**moved, "agency": "education"})
        assert edu.get_nowait()["event"] == "row" and water.empty()


async def test_the_live_feed_waits_for_tracking_to_apply_the_event(rig: Rig) -> None:
    """The inbox's row and the pages open on the case hear of an event only once tracking shows it:
    told at once, an open case's page would reload the state before the event and stay there."""
    feed, hub = rig.container.inbox_feed, rig.container.hub
    note = make_event(CaseNoteAdded(case_id="w1", text="x", actor=_staff()), source="/t")
    async with hub.watch(inbox_topic("water_wastewater")) as water, hub.watch(case_topic("w1")) as page:
        feed.saw([note])
        await asyncio.sleep(0.2)
        assert water.empty() and page.empty()  # tracking has not applied it yet
        rig.platform.cases["w1"]["timeline"] = [{"event_id": note.id}]
        message = await asyncio.wait_for(water.get(), 2)
        assert json.loads(message["data"])["case_id"] == "w1"
        assert (await asyncio.wait_for(page.get(), 2))["event"] == "case"
        fetched = [body for what, body in rig.platform.calls if what == "case"]
        assert fetched and all(b == {"ref": "w1"} for b in fetched)


async def test_a_declined_case_is_dropped_from_the_agency_that_declined_it(rig: Rig) -> None:
    feed, hub = rig.container.inbox_feed, rig.container.hub
    decline = make_event(
        CaseRerouteRequested(case_id="w1", agency=AgencyCode.water_wastewater, reason="x", actor=_staff()),
        source="/t",
    )
    rig.platform.cases["w1"] |= {"agency": None, "timeline": [{"event_id": decline.id}]}
    async with (
        hub.watch(inbox_topic("water_wastewater")) as water,
        hub.watch(escalation_topic("supervisor")) as sup,
    ):
        feed.saw([decline])
        message = await asyncio.wait_for(water.get(), 2)
        assert message == {"event": "gone", "data": json.dumps({"case_id": "w1"})}
        assert sup.empty()


def _staff() -> Any:
    from contracts.events import Actor, ActorKind

    return Actor(kind=ActorKind.agency_staff, id="staff-water", agency=AgencyCode.water_wastewater)


async def test_the_citizen_reads_what_the_agency_asked_and_how_to_answer(rig: Rig) -> None:
    rig.platform.cases["w1"] |= {
        "status": "waiting_for_citizen",
        "status_fa": "در انتظار پاسخ شهروند",
        "question": "پلاک منزل را بفرمایید",
        "phone": "+989151234567",
    }
    page = await rig.client.get("/status")
    r = await rig.client.post(
        "/status",
        data={
            "csrf_token": csrf_of(page.text),
            "tracking_code": rig.platform.cases["w1"]["tracking_code"],
            "phone": "4567",
        },
    )
    assert r.status_code == 200 and "دستگاه مسئول از شما پرسیده است" in r.text
    assert "پلاک منزل را بفرمایید" in r.text and "تماس با ۱۱۱" in r.text


async def test_the_live_feed_fetches_nothing_while_no_page_could_show_the_change(rig: Rig) -> None:
    feed, hub = rig.container.inbox_feed, rig.container.hub
    note = make_event(CaseNoteAdded(case_id="w1", text="x", actor=_staff()), source="/t")
    rig.platform.cases["w1"]["timeline"] = [{"event_id": note.id}]
    feed.saw([note])  # nobody watches an inbox, an escalation queue or the case
    await asyncio.sleep(0.1)
    assert not [body for what, body in rig.platform.calls if what == "case"]
    async with hub.watch(case_topic("w1")) as page:
        feed.saw([note])
        assert (await asyncio.wait_for(page.get(), 2))["event"] == "case"
    async with hub.watch(inbox_topic("education")) as _other_agency:
        feed.saw([note])  # an inbox is open: its agency is known only once the case is read
        await asyncio.sleep(0.2)
    assert len([body for what, body in rig.platform.calls if what == "case"]) == 2
