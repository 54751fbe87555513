"""The other services as the console reaches them: their HTTP APIs, with the signed-in person's own
token (so every rule of who may see and do what is the services' own), or the console's service token
for the citizen's pages."""

from __future__ import annotations

import logging
import time
import uuid
from contextvars import ContextVar
from typing import Any, Protocol

import httpx

log = logging.getLogger("samad.console.platform")
# When each call to another service began and ended (perf_counter seconds) during the request being
# served, for its Server-Timing header; None outside a request.
CALLS_MADE: ContextVar[list[tuple[float, float]] | None] = ContextVar("console_calls_made", default=None)


class ApiRefused(Exception):
    """A service answered with a problem document (4xx): its status, its Persian title and field errors."""

    def __init__(
        self, status: int, title: str, errors: list[dict[str, Any]], retry_after: str | None = None
    ) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.errors, self.retry_after = status, title, errors, retry_after


class ServiceDown(Exception):
    """A service could not be reached or failed (5xx, timeout): say so and keep what was typed."""

    def __init__(self, service: str) -> None:
        super().__init__(service)
        self.service = service


class Platform(Protocol):
    async def on_duty(self) -> dict[str, Any] | None: ...
    async def classify(self, token: str, text: str) -> dict[str, Any]: ...
    async def log_call(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]: ...
    async def register_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]: ...
    async def caller_cases(
        self, token: str, *, phone: str | None = None, national_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]: ...
    async def case(self, token: str, ref: str) -> dict[str, Any]: ...
    async def case_sms(self, token: str, case_id: str) -> list[dict[str, Any]]: ...
    async def citizen_status(self, code: str, phone: str, client: str) -> dict[str, Any]: ...
    async def send_code(self, token: str, phone: str, code: str, minutes: int) -> None: ...


class HttpPlatform:
    def __init__(
        self,
        *,
        intake: str,
        tracking: str,
        routing: str,
        notify: str,
        timeout: float,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.urls = {"intake": intake, "tracking": tracking, "routing": routing, "notify": notify}
        self.http = http or httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=200))

    async def close(self) -> None:
        await self.http.aclose()

    async def _call(
        self,
        service: str,
        method: str,
        path: str,
        token: str | None = None,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        started = time.perf_counter()
        try:
            r = await self.http.request(
                method, self.urls[service].rstrip("/") + path, json=json, params=params, headers=sent
            )
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %r", service, exc)
            raise ServiceDown(service) from exc
        finally:
            made = CALLS_MADE.get()
            if made is not None:
                made.append((started, time.perf_counter()))
        if r.status_code >= 500:
            log.warning("%s answered %s on %s", service, r.status_code, path)
            raise ServiceDown(service)
        if r.status_code >= 400:
            try:
                doc = r.json()
            except ValueError:
                doc = {}
            title = doc.get("detail") or doc.get("title") or ""
            raise ApiRefused(
                r.status_code, str(title), list(doc.get("errors") or []), r.headers.get("retry-after")
            )
        return r.json() if r.content else {}

    async def on_duty(self) -> dict[str, Any] | None:
        try:
            now = await self._call("routing", "GET", "/v1/roster/current")
        except ApiRefused:
            return None
        return now or None

    async def classify(self, token: str, text: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "routing", "POST", "/v1/classify", token, json={"text": text}
        )
        return result

    async def log_call(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return dict(
            await self._call(
                "intake", "POST", "/v1/calls", token, json=body, headers={"Idempotency-Key": key}
            )
        )

    async def register_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return dict(
            await self._call(
                "intake", "POST", "/v1/cases", token, json=body, headers={"Idempotency-Key": key}
            )
        )

    async def caller_cases(
        self, token: str, *, phone: str | None = None, national_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"open": str(open_only).lower()}
        if phone:
            params["phone"] = phone
        if national_id:
            params["national_id"] = national_id
        found = await self._call("tracking", "GET", "/v1/cases", token, params=params)
        return list(found.get("items", []))

    async def case(self, token: str, ref: str) -> dict[str, Any]:
        return dict(await self._call("tracking", "GET", f"/v1/cases/{httpx.URL(ref).path}", token))

    async def case_sms(self, token: str, case_id: str) -> list[dict[str, Any]]:
        found = await self._call("notify", "GET", "/v1/sms", token, params={"case_id": case_id})
        return list(found.get("items", []))

    async def citizen_status(self, code: str, phone: str, client: str) -> dict[str, Any]:
        return dict(
            await self._call(
                "tracking",
                "GET",
                f"/v1/status/{code}",
                params={"phone": phone},
                headers={"X-Forwarded-For": client},
            )
        )

    async def send_code(self, token: str, phone: str, code: str, minutes: int) -> None:
        await self._call(
            "notify",
            "POST",
            "/v1/verification-sms",
            token,
            json={"phone": phone, "code": code, "minutes": minutes},
        )


def new_key() -> str:
    return str(uuid.uuid4())
