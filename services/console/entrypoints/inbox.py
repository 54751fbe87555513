"""The agency's inbox (agency staff, their own agency only): the list with its filters, one case with
every action answering in place, the SMS an answer becomes, the escalation queue of agency heads and
the supervisor, and their live updates (server-sent events of the agency's own cases only)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response

from contracts.catalogue import provinces
from services.console.domain.forms import Form
from services.console.domain.inbox import (
    ACTION_NAMES,
    NOBODY,
    OVERDUE,
    SORTS,
    STATUSES,
    VIEWS,
    Filters,
    action_form,
    actions_for,
    badge,
)
from services.console.domain.people import User
from services.console.entrypoints.web import Container, Csrf, NotForYou, counties, env, render, staff
from services.console.service.inbox import (
    SUPERVISOR_QUEUE,
    Acted,
    NotYours,
    escalation_topic,
    inbox_topic,
)

router = APIRouter(include_in_schema=False)
AGENCY = staff("agency_staff")
WORKERS = staff("agency_staff", "supervisor")
PING_SECONDS = 15
PREVIEW_TEMPLATES = {"resolved": "answer", "rejected": "reason", "info_requested": "question"}

env.filters["badge"] = badge
env.globals.update(
    action_names=ACTION_NAMES,
    inbox_statuses=STATUSES,
    inbox_views=VIEWS,
    inbox_sorts=SORTS,
    inbox_overdue=OVERDUE,
    county_fa={c.code: c.fa for p in provinces().values() for c in p.counties},
    # Each action form's idempotency key: a double submit is one action.
    new_key=lambda: str(uuid.uuid4()),
)


def _not_found(request: Request) -> Response:
    return render(request, "not_found.html", status_code=404)


def _hx(request: Request) -> bool:
    return bool(request.headers.get("hx-request"))


def render_row(case: dict[str, Any]) -> str:
    """One case as a row of the inbox (the live feed pushes it to the agency's pages)."""
    return env.get_template("inbox/_row.html").render(c=case)


def render_escalation_row(case: dict[str, Any]) -> str:
    return env.get_template("inbox/_escalation_row.html").render(c=case)


def install(c: Any) -> None:
    """Give the live feed the rows it pushes (rendered once per change, not once per page)."""
    c.inbox_feed.render_row = render_row
    c.inbox_feed.render_escalation = render_escalation_row


# --- the list -----------------------------------------------------------------------------------------


@router.get("/inbox")
async def inbox(request: Request, c: Container, who: tuple[User, str] = AGENCY) -> Response:
    user, token = who
    filters = Filters.of(request.query_params)
    try:
        page = await c.inbox.page(user, token, filters)
    except NotYours as exc:
        raise NotForYou() from exc
    context: dict[str, Any] = {
        "page": page,
        "filters": filters,
        "counties": counties(user.province or c.settings.province),
        "nobody": NOBODY,
    }
    if _hx(request):
        return render(request, "inbox/_results.html", **context)
    return render(request, "inbox/list.html", **context)


async def _stream(request: Request, c: Any, topic: str) -> Response:
    async def events() -> AsyncIterator[dict[str, Any]]:
        async with c.hub.watch(topic) as queue:
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=PING_SECONDS)
                except TimeoutError:
                    continue
                yield {"event": message["event"], "data": message.get("data", "")}

    return EventSourceResponse(events(), ping=PING_SECONDS)


@router.get("/inbox/live")
async def inbox_live(request: Request, c: Container, who: tuple[User, str] = AGENCY) -> Response:
    user = who[0]
    if not user.in_agency or user.agency is None:
        raise NotForYou()
    # The topic comes from the signed-in person's agency, never from the request.
    return await _stream(request, c, inbox_topic(user.agency))


# --- one case -----------------------------------------------------------------------------------------


