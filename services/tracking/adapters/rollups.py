"""Where the reports' daily rollups live: the ``RollupStore`` port, its MongoDB implementation and its
in-memory fake.

Four collections, every read and write by ``_id`` (the day, ``2026-11-22``) but for the list of dirty
days, which is small: ``report_days`` keeps what the reports read of the cases and calls that touch
each day (``domain.rollups.CaseFacts``, one field per case or call, set again with each change, so a
replayed event changes nothing and a day is computed from its one document), ``report_days_dirty`` holds a token for each day
changed since its rollup was made, ``report_rollups`` the rollups (the figures as one JSON text, which
FerretDB reads far faster than the same numbers as arrays), and ``report_rollups_open`` each day's
open cases' deadlines, apart, because the per-agency report reads them for every day.

Tokens order the marks in time (microseconds, then a random tag): a rollup records the token it was
made for, and a save that finds a later token in place reports it, so an older recomputation that
lost a race never stands as the latest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from pymongo.asynchronous.database import AsyncDatabase

from services.common.bounded import run_all
from services.common.mongo import once_more_if_created_meanwhile, upsert
from services.tracking.domain.rollups import CallFacts, CaseFacts, DayFigures

DAYS = "report_days"
META = "_meta"  # the one document of ``report_days`` that is not a day: the version of the others
WRITE_CONCURRENCY = 4
READ_CONCURRENCY = 16


@dataclass(frozen=True)
class DayFacts:
    """What the reports read of the cases and calls that touch a day."""

    cases: list[CaseFacts] = field(default_factory=list)
    calls: list[CallFacts] = field(default_factory=list)


# Each text keyed by its case's or call's id.
Texts = Mapping[str, str]


def field_name(item_id: str) -> str:
    """An id as a field name: MongoDB reads a dot as a path and refuses a leading dollar."""
    return item_id.replace("%", "%25").replace(".", "%2E").replace("$", "%24")


class RollupStore(Protocol):
    async def mark(self, cases: Mapping[date, Texts], calls: Mapping[date, Texts], token: str) -> None:
        """Keep the facts (``to_text``) of the cases and calls touching each day, and note that those
        days changed (``token``)."""
        ...

    async def dirty(self) -> dict[date, str]:
        """The days changed since their rollup, with the latest token of each."""
        ...

    async def facts(self, day: date) -> DayFacts: ...

    async def keep_sessions(self, cases: Mapping[str, Texts], calls: Mapping[str, Texts]) -> None:
        """Keep the facts of the cases and calls of each duty session (by its id)."""
        ...

    async def session_facts(self, session_id: str) -> DayFacts: ...

    async def save(self, day: date, figures: DayFigures, token: str) -> str | None:
        """Store ``day``'s rollup made for ``token``; the token of the rollup it replaced."""
        ...

    async def clean(self, day: date, token: str) -> None:
        """The day is clean, unless it was marked again after ``token``."""
        ...

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        """The stored rollups of these days (a day without one is left out)."""
        ...

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        """Every day's open cases' next deadlines per agency."""
        ...

    async def clear(self) -> None:
        """Forget every day (before they are all marked again from the cases and calls kept)."""
        ...

    async def version(self) -> int | None:
        """The version of the days' documents kept (None: none kept, or from before versions)."""
        ...

    async def set_version(self, version: int) -> None: ...


def session_key(session_id: str) -> str:
    """A duty session's document in ``report_days`` (days are ``2026-11-22``, never so)."""
    return f"session:{session_id}"


def _day(text: str) -> date:
    return date.fromisoformat(text)


def _day_facts(doc: dict[str, Any] | None) -> DayFacts:
    if doc is None:
        return DayFacts()
    return DayFacts(
        [CaseFacts.from_text(t) for t in (doc.get("cases") or {}).values()],
        [CallFacts.from_text(t) for t in (doc.get("calls") or {}).values()],
    )


class MongoRollupStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], prefix: str = DAYS) -> None:
        self.days = db[prefix]
        self.dirty_days = db[f"{prefix}_dirty"]
        self.rollups = db["report_rollups"]
        self.open = db["report_rollups_open"]

    async def mark(self, cases: Mapping[date, Texts], calls: Mapping[date, Texts], token: str) -> None:
        touched = sorted(set(cases) | set(calls))
        if not touched:
            return

        async def keep(day: date) -> None:
            sets = {f"cases.{field_name(i)}": text for i, text in cases.get(day, {}).items()}
            sets |= {f"calls.{field_name(i)}": text for i, text in calls.get(day, {}).items()}
            if sets:
                await upsert(self.days, day.isoformat(), {"$set": sets})

        await run_all(keep, touched, WRITE_CONCURRENCY)

        # Marked dirty after the facts are in: a recomputation that sees the token sees them.
        async def dirty(day: date) -> None:
            await upsert(self.dirty_days, day.isoformat(), {"$set": {"token": token}})

        await run_all(dirty, touched, WRITE_CONCURRENCY)

    async def dirty(self) -> dict[date, str]:
        return {_day(d["_id"]): str(d["token"]) async for d in self.dirty_days.find({})}

    async def facts(self, day: date) -> DayFacts:
        return _day_facts(await self.days.find_one({"_id": day.isoformat()}))

    async def keep_sessions(self, cases: Mapping[str, Texts], calls: Mapping[str, Texts]) -> None:
        async def keep(session_id: str) -> None:
            sets = {f"cases.{field_name(i)}": text for i, text in cases.get(session_id, {}).items()}
            sets |= {f"calls.{field_name(i)}": text for i, text in calls.get(session_id, {}).items()}
            await upsert(self.days, session_key(session_id), {"$set": sets})

        await run_all(keep, sorted(set(cases) | set(calls)), WRITE_CONCURRENCY)

    async def session_facts(self, session_id: str) -> DayFacts:
        return _day_facts(await self.days.find_one({"_id": session_key(session_id)}))

    async def save(self, day: date, figures: DayFigures, token: str) -> str | None:
        key = day.isoformat()
        dues = {"_id": key, "token": token, "dues": DayFigures(agency_dues=figures.agency_dues).to_json()}
        rollup = {"_id": key, "token": token, "figures": figures.to_json()}
        # Two replicas may make a new day's first rollup at once: the second replaces the first's.
        await once_more_if_created_meanwhile(lambda: self.open.replace_one({"_id": key}, dues, upsert=True))
        before = await once_more_if_created_meanwhile(
            lambda: self.rollups.find_one_and_replace({"_id": key}, rollup, upsert=True)
        )
        return None if before is None else str(before.get("token"))

    async def clean(self, day: date, token: str) -> None:
        # A filter beyond _id reads the whole collection on FerretDB: this one holds only dirty days.
        await self.dirty_days.delete_one({"_id": day.isoformat(), "token": token})

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        async def one(day: date) -> tuple[date, dict[str, Any] | None]:
            return day, await self.rollups.find_one({"_id": day.isoformat()})

        found = await run_all(one, list(days), READ_CONCURRENCY)
        return {day: DayFigures.from_json(doc["figures"]) for day, doc in found if doc is not None}

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        return {_day(d["_id"]): DayFigures.from_json(d["dues"]).agency_dues async for d in self.open.find({})}

    async def clear(self) -> None:
        for collection in (self.days, self.dirty_days, self.rollups, self.open):
            await collection.delete_many({})

    async def version(self) -> int | None:
        doc = await self.days.find_one({"_id": META})
        return int(doc["version"]) if doc is not None else None

    async def set_version(self, version: int) -> None:
        await self.days.replace_one({"_id": META}, {"_id": META, "version": version}, upsert=True)


class InMemoryRollupStore:
    """The ``RollupStore`` fake: the same documents in dicts (facts and figures kept as their text)."""

    def __init__(self) -> None:
        self.facts_of: dict[date, tuple[dict[str, str], dict[str, str]]] = {}
        self.dirty_tokens: dict[date, str] = {}
        self.stored: dict[date, tuple[str, str]] = {}  # day -> (token, figures JSON)
        self.kept_version: int | None = None
        self.sessions: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

    async def mark(self, cases: Mapping[date, Texts], calls: Mapping[date, Texts], token: str) -> None:
        for day in set(cases) | set(calls):
            case_texts, call_texts = self.facts_of.setdefault(day, ({}, {}))
            case_texts.update(cases.get(day, {}))
            call_texts.update(calls.get(day, {}))
        for day in set(cases) | set(calls):
            self.dirty_tokens[day] = token

    async def dirty(self) -> dict[date, str]:
        return dict(self.dirty_tokens)

    async def facts(self, day: date) -> DayFacts:
        case_texts, call_texts = self.facts_of.get(day, ({}, {}))
        return _day_facts({"cases": case_texts, "calls": call_texts})

    async def keep_sessions(self, cases: Mapping[str, Texts], calls: Mapping[str, Texts]) -> None:
        for session_id in set(cases) | set(calls):
            case_texts, call_texts = self.sessions.setdefault(session_id, ({}, {}))
            case_texts.update(cases.get(session_id, {}))
            call_texts.update(calls.get(session_id, {}))

    async def session_facts(self, session_id: str) -> DayFacts:
        case_texts, call_texts = self.sessions.get(session_id, ({}, {}))
        return _day_facts({"cases": case_texts, "calls": call_texts})

    async def save(self, day: date, figures: DayFigures, token: str) -> str | None:
        before = self.stored.get(day)
        self.stored[day] = (token, figures.to_json())
        return before[0] if before else None

    async def clean(self, day: date, token: str) -> None:
        if self.dirty_tokens.get(day) == token:
            del self.dirty_tokens[day]

    async def read(self, days: Iterable[date]) -> dict[date, DayFigures]:
        return {d: DayFigures.from_json(self.stored[d][1]) for d in days if d in self.stored}

    async def open_dues(self) -> dict[date, dict[str, list[int]]]:
        return {d: DayFigures.from_json(text).agency_dues for d, (_t, text) in self.stored.items()}

    async def clear(self) -> None:
        self.facts_of.clear()
        self.dirty_tokens.clear()
        self.stored.clear()
        self.sessions.clear()
        self.kept_version = None

    async def version(self) -> int | None:
        return self.kept_version

    async def set_version(self, version: int) -> None:
        self.kept_version = version
