"""Keeping the reports' daily rollups: before it writes its cases, the projection keeps their facts
(``domain.rollups.CaseFacts``) and its calls' per bucket (each day they touch, and their duty session)
as new facts; a background job folds each bucket's new facts into its document and, for a day, its
figures; the reports read the figures of a period's days (a rollup for each clean day, the rest
computed on the spot from its document and new facts). No step queries the cases: on FerretDB v1 a
query on anything but ``_id`` reads every case.

Recomputed, never incremented: a replayed event gives a case's facts of the same version again, and a
day's figures are computed whole from its facts. One replica folds each generation of a bucket (a
claim per generation), writing the figures before the document, so figures never go back in time.
See ``adapters.rollups`` for why no document is changed by two writers.
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
from services.tracking.adapters.claims import Claims, InMemoryClaims
from services.tracking.adapters.rollups import (
    Bucket,
    DayFacts,
    NewFacts,
    RollupStore,
    bucket_day,
    day_bucket,
    facts_of,
    merged,
    session_bucket,
)
from services.tracking.domain.calendar import tehran_day
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
# New facts a day may gather before the background job folds it even while it is still being marked.
FOLD_AFTER = 50
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The version of the buckets' documents: 3 keeps each case's and call's facts per bucket, with new
# facts apart until folded (1 listed the ids of a day's cases).
VERSION = 3


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def token_time(token: str) -> int:
    """When a token was made, in microseconds since 1970 (``DailyRollups.token``)."""
    return int(token.partition("-")[0])


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
    """``claims`` decide which replica folds a bucket's next generation (the shared timer claims in
    production; a process of its own needs none)."""

    LEASE = timedelta(seconds=120)

    def __init__(
        self,
        store: RollupStore,
        cases: CaseStore,
        calls: CallStore,
        clock: Clock,
        claims: Claims | None = None,
        owner: str = "tracking",
    ) -> None:
        self.store = store
        self.cases = cases
        self.calls = calls
        self.clock = clock
        self.claims = claims or InMemoryClaims()
        self.owner = owner
        self._last = 0
        self._flights = Flights()

    def token(self) -> str:
        """Later batches sort after earlier ones: microseconds since 1970 (never the same twice in this
        process), then a random tag."""
        self._last = max(self._last + 1, (self.clock.now() - EPOCH) // timedelta(microseconds=1))
        return f"{self._last:017d}-{secrets.token_hex(4)}"

    async def note(
        self, cases: Mapping[str, tuple[CaseFacts, Iterable[date]]], calls: Iterable[tuple[str, CallFacts]]
    ) -> None:
        """The projection is about to write these cases (their facts, with the days their old and new
        versions touch) and keep these calls: their facts go to their days and duty sessions."""
        buckets: dict[str, tuple[dict[str, str], dict[str, str]]] = defaultdict(lambda: ({}, {}))
        for case_id, (facts, days) in cases.items():
            text = facts.to_text()
            for day in days:
                buckets[day_bucket(day)][0][case_id] = text
            if facts.session:
                buckets[session_bucket(facts.session)][0][case_id] = text
        for call_id, call in calls:
            text = call.to_text()
            buckets[day_bucket(tehran_day(call.started_at))][1][call_id] = text
            if call.session:
                buckets[session_bucket(call.session)][1][call_id] = text
        await self.store.add(buckets, self.token())

    async def _facts(self, bucket: str, news: list[NewFacts]) -> DayFacts:
        """A bucket's facts from ``news`` (listed first) and its document (read now, after them)."""
        return facts_of(*merged(await self.store.base(bucket), news))

    async def compute(self, day: date, news: list[NewFacts] | None = None) -> DayFigures:
        """Day ``day``'s figures from the facts kept of it: its document and its new facts (``news``,
        when already listed)."""
        if news is None:
            news = (await self.store.pending()).get(day_bucket(day), [])
        facts = await self._facts(day_bucket(day), news)
        return summarize(day, facts.cases, facts.calls)

    async def recompute_dirty(self, limit: int = 400, settle_seconds: float = 0.0) -> int:
        """Fold up to ``limit`` dirty buckets (oldest first), a day's figures with it; how many were
        folded. With ``settle_seconds``, a bucket still receiving facts (the last younger than that,
        fewer than ``FOLD_AFTER`` waiting) is left for a later round: a report computes it meanwhile."""
        pending = await self.store.pending()
        now_us = (self.clock.now() - EPOCH) // timedelta(microseconds=1)
        done = 0
        for bucket in sorted(pending)[:limit]:
            news = pending[bucket]
            newest = token_time(news[-1].id.rpartition("|")[2])
            if settle_seconds and len(news) < FOLD_AFTER and now_us - newest < settle_seconds * 1e6:
                continue
            done += await self._fold(bucket, news)
        return done

    async def _fold(self, bucket: str, news: list[NewFacts]) -> bool:
        """Fold ``news`` into the bucket's next generation, if this replica claims it first."""
        generation = (await self.store.base(bucket) or Bucket()).generation
        key = f"rollups:{bucket}:{generation}"
        now = self.clock.now()
        if not await self.claims.claim(key, self.owner, now, now + self.LEASE):
            return False  # another replica folds this generation
        base = await self.store.base(bucket) or Bucket()
        if base.generation == generation:
            cases, calls = merged(base, news)
            day = bucket_day(bucket)
            if day is not None:
                # The figures before the document: a replica folding the generation after this one
                # reads the document only once it is written, so its figures come after these.
                facts = facts_of(cases, calls)
                await self.store.save(day, summarize(day, facts.cases, facts.calls), generation + 1)
            await self.store.fold(bucket, Bucket(generation + 1, cases, calls), news)
        # Finished only once folded (or folded meanwhile): after a failure the claim's lease runs out
        # and a replica takes the generation over.
        await self.claims.finish(key, self.owner, self.clock.now())
        return base.generation == generation

    async def dirty(self) -> set[date]:
        """The days with facts not folded yet."""
        return {d for b in await self.store.pending() if (d := bucket_day(b)) is not None}

    async def figures(self, first: date, last: date) -> dict[date, DayFigures]:
        """Every day's figures from ``first`` to ``last``: a clean day's rollup as stored, a dirty day
        (or one without a rollup yet) computed now. The dashboard asks four reports of the same days at
        once: a day's read or computation begun after this call began is shared, not made again."""
        since = self._flights.begin()
        days = days_between(first, last)
        pending = await self._flights.run("pending", since, self.store.pending)

        async def one(day: date) -> DayFigures:
            news = pending.get(day_bucket(day))
            if not news:
                stored = await self._flights.run(("read", day), since, lambda: self.store.read([day]))
                if day in stored:
                    return stored[day]
            return await self._flights.run(("compute", day), since, lambda: self.compute(day, news or []))

        return dict(zip(days, await run_all(one, days, READ_CONCURRENCY), strict=True))

    async def session_funnel(self, session_id: str, province: str | None) -> Funnel:
        """A duty session's funnel from the facts kept of it."""
        bucket = session_bucket(session_id)
        facts = await self._facts(bucket, (await self.store.pending()).get(bucket, []))
        return session_funnel(facts.cases, facts.calls, province)

    async def open_dues(self) -> list[DayFigures]:
        """Every day's open cases' deadlines per agency (a dirty day's as computed now)."""
        since = self._flights.begin()
        pending = await self._flights.run("pending", since, self.store.pending)
        dirty = {d: news for b, news in pending.items() if (d := bucket_day(b)) is not None}
        stored = await self.store.open_dues()
        out = [DayFigures(agency_dues=dues) for day, dues in stored.items() if day not in dirty]
        for day, news in sorted(dirty.items()):
            out.append(await self._flights.run(("compute", day), since, partial(self.compute, day, news)))
        return out

    async def ensure(self) -> int | None:
        """Rebuild every bucket when the documents kept are of another version (or none are kept: cases
        stored before the rollups); how many days, or None when they were current."""
        if await self.store.version() == VERSION:
            return None
        days = await self.rebuild()
        log.info("report rollups rebuilt: %d days", days)
        return days

    async def rebuild(self) -> int:
        """Forget every bucket, then keep the facts of every case and call kept now (cases kept before
        the rollups, or after a rebuild replaced the cases): the job then folds them all. How many
        days."""
        # Forgotten first: a case written while the cases are read keeps the facts it writes itself.
        await self.store.clear()
        far = datetime(9999, 1, 1, tzinfo=UTC)
        # One pass over the cases (on FerretDB v1 every query reads them all).
        seen = {
            case.id: (CaseFacts.of(case), days_of(case))
            async for case in self.cases.report_candidates("every", EPOCH, far)
        }
        calls = [item async for item in self.calls.all_facts()]
        await self.note(seen, calls)
        await self.store.set_version(VERSION)
        days = {d for _facts, case_days in seen.values() for d in case_days}
        return len(days | {tehran_day(call.started_at) for _id, call in calls})
