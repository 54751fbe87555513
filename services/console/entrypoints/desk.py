"""The operator's desk: one screen per call, the screen-pop, the routing suggestion, the result with the
tracking code and the SMS status live; finding and opening a case."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi import Form as FormField
from starlette.responses import RedirectResponse, Response

from services.console.adapters.platform import ApiRefused, ServiceDown
from services.console.domain.display import as_datetime
from services.console.domain.forms import DESK_FIELDS, Form, digits
from services.console.domain.people import User
from services.console.entrypoints.web import Container, Csrf, counties, live_grant, render, staff

router = APIRouter(include_in_schema=False)
DESK = staff("operator", "supervisor")
READERS = staff("operator", "supervisor", "agency_staff", "ops")
ACTIONS = ("auto", "register", "link", "log")


def _new_call(c: Any) -> dict[str, str]:
    return {"started_at": c.clock.now().isoformat(), "form_key": str(uuid.uuid4())}


async def _desk_page(
    request: Request, c: Any, user: User, form: Form | None, call: dict[str, str], status: int = 200
) -> Response:
    return render(
        request,
        "desk.html",
        status_code=status,
        form=form or Form({}, DESK_FIELDS),
        call=call,
        duty=await c.desk.on_duty(),
        counties=counties(user.province or c.settings.province),
    )


# The caller the operator is handling (the number typed on the desk, or searched for): the cases found
# by it show the caller's personal data (tracking checks that they are the caller's). A new call forgets it.
CALLER = "caller"


def _handling(request: Request, kind: str, value: str) -> None:
    request.session[CALLER] = {kind: value}


@router.get("/desk")
async def desk(request: Request, c: Container, who: tuple[User, str] = DESK) -> Response:
    request.session.pop(CALLER, None)
    return await _desk_page(request, c, who[0], None, _new_call(c))


@router.post("/desk", dependencies=[Csrf])
async def submit(request: Request, c: Container, who: tuple[User, str] = DESK) -> Response:
    user, token = who
    data = await request.form()
    form = Form.of(data, (*DESK_FIELDS, "suggested_agency", "suggested_confidence"))
    action = str(data.get("action") or "auto")
    if action not in ACTIONS:
        action = "auto"
    if data.get("link_case"):  # a "link to this case" button of the caller's open cases
        action = "link"
        form.values["repeat_of"] = str(data.get("link_case"))
    call = {
        "started_at": str(data.get("started_at") or ""),
        "form_key": str(data.get("form_key") or uuid.uuid4()),
    }
    started = as_datetime(call["started_at"]) or c.clock.now()
    try:
        done = await c.desk.submit(user, token, form, action, started, call["form_key"])
    except ServiceDown:
        # Nothing typed is lost: the same form comes back, and sending it again logs the call once.
        form.add("service", "سامانه ثبت لحظه‌ای در دسترس نیست؛ آنچه نوشتید حفظ شده است، دوباره «ثبت» را بزنید")
        done = None
    if done is None:
        return await _desk_page(request, c, user, form, call, status=422)
    grant = None
    if done.case:
        grant = live_grant(request, done.case["case_id"])
        if grant is None:  # a session from before sessions had a key: it remembers the case instead
            mine = [done.case["case_id"], *request.session.get("registered", [])]
            request.session["registered"] = mine[:20]
    return render(request, "desk_done.html", done=done, action=action, next_call=_new_call(c), grant=grant)


@router.get("/desk/caller")
async def caller(
    request: Request,
    c: Container,
    caller_phone: Annotated[str, Query(max_length=40)] = "",
    who: tuple[User, str] = DESK,
) -> Response:
    try:
        cases = await c.desk.caller(who[1], caller_phone)
    except ApiRefused:
        cases = None
    if cases is not None:
        _handling(request, "phone", digits(caller_phone))
    return render(request, "partials/caller.html", cases=cases)


@router.post("/desk/suggest", dependencies=[Csrf])
async def suggest(
    request: Request,
    c: Container,
    description: Annotated[str, FormField(max_length=4000)] = "",
    who: tuple[User, str] = DESK,
) -> Response:
    try:
        suggestion = await c.desk.suggest(who[1], description)
    except ApiRefused:
        suggestion = None
    return render(request, "partials/suggestion.html", suggestion=suggestion)


@router.get("/desk/find")
async def find(
    request: Request,
    c: Container,
    q: Annotated[str, Query(max_length=40)] = "",
    who: tuple[User, str] = READERS,
) -> Response:
    kind, found = "none", list[dict[str, Any]]()
    if q.strip():
        kind, found = await c.desk.find(who[1], q)
        if kind in ("phone", "national_id"):
            _handling(request, kind, digits(q))
        if kind == "tracking_code" and len(found) == 1:
            return RedirectResponse(f"/desk/cases/{found[0]['case_id']}", status_code=303)
    return render(request, "find.html", q=q, kind=kind, found=found)


@router.get("/desk/cases/{ref}")
async def case(request: Request, c: Container, ref: str, who: tuple[User, str] = READERS) -> Response:
    try:
        doc = await c.desk.case(who[1], ref, request.session.get(CALLER))
    except ApiRefused as exc:
        return render(request, "not_found.html", status_code=404 if exc.status in (403, 404) else exc.status)
    return render(request, "case.html", case=doc)


@router.get("/desk/cases/{case_id}/sms")
async def case_sms(request: Request, c: Container, case_id: str, who: tuple[User, str] = READERS) -> Response:
    try:
        items = await c.desk.sms(who[1], case_id)
    except ApiRefused:
        items = []
    return render(request, "partials/sms.html", items=items, case_id=case_id, at=datetime.now())
