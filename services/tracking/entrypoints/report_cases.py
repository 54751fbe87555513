"""The staff route to the cases behind a number of a report (read only): the supervisor's dashboard
links every count to it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from contracts.catalogue import AgencyCode
from services.common.auth import Principal
from services.tracking.domain.report_cases import BadSelection, Selection
from services.tracking.entrypoints.deps import ERRORS, OVERVIEW, PROBLEM, Container
from services.tracking.entrypoints.problems import bad_field
from services.tracking.service.report_cases import ReportCases

router = APIRouter(tags=["reports"])


@router.get(
    "/v1/reports/cases",
    summary="The cases behind one number of a report (funnel, agencies, counties, weeks), paged",
    responses={**ERRORS, 422: PROBLEM},
)
async def report_cases(
    c: Container,
    report: Annotated[Literal["funnel", "agencies", "counties", "weeks"], Query()],
    measure: Annotated[str, Query(max_length=50, description="The report's column, e.g. cases_referred")],
    date_from: Annotated[
        str | None, Query(alias="from", description="First day: 1405-09-01 or 2026-11-22")
    ] = None,
    date_to: Annotated[str | None, Query(alias="to", description="Last day (included)")] = None,
    duty_session_id: Annotated[
        str | None, Query(max_length=200, description="The funnel of a duty session")
    ] = None,
    agency: Annotated[AgencyCode | None, Query(description="The row of the per-agency report")] = None,
    county: Annotated[
        str | None, Query(max_length=100, description="The row of the per-county report")
    ] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    principal: Principal = OVERVIEW,
) -> dict[str, Any]:
    selection = Selection(report, measure, agency.value if agency else None, county, duty_session_id)
    try:
        found = await ReportCases(c.cases, c.clock, c.opener)(selection, date_from, date_to, page, page_size)
    except BadSelection as exc:
        raise bad_field(exc.field, exc.fa, exc.en) from None
    return {"page": page, "page_size": page_size, "total": found.total, "items": found.items}
