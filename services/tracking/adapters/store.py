"""Tracking's MongoDB stores: case documents, calls (for the funnel) and timer claims.

Every case is one document, written with one atomic single-document operation per batch: an insert for
a new case, or a ``find_one_and_replace`` by ``_id`` for an existing one, which returns the document it
replaced. Its ``n`` (the number of events applied) must be the ``n`` the batch started from: that is the
compare-and-set. When it is not, another writer (a consumer that had the partition a moment ago, during
a rebalance) stored events in between; the projection then applies this batch's events on top of the
document it replaced and writes again, so no event is lost and none is applied twice. When every
event of the replaced document is already in ours, ours stands as written.

Why not a conditional filter (``{"_id": id, "n": n}``) as on MongoDB? FerretDB v1's SQLite backend
pushes only a filter on ``_id`` alone down to an index; any other condition makes every update scan
the collection, and its cost grew with each document already updated (measured: 14 ms per update after
50 updates, 130 ms after 250, on 1,000 documents), while the ``_id``-only replace stays at ~2 ms.
For the same reason documents are loaded by ``_id`` one by one rather than with ``$in``.
FerretDB v1 has no multi-document transactions and none are needed.

The case store takes its collection name, so the same projection can write into a shadow collection
(the replay tool rebuilds there and swaps).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from contracts.events import CallReceived, CaseRegistered, Envelope
from services.common.bounded import run_all
from services.common.mongo import create_index, insert_new
from services.common.recent import Recent
from services.tracking.adapters.data import load_policy
from services.tracking.domain.model import AWAITING_ACK, OPEN_AT_AGENCY, Case
from services.tracking.domain.projection import case_id_of, project
from services.tracking.domain.sla import SlaPolicy

log = logging.getLogger("samad.tracking.store")

CASES_COLLECTION = "cases"
CALLS_COLLECTION = "calls"
CLAIMS_COLLECTION = "timer_claims"
# FerretDB (SQLite) has one writer at a time: a few concurrent replaces keep it busy, more only queue.
WRITE_CONCURRENCY = 4
READ_CONCURRENCY = 16

CASE_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("tracking_code", [("tracking_code", ASCENDING)]),
    (
        "agency_status_registered",
        [("agency", ASCENDING), ("status", ASCENDING), ("registered_at", DESCENDING)],
    ),
    (
        "agency_county_registered",
        [("agency", ASCENDING), ("county", ASCENDING), ("registered_at", DESCENDING)],
    ),
    ("agency_due", [("agency", ASCENDING), ("due.next", ASCENDING)]),
    ("status_due_acknowledge", [("status", ASCENDING), ("due.acknowledge", ASCENDING)]),
    ("status_due_resolve", [("status", ASCENDING), ("due.resolve", ASCENDING)]),
    ("status_due_close", [("status", ASCENDING), ("due.close", ASCENDING)]),
    ("registered_at", [("registered_at", ASCENDING)]),
    ("county_registered", [("county", ASCENDING), ("registered_at", ASCENDING)]),
    ("duty_session", [("duty_session_id", ASCENDING)]),
    ("holdings", [("agencies.agency", ASCENDING), ("agencies.received_at", ASCENDING)]),
]
CALL_INDEXES: list[tuple[str, list[tuple[str, int]]]] = [
    ("started_at", [("started_at", ASCENDING)]),
    ("duty_session", [("duty_session_id", ASCENDING)]),
]


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


@dataclass(frozen=True)
class QueueFilter:
    agency: str
    status: str | None = None
    overdue: bool | None = None
    county: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None


@dataclass(frozen=True)
class Page:
    items: list[Case]
    total: int


@dataclass
class SaveResult:
    """``conflicts``: new cases another writer inserted first (reload them). ``overwritten``: the
    documents a replace found in place of the expected version (apply the batch on top of them)."""

    conflicts: set[str] = field(default_factory=set)
    overwritten: dict[str, Case] = field(default_factory=dict)


class CaseStore(Protocol):
    """Where case documents live."""

    async def load(self, ids: Iterable[str]) -> dict[str, Case]: ...

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult: ...

    async def get(self, case_id: str) -> Case | None: ...

    async def by_tracking_code(self, code: str) -> Case | None: ...


class MongoCaseStore:
    """Case documents by ``_id``, and ``<collection>_codes`` mapping each tracking code to its case.

    The citizen's status page looks a case up by tracking code; FerretDB would answer a query on that
    field by reading every case, so the store keeps the mapping as documents keyed by the code (one
    insert per case, the first time this process saves it with a code) and reads it by ``_id``. A code
    the mapping does not know (a case saved before it existed, or by a rebuild) is found by the query
    once and then added.
    """

    MAPPED_MEMORY = 200_000  # case ids this process knows to be mapped (beyond it: one extra insert)

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = CASES_COLLECTION) -> None:
        self.db = db
        self.name = collection
        self.collection = db[collection]
        self.codes = db[f"{collection}_codes"]
        self._mapped: Recent[str, None] = Recent(self.MAPPED_MEMORY)

    async def ensure_indexes(self) -> None:
        # create_index is idempotent for the same name and keys: safe at every start of every replica.
        for name, keys in CASE_INDEXES:
            await create_index(self.collection, keys, name=name)

    async def load(self, ids: Iterable[str]) -> dict[str, Case]:
        wanted = list(dict.fromkeys(ids))

        async def one(case_id: str) -> dict[str, Any] | None:
            return await self.collection.find_one({"_id": case_id})

        docs = await run_all(one, wanted, READ_CONCURRENCY)
        return {d["_id"]: Case.from_document(d) for d in docs if d is not None}

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult:
        result = SaveResult()
        fresh = [c for cid, c in cases.items() if expected_n.get(cid, 0) == 0]
        for i in await insert_new(self.collection, [c.to_document() for c in fresh]):
            result.conflicts.add(fresh[i].id)
        existing = [(cid, c) for cid, c in cases.items() if expected_n.get(cid, 0) != 0]
        if existing:
            # Through run_all: when one replace fails, no replace of this call is still running or
            # waiting once the error reaches the consumer, whose retry it could otherwise overwrite.
            async def replace(item: tuple[str, Case]) -> None:
                cid, case = item
                before = await self.collection.find_one_and_replace({"_id": cid}, case.to_document())
                if before is None:
                    # Nothing was there to replace (a rebuild swapped the collection): nothing was
                    # written; the case is reloaded and written again.
                    result.conflicts.add(cid)
                elif before.get("n") != expected_n[cid]:
                    result.overwritten[cid] = Case.from_document(before)

            await run_all(replace, existing, WRITE_CONCURRENCY)
        written = set(cases) - result.conflicts - set(result.overwritten)
        await self._map_codes(c for cid, c in cases.items() if cid in written)
        return result

    async def get(self, case_id: str) -> Case | None:
        doc = await self.collection.find_one({"_id": case_id})
        return Case.from_document(doc) if doc else None

    async def by_tracking_code(self, code: str) -> Case | None:
        mapped = await self.codes.find_one({"_id": code})
        if mapped is not None:
            doc = await self.collection.find_one({"_id": mapped["case_id"]})
            if doc is not None and doc.get("tracking_code") == code:
                return Case.from_document(doc) if doc.get("status") is not None else None
        doc = await self.collection.find_one({"tracking_code": code, "status": {"$ne": None}})
        if doc is None:
            return None
        case = Case.from_document(doc)
        await self._map_codes([case])
        return case

    async def _map_codes(self, cases: Iterable[Case]) -> None:
        todo = [c for c in cases if c.tracking_code and c.id not in self._mapped]
        await insert_new(self.codes, [{"_id": c.tracking_code, "case_id": c.id} for c in todo])
        for c in todo:
            self._mapped.put(c.id, None)

    async def queue(self, f: QueueFilter, now: datetime, skip: int, limit: int) -> Page:
        query: dict[str, Any] = {"agency": f.agency}
        if f.status:
            query["status"] = f.status
        if f.county:
            query["county"] = f.county
        span: dict[str, Any] = {}
        if f.registered_from:
            span["$gte"] = f.registered_from
        if f.registered_to:
            span["$lt"] = f.registered_to
        if span:
            query["registered_at"] = span
        if f.overdue is True:
            query["due.next"] = {"$lt": now}
            if not f.status:
                query["status"] = {"$in": sorted(OPEN_AT_AGENCY)}
        elif f.overdue is False:
            query["$or"] = [{"due.next": None}, {"due.next": {"$gte": now}}]
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, {"timeline": 0}).sort(
            [("registered_at", DESCENDING), ("_id", ASCENDING)]
        )
        docs = await cursor.skip(skip).limit(limit).to_list(None)
        return Page([Case.from_document(d) for d in docs], total)

    async def acknowledge_overdue(self, now: datetime, limit: int) -> list[Case]:
        query = {
            "status": {"$in": sorted(AWAITING_ACK)},
            "due.acknowledge": {"$lt": now},
            "due.acknowledge_breached": False,
        }
        return await self._light(query, limit)

    async def resolve_overdue(self, now: datetime, limit: int) -> list[Case]:
        query = {
            "status": {"$in": sorted(OPEN_AT_AGENCY)},
            "due.resolve": {"$lt": now},
            "due.resolve_breached": False,
        }
        return await self._light(query, limit)

    async def due_to_close(self, now: datetime, limit: int) -> list[Case]:
        query = {"status": {"$in": ["resolved", "rejected"]}, "due.close": {"$lt": now}}
        return await self._light(query, limit)

    async def _light(self, query: dict[str, Any], limit: int) -> list[Case]:
        docs = await self.collection.find(query, {"timeline": 0, "sms": 0}).limit(limit).to_list(None)
        return [Case.from_document(d) for d in docs]

    async def report_cases(self, query: dict[str, Any]) -> list[Case]:
        """Cases for the reports, without their timelines."""
        docs = await self.collection.find(query, {"timeline": 0, "sms": 0, "description": 0}).to_list(None)
        return [Case.from_document(d) for d in docs]

    async def tally(self, query: dict[str, Any], flag: str) -> tuple[int, int]:
        return await tally(self.collection, query, flag)


class FakeCaseStore:
    """In-memory store with the same write semantics, for unit tests. ``race`` holds documents another
    writer stores between our read and our write."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.race: dict[str, Case] = {}

    async def load(self, ids: Iterable[str]) -> dict[str, Case]:
        return {i: Case.from_document(self.docs[i]) for i in ids if i in self.docs}

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult:
        for cid, rival in list(self.race.items()):
            if cid in cases:
                self.docs[cid] = rival.to_document()
                del self.race[cid]
        result = SaveResult()
        for cid, case in cases.items():
            before = self.docs.get(cid)
            if expected_n.get(cid, 0) == 0 and before is not None:
                result.conflicts.add(cid)
                continue
            self.docs[cid] = case.to_document()
            self.writes += 1
            if before is not None and before["n"] != expected_n.get(cid, 0):
                result.overwritten[cid] = Case.from_document(before)
        return result

    async def get(self, case_id: str) -> Case | None:
        doc = self.docs.get(case_id)
        return Case.from_document(doc) if doc else None

    async def by_tracking_code(self, code: str) -> Case | None:
        for doc in self.docs.values():
            if doc.get("tracking_code") == code and doc.get("status") is not None:
                return Case.from_document(doc)
        return None


