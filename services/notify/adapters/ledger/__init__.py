"""The SMS ledger port: typed records in, typed records out; every change a compare-and-set.

``MongoLedger`` (mongo.py) is the real one, ``InMemoryLedger`` (memory.py) the fake the use-case
tests run on. A change is a pure function of the stored record (services.notify.domain.records):
the ledger applies it to the record as stored and writes the result only if nobody changed the
record meanwhile; ``known`` is the copy a writer already holds, tried first to spare a read.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from services.notify.domain.ledger import SmsState
from services.notify.domain.records import KeptReceipt, SmsRecord

Change = Callable[[SmsRecord], SmsRecord | None]


class Ledger(Protocol):
    async def setup(self) -> None:
        """Create what the store needs (indexes)."""

    async def insert_many(self, records: Sequence[SmsRecord]) -> set[int]:
        """Write new records at once; the positions of those whose id exists already (nothing written)."""
        ...

    async def get(self, sms_id: str) -> SmsRecord | None: ...

    async def update(
        self, sms_id: str, change: Change, *, now: datetime, known: SmsRecord | None = None
    ) -> SmsRecord | None:
        """Apply ``change`` to the stored record; the record after it, or None when the change refuses
        the stored record (or the record does not exist). Stamps ``version`` and ``updated_at``."""
        ...

    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of records due for sending, the longest waiting first."""
        ...

    async def unsettled(self, limit: int = 1000) -> list[SmsRecord]:
        """Records the reconciler may have to act on: sending, unknown, submitted, or owing events."""
        ...

    async def by_message_id(self, provider: str, message_id: str, *, scan: bool = True) -> SmsRecord | None:
        """The record a gateway's message id belongs to, through the id mapping (reads by ``_id``);
        ``scan``: also look through the records' ids when the mapping has none (a record written
        before the mapping existed, or a writer that stopped between the two writes): on FerretDB
        that reads the whole ledger."""
        ...

    async def keep_receipt(self, kept: KeptReceipt) -> bool:
        """Keep a receipt no record knows the id of yet; False when the same one is kept already."""
        ...

    async def kept_receipts(self, provider: str, message_ids: Sequence[str]) -> list[KeptReceipt]:
        """The receipts kept for these message ids (one read, by ``_id``), in the order of the ids."""
        ...

    async def all_kept_receipts(self, limit: int = 1000) -> list[KeptReceipt]:
        """Every receipt still kept, the oldest first."""
        ...

    async def drop_kept_receipt(self, kept: KeptReceipt) -> None:
        """The receipt was applied to its record."""

    async def report_kept_receipt(self, kept: KeptReceipt, now: datetime) -> None:
        """The receipt stayed unmatched past the wait and was reported; it stays kept (and listed)."""

    async def list(
        self,
        *,
        case_id: str | None = None,
        state: SmsState | None = None,
        recipient: str | None = None,
        limit: int = 50,
    ) -> list[SmsRecord]:
        """Records oldest first."""
        ...

    async def count_by_state(self) -> dict[str, int]: ...
