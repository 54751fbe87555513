"""The governorate supervisor's pages: the dashboard with the cases behind each number and the CSV
exports, the duty session's wall (live), the triage desk and the duty roster. Only a supervisor opens
them (ops may read the dashboard and the wall, as the report APIs allow); the services check again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi import Form as FormField
from sse_starlette.sse import EventSourceResponse
from starlette.responses import RedirectResponse, Response, StreamingResponse

from contracts.catalogue import agencies as all_agencies
from services.console.adapters.platform import ApiRefused
from services.console.domain import supervisor as view
from services.console.domain.display import TEHRAN
from services.console.domain.forms import Form
from services.console.domain.people import User
from services.console.entrypoints.web import Container, Csrf, counties, env, render, staff
from services.console.service.supervisor import funnel_changes

router = APIRouter(include_in_schema=False)
SUPERVISOR = staff("supervisor")
READERS = staff("supervisor", "ops")  # tracking's reports admit ops too
CSV_REPORTS = ("funnel", "agencies", "weeks", "counties")
CASE_PARAMS = ("report", "measure", "from", "to", "session", "agency", "county", "overdue")
PING_SECONDS = 15
# A wall reloads its numbers a moment after a change (tracking applies the event meanwhile), and a
# burst of changes (an imported call log) makes one reload.
SETTLE_SECONDS = 1.0

env.filters.update(
    num=view.number_fa,
    jday=view.jalali_day,
    jshort=view.jalali_short,
    isoday=view.iso_day,
    hhmm=view.clock_of,
)
env.globals.update(weekdays_fa=view.WEEKDAYS_FA, entry_days=view.entry_days)


def _flash(request: Request, message: str) -> None:
    request.session["flash"] = message


def _province(c: Any, user: User) -> str:
    return str(user.province or c.settings.province)


# --- the dashboard -----------------------------------------------------------------------------------


@router.get("/dashboard")
async def dashboard(request: Request, c: Container, who: tuple[User, str] = READERS) -> Response:
    user, token = who
    names = counties(_province(c, user))
    form = Form.of(request.query_params, view.DASHBOARD_FIELDS)
    board, sessions = await asyncio.gather(
        c.supervision.dashboard(token, form, {code for code, _ in names}), c.supervision.recent_sessions()
    )
    context: dict[str, Any] = {"form": form, "counties": names, "sessions": sessions, "board": board}
    if board is not None:
        county_fa = dict(names)
        if board.county:
            row = next((r for r in board.counties if r["county"] == board.county), None)
            funnel = view.county_funnel_rows(row, board.county, board.period)
        else:
            funnel = view.funnel_rows(board.funnel, board.period, board.session)
        agencies = view.agency_rows(board.agencies, board.period)
        weeks = view.week_rows(board.weeks, board.trend)
        export = board.period.params
        context |= {
            "funnel": funnel,
            "agencies": agencies,
            "weeks": weeks,
            "county_rows": view.county_rows(board.counties, board.period, county_fa),
            "county_fa": county_fa.get(board.county or "", ""),
            "charts": view.dashboard_charts(funnel, agencies, weeks),
            "exports": {
                "funnel": {"duty_session_id": board.session} if board.session else export,
                "agencies": export,
                "weeks": board.trend.params,
                "counties": export,
            },
        }
    return render(request, "supervisor/dashboard.html", status_code=200 if form.ok else 422, **context)


@router.get("/dashboard/cases")
async def cases(
    request: Request,
    c: Container,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    who: tuple[User, str] = READERS,
) -> Response:
    user, token = who
    params = {k: str(request.query_params[k]) for k in CASE_PARAMS if request.query_params.get(k)}
    agency_fa = {a.code.value: a.fa for a in all_agencies().values()}.get(params.get("agency", ""))
    county_fa = dict(counties(_province(c, user))).get(params.get("county", ""))
    title = view.cases_title(params, agency_fa, county_fa)
    try:
        found = await c.supervision.cases(token, params, page)
    except ApiRefused as exc:
        return render(
            request, "supervisor/cases.html", status_code=422, title=title, found=None, problem=exc.title
        )
    total = int(found.get("total", 0))
    pages = max(1, -(-total // 50))
    here = dict(params)
    return render(
        request,
        "supervisor/cases.html",
        title=title,
        found=found,
        page=page,
        pages=pages,
        total=total,
        previous_url=_page_url(here, page - 1) if page > 1 else None,
        next_url=_page_url(here, page + 1) if page < pages else None,
        county_names=dict(counties(_province(c, user))),
    )


def _page_url(params: dict[str, str], page: int) -> str:
    return "/dashboard/cases?" + urlencode({**params, "page": str(page)})


# --- the read audit --------------------------------------------------------------------------------

AUDIT_FIELDS = ("case_id", "user", "from", "to")
AUDIT_PAGE_SIZE = 50


@router.get("/audit")
async def audit(
    request: Request,
    c: Container,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    who: tuple[User, str] = SUPERVISOR,
) -> Response:
    """Who read which case's personal data: the supervisor's view of tracking's read audit."""
    form = Form.of(request.query_params, AUDIT_FIELDS)
    found = await c.supervision.reads(who[1], form, page)
    total = int(found.get("total", 0)) if found else 0
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    here = {k: v for k, v in form.values.items() if v}
    return render(
        request,
        "supervisor/audit.html",
        status_code=200 if form.ok else 422,
        form=form,
        found=found,
        page=page,
        pages=pages,
        total=total,
        previous_url="/audit?" + urlencode({**here, "page": str(page - 1)}) if page > 1 else None,
        next_url="/audit?" + urlencode({**here, "page": str(page + 1)}) if page < pages else None,
    )


