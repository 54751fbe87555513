"""Tracking's HTTP app: the staff, citizen and report routers on the shared web plumbing, the Kafka
consumer on the same broker, and the timers started and stopped with the app."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.web import create_app as create_web_app
from services.tracking.bootstrap import TrackingContainer, bootstrap
from services.tracking.entrypoints import (
    audit,
    cases,
    consumer,
    problems,
    queue,
    report_cases,
    reports,
    status,
)
from services.tracking.entrypoints.about import DESCRIPTION, TITLE, VERSION


def create_app(container: TrackingContainer | None = None) -> FastAPI:
    c = container or bootstrap()
    consumer.register(c)
    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=c.broker,
        on_startup=c.startup,
        on_shutdown=c.shutdown,
        after_startup=c.start_timers,
        before_shutdown=c.stop_timers,
        readiness=c.readiness,
        require_assignment=c.settings.ready_requires_assignment,
    )
    app.state.container = c
    problems.install(app)
    for router in (queue.router, cases.router, status.router, reports.router):
        app.include_router(router)
    app.include_router(report_cases.router)
    app.include_router(audit.router)
    return app
