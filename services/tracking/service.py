"""Tracking's use cases: apply consumed events, look cases up, perform staff actions, run the timers,
count the reports. Called by the Kafka consumer, the HTTP API and the CLI; it holds no HTTP or Kafka code.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from contracts.events import CallReceived, Envelope, SlaKind, make_event
from contracts.tracking_code import clean, is_valid
from services.common.kafka import Incoming
from services.tracking.adapters.store import (
    ApplyResult,
    CaseCache,
    MongoCallStore,
    MongoCaseStore,
    MongoClaims,
    apply_events,
)
from services.tracking.domain.actions import (
    ActionKind,
    ActionRequest,
    action_data,
    action_event_id,
    actor_for,
    breach_data,
    breach_event_id,
    close_data,
    close_event_id,
)
from services.tracking.domain.model import OPEN_AT_AGENCY, Case
from services.tracking.domain.projection import Rejection, check
from services.tracking.domain.reports import Funnel, agency_report, county_report, week_report
from services.tracking.domain.sla import SlaPolicy

log = logging.getLogger("samad.tracking.service")
SOURCE = "/samad/tracking"


class Publisher(Protocol):
    async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None: ...


@dataclass(frozen=True)
class ActionOutcome:
    event: Envelope
    repeated: bool  # the same Idempotency-Key was seen before: nothing new was published


class ActionConflict(Exception):
    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.en)
        self.rejection = rejection


IDEMPOTENCY_REUSED = Rejection(
    "idempotency_key_reused",
    "این کلید تکرار (Idempotency-Key) پیش‌تر برای کار دیگری به کار رفته است",
    "This Idempotency-Key was already used for a different action",
)


@dataclass
class SweepResult:
    acknowledge_breaches: int = 0
    resolve_breaches: int = 0
    closed: int = 0
    skipped_claimed: int = 0
    events: list[Envelope] = field(default_factory=list)


def _utcnow() -> datetime:
    return datetime.now(UTC)


class TrackingService:
    def __init__(
        self,
        cases: MongoCaseStore,
        calls: MongoCallStore,
        claims: MongoClaims,
        publisher: Publisher,
        policy: SlaPolicy,
        clock: Callable[[], datetime] = _utcnow,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        cache_size: int = 1000,
    ) -> None:
        self.cases = cases
        self.calls = calls
        self.claims = claims
        self.publisher = publisher
        self.policy = policy
        self.clock = clock
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.lease = lease
        self.cache = CaseCache(cache_size) if cache_size > 0 else None

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        await self.calls.ensure_indexes()
        await self.claims.ensure_indexes()

    # --- consuming ---------------------------------------------------------------------------

    async def handle(self, batch: Sequence[Incoming]) -> ApplyResult:
        calls = [i.event for i in batch if isinstance(i.event.data, CallReceived)]
        others = [i.event for i in batch if not isinstance(i.event.data, CallReceived)]
        if calls:
            await self.calls.add(calls)
        return await apply_events(self.cases, others, self.policy, cache=self.cache)

    # --- reading -----------------------------------------------------------------------------

    async def find(self, ref: str) -> Case | None:
        """A case by its id or by its tracking code (Persian digits, spaces and dashes allowed)."""
        ref = ref.strip()
        case = await self.cases.get(ref)
        if case is not None and case.registered:
            return case
        code = clean(ref)
        if code.isdigit() and is_valid(code):
            return await self.cases.by_tracking_code(code)
        return None

    # --- acting ------------------------------------------------------------------------------

    async def act(
        self,
        case: Case,
        request: ActionRequest,
        role: str,
        subject: str,
        agency: str | None,
        idempotency_key: str | None,
    ) -> ActionOutcome:
        """Validate a staff action on the current state and publish its event (the consumer applies it).

        Raises MissingText (422), ActionRefused or ActionConflict (409).
        """
        event_id = action_event_id(case.id, idempotency_key, subject)
        actor = actor_for(role, subject, agency)
        data = action_data(case, request, actor)
        registered = next((e.event_id for e in case.timeline if e.type.endswith("case.registered")), None)
        event = make_event(
            data, source=SOURCE, event_id=event_id, time=self.clock(), correlationid=registered or case.id
        )
        seen = next((e for e in case.timeline if e.event_id == event_id), None)
        if seen is not None:
            same = seen.type == event.type and seen.data.get("status") == getattr(data, "status", None)
            if not same:
                raise ActionConflict(IDEMPOTENCY_REUSED)
            return ActionOutcome(event, repeated=True)
        rejection = check(case, event, self.policy)
        if rejection is not None:
            raise ActionConflict(rejection)
        await self.publisher.publish([event])
        return ActionOutcome(event, repeated=False)

    # --- timers ------------------------------------------------------------------------------

    async def sweep(self, limit: int = 500) -> SweepResult:
        """Publish case.sla_breached for passed deadlines and close cases after the quiet period.

        Safe in every replica at once: each piece of work is claimed atomically before it is
        published, and its event id is deterministic, so even a lost claim cannot apply it twice.
        """
        now = self.clock()
        result = SweepResult()
        work: list[tuple[str, Envelope, str]] = []
        for kind, finder in (
            (SlaKind.acknowledge, self.cases.acknowledge_overdue),
            (SlaKind.resolve, self.cases.resolve_overdue),
        ):
            for case in await finder(now, limit):
                data = breach_data(case, kind)
                if data is None:
                    continue
                eid = breach_event_id(case.id, kind, data.deadline)
                work.append((f"breach:{eid}", make_event(data, source=SOURCE, event_id=eid, time=now), kind))
        for case in await self.cases.due_to_close(now, limit):
            eid = close_event_id(case)
            work.append(
                (f"close:{eid}", make_event(close_data(case), source=SOURCE, event_id=eid, time=now), "close")
            )
        claimed: list[tuple[str, Envelope, str]] = []
        for key, event, what in work:
            if await self.claims.claim(key, self.owner, now, now + self.lease):
                claimed.append((key, event, what))
            else:
                result.skipped_claimed += 1
        if not claimed:
            return result
        await self.publisher.publish([event for _, event, _ in claimed])
        for key, event, what in claimed:
            await self.claims.finish(key, self.owner, self.clock())
            result.events.append(event)
            if what == SlaKind.acknowledge:
                result.acknowledge_breaches += 1
            elif what == SlaKind.resolve:
                result.resolve_breaches += 1
            else:
                result.closed += 1
        log.info(
            "timers: %d acknowledge and %d resolve breaches published, %d cases closed",
            result.acknowledge_breaches,
            result.resolve_breaches,
            result.closed,
        )
        return result

    # --- reports -----------------------------------------------------------------------------

    async def funnel(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> Funnel:
        if duty_session_id:
            calls_q: dict[str, Any] = {"duty_session_id": duty_session_id}
            cases_q: dict[str, Any] = {"duty_session_id": duty_session_id}
        else:
            calls_q = {"started_at": _span(start, end)}
            cases_q = {"registered_at": _span(start, end)}
        if province:
            calls_q["province"] = province
            cases_q["province"] = province
        cases_q["status"] = {"$ne": None}
        received, answered = await self.calls.tally(calls_q, "answered")
        registered, referred = await self.cases.tally(cases_q, "referred")
        return Funnel(
            calls_received=received,
            calls_answered=answered,
            cases_registered=registered,
            cases_referred=referred,
        )

    async def agencies(self, start: datetime, end: datetime, only: str | None = None) -> list[dict[str, Any]]:
        now = self.clock()
        query: dict[str, Any] = {"agencies.received_at": _span(start, end)}
        if only:
            query["agencies.agency"] = only
        received = await self.cases.report_cases(query)
        open_q: dict[str, Any] = {"status": {"$in": sorted(OPEN_AT_AGENCY)}, "due.next": {"$lt": now}}
        if only:
            open_q["agency"] = only
        overdue = await self.cases.report_cases(open_q)
        return agency_report(received, start, end, now, overdue, only)

    async def counties(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        cases = await self.cases.report_cases({"registered_at": _span(start, end), "status": {"$ne": None}})
        return county_report(cases, self.clock())

    async def weeks(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        from services.tracking.domain.calendar import tehran_day

        calls = await self.calls.find({"started_at": _span(start, end)})
        registered = await self.cases.report_cases({"registered_at": _span(start, end)})
        resolved = await self.cases.report_cases({"resolved_at": _span(start, end)})
        seen = {c.id for c in registered}
        only_resolved = [c.model_copy(update={"registered_at": None}) for c in resolved if c.id not in seen]
        return week_report(
            ((c["started_at"], c.get("outcome") == "answered") for c in calls),
            [*registered, *only_resolved],
            tehran_day(start),
            tehran_day(end - timedelta(milliseconds=1)),
        )


def _span(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    span: dict[str, Any] = {}
    if start is not None:
        span["$gte"] = start
    if end is not None:
        span["$lt"] = end
    return span or {"$ne": None}


def known_action(value: str) -> ActionKind | None:
    try:
        return ActionKind(value)
    except ValueError:
        return None
