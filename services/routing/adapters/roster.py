"""The roster store port: the duty roster's entries and the slot claims that keep it free of overlaps,
across every routing replica. MongoDB (collections ``roster`` and ``roster_claims``) and an in-memory fake.

Why claims: two replicas can each check a new entry against the roster and each find no overlap, then
both write. FerretDB 1.24 (SQLite) has no multi-document transactions and a conditional update on
fields other than ``_id`` is not atomic there; an insert with a unique ``_id`` is. So an entry first
claims every slot it occupies (``domain.roster.occupied_slots``: its agency's week, and each minute of
its hours, in its province), one document per slot whose ``_id`` is the slot, inserted in the slots'
sorted order and stopping at the first one already held. Of two overlapping entries created at once,
exactly one gets the slot they share first; the other learns who holds it:

- the holder's entry exists: the slot is taken (``SlotsTaken``): the caller reports the overlap;
- the holder's entry does not exist and the claim is younger than the lease: a create in flight; this
  one gives back what it holds, waits a little and claims again (it then finds the entry, or a free slot);
- the holder's entry does not exist and the claim is older than the lease: a create that crashed (or
  failed) between claiming and writing its entry; the slot is taken over.

A claim is released when its entry is removed (claims first, then the entry, so a slot of an existing
entry is never free) and when a create fails after claiming. The use case checks the roster again
after writing its entry, so even a create stalled beyond the lease while another took its slots over
cannot leave two overlapping entries: of the two, the later writer sees the earlier one.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from time import monotonic
from typing import Any, Protocol

from pymongo import ASCENDING, AsyncMongoClient
from pymongo.errors import BulkWriteError

from contracts.catalogue import AgencyCode
from services.common.bounded import run_all
from services.common.clock import Clock, SystemClock
from services.common.mongo import DUPLICATE_KEY, create_index
from services.routing.domain.roster import DutyHours, RosterEntry

log = logging.getLogger("samad.routing.roster")

# Claims released at once: FerretDB stops answering with about 100 deletes in flight on one database.
RELEASE_CONCURRENCY = 8


class SlotsTaken(Exception):
    """An existing roster entry holds one of the slots."""

    def __init__(self, holder: str) -> None:
        super().__init__(f"slot held by roster entry {holder}")
        self.holder = holder


class RosterBusy(RuntimeError):
    """The slots stayed held by a create in flight for longer than a create waits."""


class RosterStore(Protocol):
    async def entries(self, province: str | None = None) -> list[RosterEntry]:
        """A province's entries (None: every province's), possibly as read up to the cache period ago."""

    async def entries_now(self, province: str) -> list[RosterEntry]:
        """A province's entries as stored now: for the overlap check."""

    async def get(self, entry_id: str) -> RosterEntry | None:
        """One entry as stored now."""

    async def claim(self, entry_id: str, slots: Sequence[str]) -> None:
        """Hold every slot for the entry, or none: raises ``SlotsTaken`` when an existing entry holds
        one, ``RosterBusy`` when a create in flight keeps one for too long."""

    async def release(self, entry_id: str, slots: Sequence[str]) -> None:
        """Give back the slots among these that the entry holds."""

    async def add(self, entry: RosterEntry) -> None:
        """Write an entry whose slots it holds."""

    async def replace(self, entry: RosterEntry) -> bool:
        """Write a new version of an existing entry (same id) whose slots it holds; False if the entry
        is gone."""

    async def delete(self, entry_id: str) -> bool:
        """Remove an entry (release its slots before, so that an existing entry never has a free
        slot); False if there was none."""


# --- claims ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    slot: str
    entry_id: str
    at: datetime


class ClaimTable(Protocol):
    """Where claims are kept: the only operation that must be atomic is inserting one slot."""

    async def insert_in_order(self, claims: Sequence[Claim]) -> int:
        """Insert the claims in order, stopping at the first slot already held; how many were inserted."""

    async def get(self, slot: str) -> Claim | None: ...

    async def take_over(self, old: Claim, new: Claim) -> bool:
        """Put ``new`` in place of ``old`` if the slot still holds ``old`` (best effort)."""

    async def release(self, slots: Sequence[str], entry_id: str) -> None:
        """Delete the claims among these slots that the entry holds."""


