"""The cases behind a number of a report, paged: what a supervisor opens from the dashboard.

The store selects the report's candidates as the report itself does (cases registered in the period,
the agencies' holdings received in it, cases resolved in it, or a duty session's cases);
``domain.report_cases`` keeps those the number counts.
"""

from __future__ import annotations

from services.common.clock import Clock
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.model import Case
from services.tracking.domain.periods import period_of
from services.tracking.domain.report_cases import Selection, counted, newest_first
from services.tracking.domain.views import staff_view
from services.tracking.service.agency_queue import QueuePage


class ReportCases:
    def __init__(self, cases: CaseStore, clock: Clock) -> None:
        self.cases = cases
        self.clock = clock

    async def __call__(
        self, s: Selection, first: str | None, last: str | None, page: int = 1, page_size: int = 50
    ) -> QueuePage:
        """One page (from 1) of the cases the cell ``s`` counts over the days typed (the reports'
        default period when left out). Raises BadSelection, BadDate or ReversedPeriod."""
        s.check()
        now = self.clock.now()
        period = period_of(first, last, tehran_day(now))
        start, end = period.start, period.end
        candidates: list[Case]
        if s.duty_session_id:
            candidates = await self.cases.in_duty_session(s.duty_session_id)
        elif s.report == "agencies":
            candidates = await self.cases.received_by_agencies(start, end, s.agency)
        elif s.measure == "cases_resolved":
            candidates = await self.cases.resolved_in(start, end)
        else:
            candidates = await self.cases.registered_in(start, end, registered_only=False)
        found = newest_first([c for c in candidates if counted(s, c, start, end, now)])
        skip = (page - 1) * page_size
        items = [staff_view(c, now, with_timeline=False) for c in found[skip : skip + page_size]]
        return QueuePage(len(found), items)
