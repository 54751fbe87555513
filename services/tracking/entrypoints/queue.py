"""The staff route to an agency's queue."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus
from services.common.auth import Principal
from services.tracking.entrypoints.deps import ERRORS, PROBLEM, READ_QUEUE, Container, staff

router = APIRouter(tags=["staff"])


@router.get(
    "/v1/agencies/{code}/cases",
    summary="An agency's queue: its cases, newest first, filtered and paged",
    responses={**ERRORS, 422: PROBLEM},
)
async def agency_queue(
    code: Annotated[AgencyCode, Path(description="Agency code")],
    c: Container,
    principal: Principal = READ_QUEUE,
    status: Annotated[CaseStatus | None, Query()] = None,
    overdue: Annotated[bool | None, Query(description="Only overdue (true) or not overdue (false)")] = None,
    county: Annotated[str | None, Query(max_length=100)] = None,
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
        status=status.value if status else None,
        overdue=overdue,
        county=county,
        registered_from=date_from,
        registered_to=date_to,
        page=page,
        page_size=page_size,
    )
    return {
        "agency": code.value,
        "page": page,
        "page_size": page_size,
        "total": result.total,
        "items": result.items,
    }
