"""Delivery receipts: a gateway's report on a message part is applied exactly once, to exactly the part
its message id names, whenever it arrives.

A receipt is matched by its message id and by nothing else (never by recipient or text: many SMSCs
quote no text, or the first 20 characters, and two messages to one citizen can begin alike). A
receipt whose id no record knows yet (it overtook the gateway's answer to its part, or that answer is
still being written) is kept in the ledger and applied as soon as the id is recorded; the
reconciler's sweep tries again every round, and one still unmatched after ``SAMAD_SMS_RECEIPT_MATCH_SECONDS``
is reported (log, metric, the unmatched-receipts listing) and stays kept for people to look at.

Once ``on_report`` returns, the receipt is either applied or kept: an SMSC is acknowledged only then.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from services.common.clock import Clock
from services.notify.adapters.ledger import Ledger
from services.notify.adapters.providers.base import DeliveryReport, ReportStatus
from services.notify.domain.ledger import PartOutcome
from services.notify.domain.records import KeptReceipt
from services.notify.service.metrics import RECEIPTS, UNMATCHED_RECEIPTS
from services.notify.service.outcomes import Outcomes

log = logging.getLogger("samad.notify")


class Receipts:
    def __init__(
        self,
        *,
        ledger: Ledger,
        outcomes: Outcomes,
        clock: Clock,
        match_wait: timedelta = timedelta(minutes=10),
    ) -> None:
        self.ledger = ledger
        self.outcomes = outcomes
        self.clock = clock
        self.match_wait = match_wait

    async def on_report(self, report: DeliveryReport) -> None:
        """Handed over by the gateway; once this returns the receipt is applied or kept."""
        outcome = PartOutcome.delivered if report.status is ReportStatus.delivered else PartOutcome.failed
        # By the id mapping only (reads by _id): the writer of an id writes its mapping, then looks
        # for receipts kept for it, so one of the two looks below or the writer's finds the other.
        if await self._apply(report.provider, report.message_id, outcome, report.error, scan=False):
            return
        kept = KeptReceipt(report.provider, report.message_id, outcome, report.error, self.clock.now())
        await self.ledger.keep_receipt(kept)
        # The id may have been written between the first look and the keeping: look again, so that
        # either this look or the writer's (``Outcomes.ids_known``, after its write) finds the other.
        if await self._apply(report.provider, report.message_id, outcome, report.error, scan=False):
            await self.ledger.drop_kept_receipt(kept)
            return
        RECEIPTS.labels(report.provider, "kept").inc()
        log.info(
            "receipt %s from %s names no known message yet: kept until its id is recorded",
            report.message_id,
            report.provider,
        )

    async def _apply(
        self, provider: str, message_id: str, outcome: PartOutcome, error: str, *, scan: bool = True
    ) -> bool:
        """False when no record has this id (yet)."""
        record = await self.ledger.by_message_id(provider, message_id, scan=scan)
        if record is None:
            return False
        await self.outcomes.apply_receipt(record, message_id, outcome, error)
        return True

    async def sweep(self) -> int:
        """Apply the kept receipts whose id is known by now; report those that waited too long.
        Returns how many stay unmatched past the wait."""
        now = self.clock.now()
        overdue = 0
        for kept in await self.ledger.all_kept_receipts():
            if await self._apply(kept.provider, kept.message_id, kept.outcome, kept.error):
                await self.ledger.drop_kept_receipt(kept)
                continue
            if kept.received_at > now - self.match_wait:
                continue
            overdue += 1
            if kept.reported_at is None:
                await self.ledger.report_kept_receipt(kept, now)
                RECEIPTS.labels(kept.provider, "unmatched").inc()
                log.warning(
                    "receipt %s from %s (%s) matched no sms within %ss: reported, kept for review",
                    kept.message_id,
                    kept.provider,
                    kept.outcome.value,
                    int(self.match_wait.total_seconds()),
                )
        UNMATCHED_RECEIPTS.set(overdue)
        return overdue

    async def unmatched(self, limit: int = 100) -> list[KeptReceipt]:
        """Receipts kept and not applied (yet), oldest first."""
        return await self.ledger.all_kept_receipts(limit)
