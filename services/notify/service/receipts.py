"""Delivery receipts: a gateway's report on a message part is matched to its record, kept once (a
repeated receipt is recognised), and the record is settled once its parts say how it ended."""

from __future__ import annotations

import logging

from services.common.clock import Clock
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.providers.base import DeliveryReport, ReportStatus
from services.notify.domain import records as rec
from services.notify.domain.ledger import PartOutcome
from services.notify.service.metrics import RECEIPTS
from services.notify.service.outcomes import Outcomes

log = logging.getLogger("samad.notify")


class Receipts:
    def __init__(self, *, ledger: Ledger, outcomes: Outcomes, clock: Clock) -> None:
        self.ledger = ledger
        self.outcomes = outcomes
        self.clock = clock

    async def on_report(self, report: DeliveryReport) -> None:
        """Handed over by the gateway; once this returns the receipt is recorded (an SMSC is
        acknowledged only then, and repeats a receipt it was not)."""
        record = await self.ledger.by_message_id(report.provider, report.message_id)
        if record is None and report.recipient:
            # The id was never recorded (a crash between the gateway's answer and the ledger update):
            # the receipt's recipient and text name the message.
            record = await self.ledger.awaiting_outcome(report.provider, report.recipient, report.text_prefix)
            if record is not None:
                log.info(
                    "receipt %s matched unknown sms %s by recipient and text",
                    report.message_id,
                    record.sms_id,
                )
                now = self.clock.now()
                record = (
                    await self.ledger.update(
                        record.sms_id, lambda x: rec.with_message_ids(x, [report.message_id]), now=now
                    )
                    or record
                )
        if record is None:
            RECEIPTS.labels(report.provider, "unmatched").inc()
            log.warning("receipt for unknown message %s from %s", report.message_id, report.provider)
            return
        outcome = PartOutcome.delivered if report.status is ReportStatus.delivered else PartOutcome.failed
        if not await self.ledger.record_receipt(
            record.sms_id, report.provider, report.message_id, outcome, self.clock.now()
        ):
            RECEIPTS.labels(report.provider, "duplicate").inc()
            log.info("duplicate receipt %s for sms %s ignored", report.message_id, record.sms_id)
            return
        RECEIPTS.labels(report.provider, outcome.value).inc()
        await self.outcomes.settle(record, report.error)
