"""Tracking's case projection, published for operations to rebuild from the log.

Registered as the ``tracking`` entry point of the ``samad.projections`` group (pyproject.toml), so
operations finds it by name and never imports tracking. Events are applied with
``services.tracking.adapters.store.apply_events``, the batch function the live consumer calls, which
runs the pure ``project``/``apply`` state machine with the SLA policy from the same data files
(``SAMAD_TRACKING_DATA_DIR``). The rebuild hands it a store that keeps the documents in memory; the
engine writes them to the shadow collection in bulk at checkpoints (``Case.to_document``), and reads
stored ones back with ``Case.from_document``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from contracts.events import Envelope
from contracts.projections import Projection
from contracts.topics import CASES, NOTIFICATIONS
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.store import MongoCaseStore, SaveResult, apply_events
from services.tracking.domain.model import Case
from services.tracking.domain.projection import case_id_of


class _InMemoryCases:
    """Tracking's CaseStore protocol over the rebuild's documents: loads what the engine holds, and keeps
    what apply_events saves for the engine to write. No other writer touches a shadow, so no conflicts."""

    def __init__(self, cases: Mapping[str, Any]) -> None:
        self.cases = dict(cases)
        self.saved: dict[str, Any] = {}

    async def load(self, ids: Iterable[str]) -> dict[str, Any]:
        return {i: self.cases[i] for i in ids if i in self.cases}

    async def save(self, cases: Mapping[str, Any], expected_n: Mapping[str, int]) -> Any:
        self.saved.update(cases)
        self.cases.update(cases)
        return SaveResult()

    async def get(self, case_id: str) -> Any:
        return self.cases.get(case_id)

    async def by_tracking_code(self, code: str) -> Any:
        return next((c for c in self.cases.values() if c.tracking_code == code), None)


class TrackingCases:
    """Tracking's case documents as a ``contracts.projections.Projection``."""

    name = "tracking"
    volatile_fields: tuple[str, ...] = ()  # the case document depends on its events only

    def __init__(self, topics: Sequence[str] | None = None, data_dir: str | None = None) -> None:
        self.topics = list(topics or (CASES, NOTIFICATIONS))
        self.policy = load_policy(data_dir)
        self._apply_events = apply_events
        self._case = Case
        self._case_id_of = case_id_of
        self._store = MongoCaseStore

    def key(self, event: Envelope) -> str | None:
        result: str | None = self._case_id_of(event)
        return result

    def load(self, doc: dict[str, Any]) -> Any:
        return self._case.from_document(doc)

    def dump(self, state: Any) -> dict[str, Any]:
        doc: dict[str, Any] = state.to_document()
        return doc

    async def apply_batch(self, states: Mapping[str, Any], events: Sequence[Envelope]) -> dict[str, Any]:
        store = _InMemoryCases(states)
        # In place: the rebuild holds the only reference to each state and serialises the documents
        # it writes before applying later events.
        await self._apply_events(store, events, self.policy, in_place=True)
        return store.saved

    async def create_indexes(self, db: Any, collection: str) -> None:
        await self._store(db, collection).ensure_indexes()


def projection(topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
    """The factory registered under the ``samad.projections`` entry point named ``tracking``."""
    return TrackingCases(topics, data_dir)
