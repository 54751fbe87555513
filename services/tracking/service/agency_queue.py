"""An agency's queue: its cases, newest or most urgent first, filtered and paged, each with its
deadlines and the working days left before them; the agency's staff (to assign a case to); and the
escalation queues of agency heads and the governorate's supervisor."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contracts.events import EscalationTarget
from services.common.clock import Clock
from services.tracking.adapters.cases import CaseStore, EscalationFilter
from services.tracking.adapters.directory import AGENCY_HEAD, Directory
from services.tracking.domain.access import AGENCY_STAFF, Staff, check_agency
from services.tracking.domain.audit import ReadContext
from services.tracking.domain.calendar import WorkCalendar
from services.tracking.domain.model import Case
from services.tracking.domain.periods import registered_between
from services.tracking.domain.privacy import disclosed, disclosure
from services.tracking.domain.queue import QueueFilter
from services.tracking.domain.sla import SlaPolicy
from services.tracking.domain.views import staff_view
from services.tracking.service.errors import NotAHead
from services.tracking.service.opening import CaseOpener
from services.tracking.service.read_audit import AuditTrail

# What a list leaves out of each case's view (the stores leave it out of what they read for a queue).
LISTS_LEAVE_OUT = ("sms", "updated_at")


@dataclass(frozen=True)
class QueuePage:
    total: int
    items: list[dict[str, Any]]


def staff_list(
    staff: Staff,
    cases: list[Case],
    now: datetime,
    calendar: WorkCalendar | None,
    trail: AuditTrail | None,
    ctx: ReadContext | None,
) -> list[dict[str, Any]]:
    """Cases as a list shows them to ``staff`` (personal fields as they may see them; no timeline, SMS
    records or time of the last change: the case's own page has those), the read recorded in the
    audit when ``ctx`` says where it comes from."""
    shown = [(c, disclosure(staff, c)) for c in cases]
    if trail is not None and ctx is not None:
        trail.record(staff, ctx, [(c.id, how) for c, how in shown])
    return [
        disclosed(_listed(staff_view(c, now, with_timeline=False, calendar=calendar)), how)
        for c, how in shown
    ]


def _listed(view: dict[str, Any]) -> dict[str, Any]:
    for name in LISTS_LEAVE_OUT:
        view.pop(name, None)
    return view


class _Queue:
    """What both queues read with: the cases, the clock, the SLA policy's calendar, the read audit and
    the opener of sealed fields."""

    def __init__(
        self,
        cases: CaseStore,
        clock: Clock,
        policy: SlaPolicy | None = None,
        trail: AuditTrail | None = None,
        opener: CaseOpener | None = None,
    ) -> None:
        self.opener = opener or CaseOpener(None)
        self.cases = cases
        self.clock = clock
        self.policy = policy or SlaPolicy()
        self.trail = trail

    async def _page(
        self, staff: Staff, cases: list[Case], now: datetime, ctx: ReadContext | None
    ) -> list[dict[str, Any]]:
        """``cases`` as the list shows them to ``staff``, opened first, the read recorded."""
        opened = [await self.opener(c) for c in cases]
        return staff_list(staff, opened, now, self.policy.calendar, self.trail, ctx)


class AgencyQueue(_Queue):
    async def __call__(
        self,
        staff: Staff,
        agency: str,
        *,
        status: str | None = None,
        overdue: bool | None = None,
        county: str | None = None,
        assignee: str | None = None,
        registered_from: str | None = None,
        registered_to: str | None = None,
        sort: str = "newest",
        page: int = 1,
        page_size: int = 50,
        ctx: ReadContext | None = None,
    ) -> QueuePage:
        """One page of the queue (pages count from 1). ``registered_from``/``registered_to`` are days
        as typed (1405-09-01 or 2026-11-22), both included; ``assignee`` a username, or "" for cases
        nobody works yet. Raises OtherAgency or BadDate."""
        check_agency(staff, agency)
        start, end = registered_between(registered_from, registered_to)
        f = QueueFilter(
            agency=agency,
            status=status,
            overdue=overdue,
            county=county,
            assignee=assignee,
            registered_from=start,
            registered_to=end,
            sort=sort,
        )
        now = self.clock.now()
        result = await self.cases.queue(f, now, (page - 1) * page_size, page_size)
        return QueuePage(result.total, await self._page(staff, result.items, now, ctx))


class EscalationQueue(_Queue):
    """The late cases that reached a person: an agency head sees their agency's, the supervisor those
    that climbed to the governorate (or, asking for it, those at the agency heads' step)."""

    async def __call__(
        self,
        staff: Staff,
        *,
        target: str | None = None,
        agency: str | None = None,
        page: int = 1,
        page_size: int = 50,
        ctx: ReadContext | None = None,
    ) -> tuple[str, str | None, QueuePage]:
        """(the target shown, the agency, one page). Raises NotAHead for agency staff who do not head
        their agency, OtherAgency for a head asking for another agency's."""
        if staff.role == AGENCY_STAFF:
            if not staff.head:
                raise NotAHead()
            check_agency(staff, agency or staff.agency)
            target, agency = EscalationTarget.agency_head.value, staff.agency
        else:
            target = target or EscalationTarget.supervisor.value
        f = EscalationFilter(target=target, agency=agency)
        now = self.clock.now()
        result = await self.cases.escalated(f, (page - 1) * page_size, page_size)
        items = await self._page(staff, result.items, now, ctx)
        return target, agency, QueuePage(result.total, items)


class AgencyStaff:
    """Who works for an agency (to assign a case): names and usernames, never their phones."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    async def __call__(self, staff: Staff, agency: str) -> list[dict[str, Any]]:
        """Raises OtherAgency, or DirectoryUnavailable."""
        check_agency(staff, agency)
        people = await self.directory.staff_of(agency)
        return sorted(
            ({"id": p.id, "name": p.name or p.id, "head": AGENCY_HEAD in p.roles} for p in people),
            key=lambda p: (str(p["name"]), str(p["id"])),
        )
