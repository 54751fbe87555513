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
from services.notify.domain.ledger import PartOutcome, SmsState
from services.notify.domain.notifications import events_of, in_order
from services.notify.domain.records import Owed, SmsRecord
from services.notify.service.metrics import RECEIPTS, SMS_OUTCOMES

log = logging.getLogger("samad.notify")

# How long a sender waits for Kafka to take an SMS's events before recording the SMS with the events
# owed instead (Kafka restarting, say): the ledger is not held back longer than this.
PUBLISH_FIRST_SECONDS = 2.0


def outgoing(r: SmsRecord) -> OutgoingSms:
    """The message as the gateway takes it."""
    return OutgoingSms(
        sms_id=r.sms_id,
        recipient=r.recipient,
        text=r.text,
        parts=r.segments,
        local_id=r.local_id,
        accepted=r.accepted_parts,
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
        """The gateway has the message (and maybe delivered it already): one write for both steps.
        Receipts applied while it was being sent settle it in the same write."""
        now = self.clock.now()

        def change(published: Sequence[Owed]) -> Change:
            return lambda x: rec.submitted(
                x,
                now=now,
                message_ids=result.message_ids,
                delivered=result.delivered,
                note=note,
                published=published,
                parts=result.parts,
            )

        predicted = change(())(r)
        kinds = [k for k in in_order(predicted.owed) if k not in r.owed] if predicted is not None else []
        published = (
            kinds if predicted is not None and kinds and await self._publish_first(predicted, kinds) else []
        )
        moved = await self.ledger.update(r.sms_id, change(published), now=now, known=r)
        if moved is None:
            log.warning("sms %s was no longer in a state to become submitted", r.sms_id)
            return
        SMS_OUTCOMES.labels(self.provider, SmsState.submitted.value).inc()
        if moved.state is not SmsState.submitted:
            SMS_OUTCOMES.labels(self.provider, moved.state.value).inc()
        await self.flush(moved)
        await self.ids_known(moved, result.message_ids)

    async def apply_receipt(
        self, r: SmsRecord, message_id: str, outcome: PartOutcome, error: str = ""
    ) -> SmsRecord | None:
        """Apply a receipt to the record whose id it names: once. None when it was applied before."""
        now = self.clock.now()
        before = r.state
        moved = await self.ledger.update(
            r.sms_id,
            lambda x: rec.receipt(x, message_id=message_id, outcome=outcome, now=now, error=error),
            now=now,
            known=r,
        )
        if moved is None:
            RECEIPTS.labels(self.provider, "duplicate").inc()
            log.info("receipt %s for sms %s applied before: ignored", message_id, r.sms_id)
            return None
        RECEIPTS.labels(self.provider, outcome.value).inc()
        if moved.state is not before:
            SMS_OUTCOMES.labels(self.provider, moved.state.value).inc()
            if moved.state is SmsState.failed:
                log.warning("sms %s failed: %s", r.sms_id, moved.error)
        await self.flush(moved)
        return moved

    async def ids_known(self, r: SmsRecord, message_ids: Sequence[str]) -> None:
        """The ledger has just learnt these ids: apply the receipts kept for them (receipts that came
        before the id was written)."""
        known = [m for m in message_ids if m]
        if not known:
            return
        for kept in await self.ledger.kept_receipts(r.provider or self.provider, known):
            fresh = await self.ledger.get(r.sms_id)
            if fresh is None:
                return
            await self.apply_receipt(fresh, kept.message_id, kept.outcome, kept.error)
            await self.ledger.drop_kept_receipt(kept)
            log.info("kept receipt %s applied to sms %s", kept.message_id, r.sms_id)

    async def complete(self, r: SmsRecord, status: ReportStatus, note: str) -> None:
        """The gateway's final word on a message it had (a status lookup)."""
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
