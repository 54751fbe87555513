"""Reading a case's current status from tracking's staff API (Open311 GET requests/{id}).

Tracking owns the case lifecycle; intake only asks. When tracking cannot answer, Open311 falls back to
intake's own view of the case, which is rebuilt from the same events and lags only slightly.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

log = logging.getLogger("samad.intake.tracking")


class TrackingUnavailable(Exception):
    """Tracking did not answer in time or answered with an error."""


@dataclass(frozen=True)
class TrackedStatus:
    """What the public feed may show of tracking's case: not the staff's answer or reason, which no
    one has reviewed for publication (so it is not even read)."""

    status: str
    agency: str | None = None
    updated_at: datetime | None = None


class TrackingDirectory(Protocol):
    async def status(self, reference: str) -> TrackedStatus | None:
        """The case's status by case id or tracking code; None when tracking does not know it."""

    async def close(self) -> None: ...


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def parse_case(doc: dict[str, Any]) -> TrackedStatus | None:
    """Tolerant reading of tracking's case document: only status is required."""
    nested = doc.get("case")
    case: dict[str, Any] = nested if isinstance(nested, dict) else doc
    status = case.get("status")
    if not isinstance(status, str):
        return None
    agency = case.get("agency")
    updated = case.get("updated_at") or case.get("last_event_at")
    return TrackedStatus(
        status=status,
        agency=agency if isinstance(agency, str) else None,
        updated_at=_parse_time(updated),
    )


class HttpTrackingDirectory:
    def __init__(self, base_url: str, token: Callable[[], Awaitable[str]], timeout_seconds: float) -> None:
        # A callable: the token is renewed from the identity provider before it expires.
        self.token = token
        self.client = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), timeout=timeout_seconds, headers={"Accept": "application/json"}
        )

    async def status(self, reference: str) -> TrackedStatus | None:
        try:
            response = await self.client.get(
                f"/v1/cases/{reference}", headers={"Authorization": f"Bearer {await self.token()}"}
            )
        except httpx.HTTPError as exc:
            raise TrackingUnavailable(repr(exc)) from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TrackingUnavailable(f"tracking answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise TrackingUnavailable("tracking answered with something other than JSON") from exc
        return parse_case(body) if isinstance(body, dict) else None

    async def close(self) -> None:
        await self.client.aclose()


class InMemoryTrackingDirectory:
    def __init__(self) -> None:
        self.cases: dict[str, TrackedStatus] = {}
        self.available = True

    async def status(self, reference: str) -> TrackedStatus | None:
        if not self.available:
            raise TrackingUnavailable("tracking is down")
        return self.cases.get(reference)

    async def close(self) -> None:
        return None
