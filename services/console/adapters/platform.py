"""The other services as the console reaches them: their HTTP APIs, with the signed-in person's own
token (so every rule of who may see and do what is the services' own), or the console's service token
for the citizen's pages."""

from __future__ import annotations

import csv
import io
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextvars import ContextVar
from datetime import date, timedelta
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from contracts.events import STATUS_FA, CaseStatus
from services.common.auth import PURPOSE_HEADER
from services.console.domain.inbox import OPEN, OPEN_STATUSES

log = logging.getLogger("samad.console.platform")
# When each call to another service began and ended (perf_counter seconds) during the request being
# served, for its Server-Timing header; None outside a request.
CALLS_MADE: ContextVar[list[tuple[float, float]] | None] = ContextVar("console_calls_made", default=None)
# The console screen a call is made for (its route, e.g. "console /desk/cases/{ref}"): sent with every
# call as X-Samad-Purpose, so the read audit says why a case was read. None outside a staff page.
SCREEN: ContextVar[str | None] = ContextVar("console_screen", default=None)


class ApiRefused(Exception):
    """A service answered with a problem document (4xx): its status, its Persian title and field errors
    (and the whole document, for what a problem adds: a roster overlap names the entries it overlaps)."""

    def __init__(
        self,
        status: int,
        title: str,
        errors: list[dict[str, Any]],
        retry_after: str | None = None,
        doc: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{status} {title}")
        self.status, self.title, self.errors, self.retry_after = status, title, errors, retry_after
        self.doc = doc or {}


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
    async def log_call_with_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        """An answered call and its case in one request (``{"call": …, "case": …}``): both, or neither."""
        ...

    async def caller_cases(
        self, token: str, *, phone: str | None = None, national_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]: ...
    async def case(self, token: str, ref: str, caller: dict[str, str] | None = None) -> dict[str, Any]:
        """A case; ``caller``: the phone or national id of the caller the operator is handling (their
        cases show the personal data)."""
        ...

    async def case_sms(self, token: str, case_id: str) -> list[dict[str, Any]]: ...
    async def citizen_status(self, code: str, phone: str, client: str) -> dict[str, Any]: ...
    async def send_code(self, token: str, phone: str, code: str, minutes: int) -> None: ...

    # The governorate supervisor's screens: tracking's reports, routing's triage and duty roster.
    async def report(self, token: str, name: str, params: dict[str, str]) -> dict[str, Any]:
        """Tracking's report ``name`` (funnel, agencies, counties, weeks) as JSON."""
        ...

    async def report_csv(self, token: str, name: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        """The same report as tracking's CSV, streamed (a refusal is raised before the first byte)."""
        ...

    async def report_cases(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        """The cases behind one number of a report (tracking's /v1/reports/cases), one page."""
        ...

    async def triage(self, token: str) -> list[dict[str, Any]]: ...
    async def route_triage(
        self, token: str, case_id: str, agency: str, note: str | None
    ) -> dict[str, Any]: ...
    async def roster(self, date_from: str | None, date_to: str | None) -> list[dict[str, Any]]: ...
    async def roster_entry(self, entry_id: str) -> dict[str, Any]: ...
    async def add_roster_entry(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def move_roster_entry(self, token: str, entry_id: str, body: dict[str, Any]) -> dict[str, Any]: ...
    async def remove_roster_entry(self, token: str, entry_id: str) -> None: ...
    async def roster_calendar(self) -> str: ...
    # The agency's inbox: its queue, its staff, acting on a case, the escalation queues, SMS previews.
    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]: ...
    async def agency_staff(self, token: str, agency: str) -> list[dict[str, Any]]: ...
    async def act(self, token: str, case_id: str, body: dict[str, Any], key: str) -> dict[str, Any]: ...
    async def escalations(self, token: str, params: dict[str, Any]) -> dict[str, Any]: ...
    async def preview_sms(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...
    # The read audit (supervisors): who read which case's personal data.
    async def audit_reads(self, token: str, params: dict[str, str]) -> dict[str, Any]: ...


# Reports read a whole period (up to a year) in tracking's database; on FerretDB that takes seconds.
REPORT_TIMEOUT_SECONDS = 30.0


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
        timeout: float | None = None,
    ) -> Any:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        screen = SCREEN.get()
        if screen:
            sent[PURPOSE_HEADER] = screen
        started = time.perf_counter()
        try:
            r = await self.http.request(
                method,
                self.urls[service].rstrip("/") + path,
                json=json,
                params=params,
                headers=sent,
                timeout=timeout if timeout is not None else self.http.timeout,
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
                r.status_code,
                str(title),
                list(doc.get("errors") or []),
                r.headers.get("retry-after"),
                doc if isinstance(doc, dict) else {},
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

    async def log_call_with_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        return dict(
            await self._call(
                "intake", "POST", "/v1/calls/with-case", token, json=body, headers={"Idempotency-Key": key}
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

    async def case(self, token: str, ref: str, caller: dict[str, str] | None = None) -> dict[str, Any]:
        params = {f"caller_{k}": v for k, v in (caller or {}).items() if k in ("phone", "national_id") and v}
        return dict(
            await self._call(
                "tracking", "GET", f"/v1/cases/{httpx.URL(ref).path}", token, params=params or None
            )
        )

    async def audit_reads(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        return dict(await self._call("tracking", "GET", "/v1/audit/reads", token, params=params))

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

    async def report(self, token: str, name: str, params: dict[str, str]) -> dict[str, Any]:
        # A report counts a whole period in tracking's database: seconds, not the pages' budget.
        return dict(
            await self._call(
                "tracking", "GET", f"/v1/reports/{name}", token, params=params, timeout=REPORT_TIMEOUT_SECONDS
            )
        )

    async def report_csv(self, token: str, name: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        url = self.urls["tracking"].rstrip("/") + f"/v1/reports/{name}.csv"
        request = self.http.build_request(
            "GET", url, params=params, headers={"Authorization": f"Bearer {token}"}
        )
        try:
            response = await self.http.send(request, stream=True)
        except httpx.HTTPError as exc:
            log.warning("tracking unreachable: %r", exc)
            raise ServiceDown("tracking") from exc
        if response.status_code >= 400:
            body = await response.aread()
            await response.aclose()
            if response.status_code >= 500:
                raise ServiceDown("tracking")
            try:
                doc = httpx.Response(response.status_code, content=body).json()
            except ValueError:
                doc = {}
            raise ApiRefused(
                response.status_code,
                str(doc.get("detail") or doc.get("title") or ""),
                list(doc.get("errors") or []),
                doc=doc,
            )

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in response.aiter_bytes():
                    yield chunk
            finally:
                await response.aclose()

        return chunks()

    async def report_cases(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        return dict(
            await self._call(
                "tracking", "GET", "/v1/reports/cases", token, params=params, timeout=REPORT_TIMEOUT_SECONDS
            )
        )

    async def triage(self, token: str) -> list[dict[str, Any]]:
        found = await self._call("routing", "GET", "/v1/triage", token)
        return list(found.get("items", []))

    async def route_triage(self, token: str, case_id: str, agency: str, note: str | None) -> dict[str, Any]:
        return dict(
            await self._call(
                "routing",
                "POST",
                f"/v1/triage/{quote(case_id, safe='')}",
                token,
                json={"agency": agency, "note": note},
            )
        )

    async def roster(self, date_from: str | None, date_to: str | None) -> list[dict[str, Any]]:
        params = {k: v for k, v in (("from", date_from), ("to", date_to)) if v}
        found = await self._call("routing", "GET", "/v1/roster", params=params)
        return list(found.get("entries", []))

    async def roster_entry(self, entry_id: str) -> dict[str, Any]:
        return dict(await self._call("routing", "GET", f"/v1/roster/{quote(entry_id, safe='')}"))

    async def add_roster_entry(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("routing", "POST", "/v1/roster", token, json=body))

    async def move_roster_entry(self, token: str, entry_id: str, body: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/roster/{quote(entry_id, safe='')}"
        return dict(await self._call("routing", "PUT", path, token, json=body))

    async def remove_roster_entry(self, token: str, entry_id: str) -> None:
        await self._call("routing", "DELETE", f"/v1/roster/{quote(entry_id, safe='')}", token)

    async def roster_calendar(self) -> str:
        try:
            r = await self.http.get(self.urls["routing"].rstrip("/") + "/v1/roster/calendar.ics")
        except httpx.HTTPError as exc:
            raise ServiceDown("routing") from exc
        if r.status_code >= 400:
            raise ServiceDown("routing")
        return r.text

    # --- the agency's inbox -------------------------------------------------------------------------

    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/agencies/{quote(agency, safe='')}/cases"
        return dict(await self._call("tracking", "GET", path, token, params=params))

    async def agency_staff(self, token: str, agency: str) -> list[dict[str, Any]]:
        found = await self._call("tracking", "GET", f"/v1/agencies/{httpx.URL(agency).path}/staff", token)
        return list(found.get("items", []))

    async def act(self, token: str, case_id: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        path = f"/v1/cases/{httpx.URL(case_id).path}/actions"
        return dict(
            await self._call("tracking", "POST", path, token, json=body, headers={"Idempotency-Key": key})
        )

    async def escalations(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("tracking", "GET", "/v1/escalations", token, params=params))

    async def preview_sms(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("notify", "POST", "/v1/sms/preview", token, json=body))


def new_key() -> str:
    return str(uuid.uuid4())


class InMemoryPlatform:
    """The ``Platform`` fake: the services' answers kept in lists, every call recorded, refusals and
    outages scripted by the test."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.cases: dict[str, dict[str, Any]] = {}
        self.sms: dict[str, list[dict[str, Any]]] = {}
        self.codes_sent: list[tuple[str, str, int]] = []
        self.duty: dict[str, Any] | None = None
        self.suggestion: dict[str, Any] = {
            "agency": "water_wastewater",
            "confidence": 0.83,
            "explanation": ["آب"],
        }
        self.refuse: dict[str, ApiRefused] = {}
        self.down: set[str] = set()
        self._keys: dict[str, dict[str, Any]] = {}
        # The supervisor's screens: reports by name, the triage queue, the roster's entries by id.
        self.reports: dict[str, dict[str, Any]] = {}
        self.triage_items: list[dict[str, Any]] = []
        self.routed: list[tuple[str, str, str | None]] = []
        self.roster_entries: dict[str, dict[str, Any]] = {}
        # The inbox: agency -> its staff; the cases each agency holds are those in ``cases`` with
        # that "agency"; actions are recorded and applied to ``cases`` at once (as if projected).
        self.staff: dict[str, list[dict[str, Any]]] = {}
        self.actions: list[tuple[str, dict[str, Any], str]] = []
        self.previews: list[dict[str, Any]] = []
        self.project_actions = True
        # token -> the agency its holder works for, as tracking enforces it (a token not listed sees
        # every agency, as a supervisor's).
        self.token_agency: dict[str, str] = {}
        # The read audit's records, as tracking answers them (newest first).
        self.reads: list[dict[str, Any]] = []

    def _enter(self, what: str, body: dict[str, Any] | None = None) -> None:
        self.calls.append((what, body or {}))
        if what in self.down:
            raise ServiceDown(what)
        if what in self.refuse:
            raise self.refuse[what]

    async def on_duty(self) -> dict[str, Any] | None:
        self._enter("on_duty")
        return self.duty

    async def classify(self, token: str, text: str) -> dict[str, Any]:
        self._enter("classify", {"text": text})
        return self.suggestion

    async def log_call(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        self._enter("log_call", body)
        return self._keys.setdefault(key, {"call_id": f"call-{len(self._keys) + 1}", "status": "received"})

    async def register_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        self._enter("register_case", body)
        if key not in self._keys:
            self._keys[key] = self._case(body)
        return self._keys[key]

    def _case(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("repeat_of"):
            case = self.cases[body["repeat_of"]]
            answer = {
                "status": "repeat_call",
                "case_id": case["case_id"],
                "tracking_code": case["tracking_code"],
            }
        else:
            n = len(self.cases) + 1
            case = {
                "case_id": f"case-{n}",
                "tracking_code": f"{1000000000 + n}",
                "subject": body.get("subject"),
                "county": body.get("county"),
                "phone": body.get("phone"),
                "status": "registered",
                "status_fa": STATUS_FA[CaseStatus.registered],
                "open": True,
                "timeline": [],
                "citizen": {"phone": body.get("phone"), "name": body.get("name")},
            }
            self.cases[case["case_id"]] = case
            answer = {
                "status": "registered",
                "case_id": case["case_id"],
                "tracking_code": case["tracking_code"],
            }
        return answer

    async def log_call_with_case(self, token: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        self._enter("log_call_with_case", body)
        if key in self._keys:
            return self._keys[key]
        call = {"call_id": f"call-{len(self._keys) + 1}", "status": "received"}
        case = self._case(body["case"] | {"call_id": call["call_id"]})
        self._keys[key] = {"call": call, "case": case}
        return self._keys[key]

    async def caller_cases(
        self, token: str, *, phone: str | None = None, national_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        self._enter("caller_cases", {"phone": phone, "national_id": national_id})
        return [
            c
            for c in self.cases.values()
            if phone and c.get("phone") == phone and (c["open"] or not open_only)
        ]

    async def case(self, token: str, ref: str, caller: dict[str, str] | None = None) -> dict[str, Any]:
        self._enter("case", {"ref": ref} | ({"caller": caller} if caller else {}))
        for c in self.cases.values():
            if ref in (c["case_id"], c["tracking_code"]):
                if not self._visible(token, c):
                    raise ApiRefused(403, "این پرونده متعلق به دستگاه شما نیست", [])
                return c
        raise ApiRefused(404, "پرونده پیدا نشد", [])

    async def case_sms(self, token: str, case_id: str) -> list[dict[str, Any]]:
        self._enter("case_sms", {"case_id": case_id})
        return self.sms.get(case_id, [])

    async def citizen_status(self, code: str, phone: str, client: str) -> dict[str, Any]:
        self._enter("citizen_status", {"code": code, "phone": phone, "client": client})
        for c in self.cases.values():
            if c["tracking_code"] == code and str(c.get("phone", "")).endswith(phone[-4:]):
                return {**c, "history": []}
        raise ApiRefused(404, "پرونده پیدا نشد", [])

    async def send_code(self, token: str, phone: str, code: str, minutes: int) -> None:
        self._enter("send_code", {"phone": phone})
        self.codes_sent.append((phone, code, minutes))

    async def report(self, token: str, name: str, params: dict[str, str]) -> dict[str, Any]:
        self._enter("report", {"name": name, **params})
        return self.reports.get(name, {})

    async def report_csv(self, token: str, name: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        self._enter("report_csv", {"name": name, **params})
        doc = self.reports.get(name, {})
        listed = doc.get(name)
        rows: list[dict[str, Any]] = (
            list(listed) if isinstance(listed, list) else [{k: v for k, v in doc.items() if k != "period"}]
        )
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["empty"])
        writer.writeheader()
        writer.writerows(rows)
        text = "\ufeff" + buffer.getvalue()

        async def chunks() -> AsyncIterator[bytes]:
            yield text.encode()

        return chunks()

    async def report_cases(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        self._enter("report_cases", params)
        items = list(self.cases.values())
        return {"total": len(items), "page": int(params.get("page", 1)), "items": items}

    async def triage(self, token: str) -> list[dict[str, Any]]:
        self._enter("triage")
        return list(self.triage_items)

    async def route_triage(self, token: str, case_id: str, agency: str, note: str | None) -> dict[str, Any]:
        self._enter("route_triage", {"case_id": case_id, "agency": agency, "note": note})
        waiting = [i for i in self.triage_items if i["case_id"] == case_id]
        if not waiting:
            raise ApiRefused(409, "پرونده در انتظار تعیین دستگاه نیست", [])
        self.triage_items.remove(waiting[0])
        self.routed.append((case_id, agency, note))
        return {"case_id": case_id, "agency": agency, "reason": "manual"}

    async def roster(self, date_from: str | None, date_to: str | None) -> list[dict[str, Any]]:
        self._enter("roster", {"from": date_from, "to": date_to})
        return sorted(self.roster_entries.values(), key=lambda e: str(e["week_start"]))

    async def roster_entry(self, entry_id: str) -> dict[str, Any]:
        self._enter("roster_entry", {"id": entry_id})
        if entry_id not in self.roster_entries:
            raise ApiRefused(404, "برنامهٔ کشیک پیدا نشد", [])
        return self.roster_entries[entry_id]

    def _entry(self, entry_id: str, body: dict[str, Any]) -> dict[str, Any]:
        week = date.fromisoformat(body["week_start"])
        return {
            "id": entry_id,
            **body,
            "week_end": (week + timedelta(days=6)).isoformat(),
            "agency_fa": body["agency"],
            "sessions": [],
        }

    async def add_roster_entry(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("add_roster_entry", body)
        entry = self._entry(f"r-{len(self.roster_entries) + 1}", body)
        self.roster_entries[entry["id"]] = entry
        return entry

    async def move_roster_entry(self, token: str, entry_id: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("move_roster_entry", {"id": entry_id, **body})
        if entry_id not in self.roster_entries:
            raise ApiRefused(404, "برنامهٔ کشیک پیدا نشد", [])
        self.roster_entries[entry_id] = self._entry(entry_id, body)
        return self.roster_entries[entry_id]

    async def remove_roster_entry(self, token: str, entry_id: str) -> None:
        self._enter("remove_roster_entry", {"id": entry_id})
        if self.roster_entries.pop(entry_id, None) is None:
            raise ApiRefused(404, "برنامهٔ کشیک پیدا نشد", [])

    async def roster_calendar(self) -> str:
        self._enter("roster_calendar")
        return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"

    # --- the agency's inbox -----------------------------------------------------------------------

    def _visible(self, token: str, case: dict[str, Any]) -> bool:
        agency = self.token_agency.get(token)
        return agency is None or case.get("agency") == agency

    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]:
        self._enter("agency_queue", {"agency": agency, **params})
        if self.token_agency.get(token, agency) != agency:
            raise ApiRefused(403, "این پرونده متعلق به دستگاه شما نیست", [])
        items = [c for c in self.cases.values() if c.get("agency") == agency]
        if params.get("status") == OPEN:
            items = [c for c in items if c.get("status") in OPEN_STATUSES]
        elif params.get("status"):
            items = [c for c in items if c.get("status") == params["status"]]
        if params.get("county"):
            items = [c for c in items if c.get("county") == params["county"]]
        if "overdue" in params:
            items = [c for c in items if bool(c.get("overdue")) == (params["overdue"] == "true")]
        if params.get("assignee"):
            wanted = None if params["assignee"] == "none" else params["assignee"]
            items = [c for c in items if ((c.get("assignee") or {}).get("id")) == wanted]
        size, page = int(params.get("page_size", 25)), int(params.get("page", 1))
        return {
            "agency": agency,
            "sort": params.get("sort", "newest"),
            "page": page,
            "page_size": size,
            "total": len(items),
            "items": items[(page - 1) * size : page * size],
        }

    async def agency_staff(self, token: str, agency: str) -> list[dict[str, Any]]:
        self._enter("agency_staff", {"agency": agency})
        return list(self.staff.get(agency, []))

    async def act(self, token: str, case_id: str, body: dict[str, Any], key: str) -> dict[str, Any]:
        self._enter("act", {"case_id": case_id, **body})
        case = self.cases.get(case_id)
        if case is None or not self._visible(token, case):
            raise ApiRefused(404 if case is None else 403, "پرونده پیدا نشد", [])
        event_id = f"ev-{key}"
        after = {
            "acknowledge": "in_progress",
            "ask": "waiting_for_citizen",
            "resume": "in_progress",
            "resolve": "resolved",
            "reject": "rejected",
            "reroute": "registered",
        }.get(str(body["action"]), case.get("status"))
        self.actions.append((case_id, dict(body), key))
        if self.project_actions:
            case["status"] = after
            if body["action"] == "assign":
                case["assignee"] = (
                    {"id": body.get("assignee"), "name": body.get("assignee")}
                    if body.get("assignee")
                    else None
                )
            case.setdefault("timeline", []).append(
                {"event_id": event_id, "type": "ir.samad.case.x", "time": "2026-12-05T10:00:00+00:00"}
            )
        return {"case_id": case_id, "action": body["action"], "event_id": event_id, "status_after": after}

    async def escalations(self, token: str, params: dict[str, Any]) -> dict[str, Any]:
        self._enter("escalations", dict(params))
        agency = self.token_agency.get(token)
        target = "agency_head" if agency else params.get("to", "supervisor")
        items = [
            c
            for c in self.cases.values()
            if target in ((c.get("escalation") or {}).get("reached") or [])
            and (c.get("escalation") or {}).get("active")
            and (agency is None or c.get("agency") == agency)
        ]
        return {
            "to": target,
            "agency": agency,
            "page": 1,
            "page_size": 50,
            "total": len(items),
            "items": items,
        }

    async def preview_sms(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        self._enter("preview_sms", dict(body))
        self.previews.append(dict(body))
        text = f"درخواست {body.get('tracking_code')} پاسخ داده شد. پاسخ: {body.get('answer') or ''}"
        parts = 1 if len(text) <= 70 else (len(text) + 66) // 67
        return {
            "template": body.get("template"),
            "text": text,
            "parts": parts,
            "characters": len(text),
            "encoding": "ucs2",
            "per_part": 70 if parts == 1 else 67,
            "max_parts": 2,
            "shortened": False,
        }

    async def audit_reads(self, token: str, params: dict[str, str]) -> dict[str, Any]:
        self._enter("audit_reads", dict(params))
        items = [
            r for r in self.reads if all(r.get(k) == params[k] for k in ("case_id", "user") if params.get(k))
        ]
        page = int(params.get("page", "1"))
        return {
            "page": page,
            "page_size": 50,
            "total": len(items),
            "items": items[(page - 1) * 50 : page * 50],
        }
