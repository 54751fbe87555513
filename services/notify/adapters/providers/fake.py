"""An in-memory provider for unit tests: scripted answers, a record of every submission."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from services.notify.adapters.providers.base import (
    InboundHandler,
    Lookup,
    LookupOutcome,
    OutgoingSms,
    ReportHandler,
    SendError,
    Submitted,
)


class FakeProvider:
    name = "fake"
    status_lookup = True

    def __init__(self, script: Iterable[SendError | None] = ()) -> None:
        self.script: deque[SendError | None] = deque(script)
        self.calls: list[OutgoingSms] = []
        self.accepted: list[OutgoingSms] = []
        self.on_report: ReportHandler | None = None
        self.on_inbound: InboundHandler | None = None

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self.on_report, self.on_inbound = on_report, on_inbound

    async def stop(self) -> None:
        return None

    async def ready(self) -> bool:
        return True

    async def send(self, sms: OutgoingSms) -> Submitted:
        self.calls.append(sms)
        outcome = self.script.popleft() if self.script else None
        if outcome is not None:
            raise outcome
        self.accepted.append(sms)
        return Submitted((f"fake-{len(self.accepted)}",))

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        found = [i for i, s in enumerate(self.accepted, start=1) if s.sms_id == sms.sms_id]
        if not found:
            return Lookup(LookupOutcome.absent)
        return Lookup(LookupOutcome.found, (f"fake-{found[0]}",))
