"""Keeping the reports' daily rollups: the projection notes the days each change touches, a background
job recomputes every dirty day from that day's cases and calls, and the reports read the figures of
a period's days (a rollup for each clean day, the rest computed from the day's cases on the spot).

Recomputed, never incremented: a replayed event marks a day that is then computed again to the same
figures, and two replicas doing the same day write the same document (FerretDB v1 also lost
concurrent ``$inc``). A replica whose older recomputation lands after a newer one finds the newer
token in place and marks the day dirty again, so the next round puts it right.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, timedelta

from services.common.clock import Clock
from services.tracking.adapters.calls import CallStore
from services.tracking.adapters.cases import CaseStore
from services.tracking.adapters.rollups import RollupStore
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.model import Case
from services.tracking.domain.rollups import DayFigures, days_of, summarize

log = logging.getLogger("samad.tracking.rollups")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


class DailyRollups:
    def __init__(self, store: RollupStore, cases: CaseStore, calls: CallStore, clock: Clock) -> None:
        self.store = store
        self.cases = cases
        self.calls = calls
        self.clock = clock
        self._last = 0

    def token(self) -> str:
        """Later marks sort after earlier ones: microseconds since 1970 (never the same twice in this
        process), then a random tag."""
        self._last = max(self._last + 1, (self.clock.now() - EPOCH) // timedelta(microseconds=1))
        return f"{self._last:017d}-{secrets.token_hex(4)}"

    async def note(self, cases: Mapping[str, Iterable[date]], calls: Mapping[str, datetime]) -> None:
        """The projection wrote these cases (with the days their old and new versions touch) and kept
        these calls (by their start): their days are marked dirty."""
        case_days: dict[date, set[str]] = defaultdict(set)
        for case_id, days in cases.items():
            for day in days:
                case_days[day].add(case_id)
        call_days: dict[date, set[str]] = defaultdict(set)
        for call_id, started in calls.items():
            call_days[tehran_day(started)].add(call_id)
        await self.store.mark(case_days, call_days, self.token())

    async def touch(self, days: Iterable[date]) -> None:
        """Mark these days dirty again (their members already listed)."""
        await self.store.mark(dict.fromkeys(days, ()), {}, self.token())

    async def compute(self, day: date) -> DayFigures:
        """Day ``day``'s figures from its cases and calls as they are now."""
        members = await self.store.members(day)
        cases = await self.cases.load(members.case_ids)
        calls = await self.calls.facts(members.call_ids)
        return summarize(day, cases.values(), calls)

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
        (or one without a rollup yet) computed now."""
        days = days_between(first, last)
        dirty = await self.store.dirty()
        stored = await self.store.read(d for d in days if d not in dirty)
        out: dict[date, DayFigures] = {}
        for day in days:
            found = stored.get(day)
            out[day] = found if found is not None else await self.compute(day)
        return out

    async def open_dues(self) -> list[DayFigures]:
        """Every day's open cases' deadlines per agency (a dirty day's as computed now)."""
        dirty = await self.store.dirty()
        stored = await self.store.open_dues()
        out = [DayFigures(agency_dues=dues) for day, dues in stored.items() if day not in dirty]
        for day in sorted(dirty):
            out.append(await self.compute(day))
        return out

    async def mark_everything(self) -> int:
        """Mark every day of every case and call kept so far (cases and calls from before the rollups,
        or after a rebuild replaced the cases): the job then recomputes them all. How many days."""
        far = datetime(9999, 1, 1, tzinfo=UTC)
        seen: dict[str, set[date]] = defaultdict(set)
        for kind in ("reported", "received", "resolved"):
            async for case in self.cases.report_candidates(kind, EPOCH, far):
                seen[case.id] |= days_of(case)
        calls = {call_id: started async for call_id, started in self.calls.started()}
        await self.note(seen, calls)
        return len({d for days in seen.values() for d in days} | {tehran_day(s) for s in calls.values()})


def touched_days(before: Case | None, after: Case) -> set[date]:
    """The days whose figures a change from ``before`` to ``after`` may move."""
    return days_of(after) | (days_of(before) if before is not None else set())
