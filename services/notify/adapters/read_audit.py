"""Where notify's reads of personal data go for the read audit: tracking keeps it (POST /v1/audit/reads,
with the services' own client credentials), or a list in memory for tests."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import httpx


class ReadAuditSink(Protocol):
    async def send(self, records: list[dict[str, Any]]) -> None:
        """Hand over ``records`` (the read audit's record as JSON): all of them, or raise."""
        ...


class HttpReadAuditSink:
    def __init__(
        self,
        tracking_url: str,
        token: Callable[[], Awaitable[str]],
        timeout: float = 5.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = tracking_url.rstrip("/") + "/v1/audit/reads"
        self.token = token
        self.http = http or httpx.AsyncClient(timeout=timeout)

    async def send(self, records: list[dict[str, Any]]) -> None:
        r = await self.http.post(
            self.url, json={"records": records}, headers={"Authorization": f"Bearer {await self.token()}"}
        )
        r.raise_for_status()

    async def close(self) -> None:
        await self.http.aclose()


class InMemoryReadAuditSink:
    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.failing = False

    async def send(self, records: list[dict[str, Any]]) -> None:
        if self.failing:
            raise httpx.ConnectError("tracking is unreachable")
        self.records.extend(records)
