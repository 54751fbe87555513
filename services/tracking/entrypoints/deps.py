"""What every tracking router shares: the container as a FastAPI dependency, the caller as ``Staff``,
the roles each group of routes admits, and the documented error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from services.common.auth import PURPOSE_HEADER, Principal, Role, require
from services.tracking.bootstrap import TrackingContainer
from services.tracking.domain.access import Staff
from services.tracking.domain.audit import ReadContext, clean_screen
from services.tracking.domain.lookup_limits import client_address


async def _container(request: Request) -> TrackingContainer:
    # async: FastAPI would run a plain function in its thread pool, a hand-off on every request.
    container: TrackingContainer = request.app.state.container
    return container


Container = Annotated[TrackingContainer, Depends(_container)]


async def _read_context(request: Request) -> ReadContext:
    """Where a read comes from, for the read audit: the client (the peer, or behind a trusted proxy the
    right-most X-Forwarded-For hop that is not one), the endpoint, and the console's screen."""
    container: TrackingContainer = request.app.state.container
    peer = request.client.host if request.client else None
    client = client_address(
        peer, request.headers.getlist("x-forwarded-for"), container.settings.trusted_proxies
    )
    route = request.scope.get("route")
    path = getattr(route, "path", request.url.path)
    return ReadContext(client, f"{request.method} {path}", clean_screen(request.headers.get(PURPOSE_HEADER)))


Reading = Annotated[ReadContext, Depends(_read_context)]


def staff(principal: Principal) -> Staff:
    return Staff(
        principal.role.value,
        principal.subject,
        principal.agency.value if principal.agency else None,
        head=principal.agency_head,
        name=principal.name,
    )


READ_CASE = require(Role.operator, Role.agency_staff, Role.supervisor, Role.ops)
READ_QUEUE = require(Role.agency_staff, Role.supervisor, Role.ops)
ACT = require(Role.operator, Role.agency_staff, Role.supervisor)
FUNNEL = require(Role.operator, Role.supervisor, Role.ops)
AGENCY_REPORT = require(Role.agency_staff, Role.supervisor, Role.ops)
OVERVIEW = require(Role.supervisor, Role.ops)
AUDIT = require(Role.supervisor)

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM}