class SlotClaims:
    """Claiming slots over a ``ClaimTable`` (see the module's description)."""

    def __init__(
        self,
        table: ClaimTable,
        entry_exists: Callable[[str], Awaitable[bool]],
        clock: Clock,
        lease_seconds: float,
    ) -> None:
        self.table = table
        self.entry_exists = entry_exists
        self.clock = clock
        self.lease = timedelta(seconds=lease_seconds)
        # Long enough for a crashed create's claims to pass their lease and be taken over.
        self.wait_seconds = 2 * lease_seconds + 1

    async def claim(self, entry_id: str, slots: Sequence[str]) -> None:
        deadline = monotonic() + self.wait_seconds
        delay = 0.02
        held = 0
        while True:
            now = self.clock.now()
            held += await self.table.insert_in_order([Claim(s, entry_id, now) for s in slots[held:]])
            if held == len(slots):
                return
            current = await self.table.get(slots[held])
            if current is None:
                continue  # given back meanwhile: claim on from this slot
            if current.entry_id == entry_id:
                held += 1
                continue
            if await self.entry_exists(current.entry_id):
                await self.table.release(slots[:held], entry_id)
                raise SlotsTaken(current.entry_id)
            if now - current.at >= self.lease:
                if await self.table.take_over(current, Claim(current.slot, entry_id, now)):
                    log.warning(
                        "roster: slot %s taken over from %s, whose entry was never written",
                        current.slot,
                        current.entry_id,
                    )
                    held += 1
                continue
            # A create in flight: give back what this one holds so that it is not held up, and wait
            # until the slot changes hands (or its claim grows old) before claiming again.
            await self.table.release(slots[:held], entry_id)
            held = 0
            while (
                await self.table.get(current.slot) == current and self.clock.now() - current.at < self.lease
            ):
                if await self.entry_exists(current.entry_id):
                    raise SlotsTaken(current.entry_id)
                if monotonic() > deadline:
                    raise RosterBusy(
                        f"slot {current.slot} still held by a create in flight ({current.entry_id})"
                    )
                await asyncio.sleep(delay * random.uniform(0.5, 1.5))
                delay = min(delay * 2, 0.5)

    async def release(self, entry_id: str, slots: Sequence[str]) -> None:
        await self.table.release(slots, entry_id)


# --- documents -----------------------------------------------------------------------------------


def entry_doc(e: RosterEntry) -> dict[str, Any]:
    return {
        "_id": e.id,
        "province": e.province,
        "week_start": e.week_start.isoformat(),
        "agency": e.agency.value,
        "director_name": e.director_name,
        "director_title": e.director_title,
        "location": e.location,
        "hours": [
            {"date": h.day.isoformat(), "start": h.start.strftime("%H:%M"), "end": h.end.strftime("%H:%M")}
            for h in e.hours
        ],
    }


def roster_entry(d: dict[str, Any]) -> RosterEntry:
    return RosterEntry(
        id=d["_id"],
        province=d["province"],
        week_start=date.fromisoformat(d["week_start"]),
        agency=AgencyCode(d["agency"]),
        director_name=d["director_name"],
        director_title=d.get("director_title"),
        location=d["location"],
        hours=tuple(
            DutyHours(
                date.fromisoformat(h["date"]), time.fromisoformat(h["start"]), time.fromisoformat(h["end"])
            )
            for h in d["hours"]
        ),
    )


# --- MongoDB -------------------------------------------------------------------------------------


class MongoClaimTable:
    def __init__(self, collection: Any) -> None:
        self.collection = collection

    async def insert_in_order(self, claims: Sequence[Claim]) -> int:
        if not claims:
            return 0
        docs = [{"_id": c.slot, "entry": c.entry_id, "at": c.at} for c in claims]
        try:
            # Unordered, then cut back to a prefix: FerretDB 1.24 goes on with its next internal batch
            # after a duplicate in an ordered insert, so ``ordered=True`` does not stop where it should.
            await self.collection.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if not errors or any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            first = min(int(e["index"]) for e in errors)
            await self.release([c.slot for c in claims[first + 1 :]], claims[0].entry_id)
            return first
        return len(docs)

    async def get(self, slot: str) -> Claim | None:
        doc = await self.collection.find_one({"_id": slot})
        return Claim(doc["_id"], doc["entry"], doc["at"]) if doc else None

    async def take_over(self, old: Claim, new: Claim) -> bool:
        result = await self.collection.replace_one(
            {"_id": old.slot, "entry": old.entry_id, "at": old.at},
            {"_id": new.slot, "entry": new.entry_id, "at": new.at},
        )
        return bool(result.modified_count == 1)

    async def release(self, slots: Sequence[str], entry_id: str) -> None:
        async def one(slot: str) -> None:
            await self.collection.delete_one({"_id": slot, "entry": entry_id})

        await run_all(one, slots, RELEASE_CONCURRENCY)


