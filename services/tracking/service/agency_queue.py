"""An agency's queue: its cases, newest first, filtered and paged, each with whether it is overdue now."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.common.clock import Clock
from services.tracking.adapters.cases import CaseStore, QueueFilter
from services.tracking.domain.access import Staff, check_agency
from services.tracking.domain.periods import registered_between
from services.tracking.domain.views import staff_view


@dataclass(frozen=True)
class QueuePage:
    total: int
    items: list[dict[str, Any]]


class AgencyQueue:
    def __init__(self, cases: CaseStore, clock: Clock) -> None:
        self.cases = cases
        self.clock = clock

    async def __call__(
        self,
        staff: Staff,
        agency: str,
        *,
        status: str | None = None,
        overdue: bool | None = None,
        county: str | None = None,
        registered_from: str | None = None,
        registered_to: str | None = None,
        page: int = 1,
        page_size: int = 50,
    ) -> QueuePage:
        """One page of the queue (pages count from 1). ``registered_from``/``registered_to`` are days
        as typed (1405-09-01 or 2026-11-22), both included. Raises OtherAgency or BadDate."""
        check_agency(staff, agency)
        start, end = registered_between(registered_from, registered_to)
        f = QueueFilter(
            agency=agency,
            status=status,
            overdue=overdue,
            county=county,
            registered_from=start,
            registered_to=end,
        )
        now = self.clock.now()
        result = await self.cases.queue(f, now, (page - 1) * page_size, page_size)
        return QueuePage(result.total, [staff_view(c, now, with_timeline=False) for c in result.items])
