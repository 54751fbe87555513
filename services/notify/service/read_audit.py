"""Recording reads of the SMS ledger's personal data (recipients and texts) for the read audit that
tracking keeps: queued at once, sent in batches in the background, whatever is left sent at a clean stop."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from services.common.batches import BackgroundBatches
from services.common.clock import Clock
from services.notify.adapters.read_audit import ReadAuditSink

log = logging.getLogger("samad.notify.audit")


class ReadAudit:
    def __init__(
        self, sink: ReadAuditSink, clock: Clock, *, batch_size: int = 500, interval_seconds: float = 1.0
    ) -> None:
        self.clock = clock
        self.batches: BackgroundBatches[dict[str, Any]] = BackgroundBatches(
            sink.send, what="read audit records", batch_size=batch_size, interval_seconds=interval_seconds
        )

    def record(
        self,
        *,
        user: str,
        role: str,
        client: str | None,
        endpoint: str,
        screen: str | None,
        reads: Iterable[tuple[str, str]],
    ) -> None:
        """One record per (case id, shown | masked) read; returns at once. No personal data in it."""
        at = self.clock.now().isoformat()
        self.batches.add(
            {
                "at": at,
                "user": user,
                "role": role,
                "case_id": case_id,
                "client": client,
                "endpoint": endpoint,
                "screen": screen,
                "disclosure": how,
            }
            for case_id, how in reads
        )

    async def start(self) -> None:
        await self.batches.start()

    async def stop(self) -> None:
        """Send what is queued; if tracking cannot take it now, say how many records are lost."""
        try:
            await self.batches.stop(attempts=3)
        except Exception:
            log.error("%d read audit records were not handed to tracking", len(self.batches.pending))
