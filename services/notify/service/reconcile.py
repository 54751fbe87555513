"""Reconciling: what no sender will finish. Expired leases become ``unknown``; unknown outcomes are
resolved through the gateway's status lookup (never by sending again, unless the gateway states it
never had the message); records left ``submitted`` are polled when the gateway can answer; events a
crash left owed are published; receipts kept for an id no record knew are applied once it is known,
or reported when they waited too long.

One ledger query per round (on FerretDB 1.x every query but by ``_id`` reads the whole ledger).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from datetime import datetime

from services.common.clock import Clock
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.providers.base import LookupOutcome, SendError, SmsProvider, Submitted
from services.notify.domain import records as rec
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import SmsRecord
from services.notify.service.config import NotifyConfig
from services.notify.service.metrics import UNKNOWN_OUTCOMES
from services.notify.service.outcomes import Outcomes, outgoing
from services.notify.service.receipts import Receipts
from services.notify.service.send import Senders

log = logging.getLogger("samad.notify")


class Reconciler:
    def __init__(
        self,
        *,
        ledger: Ledger,
        provider: SmsProvider,
        outcomes: Outcomes,
        senders: Senders,
        clock: Clock,
        config: NotifyConfig,
        receipts: Receipts | None = None,
    ) -> None:
        self.ledger, self.provider = ledger, provider
        self.receipts = receipts
        self.outcomes = outcomes
        self.senders = senders
        self.clock = clock
        self.config = config
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="sms-reconciler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.reconcile_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciliation failed; next round")
            await asyncio.sleep(self.config.reconcile_seconds)

    async def reconcile_once(self) -> None:
        """One pass over the records that are not settled."""
        now = self.clock.now()
        active = await self.ledger.unsettled()
        expired = [r for r in active if r.lease_expired(now)]
        for r in expired:
            await self.outcomes.move(r.sms_id, SmsState.unknown, lambda x: rec.lease_lapsed(x, now=now), now)
        mine = self.provider.name
        unknown = [r for r in active if r.state is SmsState.unknown and r.provider == mine]
        unknown += [r for r in expired if r.provider == mine]
        was_sending = {r.sms_id for r in expired}
        UNKNOWN_OUTCOMES.set(len(unknown))
        for r in unknown:
            fresh = await self.ledger.get(r.sms_id) if r.sms_id in was_sending else r
            if fresh is not None and fresh.state is SmsState.unknown:
                await self._resolve_unknown(fresh)
        if self.provider.status_lookup:
            submitted = [r for r in active if r.state is SmsState.submitted and r.provider == mine]
            await self._poll_submitted(now, submitted)
        grace = now - self.config.outbox_grace
        for r in active:
            if r.owed and r.updated_at < grace:
                fresh = await self.ledger.get(r.sms_id)
                if fresh is not None and fresh.owed:
                    await self.outcomes.flush(fresh)
        if self.receipts is not None:
            await self.receipts.sweep()

    async def _resolve_unknown(self, r: SmsRecord) -> None:
        try:
            found = await self.provider.lookup(outgoing(r), r.message_ids)
        except SendError as exc:
            log.warning("status lookup for sms %s failed: %s", r.sms_id, exc)
            return
        if found.outcome is LookupOutcome.found:
            await self.outcomes.submitted(
                r, Submitted(found.message_ids), "the provider's status lookup found it"
            )
            if found.status is not None:
                fresh = await self.ledger.get(r.sms_id)
                if fresh is not None:
                    await self.outcomes.complete(
                        fresh, found.status, f"status lookup: {found.error or found.status.value}"
                    )
        elif found.outcome is LookupOutcome.absent:
            now = self.clock.now()
            await self.outcomes.move(r.sms_id, SmsState.pending, lambda x: rec.resend_absent(x, now=now), now)
            self.senders.ask_scan()

    async def _poll_submitted(self, now: datetime, submitted: Sequence[SmsRecord]) -> None:
        """Ask the provider about records submitted long ago and still without an outcome: a provider
        that pushes no receipts (kavenegar) is polled this way, and so is every record whose receipt
        or immediate outcome could not be written (the database was down when it came)."""
        cutoff = now - self.config.status_poll
        for r in submitted:
            last = r.polled_at or r.submitted_at
            if last is not None and last > cutoff:
                continue
            await self.ledger.update(r.sms_id, lambda x: rec.polled(x, now=now), now=now)
            try:
                found = await self.provider.lookup(outgoing(r), r.message_ids)
            except SendError as exc:
                log.warning("status poll for sms %s failed: %s", r.sms_id, exc)
                continue
            if found.status is not None:
                await self.outcomes.complete(
                    r, found.status, f"status poll: {found.error or found.status.value}"
                )
