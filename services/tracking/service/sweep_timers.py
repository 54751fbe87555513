"""The timers: publish ``case.sla_breached`` for passed deadlines, ``case.escalated`` for each step of
a late case's escalation ladder, and close cases after the quiet period.

Safe in every replica at once: each piece of work is claimed atomically before it is published, and its
event id is deterministic, so even a lost claim cannot apply it twice. An escalation step names the
people it reaches (with the phone of their profile, for notify's SMS), read from the directory before
anything is claimed: when the directory cannot answer, the step waits for the next sweep.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from prometheus_client import Counter

from contracts.events import CaseSlaBreached, Envelope, EscalationTarget, Recipient, SlaKind, make_event
from services.common.clock import Clock
from services.common.publishing import Publisher
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.claims import Claims
from services.tracking.adapters.directory import Directory, DirectoryUnavailable, Person
from services.tracking.domain.actions import (
    breach_data,
    breach_event_id,
    close_data,
    close_event_id,
    escalation_data,
    escalation_event_id,
)
from services.tracking.domain.model import CLOCK_RUNNING, Case
from services.tracking.domain.projection import apply
from services.tracking.domain.sla import SlaPolicy

# The logger keeps the name it had before the move, so existing log filters still apply.
log = logging.getLogger("samad.tracking.service")
SOURCE = "/samad/tracking"
ESCALATE = "escalate"

SLA_BREACHES = Counter(
    "samad_tracking_sla_breaches_total", "SLA breaches published, by agency and deadline", ["agency", "sla"]
)


@dataclass
class SweepResult:
    acknowledge_breaches: int = 0
    resolve_breaches: int = 0
    escalations: int = 0
    escalations_waiting: int = 0  # steps due whose people the directory could not name this time
    closed: int = 0
    skipped_claimed: int = 0
    events: list[Envelope] = field(default_factory=list)


def default_owner() -> str:
    """This process, as the holder of its claims: host, process id and a random tag."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class SweepTimers:
    def __init__(
        self,
        cases: CaseStore,
        claims: Claims,
        publisher: Publisher,
        clock: Clock,
        owner: str | None = None,
        lease: timedelta = timedelta(minutes=2),
        *,
        policy: SlaPolicy | None = None,
        directory: Directory | None = None,
        province: str = "khorasan_razavi",
    ) -> None:
        self.cases = cases
        self.claims = claims
        self.publisher = publisher
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease = lease
        self.policy = policy or SlaPolicy()
        self.directory = directory
        self.province = province

    async def _recipients(self, to: EscalationTarget, agency: str) -> list[Recipient]:
        if self.directory is None:
            return []
        people: list[Person]
        if to == EscalationTarget.agency_head:
            people = await self.directory.heads_of(agency)
        else:
            people = await self.directory.supervisors(self.province)
        return [Recipient(id=p.id, name=p.name, phone=p.phone) for p in people]

    async def _escalations(
        self, due: list[Case], breached: dict[str, Case], now: datetime, result: SweepResult
    ) -> list[tuple[str, Envelope, str]]:
        """The next step of every case whose escalation is due, including those whose ladder starts at
        once on a breach published in this very sweep (``breached``: the cases as the breach leaves
        them)."""
        candidates = {c.id: c for c in due}
        for case_id, after in breached.items():
            if after.status in CLOCK_RUNNING and after.due.escalate is not None and after.due.escalate <= now:
                candidates[case_id] = after
        work: list[tuple[str, Envelope, str]] = []
        for case in candidates.values():
            escalation = case.escalation
            if escalation is None or not escalation.active or case.agency is None:
                continue
            step = self.policy.escalation.step(escalation.agency, escalation.level)
            eid = escalation_event_id(case)
            if step is None or eid is None:
                continue
            try:
                recipients = await self._recipients(step.to, case.agency)
            except DirectoryUnavailable:
                result.escalations_waiting += 1
                continue
            if not recipients:
                log.warning(
                    "case %s: no %s of %s in the directory; the step shows in the console only",
                    case.id,
                    step.to.value,
                    case.agency,
                )
            data = escalation_data(case, step.to, recipients)
            if data is not None:
                work.append(
                    (f"escalate:{eid}", make_event(data, source=SOURCE, event_id=eid, time=now), ESCALATE)
                )
        return work

    async def __call__(self, limit: int = 500) -> SweepResult:
        """One sweep over at most ``limit`` cases of each kind of work."""
        now = self.clock.now()
        result = SweepResult()
        work: list[tuple[str, Envelope, str]] = []
        breached: dict[str, Case] = {}
        for kind, finder in (
            (SlaKind.acknowledge, self.cases.acknowledge_overdue),
            (SlaKind.resolve, self.cases.resolve_overdue),
        ):
            for case in await finder(now, limit):
                data = breach_data(case, kind)
                if data is None:
                    continue
                eid = breach_event_id(case.id, kind, data.deadline)
                event = make_event(data, source=SOURCE, event_id=eid, time=now)
                work.append((f"breach:{eid}", event, kind))
                breached[case.id] = apply(breached.get(case.id, case), event, self.policy)
        work += await self._escalations(await self.cases.escalation_due(now, limit), breached, now, result)
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
            await self.claims.finish(key, self.owner, self.clock.now())
            result.events.append(event)
            if isinstance(event.data, CaseSlaBreached):
                SLA_BREACHES.labels(event.data.agency.value, event.data.sla.value).inc()
            if what == SlaKind.acknowledge:
                result.acknowledge_breaches += 1
            elif what == SlaKind.resolve:
                result.resolve_breaches += 1
            elif what == ESCALATE:
                result.escalations += 1
            else:
                result.closed += 1
        log.info(
            "timers: %d acknowledge and %d resolve breaches, %d escalation steps published, %d cases closed",
            result.acknowledge_breaches,
            result.resolve_breaches,
            result.escalations,
            result.closed,
        )
        return result

    async def every(self, interval_seconds: float, limit: int) -> None:
        """Sweep every ``interval_seconds`` until cancelled; a failed sweep is retried at the next one."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self(limit)
            except Exception:
                log.exception("timer sweep failed; trying again at the next interval")
