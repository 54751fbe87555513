"""Browser tests: Playwright driving the system's chromium, and the checks every page must pass.

A pytest plugin (tests/conftest.py lists it in `pytest_plugins`), so any test module can ask for:

- `browser`: one headless chromium for the whole session, the system executable installed by
  `make install` (Debian's `chromium` package; no browser build is downloaded);
- `new_page(viewport="desktop" | "phone", **context_options)`: an async factory, `await new_page("phone")`
  gives a fresh page in its own context (own cookies), Persian locale and Tehran time zone; desktop is 1280×800, phone is 360×740 with touch,
  mobile layout and device scale 2. Contexts close after the test; a failing test leaves a screenshot
  of each of its pages in .local/screenshots/failed/;
- `desktop_page`, `phone_page`: one such page each.

And the checks, coroutines to await: `assert_accessible(page)` (axe-core: no serious or critical
violation), `assert_no_sideways_scroll(page)`, `screenshot(page, name)` (.local/screenshots/<name>.png).

The API is Playwright's async one and browser tests are `async def` tests on the session's event loop
(pytest-asyncio, as the rest of the suite). Playwright's sync API cannot be used here: while a sync
Playwright is open, no asyncio test in the same session can run its event loop.
"""

from __future__ import annotations

import contextlib
import re
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "services" / "console" / "assets" / "node_modules"
AXE_PATH = NODE_MODULES / "axe-core" / "axe.min.js"
STATIC = ROOT / "services" / "console" / "static"
SCREENSHOTS = ROOT / ".local" / "screenshots"

# Debian's /usr/bin/chromium is a shell script that adds desktop flags (remote extensions, GPU
# rasterisation, extension loading) before it execs this binary; the tests start the binary itself.
DEBIAN_CHROMIUM_BINARY = Path("/usr/lib/chromium/chromium")

Viewport = Literal["desktop", "phone"]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 360, "height": 740},
        "is_mobile": True,
        "has_touch": True,
        "device_scale_factor": 2,
    },
}
CONTEXT_DEFAULTS: dict[str, Any] = {"locale": "fa-IR", "timezone_id": "Asia/Tehran"}
# Playwright waits 30 s by default; a page of ours that takes this long has failed already.
ACTION_TIMEOUT_MS = 15_000
FAILING_IMPACTS = ("serious", "critical")


def chromium_executable() -> str:
    """The system chromium the tests launch; fails the test with what to do when there is none."""
    on_path = shutil.which("chromium")
    if on_path is None:
        pytest.fail(
            "no `chromium` executable on PATH: run `make install` (it installs Debian's chromium "
            "package with apt-get)",
            pytrace=False,
        )
    if Path(on_path).resolve() == Path("/usr/bin/chromium") and DEBIAN_CHROMIUM_BINARY.is_file():
        return str(DEBIAN_CHROMIUM_BINARY)
    return on_path


@cache
def axe_source() -> str:
    if not AXE_PATH.is_file():
        pytest.fail(f"axe-core is missing ({AXE_PATH.relative_to(ROOT)}): run `make install`", pytrace=False)
    return AXE_PATH.read_text(encoding="utf-8")


# --- checks --------------------------------------------------------------------------------------


async def assert_accessible(page: Page, *, include: str | None = None) -> dict[str, Any]:
    """Run axe-core on the page (or on the element `include` selects) and fail on every serious or
    critical violation, naming its rule, what to fix and the elements. Returns axe's full results."""
    # evaluate() is not subject to the page's Content-Security-Policy, unlike an injected <script>.
    if not await page.evaluate("() => typeof window.axe === 'object'"):
        await page.evaluate(axe_source())
    results: dict[str, Any] = await page.evaluate(
        "async (include) => await axe.run(include ? document.querySelector(include) : document,"
        " {resultTypes: ['violations']})",
        include,
    )
    failing = [v for v in results["violations"] if v.get("impact") in FAILING_IMPACTS]
    if failing:
        lines = [f"axe-core: {len(failing)} serious or critical violation(s) on {page.url}"]
        for violation in failing:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            for node in violation["nodes"][:10]:
                target = " ".join(str(t) for t in node["target"])
                lines.append(f"    at {target}: {node['html'][:160]}")
            if len(violation["nodes"]) > 10:
                lines.append(f"    ... and {len(violation['nodes']) - 10} more")
            lines.append(f"    see {violation['helpUrl']}")
        raise AssertionError("\n".join(lines))
    return results


