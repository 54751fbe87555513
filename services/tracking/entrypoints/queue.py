"""The staff routes to an agency's queue and staff, and to the escalation queues of late cases."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus, EscalationTarget
from services.common.auth import Principal
from services.tracking.domain.queue import OPEN, UNASSIGNED
from services.tracking.entrypoints.deps import ERRORS, PROBLEM, READ_QUEUE, Container, Reading, staff
from services.tracking.entrypoints.problems import bad_field

router = APIRouter(tags=["staff"])
NOBODY = "none"


QUEUE_STATUSES = (OPEN, *(s.value for s in CaseStatus))


def _queue_status(status: str | None) -> str | None:
    if status and status not in QUEUE_STATUSES:
        raise bad_field(
            "status",
            "وضعیت از گزینه‌های مجاز نیست (open یا یکی از وضعیت‌های پرونده).",
            f"Unknown status; expected one of: {', '.join(QUEUE_STATUSES)}",
        )
    return status or None


class QueueOrder(StrEnum):
    newest = "newest"
    urgent = "urgent"


@router.get(
    "/v1/agencies/{code}/cases",
    summary="An agency's queue: its cases, newest or most urgent first, filtered and paged, each with its "
    "deadlines and the working days left",
    responses={**ERRORS, 422: PROBLEM},
)
async def agency_queue(
    code: Annotated[AgencyCode, Path(description="Agency code")],
    c: Container,
    reading: Reading,
    principal: Principal = READ_QUEUE,
    status: Annotated[
        str | None,
        Query(
            max_length=30,
            description="One status, or open: every status in which the agency still holds the case",
        ),
    ] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue (true) or not overdue (false)")] = None,
    county: Annotated[str | None, Query(max_length=100)] = None,
    assignee: Annotated[
        str | None,
        Query(max_length=100, description=f"A staff member's username, or {NOBODY!r} (unassigned)"),
    ] = None,
    sort: Annotated[
        QueueOrder,
        Query(description="newest: registered last first; urgent: earliest pending deadline first"),
    ] = QueueOrder.newest,
    date_from: Annotated[
        str | None, Query(alias="from", description="Registered on or after (1405-09-01 or 2026-11-22)")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="Registered on or before")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    result = await c.agency_queue(
        staff(principal),
        code.value,
        status=_queue_status(status),
        overdue=overdue,
        county=county,
        assignee=UNASSIGNED if assignee == NOBODY else assignee,
        registered_from=date_from,
        registered_to=date_to,
        sort=sort.value,
        page=page,
        page_size=page_size,
        ctx=reading,
    )
    return {
        "agency": code.value,
        "sort": sort.value,
        "page": page,
        "page_size": page_size,
        "total": result.total,
        "items": result.items,
    }


@router.get(
    "/v1/agencies/{code}/staff",
    summary="Who works for an agency (to assign a case): usernames and names, the heads marked",
    responses={**ERRORS, 503: PROBLEM},
)
async def agency_staff(
    code: Annotated[AgencyCode, Path(description="Agency code")],
    c: Container,
    principal: Principal = READ_QUEUE,
) -> dict[str, Any]:
    return {"agency": code.value, "items": await c.agency_staff(staff(principal), code.value)}


@router.get(
    "/v1/escalations",
    summary="Late cases on the escalation ladder that reached the caller: an agency head's (their agency), "
    "the supervisor's (the governorate's step), longest late first",
    responses={**ERRORS, 422: PROBLEM},
)
async def escalations(
    c: Container,
    reading: Reading,
    principal: Principal = READ_QUEUE,
    to: Annotated[
        EscalationTarget | None, Query(description="Supervisors and ops: which step (default: supervisor)")
    ] = None,
    agency: Annotated[AgencyCode | None, Query(description="Supervisors and ops: one agency only")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    target, scope, result = await c.escalation_queue(
        staff(principal),
        target=to.value if to else None,
        agency=agency.value if agency else None,
        page=page,
        page_size=page_size,
        ctx=reading,
    )
    return {
        "to": target,
        "agency": scope,
        "page": page,
        "page_size": page_size,
        "total": result.total,
        "items": result.items,
    }
