"""The console tells how long it took to answer (Server-Timing), on pages, fragments and redirects alike."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from services.console.adapters.stores import InMemoryCounters, InMemorySessionStore
from services.console.bootstrap import bootstrap
from services.console.entrypoints.http import create_app

TIMING = re.compile(r"^app;dur=\d+\.\d$")


class NoPlatform:
    """The pages below call no other service; any call would fail the test."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected call to the platform: {name}")


async def _no_token(*_args: Any) -> Any:
    raise AssertionError("no token is needed here")


def client() -> TestClient:
    container = bootstrap(
        platform=NoPlatform(),  # type: ignore[arg-type]
        sessions=InMemorySessionStore(),
        counters=InMemoryCounters(),
        verify_token=_no_token,
        service_token=_no_token,
        with_broker=False,
    )
    return TestClient(create_app(container), base_url="http://127.0.0.1:8005")


def test_every_answer_carries_the_time_the_console_took() -> None:
    with client() as http:
        page = http.get("/")
        assert page.status_code == 200
        assert TIMING.match(page.headers["server-timing"]), page.headers["server-timing"]
        # A staff page without a session is a redirect to sign in: timed too.
        redirect = http.get("/desk", follow_redirects=False)
        assert redirect.status_code == 303
        assert TIMING.match(redirect.headers["server-timing"])
        # Compressed answers keep it (the header is added outside the compression).
        big = http.get("/register/phone", headers={"Accept-Encoding": "gzip"})
        assert big.headers.get("content-encoding") == "gzip"
        assert TIMING.match(big.headers["server-timing"])
