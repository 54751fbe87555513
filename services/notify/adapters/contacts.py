"""The case contacts notify keeps (case id -> phone, tracking code, agency): what later events need
and do not carry. ``MongoContacts`` is the real store, ``InMemoryContacts`` the fake."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from contracts.catalogue import AgencyCode
from contracts.sealed import Sealed
from services.common.bounded import run_all
from services.common.mongo import insert_new
from services.notify.domain.messages import CaseContact

# A consumer batch's reads and writes by _id go a few at once: FerretDB (SQLite) has one writer, and
# more at once only queue there.
READ_CONCURRENCY = 8
WRITE_CONCURRENCY = 4


class Contacts(Protocol):
    async def get(self, case_id: str) -> CaseContact | None: ...

    async def load(self, case_ids: Iterable[str]) -> dict[str, CaseContact]:
        """The stored contacts of these cases."""
        ...

    async def add_many(self, contacts: Sequence[CaseContact], now: datetime) -> list[str]:
        """Store first contacts at once; the case ids that had one already (nothing written for them)."""
        ...

    async def put_many(self, contacts: Sequence[CaseContact], now: datetime) -> None:
        """Write these contacts over whatever is stored."""
        ...


class MongoContacts:
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
            phone_sealed=Sealed.model_validate(doc["phone_sealed"]) if doc.get("phone_sealed") else None,
        )

    @staticmethod
    def _fields(contact: CaseContact, now: datetime) -> dict[str, Any]:
        return {
            "phone": contact.phone,
            "tracking_code": contact.tracking_code,
            "agency": contact.agency.value if contact.agency else None,
            "phone_sealed": contact.phone_sealed.model_dump() if contact.phone_sealed else None,
            "updated_at": now,
        }

    async def put(self, contact: CaseContact, now: datetime) -> None:
        await self.c.update_one({"_id": contact.case_id}, {"$set": self._fields(contact, now)}, upsert=True)

    async def load(self, case_ids: Iterable[str]) -> dict[str, CaseContact]:
        """Read by ``_id``, a few at once."""
        wanted = list(dict.fromkeys(case_ids))
        found = await run_all(self.get, wanted, READ_CONCURRENCY)
        return {c.case_id: c for c in found if c is not None}

    async def add_many(self, contacts: Sequence[CaseContact], now: datetime) -> list[str]:
        """One command for all of them."""
        docs = [{"_id": c.case_id, **self._fields(c, now)} for c in contacts]
        return [contacts[i].case_id for i in await insert_new(self.c, docs)]

    async def put_many(self, contacts: Sequence[CaseContact], now: datetime) -> None:
        await run_all(lambda c: self.put(c, now), contacts, WRITE_CONCURRENCY)


class InMemoryContacts:
    def __init__(self) -> None:
        self.contacts: dict[str, CaseContact] = {}
        self.reads = 0  # contacts looked up one by one, as the real store reads them

    async def get(self, case_id: str) -> CaseContact | None:
        self.reads += 1
        return self.contacts.get(case_id)

    async def load(self, case_ids: Iterable[str]) -> dict[str, CaseContact]:
        found = [await self.get(cid) for cid in dict.fromkeys(case_ids)]
        return {c.case_id: c for c in found if c is not None}

    async def add_many(self, contacts: Sequence[CaseContact], now: datetime) -> list[str]:
        had = [c.case_id for c in contacts if c.case_id in self.contacts]
        for c in contacts:
            self.contacts.setdefault(c.case_id, c)
        return had

    async def put_many(self, contacts: Sequence[CaseContact], now: datetime) -> None:
        for c in contacts:
            self.contacts[c.case_id] = c