class MongoRosterStore:
    def __init__(
        self,
        client: AsyncMongoClient[dict[str, Any]],
        db_name: str,
        *,
        cache_seconds: float = 10.0,
        claim_lease_seconds: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        db = client[db_name]
        self.roster = db["roster"]
        self.claims = SlotClaims(
            MongoClaimTable(db["roster_claims"]), self._exists, clock or SystemClock(), claim_lease_seconds
        )
        # Every routed case asks for its province's roster, and the roster changes a few times a week:
        # it is read at most every ``cache_seconds`` (FerretDB answers the query on province by reading
        # the whole collection). This store's own changes are seen at once; another replica's within
        # that time.
        self.cache_seconds = cache_seconds
        self._read: dict[str | None, tuple[float, list[RosterEntry]]] = {}
        self._changes = 0  # a read that overlapped a change here is not kept

    async def ensure_indexes(self) -> None:
        await create_index(
            self.roster, [("province", ASCENDING), ("week_start", ASCENDING)], name="province_week"
        )

    async def entries(self, province: str | None = None) -> list[RosterEntry]:
        key = province or None
        read = self._read.get(key)
        if read is not None and monotonic() - read[0] < self.cache_seconds:
            return list(read[1])
        started, changes = monotonic(), self._changes
        entries = await self._find(province)
        if changes == self._changes:
            self._read[key] = (started, entries)
        return list(entries)

    async def entries_now(self, province: str) -> list[RosterEntry]:
        return await self._find(province)

    async def _find(self, province: str | None) -> list[RosterEntry]:
        query: dict[str, Any] = {"province": province} if province else {}
        return [roster_entry(d) for d in await self.roster.find(query).to_list()]

    async def get(self, entry_id: str) -> RosterEntry | None:
        doc = await self.roster.find_one({"_id": entry_id})
        return roster_entry(doc) if doc else None

    async def _exists(self, entry_id: str) -> bool:
        return await self.roster.find_one({"_id": entry_id}, {"_id": 1}) is not None

    async def claim(self, entry_id: str, slots: Sequence[str]) -> None:
        await self.claims.claim(entry_id, slots)

    async def release(self, entry_id: str, slots: Sequence[str]) -> None:
        await self.claims.release(entry_id, slots)

    async def add(self, entry: RosterEntry) -> None:
        try:
            await self.roster.insert_one(entry_doc(entry))
        finally:
            self._changed()

    async def replace(self, entry: RosterEntry) -> bool:
        try:
            return bool(
                (await self.roster.replace_one({"_id": entry.id}, entry_doc(entry))).matched_count == 1
            )
        finally:
            self._changed()

    async def delete(self, entry_id: str) -> bool:
        try:
            return bool((await self.roster.delete_one({"_id": entry_id})).deleted_count == 1)
        finally:
            self._changed()

    def _changed(self) -> None:
        """Forget the rosters read, and any read still running (it may predate the change)."""
        self._changes += 1
        self._read.clear()


# --- in memory -------------------------------------------------------------------------------------


@dataclass
class InMemoryClaimTable:
    claims: dict[str, Claim] = field(default_factory=dict)

    async def insert_in_order(self, claims: Sequence[Claim]) -> int:
        for n, c in enumerate(claims):
            if c.slot in self.claims:
                return n
            self.claims[c.slot] = c
        return len(claims)

    async def get(self, slot: str) -> Claim | None:
        return self.claims.get(slot)

    async def take_over(self, old: Claim, new: Claim) -> bool:
        if self.claims.get(old.slot) != old:
            return False
        self.claims[old.slot] = new
        return True

    async def release(self, slots: Sequence[str], entry_id: str) -> None:
        for slot in slots:
            if (c := self.claims.get(slot)) is not None and c.entry_id == entry_id:
                del self.claims[slot]


class InMemoryRosterStore:
    """The same contract in memory (claims included), for unit tests of the use cases."""

    def __init__(
        self,
        entries: Sequence[RosterEntry] = (),
        *,
        claim_lease_seconds: float = 15.0,
        clock: Clock | None = None,
    ) -> None:
        self.by_id: dict[str, RosterEntry] = {e.id: e for e in entries}
        self.table = InMemoryClaimTable()
        self.claims = SlotClaims(self.table, self._exists, clock or SystemClock(), claim_lease_seconds)

    async def _exists(self, entry_id: str) -> bool:
        return entry_id in self.by_id

    async def entries(self, province: str | None = None) -> list[RosterEntry]:
        return [e for e in self.by_id.values() if not province or e.province == province]

    async def entries_now(self, province: str) -> list[RosterEntry]:
        return await self.entries(province)

    async def get(self, entry_id: str) -> RosterEntry | None:
        return self.by_id.get(entry_id)

    async def claim(self, entry_id: str, slots: Sequence[str]) -> None:
        await self.claims.claim(entry_id, slots)

    async def release(self, entry_id: str, slots: Sequence[str]) -> None:
        await self.claims.release(entry_id, slots)

    async def add(self, entry: RosterEntry) -> None:
        self.by_id[entry.id] = entry

    async def replace(self, entry: RosterEntry) -> bool:
        if entry.id not in self.by_id:
            return False
        self.by_id[entry.id] = entry
        return True

    async def delete(self, entry_id: str) -> bool:
        return self.by_id.pop(entry_id, None) is not None
