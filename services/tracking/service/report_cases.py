"""The cases behind a number of a report, paged: what a supervisor opens from the dashboard.

The store selects the report's candidates as the report itself does (cases registered in the period,
the agencies' holdings received in it, cases resolved in it, or a duty session's cases);
``domain.report_cases`` keeps those the number counts.
"""

from __future__ import annotations

from datetime import datetime

from services.common.clock import Clock
from services.tracking.adapters.cases import CaseStore
from services.tracking.domain.access import Staff
from services.tracking.domain.audit import ReadContext
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.periods import period_of
from services.tracking.domain.report_cases import Selection, counted, order_key
from services.tracking.service.agency_queue import QueuePage, staff_list
from services.tracking.service.opening import CaseOpener
from services.tracking.service.read_audit import AuditTrail


class ReportCases:
    def __init__(
        self,
        cases: CaseStore,
        clock: Clock,
        trail: AuditTrail | None = None,
        opener: CaseOpener | None = None,
    ) -> None:
        self.opener = opener or CaseOpener(None)
        self.cases = cases
        self.clock = clock
        self.trail = trail

    async def __call__(
        self,
        s: Selection,
        first: str | None,
        last: str | None,
        page: int = 1,
        page_size: int = 50,
        staff: Staff | None = None,
        ctx: ReadContext | None = None,
    ) -> QueuePage:
        """One page (from 1) of the cases the cell ``s`` counts over the days typed (the reports'
        default period when left out). Raises BadSelection, BadDate or ReversedPeriod."""
        s.check()
        now = self.clock.now()
        period = period_of(first, last, tehran_day(now))
        start, end = period.start, period.end
        if s.duty_session_id:
            kind = "session"
        elif s.report == "agencies":
            kind = "received"
        elif s.measure == "cases_resolved":
            kind = "resolved"
        else:
            kind = "reported"
        # Only the order of the counted cases is kept while the candidates stream by; the page's
        # cases are read again by id (a period can hold many thousands).
        keys: list[tuple[bool, datetime, str]] = []
        async for case in self.cases.report_candidates(
            kind, start, end, agency=s.agency, session=s.duty_session_id
        ):
            if counted(s, case, start, end, now):
                keys.append(order_key(case))
        keys.sort(key=lambda k: k[2])
        keys.sort(key=lambda k: (k[0], k[1]), reverse=True)
        skip = (page - 1) * page_size
        wanted = [k[2] for k in keys[skip : skip + page_size]]
        loaded = await self.cases.load(wanted)
        found = [await self.opener(loaded[i]) for i in wanted if i in loaded]
        if staff is None:  # the caller decides nothing about personal data: none is shown
            staff = Staff("ops")
        return QueuePage(len(keys), staff_list(staff, found, now, None, self.trail, ctx))
