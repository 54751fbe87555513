"""The citizen's pages, public and usable without JavaScript: the start page, a case's status, and a
request registered online (phone, one-time code, details, check your answers, done)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from services.console.domain.forms import CITIZEN_STATUS_FIELDS, Form, check_details
from services.console.domain.otp import Challenge, Verdict
from services.console.entrypoints.web import Container, Csrf, client_address, counties, render

router = APIRouter(include_in_schema=False)
DETAILS = ("county", "subject", "description", "name")


@router.get("/")
async def start(request: Request) -> Response:
    return render(request, "start.html")


@router.get("/status")
async def status_form(request: Request) -> Response:
    return render(request, "status.html", form=Form({}, CITIZEN_STATUS_FIELDS), case=None)


@router.post("/status", dependencies=[Csrf])
async def status(request: Request, c: Container) -> Response:
    form = Form.of(await request.form(), CITIZEN_STATUS_FIELDS)
    case = await c.citizen.status(form, client_address(request, c.settings.trusted_proxies))
    return render(request, "status.html", status_code=200 if case else 422, form=form, case=case)


def _flow(request: Request) -> dict[str, Any]:
    flow: dict[str, Any] = request.session.get("register") or {}
    return flow


def _save(request: Request, flow: dict[str, Any]) -> None:
    request.session["register"] = flow


@router.get("/register")
async def register_start(request: Request) -> Response:
    return render(request, "register_start.html")


@router.get("/register/phone")
async def phone_form(request: Request) -> Response:
    return render(
        request,
        "register_phone.html",
        form=Form({"phone": _flow(request).get("typed_phone", "")}, ("phone",)),
    )


@router.post("/register/phone", dependencies=[Csrf])
async def phone(request: Request, c: Container) -> Response:
    form = Form.of(await request.form(), ("phone",))
    challenge = await c.citizen.send_code(form, client_address(request, c.settings.trusted_proxies))
    if challenge is None:
        return render(request, "register_phone.html", status_code=422, form=form)
    _save(request, {"typed_phone": form.get("phone"), "challenge": challenge.to_doc()})
    return RedirectResponse("/register/code", status_code=303)


@router.get("/register/code")
async def code_form(request: Request) -> Response:
    flow = _flow(request)
    if "challenge" not in flow:
        return RedirectResponse("/register/phone", status_code=303)
    return render(request, "register_code.html", form=Form({}, ("code",)), phone=flow["challenge"]["phone"])


@router.post("/register/code", dependencies=[Csrf])
async def code(request: Request, c: Container) -> Response:
    flow = _flow(request)
    if "challenge" not in flow:
        return RedirectResponse("/register/phone", status_code=303)
    form = Form.of(await request.form(), ("code",))
    verdict, after = c.citizen.check_code(Challenge.from_doc(flow["challenge"]), form)
    flow["challenge"] = after.to_doc()
    if verdict is not Verdict.ok:
        _save(request, flow)
        return render(request, "register_code.html", status_code=422, form=form, phone=after.phone)
    _save(request, {"verified_phone": after.phone, "key": str(uuid.uuid4())})
    return RedirectResponse("/register/details", status_code=303)


@router.get("/register/details")
async def details_form(request: Request, c: Container) -> Response:
    flow = _flow(request)
    if "verified_phone" not in flow:
        return RedirectResponse("/register/phone", status_code=303)
    form = Form(dict(flow.get("details") or {}), DETAILS)
    return render(request, "register_details.html", form=form, counties=counties(c.settings.province))


@router.post("/register/details", dependencies=[Csrf])
async def details(request: Request, c: Container) -> Response:
    flow = _flow(request)
    if "verified_phone" not in flow:
        return RedirectResponse("/register/phone", status_code=303)
    form = Form.of(await request.form(), DETAILS)
    check_details(form)
    if not form.ok:
        return render(
            request,
            "register_details.html",
            status_code=422,
            form=form,
            counties=counties(c.settings.province),
        )
    flow["details"] = form.values
    _save(request, flow)
    return RedirectResponse("/register/check", status_code=303)


@router.get("/register/check")
async def check(request: Request, c: Container) -> Response:
    flow = _flow(request)
    if "details" not in flow:
        return RedirectResponse("/register/details", status_code=303)
    names = dict(counties(c.settings.province))
    return render(
        request,
        "register_check.html",
        flow=flow,
        county_fa=names.get(flow["details"]["county"], ""),
        form=Form({}, DETAILS),
    )


@router.post("/register/check", dependencies=[Csrf])
async def confirm(request: Request, c: Container) -> Response:
    flow = _flow(request)
    if "details" not in flow:
        return RedirectResponse("/register/details", status_code=303)
    form = Form(dict(flow["details"]), DETAILS)
    answer = await c.citizen.register(flow["details"], flow["verified_phone"], flow["key"], form)
    if answer is None:
        return render(
            request,
            "register_details.html",
            status_code=422,
            form=form,
            counties=counties(c.settings.province),
        )
    _save(request, {"done": {"tracking_code": answer["tracking_code"], "phone": flow["verified_phone"]}})
    return RedirectResponse("/register/done", status_code=303)


@router.get("/register/done")
async def done(request: Request) -> Response:
    flow = _flow(request)
    if "done" not in flow:
        return RedirectResponse("/register", status_code=303)
    return render(request, "register_done.html", done=flow["done"])
