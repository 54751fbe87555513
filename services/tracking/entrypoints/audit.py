"""The supervisors' route to the read audit: who read which case's personal data, when, from where, why."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.common.auth import Principal
from services.tracking.domain.audit import ReadRecord
from services.tracking.domain.calendar import jalali
from services.tracking.entrypoints.deps import AUDIT, ERRORS, PROBLEM, Container

router = APIRouter(tags=["audit"])


def record_view(r: ReadRecord) -> dict[str, Any]:
    return {
        "at": r.at.isoformat(),
        "at_jalali": jalali(r.at, with_time=True),
        "user": r.user,
        "role": r.role,
        "case_id": r.case_id,
        "client": r.client,
        "endpoint": r.endpoint,
        "screen": r.screen,
        "disclosure": r.disclosure,
    }


@router.get(
    "/v1/audit/reads",
    summary="The read audit: who read which case's personal data, when, from where, for which screen, "
    "and whether it was shown or masked; newest first, paged (supervisors)",
    responses={**ERRORS, 422: PROBLEM},
)
async def reads(
    c: Container,
    principal: Principal = AUDIT,
    case_id: Annotated[str | None, Query(max_length=100, description="One case (its id)")] = None,
    user: Annotated[str | None, Query(max_length=100, description="One reader (their username)")] = None,
    date_from: Annotated[
        str | None, Query(alias="from", description="First day: 1405-09-01 or 2026-11-22")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="Last day (included)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> dict[str, Any]:
    found = await c.query_reads(
        case_id=case_id, user=user, date_from=date_from, date_to=date_to, page=page, page_size=page_size
    )
    return {
        "page": page,
        "page_size": page_size,
        "total": found.total,
        "items": [record_view(r) for r in found.items],
    }
