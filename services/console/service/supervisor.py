"""The governorate supervisor's screens: the dashboard (tracking's reports for a period, a duty session
or a county), the cases behind each number and the CSV exports, the duty session's wall, the triage
desk (routing's queue with each case as tracking has it) and the duty roster. Every call carries the
signed-in person's token, so what each may see and do is decided by the services."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from contracts.catalogue import agency as agency_of
from contracts.events import CallReceived, CaseRegistered, CaseRouted, CaseTriageRequired
from services.common.clock import Clock
from services.console.adapters.platform import ApiRefused, Platform, ServiceDown
from services.console.domain.display import TEHRAN
from services.console.domain.forms import Form
from services.console.domain.supervisor import (
    Period,
    read_dashboard,
    roster_body,
    roster_overlap,
    roster_refusal,
    trend_of,
)
from services.console.service.live import Hub

log = logging.getLogger("samad.console.supervisor")
FUNNEL_TOPIC = "funnel"
# The events that change a funnel's numbers: a call, a case registered, a case routed or sent to triage.
FUNNEL_EVENTS = frozenset(
    e.event_type for e in (CallReceived, CaseRegistered, CaseRouted, CaseTriageRequired)
)
TRIAGE_LOOKUPS = 8  # cases looked up in tracking at once for the triage desk
LATEST_CASES = 8


@dataclass
class Dashboard:
    """What the dashboard shows: the scope asked for, and tracking's reports for it."""

    period: Period
    trend: Period
    session: str | None
    county: str | None
    funnel: dict[str, Any]
    agencies: list[dict[str, Any]]
    weeks: list[dict[str, Any]]
    counties: list[dict[str, Any]]


@dataclass
class DutyWall:
    """The duty session on the wall: who is on duty, the session's funnel and its latest cases."""

    session_id: str | None
    duty: dict[str, Any] | None
    funnel: dict[str, Any] | None
    latest: list[dict[str, Any]] = field(default_factory=list)
    total_cases: int = 0


@dataclass
class Routed:
    """The answer of the triage desk, in place of the case: done, or why not."""

    case_id: str
    agency: str | None
    ok: bool
    message: str


def funnel_topic() -> str:
    """The live topic a duty wall listens to: every call and every case registered or routed."""
    return FUNNEL_TOPIC


async def funnel_changes(
    hub: Hub, gone: Callable[[], Awaitable[bool]], settle: float, ping: float
) -> AsyncIterator[None]:
    """One item per change of the funnels, ``settle`` seconds after it (tracking applies the event
    meanwhile); the changes that come in that time go with it, so a burst makes one item and a wall
    reloads at most once per ``settle``. Ends when ``gone()`` says the page left (asked every ``ping``)."""
    async with hub.watch(funnel_topic()) as queue:
        while not await gone():
            try:
                await asyncio.wait_for(queue.get(), timeout=ping)
            except TimeoutError:
                continue
            await asyncio.sleep(settle)
            while not queue.empty():
                queue.get_nowait()
            yield None


