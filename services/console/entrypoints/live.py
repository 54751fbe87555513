"""Server-sent events: a page watching a case hears when its SMS or its status changed, and reloads
that fragment from the services (so a reconnect catches up by itself)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse
from starlette.responses import Response

from services.console.adapters.platform import ApiRefused
from services.console.domain.people import User
from services.console.entrypoints.web import Container, granted, staff
from services.console.service.live import case_topic

router = APIRouter(include_in_schema=False)
READERS = staff("operator", "supervisor", "agency_staff", "ops")
PING_SECONDS = 15


@router.get("/live/cases/{case_id}")
async def watch_case(
    request: Request,
    c: Container,
    case_id: str,
    grant: Annotated[str | None, Query(max_length=100)] = None,
    who: tuple[User, str] = READERS,
) -> Response:
    # The services decide who may watch a case; the case just registered at this desk may not be in
    # tracking yet, and is this person's to watch (its page carries this session's grant for it).
    if not granted(request, case_id, grant) and case_id not in request.session.get("registered", []):
        try:
            await c.desk.case(who[1], case_id)
        except ApiRefused:
            return Response(status_code=404)

    async def events() -> AsyncIterator[dict[str, Any]]:
        async with c.hub.watch(case_topic(case_id)) as queue:
            while not await request.is_disconnected():
                try:
                    message = await asyncio.wait_for(queue.get(), timeout=PING_SECONDS)
                except TimeoutError:
                    continue
                yield {"event": message["event"], "data": message.get("data", "")}

    return EventSourceResponse(events(), ping=PING_SECONDS)
