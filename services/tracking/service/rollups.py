"""Keeping the reports' daily rollups: the projection keeps, in each day's document, the facts of the
cases and calls touching the day (``domain.rollups.CaseFacts``) and marks the day dirty; a background
job recomputes every dirty day from its document, and the reports read the figures of a period's days
(a rollup for each clean day, the rest computed from its document on the spot). No step queries the
cases: on FerretDB v1 a query on anything but ``_id`` reads every case.

Recomputed, never incremented: a replayed event marks a day that is then computed again to the same
figures, and two replicas doing the same day write the same document (FerretDB v1 also lost
concurrent ``$inc``). A replica whose older recomputation lands after a newer one finds the newer
token in place and marks the day dirty again, so the next round puts it right.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Iterable, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any, TypeVar, cast

from services.common.bounded import run_all
from services.common.clock import Clock
from services.tracking.adapters.calls import CallStore
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.rollups import RollupStore
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.model import Case
from services.tracking.domain.reports import Funnel
from services.tracking.domain.rollups import (
    CallFacts,
    CaseFacts,
    DayFigures,
    days_of,
    session_funnel,
    summarize,
)

log = logging.getLogger("samad.tracking.rollups")
T = TypeVar("T")
READ_CONCURRENCY = 16
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The version of the days' documents: 2 keeps each case's and call's facts (1 listed their ids).
VERSION = 2


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class Flights:
    """Reads in flight that a caller who began looking before they started may share: whatever was
    written before that caller began, a read started after it sees."""

    def __init__(self) -> None:
        self._seq = 0
        self._flying: dict[Hashable, tuple[int, asyncio.Future[Any]]] = {}

    def begin(self) -> int:
        """A caller begins: the reads started from now on are fresh enough for it."""
        self._seq += 1
        return self._seq

    async def run(self, key: Hashable, since: int, make: Callable[[], Awaitable[T]]) -> T:
        held = self._flying.get(key)
        if held is not None and held[0] > since:
            return cast(T, await asyncio.shield(held[1]))
        self._seq += 1
        flight: asyncio.Future[T] = asyncio.ensure_future(make())
        entry = (self._seq, flight)
        self._flying[key] = entry

        def landed(_done: asyncio.Future[T]) -> None:
            if self._flying.get(key) is entry:
                del self._flying[key]

        flight.add_done_callback(landed)
        return await asyncio.shield(flight)


class DailyRollups:
    def __init__(self, store: RollupStore, cases: CaseStore, calls: CallStore, clock: Clock) -> None:
        self.store = store
        self.cases = cases
        self.calls = calls
        self.clock = clock
        self._last = 0
        self._flights = Flights()

    def token(self) -> str:
        """Later marks sort after earlier ones: microseconds since 1970 (never the same twice in this
        process), then a random tag."""
        self._last = max(self._last + 1, (self.clock.now() - EPOCH) // timedelta(microseconds=1))
        return f"{self._last:017d}-{secrets.token_hex(4)}"

    async def note(
        self, cases: Mapping[str, tuple[CaseFacts, Iterable[date]]], calls: Iterable[tuple[str, CallFacts]]
    ) -> None:
        """The projection is writing these cases (their facts, with the days their old and new versions
        touch) and keeping these calls: their facts go to their days, which are marked dirty."""
        case_days: dict[date, dict[str, str]] = defaultdict(dict)
        for case_id, (facts, days) in cases.items():
            text = facts.to_text()
            for day in days:
                case_days[day][case_id] = text
        call_days: dict[date, dict[str, str]] = defaultdict(dict)
        session_cases: dict[str, dict[str, str]] = defaultdict(dict)
        session_calls: dict[str, dict[str, str]] = defaultdict(dict)
        for case_id, (facts, _days) in cases.items():
            if facts.session:
                session_cases[facts.session][case_id] = facts.to_text()
        for call_id, call in calls:
            text = call.to_text()
            call_days[tehran_day(call.started_at)][call_id] = text
            if call.session:
                session_calls[call.session][call_id] = text
        if session_cases or session_calls:
            await self.store.keep_sessions(session_cases, session_calls)
        await self.store.mark(case_days, call_days, self.token())

    async def touch(self, days: Iterable[date]) -> None:
        """Mark these days dirty again (their facts already kept)."""
        await self.store.mark({day: {} for day in days}, {}, self.token())

    async def compute(self, day: date) -> DayFigures:
        """Day ``day``'s figures from the facts its document keeps (one read by ``_id``)."""
        facts = await self.store.facts(day)
        return summarize(day, facts.cases, facts.calls)

    async def recompute_dirty(self, limit: int = 400) -> int:
        """Recompute up to ``limit`` dirty days (oldest first); how many were done."""
        dirty = await self.store.dirty()
        done = 0
        for day in sorted(dirty)[:limit]:
            token = dirty[day]
            figures = await self.compute(day)
            replaced = await self.store.save(day, figures, token)
            if replaced is not None and replaced > token:
                # A later recomputation was there before this one: this day is done again.
                await self.touch([day])
                log.info("rollup of %s replaced a later one; marked again", day)
            else:
                await self.store.clean(day, token)
            done += 1
        return done

    async def figures(self, first: date, last: date) -> dict[date, DayFigures]:
        """Every day's figures from ``first`` to ``last``: a clean day's rollup as stored, a dirty day
        (or one without a rollup yet) computed now. The dashboard asks four reports of the same days at
        once: a day's read or computation begun after this call began is shared, not made again."""
        since = self._flights.begin()
        days = days_between(first, last)
        dirty = await self.store.dirty()

        async def one(day: date) -> DayFigures:
            if day not in dirty:
                stored = await self._flights.run(("read", day), since, lambda: self.store.read([day]))
                if day in stored:
                    return stored[day]
            return await self._flights.run(("compute", day), since, lambda: self.compute(day))

        return dict(zip(days, await run_all(one, days, READ_CONCURRENCY), strict=True))

    async def session_funnel(self, session_id: str, province: str | None) -> Funnel:
        """A duty session's funnel from its document's facts (one read by ``_id``)."""
        facts = await self.store.session_facts(session_id)
        return session_funnel(facts.cases, facts.calls, province)

    async def open_dues(self) -> list[DayFigures]:
        """Every day's open cases' deadlines per agency (a dirty day's as computed now)."""
        since = self._flights.begin()
        dirty = await self.store.dirty()
        stored = await self.store.open_dues()
        out = [DayFigures(agency_dues=dues) for day, dues in stored.items() if day not in dirty]
        for day in sorted(dirty):
            out.append(await self._flights.run(("compute", day), since, partial(self.compute, day)))
        return out

    async def ensure(self) -> int | None:
        """Rebuild every day when the documents kept are of another version (or none are kept: cases
        stored before the rollups); how many days, or None when they were current."""
        if await self.store.version() == VERSION:
            return None
        days = await self.rebuild()
        log.info("report rollups rebuilt: %d days", days)
        return days

    async def rebuild(self) -> int:
        """Forget every day, then keep the facts of every case and call kept now and mark their days
        (cases kept before the rollups, or after a rebuild replaced the cases): the job then recomputes
        them all. How many days."""
        # Forgotten first: a case written while the cases are read keeps the facts it writes itself.
        await self.store.clear()
        far = datetime(9999, 1, 1, tzinfo=UTC)
        seen: dict[str, tuple[CaseFacts, set[date]]] = {}
        for kind in ("reported", "received", "resolved"):
            async for case in self.cases.report_candidates(kind, EPOCH, far):
                if case.id not in seen:
                    seen[case.id] = (CaseFacts.of(case), days_of(case))
        calls = [item async for item in self.calls.all_facts()]
        await self.note(seen, calls)
        await self.store.set_version(VERSION)
        days = {d for _facts, case_days in seen.values() for d in case_days}
        return len(days | {tehran_day(call.started_at) for _id, call in calls})


def touched_days(before: Case | None, after: Case) -> set[date]:
    """The days whose figures a change from ``before`` to ``after`` may move."""
    return days_of(after) | (days_of(before) if before is not None else set())
