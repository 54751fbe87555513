"""Notify's Kafka consumer: citizen-facing case events and escalation steps go to the recording use case."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.topics import CASES
from services.common.kafka import subscribe_events
from services.notify.bootstrap import SERVICE, NotifyContainer
from services.notify.domain.messages import SMS_EVENT_TYPES


def register(container: NotifyContainer, *, topics: Sequence[str] = (CASES,)) -> None:
    """Subscribe the recorder to ``topics`` (a test may feed it a private topic)."""
    subscribe_events(
        container.broker,
        container.events,
        container.settings,
        topics=list(topics),
        group=container.settings.group(SERVICE),
        handler=container.recorder.handle,
        wanted=lambda e: e.type in SMS_EVENT_TYPES,
        description="Citizen-facing case events (registered, routed, status changes) and escalation steps "
        "become SMS ledger records",
        healthy=container.readiness().get("mongodb"),
    )
