"""Reading the ledger for staff: what was sent, to whom, and how it ended."""

from __future__ import annotations

from services.notify.adapters.ledger import Ledger
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import SmsRecord


class LedgerLookup:
    def __init__(self, *, ledger: Ledger) -> None:
        self.ledger = ledger

    async def records(
        self, *, case_id: str | None = None, state: SmsState | None = None, limit: int = 50
    ) -> list[SmsRecord]:
        return await self.ledger.list(case_id=case_id, state=state, limit=limit)

    async def count_by_state(self) -> dict[str, int]:
        return await self.ledger.count_by_state()
