"""Recording who read which case's personal data, without slowing the read, and the supervisors' query.

A read adds its records to a queue in memory and returns; a background task writes them in batches
(when a batch fills, or every interval). Stopping the service writes whatever is still queued before the
database closes, so a clean shutdown loses none; a failed write keeps the batch and tries again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from services.common.batches import BackgroundBatches
from services.common.clock import Clock
from services.tracking.adapters.audit import ReadAudit
from services.tracking.domain.access import Staff
from services.tracking.domain.audit import ReadContext, ReadFilter, ReadRecord
from services.tracking.domain.periods import ReversedPeriod, registered_between
from services.tracking.domain.privacy import Disclosure

log = logging.getLogger("samad.tracking.audit")


class AuditTrail:
    def __init__(
        self, store: ReadAudit, clock: Clock, *, batch_size: int = 500, interval_seconds: float = 1.0
    ) -> None:
        self.store = store
        self.clock = clock
        self.batches: BackgroundBatches[ReadRecord] = BackgroundBatches(
            store.add, what="read audit records", batch_size=batch_size, interval_seconds=interval_seconds
        )

    @property
    def pending(self) -> list[ReadRecord]:
        return self.batches.pending

    def record(self, staff: Staff, ctx: ReadContext, reads: Iterable[tuple[str, Disclosure]]) -> None:
        """Queue one record per (case id, disclosure) read by ``staff``; returns at once."""
        at = self.clock.now()
        self.batches.add(
            ReadRecord(
                at, staff.subject, staff.role, case_id, ctx.client, ctx.endpoint, ctx.screen, how.value
            )
            for case_id, how in reads
        )

    def add(self, records: Iterable[ReadRecord]) -> None:
        """Queue records another service made of the reads it answered (notify's SMS ledger)."""
        self.batches.add(records)

    async def flush(self) -> int:
        return await self.batches.flush()

    async def start(self) -> None:
        await self.batches.start()

    async def stop(self) -> None:
        await self.batches.stop()


@dataclass(frozen=True)
class ReadsPage:
    total: int
    items: list[ReadRecord]


class QueryReads:
    """The supervisors' query of the read audit: by case, user and days (both included), newest first."""

    def __init__(self, store: ReadAudit) -> None:
        self.store = store

    async def __call__(
        self,
        *,
        case_id: str | None = None,
        user: str | None = None,
        date_from: str | None = None,
        date_to: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> ReadsPage:
        """Raises BadDate (naming ``from`` or ``to``) or ReversedPeriod."""
        start, end = registered_between(date_from, date_to)
        if start is not None and end is not None and start >= end:
            raise ReversedPeriod(f"{date_from} is after {date_to}")
        f = ReadFilter(
            case_id=(case_id or "").strip() or None, user=(user or "").strip() or None, start=start, end=end
        )
        total, items = await self.store.find(f, (page - 1) * page_size, page_size)
        return ReadsPage(total, items)
