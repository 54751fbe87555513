"""The trace receiver's query API (Jaeger's ``/api/traces``): traces that carry a given attribute.

``JaegerTraces`` asks the real receiver; ``InMemoryTraces`` answers from traces given to it (tests).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import httpx

from services.ops.domain.traces import CaseTrace, read_traces


class TracesUnavailable(RuntimeError):
    """The receiver did not answer (not started, wrong SAMAD_JAEGER_URL)."""


class TraceStore(Protocol):
    async def find(self, service: str, attribute: str, value: str, *, lookback_hours: int) -> list[CaseTrace]:
        """Traces with a span of ``service`` whose ``attribute`` is ``value``, in the last hours."""
        ...

    async def close(self) -> None: ...


class JaegerTraces:
    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def find(self, service: str, attribute: str, value: str, *, lookback_hours: int) -> list[CaseTrace]:
        params = {
            "service": service,
            "tags": json.dumps({attribute: value}),
            "lookback": f"{lookback_hours}h",
            "limit": "100",
        }
        try:
            reply = await self._client.get("/api/traces", params=params)
        except httpx.HTTPError as exc:
            raise TracesUnavailable(f"{self.base_url}: {exc!r}") from exc
        if reply.status_code == 404 or (reply.status_code == 400 and "service" in reply.text):
            return []  # no span of that service yet
        if reply.status_code != 200:
            raise TracesUnavailable(
                f"{self.base_url}/api/traces answered {reply.status_code}: {reply.text[:200]}"
            )
        body: Mapping[str, Any] = reply.json()
        return read_traces(body)

    async def close(self) -> None:
        await self._client.aclose()


class InMemoryTraces:
    """Answers from the traces given (as Jaeger's JSON would be read)."""

    def __init__(self, traces: Sequence[CaseTrace] = ()) -> None:
        self.traces = list(traces)
        self.available = True

    async def find(self, service: str, attribute: str, value: str, *, lookback_hours: int) -> list[CaseTrace]:
        if not self.available:
            raise TracesUnavailable("receiver down")
        return [
            t
            for t in self.traces
            if any(s.service == service and str(s.attributes.get(attribute)) == value for s in t.spans)
        ]

    async def close(self) -> None:
        return None
