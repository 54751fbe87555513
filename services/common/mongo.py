"""MongoDB access through PyMongo's async API (AsyncMongoClient), the successor of Motor."""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.write_concern import WriteConcern


def make_client(url: str, app: str) -> AsyncMongoClient:  # type: ignore[type-arg]
    # Majority write concern: an acknowledged write survives a primary failover (a replica set in
    # production); against the single local FerretDB it is the same as w=1.
    return AsyncMongoClient(
        url, appname=f"samad-{app}", tz_aware=True, serverSelectionTimeoutMS=5000, w="majority"
    )


MAJORITY = WriteConcern(w="majority")
