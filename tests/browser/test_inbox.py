"""The agency's inbox in a real browser against the whole platform (five services as processes, the
test stack's Kafka, FerretDB and Keycloak): a case registered through the pipeline appears live in its
agency's inbox and never in another's; staff work cases through every action while the citizen's SMS
go out in order; waiting for the citizen stops the clock; and with tracking's clock moved past a
deadline the case reaches the agency head's escalation queue, live, with one SMS to the head's phone.

Every page is checked with axe-core and photographed (.local/screenshots/inbox-*.png)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from contracts.persian import to_persian_digits
from services.common.auth import Role
from tests.browser.conftest import read_outbox, running_platform
from tests.support.browser import NewPage, assert_accessible, screenshot
from tests.support.identity import bearer, state
from tests.support.processes import ServiceProcess

# The realm lets this module's console address receive sign-ins (test_console.py uses 18005).
CONSOLE_PORT = 18006
HEAD_PHONE = "+989150000501"  # head-water's profile in the local realm
Platform = dict[str, ServiceProcess]


@pytest.fixture(scope="module", autouse=True)
def patient_expectations() -> Iterator[None]:
    """Most steps here wait on a service round trip (an action waits for tracking to apply it): on a
    shared, busy machine five seconds is short. The live arrival keeps its own two-second limit."""
    expect.set_options(timeout=15_000)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def platform(real_stack: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    clock = tmp_path_factory.mktemp("clock") / "offset-seconds"
    clock.write_text("0")
    extra = {
        # Tracking's clock moves when the escalation test says so; its timers look every second.
        "tracking": {"SAMAD_TEST_CLOCK_FILE": str(clock), "SAMAD_SWEEP_INTERVAL_SECONDS": "1"},
        # Day or night, the SMS go out at once (quiet hours have tests of their own).
        "notify": {"SAMAD_SMS_QUIET_HOURS": "false"},
    }
    with running_platform(CONSOLE_PORT, tmp_path_factory, extra, prefix="inbox") as procs:
        yield procs


def move_clock(platform: Platform, seconds: float) -> None:
    Path(platform["tracking"].env["SAMAD_TEST_CLOCK_FILE"]).write_text(str(seconds))


def register(platform: Platform, phone: str, subject: str, description: str, **extra: Any) -> dict[str, Any]:
    """A case registered through intake, as an operator's desk registers it; routing takes it on."""
    r = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers={**bearer(Role.operator, sub="op-inbox"), "Idempotency-Key": f"inbox-{time.time_ns()}"},
        json={"phone": phone, "county": "mashhad", "subject": subject, "description": description, **extra},
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def tracked(
    platform: Platform, ref: str, until: Callable[[dict[str, Any]], bool], timeout: float = 20
) -> dict[str, Any]:
    """The case as tracking has it, once ``until`` holds."""
    deadline = time.monotonic() + timeout
    doc: dict[str, Any] = {}
    while time.monotonic() < deadline:
        r = httpx.get(
            f"{platform['tracking'].url}/v1/cases/{ref}",
            headers=bearer(Role.supervisor, sub="sup-inbox"),
            timeout=5,
        )
        if r.status_code == 200:
            doc = r.json()
            if until(doc):
                return doc
        time.sleep(0.2)
    raise AssertionError(f"case {ref} never got there; last seen: {doc.get('status')} {doc.get('agency')}")


async def wait_for_sms(
    platform: Platform, match: Callable[[dict[str, str]], bool], n: int = 1
) -> list[dict[str, str]]:
    deadline = time.monotonic() + 20
    found: list[dict[str, str]] = []
    while time.monotonic() < deadline:
        found = [m for m in read_outbox(platform) if match(m)]
        if len(found) >= n:
            return found
        await asyncio.sleep(0.3)
    return found


async def sign_in(page: Page, console: str, username: str, then: str = "/inbox") -> None:
    await page.goto(console + then)
    await page.locator("#username").fill(username)
    await page.locator("#password").fill(state()["users"][username]["password"])
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(re.escape(console + then) + ".*"))


async def check(page: Page, name: str) -> None:
    await assert_accessible(page)
    await screenshot(page, f"inbox-{name}")