class ConflictsPersist(RuntimeError):
    """The same cases kept losing their compare-and-set: another writer is racing this one."""


@dataclass
class ApplyResult:
    events: int = 0
    cases_written: int = 0
    retries: int = 0
    written: set[str] = field(default_factory=set)


class CaseCache:
    """The documents this process wrote last, so the next batch need not read them back.

    Safe because a write checks the version it replaces: if another writer changed a cached case,
    the replace returns that writer's document and the batch is applied on top of it. If the store
    went back to an older version (one whose events the cached case all has), the write puts the
    complete document back.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.cases: Recent[str, Case] = Recent(size)

    def get(self, case_id: str) -> Case | None:
        return self.cases.touch(case_id)

    def put(self, case: Case) -> None:
        self.cases.put(case.id, case)

    def forget(self, case_id: str) -> None:
        self.cases.pop(case_id, None)


async def apply_events(
    store: CaseStore,
    events: Sequence[Envelope],
    policy: SlaPolicy | None = None,
    max_rounds: int = 20,
    cache: CaseCache | None = None,
    in_place: bool = False,
) -> ApplyResult:
    """Apply a batch of case and SMS events to their documents: one write per changed case.

    Used by the live consumer (with a cache of the documents it wrote) and, with a store on another
    collection, by the replay tool. Without a policy, the shipped SLA and holiday files apply, as in
    the service with default settings. ``in_place``: the loaded cases are changed rather than copied,
    for a store whose saves cannot conflict (the rebuild's in-memory state); a live store keeps the
    copies, which a failed or lost compare-and-set needs.
    """
    policy = policy or load_policy()
    result = ApplyResult(events=len(events))
    pending: list[Envelope] = []
    first: dict[str, Envelope] = {}  # each case's first event in the batch, cases in batch order
    for e in events:
        if (cid := case_id_of(e)) is not None:
            pending.append(e)
            first.setdefault(cid, e)
    ids = list(first)
    base: dict[str, Case] = {}
    if cache is not None:
        for cid in ids:
            hit = cache.get(cid)
            if hit is not None:
                base[cid] = hit
    # A case whose first event here is its registration is nearly always new: it is not looked up,
    # and its insert finds out (one that exists is a conflict, reloaded and applied on top below).
    presumed_new = {cid for cid in ids if cid not in base and isinstance(first[cid].data, CaseRegistered)}
    base.update(await store.load(cid for cid in ids if cid not in base and cid not in presumed_new))
    stored_n = {cid: case.n for cid, case in base.items()}  # the version in the store now
    must_write: set[str] = set()
    for round_ in range(max_rounds):
        changed = project(base, pending, policy, copy=not in_place)
        for cid in must_write - set(changed):
            changed[cid] = base[cid]  # our batch was already in there: put the other writer's back
        if not changed:
            return result
        try:
            saved = await store.save(changed, {cid: stored_n.get(cid, 0) for cid in changed})
        except BaseException:
            if cache is not None:
                for cid in changed:
                    cache.forget(cid)  # the write's outcome is unknown
            raise
        for cid, before in list(saved.overwritten.items()):
            if before.applied_ids() <= changed[cid].applied_ids():
                # The store held a version whose every event ours has (an older document put back,
                # or the same events stored by another writer): ours, now in place, stands.
                del saved.overwritten[cid]
        retry = saved.conflicts | set(saved.overwritten)
        won = set(changed) - retry
        result.cases_written += len(won)
        result.written |= won
        if cache is not None:
            for cid in won:
                cache.put(changed[cid])
        if not retry:
            return result
        result.retries += 1
        if retry - presumed_new:
            log.warning(
                "another writer stored %d case(s) during this batch (round %d): applying the batch on top",
                len(retry - presumed_new),
                round_ + 1,
            )
        presumed_new -= retry  # (a registration seen before: its document is read now)
        pending = [e for e in pending if case_id_of(e) in retry]
        must_write = set(saved.overwritten)
        for cid, before in saved.overwritten.items():
            # The store holds this batch's document now; the one it replaced has the other writer's
            # events. The batch is applied on top of that one, and the next write expects ours in place.
            base[cid] = before
            stored_n[cid] = changed[cid].n
        if saved.conflicts:
            reloaded = await store.load(saved.conflicts)
            for cid in saved.conflicts:
                base.pop(cid, None)
                if cid in reloaded:
                    base[cid] = reloaded[cid]
                    stored_n[cid] = reloaded[cid].n
    raise ConflictsPersist(f"{len(pending)} event(s) could not be stored after {max_rounds} rounds")


# --- calls ---------------------------------------------------------------------------------------


class MongoCallStore:
    """One document per call (id = call id) for the funnel; a redelivered call.received adds nothing."""

    def __init__(self, db: AsyncDatabase[dict[str, Any]], collection: str = CALLS_COLLECTION) -> None:
        self.collection = db[collection]

    async def ensure_indexes(self) -> None:
        for name, keys in CALL_INDEXES:
            await create_index(self.collection, keys, name=name)

    async def add(self, events: Sequence[Envelope]) -> int:
        docs: dict[str, dict[str, Any]] = {}
        for e in events:
            data = e.data
            if isinstance(data, CallReceived) and data.call_id not in docs:
                docs[data.call_id] = call_document(e, data)
        return len(docs) - len(await insert_new(self.collection, list(docs.values())))

    async def tally(self, query: dict[str, Any], flag: str) -> tuple[int, int]:
        return await tally(self.collection, query, flag)

    async def find(self, query: dict[str, Any]) -> list[dict[str, Any]]:
        return await self.collection.find(query, {"started_at": 1, "outcome": 1}).to_list(None)


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


# --- timer claims --------------------------------------------------------------------------------


class MongoClaims:
    """Claims on timer work (an SLA breach or a close to publish), so replicas never duplicate it.

    A claim is one document keyed by the work's identity. Inserting it is atomic: the first replica
    wins, the others hit the duplicate key. A claim never finished (its replica died) may be taken over
    once its lease has expired. Who takes over is decided the same way: by inserting a document keyed
    by the work and the expired claim's time into ``<collection>_takeovers``; only the winner then
    replaces the claim, and a loser writes nothing (only ``_id`` filters, for FerretDB's sake: see the
    module's note). A replica that finishes after its lease ran out can still be overtaken; its work
    is then published again with the same event id, which consumers ignore.
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


def database(client: AsyncMongoClient[dict[str, Any]], name: str) -> AsyncDatabase[dict[str, Any]]:
    return client[name]
