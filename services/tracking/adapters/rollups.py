"""Where the reports' daily rollups live: the ``RollupStore`` port, its MongoDB implementation and its
in-memory fake.

Four collections, every read and write by ``_id`` (the day, ``2026-11-22``) but for the list of dirty
days, which is small: ``report_days`` lists the cases and calls that touch each day (added to with
``$addToSet``, so a replayed event adds nothing), ``report_days_dirty`` holds a token for each day
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
from services.tracking.domain.rollups import DayFigures

DAYS = "report_days"
WRITE_CONCURRENCY = 4
READ_CONCURRENCY = 16


@dataclass(frozen=True)
class Members:
    """The cases and calls that touch a day."""

    case_ids: list[str] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)


class RollupStore(Protocol):
    async def mark(
        self, cases: Mapping[date, Iterable[str]], calls: Mapping[date, Iterable[str]], token: str
    ) -> None:
        """Note which cases and calls touch each day, and that those days changed (``token``)."""
        ...

    async def dirty(self) -> dict[date, str]:
        """The days changed since their rollup, with the latest token of each."""
        ...

    async def members(self, day: date) -> Members: ...

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


def _day(text: str) -> date:
    return date.fromisoformat(text)


class MongoRollupStore:
    def __init__(self, db: AsyncDatabase[dict[str, Any]], prefix: str = DAYS) -> None:
        self.days = db[prefix]
        self.dirty_days = db[f"{prefix}_dirty"]
        self.rollups = db["report_rollups"]
        self.open = db["report_rollups_open"]

    async def mark(
        self, cases: Mapping[date, Iterable[str]], calls: Mapping[date, Iterable[str]], token: str
    ) -> None:
        touched = sorted(set(cases) | set(calls))
        if not touched:
            return

        async def add(day: date) -> None:
            adds: dict[str, Any] = {}
            case_ids = sorted(set(cases.get(day, ())))
            call_ids = sorted(set(calls.get(day, ())))
            if case_ids:
                adds["case_ids"] = {"$each": case_ids}
            if call_ids:
                adds["call_ids"] = {"$each": call_ids}
            if not adds:
                return  # only marked dirty again
            await self.days.update_one({"_id": day.isoformat()}, {"$addToSet": adds}, upsert=True)

        await run_all(add, touched, WRITE_CONCURRENCY)

        # Marked dirty after the members are in: a recomputation that sees the token sees them.
        async def dirty(day: date) -> None:
            await self.dirty_days.update_one(
                {"_id": day.isoformat()}, {"$set": {"token": token}}, upsert=True
            )

        await run_all(dirty, touched, WRITE_CONCURRENCY)

    async def dirty(self) -> dict[date, str]:
        return {_day(d["_id"]): str(d["token"]) async for d in self.dirty_days.find({})}

    async def members(self, day: date) -> Members:
        doc = await self.days.find_one({"_id": day.isoformat()})
        if doc is None:
            return Members()
        return Members(list(doc.get("case_ids") or []), list(doc.get("call_ids") or []))

    async def save(self, day: date, figures: DayFigures, token: str) -> str | None:
        key = day.isoformat()
        await self.open.replace_one(
            {"_id": key},
            {"_id": key, "token": token, "dues": DayFigures(agency_dues=figures.agency_dues).to_json()},
            upsert=True,
        )
        before = await self.rollups.find_one_and_replace(
            {"_id": key}, {"_id": key, "token": token, "figures": figures.to_json()}, upsert=True
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


class InMemoryRollupStore:
    """The ``RollupStore`` fake: the same documents in dicts (figures kept as their JSON text)."""

    def __init__(self) -> None:
        self.members_of: dict[date, tuple[set[str], set[str]]] = {}
        self.dirty_tokens: dict[date, str] = {}
        self.stored: dict[date, tuple[str, str]] = {}  # day -> (token, figures JSON)

    async def mark(
        self, cases: Mapping[date, Iterable[str]], calls: Mapping[date, Iterable[str]], token: str
    ) -> None:
        for day in set(cases) | set(calls):
            case_ids, call_ids = self.members_of.setdefault(day, (set(), set()))
            case_ids.update(cases.get(day, ()))
            call_ids.update(calls.get(day, ()))
        for day in set(cases) | set(calls):
            self.dirty_tokens[day] = token

    async def dirty(self) -> dict[date, str]:
        return dict(self.dirty_tokens)

    async def members(self, day: date) -> Members:
        case_ids, call_ids = self.members_of.get(day, (set(), set()))
        return Members(sorted(case_ids), sorted(call_ids))

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