async def _case_context(
    c: Any, user: User, token: str, case: dict[str, Any] | None, form: Form | None = None
) -> dict[str, Any]:
    agency = (case or {}).get("agency") or user.agency
    return {
        "case": case,
        "form": form or action_form({}),
        "actions": actions_for((case or {}).get("status")),
        "colleagues": await c.inbox.colleagues(token, agency) if agency else [],
        "answers": c.inbox.ready_answers(agency),
    }


@router.get("/inbox/cases/{case_id}")
async def case_page(
    request: Request, c: Container, case_id: str, who: tuple[User, str] = WORKERS
) -> Response:
    user, token = who
    try:
        case = await c.inbox.case(user, token, case_id)
    except NotYours:
        return _not_found(request)
    return render(request, "inbox/case.html", **await _case_context(c, user, token, case))


@router.get("/inbox/cases/{case_id}/summary")
async def case_summary(
    request: Request, c: Container, case_id: str, who: tuple[User, str] = WORKERS
) -> Response:
    """The case's summary, reloaded when the case changes (the forms stay as typed)."""
    user, token = who
    try:
        case = await c.inbox.case(user, token, case_id)
    except NotYours:
        return _not_found(request)
    return render(request, "inbox/_summary.html", case=case, changed=True)


@router.get("/inbox/cases/{case_id}/timeline")
async def case_timeline(
    request: Request, c: Container, case_id: str, who: tuple[User, str] = WORKERS
) -> Response:
    """The case's timeline, reloaded when the case changes."""
    user, token = who
    try:
        case = await c.inbox.case(user, token, case_id)
    except NotYours:
        return _not_found(request)
    return render(request, "inbox/_timeline.html", case=case)


@router.post("/inbox/cases/{case_id}/act", dependencies=[Csrf])
async def act(request: Request, c: Container, case_id: str, who: tuple[User, str] = WORKERS) -> Response:
    user, token = who
    try:
        case = await c.inbox.case(user, token, case_id)
    except NotYours:
        return _not_found(request)
    form = action_form(await request.form())
    done: Acted | None = await c.inbox.act(user, token, case, form)
    if done is None:
        context = await _case_context(c, user, token, case, form)
        template = "inbox/_panel.html" if _hx(request) else "inbox/case.html"
        return render(request, template, status_code=422, **context)
    context = await _case_context(c, user, token, done.case)
    context.update(done=done)
    return render(request, "inbox/_panel.html" if _hx(request) else "inbox/case.html", **context)


@router.post("/inbox/cases/{case_id}/preview", dependencies=[Csrf])
async def preview(request: Request, c: Container, case_id: str, who: tuple[User, str] = WORKERS) -> Response:
    user, token = who
    try:
        case = await c.inbox.case(user, token, case_id)
    except NotYours:
        return _not_found(request)
    data = await request.form()
    template = str(data.get("template") or "")
    if template not in PREVIEW_TEMPLATES:
        return Response(status_code=422)
    text = str(data.get(PREVIEW_TEMPLATES[template]) or "")
    shown = await c.inbox.preview(user, token, case, template, text)
    return render(request, "inbox/_preview.html", sms=shown, template=template)


# --- escalations ----------------------------------------------------------------------------------


@router.get("/inbox/escalations")
async def escalations(
    request: Request,
    c: Container,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    who: tuple[User, str] = WORKERS,
) -> Response:
    user, token = who
    try:
        found = await c.inbox.escalations(user, token, page)
    except NotYours as exc:
        raise NotForYou() from exc
    template = "inbox/_escalation_results.html" if _hx(request) else "inbox/escalations.html"
    return render(request, template, found=found, page=page)


@router.get("/inbox/escalations/live")
async def escalations_live(request: Request, c: Container, who: tuple[User, str] = WORKERS) -> Response:
    user = who[0]
    if not user.follows_escalations:
        raise NotForYou()
    topic = escalation_topic(user.agency if user.role == "agency_staff" and user.agency else SUPERVISOR_QUEUE)
    return await _stream(request, c, topic)
