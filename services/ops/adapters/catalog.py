"""The projections a rebuild can target, found by name among the installed services (a port).

A service that owns a projection registers a factory under the ``samad.projections`` entry-point group
(``contracts.projections``); ``EntryPointProjections`` loads it by name (``importlib.metadata``), so
operations drives the owning service's own code without importing that service.
``InMemoryProjections`` is the fake: factories given by the test.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Protocol

from contracts.projections import ENTRY_POINT_GROUP, Projection, ProjectionFactory


class ProjectionUnavailable(RuntimeError):
    """No installed service publishes a projection of that name."""


class ProjectionCatalog(Protocol):
    def available(self) -> list[str]: ...

    def load(self, name: str, topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
        """The projection ``name`` reading ``topics`` (its own by default); ProjectionUnavailable if none."""
        ...


def available() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def load_projection(
    name: str, topics: Sequence[str] | None = None, data_dir: str | None = None
) -> Projection:
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not found:
        raise ProjectionUnavailable(
            f"no projection named {name!r} is installed (available: {', '.join(available()) or 'none'})"
        )
    try:
        factory: ProjectionFactory = found[0].load()
    except ImportError as exc:
        raise ProjectionUnavailable(f"the {name} projection cannot be loaded: {exc}") from exc
    return factory(topics, data_dir)


class EntryPointProjections:
    def available(self) -> list[str]:
        return available()

    def load(self, name: str, topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
        return load_projection(name, topics, data_dir)


class InMemoryProjections:
    def __init__(self, factories: Mapping[str, ProjectionFactory]) -> None:
        self.factories = dict(factories)

    def available(self) -> list[str]:
        return sorted(self.factories)

    def load(self, name: str, topics: Sequence[str] | None = None, data_dir: str | None = None) -> Projection:
        if name not in self.factories:
            raise ProjectionUnavailable(
                f"no projection named {name!r} is installed (available: {', '.join(self.available()) or 'none'})"
            )
        return self.factories[name](topics, data_dir)


if TYPE_CHECKING:  # both keep up with the port
    _real: ProjectionCatalog = EntryPointProjections()
    _fake: ProjectionCatalog = InMemoryProjections({})
