"""The governorate supervisor's screens in a real browser against the whole platform (five services as
processes, the test stack's Kafka, FerretDB and Keycloak): the source document's duty session imported
through intake reads 110 → 81 → 65 → 65 on the dashboard, its chart, table and CSV agree with the API;
the duty wall follows a call live; a triage case is routed with one click; a roster entry is created,
refused on an overlap, moved and removed.

Every page is checked with axe-core and photographed (.local/screenshots/supervisor-*.png)."""

from __future__ import annotations

import asyncio
import csv
import io
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import jdatetime
from playwright.async_api import Page, expect

from contracts.persian import to_ascii_digits, to_persian_digits
from services.intake.adapters.call_log import SCENARIO
from tests.browser.helpers import sign_in
from tests.support.browser import NewPage, assert_accessible, assert_no_sideways_scroll, screenshot
from tests.support.identity import bearer
from tests.support.processes import ServiceProcess
from tests.support.stack import KAFKA, MONGO, ROOT

SESSION = "duty-1396-12-08-education"
TEHRAN = ZoneInfo("Asia/Tehran")
FUNNEL = ("calls_received", "calls_answered", "cases_registered", "cases_referred")


async def check(page: Page, name: str, phone: bool = False) -> None:
    """Every page: no serious or critical axe-core violation (nor sideways scrolling on a phone), and
    its picture."""
    await assert_accessible(page)
    if phone:
        await assert_no_sideways_scroll(page)
    await screenshot(page, f"supervisor-{name}")


def numbers(texts: list[str]) -> list[int]:
    """«۱۱۰» and «۱٬۲۳۴» as 110 and 1234."""
    return [int(to_ascii_digits(t).replace("٬", "").strip()) for t in texts]


async def api(platform: dict[str, ServiceProcess], service: str, path: str, **params: str) -> Any:
    async with httpx.AsyncClient(base_url=platform[service].url, timeout=10) as client:
        r = await client.get(path, params=params, headers=bearer("supervisor"))
        r.raise_for_status()
        return r.json()


