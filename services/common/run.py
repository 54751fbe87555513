"""Process entry point shared by the services: `python -m services.<name> [--port N]` runs uvicorn."""

from __future__ import annotations

import argparse
import os

import uvicorn

from services.common.logs import setup_logging
from services.common.settings import ServiceSettings
from services.common.tracing import setup_tracing


def serve(service: str, app_path: str, default_port: int) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    parser.add_argument("--port", type=int, default=int(os.environ.get("SAMAD_HTTP_PORT", default_port)))
    parser.add_argument("--host", default=None)
    args = parser.parse_args()
    settings = ServiceSettings()
    setup_logging(service, settings.log_level, settings.log_json)
    # Before the app is built: PyMongo's and httpx's instrumentation apply to clients made after it.
    setup_tracing(service, settings)
    uvicorn.run(
        app_path,
        factory=True,
        host=args.host or settings.http_host,
        port=args.port,
        log_config=None,
        access_log=False,
        # The peer's address stays the peer's: a service that needs the client behind a proxy (tracking's
        # lookup limit) reads X-Forwarded-For itself, from the proxies its settings trust. uvicorn's
        # own rewriting would believe the header from any peer on 127.0.0.1.
        proxy_headers=False,
        # uvicorn turns SIGTERM into the lifespan shutdown: the broker stops fetching, finishes and commits.
        timeout_graceful_shutdown=int(settings.graceful_timeout_seconds),
    )
