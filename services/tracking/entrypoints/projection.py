"""Tracking's case projection, published for operations to rebuild from the log.

Registered as the ``tracking`` entry point of the ``samad.projections`` group (pyproject.toml), so
operations finds it by name and never imports tracking. Events are applied with
``services.tracking.service.project_events.apply_events``, the batch function the live consumer
calls, which runs the pure ``project``/``apply`` state machine with the SLA policy from the same data
files (``SAMAD_TRACKING_DATA_DIR``). The rebuild hands it a store that keeps the cases in memory
(``adapters.cases.HeldCases``); the engine writes them to the shadow collection in bulk at checkpoints
(``Case.to_document``), and reads stored ones back with ``Case.from_document``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from contracts.events import Envelope
from contracts.projections import Projection
from contracts.topics import CASES, NOTIFICATIONS
from services.common.clock import SystemClock
from services.tracking.adapters.calls import MongoCallStore
from services.tracking.adapters.cases import CASES_COLLECTION, HeldCases, MongoCaseStore
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.rollups import MongoRollupStore
from services.tracking.domain.model import Case
from services.tracking.domain.projection import case_id_of
from services.tracking.service.project_events import apply_events
from services.tracking.service.rollups import DailyRollups


class TrackingCases:
    """Tracking's case documents as a ``contracts.projections.Projection``."""

    name = "tracking"
    volatile_fields: tuple[str, ...] = ()  # the case document depends on its events only

    def __init__(self, topics: Sequence[str] | None = None, data_dir: str | None = None) -> None:
        self.topics = list(topics or (CASES, NOTIFICATIONS))
        self.policy = load_policy(data_dir)

    def key(self, event: Envelope) -> str | None:
        return case_id_of(event)

    def load(self, doc: dict[str, Any]) -> Any:
        return Case.from_document(doc)

    def dump(self, state: Any) -> dict[str, Any]:
        doc: dict[str, Any] = state.to_document()
        return doc

    async def apply_batch(self, states: Mapping[str, Any], events: Sequence[Envelope]) -> dict[str, Any]:
        store = HeldCases(states)
        # In place: the rebuild holds the only reference to each state and serialises the documents
        # it writes before applying later events.
        await apply_events(store, events, self.policy, in_place=True)
        return store.saved

    async def create_indexes(self, db: Any, collection: str) -> None:
        await MongoCaseStore(db, collection).ensure_indexes()

    async def promoted(self, db: Any, collection: str) -> None:
        # The agencies' queue rows (FerretDB v1) follow the cases the rebuild wrote.
        cases = MongoCaseStore(db, collection)
        await cases.rebuild_queue_rows()
        if collection == CASES_COLLECTION:
            # So do the reports' daily rollups, kept for the live collection only.
            await DailyRollups(MongoRollupStore(db), cases, MongoCallStore(db), SystemClock()).rebuild()


def projection(topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
    """The factory registered under the ``samad.projections`` entry point named ``tracking``."""
    return TrackingCases(topics, data_dir)
