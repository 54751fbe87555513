"""Intake's HTTP app: the operators' API, the catalogues and Open311, with the case-view consumer."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.web import create_app as create_web_app
from services.intake.bootstrap import IntakeContainer, bootstrap
from services.intake.entrypoints import calls, cases, catalogue, consumer, open311
from services.intake.settings import DEV_OPEN311_KEY

TITLE = "SAMAD-111 intake"
VERSION = "1.0.0"
DESCRIPTION = """Where every call and case enters SAMAD-111.

* `POST /v1/calls` logs a call to line 111 (answered, missed or abandoned) → `call.received`.
* `POST /v1/cases` registers a citizen's case → `case.registered`, or links a repeat call to the open
  case → `case.repeat_call`.
* Every POST takes an `Idempotency-Key`: a retry gets the same answer and publishes nothing new.
* Errors are RFC 9457 problem documents naming each bad field, in Persian and English.
* Open311 GeoReport v2 under `/open311/v2/`.
"""


def create_app(container: IntakeContainer | None = None) -> FastAPI:
    """The app over ``container`` (``bootstrap()`` from the environment when none is given)."""
    intake = container or bootstrap()
    consumer.register(intake)
    app = create_web_app(
        title=TITLE,
        description=DESCRIPTION,
        version=VERSION,
        broker=None,  # started by the container's startup, which tolerates Kafka being down
        on_startup=intake.startup,
        on_shutdown=intake.shutdown,
        readiness=intake.readiness,
        max_body_bytes=intake.settings.max_body_bytes,
        development_values={"SAMAD_OPEN311_API_KEYS": DEV_OPEN311_KEY in intake.settings.open311_api_keys},
    )
    app.state.container = intake
    for router in (calls.router, cases.router, catalogue.router, open311.router):
        app.include_router(router)
    return app
