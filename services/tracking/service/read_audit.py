"""Recording who read which case's personal data, without slowing the read, and the supervisors' query.

A read adds its records to a queue in memory and returns; a background task writes them in batches
(when a batch fills, or every interval). Stopping the service writes whatever is still queued before the
database closes, so a clean shutdown loses none; a failed write keeps the batch and tries again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass

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
        self.batch_size = batch_size
        self.interval_seconds = interval_seconds
        self.pending: list[ReadRecord] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    def record(self, staff: Staff, ctx: ReadContext, reads: Iterable[tuple[str, Disclosure]]) -> None:
        """Queue one record per (case id, disclosure) read by ``staff``; returns at once."""
        at = self.clock.now()
        for case_id, how in reads:
            self.pending.append(
                ReadRecord(
                    at, staff.subject, staff.role, case_id, ctx.client, ctx.endpoint, ctx.screen, how.value
                )
            )
        if len(self.pending) >= self.batch_size:
            self._wake.set()

    async def flush(self) -> int:
        """Write everything queued; on a failure the records stay queued (and the error is raised)."""
        async with self._lock:
            written = 0
            while self.pending:
                batch = self.pending[: self.batch_size]
                await self.store.add(batch)
                del self.pending[: len(batch)]
                written += len(batch)
            return written

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_seconds)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing %d read audit records failed; trying again", len(self.pending))

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="tracking-read-audit")

    async def stop(self, attempts: int = 5) -> None:
        """Stop the background writer and write what is still queued (a few tries, a second apart)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in range(attempts):
            try:
                await self.flush()
                return
            except Exception:
                if attempt == attempts - 1:
                    log.exception("%d read audit records could not be written at shutdown", len(self.pending))
                    raise
                await asyncio.sleep(1.0)


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
