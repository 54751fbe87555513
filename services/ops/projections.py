"""The projections a rebuild can target, bound to their owning service's own code.

Tracking's cases: events are applied with ``services.tracking.adapters.store.apply_events``, the batch
function the live consumer calls, which runs the pure ``project``/``apply`` state machine with the SLA
policy from the same data files (``SAMAD_TRACKING_DATA_DIR``). The rebuild hands it a store that keeps
the documents in memory; the engine writes them to the shadow collection in bulk at checkpoints
(``Case.to_document``), and reads stored ones back with ``Case.from_document``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from contracts.events import Envelope
from contracts.topics import CASES, NOTIFICATIONS


class ProjectionUnavailable(RuntimeError):
    """The owning service's projection code is not installed here."""


class _InMemoryCases:
    """Tracking's CaseStore protocol over the rebuild's documents: loads what the engine holds, and keeps
    what apply_events saves for the engine to write. No other writer touches a shadow, so no conflicts."""

    def __init__(self, cases: Mapping[str, Any]) -> None:
        self.cases = dict(cases)
        self.saved: dict[str, Any] = {}

    async def load(self, ids: Iterable[str]) -> dict[str, Any]:
        return {i: self.cases[i] for i in ids if i in self.cases}

    async def save(self, cases: Mapping[str, Any], expected_n: Mapping[str, int]) -> Any:
        from services.tracking.adapters.store import SaveResult

        self.saved.update(cases)
        self.cases.update(cases)
        return SaveResult()

    async def get(self, case_id: str) -> Any:
        return self.cases.get(case_id)

    async def by_tracking_code(self, code: str) -> Any:
        return next((c for c in self.cases.values() if c.tracking_code == code), None)


class TrackingCases:
    name = "tracking"
    volatile_fields: tuple[str, ...] = ()  # the case document depends on its events only

    def __init__(self, topics: Sequence[str] | None = None, data_dir: str | None = None) -> None:
        try:
            from services.tracking.adapters.data import load_policy
            from services.tracking.adapters.store import MongoCaseStore, apply_events
            from services.tracking.domain.model import Case
            from services.tracking.domain.projection import case_id_of
        except ImportError as exc:
            raise ProjectionUnavailable(f"tracking's projection is not available: {exc}") from exc
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


def tracking_projection(topics: Sequence[str] | None = None, data_dir: str | None = None) -> TrackingCases:
    return TrackingCases(topics, data_dir)
