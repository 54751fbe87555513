"""The SMS ledger in memory: the fake the use-case tests run on, with the real ledger's rules
(changes judged on the stored record, versions, duplicate receipts refused, reads counted)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from services.notify.adapters.ledger import Change
from services.notify.domain.ledger import CLAIMABLE, SmsState
from services.notify.domain.records import KeptReceipt, SmsRecord, kept_receipt_keys


class InMemoryLedger:
    def __init__(self) -> None:
        self.records: dict[str, SmsRecord] = {}
        self.kept: dict[str, KeptReceipt] = {}
        self._message_ids: dict[str, str] = {}
        # Reads a real ledger would make: a ``get``, or a change whose ``known`` copy was stale.
        self.reads = 0
        # False: every call raises ConnectionError, like a database that went away.
        self.available = True

    def _check(self) -> None:
        if not self.available:
            raise ConnectionError("ledger unreachable")

    async def setup(self) -> None:
        self._check()

    async def insert_many(self, records: Sequence[SmsRecord]) -> set[int]:
        self._check()
        existing: set[int] = set()
        for n, r in enumerate(records):
            if r.sms_id in self.records:
                existing.add(n)
            else:
                self.records[r.sms_id] = replace(r, version=0)
        return existing

    async def get(self, sms_id: str) -> SmsRecord | None:
        self._check()
        self.reads += 1
        return self.records.get(sms_id)

    async def update(
        self, sms_id: str, change: Change, *, now: datetime, known: SmsRecord | None = None
    ) -> SmsRecord | None:
        self._check()
        stored = self.records.get(sms_id)
        if known is None or stored is None or known.version != stored.version or change(known) is None:
            self.reads += 1
        if stored is None:
            return None
        changed = change(stored)
        if changed is None:
            return None
        after = replace(changed, version=stored.version + 1, updated_at=now)
        self.records[sms_id] = after
        for message_id in after.message_ids:
            self._message_ids.setdefault(f"{after.provider}:{message_id}", sms_id)
        return after

    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        self._check()
        due = [
            r
            for r in self.records.values()
            if r.state in CLAIMABLE and r.not_before is not None and r.not_before <= now
        ]
        return [r.sms_id for r in sorted(due, key=lambda r: r.not_before or now)[:limit]]

    async def unsettled(self, limit: int = 1000) -> list[SmsRecord]:
        self._check()
        states = {SmsState.sending, SmsState.unknown, SmsState.submitted}
        found = [r for r in self.records.values() if r.state in states or r.owed]
        return sorted(found, key=lambda r: r.updated_at)[:limit]

    async def by_message_id(self, provider: str, message_id: str, *, scan: bool = True) -> SmsRecord | None:
        self._check()
        sms_id = self._message_ids.get(f"{provider}:{message_id}")
        record = self.records.get(sms_id) if sms_id else None
        return record if record is not None and message_id in record.message_ids else None

    async def keep_receipt(self, kept: KeptReceipt) -> bool:
        self._check()
        if kept.key in self.kept:
            return False
        self.kept[kept.key] = kept
        return True

    async def kept_receipts(self, provider: str, message_ids: Sequence[str]) -> list[KeptReceipt]:
        self._check()
        keys = kept_receipt_keys(provider, message_ids)
        return [self.kept[k] for k in keys if k in self.kept]

    async def all_kept_receipts(self, limit: int = 1000) -> list[KeptReceipt]:
        self._check()
        return sorted(self.kept.values(), key=lambda k: k.received_at)[:limit]

    async def drop_kept_receipt(self, kept: KeptReceipt) -> None:
        self._check()
        self.kept.pop(kept.key, None)

    async def report_kept_receipt(self, kept: KeptReceipt, now: datetime) -> None:
        self._check()
        if kept.key in self.kept:
            self.kept[kept.key] = replace(self.kept[kept.key], reported_at=now)

    async def list(
        self,
        *,
        case_id: str | None = None,
        state: SmsState | None = None,
        recipient: str | None = None,
        limit: int = 50,
    ) -> list[SmsRecord]:
        self._check()
        found = [
            r
            for r in self.records.values()
            if (not case_id or r.case_id == case_id)
            and (not state or r.state is state)
            and (not recipient or r.recipient == recipient)
        ]
        return sorted(found, key=lambda r: r.created_at)[:limit]

    async def count_by_state(self) -> dict[str, int]:
        self._check()
        counts: dict[str, int] = {}
        for r in self.records.values():
            counts[r.state.value] = counts.get(r.state.value, 0) + 1
        return counts
