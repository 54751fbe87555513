"""Notify's MongoDB stores: the SMS ledger, the case-contact projection, opt-outs, and cursors.

Every change of a ledger record is a compare-and-set guarded by the states it may come from
(``sources_for``), so two replicas, a late receipt and a reconciler can race and only one of them
wins each transition. FerretDB has no transactions; none are needed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from contracts.catalogue import AgencyCode
from services.common.bounded import run_all
from services.common.mongo import create_index, insert_new
from services.notify.domain.ledger import CLAIMABLE, PartOutcome, SmsState, sources_for
from services.notify.domain.messages import CaseContact

Doc = dict[str, Any]
# A consumer batch's reads and writes by _id go a few at once: FerretDB (SQLite) has one writer, and
# more at once only queue there.
READ_CONCURRENCY = 8
WRITE_CONCURRENCY = 4


class Ledger:
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
        self.receipts = db["sms_receipts"]
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
        await create_index(self.receipts, [("sms_id", ASCENDING)])

    async def insert(self, record: Doc) -> bool:
        """Write a new record; False when one with this id exists (a redelivery or a replay)."""
        return not await self.insert_many([record])

    async def insert_many(self, records: Sequence[Doc]) -> set[int]:
        """Write new records in one command; the positions of those whose id exists already."""
        return set(await insert_new(self.c, [{**r, "version": 0} for r in records]))

    async def get(self, sms_id: str) -> Doc | None:
        doc: Doc | None = await self.c.find_one({"_id": sms_id})
        return doc

    async def cas(
        self,
        sms_id: str,
        *,
        now: datetime,
        allowed: Iterable[SmsState] | None = None,
        fields: Mapping[str, Any] | None = None,
        history: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None = None,
        outbox_add: Iterable[str] = (),
        outbox_remove: Iterable[str] = (),
        check: Any = None,
        derive: Any = None,
        known: Doc | None = None,
    ) -> Doc | None:
        """Change the record if its state is in ``allowed``; None when it is not (or another writer won).

        ``known``: the record as this writer last wrote or read it, tried first instead of reading it
        again. A stale copy costs nothing but a second try: its next version's token is taken already
        (every change takes one), so the write reads the record and starts over."""
        allowed_values = {s.value for s in allowed} if allowed is not None else None
        for attempt in range(8):
            from_known = attempt == 0 and known is not None
            doc = known if from_known else await self.get(sms_id)
            if doc is None:
                return None
            if (allowed_values is not None and doc["state"] not in allowed_values) or (
                check is not None and not check(doc)
            ):
                if from_known:
                    continue  # judged on the stored record, not on a copy
                return None
            version = int(doc.get("version", 0)) + 1
            outbox = [k for k in doc.get("outbox") or [] if k not in set(outbox_remove)]
            outbox += [k for k in outbox_add if k not in outbox]
            derived = derive(doc) if derive is not None else {}
            new: Doc = {**(fields or {}), **derived, "outbox": outbox, "version": version, "updated_at": now}
            if history is not None:
                entries = [history] if isinstance(history, Mapping) else list(history)
                new["history"] = [*(doc.get("history") or []), *({"at": now, **h} for h in entries)]
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
            after = {**doc, **new}
            added = set(after.get("provider_message_ids") or []) - set(doc.get("provider_message_ids") or [])
            if added and after.get("provider"):
                await insert_new(
                    self.message_ids,
                    [{"_id": f"{after['provider']}:{i}", "sms_id": sms_id} for i in sorted(added)],
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
        """Ids of records due for sending, the longest waiting first. FerretDB answers this by reading
        the whole ledger, so senders ask it when idle, not once per message."""
        query: Doc = {"state": {"$in": [s.value for s in CLAIMABLE]}, "not_before": {"$lte": now}}
        return [
            str(d["_id"])
            async for d in self.c.find(query, {"_id": 1}).sort("not_before", ASCENDING).limit(limit)
        ]

    async def claim(
        self,
        sms_id: str,
        *,
        now: datetime,
        lease_until: datetime,
        replica: str,
        provider: str,
        known: Doc | None = None,
    ) -> Doc | None:
        """Take the record for sending if it is due; no other sender, here or in another replica, can
        take it. None when it is not due (any more) or another sender won."""
        return await self.cas(
            sms_id,
            now=now,
            allowed=CLAIMABLE,
            check=lambda d: d.get("not_before") is None or d["not_before"] <= now,
            fields={
                "state": SmsState.sending.value,
                "lease_until": lease_until,
                "claimed_by": replica,
                "provider": provider,
            },
            derive=lambda d: {"claims": int(d.get("claims", 0)) + 1},
            history={"to": SmsState.sending.value, "note": f"claimed by {replica}"},
            known=known,
        )

    async def extend_lease(self, sms_id: str, replica: str, until: datetime, now: datetime) -> None:
        await self.cas(
            sms_id,
            now=now,
            allowed=[SmsState.sending],
            check=lambda d: d.get("claimed_by") == replica,
            fields={"lease_until": until},
        )

    async def move(
        self,
        sms_id: str,
        target: SmsState,
        *,
        now: datetime,
        note: str = "",
        fields: Mapping[str, Any] | None = None,
        outbox: Iterable[str] = (),
        only_from: Iterable[SmsState] | None = None,
        derive: Any = None,
        passed: Sequence[tuple[SmsState, str]] = (),
        known: Doc | None = None,
    ) -> Doc | None:
        """Move the record to ``target`` if its state allows it; None when another actor got there first.
        ``passed``: states it went through on the way, in one write (each gets its history entry)."""
        return await self.cas(
            sms_id,
            now=now,
            allowed=set(only_from) if only_from is not None else set(sources_for(target)),
            fields={"state": target.value, **(fields or {})},
            history=[*({"to": s.value, "note": n} for s, n in passed), {"to": target.value, "note": note}],
            outbox_add=outbox,
            derive=derive,
            known=known,
        )

    async def add_message_ids(self, sms_id: str, ids: Iterable[str], now: datetime) -> Doc | None:
        extra = list(ids)
        return await self.cas(
            sms_id,
            now=now,
            derive=lambda d: {
                "provider_message_ids": list(dict.fromkeys([*(d.get("provider_message_ids") or []), *extra]))
            },
        )

    async def pull_outbox(
        self, sms_id: str, kinds: Sequence[str], now: datetime, known: Doc | None = None
    ) -> None:
        await self.cas(
            sms_id,
            now=now,
            outbox_remove=kinds,
            check=lambda d: any(k in (d.get("outbox") or []) for k in kinds),
            known=known,
        )

    async def record_receipt(
        self, sms_id: str, provider: str, message_id: str, outcome: PartOutcome, now: datetime
    ) -> bool:
        """Keep a part's receipt; False when the same receipt came before (the SMSC repeated it)."""
        try:
            await self.receipts.insert_one(
                {
                    "_id": f"{provider}:{message_id}:{outcome.value}",
                    "sms_id": sms_id,
                    "message_id": message_id,
                    "outcome": outcome.value,
                    "at": now,
                }
            )
            return True
        except DuplicateKeyError:
            return False

    async def part_outcomes(self, sms_id: str) -> dict[str, PartOutcome]:
        outcomes: dict[str, PartOutcome] = {}
        async for row in self.receipts.find({"sms_id": sms_id}):
            current = outcomes.get(row["message_id"])
            if current is not PartOutcome.failed:  # a failure of a part is final
                outcomes[row["message_id"]] = PartOutcome(row["outcome"])
        return outcomes

    async def by_message_id(self, provider: str, message_id: str) -> Doc | None:
        mapped = await self.message_ids.find_one({"_id": f"{provider}:{message_id}"})
        if mapped is not None:
            doc = await self.get(str(mapped["sms_id"]))
            if doc is not None and message_id in (doc.get("provider_message_ids") or []):
                return doc
        found: Doc | None = await self.c.find_one({"provider": provider, "provider_message_ids": message_id})
        return found

    async def unknown_matching(self, provider: str, recipient: str, text_prefix: str | None) -> Doc | None:
        """The record a receipt without a known id belongs to: one whose submission was not yet
        recorded (still sending, or unknown after a crash), to this recipient, with this text."""
        prefix = (text_prefix or "").strip()
        states = [SmsState.unknown.value, SmsState.sending.value]
        async for doc in self.c.find(
            {"provider": provider, "recipient": recipient, "state": {"$in": states}}
        ).sort("created_at", ASCENDING):
            prefixes = [p.strip() for p in doc.get("part_prefixes") or []]
            if not prefix or any(p and (p.startswith(prefix) or prefix.startswith(p)) for p in prefixes):
                return dict(doc)
        return None

    async def unsettled(self, limit: int = 1000) -> list[Doc]:
        """Records the reconciler may have to act on: sending (a lease may have expired), unknown,
        submitted (a receipt may be missing), or with events still owed. One query."""
        states = [SmsState.sending.value, SmsState.unknown.value, SmsState.submitted.value]
        query = {"$or": [{"state": {"$in": states}}, {"outbox.0": {"$exists": True}}]}
        return [d async for d in self.c.find(query).sort("updated_at", ASCENDING).limit(limit)]

    async def touch(self, sms_id: str, field: str, now: datetime) -> None:
        await self.cas(sms_id, now=now, fields={field: now})

    async def list(
        self,
        *,
        case_id: str | None = None,
        state: str | None = None,
        recipient: str | None = None,
        limit: int = 50,
    ) -> list[Doc]:
        query: Doc = {}
        if case_id:
            query["case_id"] = case_id
        if state:
            query["state"] = state
        if recipient:
            query["recipient"] = recipient
        return [d async for d in self.c.find(query).sort("created_at", ASCENDING).limit(limit)]

    async def count_by_state(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        async for row in self.c.find({}, {"state": 1}):
            counts[str(row["state"])] = counts.get(str(row["state"]), 0) + 1
        return counts


class Contacts:
    """case id → phone, tracking code, agency: what later events need and do not carry."""

    def __init__(self, db: Any) -> None:
        self.c = db["case_contacts"]

    async def get(self, case_id: str) -> CaseContact | None:
        doc = await self.c.find_one({"_id": case_id})
        if doc is None:
            return None
        return CaseContact(
            case_id=doc["_id"],
            phone=doc["phone"],
            tracking_code=doc["tracking_code"],
            agency=AgencyCode(doc["agency"]) if doc.get("agency") else None,
        )

    @staticmethod
    def _fields(contact: CaseContact, now: datetime) -> Doc:
        return {
            "phone": contact.phone,
            "tracking_code": contact.tracking_code,
            "agency": contact.agency.value if contact.agency else None,
            "updated_at": now,
        }

    async def put(self, contact: CaseContact, now: datetime) -> None:
        await self.c.update_one({"_id": contact.case_id}, {"$set": self._fields(contact, now)}, upsert=True)

    async def load(self, case_ids: Iterable[str]) -> dict[str, CaseContact]:
        """The stored contacts of these cases (read by ``_id``, a few at once)."""
        wanted = list(dict.fromkeys(case_ids))
        found = await run_all(self.get, wanted, READ_CONCURRENCY)
        return {c.case_id: c for c in found if c is not None}

    async def add_many(self, contacts: Sequence[CaseContact], now: datetime) -> list[str]:
        """Store first contacts in one command; the case ids that had one already (nothing written)."""
        docs = [{"_id": c.case_id, **self._fields(c, now)} for c in contacts]
        return [contacts[i].case_id for i in await insert_new(self.c, docs)]

    async def put_many(self, contacts: Sequence[CaseContact], now: datetime) -> None:
        await run_all(lambda c: self.put(c, now), contacts, WRITE_CONCURRENCY)


class OptOuts:
    """Citizens who asked for no more SMS. Kept with who and why; opting back in keeps the history."""

    def __init__(self, db: Any) -> None:
        self.c = db["sms_optouts"]

    async def is_opted_out(self, phone: str) -> bool:
        doc = await self.c.find_one({"_id": phone, "opted_out": True}, {"_id": 1})
        return doc is not None

    async def get(self, phone: str) -> Doc | None:
        doc: Doc | None = await self.c.find_one({"_id": phone})
        return doc

    async def set(
        self, phone: str, opted_out: bool, *, source: str, by: str, reason: str, now: datetime
    ) -> Doc:
        doc: Doc | None = await self.c.find_one_and_update(
            {"_id": phone},
            {
                "$set": {
                    "opted_out": opted_out,
                    "source": source,
                    "by": by,
                    "reason": reason,
                    "updated_at": now,
                },
                "$push": {"history": {"at": now, "opted_out": opted_out, "source": source, "by": by}},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        assert doc is not None
        return doc


class Cursors:
    """Named positions (the file provider's inbox offset) that must survive a restart."""

    def __init__(self, db: Any, name: str) -> None:
        self.c = db["cursors"]
        self.name = name

    async def get(self) -> int:
        doc = await self.c.find_one({"_id": self.name})
        return int(doc["offset"]) if doc else 0

    async def set(self, offset: int) -> None:
        await self.c.update_one({"_id": self.name}, {"$set": {"offset": offset}}, upsert=True)
