"""The console's HTTP app: the citizen's pages, the operator's desk, the agency's inbox, sign-in, live
updates and the static assets (Vazirmatn, htmx), with server-side sessions."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.middleware.gzip import GZipMiddleware
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.common.web import create_app as create_web_app
from services.console.adapters.platform import CALLS_MADE, ServiceDown
from services.console.bootstrap import ConsoleContainer, bootstrap
from services.console.entrypoints import auth, citizen, consumer, desk, inbox, live, supervisor
from services.console.entrypoints.sessions import ServerSessions
from services.console.entrypoints.web import CsrfFailed, NotForYou, SignInNeeded, login_url, render

log = logging.getLogger("samad.console")
STATIC = Path(__file__).resolve().parent.parent / "static"


class ServerTiming:
    """Every answer says how long the console took to start it (``Server-Timing: app;dur=<ms>``): from
    the request's arrival to the response's first byte, the session's load and save, the calls to the
    other services and the template included; and how much of that it waited for the other services
    (``services;dur=<ms>``, calls made at once counted once). Browsers show it beside the network
    time, and the console's benchmark reads it (bench/console.py)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        calls: list[tuple[float, float]] = []
        token = CALLS_MADE.set(calls)

        async def timed(message: Message) -> None:
            if message["type"] == "http.response.start":
                elapsed = (time.perf_counter() - started) * 1000
                waited = covered(calls) * 1000
                MutableHeaders(scope=message).append(
                    "Server-Timing", f"app;dur={elapsed:.1f}, services;dur={waited:.1f}"
                )
            await send(message)

        try:
            await self.app(scope, receive, timed)
        finally:
            CALLS_MADE.reset(token)


def covered(spans: list[tuple[float, float]]) -> float:
    """The time inside at least one of ``spans`` (start, end)."""
    total, reached = 0.0, float("-inf")
    for start, end in sorted(spans):
        if end > reached:
            total += end - max(start, reached)
            reached = end
    return total


def create_app(container: ConsoleContainer | None = None) -> FastAPI:
    container = container or bootstrap()
    consumer.register(container)
    app = create_web_app(
        title="SAMAD-111 console",
        description="The operator's desk and the citizen's pages, in Persian.",
        broker=container.broker,
        on_startup=container.startup,
        on_shutdown=container.shutdown,
        readiness=container.readiness,
        # Tests wait for the consumer's partitions before sending what the pages must see live.
        require_assignment=container.settings.ready_requires_assignment,
    )
    app.state.container = container
    app.add_middleware(GZipMiddleware, minimum_size=500)
    app.add_middleware(
        ServerSessions,
        store=container.sessions,
        clock=container.clock,
        idle=timedelta(minutes=container.settings.session_idle_minutes),
        secure=container.settings.console_url.startswith("https://"),
    )
    # The outermost of the console's own middleware: its figure covers the session and compression too.
    app.add_middleware(ServerTiming)
    app.mount("/static", StaticFiles(directory=STATIC, check_dir=False), name="static")
    for module in (auth, citizen, desk, live, inbox):
        app.include_router(module.router)
    app.include_router(supervisor.router)
    inbox.install(container)

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, _exc: SignInNeeded) -> Response:
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": login_url(request)})
        return RedirectResponse(login_url(request), status_code=303)

    @app.exception_handler(NotForYou)
    async def not_for_you(request: Request, _exc: NotForYou) -> Response:
        return render(request, "forbidden.html", status_code=403)

    @app.exception_handler(CsrfFailed)
    async def csrf_failed(request: Request, _exc: CsrfFailed) -> Response:
        return render(request, "expired.html", status_code=403)

    @app.exception_handler(ServiceDown)
    async def service_down(request: Request, exc: ServiceDown) -> Response:
        log.warning("%s unavailable for %s", exc.service, request.url.path)
        return render(request, "unavailable.html", status_code=503)

    return app