async def act(page: Page, summary: str, button: str, fill: dict[str, str] | None = None) -> None:
    """Open an action, fill its fields (by label) and press its button."""
    details = page.locator("details.action", has=page.locator("summary", has_text=summary))
    if await details.get_attribute("open") is None:
        await details.locator("summary").click()
    for label, value in (fill or {}).items():
        await details.get_by_label(label).fill(value)
    await details.get_by_role("button", name=button, exact=True).click()


async def test_a_case_appears_live_in_its_agency_s_inbox_and_never_in_another(
    platform: Platform, new_page: NewPage
) -> None:
    console = platform["console"].url
    water, education = await new_page("desktop"), await new_page("desktop")
    await sign_in(water, console, "staff-water")
    await sign_in(education, console, "staff-education")
    await expect(water.get_by_role("heading", name="کارتابل شرکت آب و فاضلاب مشهد")).to_be_visible()
    await expect(water.locator(".site-header__user")).to_contain_text("کارشناس دستگاه")
    await check(water, "list")
    landed = water.url

    bearer(Role.operator, sub="op-inbox")  # the operator's token first: the clock is for the pipeline
    started = time.monotonic()
    body = register(
        platform,
        "09151230001",
        "قطعی آب محله",
        "آب محله ما از صبح قطع است و شرکت آب و فاضلاب پاسخ نمی‌دهد",
        agency="water_wastewater",
    )
    row = water.locator(f"#case-{body['case_id']}")
    await expect(row).to_be_visible(timeout=2_000)
    print(f"\nthe case was in the water company's inbox {time.monotonic() - started:.2f}s after registering")
    assert water.url == landed  # no reload
    await expect(row).to_contain_text("قطعی آب محله")
    await expect(row).to_contain_text("روز کاری مانده")
    await expect(water.locator("#inbox-news")).to_contain_text("پروندهٔ تازه")
    await check(water, "list-live")

    # Education's staff never see it: not live, not in their list, not through its address.
    await asyncio.sleep(1.5)
    assert await education.locator(f"#case-{body['case_id']}").count() == 0
    await education.reload()
    assert await education.locator(f"#case-{body['case_id']}").count() == 0
    assert "قطعی آب محله" not in await education.content()
    await education.goto(console + f"/inbox/cases/{body['case_id']}")
    await expect(education.get_by_role("heading", name="این صفحه یا پرونده پیدا نشد")).to_be_visible()
    assert "قطعی آب محله" not in await education.content()
    await check(education, "other-agency")


