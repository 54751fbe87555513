"""The browser harness itself: it launches the system chromium, finds what it must find (an axe-core
violation, a page wider than a phone), writes screenshots, and the self-hosted Vazirmatn renders."""

from __future__ import annotations

import asyncio
import functools
import http.server
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page

from tests.support.browser import (
    STATIC,
    NewPage,
    assert_accessible,
    assert_no_sideways_scroll,
    screenshot,
)

HEAD = """<!doctype html>
<html lang="fa" dir="rtl">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="/static/fonts/vazirmatn.css">
<style>
  body {{ font-family: "Vazirmatn", sans-serif; line-height: 1.8; margin: 0; padding-inline: 1rem;
         color: #0b0c0c; background: #fff; }}
  label, input {{ display: block; }}
  input {{ inline-size: 100%; box-sizing: border-box; font: inherit; }}
</style>
</head>
"""

PAGES = {
    # What a citizen's page looks like: everything labelled, fits a phone.
    "good.html": HEAD.format(title="پیگیری درخواست")
    + """<body><main>
<h1>پیگیری درخواست</h1>
<p>سلام؛ کد رهگیری و شمارهٔ همراه‌تان را وارد کنید. <strong>کد رهگیری ۱۰ رقم است.</strong></p>
<form>
  <label for="code">کد رهگیری</label>
  <input id="code" name="code" inputmode="numeric" autocomplete="off">
  <label for="phone">شماره همراه</label>
  <input id="phone" name="phone" type="tel" dir="ltr">
  <button type="submit">پیگیری</button>
</form>
<p><img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" alt="نشان سامد" width="1" height="1"></p>
</main></body></html>
""",
    # Two real axe-core violations: a field without a label and an image without a text alternative.
    "unlabeled.html": HEAD.format(title="فرم بی‌برچسب")
    + """<body><main>
<h1>فرم بی‌برچسب</h1>
<input id="nameless" name="x">
<img id="wordless" src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" width="1" height="1">
</main></body></html>
""",
    # A fixed-width block that sticks out of a 360 px screen (to the left, the page being rtl).
    "wide.html": HEAD.format(title="جدول پهن")
    + """<body><main>
<h1>جدول پهن</h1>
<div id="too-wide" style="inline-size: 500px">پانصد پیکسل پهنا</div>
</main></body></html>
""",
    # The same font family, but its file is not there: the font check must notice.
    "missing-font.html": """<!doctype html>
<html lang="fa" dir="rtl"><head><meta charset="utf-8"><title>بی‌قلم</title>
<style>
  @font-face { font-family: "Vazirmatn"; src: url("/static/fonts/no-such-file.woff2") format("woff2"); }
  body { font-family: "Vazirmatn", sans-serif; }
</style></head>
<body><main><h1>سلام</h1></main></body></html>
""",
    # The vendor scripts as the console loads them: htmx 2, its SSE extension, Chart.js.
    "live.html": HEAD.format(title="وضعیت زنده")
    + """<body><main>
<h1>وضعیت زنده</h1>
<div hx-ext="sse" sse-connect="/events" sse-swap="status"><p>در انتظار</p></div>
<canvas id="chart" width="300" height="150" aria-label="نمودار" role="img"></canvas>
</main>
<script src="/static/vendor/htmx.min.js"></script>
<script src="/static/vendor/htmx-ext-sse.min.js"></script>
<script src="/static/vendor/chart.umd.min.js"></script>
</body></html>
""",
}

