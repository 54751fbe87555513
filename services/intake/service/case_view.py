"""Keep intake's view of cases current from the case events (for repeat calls and Open311).

Idempotent by event id: a redelivered event changes nothing. Events of one case arrive in order (one
key, one partition) and are applied one after another.
"""

from __future__ import annotations

from collections.abc import Iterable

from contracts.events import Envelope
from services.intake.adapters.store import IntakeStore
from services.intake.domain.cases import RELEVANT_TYPES


class KeepCaseView:
    def __init__(self, store: IntakeStore) -> None:
        self.store = store

    @staticmethod
    def wants(event: Envelope) -> bool:
        """Only the events that change what intake knows of a case."""
        return event.type in RELEVANT_TYPES

    async def apply_all(self, events: Iterable[Envelope]) -> None:
        for event in events:
            await self.apply(event)

    async def apply(self, event: Envelope) -> bool:
        """True when the event changed the view; False when irrelevant, already applied, or about a
        case intake has not seen registered."""
        if not self.wants(event):
            return False
        return await self.store.apply_event(event)
