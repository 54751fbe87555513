"""Tracking built through its composition root on in-memory fakes, for the use-case and route tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from contracts.events import Envelope
from services.common.clock import FixedClock
from services.common.publishing import InMemoryPublisher
from services.tracking.adapters.calls import InMemoryCallStore
from services.tracking.adapters.cases import InMemoryCaseStore
from services.tracking.adapters.claims import InMemoryClaims
from services.tracking.adapters.ratelimit import InMemoryAttempts
from services.tracking.bootstrap import TrackingContainer, bootstrap
from services.tracking.settings import TrackingSettings
from tests.unit.tracking.factory import T0

# An hour after the factory's first case: its deadlines are ahead, nothing is overdue yet.
NOW = T0 + timedelta(hours=1)


class Fakes:
    """Tracking on fakes, with typed handles on each of them."""

    def __init__(self, settings: TrackingSettings | None = None, **overrides: Any) -> None:
        self.cases = InMemoryCaseStore()
        self.calls = InMemoryCallStore()
        self.claims = InMemoryClaims()
        self.attempts = InMemoryAttempts()
        self.publisher = InMemoryPublisher("tracking")
        self.clock = FixedClock(NOW)
        parts: dict[str, Any] = {
            "cases": self.cases,
            "calls": self.calls,
            "claims": self.claims,
            "attempts": self.attempts,
            "publisher": self.publisher,
            "clock": self.clock,
        }
        parts.update(overrides)
        for name, value in overrides.items():
            setattr(self, name, value)
        self.tracking: TrackingContainer = bootstrap(settings or TrackingSettings(), **parts)

    async def consume(self, events: Iterable[Envelope]) -> None:
        """What the consumer does with a batch."""
        await self.tracking.project_events(list(events))

    async def consume_published(self) -> None:
        """Apply what tracking published since the last call, as the consumer would get it back."""
        fresh = self.publisher.events[getattr(self, "_applied", 0) :]
        self._applied = len(self.publisher.events)
        await self.consume(fresh)
