"""``samad trace``: every trace of one case, found by its tracking code or case id in the receiver.

A case has one trace from the operator's click through intake, routing, tracking and notify to the
gateway call of its SMS, and more traces later: each staff action, each SLA breach, each replay.
"""

from __future__ import annotations

from contracts.persian import to_ascii_digits
from services.ops.adapters.traces import TraceStore
from services.ops.domain.traces import CASE_ID, TRACKING_CODE, CaseTrace

# The services whose spans name a case (the console's name it only through the services it calls).
TRACED_SERVICES = ("intake", "routing", "tracking", "notify")


class TraceCase:
    def __init__(self, store: TraceStore, lookback_hours: int = 24) -> None:
        self.store = store
        self.lookback_hours = lookback_hours

    async def __call__(self, case: str) -> list[CaseTrace]:
        """The case's traces, oldest first; ``case`` is a tracking code (Persian digits too) or a case id."""
        wanted = to_ascii_digits(case.strip())
        case_ids = {wanted}
        found: dict[str, CaseTrace] = {}
        if wanted.isdigit():
            for service in TRACED_SERVICES:
                for trace in await self._find(service, TRACKING_CODE, wanted):
                    found[trace.trace_id] = trace
            case_ids = set().union(*(t.attribute(CASE_ID) for t in found.values())) or case_ids
        for case_id in sorted(case_ids):
            for service in TRACED_SERVICES:
                for trace in await self._find(service, CASE_ID, case_id):
                    found[trace.trace_id] = trace
        return sorted(found.values(), key=lambda t: t.start_us)

    async def _find(self, service: str, attribute: str, value: str) -> list[CaseTrace]:
        return await self.store.find(service, attribute, value, lookback_hours=self.lookback_hours)
