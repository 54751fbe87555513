"""Notify's HTTP app: the staff API (opt-outs, the ledger, SMS previews), health, and the case-event
consumer."""

from __future__ import annotations

from fastapi import FastAPI

from services.common.web import create_app as create_web_app
from services.notify.bootstrap import VERSION, NotifyContainer, bootstrap
from services.notify.entrypoints import consumer, optouts, preview, sms, verification


def create_app(container: NotifyContainer | None = None) -> FastAPI:
    container = container or bootstrap()
    consumer.register(container)
    app = create_web_app(
        title="SAMAD-111 notify",
        description="Persian SMS to citizens about their cases, sent once and only once.",
        version=VERSION,
        broker=container.broker,
        on_startup=container.startup,
        on_shutdown=container.shutdown,
        # The senders and the reconciler publish sms.* events: they start once the broker is connected.
        after_startup=container.start,
        before_shutdown=container.stop,
        readiness=container.readiness(),
        require_assignment=container.settings.ready_requires_assignment,
    )
    app.state.container = container
    app.include_router(optouts.router)
    app.include_router(sms.router)
    app.include_router(verification.router)
    app.include_router(preview.router)
    return app
