"""The console in a real browser against the whole platform (five services as processes, the test
stack's Kafka, FerretDB and Keycloak): an operator at the desk with the keyboard alone, a repeat call
linked, a citizen on a phone-sized screen, and an online registration with the code from the SMS.

Every page is checked with axe-core and photographed (.local/screenshots/console-*.png)."""

from __future__ import annotations

import asyncio
import re
import time

from playwright.async_api import Page, expect

from tests.browser.helpers import outbox, sign_in
from tests.support.browser import NewPage, assert_accessible, assert_no_sideways_scroll, screenshot
from tests.support.processes import ServiceProcess


async def check(page: Page, name: str, phone: bool = False) -> None:
    """Every page: no serious or critical axe-core violation, nothing to scroll sideways on a phone,
    and its picture. A citizen's page carries no script at all: it works with JavaScript off."""
    await assert_accessible(page)
    if phone:
        await assert_no_sideways_scroll(page)
        assert await page.locator("script").count() == 0
    await screenshot(page, f"console-{name}")


async def test_an_operator_registers_a_case_with_the_keyboard_alone_and_watches_its_sms_live(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = platform["console"].url
    page = await new_page("desktop")
    await sign_in(page, console, "operator1")
    await expect(page.get_by_role("heading", name="تماس جدید")).to_be_visible()
    await expect(page.locator(".site-header__user")).to_contain_text("اپراتور")
    await check(page, "desk")

    # The phone field has the focus; from here on only the keyboard.
    await expect(page.get_by_label("شماره تماس‌گیرنده")).to_be_focused()
    await page.keyboard.type("۰۹۱۵ ۱۱۱ ۲۲۳۳")
    await expect(page.locator("#caller-cases")).to_contain_text("پروندهٔ بازی ندارد")
    await page.keyboard.press("Tab")  # the outcome: "answered" is chosen already
    await expect(page.get_by_label("پاسخ داده شد")).to_be_focused()
    for _ in range(3):  # name, national id, county
        await page.keyboard.press("Tab")
    await expect(page.get_by_label("شهرستان محل مشکل")).to_be_focused()
    await page.keyboard.type("مشهد")
    await expect(page.get_by_label("شهرستان محل مشکل")).to_have_value("مشهد")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("عنوان کوتاه")).to_be_focused()
    await page.keyboard.type("قطعی آب")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("شرح مشکل")).to_be_focused()
    await page.keyboard.type("آب محله ما از دیروز قطع است و شرکت آب و فاضلاب پاسخ نمی‌دهد")
    suggestion = page.locator("#suggestion")
    await expect(suggestion).to_contain_text("پیشنهاد سامانه: شرکت آب و فاضلاب مشهد")
    await expect(suggestion).to_contain_text("اطمینان")
    await check(page, "desk-suggestion")
    async with page.expect_response(lambda r: "/live/cases/" in r.url) as live:
        await page.keyboard.press("Control+Enter")
    stream = await live.value
    assert stream.ok and stream.headers["content-type"].startswith("text/event-stream")

    await expect(page.get_by_role("heading", name="پرونده ثبت شد")).to_be_visible()
    code = (await page.locator(".tracking-code bdi").inner_text()).replace(" ", "")
    assert re.fullmatch(r"[۰-۹]{10}", code), code
    landed = page.url
    # The SMS status changes without a reload: pushed over server-sent events.
    sms = page.locator("#sms-list")
    await expect(sms.locator("tr", has_text="پیامک ثبت")).to_contain_text("تحویل شد", timeout=15_000)
    assert page.url == landed
    await check(page, "desk-registered")


