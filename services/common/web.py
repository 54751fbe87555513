"""HTTP plumbing every service shares: lifespan with the broker, health, readiness, metrics, body limits."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from services.common.auth import AuthSettings, check_production
from services.common.kafka import consumers_positioned
from services.common.problems import install_problem_handlers, problem
from services.common.tracing import instrument_app

log = logging.getLogger("samad.web")

READY = Gauge("samad_ready", "1 when the last readiness check passed, 0 when it failed")
READINESS_CHANGES = Counter(
    "samad_readiness_changes_total",
    "Readiness answers that differed from the one before (a pod going in and out of its Service)",
)

ReadinessCheck = Callable[[], Awaitable[bool]]


class BodyLimit(BaseHTTPMiddleware):
    """Answer 413 before reading a body larger than the limit (by Content-Length or by streaming)."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        super().__init__(app)
        self.max_bytes = max_bytes

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        if request.method in ("POST", "PUT", "PATCH"):
            declared = request.headers.get("content-length")
            too_big = declared is not None and declared.isdigit() and int(declared) > self.max_bytes
            if not too_big and declared is None:
                body = b""
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > self.max_bytes:
                        too_big = True
                        break
                if not too_big:
                    request._body = body
            if too_big:
                return problem(
                    413,
                    "too-large",
                    "بدنهٔ درخواست بیش از حد بزرگ است",
                    "Request body too large",
                    f"حداکثر {self.max_bytes} بایت",
                    f"At most {self.max_bytes} bytes",
                )
        return await call_next(request)


def create_app(
    *,
    title: str,
    description: str,
    version: str = "1.0.0",
    broker: KafkaBroker | None,
    on_startup: Callable[[], Awaitable[None]] | None = None,
    on_shutdown: Callable[[], Awaitable[None]] | None = None,
    after_startup: Callable[[], Awaitable[None]] | None = None,
    before_shutdown: Callable[[], Awaitable[None]] | None = None,
    readiness: dict[str, ReadinessCheck] | None = None,
    max_body_bytes: int = 64 * 1024,
    require_assignment: bool = False,
    development_values: dict[str, bool] | None = None,
) -> FastAPI:
    """A FastAPI app whose lifespan starts the broker (and the service's own resources) and stops them.

    Order: on_startup (indexes, clients) -> broker -> after_startup (background workers that publish);
    on shutdown the reverse: before_shutdown -> broker -> on_shutdown.

    In production (SAMAD_ENVIRONMENT=production) the start is refused when a development secret is
    configured: the shared JWT key, or any of ``development_values`` (name -> in use).
    """
    checks = dict(readiness or {})
    if broker is not None:
        checks.setdefault("kafka", lambda: broker.ping(timeout=2.0))
        if require_assignment:
            checks["consumers_assigned"] = lambda: consumers_positioned(broker)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        check_production(AuthSettings(), development_values)
        if on_startup is not None:
            await on_startup()
        if broker is not None:
            await broker.start()
        if after_startup is not None:
            await after_startup()
        log.info("%s started", title)
        try:
            yield
        finally:
            if before_shutdown is not None:
                await before_shutdown()
            # Graceful shutdown: the broker stops fetching, waits for the batch in hand to finish
            # and commit (graceful_timeout), then the service's own resources close.
            if broker is not None:
                await broker.stop()
            if on_shutdown is not None:
                await on_shutdown()
            verifier = getattr(app.state, "token_verifier", None)
            if verifier is not None:
                await verifier.close()
            log.info("%s stopped", title)

    app = FastAPI(title=title, description=description, version=version, lifespan=lifespan)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    install_problem_handlers(app)

    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers (no dependencies)")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # The previous readiness answer (None before the first check).
    last_ready: bool | None = None

    @app.get("/readyz", tags=["ops"], summary="Readiness: Kafka and MongoDB are reachable")
    async def readyz() -> JSONResponse:
        nonlocal last_ready
        results: dict[str, bool] = {}
        for name, check in checks.items():
            try:
                results[name] = bool(await asyncio.wait_for(check(), timeout=3.0))
            except Exception:
                results[name] = False
        ok = all(results.values())
        if last_ready is not None and last_ready != ok:
            READINESS_CHANGES.inc()
            log.warning("readiness changed to %s: %s", "ready" if ok else "not ready", results)
        last_ready = ok
        READY.set(1 if ok else 0)
        return JSONResponse(
            {"status": "ready" if ok else "not_ready", "checks": results}, status_code=200 if ok else 503
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    instrument_app(app)
    return app
