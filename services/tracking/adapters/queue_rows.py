"""The agencies' queues kept as rows beside the cases, read by ``_id``: the inbox on FerretDB v1.

FerretDB v1 (SQLite) answers any query but one on ``_id`` by reading and decoding every case (about
1.4 ms of its CPU per case here): with 6,000 cases an inbox page took seconds. MongoDB serves the same
query from the ``agency_*`` indexes, so the rows are kept only where the server would scan (see
``services.common.mongo.serves_secondary_indexes``).

``<cases>_queue`` holds each case the queues list as a row (``domain.queue.QueueRow``), in documents
read by ``_id``:

- ``<agency>|open|<k>``: the cases the agency holds, spread over ``OPEN_SLOTS`` documents by a hash
  of the case id (a case stays in its slot while open at the agency, whatever else changes);
- ``<agency>|done|<YYYY-MM>``: the cases it no longer holds (resolved, rejected, closed), by the month
  of registration, listed in ``<agency>|months``;
- ``_meta``: present once every case has its row (written after a full build).

Each save of cases writes their rows first (``$set`` of ``rows.<case id>``, one update per slot
document) and, once the cases are written, takes a case out of the slot it left (``$unset``); a
retried batch writes the same rows again. Each page read checks the cases it shows against their
rows and mends a row that disagrees (a save that failed between the two steps).
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.common.bounded import cancel_all, run_all
from services.common.mongo import upsert
from services.tracking.domain.queue import QueueFilter, QueueRow, row_of

log = logging.getLogger("samad.tracking.store")

OPEN_SLOTS = 8
META = "_meta"
VERSION = 4  # 3: packed rows and changes by version; 4: with the case's active escalation
# A slot's changes folded into its packed rows once a read finds more than this many.
COMPACT_AFTER = 64
LINE, FIELD = "\n", "\x1e"  # between packed rows, and between a row's id, version and fields
GONE = ""  # a change taking a case out of a slot
READ_CONCURRENCY = 8
WRITE_CONCURRENCY = 4
BUILD_CHUNK = 2_000
# What a build reads of each case: the row's fields.
ROW_FIELDS = {
    "n": 1,
    "agency": 1,
    "status": 1,
    "county": 1,
    "assignee.id": 1,
    "registered_at": 1,
    "due.next": 1,
    "escalation.active": 1,
    "escalation.reached": 1,
    "escalation.breached_at": 1,
}


def slot_of(row: QueueRow) -> str:
    if row.open:
        return f"{row.agency}|open|{zlib.crc32(row.case_id.encode()) % OPEN_SLOTS}"
    month = row.registered_at.strftime("%Y-%m") if row.registered_at else "none"
    return f"{row.agency}|done|{month}"


def _months_id(agency: str) -> str:
    return f"{agency}|months"


class MongoQueueRows:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], cases_collection: str) -> None:
        self.collection = db[f"{cases_collection}_queue"]
        self._complete = False
        self._compacting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def complete(self) -> bool:
        """Whether every case has its row, as this version stores it (the build ran); remembered
        once seen."""
        if not self._complete:
            meta = await self.collection.find_one({"_id": META})
            self._complete = meta is not None and meta.get("version") == VERSION
        return self._complete

    async def outdated(self) -> bool:
        """Whether rows of another version are kept (to be dropped and built again)."""
        meta = await self.collection.find_one({"_id": META})
        return meta is not None and meta.get("version") != VERSION

    # --- writing ------------------------------------------------------------------------------------

    async def put(self, rows: Iterable[tuple[QueueRow, int]]) -> None:
        """Write these rows (each with its case's version ``n``) in their slots, before the cases they
        come from are written."""
        sets: dict[str, dict[str, Any]] = defaultdict(dict)
        months: dict[str, set[str]] = defaultdict(set)
        for row, n in rows:
            slot = slot_of(row)
            sets[slot][f"delta.{row.case_id}~{n}"] = row.packed()
            if not row.open:
                months[row.agency].add(slot.rsplit("|", 1)[1])
        await self._update({slot: {"$set": s} for slot, s in sets.items()})
        await self._list_months(months)

    async def _list_months(self, months: Mapping[str, set[str]]) -> None:
        """Add these months (per agency) to the agency's list of its finished cases' slots."""
        await self._update(
            {_months_id(a): {"$addToSet": {"months": {"$each": sorted(m)}}} for a, m in months.items()}
        )

    async def moved(self, left: Iterable[tuple[str, str, int]]) -> None:
        """Take each case out of a slot it has left (``left``: case id, that slot, and the case's
        version now, above every version of it in that slot)."""
        sets: dict[str, dict[str, str]] = defaultdict(dict)
        for case_id, slot, n in left:
            sets[slot][f"delta.{case_id}~{n}"] = GONE
        await self._update({slot: {"$set": u} for slot, u in sets.items()})

    async def _update(self, updates: Mapping[str, dict[str, Any]]) -> None:
        async def one(item: tuple[str, dict[str, Any]]) -> None:
            await upsert(self.collection, item[0], item[1])

        await run_all(one, list(updates.items()), WRITE_CONCURRENCY)

    # --- reading ------------------------------------------------------------------------------------

    async def rows(self, f: QueueFilter) -> list[QueueRow]:
        """The rows of the slots the filter can select from (the filter itself is the caller's)."""
        slots: list[str] = []
        if not f.finished_only:
            slots += [f"{f.agency}|open|{k}" for k in range(OPEN_SLOTS)]
        if not f.open_only:
            listed = await self.collection.find_one({"_id": _months_id(f.agency)})
            for month in sorted((listed or {}).get("months") or []):
                if _month_may_hold(month, f.registered_from, f.registered_to):
                    slots.append(f"{f.agency}|done|{month}")
        return await self._read(slots)

    async def open_rows(self, agencies: Iterable[str]) -> list[QueueRow]:
        """The rows of every case these agencies hold (an active escalation is always on one)."""
        return await self._read([f"{a}|open|{k}" for a in agencies for k in range(OPEN_SLOTS)])

    async def _read(self, slots: list[str]) -> list[QueueRow]:
        async def read(slot: str) -> dict[str, Any] | None:
            return await self.collection.find_one({"_id": slot})

        found: dict[str, QueueRow] = {}
        for slot, doc in zip(slots, await run_all(read, slots, READ_CONCURRENCY), strict=True):
            if doc is None:
                continue
            if len(doc.get("delta") or {}) > COMPACT_AFTER:
                self._compact_soon(slot)
            for case_id, (n, packed) in merged(doc).items():
                if packed == GONE:
                    continue
                row = QueueRow.unpacked(case_id, packed, n)
                # A case briefly in two slots (between a save's two steps) counts once, as open.
                if case_id not in found or row.open:
                    found[case_id] = row
        return list(found.values())

    async def mend(self, case_id: str, stale: QueueRow, now: QueueRow | None, n: int) -> None:
        """A row found to disagree with its case (at version ``n``): the case's own row written, the
        stale one removed."""
        if now is not None:
            await self.put([(now, n)])
        if now is None or slot_of(now) != slot_of(stale):
            await self.moved([(case_id, slot_of(stale), n)])

    # --- compacting ---------------------------------------------------------------------------------

    def _compact_soon(self, slot: str) -> None:
        if slot in self._compacting:
            return
        self._compacting.add(slot)
        task = asyncio.create_task(self._compact(slot), name=f"queue-rows-compact:{slot}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _compact(self, slot: str) -> None:
        """Fold a slot's changes into its packed rows. Conditional on the packed rows' generation: two
        compactions of one slot at once (two replicas) cannot both fold, and a change written
        meanwhile has a key of its own that the fold does not remove."""
        try:
            doc = await self.collection.find_one({"_id": slot})
            if doc is None:
                return
            folded = list((doc.get("delta") or {}).keys())
            generation = doc.get("generation")
            await self.collection.update_one(
                {"_id": slot, "generation": generation},
                {
                    "$set": {"packed": pack(merged(doc)), "generation": (generation or 0) + 1},
                    "$unset": {f"delta.{k}": "" for k in folded},
                },
            )
        except Exception:  # a later read tries again; the rows stay right meanwhile
            log.warning("compacting the queue rows of %s failed", slot, exc_info=True)
        finally:
            self._compacting.discard(slot)

    async def close(self) -> None:
        await cancel_all(self._tasks)

    # --- building -----------------------------------------------------------------------------------

    async def build(self, cases: Any, *, fresh: bool) -> int:
        """Give every case of ``cases`` (the case collection) its row, then mark the rows complete; how
        many rows. ``fresh``: the rows kept so far are dropped first (after a rebuild replaced the
        cases, with the consumers stopped); otherwise each slot's packed rows are replaced by the
        cases' own (a change written meanwhile, of a later version, still counts)."""
        if fresh:
            await self.collection.delete_many({})
            self._complete = False
        slots: dict[str, dict[str, tuple[int, str]]] = defaultdict(dict)
        months: dict[str, set[str]] = defaultdict(set)
        async for doc in cases.find({}, ROW_FIELDS, batch_size=BUILD_CHUNK):
            row = row_of(doc)
            if row is not None:
                slot = slot_of(row)
                slots[slot][row.case_id] = (int(doc.get("n") or 0), row.packed())
                if not row.open:
                    months[row.agency].add(slot.rsplit("|", 1)[1])
        await self._update({slot: {"$set": {"packed": pack(rows)}} for slot, rows in slots.items()})
        await self._list_months(months)
        total = sum(len(rows) for rows in slots.values())
        await self.collection.update_one(
            {"_id": META}, {"$set": {"version": VERSION, "rows": total}}, upsert=True
        )
        self._complete = True
        return total


def merged(doc: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    """A slot document's rows: its packed rows with its later changes over them, each case at its
    highest version (``GONE``: taken out)."""
    rows: dict[str, tuple[int, str]] = {}
    for line in (doc.get("packed") or "").split(LINE):
        if line:
            case_id, n, packed = line.split(FIELD, 2)
            rows[case_id] = (int(n), packed)
    for key, packed in (doc.get("delta") or {}).items():
        case_id, _, version = key.rpartition("~")
        n = int(version)
        if case_id not in rows or n >= rows[case_id][0]:
            rows[case_id] = (n, packed)
    return rows


def pack(rows: Mapping[str, tuple[int, str]]) -> str:
    """Rows as one string: a line per case (id, version, packed row); those taken out are left out."""
    return LINE.join(f"{cid}{FIELD}{n}{FIELD}{packed}" for cid, (n, packed) in rows.items() if packed != GONE)


def _month_may_hold(month: str, start: datetime | None, end: datetime | None) -> bool:
    """Whether a month's slot (``YYYY-MM``, or ``none``) can hold a case registered in [start, end)."""
    if start is None and end is None:
        return True
    if month == "none":
        return False
    if start is not None and month < start.strftime("%Y-%m"):
        return False
    return end is None or month <= end.strftime("%Y-%m")
