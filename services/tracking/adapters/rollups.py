"""Where the reports' daily rollups live: the ``RollupStore`` port, its MongoDB implementation and its
in-memory fake.

Every write is an insert or a write by ``_id``, and every read is by ``_id`` but for one collection
that stays small. FerretDB v1 rewrites a whole document to change one field, and two changes of one
document at once may lose one of them, so no document here is changed by two writers:
- ``report_days`` keeps, per *bucket* (a Tehran day, ``2026-11-22``, or a duty session,
  ``session:<id>``), what the reports read of the cases and calls in it (``domain.rollups.CaseFacts``:
  one text per case or call, with the case's version; of two texts of a case the higher version wins,
  so a replayed event changes nothing). Only a fold writes it, one replica per generation.
- ``report_days_new``: each projection batch inserts one small document per bucket it touches, with
  the facts it is about to write. A bucket is *dirty* while it has some. The collection holds only
  what is not folded yet, so reading it whole is cheap.
- A fold puts a bucket's new facts into its document: the figures first (``report_rollups``, and the
  open cases' deadlines apart in ``report_rollups_open``, which the per-agency report reads for every
  day), then the document at the next generation, then it removes the new facts it folded. A reader
  lists the new facts first and reads the bucket's document after, so what a fold removed meanwhile
  is in the document it reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.common.bounded import run_all
from services.common.mongo import once_more_if_created_meanwhile
from services.tracking.domain.rollups import CallFacts, CaseFacts, DayFigures, merge

DAYS = "report_days"
META = "_meta"  # the one document of ``report_days`` that is no bucket: the version of the others
WRITE_CONCURRENCY = 4
READ_CONCURRENCY = 16

# Each text keyed by its case's or call's id.
Texts = Mapping[str, str]


@dataclass(frozen=True)
class DayFacts:
    """What the reports read of the cases and calls in a bucket."""

    cases: list[CaseFacts] = field(default_factory=list)
    calls: list[CallFacts] = field(default_factory=list)


@dataclass(frozen=True)
class NewFacts:
    """One batch's facts of one bucket, not folded yet."""

    id: str
    bucket: str
    cases: dict[str, str]
    calls: dict[str, str]


@dataclass(frozen=True)
class Bucket:
    """A bucket's document: its facts as of its last fold, and that fold's generation (0: none yet)."""

    generation: int = 0
    cases: dict[str, str] = field(default_factory=dict)
    calls: dict[str, str] = field(default_factory=dict)


def day_bucket(day: date) -> str:
    return day.isoformat()


def session_bucket(session_id: str) -> str:
    """A duty session's bucket (a day's is ``2026-11-22``, never so)."""
    return f"session:{session_id}"


def bucket_day(bucket: str) -> date | None:
    """The day of a day's bucket; None for a session's."""
    return None if bucket.startswith("session:") else date.fromisoformat(bucket)


def field_name(item_id: str) -> str:
    """An id as a field name: MongoDB reads a dot as a path and refuses a leading dollar."""
    return item_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


def merged(base: Bucket | None, news: Iterable[NewFacts]) -> tuple[dict[str, str], dict[str, str]]:
    """A bucket's facts: its document's, with its new facts over them."""
    cases = dict(base.cases) if base is not None else {}
    calls = dict(base.calls) if base is not None else {}
    for new in news:
        merge(cases, new.cases)
        merge(calls, new.calls)
    return cases, calls


def facts_of(cases: Mapping[str, str], calls: Mapping[str, str]) -> DayFacts:
    return DayFacts(
        [CaseFacts.from_text(t) for t in cases.values()], [CallFacts.from_text(t) for t in calls.values()]
    )


class RollupStore(Protocol):
    async def add(self, buckets: Mapping[str, tuple[Texts, Texts]], token: str) -> None:
        """Keep one batch's facts (``to_text``) of the cases and calls in each bucket, apart until a
        fold; ``token`` is unique to the batch."""
        ...

    async def pending(self) -> dict[str, list[NewFacts]]:
        """Every bucket's new facts not folded yet, oldest first."""
        ...

    async def base(self, bucket: str) -> Bucket | None:
        """A bucket's document (None: never folded)."""
        ...

    async def fold(self, bucket: str, into: Bucket, folded: list[NewFacts]) -> None:
        """Write ``into`` as the bucket's document (the next generation), then remove ``folded``."""
        ...

    async def save(self, day: date, figures: DayFigures, generation: int) -> None:
        """Store ``day``'s figures, made for the fold to ``generation``."""
        ...

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        """The stored rollups of these days (a day without one is left out)."""
        ...

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        """Every day's open cases' next deadlines per agency, as of its last fold."""
        ...

    async def clear(self) -> None:
        """Forget every bucket (before they are all filled again from the cases and calls kept)."""
        ...

    async def version(self) -> int | None:
        """The version of the buckets' documents kept (None: none kept, or from before versions)."""
        ...

    async def set_version(self, version: int) -> None: ...


def _texts(raw: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(k): str(v) for k, v in (raw or {}).items()}


class MongoRollupStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], prefix: str = DAYS) -> None:
        self.days = db[prefix]
        self.new = db[f"{prefix}_new"]
        self.rollups = db["report_rollups"]
        self.open = db["report_rollups_open"]

    async def add(self, buckets: Mapping[str, tuple[Texts, Texts]], token: str) -> None:
        docs = [
            {
                "_id": f"{bucket}|{token}",
                "bucket": bucket,
                "cases": {field_name(i): t for i, t in cases.items()},
                "calls": {field_name(i): t for i, t in calls.items()},
            }
            for bucket, (cases, calls) in sorted(buckets.items())
            if cases or calls
        ]
        if docs:
            await self.new.insert_many(docs, ordered=False)

    async def pending(self) -> dict[str, list[NewFacts]]:
        found: dict[str, list[NewFacts]] = defaultdict(list)
        async for d in self.new.find({}):
            found[d["bucket"]].append(
                NewFacts(d["_id"], d["bucket"], _texts(d.get("cases")), _texts(d.get("calls")))
            )
        for news in found.values():
            news.sort(key=lambda n: n.id)
        return dict(found)

    async def base(self, bucket: str) -> Bucket | None:
        doc = await self.days.find_one({"_id": bucket})
        if doc is None:
            return None
        return Bucket(int(doc.get("generation") or 0), _texts(doc.get("cases")), _texts(doc.get("calls")))

    async def fold(self, bucket: str, into: Bucket, folded: list[NewFacts]) -> None:
        doc = {"_id": bucket, "generation": into.generation, "cases": into.cases, "calls": into.calls}
        await once_more_if_created_meanwhile(lambda: self.days.replace_one({"_id": bucket}, doc, upsert=True))
        await run_all(lambda n: self.new.delete_one({"_id": n.id}), folded, WRITE_CONCURRENCY)

    async def save(self, day: date, figures: DayFigures, generation: int) -> None:
        key = day.isoformat()
        dues = DayFigures(agency_dues=figures.agency_dues).to_json()
        rollup = {"_id": key, "generation": generation, "figures": figures.to_json()}
        await once_more_if_created_meanwhile(
            lambda: self.open.replace_one({"_id": key}, {"_id": key, "dues": dues}, upsert=True)
        )
        await once_more_if_created_meanwhile(
            lambda: self.rollups.replace_one({"_id": key}, rollup, upsert=True)
        )

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        async def one(day: date) -> tuple[date, dict[str, Any] | None]:
            return day, await self.rollups.find_one({"_id": day.isoformat()})

        found = await run_all(one, list(days), READ_CONCURRENCY)
        return {day: DayFigures.from_json(doc["figures"]) for day, doc in found if doc is not None}

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        return {
            date.fromisoformat(d["_id"]): DayFigures.from_json(d["dues"]).agency_dues
            async for d in self.open.find({})
        }

    async def clear(self) -> None:
        for collection in (self.days, self.new, self.rollups, self.open):
            await collection.delete_many({})

    async def version(self) -> int | None:
        doc = await self.days.find_one({"_id": META})
        return int(doc["version"]) if doc is not None else None

    async def set_version(self, version: int) -> None:
        await self.days.replace_one({"_id": META}, {"_id": META, "version": version}, upsert=True)


class InMemoryRollupStore:
    """The ``RollupStore`` fake: the same documents in dicts (facts and figures kept as their text)."""

    def __init__(self) -> None:
        self.days: dict[str, Bucket] = {}
        self.new: dict[str, NewFacts] = {}
        self.stored: dict[date, tuple[int, str]] = {}  # day -> (generation, figures JSON)
        self.kept_version: int | None = None

    async def add(self, buckets: Mapping[str, tuple[Texts, Texts]], token: str) -> None:
        for bucket, (cases, calls) in buckets.items():
            if cases or calls:
                new_id = f"{bucket}|{token}"
                self.new[new_id] = NewFacts(new_id, bucket, dict(cases), dict(calls))

    async def pending(self) -> dict[str, list[NewFacts]]:
        found: dict[str, list[NewFacts]] = defaultdict(list)
        for new_id in sorted(self.new):
            found[self.new[new_id].bucket].append(self.new[new_id])
        return dict(found)

    async def base(self, bucket: str) -> Bucket | None:
        return self.days.get(bucket)

    async def fold(self, bucket: str, into: Bucket, folded: list[NewFacts]) -> None:
        self.days[bucket] = into
        for new in folded:
            self.new.pop(new.id, None)

    async def save(self, day: date, figures: DayFigures, generation: int) -> None:
        self.stored[day] = (generation, figures.to_json())

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        return {d: DayFigures.from_json(self.stored[d][1]) for d in days if d in self.stored}

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        return {d: DayFigures.from_json(text).agency_dues for d, (_g, text) in self.stored.items()}

    async def clear(self) -> None:
        self.days.clear()
        self.new.clear()
        self.stored.clear()
        self.kept_version = None

    async def version(self) -> int | None:
        return self.kept_version

    async def set_version(self, version: int) -> None:
        self.kept_version = version
