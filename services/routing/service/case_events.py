"""Handle a fetched batch of case events: route registrations, re-route declines, publish the answers.

A case's events are handled one at a time, in order (its hops depend on the previous one, and each is
stored before it is published); different cases concurrently. The answers are published after the
whole batch is handled, and only then is the batch acknowledged.
"""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import CaseRegistered, CaseRerouteRequested, Envelope
from services.common.bounded import run_all
from services.common.publishing import Publisher
from services.routing.service.reroute import Reroute
from services.routing.service.route_case import RouteCase

# Cases routed at once within a fetched batch; each case's own events stay strictly in order.
CASE_CONCURRENCY = 64
WANTED = frozenset({CaseRegistered.event_type, CaseRerouteRequested.event_type})


class HandleCaseEvents:
    def __init__(
        self, route: RouteCase, reroute: Reroute, publisher: Publisher, concurrency: int = CASE_CONCURRENCY
    ) -> None:
        self.route = route
        self.reroute = reroute
        self.publisher = publisher
        self.concurrency = concurrency

    @staticmethod
    def wanted(event: Envelope) -> bool:
        return event.type in WANTED

    async def one(self, event: Envelope, replay: bool = False) -> list[Envelope]:
        """The answers to one event (none for an event routing does not handle)."""
        if isinstance(event.data, CaseRegistered):
            return await self.route(event, replay)
        if isinstance(event.data, CaseRerouteRequested):
            return await self.reroute(event, replay)
        return []

    async def __call__(self, batch: Sequence[tuple[Envelope, bool]]) -> None:
        """``batch``: (event, whether it comes from a replay run), in the order fetched."""
        by_case: dict[str, list[tuple[Envelope, bool]]] = {}
        for event, replay in batch:
            by_case.setdefault(event.subject, []).append((event, replay))

        async def one_case(items: list[tuple[Envelope, bool]]) -> list[Envelope]:
            out: list[Envelope] = []
            for event, replay in items:
                out.extend(await self.one(event, replay))
            return out

        # When one case fails, the batch is retried: run_all leaves none of this attempt's cases running.
        results = await run_all(one_case, by_case.values(), self.concurrency)
        await self.publisher.publish([e for chain in results for e in chain])
