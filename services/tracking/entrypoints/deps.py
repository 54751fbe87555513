"""What every tracking router shares: the container as a FastAPI dependency, the caller as ``Staff``,
the roles each group of routes admits, and the documented error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from services.common.auth import Principal, Role, require
from services.tracking.bootstrap import TrackingContainer
from services.tracking.domain.access import Staff


async def _container(request: Request) -> TrackingContainer:
    # async: FastAPI would run a plain function in its thread pool, a hand-off on every request.
    container: TrackingContainer = request.app.state.container
    return container


Container = Annotated[TrackingContainer, Depends(_container)]


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

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}
ERRORS: dict[int | str, dict[str, Any]] = {401: PROBLEM, 403: PROBLEM, 404: PROBLEM}
