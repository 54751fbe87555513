"""The governorate's reports: the funnel, per agency, per county and per week, over a period of days.

Periods are typed days in either calendar (the last 30 days unless told otherwise, see
``domain.periods``); the stores select, ``domain.reports`` counts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.common.clock import Clock
from services.tracking.adapters.calls import CallStore
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.access import Staff, report_agency
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.periods import Period, period_of
from services.tracking.domain.reports import Funnel, agency_report, county_report, week_report

Rows = list[dict[str, Any]]


class Reports:
    def __init__(self, cases: CaseStore, calls: CallStore, clock: Clock) -> None:
        self.cases = cases
        self.calls = calls
        self.clock = clock

    def period(self, first: str | None, last: str | None) -> Period:
        """The period between two typed days, ending today by default. Raises BadDate or
        ReversedPeriod."""
        return period_of(first, last, tehran_day(self.clock.now()))

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
        call's start, the same clock); in one province or all."""
        if duty_session_id:
            received, answered = await self.calls.count_received(
                duty_session_id=duty_session_id, province=province
            )
            registered, referred = await self.cases.count_registered(
                duty_session_id=duty_session_id, province=province
            )
            return None, Funnel(received, answered, registered, referred)
        period = self.period(first, last)
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
        """Per agency over the cases it received in the period: one agency, or every one. For a
        ``staff`` member the agency is scoped first (agency staff: their own; another is refused with
        OtherAgency)."""
        only = report_agency(staff, agency) if staff is not None else agency
        period = self.period(first, last)
        now = self.clock.now()
        received = await self.cases.received_by_agencies(period.start, period.end, only)
        overdue = await self.cases.overdue_at_agencies(now, only)
        return period, agency_report(received, period.start, period.end, now, overdue, only)

    async def counties(self, first: str | None = None, last: str | None = None) -> tuple[Period, Rows]:
        """Per county, over the cases reported in the period (a case from a call: in its call's)."""
        period = self.period(first, last)
        cases = await self.cases.registered_in(period.start, period.end)
        return period, county_report(cases, self.clock.now())

    async def weeks(self, first: str | None = None, last: str | None = None) -> tuple[Period, Rows]:
        """Per Iranian week (Saturday to Friday) holding a day of the period: calls by their start,
        cases when reported (a case from a call: at its call's start), and the cases resolved each week."""
        period = self.period(first, last)
        start, end = period.start, period.end
        calls = await self.calls.started_in(start, end)
        registered = await self.cases.registered_in(start, end, registered_only=False)
        resolved = await self.cases.resolved_in(start, end)
        seen = {c.id for c in registered}
        # Resolved in the period but reported before it: counted as resolved only.
        only_resolved = [
            c.model_copy(update={"registered_at": None, "call_started_at": None})
            for c in resolved
            if c.id not in seen
        ]
        return period, week_report(
            calls,
            [*registered, *only_resolved],
            tehran_day(start),
            tehran_day(end - timedelta(milliseconds=1)),
        )
