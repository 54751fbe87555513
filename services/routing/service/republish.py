"""The re-publisher: publishes the manual decisions whose event is still owed, and strikes them off.

A triage request stores its decision with the event owed and publishes it; when Kafka does not take
it, the decision stays stored and the request answers 503. This worker, running beside the app in
every replica, looks for events owed longer than a grace period (the request may still be publishing)
and publishes each one exactly as stored: same id, same bytes, so a consumer that already has it
(the request's publication landed late, or another replica got there first) absorbs the double.
Only once Kafka has confirmed it is the debt struck off, so a crash in between publishes it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from contracts.events import decode
from services.common.clock import Clock
from services.common.publishing import Publisher
from services.routing.adapters.cases import RoutingStore
from services.routing.domain.cases import owed_awaited, owed_due, owed_hop

log = logging.getLogger("samad.routing")

# Owed events looked at in one round (they are few: each is a decision Kafka did not take).
BATCH = 200


class RepublishOwed:
    def __init__(
        self,
        cases: RoutingStore,
        publisher: Publisher,
        clock: Clock,
        *,
        grace: timedelta,
        every_seconds: float,
        batch: int = BATCH,
    ) -> None:
        self.cases = cases
        self.publisher = publisher
        self.clock = clock
        self.grace = grace
        self.every_seconds = every_seconds
        self.batch = batch
        self._task: asyncio.Task[None] | None = None

    async def once(self) -> int:
        """One round, oldest debt first; returns how many events it published. A failure to publish
        ends the round (Kafka is down: the rest waits for the next one)."""
        now = self.clock.now()
        published = 0
        for owed in await self.cases.owed(self.batch):
            if not owed_due(owed, now, self.grace):
                continue
            record = await self.cases.get_case(owed.case_id)
            hop = owed_hop(record, owed)
            if hop is not None:
                await self.publisher.publish([decode(hop.event_json)])
                await self.cases.settle(owed.event_id)
                published += 1
                log.info("case %s: owed decision %s published", owed.case_id, owed.event_id)
            elif not owed_awaited(record, owed):
                await self.cases.settle(owed.event_id)  # the decision was never stored: nothing owed
                log.info("case %s: decision %s was never stored; debt dropped", owed.case_id, owed.event_id)
        return published

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run rounds in the background every ``every_seconds`` (not at all when it is 0)."""
        if self.every_seconds > 0 and self._task is None:
            self._task = asyncio.create_task(self._run(), name="routing-republisher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self.once()
            except Exception as exc:
                log.warning(
                    "re-publishing owed decisions failed (%r); next round in %ss", exc, self.every_seconds
                )
            await asyncio.sleep(self.every_seconds)