FONT_STATE_JS = """async () => {
  try { await document.fonts.load('16px Vazirmatn', 'سلام'); } catch (e) { /* reported below */ }
  try { await document.fonts.load('bold 16px Vazirmatn', 'سلام'); } catch (e) { /* reported below */ }
  await document.fonts.ready;
  return {
    regular: document.fonts.check('16px Vazirmatn', 'سلام'),
    bold: document.fonts.check('bold 16px Vazirmatn', 'سلام'),
    loaded: [...document.fonts]
      .filter((f) => f.family.replace(/["']/g, '') === 'Vazirmatn' && f.status === 'loaded')
      .map((f) => String(f.weight)).sort(),
  };
}"""


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, and at /events one server-sent event carrying an HTML fragment."""

    def do_GET(self) -> None:
        if self.path != "/events":
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.write('event: status\ndata: <p id="status">پیامک تحویل شد</p>\n\n'.encode())
        self.wfile.flush()
        time.sleep(1)  # the stream stays open a moment, as a live one would

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The pages above and the console's static folder (at /static/) on a local http server."""
    root: Path = tmp_path_factory.mktemp("site")
    for name, html in PAGES.items():
        (root / name).write_text(html, encoding="utf-8")
    (root / "static").symlink_to(STATIC, target_is_directory=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Handler, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


async def test_a_labelled_persian_page_passes_on_a_phone_and_a_desktop(site: str, new_page: NewPage) -> None:
    for viewport in ("phone", "desktop"):
        page = await new_page(viewport)
        await page.goto(f"{site}/good.html")
        assert await page.evaluate("() => [navigator.language, document.dir]") == ["fa-IR", "rtl"]
        await assert_accessible(page)
        await assert_no_sideways_scroll(page)


async def test_a_phone_page_is_360_px_wide_at_device_scale_2(site: str, phone_page: Page) -> None:
    await phone_page.goto(f"{site}/good.html")
    assert await phone_page.evaluate("() => [window.innerWidth, window.devicePixelRatio]") == [360, 2]


async def test_an_unlabelled_field_and_an_image_without_alt_are_reported(
    site: str, desktop_page: Page
) -> None:
    await desktop_page.goto(f"{site}/unlabeled.html")
    with pytest.raises(AssertionError) as failure:
        await assert_accessible(desktop_page)
    message = str(failure.value)
    assert "- label (critical)" in message and "#nameless" in message
    assert "- image-alt (critical)" in message and "#wordless" in message


async def test_a_page_wider_than_a_phone_is_reported(site: str, phone_page: Page) -> None:
    await phone_page.goto(f"{site}/wide.html")
    with pytest.raises(AssertionError, match=r"scrolls sideways.*in a 360 px viewport.*div#too-wide"):
        await assert_no_sideways_scroll(phone_page)


async def test_the_same_wide_page_fits_a_desktop(site: str, desktop_page: Page) -> None:
    await desktop_page.goto(f"{site}/wide.html")
    await assert_no_sideways_scroll(desktop_page)


async def test_a_screenshot_is_a_png_of_the_phone_screen(site: str, phone_page: Page) -> None:
    await phone_page.goto(f"{site}/good.html")
    path = await screenshot(phone_page, "harness-good-phone")
    data = path.read_bytes()
    assert path.name == "harness-good-phone.png" and path.parent.name == "screenshots"
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert width == 360 * 2 and height >= 740 * 2


async def test_a_screenshot_name_cannot_leave_the_screenshot_folder(desktop_page: Page) -> None:
    with pytest.raises(ValueError, match="screenshot name"):
        await screenshot(desktop_page, "../outside")


async def test_the_self_hosted_vazirmatn_renders_persian_in_both_weights(
    site: str, desktop_page: Page
) -> None:
    await desktop_page.goto(f"{site}/good.html")
    state = await desktop_page.evaluate(FONT_STATE_JS)
    assert state == {"regular": True, "bold": True, "loaded": ["400", "700"]}


async def test_the_font_check_notices_a_font_that_did_not_load(site: str, desktop_page: Page) -> None:
    # document.fonts.check() alone also answers true for a family with no font face at all.
    await desktop_page.goto(f"{site}/missing-font.html")
    state = await desktop_page.evaluate(FONT_STATE_JS)
    assert state["regular"] is False and state["loaded"] == []


async def test_the_vendor_scripts_load_from_static_and_htmx_swaps_a_server_sent_event(
    site: str, desktop_page: Page
) -> None:
    await desktop_page.goto(f"{site}/live.html")
    await desktop_page.get_by_text("پیامک تحویل شد").wait_for()
    assert await desktop_page.evaluate("() => [htmx.version.split('.')[0], typeof Chart]") == [
        "2",
        "function",
    ]


async def test_other_asyncio_tests_still_run_once_the_browser_is_up(browser: Browser) -> None:
    # A sync Playwright would hold the thread's running event loop, and every asyncio test after the
    # first browser test would fail to start; the async one shares the session's loop.
    assert browser.is_connected()
    assert await asyncio.to_thread(lambda: "ran") == "ran"
