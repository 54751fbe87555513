"""Tracking's Kafka consumer: every case and SMS event, and the calls for the funnel, handed in batches
to the projection."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.topics import CALLS, CASES, NOTIFICATIONS
from services.common.kafka import Incoming, subscribe_events
from services.tracking.bootstrap import TrackingContainer

TOPICS = (CASES, NOTIFICATIONS, CALLS)


def register(container: TrackingContainer) -> None:
    """Subscribe the projection on the container's broker (decoding, dead-lettering and commits are
    the shared consumer's)."""

    async def handle(batch: Sequence[Incoming]) -> None:
        # One write per case per batch; the offsets are committed after every write is acknowledged.
        await container.project_events([item.event for item in batch])

    subscribe_events(
        container.broker,
        container.events,
        container.settings,
        topics=list(TOPICS),
        group=container.settings.group("tracking"),
        handler=handle,
        description="Projects every case and SMS event onto its case document; keeps calls for the funnel",
        healthy=container.readiness.get("mongodb"),
    )
