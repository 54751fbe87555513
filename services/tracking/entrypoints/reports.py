"""The report routes: the funnel, per agency, per county and per week, as JSON or CSV."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import StreamingResponse

from contracts.catalogue import AgencyCode, provinces
from services.common.auth import Principal
from services.tracking.bootstrap import TrackingContainer
from services.tracking.domain.reports import AGENCY_COLUMNS, COUNTY_COLUMNS, WEEK_COLUMNS
from services.tracking.entrypoints.deps import (
    AGENCY_REPORT,
    ERRORS,
    FUNNEL,
    OVERVIEW,
    PROBLEM,
    Container,
    staff,
)
from services.tracking.entrypoints.problems import bad_field

router = APIRouter(tags=["reports"])
RESPONSES: dict[int | str, dict[str, Any]] = {**ERRORS, 422: PROBLEM}

FROM = Annotated[str | None, Query(alias="from", description="First day: 1405-09-01 or 2026-11-22")]
TO = Annotated[str | None, Query(alias="to", description="Last day (included)")]
SESSION = Annotated[str | None, Query(max_length=200, description="A duty session instead of a period")]
PROVINCE = Annotated[str | None, Query(max_length=100)]
AGENCY = Annotated[AgencyCode | None, Query(description="One agency only")]


def csv_lines(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Iterator[str]:
    """The CSV text a line at a time: a byte-order mark (so spreadsheet programs read the Persian
    names as UTF-8), the header, then one line per row as it comes."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore")
    buffer.write("\ufeff")
    writer.writeheader()
    for row in rows:
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
    yield buffer.getvalue()


def _csv(rows: Iterable[dict[str, Any]], columns: Sequence[str], name: str) -> StreamingResponse:
    # Streamed: the answer is written as it is produced, never held whole.
    return StreamingResponse(
        csv_lines(rows, columns),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


async def _funnel(
    c: TrackingContainer,
    date_from: str | None,
    date_to: str | None,
    session: str | None,
    province: str | None,
) -> dict[str, Any]:
    if province is not None and province not in provinces():
        raise bad_field("province", "کد استان شناخته نیست", "Unknown province code")
    period, funnel = await c.reports.funnel(date_from, date_to, duty_session_id=session, province=province)
    if period is None:
        return {"duty_session_id": session, "province": province, **funnel.as_dict()}
    return {"period": period.as_dict(), "province": province, **funnel.as_dict()}


async def _agencies(
    c: TrackingContainer, date_from: str | None, date_to: str | None, agency: AgencyCode | None, p: Principal
) -> dict[str, Any]:
    code = agency.value if agency else None
    period, rows = await c.reports.agencies(date_from, date_to, code, staff(p))
    return {"period": period.as_dict(), "agencies": rows}


@router.get(
    "/v1/reports/funnel", summary="Calls received → answered → registered → referred", responses=RESPONSES
)
async def report_funnel(
    c: Container,
    date_from: FROM = None,
    date_to: TO = None,
    duty_session_id: SESSION = None,
    province: PROVINCE = None,
    principal: Principal = FUNNEL,
) -> dict[str, Any]:
    return await _funnel(c, date_from, date_to, duty_session_id, province)


@router.get("/v1/reports/funnel.csv", summary="The funnel as CSV", responses=RESPONSES)
async def report_funnel_csv(
    c: Container,
    date_from: FROM = None,
    date_to: TO = None,
    duty_session_id: SESSION = None,
    province: PROVINCE = None,
    principal: Principal = FUNNEL,
) -> StreamingResponse:
    doc = await _funnel(c, date_from, date_to, duty_session_id, province)
    period = doc.pop("period", {})
    row = {**period, **doc}
    return _csv([row], list(row), "funnel")


@router.get(
    "/v1/reports/agencies",
    summary="Per agency: received, acknowledged within SLA, resolved, time to resolve, overdue",
    responses=RESPONSES,
)
async def report_agencies(
    c: Container,
    date_from: FROM = None,
    date_to: TO = None,
    agency: AGENCY = None,
    principal: Principal = AGENCY_REPORT,
) -> dict[str, Any]:
    return await _agencies(c, date_from, date_to, agency, principal)


@router.get("/v1/reports/agencies.csv", summary="Per agency, as CSV", responses=RESPONSES)
async def report_agencies_csv(
    c: Container,
    date_from: FROM = None,
    date_to: TO = None,
    agency: AGENCY = None,
    principal: Principal = AGENCY_REPORT,
) -> StreamingResponse:
    doc = await _agencies(c, date_from, date_to, agency, principal)
    return _csv(doc["agencies"], AGENCY_COLUMNS, "agencies")


@router.get(
    "/v1/reports/counties", summary="Per county, over the cases registered in the period", responses=RESPONSES
)
async def report_counties(
    c: Container, date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
) -> dict[str, Any]:
    period, rows = await c.reports.counties(date_from, date_to)
    return {"period": period.as_dict(), "counties": rows}


@router.get("/v1/reports/counties.csv", summary="Per county, as CSV", responses=RESPONSES)
async def report_counties_csv(
    c: Container, date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
) -> StreamingResponse:
    _period, rows = await c.reports.counties(date_from, date_to)
    return _csv(rows, COUNTY_COLUMNS, "counties")


@router.get("/v1/reports/weeks", summary="Per Iranian week (Saturday to Friday)", responses=RESPONSES)
async def report_weeks(
    c: Container, date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
) -> dict[str, Any]:
    period, rows = await c.reports.weeks(date_from, date_to)
    return {"period": period.as_dict(), "weeks": rows}


@router.get("/v1/reports/weeks.csv", summary="Per week, as CSV", responses=RESPONSES)
async def report_weeks_csv(
    c: Container, date_from: FROM = None, date_to: TO = None, principal: Principal = OVERVIEW
) -> StreamingResponse:
    _period, rows = await c.reports.weeks(date_from, date_to)
    return _csv(rows, WEEK_COLUMNS, "weeks")
