"""The timers: publish ``case.sla_breached`` for passed deadlines and close cases after the quiet period.

Safe in every replica at once: each piece of work is claimed atomically before it is published, and its
event id is deterministic, so even a lost claim cannot apply it twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import Counter

from contracts.events import CaseSlaBreached, Envelope, SlaKind, make_event
from services.common.clock import Clock
from services.common.publishing import Publisher
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.claims import Claims
from services.tracking.domain.actions import breach_data, breach_event_id, close_data, close_event_id

# The logger keeps the name it had before the move, so existing log filters still apply.
log = logging.getLogger("samad.tracking.service")
SOURCE = "/samad/tracking"

SLA_BREACHES = Counter(
    "samad_tracking_sla_breaches_total", "SLA breaches published, by agency and deadline", ["agency", "sla"]
)


@dataclass
class SweepResult:
    acknowledge_breaches: int = 0
    resolve_breaches: int = 0
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
    ) -> None:
        self.cases = cases
        self.claims = claims
        self.publisher = publisher
        self.clock = clock
        self.owner = owner or default_owner()
        self.lease = lease

    async def __call__(self, limit: int = 500) -> SweepResult:
        """One sweep over at most ``limit`` cases of each kind of work."""
        now = self.clock.now()
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
            await self.claims.finish(key, self.owner, self.clock.now())
            result.events.append(event)
            if isinstance(event.data, CaseSlaBreached):
                SLA_BREACHES.labels(event.data.agency.value, event.data.sla.value).inc()
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

    async def every(self, interval_seconds: float, limit: int) -> None:
        """Sweep every ``interval_seconds`` until cancelled; a failed sweep is retried at the next one."""
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self(limit)
            except Exception:
                log.exception("timer sweep failed; trying again at the next interval")
