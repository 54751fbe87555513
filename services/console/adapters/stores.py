"""What the console keeps itself: signed-in sessions, the online form's one-time codes, and the counts
that limit how often codes are asked for. No case data: cases live in the services."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime, timedelta
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import create_index


def _key(session_id: str) -> str:
    # Only a hash of the cookie's value is stored: a copy of the collection opens no session.
    return hashlib.sha256(session_id.encode()).hexdigest()


class SessionStore(Protocol):
    async def load(self, session_id: str, now: datetime) -> dict[str, Any] | None: ...
    async def save(self, session_id: str, data: dict[str, Any], expires_at: datetime) -> None: ...
    async def drop(self, session_id: str) -> None: ...


class Counters(Protocol):
    async def hit(self, key: str, window: timedelta, now: datetime) -> int:
        """Count one more for ``key`` in the window holding ``now``; the count after it."""
        ...


class MongoSessionStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.sessions = db["console_sessions"]

    async def ensure_indexes(self) -> None:
        await create_index(self.sessions, [("expires_at", 1)], name="expires_at", expireAfterSeconds=0)

    async def load(self, session_id: str, now: datetime) -> dict[str, Any] | None:
        doc = await self.sessions.find_one({"_id": _key(session_id)})
        if doc is None:
            return None
        if doc["expires_at"].replace(tzinfo=now.tzinfo) <= now:
            await self.sessions.delete_one({"_id": doc["_id"]})
            return None
        data: dict[str, Any] = doc["data"]
        return data

    async def save(self, session_id: str, data: dict[str, Any], expires_at: datetime) -> None:
        await self.sessions.replace_one(
            {"_id": _key(session_id)}, {"data": data, "expires_at": expires_at}, upsert=True
        )

    async def drop(self, session_id: str) -> None:
        await self.sessions.delete_one({"_id": _key(session_id)})


class MongoCounters:
    def __init__(self, db: AsyncDatabase[dict[str, Any]]) -> None:
        self.counts = db["console_counters"]

    async def ensure_indexes(self) -> None:
        await create_index(self.counts, [("expires_at", 1)], name="expires_at", expireAfterSeconds=0)

    async def hit(self, key: str, window: timedelta, now: datetime) -> int:
        slot = int(now.timestamp() // window.total_seconds())
        doc = await self.counts.find_one_and_update(
            {"_id": f"{key}@{slot}"},
            {"$inc": {"n": 1}, "$setOnInsert": {"expires_at": now + window * 2}},
            upsert=True,
            return_document=True,
        )
        return int(doc["n"]) if doc else 1


class InMemorySessionStore:
    def __init__(self) -> None:
        self.docs: dict[str, tuple[dict[str, Any], datetime]] = {}

    async def load(self, session_id: str, now: datetime) -> dict[str, Any] | None:
        found = self.docs.get(_key(session_id))
        if found is None or found[1] <= now:
            return None
        return copy.deepcopy(found[0])

    async def save(self, session_id: str, data: dict[str, Any], expires_at: datetime) -> None:
        self.docs[_key(session_id)] = (copy.deepcopy(data), expires_at)

    async def drop(self, session_id: str) -> None:
        self.docs.pop(_key(session_id), None)


class InMemoryCounters:
    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def hit(self, key: str, window: timedelta, now: datetime) -> int:
        slot = f"{key}@{int(now.timestamp() // window.total_seconds())}"
        self.counts[slot] = self.counts.get(slot, 0) + 1
        return self.counts[slot]
