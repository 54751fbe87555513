"""Tracking built through its composition root on in-memory fakes, for the use-case and route tests."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from contracts.events import Envelope
from services.common.clock import FixedClock
from services.common.publishing import InMemoryPublisher
from services.tracking.adapters.audit import InMemoryReadAudit
from services.tracking.adapters.calls import InMemoryCallStore
from services.tracking.adapters.cases import InMemoryCaseStore
from services.tracking.adapters.claims import InMemoryClaims
from services.tracking.adapters.directory import InMemoryDirectory, Person
from services.tracking.adapters.ratelimit import InMemoryAttempts
from services.tracking.bootstrap import TrackingContainer, bootstrap
from services.tracking.settings import TrackingSettings
from tests.unit.tracking.factory import T0

# An hour after the factory's first case: its deadlines are ahead, nothing is overdue yet.
NOW = T0 + timedelta(hours=1)

# The directory the fakes start with: two of the water company's staff (one heads it), one of
# education's head, and the governorate's supervisor.
PEOPLE = (
    Person(
        "staff-1",
        "رضا کریمی",
        "water_wastewater",
        "khorasan_razavi",
        "+989150000401",
        frozenset({"agency_staff"}),
    ),
    Person(
        "staff-3",
        "سارا امینی",
        "water_wastewater",
        "khorasan_razavi",
        "+989150000403",
        frozenset({"agency_staff"}),
    ),
    Person(
        "head-water",
        "محمود صادقی",
        "water_wastewater",
        "khorasan_razavi",
        "+989150000501",
        frozenset({"agency_staff", "agency_head"}),
    ),
    Person(
        "head-education",
        "لیلا نوری",
        "education",
        "khorasan_razavi",
        "+989150000502",
        frozenset({"agency_staff", "agency_head"}),
    ),
    Person("supervisor1", "مریم کاظمی", None, "khorasan_razavi", "+989150000201", frozenset({"supervisor"})),
)


class Fakes:
    """Tracking on fakes, with typed handles on each of them."""

    def __init__(self, settings: TrackingSettings | None = None, **overrides: Any) -> None:
        self.cases = InMemoryCaseStore()
        self.calls = InMemoryCallStore()
        self.claims = InMemoryClaims()
        self.attempts = InMemoryAttempts()
        self.read_audit = InMemoryReadAudit()
        self.publisher = InMemoryPublisher("tracking")
        self.clock = FixedClock(NOW)
        self.directory = InMemoryDirectory(PEOPLE)
        parts: dict[str, Any] = {
            "directory": self.directory,
            "cases": self.cases,
            "calls": self.calls,
            "claims": self.claims,
            "attempts": self.attempts,
            "read_audit": self.read_audit,
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