async def test_a_repeat_call_is_linked_to_the_callers_open_case(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = platform["console"].url
    page = await new_page("desktop")
    await sign_in(page, console, "operator2")
    await page.get_by_label("شماره تماس‌گیرنده").fill("09151112299")
    await page.get_by_label("شهرستان محل مشکل").fill("نیشابور")
    await page.get_by_label("عنوان کوتاه").fill("چاله در خیابان")
    await page.get_by_label("شرح مشکل").fill("چاله بزرگ در خیابان اصلی که خودروها را خراب می‌کند")
    await page.get_by_role("button", name="ثبت", exact=True).click()
    await expect(page.get_by_role("heading", name="پرونده ثبت شد")).to_be_visible()
    first = await page.locator(".tracking-code bdi").inner_text()

    await page.get_by_role("link", name="تماس بعدی").click()
    await page.get_by_label("شماره تماس‌گیرنده").fill("۰۹۱۵۱۱۱۲۲۹۹")
    link = page.get_by_role("button", name=re.compile("پیوند به این پرونده"))
    # Tracking projects the new case within moments; the screen-pop shows it as an open case.
    await expect(link).to_have_count(1, timeout=15_000)
    await check(page, "desk-screen-pop")
    await link.click()
    await expect(page.get_by_role("heading", name="تماس به پروندهٔ باز پیوند داده شد")).to_be_visible()
    assert await page.locator(".tracking-code bdi").inner_text() == first


async def test_errors_are_summarised_at_the_top_and_link_to_their_fields(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    page = await new_page("desktop")
    await sign_in(page, platform["console"].url, "operator1")
    await page.get_by_label("شماره تماس‌گیرنده").fill("0915")
    await page.get_by_role("button", name="ثبت", exact=True).click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("مشکلی هست")
    for field in ("caller_phone", "county", "subject", "description"):
        await expect(summary.locator(f'a[href="#{field}"]')).to_have_count(1)
    # What was typed is still there, and the message beside the field says what to do.
    await expect(page.get_by_label("شماره تماس‌گیرنده")).to_have_value("0915")
    await expect(page.locator("#caller_phone-error")).to_contain_text("۱۱ رقم")
    await summary.locator('a[href="#subject"]').click()
    await expect(page.get_by_label("عنوان کوتاه")).to_be_focused()
    await check(page, "desk-errors")


async def test_a_citizen_reads_their_case_on_a_phone_without_javascript(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    staff = await new_page("desktop")
    await sign_in(staff, platform["console"].url, "operator1")
    await staff.get_by_label("شماره تماس‌گیرنده").fill("09151113344")
    await staff.get_by_label("شهرستان محل مشکل").fill("مشهد")
    await staff.get_by_label("عنوان کوتاه").fill("تأخیر مستمری")
    await staff.get_by_label("شرح مشکل").fill("مستمری بازنشستگی پدرم دو ماه است واریز نشده است")
    await staff.get_by_role("button", name="ثبت", exact=True).click()
    code = (await staff.locator(".tracking-code bdi").inner_text()).replace(" ", "")

    page = await new_page("phone")
    await page.goto(platform["console"].url + "/")
    await check(page, "citizen-start", phone=True)
    await page.get_by_role("link", name="پیگیری درخواست").click()
    await page.get_by_label("کد رهگیری").fill("123")
    await page.get_by_label("شماره همراه").fill("3344")
    await page.get_by_role("button", name="نمایش وضعیت").click()
    await expect(page.get_by_role("alert")).to_contain_text("کد رهگیری ۱۰ رقمی")
    await check(page, "citizen-status-error", phone=True)
    # Tracking has the case within moments; the staff search shows when (a citizen's wrong lookups
    # would count against the code).
    for _ in range(30):
        await staff.goto(platform["console"].url + f"/desk/find?q={code}")
        if "/desk/cases/" in staff.url:
            break
        await staff.wait_for_timeout(500)
    await page.get_by_label("کد رهگیری").fill(code)
    await page.get_by_label("شماره همراه").fill("۳۳۴۴")
    await page.get_by_role("button", name="نمایش وضعیت").click()
    await expect(page.get_by_role("heading", name="تأخیر مستمری")).to_be_visible()
    await expect(page.locator(".timeline")).to_contain_text("پرونده ثبت شد")
    await check(page, "citizen-status", phone=True)

    # The same lookup with JavaScript off.
    plain = await new_page("phone", java_script_enabled=False)
    await plain.goto(platform["console"].url + "/status")
    await plain.get_by_label("کد رهگیری").fill(code)
    await plain.get_by_label("شماره همراه").fill("09151113344")
    await plain.get_by_role("button", name="نمایش وضعیت").click()
    await expect(plain.get_by_role("heading", name="تأخیر مستمری")).to_be_visible()


async def test_a_citizen_registers_online_with_the_code_sent_by_sms(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    page = await new_page("phone")
    await page.goto(platform["console"].url + "/register")
    await check(page, "register-start", phone=True)
    await page.get_by_role("link", name="شروع").click()
    await page.get_by_label("شماره همراه شما چیست؟").fill("۰۹۱۵ ۱۱۱ ۵۵۶۶")
    await page.get_by_role("button", name="فرستادن کد تأیید").click()
    await check(page, "register-code", phone=True)

    sent = [m for m in outbox(platform) if m["to"] == "+989151115566" and "کد تأیید" in m["text"]]
    assert len(sent) == 1, sent
    persian_code = re.search(r"[۰-۹]{6}", sent[0]["text"])
    assert persian_code is not None
    await page.get_by_label("کد تأیید را وارد کنید").fill("000000")
    await page.get_by_role("button", name="ادامه").click()
    await expect(page.get_by_role("alert")).to_contain_text("کد درست نیست")
    await page.get_by_label("کد تأیید را وارد کنید").fill(persian_code.group())
    await page.get_by_role("button", name="ادامه").click()

    await page.get_by_role("button", name="ادامه").click()  # nothing filled in
    await expect(page.get_by_role("alert")).to_contain_text("شهرستانی را که مشکل در آن است انتخاب کنید")
    await check(page, "register-details-errors", phone=True)
    await page.get_by_label("شهرستان").select_option(label="مشهد")
    await page.get_by_label("عنوان کوتاه").fill("خرابی چراغ راهنمایی")
    await page.get_by_label("شرح مشکل").fill("چراغ راهنمایی چهارراه خیام از دیروز خاموش است")
    await page.get_by_role("button", name="ادامه").click()
    await expect(page.get_by_role("heading", name=re.compile("پاسخ‌هایتان را بررسی کنید"))).to_be_visible()
    await check(page, "register-check", phone=True)
    await page.get_by_role("button", name="ثبت درخواست").click()
    await expect(page.get_by_role("heading", name="درخواست شما ثبت شد")).to_be_visible()
    code = (await page.locator(".tracking-code bdi").inner_text()).replace(" ", "")
    await check(page, "register-done", phone=True)
    # The same registration as every channel: the tracking code also arrives by SMS.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if any(m["to"] == "+989151115566" and code in m["text"] for m in outbox(platform)):
            break
        await asyncio.sleep(0.3)
    assert any(m["to"] == "+989151115566" and code in m["text"] for m in outbox(platform))
