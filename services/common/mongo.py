"""MongoDB access through PyMongo's async API (AsyncMongoClient), the successor of Motor."""

from __future__ import annotations

from pymongo import AsyncMongoClient
from pymongo.write_concern import WriteConcern

# At most this many operations in flight per process. FerretDB 1.24's SQLite backend opens at most
# 100 connections per database and stops answering when about 100 update or delete statements are
# in flight on one database; a bounded pool keeps every service well below that.
MAX_POOL_SIZE = 32


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
