"""The console tells how long it took to answer and how much of it went to waiting for the other
services (Server-Timing), on pages, fragments and redirects alike."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from services.console.adapters.platform import HttpPlatform
from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.entrypoints.http import covered, create_app

TIMING = re.compile(r"^app;dur=(\d+\.\d), services;dur=(\d+\.\d)$")
TRACKING_TAKES = 0.05  # seconds


async def tracking(request: httpx.Request) -> httpx.Response:
    """Tracking, slowly: no case with this code and phone."""
    await asyncio.sleep(TRACKING_TAKES)
    return httpx.Response(404, json={"title": "not found"})


async def _no_token(*_args: Any) -> Any:
    raise AssertionError("no token is needed here")


def client() -> TestClient:
    urls = {name: f"http://{name}.test" for name in ("intake", "tracking", "routing", "notify")}
    platform = HttpPlatform(
        **urls, timeout=5, http=httpx.AsyncClient(transport=httpx.MockTransport(tracking))
    )
    container = bootstrap(
        platform=platform,
        sessions=InMemorySessionStore(),
        counters=InMemoryCounters(),
        verify_token=_no_token,
        service_token=_no_token,
        with_broker=False,
    )
    return TestClient(create_app(container), base_url="http://127.0.0.1:8005")


def timing(response: httpx.Response) -> tuple[float, float]:
    found = TIMING.match(response.headers["server-timing"])
    assert found, response.headers["server-timing"]
    return float(found.group(1)), float(found.group(2))


def test_every_answer_carries_the_time_the_console_took() -> None:
    with client() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert timing(page)[1] == 0.0  # no other service was asked
        # A staff page without a session is a redirect to sign in: timed too.
        redirect = http.get("/desk", follow_redirects=False)
        assert redirect.status_code == 303
        timing(redirect)
        # Compressed answers keep it (the header is added outside the compression).
        big = http.get("/register/phone", headers={"Accept-Encoding": "gzip"})
        assert big.headers.get("content-encoding") == "gzip"
        timing(big)


def test_the_time_spent_waiting_for_another_service_is_told_apart() -> None:
    with client() as http:
        form = http.get("/status")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert csrf is not None
        looked_up = http.post(
            "/status",
            data={"csrf_token": csrf.group(1), "tracking_code": "1234567890", "phone": "4567"},
        )
        assert looked_up.status_code == 422  # tracking knows no such case
        app, services = timing(looked_up)
        assert services >= TRACKING_TAKES * 1000
        assert app >= services


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], 0.0),
        ([(0.0, 1.0)], 1.0),
        ([(0.0, 1.0), (2.0, 3.5)], 2.5),
        ([(0.0, 2.0), (1.0, 3.0)], 3.0),  # at the same time: counted once
        ([(1.0, 3.0), (0.0, 4.0), (5.0, 6.0)], 5.0),
    ],
)
def test_calls_made_at_once_are_counted_once(spans: list[tuple[float, float]], expected: float) -> None:
    assert covered(spans) == pytest.approx(expected)
