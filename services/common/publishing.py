"""The publishing port every service uses: a Protocol, and the in-memory fake for unit tests.

The real implementation is ``services.common.kafka.EventPublisher`` (acks=all, keyed by subject, one
declared publisher per event type).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from contracts.events import Envelope


class BusUnavailable(ConnectionError):
    """Kafka did not confirm the events in time: nothing may be assumed published; safe to retry.

    A ``ConnectionError``, so a consumer treats it as an outage (retried, never dead-lettered)."""


class Publisher(Protocol):
    @property
    def service(self) -> str: ...

    async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None:
        """Return only when every event is durably in Kafka; events of one key in the order given."""
        ...


class InMemoryPublisher:
    """Keeps what was published, in order; ``available = False`` behaves like an unreachable Kafka."""

    def __init__(self, service: str = "test") -> None:
        self.service = service
        self.events: list[Envelope] = []
        self.headers: list[dict[str, str]] = []
        self.available = True

    async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None:
        batch = list(events)
        if not self.available:
            raise BusUnavailable("Kafka unreachable")
        self.events.extend(batch)
        self.headers.extend(dict(headers or {}) for _ in batch)

    def of_type(self, event_type: str) -> list[Envelope]:
        return [e for e in self.events if e.type == event_type]
