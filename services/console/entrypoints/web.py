"""What every console route shares: the container, the templates with their Persian filters, the
signed-in person and their token (refreshed when it is about to expire), the CSRF check, and the
addresses of clients behind trusted proxies."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import secrets
import time
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from contracts.catalogue import agencies, provinces
from contracts.events import STATUS_FA
from services.console.adapters.platform import SCREEN
from services.console.bootstrap import ConsoleContainer
from services.console.domain import display
from services.console.domain.people import User

log = logging.getLogger("samad.console.web")
HERE = Path(__file__).resolve().parent.parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
env = templates.env
env.filters.update(
    fa=display.fa,
    jalali=display.jalali,
    code=display.grouped_code,
    masked=display.masked_phone,
    phone=display.national_phone,
    percent=display.percent,
    event=display.event_fa,
)
env.globals.update(
    role_fa=display.ROLE_FA,
    outcome_fa=display.OUTCOME_FA,
    sms_state_fa=display.SMS_STATE_FA,
    status_fa=STATUS_FA,
    template_fa=display.TEMPLATE_FA,
    agencies=sorted(((a.code.value, a.fa) for a in agencies().values()), key=lambda x: x[1]),
    agency_fa={a.code.value: a.fa for a in agencies().values()},
)
REFRESH_MARGIN = 30.0


async def _container(request: Request) -> ConsoleContainer:
    container: ConsoleContainer = request.app.state.container
    return container


Container = Annotated[ConsoleContainer, Depends(_container)]


class SignInNeeded(Exception):
    """The page needs a signed-in person (or a fresh sign-in): the browser is sent to /login."""


class NotForYou(Exception):
    """Signed in, but this page is not for the person's role."""


def counties(province: str) -> list[tuple[str, str]]:
    p = provinces().get(province)
    return sorted(((c.code, c.fa) for c in p.counties), key=lambda x: x[1]) if p else []


def csrf_token(request: Request) -> str:
    session = request.session
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    token: str = session["csrf"]
    return token


async def check_csrf(request: Request) -> None:
    """Every POST carries the session's token, in the form or (htmx) in a header."""
    expected = request.session.get("csrf")
    given = request.headers.get("x-csrf-token")
    if given is None:
        form = await request.form()
        value = form.get("csrf_token")
        given = value if isinstance(value, str) else None
    if not expected or not given or not secrets.compare_digest(expected, given):
        raise CsrfFailed()


class CsrfFailed(Exception):
    pass


# The session's own key for "this desk registered that case" (made at sign-in, never sent to the
# browser): the page with the new tracking code watches the case's live changes with a grant signed by
# it, so the submit need not write the session to remember the case, and the watch need not ask
# tracking, which may not have the case yet.
LIVE_KEY = "live_key"


def new_live_key() -> str:
    return secrets.token_urlsafe(32)


def live_grant(request: Request, case_id: str) -> str | None:
    """The grant to watch ``case_id`` from this session; None when the session has no key (made
    before sessions had one)."""
    key = request.session.get(LIVE_KEY)
    if not isinstance(key, str):
        return None
    return hmac.new(key.encode(), b"samad.live\x1f" + case_id.encode(), hashlib.sha256).hexdigest()


def granted(request: Request, case_id: str, grant: str | None) -> bool:
    """Whether ``grant`` is this session's grant to watch ``case_id``."""
    expected = live_grant(request, case_id)
    return bool(expected and grant and hmac.compare_digest(expected, grant))


Csrf = Depends(check_csrf)


def current_user(request: Request) -> User | None:
    return User.from_session(request.session.get("user"))


async def access_token(request: Request, c: ConsoleContainer) -> str:
    """The signed-in person's access token, refreshed shortly before it expires."""
    tokens = request.session.get("tokens") or {}
    if not tokens.get("access_token"):
        raise SignInNeeded()
    if float(tokens.get("expires_at", 0)) - time.time() < REFRESH_MARGIN:
        if not tokens.get("refresh_token"):
            raise SignInNeeded()
        try:
            fresh = await c.identity.refresh(tokens["refresh_token"])
        except Exception as exc:
            log.info("token refresh refused (%r): signing in again", exc)
            raise SignInNeeded() from exc
        request.session["tokens"] = keep_tokens(fresh, tokens.get("id_token"))
        tokens = request.session["tokens"]
    token: str = tokens["access_token"]
    return token


def keep_tokens(token: dict[str, Any], id_token: str | None = None) -> dict[str, Any]:
    expires_at = token.get("expires_at") or time.time() + float(token.get("expires_in", 60))
    return {
        "access_token": token["access_token"],
        "refresh_token": token.get("refresh_token"),
        "id_token": token.get("id_token") or id_token,
        "expires_at": float(expires_at),
    }


def staff(*roles: str) -> Any:
    """A dependency: the signed-in person and their token, if their role is one of ``roles``."""

    async def dependency(request: Request, c: Container) -> tuple[User, str]:
        user = current_user(request)
        if user is None:
            raise SignInNeeded()
        if user.role not in roles:
            raise NotForYou()
        # The calls this page makes name it (X-Samad-Purpose): the read audit records why a case was read.
        route = request.scope.get("route")
        SCREEN.set(f"console {getattr(route, 'path', request.url.path)}")
        return user, await access_token(request, c)

    return Depends(dependency)


def client_address(request: Request, trusted: list[str]) -> str:
    """The client's address: the right-most X-Forwarded-For hop not inside a trusted proxy network,
    when the request came through one; otherwise the peer itself."""
    peer = request.client.host if request.client else "unknown"
    networks = [ipaddress.ip_network(n, strict=False) for n in trusted]

    def inside(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in n for n in networks)

    if not networks or not inside(peer):
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):
        if not inside(hop):
            return hop
    return peer


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("user", current_user(request))
    context["csrf"] = csrf_token(request)
    context["request"] = request
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def login_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/login?next={quote(target)}"
