"""The SMS ledger on MongoDB/FerretDB, with its receipts and its message-id mapping.

Every change of a record is a compare-and-set guarded by the change itself (a pure function that
refuses a record whose state does not allow it), so two replicas, a late receipt and a reconciler
can race and only one of them wins each transition. FerretDB has no transactions; none are needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from services.common.mongo import create_index, insert_new
from services.notify.adapters.ledger import Change
from services.notify.adapters.ledger.documents import (
    Doc,
    changed_fields,
    from_document,
    kept_document,
    kept_from_document,
    new_document,
)
from services.notify.domain.ledger import CLAIMABLE, SmsState
from services.notify.domain.records import KeptReceipt, SmsRecord, kept_receipt_keys


class MongoLedger:
    """The SMS ledger. Every write is a compare-and-set on the record's version.

    FerretDB v1 applies an update as read, change, write back, so two conditional updates of one
    document can both succeed. The winner of each version is therefore decided by inserting
    ``{sms_id}@{version}`` into ``sms_ledger_versions``, whose unique ``_id`` only one writer can take;
    the winner then writes the record. The version document holds the new values, so a writer that
    died between the two writes is rolled forward by the next one.
    """

    ROLL_FORWARD_AFTER = timedelta(seconds=5)

    def __init__(self, db: Any) -> None:
        self.c = db["sms_ledger"]
        self.versions = db["sms_ledger_versions"]
        # Receipts whose message id no record knows yet, under provider:message id:outcome; removed
        # once applied, so the collection stays small (it is read whole by the reconciler's sweep).
        self.kept = db["sms_unmatched_receipts"]
        # provider:message id -> sms id, so a receipt finds its record by _id (a query on the ids
        # would read the whole ledger on FerretDB). Written after the record, by the write that adds
        # the ids; a receipt whose mapping is missing falls back to that query.
        self.message_ids = db["sms_message_ids"]

    async def setup(self) -> None:
        await create_index(self.c, [("state", ASCENDING), ("not_before", ASCENDING)])
        await create_index(self.c, [("state", ASCENDING), ("lease_until", ASCENDING)])
        await create_index(self.c, [("provider_message_ids", ASCENDING)])
        await create_index(self.c, [("case_id", ASCENDING)])
        await create_index(self.c, [("recipient", ASCENDING), ("state", ASCENDING)])
        await create_index(self.c, [("outbox", ASCENDING)])

    async def insert_many(self, records: Sequence[SmsRecord]) -> set[int]:
        """Write new records in one command; the positions of those whose id exists already."""
        return set(await insert_new(self.c, [new_document(replace(r, version=0)) for r in records]))

    async def get(self, sms_id: str) -> SmsRecord | None:
        doc: Doc | None = await self.c.find_one({"_id": sms_id})
        return from_document(doc) if doc is not None else None

    async def update(
        self, sms_id: str, change: Change, *, now: datetime, known: SmsRecord | None = None
    ) -> SmsRecord | None:
        """Change the record if ``change`` accepts it; None when it refuses (or another writer won).

        ``known``: the record as this writer last wrote or read it, tried first instead of reading it
        again. A stale copy costs nothing but a second try: its next version's token is taken already
        (every change takes one), so the write reads the record and starts over."""
        for attempt in range(8):
            from_known = attempt == 0 and known is not None
            current = known if from_known else await self.get(sms_id)
            if current is None:
                return None
            changed = change(current)
            if changed is None:
                if from_known:
                    continue  # judged on the stored record, not on a copy
                return None
            version = current.version + 1
            after = replace(changed, version=version, updated_at=now)
            new = changed_fields(current, after)
            try:
                await self.versions.insert_one(
                    {"_id": f"{sms_id}@{version}", "sms_id": sms_id, "at": now, "set": new}
                )
            except DuplicateKeyError:
                if from_known:
                    continue  # the copy was stale: read the record
                await self._roll_forward(sms_id, version, now)
                await asyncio.sleep(0.01 * (attempt + 1))
                continue
            await self.c.update_one({"_id": sms_id, "version": version - 1}, {"$set": new})
            added = set(after.message_ids) - set(current.message_ids)
            if added and after.provider:
                await insert_new(
                    self.message_ids,
                    [{"_id": f"{after.provider}:{i}", "sms_id": sms_id} for i in sorted(added)],
                )
            return after
        return None

    async def _roll_forward(self, sms_id: str, version: int, now: datetime) -> None:
        """Finish a write whose writer took the version and died before writing the record."""
        token = await self.versions.find_one({"_id": f"{sms_id}@{version}"})
        if token is None or token["at"] > now - self.ROLL_FORWARD_AFTER:
            return
        await self.c.update_one({"_id": sms_id, "version": version - 1}, {"$set": token["set"]})

    async def due(self, now: datetime, limit: int = 100) -> list[str]:
        """FerretDB answers this by reading the whole ledger, so senders ask it when idle, not once
        per message."""
        query: Doc = {"state": {"$in": [s.value for s in CLAIMABLE]}, "not_before": {"$lte": now}}
        return [
            str(d["_id"])
            async for d in self.c.find(query, {"_id": 1}).sort("not_before", ASCENDING).limit(limit)
        ]

    async def keep_receipt(self, kept: KeptReceipt) -> bool:
        try:
            await self.kept.insert_one(kept_document(kept))
            return True
        except DuplicateKeyError:
            return False

    async def kept_receipts(self, provider: str, message_ids: Sequence[str]) -> list[KeptReceipt]:
        """One query for every key. MongoDB answers ``_id $in`` from the ``_id`` index; FerretDB v1
        pushes down only ``_id`` equality and reads the whole collection for it, which holds only
        receipts no SMS part has matched (usually none; many only if a gateway reports messages this
        platform did not send, and then each part's answer reads them all)."""
        keys = kept_receipt_keys(provider, message_ids)
        found = {d["_id"]: kept_from_document(d) async for d in self.kept.find({"_id": {"$in": keys}})}
        return [found[k] for k in keys if k in found]

    async def all_kept_receipts(self, limit: int = 1000) -> list[KeptReceipt]:
        return [
            kept_from_document(d)
            async for d in self.kept.find({}).sort("received_at", ASCENDING).limit(limit)
        ]

    async def drop_kept_receipt(self, kept: KeptReceipt) -> None:
        await self.kept.delete_one({"_id": kept.key})

    async def report_kept_receipt(self, kept: KeptReceipt, now: datetime) -> None:
        await self.kept.update_one({"_id": kept.key}, {"$set": {"reported_at": now}})

    async def by_message_id(self, provider: str, message_id: str, *, scan: bool = True) -> SmsRecord | None:
        mapped = await self.message_ids.find_one({"_id": f"{provider}:{message_id}"})
        if mapped is not None:
            record = await self.get(str(mapped["sms_id"]))
            if record is not None and message_id in record.message_ids:
                return record
        if not scan:
            return None
        found: Doc | None = await self.c.find_one({"provider": provider, "provider_message_ids": message_id})
        return from_document(found) if found is not None else None

    async def unsettled(self, limit: int = 1000) -> list[SmsRecord]:
        """One query: on FerretDB each query but by ``_id`` reads the whole ledger."""
        states = [SmsState.sending.value, SmsState.unknown.value, SmsState.submitted.value]
        query = {"$or": [{"state": {"$in": states}}, {"outbox.0": {"$exists": True}}]}
        return [from_document(d) async for d in self.c.find(query).sort("updated_at", ASCENDING).limit(limit)]

    async def list(
        self,
        *,
        case_id: str | None = None,
        state: SmsState | None = None,
        recipient: str | None = None,
        limit: int = 50,
    ) -> list[SmsRecord]:
        query: Doc = {}
        if case_id:
            query["case_id"] = case_id
        if state:
            query["state"] = state.value
        if recipient:
            query["recipient"] = recipient
        return [from_document(d) async for d in self.c.find(query).sort("created_at", ASCENDING).limit(limit)]

    async def count_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for row in self.c.find({}, {"state": 1}):
            counts[str(row["state"])] = counts.get(str(row["state"]), 0) + 1
        return counts