async def eventually(probe: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await probe()
        if found or time.monotonic() > deadline:
            assert found, f"{what}: not within {timeout} s"
            return found
        await asyncio.sleep(0.5)


def import_scenario(platform: dict[str, ServiceProcess]) -> None:
    """`samad intake import-calls` on the scenario file, into the platform's intake database."""
    env = {
        **os.environ,
        "SAMAD_KAFKA_BOOTSTRAP": KAFKA,
        "SAMAD_MONGO_URL": MONGO,
        "SAMAD_DB_NAME": platform["intake"].env["SAMAD_DB_NAME"],
        "COLUMNS": "160",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "from services.cli import main; main()",
            "intake",
            "import-calls",
            str(SCENARIO),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


async def test_the_duty_sessions_funnel_reads_110_81_65_65_and_its_chart_table_and_csv_agree_with_the_api(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    await asyncio.to_thread(import_scenario, platform)

    async def settled() -> dict[str, Any] | None:
        doc: dict[str, Any] = await api(platform, "tracking", "/v1/reports/funnel", duty_session_id=SESSION)
        return doc if [doc[k] for k in FUNNEL] == [110, 81, 65, 65] else None

    from_api = await eventually(settled, "the session's funnel in tracking", timeout=120)
    console = platform["console"].url
    page = await new_page("desktop")
    await sign_in(page, console, "supervisor1", then="/dashboard")
    await expect(page.get_by_role("heading", name="داشبورد استان", exact=True)).to_be_visible()
    await page.get_by_label("جلسهٔ کشیک (اختیاری)").fill(SESSION)
    await page.get_by_role("button", name="نمایش گزارش").click()

    # On screen, in Persian digits.
    cells = page.locator("#funnel-table td[data-count]")
    await expect(cells).to_have_text(["۱۱۰", "۸۱", "۶۵", "۶۵"])
    on_screen = numbers(await cells.all_inner_texts())
    assert on_screen == [from_api[k] for k in FUNNEL] == [110, 81, 65, 65]
    # The chart draws the same numbers (Chart.js read them from the JSON block beside the table).
    canvas = page.locator('canvas[data-chart="chart-funnel"]')
    drawn = await canvas.evaluate("c => window.Chart.getChart(c).data.datasets[0].data")
    assert drawn == on_screen
    assert await canvas.evaluate("c => window.Chart.getChart(c).options.scales.x.reverse") is True
    assert "۱۱۰" in (await canvas.get_attribute("aria-label") or "")
    # The CSV the console streams from tracking says the same.
    export = page.get_by_role("link", name=re.compile("دریافت CSV.*قیف"))
    href = await export.get_attribute("href")
    assert href is not None
    exported = await page.request.get(console + href)
    assert exported.ok and exported.headers["content-type"].startswith("text/csv")
    row = next(csv.DictReader(io.StringIO((await exported.text()).lstrip("\ufeff"))))
    assert [int(row[k]) for k in FUNNEL] == on_screen
    await check(page, "dashboard-session")

    # Every case count opens the cases behind it: the 65 referred, 50 on the first page.
    await page.locator("#funnel-table td[data-count] a").last.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("پرونده‌های ارجاع‌شده به دستگاه")
    await expect(page.locator("#cases-total")).to_contain_text("۶۵ پرونده")
    await expect(page.locator("#cases-table tbody tr")).to_have_count(50)
    await check(page, "cases")

    # A period typed in Persian and Latin digits: the month of the session, Esfand 1396. Its cases were
    # registered by the import, days later, yet count in the period of their calls: the same funnel.
    first = jdatetime.date(1396, 12, 1).togregorian()
    last = jdatetime.date(1396, 12, 29).togregorian()
    days = {"from": first.isoformat(), "to": last.isoformat()}
    await page.goto(console + "/dashboard")
    await page.get_by_label("از روز").fill(jalali(first))
    await page.get_by_label("تا روز").fill(to_ascii_digits(jalali(last)))
    await page.get_by_role("button", name="نمایش گزارش").click()
    await expect(page.locator("#scope")).to_contain_text(jalali_words(first))
    period_funnel = await api(platform, "tracking", "/v1/reports/funnel", **days)
    shown = numbers(await page.locator("#funnel-table td[data-count]").all_inner_texts())
    assert shown == [period_funnel[k] for k in FUNNEL] == [110, 81, 65, 65]
    agencies = (await api(platform, "tracking", "/v1/reports/agencies", **days))["agencies"]
    for row_doc in agencies:
        texts = await page.locator(
            f'#agencies-table tr[data-agency="{row_doc["agency"]}"] td'
        ).all_inner_texts()
        assert numbers([texts[0], texts[1], texts[3]]) == [
            row_doc["received"],
            row_doc["acknowledged_within_sla"],
            row_doc["resolved"],
        ], row_doc["agency"]
    last_saturday = last - timedelta(days=(last.weekday() - 5) % 7)
    trend = {"from": (last_saturday - timedelta(weeks=11)).isoformat(), "to": last.isoformat()}
    weeks = (await api(platform, "tracking", "/v1/reports/weeks", **trend))["weeks"]
    assert len(weeks) == 12
    last_week = await page.locator("#weeks-table tbody tr").first.locator("td").all_inner_texts()
    assert numbers(last_week) == [weeks[-1][k] for k in (*FUNNEL, "cases_resolved")]
    assert sum(w["cases_registered"] for w in weeks) == 65  # all in the session's week
    drawn_weeks = await page.locator('canvas[data-chart="chart-weeks"]').evaluate(
        "c => window.Chart.getChart(c).data.datasets.map(d => d.data)"
    )
    assert drawn_weeks[1] == [w["cases_registered"] for w in weeks]
    await check(page, "dashboard")

    phone = await new_page("phone")
    await sign_in(phone, console, "supervisor1", then=f"/dashboard?session={SESSION}")
    await expect(phone.locator("#funnel-table td[data-count]")).to_have_text(["۱۱۰", "۸۱", "۶۵", "۶۵"])
    await check(phone, "dashboard-phone", phone=True)


def tehran_now() -> datetime:
    return datetime.now(UTC).astimezone(TEHRAN)


def jalali(day: Any) -> str:
    """۱۴۰۵/۰۹/۰۸, as a supervisor types a day."""
    j = jdatetime.date.fromgregorian(date=day)
    return to_persian_digits(f"{j.year:04d}/{j.month:02d}/{j.day:02d}")


def jalali_words(day: Any) -> str:
    """«۸ آذر ۱۴۰۵», as the page writes a day."""
    j = jdatetime.date.fromgregorian(date=day, locale="fa_IR")
    return to_persian_digits(f"{j.day} {j.strftime('%B')} {j.year}")


async def test_the_duty_wall_shows_todays_director_and_follows_the_sessions_calls_live(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = platform["console"].url
    now = tehran_now()
    saturday = now.date() - timedelta(days=(now.weekday() - 5) % 7)
    start = max(now - timedelta(hours=1), now.replace(hour=0, minute=0))
    end = min(now + timedelta(hours=2), now.replace(hour=23, minute=59))
    async with httpx.AsyncClient(base_url=platform["routing"].url, timeout=10) as client:
        created = await client.post(
            "/v1/roster",
            headers=bearer("supervisor"),
            json={
                "week_start": saturday.isoformat(),
                "agency": "water_wastewater",
                "director_name": "مهندس رضایی",
                "hours": [{"date": now.date().isoformat(), "start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}],
            },
        )
    assert created.status_code == 201, created.text

    wall = await new_page("desktop")
    await sign_in(wall, console, "supervisor1", then="/duty")
    await expect(wall.get_by_role("heading", name="مهندس رضایی")).to_be_visible()
    tiles = wall.locator("#duty-funnel .tile__value")
    await expect(tiles).to_have_text(["۰", "۰", "۰", "۰"])
    landed = wall.url

    # The director-general logs calls at the desk: the desk tags them with the session, and the wall
    # follows without a reload.
    desk = await new_page("desktop")
    await sign_in(desk, console, "supervisor1", then="/desk")
    for _ in range(40):  # the desk caches who is on duty for half a minute
        if await desk.get_by_text("مهندس رضایی").count():
            break
        await desk.wait_for_timeout(1000)
        await desk.reload()
    await expect(desk.locator(".duty")).to_contain_text("مهندس رضایی")
    await desk.get_by_label("شماره تماس‌گیرنده").fill("09151118877")
    await desk.get_by_label("شهرستان محل مشکل").fill("مشهد")
    await desk.get_by_label("عنوان کوتاه").fill("قطعی آب")
    await desk.get_by_label("شرح مشکل").fill("آب محله ما از دیروز قطع است و شرکت آب و فاضلاب پاسخ نمی‌دهد")
    await desk.get_by_role("button", name="ثبت", exact=True).click()
    await expect(desk.get_by_role("heading", name="پرونده ثبت شد")).to_be_visible()

    await expect(tiles).to_have_text(["۱", "۱", "۱", "۱"], timeout=20_000)
    assert wall.url == landed
    await expect(wall.locator(".wall__cases")).to_contain_text("قطعی آب")
    await check(wall, "duty-wall")
    phone = await new_page("phone")
    await sign_in(phone, console, "supervisor1", then="/duty")
    await expect(phone.locator("#duty-funnel .tile__value")).to_have_text(["۱", "۱", "۱", "۱"])
    await check(phone, "duty-wall-phone", phone=True)


async def test_a_case_routing_could_not_place_is_routed_with_one_click(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = platform["console"].url
    operator = await new_page("desktop")
    await sign_in(operator, console, "operator1")
    await operator.get_by_label("شماره تماس‌گیرنده").fill("09151117766")
    await operator.get_by_label("شهرستان محل مشکل").fill("نیشابور")
    await operator.get_by_label("عنوان کوتاه").fill("درخواست پیگیری")
    await operator.get_by_label("شرح مشکل").fill("سلام، لطفاً رسیدگی کنید")
    await operator.get_by_role("button", name="ثبت", exact=True).click()
    await expect(operator.get_by_role("heading", name="پرونده ثبت شد")).to_be_visible()
    code = to_ascii_digits((await operator.locator(".tracking-code bdi").inner_text()).replace(" ", ""))

    page = await new_page("desktop")
    await sign_in(page, console, "supervisor1", then="/triage")
    item = page.locator(".triage-item", has_text="درخواست پیگیری")
    for _ in range(40):  # routing sends it to triage within moments
        if await item.count():
            break
        await page.wait_for_timeout(500)
        await page.reload()
    await expect(item).to_have_count(1)
    await expect(item).to_contain_text("رسیدگی کنید")  # as intake normalised it
    await expect(item).to_contain_text("اطمینان سامانه")
    await check(page, "triage")
    phone = await new_page("phone")
    await sign_in(phone, console, "supervisor1", then="/triage")
    await expect(phone.locator(".triage-item", has_text="درخواست پیگیری")).to_have_count(1)
    await check(phone, "triage-phone", phone=True)

    landed = page.url
    answer = page.locator(f"#{await item.get_attribute('id')} [data-triage-result]")
    candidates = item.locator(".triage-form .button-group .button")
    if await candidates.count():
        choice = await candidates.first.get_attribute("value")
        await candidates.first.click()
    else:
        await item.get_by_label("دستگاه").select_option("welfare")
        choice = "welfare"
        await item.get_by_role("button", name="ارجاع به دستگاه انتخاب‌شده").click()
    await expect(answer).to_contain_text("ارجاع شد")
    assert page.url == landed
    await check(page, "triage-routed")

    async def routed() -> bool:
        case = await api(platform, "tracking", f"/v1/cases/{code}")
        return bool(case.get("agency") == choice)

    await eventually(routed, "the case routed in tracking", timeout=30)


async def test_a_roster_entry_is_created_refused_on_an_overlap_moved_and_removed(
    platform: dict[str, ServiceProcess], new_page: NewPage
) -> None:
    console = platform["console"].url
    now = tehran_now()
    week = now.date() - timedelta(days=(now.weekday() - 5) % 7) + timedelta(weeks=3)
    page = await new_page("desktop")
    await sign_in(page, console, "supervisor1", then="/roster")
    await expect(page.get_by_role("heading", name="برنامهٔ کشیک مدیران کل")).to_be_visible()
    await page.get_by_role("link", name="افزودن هفتهٔ کشیک").click()
    await page.get_by_label("شنبهٔ آغاز هفته").fill(jalali(week))
    await page.get_by_label("دستگاه", exact=True).select_option("education")
    await page.get_by_label("نام مدیرکل کشیک").fill("دکتر احمدی")
    await page.get_by_label("شنبه، از ساعت", exact=True).fill("۹")
    await page.get_by_label("شنبه، تا ساعت", exact=True).fill("۱۲")
    await check(page, "roster-new")
    await page.get_by_role("button", name="افزودن به برنامه").click()
    await expect(page.get_by_role("status")).to_contain_text("افزوده شد")
    row = page.locator("#roster-table tr", has_text="دکتر احمدی")
    await expect(row).to_contain_text("شنبه")
    await expect(row).to_contain_text("۰۹:۰۰ تا ۱۲:۰۰")
    calendar = await page.request.get(console + "/roster/calendar.ics")
    assert calendar.ok and "BEGIN:VEVENT" in await calendar.text()
    await check(page, "roster")
    phone = await new_page("phone")
    await sign_in(phone, console, "supervisor1", then="/roster")
    await expect(phone.locator("#roster-table tr", has_text="دکتر احمدی")).to_have_count(1)
    await check(phone, "roster-phone", phone=True)

    # Another director-general in the same hours: routing refuses, the summary points at the day.
    await page.get_by_role("link", name="افزودن هفتهٔ کشیک").click()
    await page.get_by_label("شنبهٔ آغاز هفته").fill(jalali(week))
    await page.get_by_label("دستگاه", exact=True).select_option("welfare")
    await page.get_by_label("نام مدیرکل کشیک").fill("مهندس کریمی")
    await page.get_by_label("شنبه، از ساعت", exact=True).fill("10:00")
    await page.get_by_label("شنبه، تا ساعت", exact=True).fill("11:00")
    await page.get_by_role("button", name="افزودن به برنامه").click()
    summary = page.get_by_role("alert")
    await expect(summary).to_contain_text("هم‌پوشانی دارد")
    await expect(summary.locator('a[href="#day0_start"]')).to_contain_text("دکتر احمدی")
    await expect(page.get_by_label("شنبه، از ساعت", exact=True)).to_have_value("10:00")
    await check(page, "roster-overlap")

    # Moved to Sunday afternoon, then removed.
    await page.get_by_role("link", name="برنامهٔ کشیک").first.click()
    await row.get_by_role("link", name=re.compile("جابه‌جایی")).click()
    await expect(page.get_by_label("شنبهٔ آغاز هفته")).to_have_value(jalali(week))
    await page.get_by_label("شنبه، از ساعت", exact=True).fill("")
    await page.get_by_label("شنبه، تا ساعت", exact=True).fill("")
    await page.get_by_label("یکشنبه، از ساعت", exact=True).fill("۱۴:۰۰")
    await page.get_by_label("یکشنبه، تا ساعت", exact=True).fill("۱۶:۰۰")
    await check(page, "roster-move")
    await page.get_by_role("button", name="ذخیرهٔ جابه‌جایی").click()
    await expect(page.get_by_role("status")).to_contain_text("جابه‌جا شد")
    await expect(row).to_contain_text("یکشنبه")
    await expect(row).to_contain_text("۱۴:۰۰ تا ۱۶:۰۰")
    # Saturday morning is free again: the other director-general now fits.
    listed = await api(platform, "routing", "/v1/roster")
    assert [e["hours"] for e in listed["entries"] if e["director_name"] == "دکتر احمدی"] == [
        [{"date": (week + timedelta(days=1)).isoformat(), "start": "14:00", "end": "16:00"}]
    ]

    await row.get_by_role("link", name=re.compile("حذف")).click()
    await expect(page.get_by_role("heading", name="این برنامهٔ کشیک حذف شود؟")).to_be_visible()
    await check(page, "roster-remove")
    await page.get_by_role("button", name="بله، حذف شود").click()
    await expect(page.get_by_role("status")).to_contain_text("حذف شد")
    await expect(page.locator("#roster-table tr", has_text="دکتر احمدی")).to_have_count(0)
