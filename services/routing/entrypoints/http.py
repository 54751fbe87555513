"""Routing's HTTP app: triage, classification and the duty roster, with the consumer and the re-publisher
of owed decisions running beside it."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.web import create_app as create_web_app
from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.entrypoints import classify, consumer, roster, triage

TITLE = "SAMAD-111 routing"
VERSION = "1.0.0"
DESCRIPTION = """Decides which of the fourteen agencies answers a case, and says why.

* Consumes `case.registered` and `case.reroute_requested` from `samad.cases.v1`; publishes
  `case.routed` (reason operator, classifier, reroute or manual) or `case.triage_required`.
* `POST /v1/triage/{case_id}`: a supervisor or operator routes a case waiting in triage.
* `/v1/roster`: the weekly duty roster of directors-general (JSON, JSON Feed and iCalendar).
* Errors are RFC 9457 problem documents in Persian and English.
"""


def create_app(container: RoutingContainer | None = None) -> FastAPI:
    container = container or bootstrap()
    if container.broker is not None:
        consumer.register(container)
    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=container.broker,
        on_startup=container.startup,
        on_shutdown=container.shutdown,
        after_startup=container.start_workers,
        before_shutdown=container.stop_workers,
        readiness=container.readiness,
        require_assignment=container.settings.ready_requires_assignment,
    )
    app.state.container = container
    app.include_router(triage.router)
    app.include_router(classify.router)
    app.include_router(roster.router)
    return app
