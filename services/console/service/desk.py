"""The operator's desk: a call logged and, when answered, a case registered or the call linked to the
caller's open case; the caller's cases the moment the number is typed; routing's suggestion as the
description is typed; the director-general on duty; a case found and opened."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts import tracking_code
from contracts.catalogue import agency as agency_of
from services.common.clock import Clock
from services.common.logs import mask_phone
from services.console.adapters.platform import ApiRefused, Platform
from services.console.domain.forms import Form, check_desk, chosen_agency, digits, looks_like_mobile
from services.console.domain.people import User

log = logging.getLogger("samad.console.desk")
DUTY_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Registered:
    """What the desk shows after a submit: the call, and the case registered or linked (if any)."""

    call_id: str
    case: dict[str, Any] | None
    linked: bool
    action: str


def _case_body(form: Form, session_id: str | None, **fields: Any) -> dict[str, Any]:
    """A case for intake from the desk: a phone call's, with ``fields``."""
    return {"channel": "phone", "phone": form.get("caller_phone"), "duty_session_id": session_id, **fields}


def _done(action: str, call_id: str, case: dict[str, Any], form: Form) -> Registered:
    """The call and the case intake answered with (registered, or the open case linked), logged."""
    log.info(
        "desk %s: call %s, case %s from %s",
        action,
        call_id,
        case.get("case_id"),
        mask_phone(form.get("caller_phone")),
    )
    return Registered(call_id, case, case.get("status") == "repeat_call", action)


class Desk:
    def __init__(self, platform: Platform, clock: Clock) -> None:
        self.platform = platform
        self.clock = clock
        self._duty: tuple[float, dict[str, Any] | None] | None = None

    async def on_duty(self) -> dict[str, Any] | None:
        """The published roster's session now (cached briefly: every desk page shows it)."""
        if self._duty is None or time.monotonic() - self._duty[0] > DUTY_CACHE_SECONDS:
            now = await self.platform.on_duty()
            self._duty = (time.monotonic(), now if now and now.get("on_duty") else None)
        return self._duty[1]

    async def caller(self, token: str, phone: str) -> list[dict[str, Any]] | None:
        """The caller's open cases, newest first; None while the number is not complete."""
        if not looks_like_mobile(phone):
            return None
        return await self.platform.caller_cases(token, phone=digits(phone), open_only=True)

    async def suggest(self, token: str, text: str) -> dict[str, Any] | None:
        """Routing's suggestion for the description typed so far (nothing for a few words)."""
        if len(text.strip()) < 8:
            return None
        return await self.platform.classify(token, text.strip())

    async def submit(
        self, user: User, token: str, form: Form, action: str, started_at: datetime, key: str
    ) -> Registered | None:
        """Log the call, then register the case or link the call; None with ``form.errors`` filled when
        something must be corrected. ``key`` makes a submit sent twice (a double click, a retry after an
        outage) log one call and one case. An answered call with a new case is one request to intake
        (the call and its case under one key), the other paths log the call first."""
        check_desk(form, action)
        if not form.ok:
            return None
        if action == "auto":
            action = "register" if form.get("outcome") == "answered" else "log"
        now = self.clock.now()
        duty = await self.on_duty() if user.role == "supervisor" else None
        session_id = duty.get("session_id") if duty else None
        call = {
            "caller_phone": form.get("caller_phone") or None,
            "channel": "phone",
            "outcome": form.get("outcome"),
            "started_at": started_at.isoformat(),
            "duration_seconds": max(0, int((now - started_at).total_seconds())),
            "duty_session_id": session_id,
        }
        if action == "register":
            return await self._register(token, form, call, session_id, key)
        try:
            logged = await self.platform.log_call(token, call, f"{key}:call")
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "outcome")
            if not exc.errors:
                form.add("outcome", exc.title or "تماس ثبت نشد")
            return None
        if action == "log":
            return Registered(logged["call_id"], None, False, action)
        # The call linked to the open case the operator chose (action "link").
        try:
            open_case = await self.platform.case(token, form.get("repeat_of"))
        except ApiRefused:
            form.add("repeat_of", "این پرونده پیدا نشد؛ پرونده را از فهرست پرونده‌های باز انتخاب کنید")
            return None
        body = _case_body(
            form,
            session_id,
            call_id=logged["call_id"],
            repeat_of=form.get("repeat_of"),
            county=open_case.get("county"),
            subject="تماس تکراری",
            description=form.get("description") or "تماس تکراری دربارهٔ همین پرونده",
        )
        try:
            answer = await self.platform.register_case(token, body, f"{key}:case")
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "description")
            if not exc.errors:
                form.add("description", exc.title or "پرونده ثبت نشد")
            return None
        return _done(action, logged["call_id"], answer, form)

    async def _register(
        self, token: str, form: Form, call: dict[str, Any], session_id: str | None, key: str
    ) -> Registered | None:
        """The answered call and its new case (or the open case intake links it to) in one request."""
        case = _case_body(
            form,
            session_id,
            name=form.get("name") or None,
            national_id=form.get("national_id") or None,
            county=form.get("county"),
            subject=form.get("subject"),
            description=form.get("description"),
            agency=chosen_agency(form) or None,
            agency_reason=agency_reason(form),
        )
        try:
            answer = await self.platform.log_call_with_case(
                token, {"call": call, "case": case}, f"{key}:with-case"
            )
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "description", parts={"call": "outcome", "case": "description"})
            if not exc.errors:
                form.add("description", exc.title or "پرونده ثبت نشد")
            return None
        return _done("register", answer["call"]["call_id"], answer["case"], form)

    async def find(self, token: str, query: str) -> tuple[str, list[dict[str, Any]]]:
        """A tracking code, a phone or a national id: what it is, and the cases it finds."""
        q = digits(query)
        if looks_like_mobile(q):
            return "phone", await self.platform.caller_cases(token, phone=q)
        if len(q) == 10 and q.isdigit():
            if not tracking_code.is_valid(q):  # its check digit says it is no tracking code
                return "national_id", await self.platform.caller_cases(token, national_id=q)
            # Ten digits that may be either: both lookups at once, not one after the other.
            found, case = await asyncio.gather(
                self.platform.caller_cases(token, national_id=q),
                self._case_or_none(token, q),
            )
            if case is None:
                return "national_id", found
            return "tracking_code", [case, *[f for f in found if f["case_id"] != case["case_id"]]]
        return "unknown", []

    async def _case_or_none(self, token: str, ref: str) -> dict[str, Any] | None:
        try:
            return await self.platform.case(token, ref)
        except ApiRefused:
            return None

    async def case(self, token: str, ref: str, caller: dict[str, str] | None = None) -> dict[str, Any]:
        """A case; ``caller``: the caller the operator is handling, whose cases show their personal data."""
        return await self.platform.case(token, ref, caller)

    async def sms(self, token: str, case_id: str) -> list[dict[str, Any]]:
        return await self.platform.case_sms(token, case_id)


def agency_reason(form: Form) -> str | None:
    chosen, suggested = chosen_agency(form), form.get("suggested_agency")
    if not chosen:
        return None
    confidence = form.get("suggested_confidence")
    if chosen == suggested:
        return (
            f"پیشنهاد سامانه پذیرفته شد (اطمینان {confidence})" if confidence else "پیشنهاد سامانه پذیرفته شد"
        )
    named = agency_of(suggested).fa if suggested else "بدون پیشنهاد"
    return f"به‌جای پیشنهاد سامانه ({named}): {form.get('override_reason')}"
