"""The agency's inbox: its cases page by page, one case and the actions on it (answered in place once
tracking has applied them), the SMS an answer becomes, the escalation queues, and the live feed that
puts each changed case in front of the people who may see it.

Who may see what is decided by tracking (every call carries the person's own token); the inbox checks
the agency of what it shows as well, so a crafted address shows nothing of another agency even if a
service answered more than it should.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from contracts.events import CaseRerouteRequested, Envelope
from services.common.bounded import cancel_all
from services.common.clock import Clock
from services.common.recent import Recent
from services.console.adapters.platform import SCREEN, ApiRefused, Platform, ServiceDown, new_key
from services.console.domain.forms import Form
from services.console.domain.inbox import (
    PAGE_SIZE,
    Filters,
    ReadyAnswer,
    ReadyAnswers,
    action_body,
    check_action,
    confirmation,
)
from services.console.domain.people import User
from services.console.service.live import Hub, case_topic

log = logging.getLogger("samad.console.inbox")
STAFF_CACHE_SECONDS = 60.0
# How long an answer waits for tracking to apply the action before it is shown as sent.
SETTLE_SECONDS = 3.0
SUPERVISOR_QUEUE = "supervisor"


class NotYours(Exception):
    """The case is not held by the person's agency (or the page is not for them)."""


_QUEUE_TOPICS = ("inbox:", "escalations:")


def inbox_topic(agency: str) -> str:
    return f"inbox:{agency}"


def escalation_topic(agency_or_supervisor: str) -> str:
    return f"escalations:{agency_or_supervisor}"


@dataclass(frozen=True)
class InboxPage:
    filters: Filters
    total: int
    items: list[dict[str, Any]]
    colleagues: list[dict[str, Any]]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


@dataclass(frozen=True)
class Acted:
    """What an action did: the message to show, the case as tracking has it now (None once it left
    the person's agency), and whether tracking had applied it when the answer was given."""

    action: str
    message: str
    case: dict[str, Any] | None
    settled: bool


