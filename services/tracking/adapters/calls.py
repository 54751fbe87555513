"""Calls kept for the funnel: the ``CallStore`` port, its MongoDB implementation and its in-memory fake.

One document per call (id = call id); a redelivered ``call.received`` adds nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from contracts.events import CallReceived, Envelope
from services.common.mongo import create_index, insert_new
from services.tracking.adapters.mongo import scope, span, tally, within
from services.tracking.domain.rollups import CallFacts

CALLS_COLLECTION = "calls"
# Calls a report's cursor fetches at a time (each batch one await: the event loop runs between them).
REPORT_BATCH = 500
CALL_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("started_at", [("started_at", ASCENDING)]),
    ("duty_session", [("duty_session_id", ASCENDING)]),
]


class CallStore(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def add(self, events: Sequence[Envelope]) -> int:
        """Keep the calls of these ``call.received`` events; how many were new."""
        ...

    async def count_received(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        """(received, answered) among the calls of a duty session, or started in [start, end)."""
        ...

    def start_times(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        """(started at, answered) of every call started in [start, end), streamed."""
        ...

    def all_facts(self) -> AsyncIterator[tuple[str, CallFacts]]:
        """(call id, what the reports read of it) of every call, streamed (to rebuild the daily
        rollups)."""
        ...


def _facts(doc: dict[str, Any]) -> CallFacts:
    return CallFacts(
        doc["started_at"], bool(doc.get("answered")), doc.get("province"), doc.get("duty_session_id")
    )


def call_document(event: Envelope, data: CallReceived) -> dict[str, Any]:
    return {
        "_id": data.call_id,
        "event_id": event.id,
        "province": data.province,
        "county": data.county,
        "channel": str(data.channel),
        "outcome": str(data.outcome),
        "answered": str(data.outcome) == "answered",
        "started_at": data.started_at,
        "duration_seconds": data.duration_seconds,
        "operator_id": data.operator_id,
        "duty_session_id": data.duty_session_id,
    }


def _documents(events: Sequence[Envelope]) -> dict[str, dict[str, Any]]:
    docs: dict[str, dict[str, Any]] = {}
    for e in events:
        data = e.data
        if isinstance(data, CallReceived) and data.call_id not in docs:
            docs[data.call_id] = call_document(e, data)
    return docs


class MongoCallStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = CALLS_COLLECTION) -> None:
        self.collection = db[collection]

    async def ensure_indexes(self) -> None:
        for name, keys in CALL_INDEXES:
            await create_index(self.collection, keys, name=name)

    async def add(self, events: Sequence[Envelope]) -> int:
        docs = _documents(events)
        return len(docs) - len(await insert_new(self.collection, list(docs.values())))

    async def count_received(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        return await tally(
            self.collection, scope({"started_at": span(start, end)}, duty_session_id, province), "answered"
        )

    async def start_times(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        cursor = self.collection.find(
            {"started_at": span(start, end)},
            {"_id": 0, "started_at": 1, "outcome": 1},
            batch_size=REPORT_BATCH,
        )
        try:
            async for doc in cursor:
                yield doc["started_at"], doc.get("outcome") == "answered"
        finally:
            await cursor.close()

    async def all_facts(self) -> AsyncIterator[tuple[str, CallFacts]]:
        cursor = self.collection.find(
            {}, {"started_at": 1, "answered": 1, "province": 1, "duty_session_id": 1}, batch_size=REPORT_BATCH
        )
        try:
            async for doc in cursor:
                yield str(doc["_id"]), _facts(doc)
        finally:
            await cursor.close()


class InMemoryCallStore:
    """The ``CallStore`` fake: call documents in a dict, the same selections as the Mongo store."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def add(self, events: Sequence[Envelope]) -> int:
        new = {cid: doc for cid, doc in _documents(events).items() if cid not in self.docs}
        self.docs.update(new)
        return len(new)

    async def count_received(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        found = [
            d
            for d in self.docs.values()
            if (
                d["duty_session_id"] == duty_session_id
                if duty_session_id
                else within(d["started_at"], start, end)
            )
            and (not province or d["province"] == province)
        ]
        return len(found), sum(1 for d in found if d["answered"])

    async def start_times(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        for d in list(self.docs.values()):
            if within(d["started_at"], start, end):
                yield d["started_at"], d["outcome"] == "answered"

    async def all_facts(self) -> AsyncIterator[tuple[str, CallFacts]]:
        for call_id, d in list(self.docs.items()):
            yield call_id, _facts(d)
