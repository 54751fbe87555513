"""The projections a rebuild can target, found by name among the installed services.

A service that owns a projection registers a factory under the ``samad.projections`` entry-point group
(``contracts.projections``); operations loads it by name and drives the owning service's own code
without importing that service.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib.metadata import entry_points

from contracts.projections import ENTRY_POINT_GROUP, Projection, ProjectionFactory


class ProjectionUnavailable(RuntimeError):
    """No installed service publishes a projection of that name."""


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
