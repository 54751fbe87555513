"""Server-side sessions: the cookie holds only a random id (HttpOnly, SameSite=Lax, Secure outside
local http); what the session holds stays in the console's store, which keeps only a hash of the id.
A session ends after a configurable time without requests, and its id changes at sign-in."""

from __future__ import annotations

import copy
import secrets
from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.clock import Clock
from services.console.adapters.stores import SessionStore

COOKIE = "samad_session"
ROTATE = "_rotate"


class Session(dict[str, Any]):
    """The session's data; ``rotate()`` gives it a new id (sign-in), ``end()`` removes it (sign-out)."""

    def __init__(self, data: dict[str, Any] | None) -> None:
        super().__init__(data or {})
        self.ended = False
        self.rotating = False

    def rotate(self) -> None:
        self.rotating = True

    def end(self) -> None:
        self.clear()
        self.ended = True


def session_of(request: Request) -> Session:
    session = request.scope["session"]
    assert isinstance(session, Session)
    return session


class ServerSessions:
    def __init__(
        self, app: ASGIApp, store: SessionStore, clock: Clock, idle: timedelta, secure: bool
    ) -> None:
        self.app, self.store, self.clock, self.idle, self.secure = app, store, clock, idle, secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        session_id = _cookie(scope)
        data = await self.store.load(session_id, self.clock.now()) if session_id else None
        if data is None:
            session_id = None
        session = Session(data)
        before = copy.deepcopy(dict(session))  # nested values are changed in place too
        scope["session"] = session

        async def send_with_cookie(message: Message) -> None:
            nonlocal session_id
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if session.ended:
                    if session_id:
                        await self.store.drop(session_id)
                    headers.append("Set-Cookie", self._cookie_header("", 0))
                elif session or session_id:
                    if session.rotating and session_id:
                        await self.store.drop(session_id)
                        session_id = None
                    fresh = session_id is None
                    session_id = session_id or secrets.token_urlsafe(32)
                    # Saved when it changed, when new, or to slide its expiry along (once a minute at most).
                    if fresh or dict(session) != before or _due(before, self.clock):
                        session["_seen"] = self.clock.now().timestamp()
                        await self.store.save(session_id, dict(session), self.clock.now() + self.idle)
                    if fresh:
                        headers.append("Set-Cookie", self._cookie_header(session_id, None))
            await send(message)

        await self.app(scope, receive, send_with_cookie)

    def _cookie_header(self, value: str, max_age: int | None) -> str:
        # A browser-session cookie: the store decides when an idle session ends.
        parts = [f"{COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Lax"]
        if max_age is not None:
            parts.append(f"Max-Age={max_age}")
        if self.secure:
            parts.append("Secure")
        return "; ".join(parts)


def _due(before: dict[str, Any], clock: Clock) -> bool:
    return clock.now().timestamp() - float(before.get("_seen", 0)) > 60


def _cookie(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:
                return None
            if COOKIE in jar:
                return jar[COOKIE].value or None
    return None
