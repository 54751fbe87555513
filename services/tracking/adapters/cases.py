"""Where case documents live: the ``CaseStore`` port, its MongoDB implementation and its in-memory fake,
and the store a rebuild applies events to in memory.

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

The Mongo store takes its collection name, so the same projection can write into a shadow collection
(the replay tool rebuilds there and swaps).
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from contracts.catalogue import AgencyCode
from contracts.sealed import Sealed
from services.common.bounded import run_all
from services.common.mongo import create_index, insert_new, serves_secondary_indexes, upsert
from services.common.recent import Recent
from services.tracking.adapters.mongo import reported_between, scope, span, tally, within
from services.tracking.adapters.queue_rows import MongoQueueRows, slot_of
from services.tracking.domain.citizens import citizen_keys
from services.tracking.domain.model import AWAITING_ACK, CLOCK_RUNNING, OPEN_AT_AGENCY, Case, Holding
from services.tracking.domain.queue import (
    OPEN,
    UNASSIGNED,
    QueueFilter,
    QueueRow,
    escalation_ordered,
    escalation_selects,
    ordered,
    row_of,
    selects,
)

log = logging.getLogger("samad.tracking.store")

CASES_COLLECTION = "cases"
GONE_CASE = 2**53  # the version a queue row of a case no longer stored is taken out at
# FerretDB (SQLite) has one writer at a time: a few concurrent replaces keep it busy, more only queue.
WRITE_CONCURRENCY = 4
READ_CONCURRENCY = 16
CLOSABLE = ("resolved", "rejected")

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
    (
        "agency_assignee_registered",
        [("agency", ASCENDING), ("assignee.id", ASCENDING), ("registered_at", DESCENDING)],
    ),
    ("status_due_escalate", [("status", ASCENDING), ("due.escalate", ASCENDING)]),
    ("escalation_active", [("escalation.active", ASCENDING), ("escalation.breached_at", ASCENDING)]),
    ("status_due_acknowledge", [("status", ASCENDING), ("due.acknowledge", ASCENDING)]),
    ("status_due_resolve", [("status", ASCENDING), ("due.resolve", ASCENDING)]),
    ("status_due_close", [("status", ASCENDING), ("due.close", ASCENDING)]),
    ("registered_at", [("registered_at", ASCENDING)]),
    # Period reports: cases by their call's start, or (without one) by registration.
    ("call_started_registered", [("call_started_at", ASCENDING), ("registered_at", ASCENDING)]),
    ("county_registered", [("county", ASCENDING), ("registered_at", ASCENDING)]),
    ("duty_session", [("duty_session_id", ASCENDING)]),
    ("holdings", [("agencies.agency", ASCENDING), ("agencies.received_at", ASCENDING)]),
]
# What a list leaves out of each document: the queue shows no timeline, the timers and reports need
# neither the timeline nor the SMS, the reports not even the description.
# What a queue page leaves out of each case (the case's own page shows them): the fields an SMS event
# or a note changes, so such an event leaves the case's queue row, and a page's copy of the case, as
# they were.
QUEUE_LEAVES_OUT = ("timeline", "sms", "updated_at")
TIMERS_LEAVE_OUT = ("timeline", "sms")
REPORTS_LEAVE_OUT = ("timeline", "sms", "description")
# Documents a report's cursor fetches at a time: each batch is one await, so the event loop (and the
# consumer's heartbeats on it) runs between batches.
REPORT_BATCH = 500
# What the citizen's lookup reads of a case before the phone matches, and the id it reads for a code
# that names no case while there is no case at all (no case id is empty).
CITIZEN_FIELDS = {"tracking_code": 1, "status": 1, "citizen.phone": 1, "citizen.phone_sealed": 1}
NO_CASE_ID = ""


@dataclass(frozen=True)
class EscalationFilter:
    """Late cases that reached ``target`` on their escalation ladder and are still late (one agency's,
    or every agency's), the longest late first."""

    target: str
    agency: str | None = None


@dataclass(frozen=True)
class Page:
    items: list[Case]
    total: int


@dataclass(frozen=True)
class CountyGroup:
    """How many registered cases of one county have one status and referral (counted by the database)."""

    county: str | None
    status: str
    referred: bool
    n: int


@dataclass(frozen=True)
class CitizenRef:
    """What the citizen's lookup checks before it reads a case: the case and the citizen's phone."""

    case_id: str
    phone: str | None
    phone_sealed: Sealed | None = None  # a sealed case's phone, opened by the use case


@dataclass
class SaveResult:
    """``conflicts``: new cases another writer inserted first (reload them). ``overwritten``: the
    documents a replace found in place of the expected version (apply the batch on top of them)."""

    conflicts: set[str] = field(default_factory=set)
    overwritten: dict[str, Case] = field(default_factory=dict)


class CaseWriter(Protocol):
    """What the projection needs: load cases by id, save the changed ones with compare-and-set."""

    async def load(self, ids: Iterable[str]) -> dict[str, Case]: ...

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult: ...


class CaseStore(CaseWriter, Protocol):
    """The case documents, for the projection, the lookups, the queue, the timers and the reports."""

    async def ensure_indexes(self) -> None: ...

    async def get(self, case_id: str) -> Case | None: ...

    async def by_citizen(self, key: str, limit: int) -> list[Case]:
        """The registered cases of one citizen, newest first; ``key`` is ``phone:<E.164>`` or
        ``nid:<national id>`` (see ``citizen_keys``)."""
        ...

    async def by_tracking_code(self, code: str) -> Case | None:
        """A registered case by its tracking code (ten ASCII digits)."""
        ...

    async def citizen_of(self, code: str) -> CitizenRef | None:
        """The registered case a tracking code names, and its citizen's phone, for the citizen's
        lookup: the same reads whether the code names a case or not, and never a scan."""
        ...

    async def queue(self, f: QueueFilter, now: datetime, skip: int, limit: int) -> Page:
        """In ``f.sort`` order (then by id), without timelines, with the total that match."""
        ...

    async def escalated(self, f: EscalationFilter, skip: int, limit: int) -> Page:
        """Active escalations that reached ``f.target``, longest late first, without timelines."""
        ...

    async def escalation_due(self, now: datetime, limit: int) -> list[Case]:
        """Cases whose clock runs and whose next escalation step is due."""
        ...

    async def acknowledge_overdue(self, now: datetime, limit: int) -> list[Case]:
        """Cases awaiting acknowledgement past that deadline, whose breach is not recorded yet."""
        ...

    async def resolve_overdue(self, now: datetime, limit: int) -> list[Case]:
        """Cases open at an agency past the resolve deadline, whose breach is not recorded yet."""
        ...

    async def due_to_close(self, now: datetime, limit: int) -> list[Case]:
        """Resolved or rejected cases whose quiet period has passed."""
        ...

    async def count_registered(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        """(registered, referred) among the cases of a duty session, or reported in [start, end)
        (``Case.reported_at``: the start of the call a case comes from, else its registration)."""
        ...

    def hops_received(self, start: datetime, end: datetime, agency: str | None) -> AsyncIterator[Holding]:
        """Every holding received in [start, end) (by ``agency`` only, when given), streamed."""
        ...

    async def overdue_per_agency(self, now: datetime, agency: str | None) -> dict[str, int]:
        """How many cases each agency (or ``agency``) holds past a pending deadline now, counted by
        the database."""
        ...

    async def county_groups(self, start: datetime, end: datetime) -> list[CountyGroup]:
        """The registered cases reported in [start, end), counted by the database per county, status
        and referral."""
        ...

    async def overdue_per_county(
        self, start: datetime, end: datetime, now: datetime
    ) -> dict[str | None, int]:
        """Among the cases reported in [start, end), how many per county are past a deadline now."""
        ...

    def resolve_times(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str | None, datetime, datetime]]:
        """(county, first routed, resolved) of the resolved cases reported in [start, end), streamed."""
        ...

    def reported(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        """(reported at, referred) of the cases reported in [start, end) (``Case.reported_at``), streamed."""
        ...

    def resolved_between(self, start: datetime, end: datetime) -> AsyncIterator[datetime]:
        """When each case resolved in [start, end) was resolved, streamed."""
        ...

    def report_candidates(
        self,
        kind: str,
        start: datetime,
        end: datetime,
        *,
        agency: str | None = None,
        session: str | None = None,
    ) -> AsyncIterator[Case]:
        """The cases one number of a report may count, streamed without their timelines: ``session``
        (a duty session's registered cases), ``received`` (holdings received in [start, end), some of
        ``agency`` when given), ``resolved`` (resolved in [start, end)), ``reported`` (reported in
        [start, end), ``Case.reported_at``) or ``every`` (every case, in one pass). The caller keeps the
        ones the number counts."""
        ...


async def _stream(cursor: Any) -> AsyncIterator[dict[str, Any]]:
    """A cursor's documents one at a time, the cursor closed however the reader stops."""
    try:
        async for doc in cursor:
            yield doc
    finally:
        await cursor.close()


def _queue_query(f: QueueFilter, now: datetime) -> dict[str, Any]:
    query: dict[str, Any] = {"agency": f.agency}
    if f.status == OPEN:
        query["status"] = {"$in": sorted(OPEN_AT_AGENCY)}
    elif f.status:
        query["status"] = f.status
    if f.county:
        query["county"] = f.county
    if f.assignee is not None:
        if f.assignee == UNASSIGNED:
            query["assignee"] = None
        else:
            query["assignee.id"] = f.assignee
    if f.registered_from or f.registered_to:
        query["registered_at"] = span(f.registered_from, f.registered_to)
    if f.overdue is True:
        query["due.next"] = {"$lt": now}
        if not f.status:
            query["status"] = {"$in": sorted(OPEN_AT_AGENCY)}
    elif f.overdue is False:
        query["$or"] = [{"due.next": None}, {"due.next": {"$gte": now}}]
    return query


def now_min() -> datetime:
    return datetime.min.replace(tzinfo=UTC)


def newest_first(cases: list[Case], limit: int) -> list[Case]:
    return sorted(cases, key=lambda c: c.registered_at or datetime.min.replace(tzinfo=UTC), reverse=True)[
        :limit
    ]


def listed_digest(doc: Mapping[str, Any]) -> int:
    """A digest of what a queue page shows of a case document: all of it but what the page leaves out
    (``QUEUE_LEAVES_OUT``) and the version."""
    shown = {k: v for k, v in doc.items() if k not in QUEUE_LEAVES_OUT and k != "n"}
    return hash(json.dumps(shown, sort_keys=True, default=_canonical))


def _canonical(value: Any) -> Any:
    """A value as the database gives it back: a time to the millisecond (whatever its time zone
    object), anything else (an enumeration) as its text."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(milliseconds=1)
    return str(value)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class MongoCaseStore:
    """Case documents by ``_id``, and ``<collection>_codes`` mapping each tracking code to its case.

    The citizen's status page looks a case up by tracking code; FerretDB would answer a query on that
    field by reading every case, so the store keeps the mapping as documents keyed by the code (one
    insert per case, the first time this process saves it with a code) and reads it by ``_id``. A code
    the mapping does not know (a case saved before it existed, or by a rebuild) is found by the query
    once and then added.
    """

    MAPPED_MEMORY = 200_000  # case ids this process knows to be mapped (beyond it: one extra insert)
    LISTED_MEMORY = 4_000  # cases a queue page showed last, each at the version it read

    def __init__(
        self,
        db: AsyncDatabase[dict[str, Any]],
        collection: str = CASES_COLLECTION,
        *,
        queue_rows: bool | None = None,
    ) -> None:
        """``queue_rows``: keep the agencies' queues as rows read by ``_id`` (``adapters.queue_rows``);
        None: where the server does not serve secondary indexes (FerretDB v1)."""
        self.name = collection
        self.collection = db[collection]
        self.rows = MongoQueueRows(db, collection)
        self._keep_rows = queue_rows
        # The queue row this process last wrote for each case, with a digest of the rest a queue page
        # shows of it (its hash): an event that changes neither (most are SMS events and notes) leaves
        # the slot document as it was.
        self._rows_written: Recent[str, int] = Recent(self.MAPPED_MEMORY)
        self.codes = db[f"{collection}_codes"]
        # One document per citizen key (phone or national id) listing their case ids, read by _id:
        # the operator's screen-pop and the search by phone or national id never scan the cases.
        self.citizens = db[f"{collection}_citizens"]
        self._mapped: Recent[str, None] = Recent(self.MAPPED_MEMORY)
        self._decoy_id: str | None = None
        # The cases queue pages showed last, as read (sealed), by id with their version: a page lists
        # a case again without reading it while its row still has that version (see _queue_from_rows).
        self._listed: Recent[str, tuple[int, Case]] = Recent(self.LISTED_MEMORY)

    async def ensure_indexes(self) -> None:
        # create_index is idempotent for the same name and keys: safe at every start of every replica.
        for name, keys in CASE_INDEXES:
            await create_index(self.collection, keys, name=name)
        # The first start that keeps queue rows gives every case stored so far its row.
        if await self.keeps_rows() and not await self.rows.complete():
            await self.rows.build(self.collection, fresh=await self.rows.outdated())

    async def keeps_rows(self) -> bool:
        if self._keep_rows is None:
            self._keep_rows = not await serves_secondary_indexes(self.collection.database)
        return self._keep_rows

    async def rebuild_queue_rows(self) -> int:
        """Every case's queue row again, from the cases as they are now (after a rebuild replaced
        them); how many rows (0 where no rows are kept)."""
        if not await self.keeps_rows():
            return 0
        return await self.rows.build(self.collection, fresh=True)

    async def load(self, ids: Iterable[str]) -> dict[str, Case]:
        wanted = list(dict.fromkeys(ids))

        async def one(case_id: str) -> dict[str, Any] | None:
            return await self.collection.find_one({"_id": case_id})

        docs = await run_all(one, wanted, READ_CONCURRENCY)
        return {d["_id"]: Case.from_document(d) for d in docs if d is not None}

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult:
        result = SaveResult()
        docs = {cid: c.to_document() for cid, c in cases.items()}
        keep_rows = await self.keeps_rows()
        rows = {cid: row_of(doc) for cid, doc in docs.items()} if keep_rows else {}
        # What a queue page shows of each case besides its row: a row is written again when that
        # changes too, so a row's version always names a case as the page would show it.
        shown = {cid: (r, listed_digest(docs[cid])) for cid, r in rows.items()}
        if keep_rows:
            # The rows first: a failure after them leaves a row ahead of its case (a retry writes
            # both again), never a case missing from its agency's queue.
            await self.rows.put(
                (r, int(docs[cid]["n"]))
                for cid, r in rows.items()
                if r is not None and self._rows_written.get(cid) != hash(shown[cid])
            )
        left: list[tuple[str, str, int]] = []  # (case, slot it left, its version now)
        fresh = [cid for cid in cases if expected_n.get(cid, 0) == 0]
        for i in await insert_new(self.collection, [docs[cid] for cid in fresh]):
            result.conflicts.add(fresh[i])
        existing = [cid for cid in cases if expected_n.get(cid, 0) != 0]
        if existing:
            # Through run_all: when one replace fails, no replace of this call is still running or
            # waiting once the error reaches the consumer, whose retry it could otherwise overwrite.
            async def replace(cid: str) -> None:
                before = await self.collection.find_one_and_replace({"_id": cid}, docs[cid])
                if before is None:
                    # Nothing was there to replace (a rebuild swapped the collection): nothing was
                    # written; the case is reloaded and written again.
                    result.conflicts.add(cid)
                    return
                if before.get("n") != expected_n[cid]:
                    result.overwritten[cid] = Case.from_document(before)
                old, new = (row_of(before), rows[cid]) if keep_rows else (None, None)
                if old is not None and (new is None or slot_of(old) != slot_of(new)):
                    left.append((cid, slot_of(old), int(docs[cid]["n"])))

            await run_all(replace, existing, WRITE_CONCURRENCY)
        if left:
            await self.rows.moved(left)
        written = set(cases) - result.conflicts - set(result.overwritten)
        for cid in written:
            if rows.get(cid) is not None:
                self._rows_written.put(cid, hash(shown[cid]))
            else:
                self._rows_written.pop(cid, None)  # out of every queue: a later row is written again
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

    async def by_citizen(self, key: str, limit: int) -> list[Case]:
        mapped = await self.citizens.find_one({"_id": key})
        if mapped is None:
            return []
        found = await self.load(mapped.get("case_ids", []))
        return newest_first([c for c in found.values() if key in citizen_keys(c)], limit)

    async def citizen_of(self, code: str) -> CitizenRef | None:
        # Two reads by _id on both paths: the mapping, then the case it names or, for an unknown
        # code, another case (a decoy: a found document costs the server more than a missing one,
        # measured 2.5 against 1.6 ms on FerretDB), of which only the fields the check needs are
        # sent back. Unlike by_tracking_code there is no query for a code the mapping lacks: on
        # FerretDB that query reads every case, and a guess must cost what a hit costs (every case
        # the consumer saves is mapped).
        mapped = await self.codes.find_one({"_id": code})
        case_id = str(mapped["case_id"]) if mapped is not None else await self._decoy()
        doc = await self.collection.find_one({"_id": case_id}, CITIZEN_FIELDS)
        if mapped is None or doc is None or doc.get("tracking_code") != code or doc.get("status") is None:
            return None
        self._decoy_id = case_id
        citizen = doc.get("citizen") or {}
        sealed = citizen.get("phone_sealed")
        return CitizenRef(case_id, citizen.get("phone"), Sealed.model_validate(sealed) if sealed else None)

    async def _decoy(self) -> str:
        """A case id to read in place of the one an unknown code would name: the last case a lookup
        found, or any mapped case (looked for once per process)."""
        if self._decoy_id is None:
            any_mapping = await self.codes.find_one({})
            if any_mapping is None:  # no case at all: no lookup can find one to be told apart from
                return NO_CASE_ID
            self._decoy_id = str(any_mapping["case_id"])
        return self._decoy_id

    async def _map_codes(self, cases: Iterable[Case]) -> None:
        todo = [c for c in cases if c.tracking_code and c.id not in self._mapped]
        await insert_new(self.codes, [{"_id": c.tracking_code, "case_id": c.id} for c in todo])

        # One update per citizen key, with all of its new cases: a citizen's cases of one batch never
        # race each other's upsert.
        by_key: dict[str, list[str]] = {}
        for c in todo:
            for k in citizen_keys(c):
                by_key.setdefault(k, []).append(c.id)

        async def index(item: tuple[str, list[str]]) -> None:
            key, case_ids = item
            await upsert(self.citizens, key, {"$addToSet": {"case_ids": {"$each": case_ids}}})

        await run_all(index, list(by_key.items()), WRITE_CONCURRENCY)
        for c in todo:
            self._mapped.put(c.id, None)

    async def queue(self, f: QueueFilter, now: datetime, skip: int, limit: int) -> Page:
        if await self.keeps_rows() and await self.rows.complete():
            return await self._queue_from_rows(f, now, skip, limit)
        query = _queue_query(f, now)
        leave_out = dict.fromkeys(QUEUE_LEAVES_OUT, 0)
        if f.sort != "urgent":
            total = await self.collection.count_documents(query)
            cursor = self.collection.find(query, leave_out).sort(
                [("registered_at", DESCENDING), ("_id", ASCENDING)]
            )
            docs = await cursor.skip(skip).limit(limit).to_list(None)
            return Page([Case.from_document(d) for d in docs], total)
        # Most urgent first: cases with a pending deadline by that deadline, then the others (MongoDB
        # would sort a missing deadline first), each part paged in turn.
        timed = {"$and": [query, {"due.next": {"$ne": None}}]}
        untimed = {"$and": [query, {"due.next": None}]}
        n_timed = await self.collection.count_documents(timed)
        n_untimed = await self.collection.count_documents(untimed)
        docs = []
        if skip < n_timed:
            cursor = self.collection.find(timed, leave_out).sort(
                [("due.next", ASCENDING), ("_id", ASCENDING)]
            )
            docs = await cursor.skip(skip).limit(limit).to_list(None)
        if len(docs) < limit:
            cursor = self.collection.find(untimed, leave_out).sort(
                [("registered_at", DESCENDING), ("_id", ASCENDING)]
            )
            docs += await cursor.skip(max(0, skip - n_timed)).limit(limit - len(docs)).to_list(None)
        return Page([Case.from_document(d) for d in docs], n_timed + n_untimed)

    async def _queue_from_rows(self, f: QueueFilter, now: datetime, skip: int, limit: int) -> Page:
        """The queue from its rows (see ``_page_of_rows``)."""
        found = ordered(f, [r for r in await self.rows.rows(f) if selects(f, r, now)])
        return await self._page_of_rows(found, skip, limit, lambda row: selects(f, row, now))

    async def _page_of_rows(
        self, found: list[QueueRow], skip: int, limit: int, still: Callable[[QueueRow], bool]
    ) -> Page:
        """One page of the rows ``found`` (in order): its cases read by ``_id``, each checked against
        its row (a row that disagrees is mended, and the case shown only if the list ``still`` selects
        its own row). A case this process listed before at the version its row has now is shown as it
        was read then: a row is written again whenever anything a page shows of its case changes."""
        listed = found[skip : skip + limit]
        leave_out = dict.fromkeys(QUEUE_LEAVES_OUT, 0)

        async def one(row: QueueRow) -> Case | None:
            known = self._listed.touch(row.case_id)
            if known is not None and row.n and known[0] == row.n:
                return known[1]
            doc = await self.collection.find_one({"_id": row.case_id}, leave_out)
            actual = row_of(doc) if doc is not None else None
            if actual != row:
                log.warning("queue row of case %s disagreed with the case: mended", row.case_id)
                # A case gone from the collection is taken out above any version it had.
                await self.rows.mend(row.case_id, row, actual, int(doc["n"]) if doc else GONE_CASE)
                if actual is None or not still(actual):
                    return None
            if doc is None:
                return None
            case = Case.from_document(doc)
            if actual == row and actual is not None and actual.n == row.n:
                self._listed.put(row.case_id, (row.n, case))
            return case

        items = [c for c in await run_all(one, listed, READ_CONCURRENCY) if c is not None]
        return Page(items, len(found) - (len(listed) - len(items)))

    async def escalated(self, f: EscalationFilter, skip: int, limit: int) -> Page:
        if await self.keeps_rows():
            # From the rows of the cases the agency (or every agency) holds: no query over the cases.
            agencies = [f.agency] if f.agency else [a.value for a in AgencyCode]
            rows = await self.rows.open_rows(agencies)
            found = escalation_ordered(r for r in rows if escalation_selects(f.target, f.agency, r))
            return await self._page_of_rows(
                found, skip, limit, lambda row: escalation_selects(f.target, f.agency, row)
            )
        query: dict[str, Any] = {"escalation.active": True, "escalation.reached": f.target}
        if f.agency:
            query["agency"] = f.agency
        total = await self.collection.count_documents(query)
        cursor = self.collection.find(query, dict.fromkeys(QUEUE_LEAVES_OUT, 0)).sort(
            [("escalation.breached_at", ASCENDING), ("_id", ASCENDING)]
        )
        docs = await cursor.skip(skip).limit(limit).to_list(None)
        return Page([Case.from_document(d) for d in docs], total)

    async def escalation_due(self, now: datetime, limit: int) -> list[Case]:
        query = {"status": {"$in": sorted(CLOCK_RUNNING)}, "due.escalate": {"$lte": now}}
        return await self._find(query, TIMERS_LEAVE_OUT, limit)

    async def acknowledge_overdue(self, now: datetime, limit: int) -> list[Case]:
        query = {
            "status": {"$in": sorted(AWAITING_ACK)},
            "due.acknowledge": {"$lt": now},
            "due.acknowledge_breached": False,
        }
        return await self._find(query, TIMERS_LEAVE_OUT, limit)

    async def resolve_overdue(self, now: datetime, limit: int) -> list[Case]:
        query = {
            # Not while the case waits for the citizen: its deadline stands still then.
            "status": {"$in": sorted(CLOCK_RUNNING)},
            "due.resolve": {"$lt": now},
            "due.resolve_breached": False,
        }
        return await self._find(query, TIMERS_LEAVE_OUT, limit)

    async def due_to_close(self, now: datetime, limit: int) -> list[Case]:
        query = {"status": {"$in": list(CLOSABLE)}, "due.close": {"$lt": now}}
        return await self._find(query, TIMERS_LEAVE_OUT, limit)

    async def count_registered(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        query = scope(reported_between(start, end), duty_session_id, province)
        query["status"] = {"$ne": None}
        return await tally(self.collection, query, "referred")

    async def hops_received(
        self, start: datetime, end: datetime, agency: str | None
    ) -> AsyncIterator[Holding]:
        hop: dict[str, Any] = {"agencies.received_at": span(start, end)}
        if agency:
            hop["agencies.agency"] = agency
        pipeline: list[dict[str, Any]] = [
            {"$match": hop},
            {"$unwind": "$agencies"},
            {"$match": hop},
            {"$project": {"_id": 0, "agencies": 1}},
        ]
        async for doc in _stream(await self.collection.aggregate(pipeline, batchSize=REPORT_BATCH)):
            yield Holding.model_validate(doc["agencies"])

    async def overdue_per_agency(self, now: datetime, agency: str | None) -> dict[str, int]:
        query: dict[str, Any] = {"status": {"$in": sorted(OPEN_AT_AGENCY)}, "due.next": {"$lt": now}}
        if agency:
            query["agency"] = agency
        return {str(k): n for k, n in (await self._count_by(query, "$agency")).items() if k is not None}

    async def county_groups(self, start: datetime, end: datetime) -> list[CountyGroup]:
        query = {**reported_between(start, end), "status": {"$ne": None}}
        key = {"county": "$county", "status": "$status", "referred": "$referred"}
        return [
            CountyGroup(k.get("county"), str(k["status"]), bool(k.get("referred")), n)
            for k, n in (await self._group(query, key))
        ]

    async def overdue_per_county(
        self, start: datetime, end: datetime, now: datetime
    ) -> dict[str | None, int]:
        query = {
            **reported_between(start, end),
            "status": {"$in": sorted(OPEN_AT_AGENCY)},
            "due.next": {"$lt": now},
        }
        return await self._count_by(query, "$county")

    async def resolve_times(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str | None, datetime, datetime]]:
        query = {
            **reported_between(start, end),
            "status": {"$ne": None},
            "resolved_at": {"$ne": None},
            "first_routed_at": {"$ne": None},
        }
        fields = {"_id": 0, "county": 1, "first_routed_at": 1, "resolved_at": 1}
        async for doc in _stream(self.collection.find(query, fields, batch_size=REPORT_BATCH)):
            yield doc.get("county"), doc["first_routed_at"], doc["resolved_at"]

    async def reported(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        fields = {"_id": 0, "call_started_at": 1, "registered_at": 1, "referred": 1}
        cursor = self.collection.find(reported_between(start, end), fields, batch_size=REPORT_BATCH)
        async for doc in _stream(cursor):
            yield doc.get("call_started_at") or doc["registered_at"], bool(doc.get("referred"))

    async def resolved_between(self, start: datetime, end: datetime) -> AsyncIterator[datetime]:
        cursor = self.collection.find(
            {"resolved_at": span(start, end)}, {"_id": 0, "resolved_at": 1}, batch_size=REPORT_BATCH
        )
        async for doc in _stream(cursor):
            yield doc["resolved_at"]

    async def _group(self, query: dict[str, Any], key: Any) -> list[tuple[Any, int]]:
        groups = await (
            await self.collection.aggregate([{"$match": query}, {"$group": {"_id": key, "n": {"$sum": 1}}}])
        ).to_list(None)
        return [(g["_id"], int(g["n"])) for g in groups]

    async def _count_by(self, query: dict[str, Any], key: str) -> dict[Any, int]:
        return dict(await self._group(query, key))

    async def report_candidates(
        self,
        kind: str,
        start: datetime,
        end: datetime,
        *,
        agency: str | None = None,
        session: str | None = None,
    ) -> AsyncIterator[Case]:
        query: dict[str, Any]
        if kind == "session":
            query = {"duty_session_id": session, "status": {"$ne": None}}
        elif kind == "received":
            query = {"agencies.received_at": span(start, end)}
            if agency:
                query["agencies.agency"] = agency
        elif kind == "resolved":
            query = {"resolved_at": span(start, end)}
        elif kind == "every":
            query = {}
        else:
            query = reported_between(start, end)
        cursor = self.collection.find(query, dict.fromkeys(REPORTS_LEAVE_OUT, 0), batch_size=REPORT_BATCH)
        async for doc in _stream(cursor):
            yield Case.from_document(doc)

    async def _find(self, query: dict[str, Any], leave_out: Iterable[str], limit: int = 0) -> list[Case]:
        cursor = self.collection.find(query, dict.fromkeys(leave_out, 0))
        docs = await (cursor.limit(limit) if limit else cursor).to_list(None)
        return [Case.from_document(d) for d in docs]


class InMemoryCaseStore:
    """The ``CaseStore`` fake: documents in a dict, with the Mongo store's write semantics (an insert
    of a case that exists is a conflict, a replace reports the version it found) and its queries.

    Documents go through ``to_document``/``from_document`` as in the database, so a test never shares
    an object with the store. ``race`` holds cases another writer stores between our read and our
    write; ``writes`` and ``loads`` count the documents written and read by the projection,
    ``citizen_reads`` the codes the citizen's lookup asked for."""

    def __init__(self) -> None:
        self.docs: dict[str, dict[str, Any]] = {}
        self.writes = 0
        self.loads: list[str] = []
        self.race: dict[str, Case] = {}
        self.citizen_reads: list[str] = []

    async def ensure_indexes(self) -> None:
        return None

    async def load(self, ids: Iterable[str]) -> dict[str, Case]:
        wanted = list(dict.fromkeys(ids))
        self.loads += wanted
        return {i: Case.from_document(self.docs[i]) for i in wanted if i in self.docs}

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult:
        for cid, rival in list(self.race.items()):
            if cid in cases:
                self.docs[cid] = rival.to_document()
                del self.race[cid]
        result = SaveResult()
        for cid, case in cases.items():
            before = self.docs.get(cid)
            expected = expected_n.get(cid, 0)
            if (expected == 0) != (before is None):
                # An insert found the case there, or a replace found nothing to replace.
                result.conflicts.add(cid)
                continue
            self.docs[cid] = case.to_document()
            self.writes += 1
            if before is not None and before["n"] != expected:
                result.overwritten[cid] = Case.from_document(before)
        return result

    def put(self, *cases: Case) -> None:
        """Store cases as they are (a test's starting state)."""
        for case in cases:
            self.docs[case.id] = case.to_document()

    async def get(self, case_id: str) -> Case | None:
        doc = self.docs.get(case_id)
        return Case.from_document(doc) if doc else None

    async def by_citizen(self, key: str, limit: int) -> list[Case]:
        return newest_first([c for c in self._all() if key in citizen_keys(c)], limit)

    async def by_tracking_code(self, code: str) -> Case | None:
        for doc in self.docs.values():
            if doc.get("tracking_code") == code and doc.get("status") is not None:
                return Case.from_document(doc)
        return None

    async def citizen_of(self, code: str) -> CitizenRef | None:
        self.citizen_reads.append(code)
        case = await self.by_tracking_code(code)
        if case is None:
            return None
        return CitizenRef(
            case.id,
            case.citizen.phone if case.citizen else None,
            case.citizen.phone_sealed if case.citizen else None,
        )

    def _all(self, leave_out: Iterable[str] = ()) -> list[Case]:
        gone = set(leave_out)
        return [Case.from_document({k: v for k, v in d.items() if k not in gone}) for d in self.docs.values()]

    async def queue(self, f: QueueFilter, now: datetime, skip: int, limit: int) -> Page:
        rows = [r for r in (row_of(d) for d in self.docs.values()) if r is not None and selects(f, r, now)]
        found = ordered(f, rows)
        gone = set(QUEUE_LEAVES_OUT)
        page = [
            Case.from_document({k: v for k, v in self.docs[r.case_id].items() if k not in gone})
            for r in found[skip : skip + limit]
        ]
        return Page(page, len(found))

    async def escalated(self, f: EscalationFilter, skip: int, limit: int) -> Page:
        found = [
            c
            for c in self._all(QUEUE_LEAVES_OUT)
            if c.escalation is not None
            and c.escalation.active
            and f.target in c.escalation.reached
            and (not f.agency or c.agency == f.agency)
        ]
        found.sort(key=lambda c: (c.escalation.breached_at if c.escalation else now_min(), c.id))
        return Page(found[skip : skip + limit], len(found))

    async def escalation_due(self, now: datetime, limit: int) -> list[Case]:
        return [
            c
            for c in self._all(TIMERS_LEAVE_OUT)
            if c.status in CLOCK_RUNNING and c.due.escalate is not None and c.due.escalate <= now
        ][:limit]

    async def acknowledge_overdue(self, now: datetime, limit: int) -> list[Case]:
        return [
            c
            for c in self._all(TIMERS_LEAVE_OUT)
            if c.status in AWAITING_ACK
            and c.due.acknowledge is not None
            and c.due.acknowledge < now
            and not c.due.acknowledge_breached
        ][:limit]

    async def resolve_overdue(self, now: datetime, limit: int) -> list[Case]:
        return [
            c
            for c in self._all(TIMERS_LEAVE_OUT)
            if c.status in CLOCK_RUNNING
            and c.due.resolve is not None
            and c.due.resolve < now
            and not c.due.resolve_breached
        ][:limit]

    async def due_to_close(self, now: datetime, limit: int) -> list[Case]:
        return [
            c
            for c in self._all(TIMERS_LEAVE_OUT)
            if c.status in CLOSABLE and c.due.close is not None and c.due.close < now
        ][:limit]

    async def count_registered(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[int, int]:
        found = [
            c
            for c in self._all(REPORTS_LEAVE_OUT)
            if c.status is not None
            and (
                c.duty_session_id == duty_session_id if duty_session_id else within(c.reported_at, start, end)
            )
            and (not province or c.province == province)
        ]
        return len(found), sum(1 for c in found if c.referred)

    async def hops_received(
        self, start: datetime, end: datetime, agency: str | None
    ) -> AsyncIterator[Holding]:
        for case in self._all(REPORTS_LEAVE_OUT):
            for hop in case.agencies:
                if within(hop.received_at, start, end) and (not agency or hop.agency == agency):
                    yield hop

    async def overdue_per_agency(self, now: datetime, agency: str | None) -> dict[str, int]:
        return dict(
            Counter(
                c.agency
                for c in self._all(REPORTS_LEAVE_OUT)
                if c.agency and c.is_overdue(now) and (not agency or c.agency == agency)
            )
        )

    def _reported(self, start: datetime, end: datetime) -> list[Case]:
        return [c for c in self._all(REPORTS_LEAVE_OUT) if within(c.reported_at, start, end)]

    async def county_groups(self, start: datetime, end: datetime) -> list[CountyGroup]:
        groups = Counter(
            (c.county, str(c.status), c.referred) for c in self._reported(start, end) if c.status is not None
        )
        return [CountyGroup(county, status, referred, n) for (county, status, referred), n in groups.items()]

    async def overdue_per_county(
        self, start: datetime, end: datetime, now: datetime
    ) -> dict[str | None, int]:
        return dict(Counter(c.county for c in self._reported(start, end) if c.is_overdue(now)))

    async def resolve_times(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str | None, datetime, datetime]]:
        for c in self._reported(start, end):
            if c.status is not None and c.resolved_at is not None and c.first_routed_at is not None:
                yield c.county, c.first_routed_at, c.resolved_at

    async def reported(self, start: datetime, end: datetime) -> AsyncIterator[tuple[datetime, bool]]:
        for c in self._reported(start, end):
            assert c.reported_at is not None
            yield c.reported_at, c.referred

    async def resolved_between(self, start: datetime, end: datetime) -> AsyncIterator[datetime]:
        for c in self._all(REPORTS_LEAVE_OUT):
            if c.resolved_at is not None and within(c.resolved_at, start, end):
                yield c.resolved_at

    async def report_candidates(
        self,
        kind: str,
        start: datetime,
        end: datetime,
        *,
        agency: str | None = None,
        session: str | None = None,
    ) -> AsyncIterator[Case]:
        for c in self._all(REPORTS_LEAVE_OUT):
            if kind == "session":
                wanted = c.duty_session_id == session and c.status is not None
            elif kind == "received":
                wanted = any(within(h.received_at, start, end) for h in c.agencies) and (
                    not agency or any(h.agency == agency for h in c.agencies)
                )
            elif kind == "resolved":
                wanted = within(c.resolved_at, start, end)
            elif kind == "every":
                wanted = True
            else:
                wanted = within(c.reported_at, start, end)
            if wanted:
                yield c


class HeldCases:
    """A ``CaseWriter`` over the cases a rebuild holds in memory: loads what the rebuild holds, and
    keeps what the projection saves (``saved``) for the rebuild to write. No other writer touches a
    shadow collection, so a save never conflicts; the cases are kept as the very objects given, which
    lets the projection change them in place."""

    def __init__(self, cases: Mapping[str, Case]) -> None:
        self.cases = dict(cases)
        self.saved: dict[str, Case] = {}

    async def load(self, ids: Iterable[str]) -> dict[str, Case]:
        return {i: self.cases[i] for i in ids if i in self.cases}

    async def save(self, cases: Mapping[str, Case], expected_n: Mapping[str, int]) -> SaveResult:
        self.saved.update(cases)
        self.cases.update(cases)
        return SaveResult()