async def test_staff_work_cases_through_every_action_and_the_citizen_s_sms_go_out_in_order(
    platform: Platform, new_page: NewPage
) -> None:
    console = platform["console"].url
    phone, e164 = "09151230002", "+989151230002"
    first = register(
        platform, phone, "نشت لوله", "لوله اصلی آب کوچه ما نشت دارد و آب هدر می‌رود", agency="water_wastewater"
    )
    tracked(platform, first["case_id"], lambda d: d.get("status") == "routed")
    page = await new_page("desktop")
    await sign_in(page, console, "staff-water", f"/inbox/cases/{first['case_id']}")
    await expect(page.get_by_role("heading", name=re.compile("نشت لوله"))).to_be_visible()
    await check(page, "case")

    await act(page, "پذیرش پرونده", "پذیرش و آغاز رسیدگی")
    await expect(page.get_by_role("status").first).to_contain_text("پرونده پذیرفته شد")
    await act(page, "سپردن به همکار", "سپردن پرونده")
    notice = page.locator(".notice")
    await expect(notice).to_contain_text("پرونده به")
    await (
        page.locator("details.action", has=page.locator("summary", has_text="سپردن به همکار"))
        .locator("summary")
        .click()
    )
    await page.get_by_label("کارشناس").select_option(label="محمود صادقی (رئیس دستگاه)")
    await page.get_by_role("button", name="سپردن پرونده", exact=True).click()
    await expect(notice).to_contain_text("پرونده به محمود صادقی سپرده شد")

    # Asking the citizen stops the clock: past the resolve deadline, nothing is late.
    before = tracked(platform, first["case_id"], lambda d: d.get("status") == "in_progress")
    resolve_due = datetime.fromisoformat(before["due"]["resolve"])
    await act(
        page,
        "درخواست اطلاعات از شهروند",
        "فرستادن پرسش به شهروند",
        {"پرسش از شهروند": "پلاک منزل را بفرمایید"},
    )
    await expect(notice).to_contain_text("مهلت‌ها تا پاسخ او متوقف است")
    waiting = tracked(platform, first["case_id"], lambda d: d.get("status") == "waiting_for_citizen")
    await expect(page.locator("#case-summary")).to_contain_text("متوقف")
    await check(page, "case-waiting")
    move_clock(
        platform, (resolve_due - datetime.fromisoformat(waiting["due"]["paused_at"])).total_seconds() + 86_400
    )
    try:
        await asyncio.sleep(3)  # three sweeps of the timers
        still = tracked(platform, first["case_id"], lambda d: True)
        assert still["status"] == "waiting_for_citizen" and not still["due"]["resolve_breached"]
        assert not still["overdue"] and still["sla"]["resolve"]["state"] == "paused"
    finally:
        move_clock(platform, 0)
    # The citizen calls back: the operator links the call; the case goes on, its deadline moved on.
    register(platform, phone, "تماس تکراری", "پلاک ۱۲ است", repeat_of=first["case_id"])
    answered = tracked(
        platform, first["case_id"], lambda d: d.get("status") == "in_progress" and d["waited_seconds"] > 0
    )
    moved = datetime.fromisoformat(answered["due"]["resolve"]) - resolve_due
    assert moved.total_seconds() == pytest.approx(answered["waited_seconds"], abs=0.002)
    await expect(page.locator("#case-summary")).to_contain_text("در حال رسیدگی")  # live, no reload

    await page.reload()
    await act(page, "یادداشت داخلی", "ثبت یادداشت داخلی", {"یادداشت داخلی": "با شهروند تلفنی هماهنگ شد"})
    await expect(notice).to_contain_text("یادداشت داخلی ثبت شد")
    await expect(page.locator(".timeline__item--note").first).to_contain_text("با شهروند تلفنی هماهنگ شد")
    await expect(page.locator(".timeline__item--note").first).to_contain_text("شهروند نمی‌بیند")

    # The answer's SMS, with its UCS-2 part count, before it is sent.
    details = page.locator("details.action", has=page.locator("summary", has_text="پاسخ به شهروند"))
    await details.get_by_label("پاسخ‌های آماده").select_option(label="رفع نشتی فاضلاب")
    answer = details.get_by_label("پاسخ به شهروند")
    await expect(answer).to_have_value("نشتی فاضلاب برطرف و محل ضدعفونی شد.")  # editable before sending
    await answer.fill("لوله نشت‌کرده تعویض شد و آب کوچه بدون هدررفت برقرار است.")
    preview = page.locator("#resolve-preview")
    await expect(preview).to_contain_text("بخش پیامک")
    await expect(preview).to_contain_text("لوله نشت‌کرده تعویض شد")
    await expect(preview).to_contain_text(to_persian_digits(first["tracking_code"]))
    await answer.press("End")
    await answer.type(" از شکیبایی شما سپاسگزاریم.")  # a longer answer: the preview follows, still there
    await expect(preview).to_contain_text("کوتاه شد")
    await check(page, "case-preview")
    await details.get_by_role("button", name="ثبت پاسخ و فرستادن پیامک", exact=True).click()
    await expect(notice).to_contain_text("پاسخ ثبت شد")

    # A second case rejected, a third declined: "not ours" sends it back to routing.
    second = register(
        platform,
        "09151230003",
        "درخواست تکراری",
        "همان درخواست قبلی دربارهٔ قطعی آب است",
        agency="water_wastewater",
    )
    third = register(
        platform,
        "09151230004",
        "خرابی آسفالت",
        "آسفالت خیابان خراب است و آب در آن جمع می‌شود",
        agency="water_wastewater",
    )
    for case in (second, third):
        tracked(platform, case["case_id"], lambda d: d.get("status") == "routed")
    await page.goto(console + f"/inbox/cases/{second['case_id']}")
    await act(page, "رد پرونده", "رد پرونده و پیامک دلیل")  # nothing typed: said beside the field
    await expect(page.get_by_role("alert")).to_contain_text("دلیل رد پرونده را بنویسید")
    await check(page, "case-errors")
    await act(page, "رد پرونده", "رد پرونده و پیامک دلیل", {"دلیل رد پرونده": "درخواست تکراری است"})
    await expect(notice).to_contain_text("پرونده رد شد")
    inbox = await new_page("desktop")
    await sign_in(inbox, console, "staff-water")
    await expect(inbox.locator(f"#case-{third['case_id']}")).to_be_visible()
    await page.goto(console + f"/inbox/cases/{third['case_id']}")
    await act(
        page,
        "مربوط به ما نیست",
        "بازگرداندن برای ارجاع به دستگاه دیگر",
        {"چرا این پرونده مربوط به دستگاه شما نیست؟": "آسفالت با شهرداری است"},
    )
    await expect(notice).to_contain_text("پرونده برای ارجاع به دستگاه مسئول دیگر بازگشت")
    await expect(inbox.locator(f"#case-{third['case_id']}")).to_have_count(0, timeout=5_000)  # gone, live
    tracked(
        platform,
        third["case_id"],
        lambda d: d.get("agency") not in (None, "water_wastewater") or d["status"] == "triage",
    )

    # The citizen's SMS of the first case, in the order of what happened.
    code = to_persian_digits(first["tracking_code"])
    sent = await wait_for_sms(platform, lambda m: m["to"] == e164 and code in m["text"], n=5)
    kinds = []
    for m in sent:
        text = m["text"]
        kinds.append(
            "registered"
            if "ثبت شد" in text
            else "routed"
            if "ارجاع شد" in text
            else "acknowledged"
            if "آغاز کرد" in text
            else "info_requested"
            if "می‌پرسد" in text
            else "resolved"
            if "پاسخ داده شد" in text
            else text
        )
    assert kinds == ["registered", "routed", "acknowledged", "info_requested", "resolved"], sent
    assert "پلاک منزل را بفرمایید" in sent[3]["text"] and "لوله نشت‌کرده تعویض شد" in sent[4]["text"]
    rejected = await wait_for_sms(platform, lambda m: m["to"] == "+989151230003" and "رد شد" in m["text"])
    assert rejected and "درخواست تکراری است" in rejected[0]["text"]


