"""The read audit's store: the records of who read which case's personal data (``domain.audit``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.tracking.adapters.mongo import span
from services.tracking.domain.audit import ReadFilter, ReadRecord

COLLECTION = "read_audit"


class ReadAudit(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def add(self, records: Sequence[ReadRecord]) -> None:
        """Store ``records`` (a batch): all of them, or raise."""
        ...

    async def find(self, f: ReadFilter, skip: int, limit: int) -> tuple[int, list[ReadRecord]]:
        """The records ``f`` selects, newest first, one page; with how many match in all."""
        ...


class MongoReadAudit:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.records = db[COLLECTION]

    async def ensure_indexes(self) -> None:
        await self.records.create_index([("case_id", ASCENDING), ("at", DESCENDING)])
        await self.records.create_index([("user", ASCENDING), ("at", DESCENDING)])
        await self.records.create_index([("at", DESCENDING)])

    async def add(self, records: Sequence[ReadRecord]) -> None:
        if records:
            await self.records.insert_many([r.as_dict() for r in records], ordered=False)

    async def find(self, f: ReadFilter, skip: int, limit: int) -> tuple[int, list[ReadRecord]]:
        query: dict[str, Any] = {}
        if f.case_id is not None:
            query["case_id"] = f.case_id
        if f.user is not None:
            query["user"] = f.user
        if f.start is not None or f.end is not None:
            query["at"] = span(f.start, f.end)
        total = await self.records.count_documents(query)
        cursor = self.records.find(query, {"_id": 0}).sort([("at", DESCENDING)]).skip(skip).limit(limit)
        return total, [ReadRecord.from_dict(d) async for d in cursor]


class InMemoryReadAudit:
    def __init__(self) -> None:
        self.records: list[ReadRecord] = []
        self.batches = 0
        # Set to make the next add fail (a database outage).
        self.failing = False

    async def ensure_indexes(self) -> None:
        return None

    async def add(self, records: Sequence[ReadRecord]) -> None:
        if self.failing:
            raise ConnectionError("the read audit's database is unreachable")
        if records:
            self.records.extend(records)
            self.batches += 1

    async def find(self, f: ReadFilter, skip: int, limit: int) -> tuple[int, list[ReadRecord]]:
        found = sorted((r for r in self.records if f.matches(r)), key=lambda r: r.at, reverse=True)
        return len(found), found[skip : skip + limit]
