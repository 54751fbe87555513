"""MongoDB access through PyMongo's async API (AsyncMongoClient), the successor of Motor."""

from __future__ import annotations

import os
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from pymongo import AsyncMongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.write_concern import WriteConcern

# At most this many operations in flight per process. FerretDB 1.24's SQLite backend opens at most
# 100 connections per database and stops answering when about 100 update or delete statements are
# in flight on one database; a bounded pool keeps every service well below that.
MAX_POOL_SIZE = 32
T = TypeVar("T")


def make_client(url: str, app: str) -> AsyncMongoClient:  # type: ignore[type-arg]
    # Majority write concern: an acknowledged write survives a primary failover (a replica set in
    # production); against the single local FerretDB it is the same as w=1.
    return AsyncMongoClient(
        url,
        appname=f"samad-{app}",
        tz_aware=True,
        serverSelectionTimeoutMS=5000,
        w="majority",
        maxPoolSize=MAX_POOL_SIZE,
    )


MAJORITY = WriteConcern(w="majority")

DUPLICATE_KEY = 11000


async def once_more_if_created_meanwhile(write: Callable[[], Awaitable[T]]) -> T:
    """An upserting ``write``, once more when another writer created the document first: two upserts of
    a new ``_id`` at once can both try the insert, and the loser's duplicate key error (FerretDB and
    MongoDB alike) means the document is there to update or replace."""
    try:
        return await write()
    except DuplicateKeyError:
        return await write()


async def upsert(collection: Any, doc_id: Any, update: dict[str, Any]) -> None:
    """``update_one({"_id": doc_id}, update, upsert=True)``, safe against a concurrent first upsert."""
    await once_more_if_created_meanwhile(lambda: collection.update_one({"_id": doc_id}, update, upsert=True))


async def insert_new(collection: Any, docs: Sequence[dict[str, Any]]) -> list[int]:
    """Insert every document not there yet (one unordered command); the positions of those whose
    ``_id`` was taken already. Any other write error is raised."""
    if not docs:
        return []
    try:
        await collection.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return sorted(int(e["index"]) for e in errors)
    return []


SECONDARY_INDEXES_ENV = "SAMAD_MONGO_SECONDARY_INDEXES"
SECONDARY_INDEX_MODES = ("auto", "always", "never")
# What each client's server answered, so a service's dozen indexes ask it once.
_SERVER_USES_INDEXES: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()


async def serves_secondary_indexes(db: Any) -> bool:
    """Whether the server answers queries with secondary indexes.

    FerretDB 1.x (SQLite backend) does not: it pushes down only a filter on ``_id`` and reads the whole
    collection for any other, so a secondary index there costs every insert and replace (each one
    re-reads the document's JSON once per index) and serves no read. ``auto`` asks the server
    (``buildInfo`` names FerretDB's version); ``always``/``never`` decide without asking.
    """
    mode = os.environ.get(SECONDARY_INDEXES_ENV, "auto").strip().lower()
    if mode not in SECONDARY_INDEX_MODES:
        raise ValueError(
            f"{SECONDARY_INDEXES_ENV}={mode!r}: expected one of {', '.join(SECONDARY_INDEX_MODES)}"
        )
    if mode != "auto":
        return mode == "always"
    known = _SERVER_USES_INDEXES.get(db.client)
    if known is None:
        info = await db.client.admin.command("buildInfo")
        known = not str(info.get("ferretdbVersion") or "").lstrip("v").startswith("1.")
        _SERVER_USES_INDEXES[db.client] = known
    return known


async def create_index(collection: Any, keys: Any, **options: Any) -> str | None:
    """``collection.create_index``, except that a non-unique index is left out where the server would
    never use it (see ``serves_secondary_indexes``). Unique indexes are constraints: always created."""
    if options.get("unique") or await serves_secondary_indexes(collection.database):
        name: str = await collection.create_index(keys, **options)
        return name
    return None
