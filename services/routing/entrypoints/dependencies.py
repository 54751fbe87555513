"""How a route gets routing's container: the one the app was built with (``app.state.container``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from services.routing.bootstrap import RoutingContainer

PROBLEM: dict[str, Any] = {"content": {"application/problem+json": {}}}


def _container(request: Request) -> RoutingContainer:
    container: RoutingContainer = request.app.state.container
    return container


Container = Annotated[RoutingContainer, Depends(_container)]
