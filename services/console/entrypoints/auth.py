"""Signing in and out: OpenID Connect authorisation code with PKCE; the session gets a new id at
sign-in and is removed at sign-out, at the provider too."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import RedirectResponse, Response

from services.common.problems import ProblemError
from services.console.adapters.identity import SignInFailed
from services.console.domain.people import STAFF_ROLES, User
from services.console.entrypoints.sessions import session_of
from services.console.entrypoints.web import LIVE_KEY, Container, Csrf, keep_tokens, new_live_key, render

log = logging.getLogger("samad.console.auth")
router = APIRouter(include_in_schema=False)

HOME_OF = {"operator": "/desk", "supervisor": "/desk", "agency_staff": "/inbox", "ops": "/desk/find"}


def safe_next(target: str | None) -> str | None:
    """Only a path on this site (never another host) is followed after sign-in."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


@router.get("/login")
async def login(
    request: Request, c: Container, next: Annotated[str | None, Query(max_length=500)] = None
) -> Response:
    request.session["next"] = safe_next(next)
    return await c.identity.start(request, c.settings.console_url.rstrip("/") + "/auth/callback")


@router.get("/auth/callback")
async def callback(request: Request, c: Container) -> Response:
    try:
        token = await c.identity.finish(request)
        principal = await c.verify_token(token["access_token"])
    except (SignInFailed, ProblemError, KeyError) as exc:
        log.warning("sign-in failed: %r", exc)
        return render(request, "signin_failed.html", status_code=400)
    user = User(
        subject=principal.subject,
        name=principal.name or principal.subject,
        role=principal.role.value,
        agency=principal.agency.value if principal.agency else None,
        province=principal.province,
        agency_head=principal.agency_head,
    )
    if user.role not in STAFF_ROLES:
        return render(request, "signin_failed.html", status_code=403)
    target = request.session.pop("next", None) or HOME_OF.get(user.role, "/")
    session = session_of(request)
    session.clear()
    session.rotate()  # a new session id: one planted before sign-in opens nothing
    request.session["user"] = user.to_session()
    request.session["tokens"] = keep_tokens(token)
    request.session[LIVE_KEY] = new_live_key()
    log.info("%s signed in as %s", user.subject, user.role)
    return RedirectResponse(target, status_code=303)


@router.post("/logout", dependencies=[Csrf])
async def logout(request: Request, c: Container) -> Response:
    id_token = (request.session.get("tokens") or {}).get("id_token")
    session_of(request).end()
    try:
        target = await c.identity.logout_url(id_token, c.settings.console_url.rstrip("/") + "/")
    except Exception as exc:  # the provider is unreachable: the console's own session is gone anyway
        log.warning("provider logout address unavailable: %r", exc)
        target = "/"
    return RedirectResponse(target, status_code=303)
