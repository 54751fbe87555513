"""HTTP: the weekly duty roster (JSON, JSON Feed 1.1 and iCalendar), who is on duty now, and a
supervisor's additions, moves and removals."""

from __future__ import annotations

from datetime import date, time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from contracts.catalogue import AgencyCode, agency, provinces
from services.common.auth import Principal, Role, require
from services.common.problems import ProblemError, invalid, validation_problem
from services.routing.domain.roster import DutyHours, parse_day
from services.routing.entrypoints.dependencies import PROBLEM, Container
from services.routing.service.roster import EntryNotFound, InvalidEntry, NewEntry, RosterBusy, RosterOverlap

router = APIRouter(tags=["roster"])
SUPERVISOR = require(Role.supervisor)


def _day(value: str) -> str:
    try:
        parse_day(value)
    except (ValueError, TypeError):
        raise invalid("date_invalid", "Not a valid date", "تاریخ معتبر نیست") from None
    return value


class HoursIn(BaseModel):
    date: str = Field(description="Gregorian (2025-03-22) or Solar Hijri (1404-01-02)")
    start: time
    end: time

    @field_validator("date")
    @classmethod
    def _date(cls, value: str) -> str:
        return _day(value)


class RosterEntryIn(BaseModel):
    week_start: str = Field(description="The Saturday starting the week: 2025-03-22 or 1404-01-02")
    agency: AgencyCode
    director_name: str = Field(min_length=2, max_length=200)
    director_title: str | None = Field(default=None, max_length=100)
    province: str | None = Field(default=None, description="Defaults to the service's province")
    location: str | None = Field(default=None, max_length=300)
    hours: list[HoursIn] = Field(min_length=1, max_length=21)

    @field_validator("week_start")
    @classmethod
    def _week(cls, value: str) -> str:
        return _day(value)

    @field_validator("province")
    @classmethod
    def _province(cls, value: str | None) -> str | None:
        if value is not None and value not in provinces():
            raise invalid("unknown_province", "Unknown province code", "کد استان شناخته نیست")
        return value

    def new_entry(self) -> NewEntry:
        return NewEntry(
            week_start=parse_day(self.week_start),
            agency=self.agency,
            director_name=self.director_name,
            director_title=self.director_title,
            province=self.province,
            location=self.location,
            hours=tuple(DutyHours(parse_day(h.date), h.start, h.end) for h in self.hours),
        )


def _not_found() -> ProblemError:
    return ProblemError(404, "not-found", "برنامهٔ کشیک پیدا نشد", "Roster entry not found")


def _overlap(exc: RosterOverlap) -> ProblemError:
    first = exc.conflicts[0]
    return ProblemError(
        409,
        "roster-overlap",
        "برنامهٔ کشیک با برنامهٔ دیگری هم‌پوشانی دارد",
        "The roster entry overlaps another entry",
        f"{first.why_fa}: {agency(first.entry.agency).fa}، {first.entry.director_name}",
        f"{first.why_en}: {first.entry.agency.value}, {first.entry.director_name}",
        conflicts=[
            {
                "id": c.entry.id,
                "agency": c.entry.agency.value,
                "week_start": c.entry.week_start.isoformat(),
                "director_name": c.entry.director_name,
                "reason": c.why_en,
                "reason_fa": c.why_fa,
            }
            for c in exc.conflicts
        ],
    )


def _busy() -> ProblemError:
    return ProblemError(
        503,
        "roster-busy",
        "برنامهٔ کشیک در حال تغییر است؛ دوباره تلاش کنید",
        "The roster is being changed; try again",
        headers={"Retry-After": "1"},
    )


@router.get("/v1/roster", summary="The duty roster (public)")
async def roster(
    c: Container,
    province: str | None = None,
    from_: Annotated[date | None, Query(alias="from")] = None,
    to: date | None = None,
) -> dict[str, Any]:
    views = c.roster_views
    return {
        "province": province or views.province,
        "entries": [views.document(e) for e in await views.entries(province, from_, to)],
    }


@router.post(
    "/v1/roster",
    summary="Add a week to the roster (supervisor)",
    status_code=201,
    responses={409: PROBLEM, 422: PROBLEM, 401: PROBLEM, 403: PROBLEM},
)
async def add_entry(body: RosterEntryIn, c: Container, principal: Principal = SUPERVISOR) -> JSONResponse:
    try:
        entry = await c.add_roster_entry(body.new_entry(), by=principal.subject)
    except InvalidEntry as exc:
        return validation_problem(
            [{"field": p.field, "code": p.code, "message": p.fa, "message_en": p.en} for p in exc.problems]
        )
    except RosterOverlap as exc:
        raise _overlap(exc) from None
    except RosterBusy:
        raise _busy() from None
    return JSONResponse(
        c.roster_views.document(entry), status_code=201, headers={"Location": f"/v1/roster/{entry.id}"}
    )


@router.get("/v1/roster/current", summary="Who is on duty at the centre now (public)")
async def current(c: Container, province: str | None = None) -> dict[str, Any]:
    found = await c.roster_views.on_duty(province)
    if found is None:
        return {"on_duty": False}
    session, entry = found
    return {
        "on_duty": True,
        "session_id": session.id,
        "starts_at": session.starts_at.isoformat(),
        "ends_at": session.ends_at.isoformat(),
        "entry": c.roster_views.document(entry),
    }


@router.get("/v1/roster/feed.json", summary="The roster as a JSON Feed 1.1 (public)")
async def feed(request: Request, c: Container, province: str | None = None) -> JSONResponse:
    doc = await c.roster_views.json_feed(province, str(request.url))
    return JSONResponse(doc, media_type="application/feed+json")


@router.get("/v1/roster/calendar.ics", summary="The roster as an iCalendar feed (public)")
async def calendar(c: Container, province: str | None = None) -> Response:
    return Response(
        await c.roster_views.calendar(province),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="samad-duty-roster.ics"'},
    )


@router.get("/v1/roster/{entry_id}", summary="One roster entry (public)")
async def one_entry(entry_id: str, c: Container) -> dict[str, Any]:
    try:
        return c.roster_views.document(await c.roster_views.entry(entry_id))
    except EntryNotFound:
        raise _not_found() from None


@router.put(
    "/v1/roster/{entry_id}",
    summary="Move a roster entry: other days, hours, week or director (supervisor)",
    responses={404: PROBLEM, 409: PROBLEM, 422: PROBLEM, 401: PROBLEM, 403: PROBLEM, 503: PROBLEM},
)
async def move_entry(
    entry_id: str, body: RosterEntryIn, c: Container, principal: Principal = SUPERVISOR
) -> JSONResponse:
    try:
        entry = await c.move_roster_entry(entry_id, body.new_entry(), by=principal.subject)
    except EntryNotFound:
        raise _not_found() from None
    except InvalidEntry as exc:
        return validation_problem(
            [{"field": p.field, "code": p.code, "message": p.fa, "message_en": p.en} for p in exc.problems]
        )
    except RosterOverlap as exc:
        raise _overlap(exc) from None
    except RosterBusy:
        raise _busy() from None
    return JSONResponse(c.roster_views.document(entry))


@router.delete("/v1/roster/{entry_id}", summary="Remove a roster entry (supervisor)", status_code=204)
async def delete_entry(entry_id: str, c: Container, principal: Principal = SUPERVISOR) -> Response:
    try:
        await c.remove_roster_entry(entry_id)
    except EntryNotFound:
        raise _not_found() from None
    return Response(status_code=204)
