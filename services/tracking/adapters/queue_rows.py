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

import zlib
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo.asynchronous.database import AsyncDatabase

from services.common.bounded import run_all
from services.common.mongo import upsert
from services.tracking.domain.queue import QueueFilter, QueueRow, row_of

OPEN_SLOTS = 8
META = "_meta"
VERSION = 2  # 2: each row one packed string
READ_CONCURRENCY = 8
WRITE_CONCURRENCY = 4
BUILD_CHUNK = 2_000
# What a build reads of each case: the row's fields.
ROW_FIELDS = {"agency": 1, "status": 1, "county": 1, "assignee.id": 1, "registered_at": 1, "due.next": 1}


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

    async def put(self, rows: Iterable[QueueRow]) -> None:
        """Write these rows in their slots (before the cases they come from are written)."""
        sets: dict[str, dict[str, Any]] = defaultdict(dict)
        months: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            slot = slot_of(row)
            sets[slot][f"rows.{row.case_id}"] = row.packed()
            if not row.open:
                months[row.agency].add(slot.rsplit("|", 1)[1])
        await self._update({slot: {"$set": s} for slot, s in sets.items()})
        await self._update(
            {_months_id(a): {"$addToSet": {"months": {"$each": sorted(m)}}} for a, m in months.items()}
        )

    async def moved(self, left: Iterable[tuple[str, str]]) -> None:
        """Take each case out of a slot it has left (``left``: case id and that slot)."""
        unsets: dict[str, dict[str, str]] = defaultdict(dict)
        for case_id, slot in left:
            unsets[slot][f"rows.{case_id}"] = ""
        await self._update({slot: {"$unset": u} for slot, u in unsets.items()})

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

        async def read(slot: str) -> dict[str, Any] | None:
            return await self.collection.find_one({"_id": slot})

        found: dict[str, QueueRow] = {}
        for doc in await run_all(read, slots, READ_CONCURRENCY):
            for case_id, packed in ((doc or {}).get("rows") or {}).items():
                row = QueueRow.unpacked(case_id, packed)
                # A case briefly in two slots (between a save's two steps) counts once, as open.
                if case_id not in found or row.open:
                    found[case_id] = row
        return list(found.values())

    async def mend(self, case_id: str, stale: QueueRow, now: QueueRow | None) -> None:
        """A row found to disagree with its case: the case's own row written, the stale one removed."""
        if now is not None:
            await self.put([now])
        if now is None or slot_of(now) != slot_of(stale):
            await self.moved([(case_id, slot_of(stale))])

    # --- building -----------------------------------------------------------------------------------

    async def build(self, cases: Any, *, fresh: bool) -> int:
        """Give every case of ``cases`` (the case collection) its row, then mark the rows complete; how
        many rows. ``fresh``: the rows kept so far are dropped first (after a rebuild replaced the
        cases, with the consumers stopped); otherwise rows are only added or overwritten."""
        if fresh:
            await self.collection.delete_many({})
            self._complete = False
        chunk: list[QueueRow] = []
        n = 0
        async for doc in cases.find({}, ROW_FIELDS, batch_size=BUILD_CHUNK):
            row = row_of(doc)
            if row is not None:
                chunk.append(row)
            if len(chunk) >= BUILD_CHUNK:
                await self.put(chunk)
                n, chunk = n + len(chunk), []
        await self.put(chunk)
        await self.collection.update_one(
            {"_id": META}, {"$set": {"version": VERSION, "rows": n + len(chunk)}}, upsert=True
        )
        self._complete = True
        return n + len(chunk)


def _month_may_hold(month: str, start: datetime | None, end: datetime | None) -> bool:
    """Whether a month's slot (``YYYY-MM``, or ``none``) can hold a case registered in [start, end)."""
    if start is None and end is None:
        return True
    if month == "none":
        return False
    if start is not None and month < start.strftime("%Y-%m"):
        return False
    return end is None or month <= end.strftime("%Y-%m")
