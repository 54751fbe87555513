"""The operator tools' own MongoDB data (database ``samad_ops``): audit trail, re-drive ledger, locks and
rebuild checkpoints. Every write is a single-document atomic operation (FerretDB has no transactions).

Three ports, one per use: ``AuditStore``, ``RedriveLedger`` and ``RebuildRuns`` (runs and locks);
``MongoOpsStore`` implements all three on MongoDB, ``InMemoryOpsStore`` all three in memory."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.clock import Clock, SystemClock
from services.common.mongo import create_index

AUDIT = "audit"
REDRIVEN = "redriven"
LOCKS = "locks"
RUNS = "rebuild_runs"

Doc = dict[str, Any]


@dataclass(frozen=True)
class LockHeld:
    """Someone else holds the lock: who, and until when it is valid without renewal."""

    owner: dict[str, Any]
    expires_at: datetime


class AuditStore(Protocol):
    async def audit_begin(self, entry: Doc) -> None: ...
    async def audit_end(self, entry_id: str, fields: Doc) -> None: ...
    async def audit_list(
        self, *, actor: str | None = None, command: str | None = None, limit: int = 30
    ) -> list[Doc]:
        """Entries newest first, optionally of one actor and one command."""
        ...


class RedriveLedger(Protocol):
    """One document per dead-letter record re-driven, keyed by its position."""

    async def redrive_claim(self, position: str, doc: Doc) -> bool:
        """Claim atomically; False when someone claimed it before."""
        ...

    async def redrive_done(self, position: str, fields: Doc) -> None: ...
    async def redrive_release(self, position: str) -> None:
        """Give a claim back (the publish failed); a finished re-drive stays."""
        ...

    async def redriven(self, positions: list[str]) -> set[str]: ...


class RebuildRuns(Protocol):
    """Locks with expiry, and the rebuild runs (their checkpoints)."""

    async def lock_acquire(self, name: str, owner: Doc, ttl: float) -> LockHeld | None:
        """None when acquired (free, or its holder stopped renewing it); otherwise who holds it."""
        ...

    async def lock_renew(self, name: str, run_id: str, ttl: float) -> bool: ...
    async def lock_release(self, name: str, run_id: str) -> None: ...
    async def run_save(self, run_id: str, fields: Doc) -> None: ...
    async def run_get(self, run_id: str) -> Doc | None: ...
    async def run_latest(self, target: str, statuses: list[str]) -> Doc | None: ...
    async def runs_recent(self, limit: int) -> list[Doc]:
        """The latest runs, newest first."""
        ...


class OpsStore(AuditStore, RedriveLedger, RebuildRuns, Protocol):
    async def ensure_indexes(self) -> None: ...


class MongoOpsStore:
    def __init__(self, db: AsyncDatabase[Doc], clock: Clock | None = None) -> None:
        self.db = db
        self.clock = clock or SystemClock()

    async def ensure_indexes(self) -> None:
        await create_index(self.db[AUDIT], [("started_at", DESCENDING)])
        await create_index(self.db[AUDIT], [("command", ASCENDING), ("started_at", DESCENDING)])
        await create_index(self.db[RUNS], [("target", ASCENDING), ("started_at", DESCENDING)])

    async def audit_begin(self, entry: Doc) -> None:
        await self.db[AUDIT].insert_one(entry)

    async def audit_end(self, entry_id: str, fields: Doc) -> None:
        await self.db[AUDIT].update_one({"_id": entry_id}, {"$set": fields})

    async def audit_list(
        self, *, actor: str | None = None, command: str | None = None, limit: int = 30
    ) -> list[Doc]:
        query: Doc = {}
        if actor:
            query["actor"] = actor
        if command:
            query["command"] = command
        cursor = self.db[AUDIT].find(query).sort("started_at", DESCENDING).limit(limit)
        return [doc async for doc in cursor]

    async def redrive_claim(self, position: str, doc: Doc) -> bool:
        try:
            await self.db[REDRIVEN].insert_one({"_id": position, **doc})
        except DuplicateKeyError:
            return False
        return True

    async def redrive_done(self, position: str, fields: Doc) -> None:
        await self.db[REDRIVEN].update_one({"_id": position}, {"$set": fields})

    async def redrive_release(self, position: str) -> None:
        await self.db[REDRIVEN].delete_one({"_id": position, "status": "claimed"})

    async def redriven(self, positions: list[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(positions), 1000):
            cursor = self.db[REDRIVEN].find({"_id": {"$in": positions[i : i + 1000]}}, {"_id": 1})
            found.update([str(doc["_id"]) async for doc in cursor])
        return found

    async def lock_acquire(self, name: str, owner: Doc, ttl: float) -> LockHeld | None:
        now = self.clock.now()
        doc = {"owner": owner, "acquired_at": now, "expires_at": now + timedelta(seconds=ttl)}
        try:
            await self.db[LOCKS].insert_one({"_id": name, **doc})
            return None
        except DuplicateKeyError:
            pass
        # Taken: claim it only if its holder stopped renewing it (crashed, killed, machine lost).
        claimed = await self.db[LOCKS].find_one_and_update(
            {"_id": name, "expires_at": {"$lt": now}}, {"$set": doc}, return_document=ReturnDocument.AFTER
        )
        if claimed is not None:
            return None
        held = await self.db[LOCKS].find_one({"_id": name})
        if held is None:  # released between our two attempts: try once more
            return await self.lock_acquire(name, owner, ttl)
        return LockHeld(held.get("owner", {}), held["expires_at"])

    async def lock_renew(self, name: str, run_id: str, ttl: float) -> bool:
        result = await self.db[LOCKS].update_one(
            {"_id": name, "owner.run_id": run_id},
            {"$set": {"expires_at": self.clock.now() + timedelta(seconds=ttl)}},
        )
        return result.matched_count == 1

    async def lock_release(self, name: str, run_id: str) -> None:
        await self.db[LOCKS].delete_one({"_id": name, "owner.run_id": run_id})

    async def run_save(self, run_id: str, fields: Doc) -> None:
        await self.db[RUNS].update_one({"_id": run_id}, {"$set": fields}, upsert=True)

    async def run_get(self, run_id: str) -> Doc | None:
        return await self.db[RUNS].find_one({"_id": run_id})

    async def run_latest(self, target: str, statuses: list[str]) -> Doc | None:
        cursor = (
            self.db[RUNS]
            .find({"target": target, "status": {"$in": statuses}})
            .sort("started_at", -1)
            .limit(1)
        )
        docs = [doc async for doc in cursor]
        return docs[0] if docs else None

    async def runs_recent(self, limit: int) -> list[Doc]:
        cursor = self.db[RUNS].find({}).sort("started_at", -1).limit(limit)
        return [doc async for doc in cursor]


class InMemoryOpsStore:
    """In memory, same semantics, for unit tests of the operator workflows."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.audit: dict[str, Doc] = {}
        self.ledger: dict[str, Doc] = {}
        self.locks: dict[str, Doc] = {}
        self.runs: dict[str, Doc] = {}
        self.clock = clock or SystemClock()

    async def ensure_indexes(self) -> None:
        return None

    async def audit_begin(self, entry: Doc) -> None:
        self.audit[entry["_id"]] = copy.deepcopy(entry)

    async def audit_end(self, entry_id: str, fields: Doc) -> None:
        self.audit[entry_id].update(copy.deepcopy(fields))

    async def audit_list(
        self, *, actor: str | None = None, command: str | None = None, limit: int = 30
    ) -> list[Doc]:
        docs = [
            d
            for d in self.audit.values()
            if (not actor or d.get("actor") == actor) and (not command or d.get("command") == command)
        ]
        return copy.deepcopy(sorted(docs, key=lambda d: d["started_at"], reverse=True)[:limit])

    async def redrive_claim(self, position: str, doc: Doc) -> bool:
        if position in self.ledger:
            return False
        self.ledger[position] = dict(doc)
        return True

    async def redrive_done(self, position: str, fields: Doc) -> None:
        self.ledger[position].update(fields)

    async def redrive_release(self, position: str) -> None:
        if self.ledger.get(position, {}).get("status") == "claimed":
            del self.ledger[position]

    async def redriven(self, positions: list[str]) -> set[str]:
        return {p for p in positions if p in self.ledger}

    async def lock_acquire(self, name: str, owner: Doc, ttl: float) -> LockHeld | None:
        now = self.clock.now()
        held = self.locks.get(name)
        if held is not None and held["expires_at"] >= now:
            return LockHeld(held["owner"], held["expires_at"])
        self.locks[name] = {"owner": owner, "expires_at": now + timedelta(seconds=ttl)}
        return None

    async def lock_renew(self, name: str, run_id: str, ttl: float) -> bool:
        held = self.locks.get(name)
        if held is None or held["owner"].get("run_id") != run_id:
            return False
        held["expires_at"] = self.clock.now() + timedelta(seconds=ttl)
        return True

    async def lock_release(self, name: str, run_id: str) -> None:
        if self.locks.get(name, {}).get("owner", {}).get("run_id") == run_id:
            del self.locks[name]

    async def run_save(self, run_id: str, fields: Doc) -> None:
        self.runs.setdefault(run_id, {"_id": run_id}).update(copy.deepcopy(fields))

    async def run_get(self, run_id: str) -> Doc | None:
        return copy.deepcopy(self.runs.get(run_id))

    async def run_latest(self, target: str, statuses: list[str]) -> Doc | None:
        docs = [d for d in self.runs.values() if d.get("target") == target and d.get("status") in statuses]
        docs.sort(key=lambda d: d.get("started_at") or self.clock.now(), reverse=True)
        return copy.deepcopy(docs[0]) if docs else None

    async def runs_recent(self, limit: int) -> list[Doc]:
        docs = sorted(self.runs.values(), key=lambda d: d.get("started_at") or self.clock.now(), reverse=True)
        return copy.deepcopy(docs[:limit])


if TYPE_CHECKING:  # both keep up with the ports

    def _conforms(db: AsyncDatabase[Doc]) -> tuple[OpsStore, OpsStore]:
        return MongoOpsStore(db), InMemoryOpsStore()