class Supervision:
    def __init__(self, platform: Platform, clock: Clock) -> None:
        self.platform = platform
        self.clock = clock

    # --- the read audit --------------------------------------------------------------------------

    async def reads(self, token: str, form: Form, page: int) -> dict[str, Any] | None:
        """One page of the read audit for the filters typed (case, user, days in either calendar);
        None with ``form.errors`` filled when tracking refuses a filter (it names the field)."""
        params = {name: form.get(name) for name in form.order if form.get(name)}
        try:
            return await self.platform.audit_reads(token, {**params, "page": str(page)})
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "from")
            if not exc.errors:
                form.add("from", exc.title or "فهرست آماده نشد")
            return None

    def today(self) -> date:
        return self.clock.now().astimezone(TEHRAN).date()

    # --- the dashboard ---------------------------------------------------------------------------

    async def dashboard(self, token: str, form: Form, county_codes: set[str]) -> Dashboard | None:
        """Tracking's four reports for what the form asks; None with ``form.errors`` filled when the
        form (or tracking) refuses the period."""
        period = read_dashboard(form, self.today(), county_codes)
        if period is None:
            return None
        trend = trend_of(period)
        session = form.get("session") or None
        funnel_params = {"duty_session_id": session} if session else period.params
        try:
            funnel, agencies, weeks, counties = await asyncio.gather(
                self.platform.report(token, "funnel", funnel_params),
                self.platform.report(token, "agencies", period.params),
                self.platform.report(token, "weeks", trend.params),
                self.platform.report(token, "counties", period.params),
            )
        except ApiRefused as exc:
            form.add_api_errors(exc.errors, "from")
            if not exc.errors:
                form.add("from", exc.title or "گزارش آماده نشد")
            return None
        return Dashboard(
            period=period,
            trend=trend,
            session=session,
            county=form.get("county") or None,
            funnel=funnel,
            agencies=list(agencies.get("agencies", [])),
            weeks=list(weeks.get("weeks", [])),
            counties=list(counties.get("counties", [])),
        )

    async def cases(self, token: str, params: dict[str, str], page: int) -> dict[str, Any]:
        """One page of the cases behind a number: an agency's overdue cases are its queue, every other
        number tracking's list behind the report."""
        if params.get("overdue") == "true" and params.get("agency"):
            queue = {"overdue": "true", "page": str(page), "page_size": "50"}
            return await self.platform.agency_queue(token, params["agency"], queue)
        asked = {k: v for k, v in params.items() if k != "session"}
        if params.get("session"):
            asked["duty_session_id"] = params["session"]
        return await self.platform.report_cases(token, {**asked, "page": str(page), "page_size": "50"})

    async def csv(self, token: str, name: str, params: dict[str, str]) -> AsyncIterator[bytes]:
        return await self.platform.report_csv(token, name, params)

    # --- the duty session's wall -----------------------------------------------------------------

    async def wall(self, token: str, session_id: str | None = None) -> DutyWall:
        """The session named, or the one on duty now (none: nobody is on duty)."""
        duty = await self.platform.on_duty()
        if duty and not duty.get("on_duty"):
            duty = None
        if session_id is None and duty is not None:
            session_id = duty.get("session_id")
        elif session_id and duty and duty.get("session_id") != session_id:
            duty = None
        if not session_id:
            return DutyWall(None, None, None)
        if duty is None:
            # A session other than the one on duty now: who held it, if the roster still has it.
            held = next((s for s in await self.recent_sessions() if s.get("id") == session_id), None)
            if held is not None:
                duty = {
                    "session_id": session_id,
                    "starts_at": held.get("starts_at"),
                    "ends_at": held.get("ends_at"),
                    "entry": {"director_name": held.get("director_name"), "agency_fa": held.get("agency_fa")},
                    "past": True,
                }
        funnel, listed = await asyncio.gather(
            self.platform.report(token, "funnel", {"duty_session_id": session_id}),
            self.platform.report_cases(
                token,
                {
                    "report": "funnel",
                    "measure": "cases_registered",
                    "duty_session_id": session_id,
                    "page_size": str(LATEST_CASES),
                },
            ),
        )
        return DutyWall(session_id, duty, funnel, list(listed.get("items", [])), int(listed.get("total", 0)))

    async def recent_sessions(self) -> list[dict[str, Any]]:
        """The roster's sessions of the last four weeks and the next one, newest first, to pick from."""
        today = self.today()
        try:
            entries = await self.platform.roster(
                (today - timedelta(weeks=4)).isoformat(), (today + timedelta(weeks=1)).isoformat()
            )
        except (ApiRefused, ServiceDown):
            return []
        sessions = [
            {**s, "agency_fa": e.get("agency_fa"), "director_name": e.get("director_name")}
            for e in entries
            for s in e.get("sessions", [])
        ]
        return sorted(sessions, key=lambda s: str(s.get("starts_at")), reverse=True)

    # --- the triage desk -------------------------------------------------------------------------

    async def triage(self, token: str) -> list[dict[str, Any]]:
        """Routing's queue, each with the case as tracking has it (tracking code, county, description);
        a case tracking does not have yet is shown with what routing knows."""
        items = await self.platform.triage(token)
        gate = asyncio.Semaphore(TRIAGE_LOOKUPS)

        async def with_case(item: dict[str, Any]) -> dict[str, Any]:
            async with gate:
                try:
                    case = await self.platform.case(token, item["case_id"])
                except (ApiRefused, ServiceDown):
                    case = {}
            return {**item, "case": case}

        return list(await asyncio.gather(*(with_case(i) for i in items)))

    async def route(
        self, token: str, case_id: str, agency: str, note: str | None, subject: str = ""
    ) -> Routed:
        try:
            named = agency_of(agency).fa
        except (KeyError, ValueError):
            return Routed(case_id, None, False, "دستگاه را از فهرست انتخاب کنید")
        try:
            await self.platform.route_triage(token, case_id, agency, note or None)
        except ApiRefused as exc:
            if exc.status == 409:
                return Routed(
                    case_id,
                    None,
                    False,
                    "این پرونده دیگر در انتظار تعیین دستگاه نیست؛ کس دیگری آن را ارجاع داده است",
                )
            return Routed(case_id, None, False, exc.title or "ارجاع انجام نشد")
        except ServiceDown:
            return Routed(
                case_id,
                None,
                False,
                "سامانهٔ مسیریابی اکنون پاسخ نمی‌دهد؛ چند لحظه بعد دوباره همین دستگاه را انتخاب کنید (تصمیم دوبار ثبت نمی‌شود)",
            )
        log.info("triage: case %s routed to %s", case_id, agency)
        which = f"پروندهٔ «{subject}»" if subject else "پرونده"
        return Routed(case_id, agency, True, f"{which} به {named} ارجاع شد")

    # --- the duty roster -------------------------------------------------------------------------

    async def roster(self) -> list[dict[str, Any]]:
        """Entries from last week on, in order."""
        return await self.platform.roster((self.today() - timedelta(weeks=1)).isoformat(), None)

    async def save_entry(self, token: str, form: Form, entry_id: str | None = None) -> dict[str, Any] | None:
        """Add the entry typed (or move ``entry_id`` to it); None with ``form.errors`` filled."""
        typed = roster_body(form)
        if typed is None:
            return None
        body, rows = typed
        try:
            if entry_id:
                return await self.platform.move_roster_entry(token, entry_id, body)
            return await self.platform.add_roster_entry(token, body)
        except ApiRefused as exc:
            if exc.status == 409:
                other = await self._conflicting(exc.doc)
                roster_overlap(form, body, rows, exc.doc, other, exc.title)
            elif exc.status == 404:
                form.add("week_start", "این برنامهٔ کشیک دیگر وجود ندارد؛ فهرست را دوباره باز کنید")
            else:
                roster_refusal(form, exc.errors, rows, exc.title or "پذیرفته نشد")
                if not exc.errors:
                    form.add("week_start", exc.title or "برنامهٔ کشیک پذیرفته نشد")
            return None

    async def _conflicting(self, doc: dict[str, Any]) -> dict[str, Any] | None:
        conflicts = doc.get("conflicts") or []
        if not conflicts or not conflicts[0].get("id"):
            return None
        try:
            return await self.platform.roster_entry(str(conflicts[0]["id"]))
        except (ApiRefused, ServiceDown):
            return None

    async def entry(self, entry_id: str) -> dict[str, Any] | None:
        try:
            return await self.platform.roster_entry(entry_id)
        except ApiRefused:
            return None

    async def remove_entry(self, token: str, entry_id: str) -> bool:
        try:
            await self.platform.remove_roster_entry(token, entry_id)
        except ApiRefused as exc:
            if exc.status == 404:
                return False
            raise
        return True

    async def calendar(self) -> str:
        return await self.platform.roster_calendar()