class Inbox:
    def __init__(self, platform: Platform, clock: Clock, answers: ReadyAnswers) -> None:
        self.platform = platform
        self.clock = clock
        self.answers = answers
        self._staff: dict[str, tuple[float, list[dict[str, Any]]]] = {}

    def ready_answers(self, agency: str | None) -> tuple[ReadyAnswer, ...]:
        return self.answers.of(agency)

    async def colleagues(self, token: str, agency: str) -> list[dict[str, Any]]:
        """The agency's staff (cached a minute: every inbox page lists them); none when the directory
        cannot say (the page still works, without naming colleagues)."""
        hit = self._staff.get(agency)
        if hit is not None and time.monotonic() - hit[0] < STAFF_CACHE_SECONDS:
            return hit[1]
        try:
            people = await self.platform.agency_staff(token, agency)
        except (ApiRefused, ServiceDown) as exc:
            log.info("agency staff of %s unavailable: %r", agency, exc)
            return hit[1] if hit else []
        self._staff[agency] = (time.monotonic(), people)
        return people

    async def page(self, user: User, token: str, filters: Filters) -> InboxPage:
        if not user.in_agency or user.agency is None:
            raise NotYours()
        found = await self.platform.agency_queue(token, user.agency, filters.api_params(user.subject))
        items = [c for c in found.get("items", []) if c.get("agency") == user.agency]
        return InboxPage(
            filters, int(found.get("total", 0)), items, await self.colleagues(token, user.agency)
        )

    async def case(self, user: User, token: str, ref: str) -> dict[str, Any]:
        """The case, if the person may work it. Raises NotYours (also for a case tracking refuses)."""
        try:
            case = await self.platform.case(token, ref)
        except ApiRefused as exc:
            if exc.status in (403, 404):
                raise NotYours() from exc
            raise
        if user.role == "agency_staff" and case.get("agency") != user.agency:
            raise NotYours()
        return case

    async def act(self, user: User, token: str, case: dict[str, Any], form: Form) -> Acted | None:
        """Take the action the form asks for; None with ``form.errors`` when something must be
        corrected (what was typed stays). The answer waits a moment for tracking to apply it, so the
        case is shown as it now is."""
        action = check_action(form, case.get("status"))
        if action is None:
            return None
        body = action_body(form, action, user.subject)
        key = form.get("form_key") or new_key()
        try:
            done = await self.platform.act(token, case["case_id"], body, key)
        except ApiRefused as exc:
            field = {"assignee": "assignee", "question": "question", "answer": "answer"}
            for e in exc.errors:
                form.add(field.get(str(e.get("field")), "action"), str(e.get("message") or exc.title))
            if not exc.errors:
                form.add("action", exc.title or "این کار انجام نشد؛ وضعیت پرونده را دوباره ببینید")
            return None
        name = None
        if action == "assign" and body.get("assignee"):
            people = await self.colleagues(token, str(case.get("agency")))
            name = next((p["name"] for p in people if p["id"] == body["assignee"]), None)
            name = name or (user.name if body["assignee"] == user.subject else body["assignee"])
        now, settled = await self._settled(user, token, case["case_id"], str(done.get("event_id")))
        return Acted(action, confirmation(action, name), now, settled)

    async def _settled(
        self, user: User, token: str, case_id: str, event_id: str
    ) -> tuple[dict[str, Any] | None, bool]:
        deadline = time.monotonic() + SETTLE_SECONDS
        delay = 0.05
        while True:
            try:
                case = await self.case(user, token, case_id)
            except NotYours:
                return None, True  # declined: it went back for routing, out of this agency's hands
            if any(e.get("event_id") == event_id for e in case.get("timeline") or []):
                return case, True
            if time.monotonic() >= deadline:
                return case, False
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.4)

    async def preview(
        self, user: User, token: str, case: dict[str, Any], template: str, text: str
    ) -> dict[str, Any] | None:
        """The SMS the citizen would receive (text and parts), or None while there is nothing to show."""
        if not text.strip():
            return None
        body: dict[str, Any] = {"template": template, "tracking_code": case.get("tracking_code") or "0" * 10}
        if case.get("agency"):
            body["agency"] = case["agency"]
        body[{"resolved": "answer", "rejected": "reason", "info_requested": "question"}[template]] = text
        try:
            return await self.platform.preview_sms(token, body)
        except (ApiRefused, ServiceDown) as exc:
            log.info("sms preview unavailable: %r", exc)
            return None

    async def escalations(self, user: User, token: str, page: int = 1) -> dict[str, Any]:
        if not user.follows_escalations:
            raise NotYours()
        found = await self.platform.escalations(token, {"page": page, "page_size": 50})
        if user.role == "agency_staff":
            found["items"] = [c for c in found.get("items", []) if c.get("agency") == user.agency]
        return found


Render = Callable[[dict[str, Any]], str]


@dataclass
class _Pending:
    events: set[str] = field(default_factory=set)
    previous: set[str] = field(default_factory=set)  # agencies that held the case before these events


