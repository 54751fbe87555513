"""The other services as the console reaches them: their HTTP APIs, with the signed-in person's own
token (so every rule of who may see and do what is the services' own), or the console's service token
for the citizen's pages."""

from __future__ import annotations

import logging
import uuid
from typing import Any, Protocol

import httpx

log = logging.getLogger("samad.console.platform")


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

    # The agency's inbox: its queue, its staff, acting on a case, the escalation queues, SMS previews.
    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]: ...
    async def agency_staff(self, token: str, agency: str) -> list[dict[str, Any]]: ...
    async def act(self, token: str, case_id: str, body: dict[str, Any], key: str) -> dict[str, Any]: ...
    async def escalations(self, token: str, params: dict[str, Any]) -> dict[str, Any]: ...
    async def preview_sms(self, token: str, body: dict[str, Any]) -> dict[str, Any]: ...


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
        try:
            r = await self.http.request(
                method, self.urls[service].rstrip("/") + path, json=json, params=params, headers=sent
            )
        except httpx.HTTPError as exc:
            log.warning("%s unreachable: %r", service, exc)
            raise ServiceDown(service) from exc
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

    # --- the agency's inbox -------------------------------------------------------------------------

    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]:
        path = f"/v1/agencies/{httpx.URL(agency).path}/cases"
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
        # The inbox: agency -> its staff; the cases each agency holds are those in ``cases`` with
        # that "agency"; actions are recorded and applied to ``cases`` at once (as if projected).
        self.staff: dict[str, list[dict[str, Any]]] = {}
        self.actions: list[tuple[str, dict[str, Any], str]] = []
        self.previews: list[dict[str, Any]] = []
        self.project_actions = True
        # token -> the agency its holder works for, as tracking enforces it (a token not listed sees
        # every agency, as a supervisor's).
        self.token_agency: dict[str, str] = {}

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
        if key in self._keys:
            return self._keys[key]
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
                "status_fa": "ثبت شده",
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
        self._keys[key] = answer
        return answer

    async def caller_cases(
        self, token: str, *, phone: str | None = None, national_id: str | None = None, open_only: bool = False
    ) -> list[dict[str, Any]]:
        self._enter("caller_cases", {"phone": phone, "national_id": national_id})
        return [
            c
            for c in self.cases.values()
            if phone and c.get("phone") == phone and (c["open"] or not open_only)
        ]

    async def case(self, token: str, ref: str) -> dict[str, Any]:
        self._enter("case", {"ref": ref})
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

    # --- the agency's inbox -----------------------------------------------------------------------

    def _visible(self, token: str, case: dict[str, Any]) -> bool:
        agency = self.token_agency.get(token)
        return agency is None or case.get("agency") == agency

    async def agency_queue(self, token: str, agency: str, params: dict[str, Any]) -> dict[str, Any]:
        self._enter("agency_queue", {"agency": agency, **params})
        if self.token_agency.get(token, agency) != agency:
            raise ApiRefused(403, "این پرونده متعلق به دستگاه شما نیست", [])
        items = [c for c in self.cases.values() if c.get("agency") == agency]
        if params.get("status"):
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