_OVERFLOW_JS = """(width) => {
  const doc = document.documentElement;
  const scrollWidth = Math.max(doc.scrollWidth, document.body ? document.body.scrollWidth : 0);
  // Measured against the root element's box: a mobile browser widens its layout viewport to fit
  // content that sticks out, so the viewport's own edges are not where the screen ends.
  const frame = doc.getBoundingClientRect();
  const sticksOut = (el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && (r.right > frame.right + 0.5 || r.left < frame.left - 0.5);
  };
  const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
    + [...el.classList].map((c) => '.' + c).join('');
  // The outermost elements that stick out of the viewport: the ones to fix.
  const culprits = [...document.querySelectorAll('body *')]
    .filter((el) => sticksOut(el) && !(el.parentElement && el.parentElement !== document.body
                                       && sticksOut(el.parentElement)))
    .slice(0, 5)
    .map((el) => name(el) + ' (' + Math.round(el.getBoundingClientRect().width) + ' px wide)');
  return {scrollWidth, culprits};
}"""


async def assert_no_sideways_scroll(page: Page) -> None:
    """The document is no wider than the viewport: nothing to scroll sideways (in either direction)."""
    viewport = page.viewport_size
    assert viewport is not None, "the page has no fixed viewport"
    width = viewport["width"]
    found: dict[str, Any] = await page.evaluate(_OVERFLOW_JS, width)
    assert found["scrollWidth"] <= width, (
        f"{page.url} scrolls sideways: the document is {found['scrollWidth']} px wide in a {width} px "
        f"viewport; sticking out: {', '.join(found['culprits']) or 'nothing found in <body>'}"
    )


async def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Write a PNG of the page to .local/screenshots/<name>.png and return its path."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '.', '_' and '-' only")
    path = SCREENSHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=full_page)
    return path


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """Headless chromium, the system's, shared by the session (each test gets its own contexts)."""
    from playwright.async_api import async_playwright

    executable = chromium_executable()
    async with async_playwright() as playwright:
        # Without a sandbox: chromium's sandbox cannot start as root, which the CI machines are.
        launched = await playwright.chromium.launch(
            executable_path=executable, headless=True, chromium_sandbox=False
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test item, so fixtures can tell at teardown whether it failed."""
    report = yield
    setattr(item, f"_browser_report_{report.when}", report)
    return report


NewPage = Callable[..., Awaitable["Page"]]


@pytest.fixture
async def new_page(browser: Browser, request: pytest.FixtureRequest) -> AsyncIterator[NewPage]:
    """A factory: `await new_page(viewport="desktop" | "phone", **context_options)` -> a page in a new
    context; `context_options` are Playwright's (e.g. base_url, java_script_enabled=False)."""
    contexts: list[BrowserContext] = []

    async def make(viewport: Viewport = "desktop", **context_options: Any) -> Page:
        if viewport not in VIEWPORTS:
            raise ValueError(f"viewport {viewport!r}: choose one of {', '.join(VIEWPORTS)}")
        context = await browser.new_context(**{**CONTEXT_DEFAULTS, **VIEWPORTS[viewport], **context_options})
        context.set_default_timeout(ACTION_TIMEOUT_MS)
        contexts.append(context)
        return await context.new_page()

    yield make
    report = getattr(request.node, "_browser_report_call", None)
    failed = report is not None and report.failed
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", request.node.name)
    for n, context in enumerate(contexts):
        for m, page in enumerate(context.pages if failed else []):
            path = SCREENSHOTS / "failed" / f"{stem}-{n}-{m}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            # A page that crashed cannot be photographed; the test's own failure says enough then.
            with contextlib.suppress(Exception):
                await page.screenshot(path=str(path), full_page=True)
        await context.close()


@pytest.fixture
async def desktop_page(new_page: NewPage) -> Page:
    return await new_page("desktop")


@pytest.fixture
async def phone_page(new_page: NewPage) -> Page:
    return await new_page("phone")
