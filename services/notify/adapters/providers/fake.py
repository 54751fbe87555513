"""An in-memory gateway for the use-case tests: scripted answers, a record of every submission,
receipts and inbound SMS pushed on demand, and a status lookup that knows what it accepted."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from services.notify.adapters.providers.base import (
    DeliveryReport,
    InboundHandler,
    InboundSms,
    Lookup,
    LookupOutcome,
    OutgoingSms,
    ReportHandler,
    ReportStatus,
    SendError,
    Submitted,
)


class FakeProvider:
    def __init__(
        self,
        script: Iterable[SendError | None] = (),
        *,
        name: str = "fake",
        delivered: bool = False,
        ids_per_part: bool = False,
        status_lookup: bool = True,
        lookup_status: ReportStatus | None = None,
        receipts_first: ReportStatus | None = None,
    ) -> None:
        """``script``: the answer to each send in turn (an error, or None to accept); accepted once
        it is used up. ``delivered``: the answer to a submission already says delivered (like the
        file gateway). ``ids_per_part``: one message id per part (like SMPP). ``status_lookup``:
        whether lookup() can tell anything (False: like SMPP, it answers unknowable).
        ``lookup_status``: what a lookup says of a message it has. ``receipts_first``: push this
        receipt for every id before answering the submission (an SMSC may: its receipt can overtake
        its submit_sm_resp)."""
        self.name = name
        self.status_lookup = status_lookup
        self.script: deque[SendError | None] = deque(script)
        self.delivered = delivered
        self.ids_per_part = ids_per_part
        self.lookup_status = lookup_status
        self.receipts_first = receipts_first
        self.calls: list[OutgoingSms] = []
        self.accepted: list[OutgoingSms] = []
        self.lookups: list[OutgoingSms] = []
        self.on_report: ReportHandler | None = None
        self.on_inbound: InboundHandler | None = None
        self.started = False

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        self.on_report, self.on_inbound = on_report, on_inbound
        self.started = True

    async def stop(self) -> None:
        self.started = False

    async def ready(self) -> bool:
        return self.started

    def _ids(self, n: int, sms: OutgoingSms) -> tuple[str, ...]:
        if self.ids_per_part:
            return tuple(f"{self.name}-{n}.{part}" for part in range(1, sms.parts + 1))
        return (f"{self.name}-{n}",)

    async def send(self, sms: OutgoingSms) -> Submitted:
        self.calls.append(sms)
        outcome = self.script.popleft() if self.script else None
        if outcome is not None:
            raise outcome
        self.accepted.append(sms)
        ids = self._ids(len(self.accepted), sms)
        if self.receipts_first is not None:
            for message_id in ids:
                await self.report(
                    message_id, self.receipts_first, recipient=sms.recipient, text_prefix=sms.text[:20]
                )
        return Submitted(ids, delivered=self.delivered)

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        self.lookups.append(sms)
        if not self.status_lookup:
            return Lookup(LookupOutcome.unknowable)
        found = [n for n, s in enumerate(self.accepted, start=1) if s.sms_id == sms.sms_id]
        if not found:
            return Lookup(LookupOutcome.absent)
        return Lookup(LookupOutcome.found, self._ids(found[0], sms), self.lookup_status)

    async def report(
        self,
        message_id: str,
        status: ReportStatus,
        *,
        error: str = "",
        recipient: str | None = None,
        text_prefix: str | None = None,
    ) -> None:
        """Push a delivery receipt, as an SMSC's deliver_sm does."""
        assert self.on_report is not None, "start() first"
        await self.on_report(
            DeliveryReport(self.name, message_id, status, error, recipient=recipient, text_prefix=text_prefix)
        )

    async def inbound(self, sender: str, text: str) -> None:
        """An SMS from a citizen."""
        assert self.on_inbound is not None, "start() first"
        await self.on_inbound(InboundSms(self.name, sender, text))
