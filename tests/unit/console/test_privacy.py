"""The console's side of least privilege and the read audit: masked personal data shown as such, the
caller being handled passed with the case read, every call naming its screen, and the supervisor's page
of the read audit (Persian, Jalali, tracking's refusals beside their fields, supervisors only)."""

# ruff: noqa: F811 (the supervisor pages' rig fixture, imported, is every test's argument)
from __future__ import annotations

import httpx

from services.common.auth import PURPOSE_HEADER, Principal, Role
from services.common.clock import FixedClock
from services.console.adapters.identity import FakeProvider
from services.console.adapters.platform import ApiRefused, HttpPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.entrypoints.http import create_app
from services.console.settings import ConsoleSettings
from tests.unit.console.test_supervisor import NOW, Rig, asked, rig, sign_in  # noqa: F401

OPERATOR = Principal("op-9", Role.operator, name="اپراتور", province="khorasan_razavi")
READ = {
    "at": "2026-11-26T06:00:00+00:00",
    "at_jalali": "۱۴۰۵/۰۹/۰۵ ۰۹:۳۰",
    "user": "ops1",
    "role": "ops",
    "case_id": "case-t1",
    "client": "10.0.0.7",
    "endpoint": "GET /v1/cases/{ref}",
    "screen": "console /desk/cases/{ref}",
    "disclosure": "masked",
}


async def test_the_supervisor_reads_the_read_audit_in_persian(rig: Rig) -> None:
    rig.platform.reads = [READ, READ | {"user": "sup-1", "role": "supervisor", "disclosure": "shown"}]
    page = await sign_in(rig, "/audit?case_id=case-t1&from=۱۴۰۵/۰۹/۰۱")
    assert page.status_code == 200
    assert asked(rig, "audit_reads")[-1] == {"case_id": "case-t1", "from": "۱۴۰۵/۰۹/۰۱", "page": "1"}
    html = page.text
    assert "۲ بار خواندن" in html and "پشتیبانی فنی" in html and "ناظر استان" in html
    assert "پوشیده" in html and "نمایش داده شد" in html and "console /desk/cases/{ref}" in html
    assert "10.0.0.7" in html and "۱۴۰۵/۰۹/۰۵ ۰۹:۳۰" in html
    rig.platform.refuse["audit_reads"] = ApiRefused(
        422, "درخواست نامعتبر است", [{"field": "from", "message": "تاریخ معتبر نیست؛ نمونه: ۱۴۰۵-۰۹-۰۱"}]
    )
    refused = await rig.client.get("/audit", params={"from": "دیروز"})
    assert refused.status_code == 422
    assert 'href="#from"' in refused.text and "تاریخ معتبر نیست" in refused.text


async def test_only_supervisors_open_the_read_audit(rig: Rig) -> None:
    await sign_in(rig, "/audit")
    for principal in (OPERATOR, Principal("ops1", Role.ops, province="khorasan_razavi")):
        rig.who["principal"] = principal
        rig.client.cookies.clear()
        r = await sign_in_as(rig, "/audit")
        assert r.status_code == 403, principal.role


async def sign_in_as(rig: Rig, then: str) -> httpx.Response:
    r = await rig.client.get(then)
    r = await rig.client.get(r.headers["location"])
    await rig.client.get(r.headers["location"].removeprefix("http://console.test"))
    return await rig.client.get(then)


# What the case page needs of a case beyond the supervisor rig's search result.
PAGE = {
    "citizen": {"phone": "+989151234567", "name": "مریم رضایی"},
    "registered_at": "2026-11-26T05:00:00+00:00",
    "due": {"next": None},
    "timeline": [],
}


async def test_a_masked_case_says_so(rig: Rig) -> None:
    rig.platform.cases["case-t1"] |= PAGE | {
        "personal": "masked",
        "citizen": {"phone": "+98915***4567", "name": "***"},
        "description": "***",
    }
    page = await sign_in(rig, "/desk/cases/case-t1")
    assert page.status_code == 200
    assert "اطلاعات شخصی شهروند برای شما پوشیده است" in page.text and 'tag--grey">پوشیده' in page.text
    rig.platform.cases["case-t1"]["personal"] = "shown"
    assert "پوشیده است" not in (await rig.client.get("/desk/cases/case-t1")).text


async def test_the_caller_being_handled_goes_with_the_case_read_and_a_new_call_forgets_it(rig: Rig) -> None:
    rig.platform.cases["case-t1"] |= PAGE
    rig.who["principal"] = OPERATOR
    await sign_in(rig, "/desk")
    await rig.client.get("/desk/caller", params={"caller_phone": "۰۹۱۵ ۱۲۳ ۴۵۶۷"})
    await rig.client.get("/desk/cases/case-t1")
    assert asked(rig, "case")[-1] == {"ref": "case-t1", "caller": {"phone": "09151234567"}}
    await rig.client.get("/desk")
    await rig.client.get("/desk/cases/case-t1")
    assert asked(rig, "case")[-1] == {"ref": "case-t1"}


async def test_every_call_names_the_console_screen_it_is_for() -> None:
    seen: list[tuple[str, str | None, dict[str, str]]] = []

    def tracking(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers.get(PURPOSE_HEADER), dict(request.url.params)))
        return httpx.Response(
            200,
            json={"case_id": "c1", "tracking_code": "1234567890", "subject": "قطعی آب"} | PAGE,
        )

    platform = HttpPlatform(
        intake="http://intake",
        tracking="http://tracking",
        routing="http://routing",
        notify="http://notify",
        timeout=5,
        http=httpx.AsyncClient(transport=httpx.MockTransport(tracking)),
    )
    who = {"principal": Principal("sup-1", Role.supervisor, province="khorasan_razavi")}

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
        r = await client.get("/desk/cases/c1")
        r = await client.get(r.headers["location"])
        await client.get(r.headers["location"].removeprefix("http://console.test"))
        page = await client.get("/desk/cases/c1")
    assert page.status_code == 200, page.text
    assert seen[-1] == ("/v1/cases/c1", "console /desk/cases/{ref}", {})
