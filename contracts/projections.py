"""The interface a service publishes for a projection that operations can rebuild from the log.

A service that owns a projection (tracking owns the case documents) implements ``Projection`` with its
own code and registers a factory under the ``samad.projections`` entry-point group, named after the
projection. Operations finds it by that name (``importlib.metadata``), never by importing the
owning service, so the rebuild engine drives the very code the live consumer runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from contracts.events import Envelope

ENTRY_POINT_GROUP = "samad.projections"

Doc = dict[str, Any]


class Projection(Protocol):
    """A projection as its owning service defines it; the rebuild engine only drives it."""

    @property
    def name(self) -> str:
        """The projection's name ("tracking"): the rebuild lock and run documents use it."""
        ...

    @property
    def topics(self) -> Sequence[str]:
        """The topics its events come from."""
        ...

    @property
    def volatile_fields(self) -> Sequence[str]:
        """Fields that legitimately differ between a rebuild and the live copy (e.g. a write time)."""
        ...

    def key(self, event: Envelope) -> str | None:
        """The _id of the document this event changes; None when the projection ignores the event."""
        ...

    def load(self, doc: Doc) -> Any:
        """The owning service's state for a stored document."""
        ...

    async def apply_batch(self, states: Mapping[str, Any], events: Sequence[Envelope]) -> Mapping[str, Any]:
        """Apply a batch (in log order) with the owning service's own code, given the current states of
        the documents it touches (absent: none yet); returns the states that changed (None: delete)."""
        ...

    def dump(self, state: Any) -> Doc:
        """The document the owning service stores for a state (with its ``_id``)."""
        ...

    async def promoted(self, db: Any, collection: str) -> None:
        """After a rebuilt collection became the live ``collection`` (the live consumers stopped):
        rebuild whatever the owning service keeps beside it, derived from its documents."""
        ...

    async def create_indexes(self, db: Any, collection: str) -> None:
        """The owning service's indexes on ``collection`` of ``db`` (an async PyMongo database)."""
        ...


class ProjectionFactory(Protocol):
    def __call__(self, topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
        """The projection reading ``topics`` (its own by default), with its rules from ``data_dir``."""
        ...
