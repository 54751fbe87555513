"""Tracking's MongoDB database: the connection with its readiness ping, and query pieces the stores share.

A note on FerretDB v1 (the local and test database), which shapes every store here: its SQLite backend
pushes only a filter on ``_id`` alone down to an index; any other condition reads the collection. So
writes and point reads go by ``_id`` (one by one rather than with ``$in``), and secondary lookups that
must be fast keep their own ``_id``-keyed mapping.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from services.common.mongo import make_client


class TrackingDatabase:
    """The service's database: opened once by the composition root, pinged for readiness, closed at
    shutdown. The client connects lazily, on the first operation."""

    def __init__(self, url: str, name: str, app: str = "tracking") -> None:
        self.client = make_client(url, app)
        self.db: AsyncDatabase[dict[str, Any]] = self.client[name]

    async def ping(self) -> bool:
        await self.db.command("ping")
        return True

    async def close(self) -> None:
        await self.client.close()


def span(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """[start, end) on a time field; with neither end, any document that has the field."""
    bounds: dict[str, Any] = {}
    if start is not None:
        bounds["$gte"] = start
    if end is not None:
        bounds["$lt"] = end
    return bounds or {"$ne": None}


def reported_between(start: datetime | None, end: datetime | None) -> dict[str, Any]:
    """Cases reported in [start, end) (``Case.reported_at``): by the start of the call a case comes
    from when its registration named it, else by the registration."""
    return {
        "$or": [
            {"call_started_at": span(start, end)},
            {"call_started_at": None, "registered_at": span(start, end)},
        ]
    }


def scope(
    period: dict[str, Any],
    duty_session_id: str | None,
    province: str | None,
) -> dict[str, Any]:
    """The funnel's selection: one duty session, or the ``period`` condition; one province or all."""
    query: dict[str, Any] = {"duty_session_id": duty_session_id} if duty_session_id else dict(period)
    if province:
        query["province"] = province
    return query


async def tally(
    collection: AsyncCollection[dict[str, Any]], query: dict[str, Any], flag: str
) -> tuple[int, int]:
    """How many documents match, and how many of those have ``flag`` true, from one query: two
    counts would be two snapshots, and a write landing between them could show more referred
    cases than registered ones. (FerretDB has no ``$cond``, so the documents are grouped by the flag.)"""
    groups = await (
        await collection.aggregate([{"$match": query}, {"$group": {"_id": f"${flag}", "n": {"$sum": 1}}}])
    ).to_list(None)
    return sum(g["n"] for g in groups), sum(g["n"] for g in groups if g["_id"] is True)


def within(value: datetime | None, start: datetime | None, end: datetime | None) -> bool:
    """``span`` for the in-memory fakes: a missing value never matches."""
    if value is None:
        return False
    return (start is None or value >= start) and (end is None or value < end)
