"""Sending: sender workers claim due records atomically, ask about an opt-out, call the gateway with
the retry policy and record the outcome.

Records the consumer has just written are handed to the workers directly, with the copy as stored
(the claim needs no read); a scanner looks for the others (deferred, retried, written by another
replica or before a restart) when the workers are idle. Exactly once: the record is ``sending``
(with a lease) before the gateway is called and moved on after; a sender that dies in between leaves
the lease to expire, and the reconciler resolves the record through the gateway, never by resending.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from dataclasses import replace
from datetime import datetime, timedelta

from services.common import tracing
from services.common.clock import Clock
from services.common.recent import Recent
from services.common.sealing import Sealer
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.optouts import OptOuts
from services.notify.adapters.providers.base import OutgoingSms, SendError, SmsProvider
from services.notify.adapters.rate_limit import RateLimiter
from services.notify.domain import records as rec
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind
from services.notify.domain.records import SmsRecord
from services.notify.service.config import NotifyConfig
from services.notify.service.metrics import SMS_SEND_ERRORS
from services.notify.service.outcomes import Outcomes, outgoing
from services.notify.service.retrying import send_with_retry

log = logging.getLogger("samad.notify")

HANDED_MAX = 10_000
SCAN_BATCH = 100


class Senders:
    def __init__(
        self,
        *,
        ledger: Ledger,
        optouts: OptOuts,
        provider: SmsProvider,
        limiter: RateLimiter,
        outcomes: Outcomes,
        clock: Clock,
        config: NotifyConfig,
        replica: str,
        sealer: Sealer | None = None,
    ) -> None:
        self.sealer = sealer  # opens a sealed record's recipient and text right before sending
        self.ledger, self.optouts, self.provider = ledger, optouts, provider
        self.limiter = limiter
        self.outcomes = outcomes
        self.clock = clock
        self.config = config
        self.replica = replica
        self._wake = asyncio.Event()
        # Ids for the sender workers; ``_queued`` holds those waiting or being sent (never twice at once).
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        # Records the consumer has just written and handed to the senders: the sender claims from
        # this copy (no read). A copy left behind (the scanner's sender had the record first) is only
        # stale; the oldest go.
        self._handed: Recent[str, SmsRecord] = Recent(HANDED_MAX)
        # The earliest time a record this replica deferred or requeued becomes due: the scanner wakes
        # then instead of reading the whole ledger every few seconds.
        self._next_due: datetime | None = None
        self._scan_asked = True  # at start: records written before it
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        self._stopping = False
        for n in range(max(self.config.concurrency, 1)):
            self._tasks.append(asyncio.create_task(self._sender(), name=f"sms-sender-{n}"))
        self._tasks.append(asyncio.create_task(self._scanner(), name="sms-scanner"))

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    # --- what the other use cases tell the senders -----------------------------------------------

    def hand(self, record: SmsRecord, *, as_stored: bool) -> None:
        """Give a record to this replica's senders if it is due now, or wake the scanner when it
        falls due. ``as_stored``: this copy is the record as stored, which the sender claims from
        without reading it (False when it may not be: the sender reads it first)."""
        if record.state is SmsState.pending:
            if as_stored:
                self._handed.put(record.sms_id, record)
            self._enqueue(record.sms_id)
        elif record.not_before is not None:
            self.due_at(record.not_before)

    def due_at(self, when: datetime) -> None:
        if self._next_due is None or when < self._next_due:
            self._next_due = when
            self._wake.set()  # the scanner recomputes how long to sleep (it does not scan for this)

    def ask_scan(self) -> None:
        self._scan_asked = True
        self._wake.set()

    @property
    def queued(self) -> frozenset[str]:
        """Ids waiting for a sender or being sent."""
        return frozenset(self._queued)

    # --- the workers ------------------------------------------------------------------------------

    def _enqueue(self, sms_id: str) -> None:
        if sms_id not in self._queued:
            self._queued.add(sms_id)
            self._ready.put_nowait(sms_id)

    async def _sender(self) -> None:
        while not self._stopping:
            sms_id = await self._ready.get()
            try:
                await self.send_if_due(sms_id)
            except asyncio.CancelledError:
                raise
            except Exception:
                # The record stays as it was (pending: the scanner finds it again; sending: its lease
                # expires and the reconciler resolves it).
                log.exception("sending sms %s failed; the scanner or the reconciler will retry", sms_id)
            finally:
                self._queued.discard(sms_id)

    async def scan_once(self) -> list[str]:
        """Queue the due records nobody handed to this replica's senders; their ids."""
        found = await self.ledger.due(self.clock.now(), limit=SCAN_BATCH)
        for sms_id in found:
            self._enqueue(sms_id)
        return found

    async def _scanner(self) -> None:
        """Feed the workers with due records they were not handed: quiet-hours deferrals and transient
        retries (at the time they fall due), records written before a restart (at start), records of
        a replica that stopped (every ``poll_seconds``). Finding them reads the whole ledger on
        FerretDB, so it happens only then, and not while the workers have a queue."""
        last_scan: float | None = None
        while not self._stopping:
            self._wake.clear()
            now = self.clock.now()
            due_now = self._next_due is not None and self._next_due <= now
            periodic = last_scan is None or time.monotonic() - last_scan >= self.config.poll_seconds
            if (due_now or periodic or self._scan_asked) and self._ready.qsize() < max(
                self.config.concurrency, 1
            ):
                if due_now:
                    self._next_due = None
                self._scan_asked = False
                last_scan = time.monotonic()
                try:
                    found = await self.scan_once()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("looking for due sms failed; retrying")
                    found = []
                if len(found) >= SCAN_BATCH:
                    self.ask_scan()  # more are due: look again once these are taken
            timeout = self.config.poll_seconds
            if self._scan_asked:  # asked while the senders had a queue: look again soon
                timeout = min(timeout, 0.1)
            if self._next_due is not None:
                timeout = min(timeout, max((self._next_due - self.clock.now()).total_seconds(), 0.05))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)

    # --- sending one SMS --------------------------------------------------------------------------

    async def send_if_due(self, sms_id: str) -> bool:
        """Claim the record and send it; False when it is not due or another sender has it."""
        now = self.clock.now()
        known = self._handed.pop(sms_id, None)
        claimed = await self.ledger.update(
            sms_id,
            lambda r: rec.claim(
                r,
                now=now,
                lease_until=now + self.config.lease,
                replica=self.replica,
                provider=self.provider.name,
            ),
            now=now,
            known=known,
        )
        if claimed is None:
            return False
        # In the trace of the event that asked for the SMS, when this process handled it.
        with tracing.span(
            "notify send sms",
            cause=claimed.source_event_id,
            attributes={
                tracing.SMS_ID: claimed.sms_id,
                tracing.CASE_ID: claimed.case_id,
                tracing.EVENT_ID: claimed.source_event_id,
                "samad.sms.template": claimed.template,
                "samad.sms.provider": self.provider.name,
            },
        ):
            await self._send(claimed)
        return True

    async def _opened(self, r: SmsRecord) -> tuple[str, str] | None:
        """The recipient and text to send; None when they are sealed and the citizen's key is erased."""
        if r.recipient_sealed is None or r.text_sealed is None:
            return r.recipient, r.text
        if self.sealer is None:
            return None
        recipient = await self.sealer.open(r.recipient_sealed, "recipient", r.case_id)
        text = await self.sealer.open(r.text_sealed, "text", r.case_id)
        return (recipient, text) if recipient is not None and text is not None else None

    async def _send(self, r: SmsRecord) -> None:
        opened = await self._opened(r)
        if opened is None:
            now = self.clock.now()
            log.info("sms %s: the citizen's personal data was erased; not sent", r.sms_id)
            await self.outcomes.move(
                r.sms_id, SmsState.skipped_erased, lambda x: rec.skip_erased(x, now=now), now
            )
            return
        recipient, text = opened

        def to_gateway(x: SmsRecord) -> OutgoingSms:
            # The opened recipient and text go to the gateway only; the ledger keeps them sealed.
            return outgoing(replace(x, recipient=recipient, text=text))

        # Whether the citizen opted out is asked once, right before sending: the latest answer.
        if await self.optouts.is_opted_out(recipient):
            now = self.clock.now()
            await self.outcomes.move(
                r.sms_id, SmsState.skipped_opted_out, lambda x: rec.skip_opted_out(x, now=now), now
            )
            return
        attempts = 0
        latest = r  # the record as this sender last wrote it (each accepted part is one write)

        async def before_attempt() -> None:
            nonlocal attempts, latest
            attempts += 1
            if attempts > 1:  # the claim has just set the lease for the first attempt
                now = self.clock.now()
                until = now + self.config.lease
                latest = (
                    await self.ledger.update(
                        r.sms_id,
                        lambda x: rec.extend_lease(x, replica=self.replica, until=until),
                        now=now,
                        known=latest,
                    )
                    or latest
                )
            await self.limiter.acquire()

        async def on_part(number: int, message_id: str) -> None:
            """A part the gateway accepted: on the ledger before the next part is submitted."""
            nonlocal latest
            now = self.clock.now()
            try:
                moved = await self.ledger.update(
                    r.sms_id,
                    lambda x: rec.part_accepted(x, number=number, message_id=message_id),
                    now=now,
                    known=latest,
                )
                if moved is not None:
                    latest = moved
                if message_id:
                    await self.outcomes.ids_known(latest, [message_id])
            except Exception:
                # The final write records the part again; a receipt for it waits kept until then.
                log.exception("sms %s: recording part %d as accepted failed", r.sms_id, number)

        try:
            result = await send_with_retry(
                self.provider,
                to_gateway(r),
                self.config.retry,
                before_attempt=before_attempt,
                on_part=on_part,
                current=lambda: to_gateway(latest),
            )
        except SendError as exc:
            SMS_SEND_ERRORS.labels(self.provider.name, exc.kind.value).inc()
            await self._after_error(r, exc)
            return
        if self.config.crash_after_submit:
            log.critical("test setting: exiting after submit, before the ledger update of %s", r.sms_id)
            os._exit(137)
        await self.outcomes.submitted(latest, result, "provider accepted")

    async def _after_error(self, r: SmsRecord, exc: SendError) -> None:
        note = f"{exc.kind.value} {exc.code}: {exc.message}"
        now = self.clock.now()
        if exc.kind is ErrorKind.unknown:
            log.warning("sms %s: outcome unknown (%s); reconciling, not resending", r.sms_id, note)
            await self.outcomes.move(
                r.sms_id, SmsState.unknown, lambda x: rec.outcome_unknown(x, now=now, error=note), now
            )
            return
        if exc.kind is ErrorKind.transient:
            delay = self.config.retry.requeue_delay(r.claims)
            if delay is not None:
                await self.outcomes.move(
                    r.sms_id,
                    SmsState.pending,
                    lambda x: rec.requeue(x, now=now, error=note, delay=delay),
                    now,
                )
                self.due_at(now + timedelta(seconds=delay))
                return
        await self.outcomes.fail(
            r, note, permanent=exc.kind is ErrorKind.permanent, only_from=(SmsState.sending,)
        )
