"""Claims on timer work (an SLA breach or a close to publish), so replicas never duplicate it: the
``Claims`` port, its MongoDB implementation and its in-memory fake."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.common.mongo import create_index

CLAIMS_COLLECTION = "timer_claims"


class Claims(Protocol):
    async def ensure_indexes(self) -> None: ...

    async def claim(self, key: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        """True when ``owner`` now holds the work ``key``: nobody had it, or a holder's lease ran out
        without finishing it. Finished work is never claimed again."""
        ...

    async def finish(self, key: str, owner: str, now: datetime) -> None: ...


class MongoClaims:
    """A claim is one document keyed by the work's identity. Inserting it is atomic: the first replica
    wins, the others hit the duplicate key. A claim never finished (its replica died) may be taken over
    once its lease has expired. Who takes over is decided the same way: by inserting a document keyed
    by the work and the expired claim's time into ``<collection>_takeovers``; only the winner then
    replaces the claim, and a loser writes nothing (only ``_id`` filters, for FerretDB's sake: see
    ``adapters.mongo``). A replica that finishes after its lease ran out can still be overtaken; its
    work is then published again with the same event id, which consumers ignore.
    """

    TAKEOVER_ATTEMPTS = 5

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = CLAIMS_COLLECTION) -> None:
        self.collection = db[collection]
        self.takeovers = db[f"{collection}_takeovers"]

    async def ensure_indexes(self) -> None:
        await create_index(self.collection, [("done", ASCENDING), ("lease_until", ASCENDING)], name="lease")

    async def claim(self, key: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        mine = {"_id": key, "owner": owner, "lease_until": lease_until, "done": False, "claimed_at": now}
        try:
            await self.collection.insert_one(mine)
            return True
        except DuplicateKeyError:
            pass
        seen = await self.collection.find_one({"_id": key})
        if seen is None or seen.get("done") or seen["lease_until"] >= now:
            return False
        expired = seen["claimed_at"]
        generation = f"{key}@{expired.isoformat() if isinstance(expired, datetime) else expired}"
        for attempt in range(self.TAKEOVER_ATTEMPTS):
            try:
                await self.takeovers.insert_one({"_id": f"{generation}#{attempt}", "owner": owner, "at": now})
            except DuplicateKeyError:
                # Another replica is taking it over, unless it died between its token and its replace:
                # then its token is a lease old while the claim is still the expired one.
                token = await self.takeovers.find_one({"_id": f"{generation}#{attempt}"})
                if token is not None and token["at"] > now - (lease_until - now):
                    return False
                continue
            await self.collection.replace_one({"_id": key}, mine)
            return True
        return False

    async def finish(self, key: str, owner: str, now: datetime) -> None:
        await self.collection.update_one(
            {"_id": key}, {"$set": {"done": True, "done_at": now, "owner": owner}}
        )


@dataclass
class Claim:
    owner: str
    claimed_at: datetime
    lease_until: datetime
    done: bool = False


class InMemoryClaims:
    """The ``Claims`` fake: one process's claims in a dict, with the same lease rules (replicas in a
    test share one instance)."""

    def __init__(self) -> None:
        self.claims: dict[str, Claim] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def claim(self, key: str, owner: str, now: datetime, lease_until: datetime) -> bool:
        seen = self.claims.get(key)
        if seen is not None and (seen.done or seen.lease_until >= now):
            return False
        self.claims[key] = Claim(owner, now, lease_until)
        return True

    async def finish(self, key: str, owner: str, now: datetime) -> None:
        claim = self.claims.get(key)
        if claim is not None:
            claim.owner, claim.done = owner, True