class InboxFeed:
    """Reads the case events the console's consumer hands it, fetches each changed case from tracking
    once it has applied them (with the console's own service token), and pushes the case's row to the
    pages of its agency only: the inbox, and the escalation queues it reached. A page of the agency
    that just lost the case is told to drop its row."""

    CONCURRENCY = 16

    def __init__(
        self,
        platform: Platform,
        service_token: Callable[[], Awaitable[str]],
        hub: Hub,
        wait: float = SETTLE_SECONDS,
    ) -> None:
        self.platform = platform
        self.service_token = service_token
        self.hub = hub
        self.wait = wait
        self.render_row: Render | None = None
        self.render_escalation: Render | None = None
        self.agency_of: Recent[str, str] = Recent(100_000)
        self._pending: dict[str, _Pending] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._gate = asyncio.Semaphore(self.CONCURRENCY)

    def _queues_open(self) -> bool:
        """Whether an inbox or escalation queue is open here (then any case's change may show)."""
        return any(topic.startswith(_QUEUE_TOPICS) for topic in self.hub.watchers)

    def saw(self, events: Iterable[Envelope]) -> None:
        """Note what changed (from the consumer; returns at once, the work runs beside it). A change
        is fetched from tracking only if a page here could show it: an inbox or escalation queue is
        open, or a page on the case itself (a console serving only desks and citizens spent a third
        of its time on those fetches)."""
        queues_open = self._queues_open()  # once per batch, not per event
        for event in events:
            case_id = getattr(event.data, "case_id", None)
            if not isinstance(case_id, str):
                continue
            if not (queues_open or self.hub.watched(case_topic(case_id))):
                continue
            pending = self._pending.get(case_id)
            fresh = pending is None
            if pending is None:
                pending = self._pending[case_id] = _Pending()
            pending.events.add(event.id)
            if isinstance(event.data, CaseRerouteRequested):
                pending.previous.add(str(event.data.agency))
            if fresh:
                task = asyncio.create_task(self._refresh(case_id), name=f"inbox-feed:{case_id}")
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _fetch(self, case_id: str) -> dict[str, Any] | None:
        SCREEN.set("console live inbox feed")  # this task's own context: the read audit's "why"
        try:
            async with self._gate:
                return await self.platform.case(await self.service_token(), case_id)
        except (ApiRefused, ServiceDown, RuntimeError) as exc:
            log.debug("case %s not readable for the live inbox: %r", case_id, exc)
            return None

    async def _refresh(self, case_id: str) -> None:
        deadline = time.monotonic() + self.wait
        delay = 0.05
        case: dict[str, Any] | None = None
        while True:
            pending = self._pending[case_id]
            case = await self._fetch(case_id)
            seen = {e.get("event_id") for e in (case or {}).get("timeline") or []}
            if (case is not None and pending.events <= seen) or time.monotonic() >= deadline:
                break
            # Tracking applies an event within a few hundred milliseconds: look again soon.
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 0.2)
        pending = self._pending.pop(case_id)
        if case is not None:
            self.publish(case, pending.previous)
        # The pages open on this case reload it now that tracking shows these events.
        self.hub.publish(case_topic(case_id), {"event": "case", "data": "changed"})

    def publish(self, case: dict[str, Any], previous: Iterable[str] = ()) -> None:
        """Hand the case's row to the pages that may show it, and tell the others to drop it."""
        case_id = str(case.get("case_id"))
        agency = case.get("agency")
        before = {*previous, *([self.agency_of.get(case_id)] if self.agency_of.get(case_id) else [])}
        gone = json.dumps({"case_id": case_id})
        for old in before - {agency}:
            self.hub.publish(inbox_topic(str(old)), {"event": "gone", "data": gone})
        if not agency:
            self.agency_of.pop(case_id, None)
        else:
            self.agency_of.put(case_id, str(agency))
            html = self.render_row(case) if self.render_row else ""
            row = json.dumps({"case_id": case_id, "html": html}, ensure_ascii=False)
            self.hub.publish(inbox_topic(str(agency)), {"event": "row", "data": row})
        escalation = case.get("escalation") or {}
        if not escalation:
            return
        reached = set(escalation.get("reached") or []) if escalation.get("active") else set()
        html = self.render_escalation(case) if self.render_escalation and reached else ""
        row = json.dumps({"case_id": case_id, "html": html}, ensure_ascii=False)
        for topic, target in (
            (escalation_topic(str(escalation.get("agency") or agency)), "agency_head"),
            (escalation_topic(SUPERVISOR_QUEUE), "supervisor"),
        ):
            self.hub.publish(
                topic, {"event": "row", "data": row} if target in reached else {"event": "gone", "data": gone}
            )

    async def close(self) -> None:
        await cancel_all(self._tasks)