@router.get("/dashboard/export/{name}.csv")
async def export(name: str, request: Request, c: Container, who: tuple[User, str] = READERS) -> Response:
    if name not in CSV_REPORTS:
        return render(request, "not_found.html", status_code=404)
    allowed = ("from", "to", "duty_session_id")
    params = {k: str(request.query_params[k]) for k in allowed if request.query_params.get(k)}
    try:
        chunks = await c.supervision.csv(who[1], name, params)
    except ApiRefused as exc:
        return render(
            request,
            "supervisor/cases.html",
            status_code=422,
            title="خروجی CSV",
            found=None,
            problem=exc.title,
        )
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="samad-{name}.csv"'},
    )


# --- the duty session's wall ---------------------------------------------------------------------------


async def _wall(c: Any, token: str, session: str | None) -> dict[str, Any]:
    wall = await c.supervision.wall(token, session or None)
    rows = view.funnel_rows(wall.funnel or {}, view.this_week(c.supervision.today()), wall.session_id)
    return {"wall": wall, "tiles": rows, "updated": view.clock_fa(c.clock.now().astimezone(TEHRAN))}


@router.get("/duty")
async def duty(
    request: Request,
    c: Container,
    session: Annotated[str, Query(max_length=200)] = "",
    who: tuple[User, str] = READERS,
) -> Response:
    return render(request, "supervisor/duty.html", session=session, **await _wall(c, who[1], session))


@router.get("/duty/panel")
async def duty_panel(
    request: Request,
    c: Container,
    session: Annotated[str, Query(max_length=200)] = "",
    who: tuple[User, str] = READERS,
) -> Response:
    return render(request, "supervisor/_duty_panel.html", session=session, **await _wall(c, who[1], session))


@router.get("/live/duty")
async def watch_duty(request: Request, c: Container, who: tuple[User, str] = READERS) -> Response:
    """One event per change of any call or case registration (at most one a second): the wall reloads
    its numbers, so a page that reconnects catches up by itself."""

    async def events() -> AsyncIterator[dict[str, Any]]:
        async for _ in funnel_changes(c.hub, request.is_disconnected, SETTLE_SECONDS, PING_SECONDS):
            yield {"event": "funnel", "data": "changed"}

    return EventSourceResponse(events(), ping=PING_SECONDS)


# --- the triage desk -------------------------------------------------------------------------------------


@router.get("/triage")
async def triage(request: Request, c: Container, who: tuple[User, str] = SUPERVISOR) -> Response:
    user, token = who
    items = await c.supervision.triage(token)
    return render(
        request,
        "supervisor/triage.html",
        items=items,
        county_names=dict(counties(_province(c, user))),
        flash=request.session.pop("flash", None),
    )


@router.post("/triage/{case_id}", dependencies=[Csrf])
async def route_case(
    request: Request,
    c: Container,
    case_id: str,
    agency: Annotated[str, FormField(max_length=100)] = "",
    other_agency: Annotated[str, FormField(max_length=100)] = "",
    note: Annotated[str, FormField(max_length=1000)] = "",
    subject: Annotated[str, FormField(max_length=300)] = "",
    who: tuple[User, str] = SUPERVISOR,
) -> Response:
    chosen = other_agency if agency == "other" else agency
    done = await c.supervision.route(who[1], case_id, chosen, note.strip(), subject.strip())
    if request.headers.get("hx-request"):
        return render(
            request, "supervisor/_triage_result.html", done=done, status_code=200 if done.ok else 422
        )
    _flash(request, done.message)
    return RedirectResponse("/triage", status_code=303)


