"""The governorate's reports: the funnel, per agency, per county and per week, over a period of days.

With daily rollups (``service.rollups``) a period's report adds up one rollup per day; without them,
or for a duty session, it counts the cases. Periods are typed days in either calendar (the last 30 days unless told otherwise, at most
``max_days``: see ``domain.periods``). A report never loads the cases it counts: the database counts
what it can (the funnel, the groups per county, the overdue cases per agency and county), the rest is
streamed a few fields at a time into the tallies of ``domain.reports``. The HTTP app shares its event
loop with the Kafka consumer, whose heartbeats must keep going while a report runs: a streamed report
awaits the database between batches and hands the loop over every ``YIELD_EVERY`` items besides.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any, TypeVar

from services.common.clock import Clock
from services.tracking.adapters.calls import CallStore
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.access import Staff, report_agency
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.periods import Period, period_of
from services.tracking.domain.reports import AgencyTally, CountyTally, Funnel, WeekTally
from services.tracking.domain.rollups import agency_rows, county_rows, funnel_of, week_rows
from services.tracking.service.rollups import DailyRollups

Rows = list[dict[str, Any]]
T = TypeVar("T")

# Items a report takes from a stream before it lets the event loop run other work (the consumer's
# fetches and heartbeats): a batch from the database is already an await, this bounds the work between
# two of them however the store delivers.
YIELD_EVERY = 200
DEFAULT_MAX_DAYS = 366


async def feed(items: AsyncIterator[T], add: Callable[[T], None]) -> int:
    """Hand every item of ``items`` to ``add``, yielding the event loop every ``YIELD_EVERY``; how many."""
    n = 0
    async for item in items:
        add(item)
        n += 1
        if n % YIELD_EVERY == 0:
            await asyncio.sleep(0)
    return n


class Reports:
    """The reports, from the daily rollups when given (``rollups``), else counted from the cases (the
    original computation, which the rollups must always equal)."""

    def __init__(
        self,
        cases: CaseStore,
        calls: CallStore,
        clock: Clock,
        max_days: int = DEFAULT_MAX_DAYS,
        rollups: DailyRollups | None = None,
    ) -> None:
        self.cases = cases
        self.calls = calls
        self.clock = clock
        self.max_days = max_days
        self.rollups = rollups

    def period(self, first: str | None, last: str | None) -> Period:
        """The period between two typed days, ending today by default. Raises BadDate, ReversedPeriod
        or PeriodTooLong (more than ``max_days``)."""
        return period_of(first, last, tehran_day(self.clock.now()), self.max_days)

    async def funnel(
        self,
        first: str | None = None,
        last: str | None = None,
        *,
        duty_session_id: str | None = None,
        province: str | None = None,
    ) -> tuple[Period | None, Funnel]:
        """Calls received -> answered -> cases registered -> referred, in one duty session (then no
        period) or over a period (calls by their start, cases when reported: a case from a call at its
        call's start, the same clock); in one province or all. Counted by the database."""
        if duty_session_id and self.rollups is not None:
            return None, await self.rollups.session_funnel(duty_session_id, province)
        if duty_session_id:
            received, answered = await self.calls.count_received(
                duty_session_id=duty_session_id, province=province
            )
            registered, referred = await self.cases.count_registered(
                duty_session_id=duty_session_id, province=province
            )
            return None, Funnel(received, answered, registered, referred)
        period = self.period(first, last)
        if self.rollups is not None:
            days = await self.rollups.figures(period.first, period.last)
            return period, funnel_of(days.values(), province)
        received, answered = await self.calls.count_received(
            start=period.start, end=period.end, province=province
        )
        registered, referred = await self.cases.count_registered(
            start=period.start, end=period.end, province=province
        )
        return period, Funnel(received, answered, registered, referred)

    async def agencies(
        self,
        first: str | None = None,
        last: str | None = None,
        agency: str | None = None,
        staff: Staff | None = None,
    ) -> tuple[Period, Rows]:
        """Per agency over the hops it received in the period: one agency, or every one. For a
        ``staff`` member the agency is scoped first (agency staff: their own; another is refused with
        OtherAgency)."""
        only = report_agency(staff, agency) if staff is not None else agency
        period = self.period(first, last)
        now = self.clock.now()
        if self.rollups is not None:
            days = await self.rollups.figures(period.first, period.last)
            open_days = await self.rollups.open_dues()
            return period, agency_rows(days.values(), open_days, period.start, period.end, now, only)
        tally = AgencyTally(period.start, period.end, now, only)
        await feed(self.cases.hops_received(period.start, period.end, only), tally.add)
        overdue = await self.cases.overdue_per_agency(now, only)
        return period, tally.rows(overdue)

    async def counties(self, first: str | None = None, last: str | None = None) -> tuple[Period, Rows]:
        """Per county, over the cases reported in the period (a case from a call: in its call's)."""
        period = self.period(first, last)
        now = self.clock.now()
        if self.rollups is not None:
            days = await self.rollups.figures(period.first, period.last)
            return period, county_rows(days.values(), now)
        tally = CountyTally()
        for group in await self.cases.county_groups(period.start, period.end):
            tally.add_group(group.county, group.status, group.referred, group.n)
        for county, n in (await self.cases.overdue_per_county(period.start, period.end, now)).items():
            tally.add_overdue(county, n)
        await feed(self.cases.resolve_times(period.start, period.end), lambda item: tally.add_resolved(*item))
        return period, tally.rows()

    async def weeks(self, first: str | None = None, last: str | None = None) -> tuple[Period, Rows]:
        """Per Iranian week (Saturday to Friday) holding a day of the period: calls by their start,
        cases when reported (a case from a call: at its call's start), and the cases resolved each week."""
        period = self.period(first, last)
        start, end = period.start, period.end
        if self.rollups is not None:
            days = await self.rollups.figures(period.first, period.last)
            return period, week_rows(days, tehran_day(start), tehran_day(end - timedelta(milliseconds=1)))
        tally = WeekTally(tehran_day(start), tehran_day(end - timedelta(milliseconds=1)))
        await feed(self.calls.start_times(start, end), lambda item: tally.add_call(*item))
        await feed(self.cases.reported(start, end), lambda item: tally.add_case(*item))
        await feed(self.cases.resolved_between(start, end), tally.add_resolved)
        return period, tally.rows()
