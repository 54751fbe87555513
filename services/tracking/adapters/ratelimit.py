"""Counting the citizen lookup's attempts in fixed windows, shared by every replica: the ``Attempts``
port, its MongoDB implementation and its in-memory fake.

A key (a client, a tracking code) has ``limit`` numbered tickets per window, and taking one is
inserting the document ``<key>|<window>|<number>``: the insert of a given ``_id`` succeeds exactly
once, on MongoDB and on FerretDB alike, so no two requests (in any replica) hold the same ticket and
no more than ``limit`` are ever handed out. A counter updated with ``$inc`` would be one write, but
FerretDB v1 does not apply concurrent ``$inc`` updates atomically (measured: 400 concurrent
increments of one document from two clients left it at 319), and the brute-force limit must hold on
the test stack as in production. Each process remembers the next number worth trying per key, so a
ticket usually costs one insert, and a key whose tickets are gone costs nothing more in this process
until its window ends. A ticket given back (a right answer returns the code's) is seen again by the
process that gave it back; another process that already found the key full keeps refusing it until
the window ends, which errs on the side of the limit.

Each ticket carries ``expires_at`` (its window's end): a TTL index removes it on MongoDB; where the
server has no TTL indexes (FerretDB v1) the timer job deletes expired tickets (``purge``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.common.recent import Recent
from services.tracking.domain.lookup_limits import Window

log = logging.getLogger("samad.tracking.ratelimit")

ATTEMPTS_COLLECTION = "lookup_attempts"
NOT_IMPLEMENTED = 238


class Attempts(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def take(self, key: str, limit: int, window: Window) -> int | None:
        """One of the ``limit`` tickets ``key`` has in ``window``: its number, or None when every one
        is taken."""
        ...

    async def give_back(self, key: str, window: Window, number: int) -> None:
        """Return a ticket taken in ``window``: another attempt may take it."""
        ...

    async def purge(self, now: datetime) -> int:
        """Delete the tickets of windows that ended before ``now``; how many."""
        ...


def ticket_id(key: str, window: Window, number: int) -> str:
    return f"{key}|{window.seconds}s#{window.index}|{number}"


class MongoAttempts:
    REMEMBERED_KEYS = 100_000

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = ATTEMPTS_COLLECTION) -> None:
        self.collection = db[collection]
        # (key, window) -> the lowest ticket number not known to be taken.
        self._next: Recent[tuple[str, Window], int] = Recent(self.REMEMBERED_KEYS)

    async def ensure_indexes(self) -> None:
        # A TTL index is clean-up, not a query index: created wherever the server has them.
        try:
            await self.collection.create_index(
                [("expires_at", ASCENDING)], name="expires_at_ttl", expireAfterSeconds=0
            )
        except OperationFailure as exc:
            if exc.code != NOT_IMPLEMENTED:
                raise
            log.info("no TTL indexes on this server: expired lookup attempts are purged by the timers")

    async def take(self, key: str, limit: int, window: Window) -> int | None:
        slot = (key, window)
        number = self._next.pop(slot, None) or 1
        while number <= limit:
            try:
                await self.collection.insert_one(
                    {"_id": ticket_id(key, window, number), "key": key, "expires_at": window.end}
                )
            except DuplicateKeyError:
                number += 1
                continue
            self._next.put(slot, number + 1)
            return number
        self._next.put(slot, number)
        return None

    async def give_back(self, key: str, window: Window, number: int) -> None:
        await self.collection.delete_one({"_id": ticket_id(key, window, number)})
        # Start from the first ticket again next time: the one given back is free.
        self._next.pop((key, window), None)

    async def purge(self, now: datetime) -> int:
        result = await self.collection.delete_many({"expires_at": {"$lte": now}})
        return int(result.deleted_count)


@dataclass
class InMemoryAttempts:
    """The ``Attempts`` fake: the tickets taken per key and window; ``asked`` lists the keys in the
    order they asked."""

    taken: dict[tuple[str, Window], set[int]] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)

    async def ensure_indexes(self) -> None:
        return None

    async def take(self, key: str, limit: int, window: Window) -> int | None:
        self.asked.append(key)
        held = self.taken.setdefault((key, window), set())
        free = next((n for n in range(1, limit + 1) if n not in held), None)
        if free is not None:
            held.add(free)
        return free

    async def give_back(self, key: str, window: Window, number: int) -> None:
        self.taken.get((key, window), set()).discard(number)

    async def purge(self, now: datetime) -> int:
        gone = [slot for slot in self.taken if slot[1].end <= now]
        count = sum(len(self.taken.pop(slot)) for slot in gone)
        return count
