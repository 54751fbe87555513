"""Routing's Kafka consumer: case events from samad.cases.v1, handed to the use case in fetched batches."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.topics import CASES
from services.common.kafka import Incoming, subscribe_events
from services.routing.bootstrap import RoutingContainer


def register(container: RoutingContainer) -> None:
    """Subscribe routing's consumer on the container's broker (it must have one, with the real publisher)."""
    if container.broker is None or container.event_publisher is None:
        raise ValueError("routing's consumer needs a Kafka broker and its EventPublisher")
    handle = container.case_events

    async def handler(batch: Sequence[Incoming]) -> None:
        await handle([(item.event, item.replay_run is not None) for item in batch])

    subscribe_events(
        container.broker,
        container.event_publisher,
        container.settings,
        topics=[CASES],
        group=container.settings.group("routing"),
        handler=handler,
        wanted=handle.wanted,
        description="Routes registered cases and re-routes cases an agency declined",
        healthy=container.readiness.get("mongodb"),
    )