async def test_a_late_case_reaches_the_agency_head_with_one_sms(
    platform: Platform, new_page: NewPage
) -> None:
    console = platform["console"].url
    head = await new_page("desktop")
    await sign_in(head, console, "head-water", "/inbox/escalations")
    await expect(head.get_by_role("heading", name="پیگیری دیرکردها")).to_be_visible()
    await check(head, "escalations-empty")
    case = register(
        platform,
        "09151230005",
        "فاضلاب در کوچه",
        "فاضلاب در کوچه ما جاری است و بوی بد همه جا را گرفته",
        agency="water_wastewater",
    )
    doc = tracked(platform, case["case_id"], lambda d: d.get("status") == "routed")
    ack_due = datetime.fromisoformat(doc["due"]["acknowledge"])
    try:
        move_clock(platform, (ack_due - datetime.now(ack_due.tzinfo)).total_seconds() + 60)
        row = head.locator(f"#case-{case['case_id']}")
        await expect(row).to_be_visible(timeout=15_000)  # live, on the head's open page
        await expect(row).to_contain_text("رئیس دستگاه")
        await expect(row).to_contain_text("دیرکرد")
        await check(head, "escalations")
        code = to_persian_digits(case["tracking_code"])
        texts = await wait_for_sms(platform, lambda m: m["to"] == HEAD_PHONE and code in m["text"])
        assert len(texts) == 1 and "مهلت پذیرش" in texts[0]["text"], texts
        escalated = tracked(platform, case["case_id"], lambda d: bool(d.get("escalation")))
        steps = [
            e for e in escalated["timeline"] if e["type"].endswith("case.escalated") and not e["rejected"]
        ]
        assert [e["data"]["to"] for e in steps] == ["agency_head"]
        await asyncio.sleep(4)  # more sweeps: still one step, one SMS
        assert len([m for m in read_outbox(platform) if m["to"] == HEAD_PHONE and code in m["text"]]) == 1
    finally:
        move_clock(platform, 0)
    # The case's page shows the step on its timeline; acknowledging it settles the escalation.
    await row.get_by_role("link").click()
    await expect(head.locator("#case-summary")).to_contain_text("پیگیری دیرکرد")
    await check(head, "case-escalated")
    await act(head, "پذیرش پرونده", "پذیرش و آغاز رسیدگی")
    await expect(head.locator(".notice")).to_contain_text("پرونده پذیرفته شد")
    await head.goto(console + "/inbox/escalations")
    await expect(head.locator(f"#case-{case['case_id']}")).to_have_count(0)
