"""Publishing intake's events: Kafka with acks=all (the real one) and an in-memory bus for unit tests."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from contracts.events import Envelope
from services.common.kafka import EventPublisher

log = logging.getLogger("samad.intake.bus")


class BusUnavailable(Exception):
    """Kafka did not confirm the events in time: the request was not accepted and is safe to retry."""


class EventBus(Protocol):
    async def publish(self, events: Sequence[Envelope]) -> None:
        """Return only when every event is durably in Kafka; else raise BusUnavailable."""


class KafkaEventBus:
    def __init__(self, publisher: EventPublisher, timeout_seconds: float) -> None:
        self.publisher = publisher
        self.timeout_seconds = timeout_seconds

    async def publish(self, events: Sequence[Envelope]) -> None:
        try:
            await asyncio.wait_for(self.publisher.publish(events), timeout=self.timeout_seconds)
        except Exception as exc:
            # Timeouts, broker errors, and a broker not connected yet all mean the same to the caller:
            # not accepted. A send that still lands later carries the same event id as the retry.
            log.warning("publish of %d event(s) failed: %r", len(events), exc)
            raise BusUnavailable(str(exc) or type(exc).__name__) from exc


class InMemoryEventBus:
    """Keeps what was published; ``available = False`` makes it behave like an unreachable Kafka."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []
        self.available = True

    async def publish(self, events: Sequence[Envelope]) -> None:
        if not self.available:
            raise BusUnavailable("Kafka unreachable")
        self.events.extend(events)
