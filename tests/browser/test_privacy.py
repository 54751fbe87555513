"""Least privilege and the read audit in a real browser against the whole platform (five services as
processes, the test stack's Kafka, FerretDB and Keycloak): ops opens a case and reads it with the
citizen's personal data masked, and says so; the supervisor finds that read on the read-audit page
(who, role, the screen, masked), and the read of the case's SMS panel that notify handed to
tracking, in Persian with Jalali times, and filters it by user.

Every page is checked with axe-core and photographed (.local/screenshots/privacy-*.png)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
from playwright.async_api import Page, expect

from services.common.auth import Role
from tests.browser.helpers import CONSOLE_PORT, sign_in
from tests.support.browser import NewPage, assert_accessible, screenshot
from tests.support.identity import bearer
from tests.support.processes import ServiceProcess

PHONE = "09150000777"
NAME = "سیمین دانشور"
DESCRIPTION = "فاضلاب کوچهٔ ما سه روز است پس زده است."


async def check(page: Page, name: str) -> None:
    await assert_accessible(page)
    await screenshot(page, f"privacy-{name}")


def registered(platform: dict[str, ServiceProcess]) -> dict[str, Any]:
    """A case registered through intake by an operator, once tracking has it."""
    r = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers={**bearer(Role.operator, sub="op-privacy"), "Idempotency-Key": f"privacy-{time.time_ns()}"},
        json={
            "phone": PHONE,
            "name": NAME,
            "county": "mashhad",
            "subject": "پس‌زدن فاضلاب",
            "description": DESCRIPTION,
        },
        timeout=10,
    )
    assert r.status_code in (200, 201), r.text
    case_id = str(r.json()["case_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = httpx.get(
            f"{platform['tracking'].url}/v1/cases/{case_id}", headers=bearer(Role.supervisor), timeout=5
        )
        if got.status_code == 200:
            body: dict[str, Any] = got.json()
            return body
        time.sleep(0.3)
    raise AssertionError(f"tracking never had case {case_id}")


async def test_ops_read_a_case_masked_and_the_supervisor_sees_who_read_it(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = f"http://127.0.0.1:{CONSOLE_PORT}"
    case = registered(platform)
    ops = await new_page("desktop")
    await sign_in(ops, console, "ops1", then=f"/desk/cases/{case['case_id']}")
    await expect(ops.locator("#personal-masked")).to_contain_text("اطلاعات شخصی شهروند برای شما پوشیده است")
    html = await ops.content()
    assert NAME not in html and DESCRIPTION not in html and "۰۹۱۵۰۰۰۰۷۷۷" not in html
    assert "پس زده" not in html  # nor the description's words routing's explanation quotes
    await check(ops, "case-masked")
    # The case's SMS panel: the console asks notify's ledger, which hands the read to tracking's audit.
    await ops.goto(console + f"/desk/cases/{case['case_id']}/sms")

    supervisor = await new_page("desktop")
    await sign_in(supervisor, console, "supervisor1", then=f"/audit?case_id={case['case_id']}")
    row = supervisor.locator("#audit-table tbody tr", has_text="GET /v1/cases/{ref}").filter(has_text="ops1")
    await expect(row.first).to_be_visible(timeout=15_000)
    await expect(row.first).to_contain_text("پشتیبانی فنی")
    await expect(row.first).to_contain_text("پوشیده")
    await expect(row.first).to_contain_text("console /desk/cases/{ref}")
    sms_read = supervisor.locator("#audit-table tbody tr", has_text="GET /v1/sms")
    for _ in range(20):  # notify hands its reads over in batches, a second apart
        if await sms_read.count():
            break
        await asyncio.sleep(0.5)
        await supervisor.reload()
    await expect(sms_read.first).to_contain_text("ops1")
    await expect(sms_read.first).to_contain_text("console /desk/cases/{case_id}/sms")
    assert NAME not in await supervisor.content()
    await check(supervisor, "audit")

    await supervisor.get_by_label("نام کاربری (اختیاری)").fill("ops1")
    await supervisor.get_by_label("شناسهٔ پرونده (اختیاری)").fill("")
    await supervisor.get_by_role("button", name="نمایش").click()
    await expect(supervisor.locator("#audit-table tbody tr").first).to_contain_text("ops1")
    await supervisor.get_by_label("از روز").fill("دیروز")
    await supervisor.get_by_role("button", name="نمایش").click()
    await expect(supervisor.locator("[data-error-summary]")).to_contain_text("تاریخ")
    await check(supervisor, "audit-error")