# --- the duty roster -------------------------------------------------------------------------------------


@router.get("/roster")
async def roster(request: Request, c: Container, who: tuple[User, str] = SUPERVISOR) -> Response:
    entries = await c.supervision.roster()
    calendar = c.settings.console_url.rstrip("/") + "/roster/calendar.ics"
    return render(
        request,
        "supervisor/roster.html",
        entries=entries,
        calendar=calendar,
        flash=request.session.pop("flash", None),
    )


@router.get("/roster/calendar.ics")
async def calendar(c: Container) -> Response:
    """The roster for calendar programs (public, as routing's own feed)."""
    return Response(
        await c.supervision.calendar(),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": 'inline; filename="samad-duty-roster.ics"'},
    )


def _entry_form(request: Request, form: Form, entry: dict[str, Any] | None, status: int = 200) -> Response:
    return render(request, "supervisor/roster_form.html", status_code=status, form=form, entry=entry)


@router.get("/roster/new")
async def new_entry(request: Request, who: tuple[User, str] = SUPERVISOR) -> Response:
    return _entry_form(request, Form({}, view.ROSTER_FIELDS), None)


@router.post("/roster/new", dependencies=[Csrf])
async def add_entry(request: Request, c: Container, who: tuple[User, str] = SUPERVISOR) -> Response:
    form = Form.of(await request.form(), view.ROSTER_FIELDS)
    saved = await c.supervision.save_entry(who[1], form)
    if saved is None:
        return _entry_form(request, form, None, status=422)
    _flash(
        request,
        f"برنامهٔ کشیک {saved.get('director_name', '')} برای هفتهٔ {view.jalali_short(_week(saved))} افزوده شد",
    )
    return RedirectResponse("/roster", status_code=303)


def _week(entry: dict[str, Any]) -> date:
    return date.fromisoformat(entry["week_start"])


@router.get("/roster/{entry_id}/move")
async def move_form(
    request: Request, c: Container, entry_id: str, who: tuple[User, str] = SUPERVISOR
) -> Response:
    entry = await c.supervision.entry(entry_id)
    if entry is None:
        return render(request, "not_found.html", status_code=404)
    return _entry_form(request, view.roster_form(entry), entry)


@router.post("/roster/{entry_id}/move", dependencies=[Csrf])
async def move_entry(
    request: Request, c: Container, entry_id: str, who: tuple[User, str] = SUPERVISOR
) -> Response:
    entry = await c.supervision.entry(entry_id)
    if entry is None:
        return render(request, "not_found.html", status_code=404)
    form = Form.of(await request.form(), view.ROSTER_FIELDS)
    saved = await c.supervision.save_entry(who[1], form, entry_id)
    if saved is None:
        return _entry_form(request, form, entry, status=422)
    _flash(
        request,
        f"برنامهٔ کشیک {saved.get('director_name', '')} به هفتهٔ {view.jalali_short(_week(saved))} جابه‌جا شد",
    )
    return RedirectResponse("/roster", status_code=303)


@router.get("/roster/{entry_id}/remove")
async def remove_form(
    request: Request, c: Container, entry_id: str, who: tuple[User, str] = SUPERVISOR
) -> Response:
    entry = await c.supervision.entry(entry_id)
    if entry is None:
        return render(request, "not_found.html", status_code=404)
    return render(request, "supervisor/roster_remove.html", entry=entry)


@router.post("/roster/{entry_id}/remove", dependencies=[Csrf])
async def remove_entry(
    request: Request, c: Container, entry_id: str, who: tuple[User, str] = SUPERVISOR
) -> Response:
    entry = await c.supervision.entry(entry_id)
    removed = await c.supervision.remove_entry(who[1], entry_id)
    if removed and entry:
        _flash(
            request,
            f"برنامهٔ کشیک {entry.get('director_name', '')} برای هفتهٔ {view.jalali_short(_week(entry))} حذف شد",
        )
    else:
        _flash(request, "این برنامهٔ کشیک پیش‌تر حذف شده بود")
    return RedirectResponse("/roster", status_code=303)
