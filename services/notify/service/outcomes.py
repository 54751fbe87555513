"""Recording what the gateway said about an SMS, and publishing the events each change calls for.

Shared by the senders (the answer to a submission), the receipts (a delivery report) and the
reconciler (a status lookup). The provider's answer is a fact whatever the ledger says next, so an
accepted SMS's events go out before its outcome is written; every other change is written with its
events owed, then published and struck off. The event ids are deterministic: a second publication
(after a crash, or by the reconciler) is recognised downstream as the same event.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime

from services.common.clock import Clock
from services.common.publishing import Publisher
from services.notify.adapters.ledger import Change, Ledger
from services.notify.adapters.providers.base import OutgoingSms, ReportStatus, Submitted
from services.notify.domain import records as rec
from services.notify.domain.ledger import PartOutcome, SmsState, overall_outcome
from services.notify.domain.notifications import events_of, in_order
from services.notify.domain.records import Owed, SmsRecord
from services.notify.service.metrics import SMS_OUTCOMES

log = logging.getLogger("samad.notify")

# How long a sender waits for Kafka to take an SMS's events before recording the SMS with the events
# owed instead (Kafka restarting, say): the ledger is not held back longer than this.
PUBLISH_FIRST_SECONDS = 2.0


def outgoing(r: SmsRecord) -> OutgoingSms:
    """The message as the gateway takes it."""
    return OutgoingSms(
        sms_id=r.sms_id, recipient=r.recipient, text=r.text, parts=r.segments, local_id=r.local_id
    )


class Outcomes:
    def __init__(self, *, ledger: Ledger, publisher: Publisher, clock: Clock, provider: str) -> None:
        self.ledger = ledger
        self.publisher = publisher
        self.clock = clock
        self.provider = provider  # the gateway's name, for the metrics

    async def move(self, sms_id: str, target: SmsState, change: Change, now: datetime) -> SmsRecord | None:
        """A change with no event to publish; None when the record's state refused it."""
        moved = await self.ledger.update(sms_id, change, now=now)
        if moved is not None:
            SMS_OUTCOMES.labels(self.provider, target.value).inc()
        return moved

    async def submitted(self, r: SmsRecord, result: Submitted, note: str) -> None:
        """The gateway has the message (and maybe delivered it already): one write for both steps."""
        now = self.clock.now()

        def change(owe: bool) -> Change:
            return lambda x: rec.submitted(
                x, now=now, message_ids=result.message_ids, delivered=result.delivered, note=note, owe=owe
            )

        predicted = change(True)(r)
        published = predicted is not None and await self._publish_first(
            predicted, rec.submission_events(result.delivered)
        )
        moved = await self.ledger.update(r.sms_id, change(not published), now=now, known=r)
        if moved is None:
            log.warning("sms %s was no longer in a state to become submitted", r.sms_id)
            return
        SMS_OUTCOMES.labels(self.provider, SmsState.submitted.value).inc()
        if result.delivered:
            SMS_OUTCOMES.labels(self.provider, SmsState.delivered.value).inc()
        await self.flush(moved)
        if not result.delivered:
            await self.settle(moved)  # receipts that arrived while the record was still sending

    async def complete(self, r: SmsRecord, status: ReportStatus, note: str) -> None:
        """The gateway's final word on a message it had."""
        if status is ReportStatus.delivered:
            now = self.clock.now()
            moved = await self.ledger.update(
                r.sms_id, lambda x: rec.delivered(x, now=now, note=note), now=now
            )
            if moved is not None:
                SMS_OUTCOMES.labels(self.provider, SmsState.delivered.value).inc()
                await self.flush(moved)
        else:
            await self.fail(r, note, permanent=True, only_from=(SmsState.submitted,))

    async def fail(self, r: SmsRecord, note: str, *, permanent: bool, only_from: Sequence[SmsState]) -> None:
        now = self.clock.now()
        moved = await self.ledger.update(
            r.sms_id,
            lambda x: rec.failed(x, now=now, note=note, permanent=permanent, only_from=only_from),
            now=now,
        )
        if moved is not None:
            SMS_OUTCOMES.labels(self.provider, SmsState.failed.value).inc()
            log.warning("sms %s failed (%s): %s", r.sms_id, "permanent" if permanent else "gave up", note)
            await self.flush(moved)

    async def settle(self, r: SmsRecord, error: str = "") -> None:
        """Move a submitted or unknown record on once its part receipts say how it ended."""
        fresh = await self.ledger.get(r.sms_id)
        if fresh is None:
            return
        outcomes = await self.ledger.part_outcomes(fresh.sms_id)
        overall = overall_outcome(rec.expected_receipts(fresh), outcomes)
        if fresh.state is SmsState.sending:
            return  # the sender records the submission, then settles with the receipts kept meanwhile
        if fresh.state is SmsState.unknown:
            if outcomes:
                # A receipt proves the provider had it: it was submitted (and submitted() settles it).
                await self.submitted(
                    fresh, Submitted(fresh.message_ids), "a delivery receipt proves it was submitted"
                )
            return
        if overall is PartOutcome.delivered:
            await self.complete(fresh, ReportStatus.delivered, "delivery receipt")
        elif overall is PartOutcome.failed:
            await self.complete(fresh, ReportStatus.failed, f"delivery receipt: {error or 'not delivered'}")

    async def _publish_first(self, predicted: SmsRecord, kinds: Sequence[Owed]) -> bool:
        """Publish the events of a change before writing it, so the write need not list them as owed
        and strike them off after. False when Kafka did not take them within
        ``PUBLISH_FIRST_SECONDS``: the write then lists them as owed, for ``flush`` or the reconciler.
        A crash between the publication and the write leaves the record ``sending``; the reconciler
        finds it through the provider and publishes again, with the same event ids, as it does for
        a publication that completes after its timeout."""
        events = events_of(predicted, kinds, self.clock.now())
        try:
            await asyncio.wait_for(self.publisher.publish(events), PUBLISH_FIRST_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # Kafka or the timeout: the owed events take over
            log.warning(
                "sms %s: events not published before the ledger write (%r); owed instead",
                predicted.sms_id,
                exc,
            )
            return False
        return True

    async def flush(self, r: SmsRecord) -> None:
        """Publish the events the record owes, in order (one key), then strike them off."""
        kinds = in_order(r.owed)
        if kinds:
            now = self.clock.now()
            await self.publisher.publish(events_of(r, kinds, now))
            await self.ledger.update(r.sms_id, lambda x: rec.published(x, kinds), now=now, known=r)
