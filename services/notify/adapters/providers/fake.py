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
    PartHandler,
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
        no_ids: bool = False,
    ) -> None:
        """``script``: the answer to each send in turn (an error, or None to accept); accepted once
        it is used up. ``delivered``: the answer to a submission already says delivered (like the
        file gateway). ``ids_per_part``: one message id per part (like SMPP). ``status_lookup``:
        whether lookup() can tell anything (False: like SMPP, it answers unknowable).
        ``lookup_status``: what a lookup says of a message it has. ``receipts_first``: push this
        receipt for every id before answering the submission (an SMSC may: its receipt can overtake
        its submit_sm_resp). With ``ids_per_part`` each part is reported to ``on_part`` as it is
        accepted (after its receipt, when receipts come first); the parts ``sms.accepted`` lists are
        not submitted again (``parts_sent`` counts every part submitted). ``no_ids``: the gateway
        accepts without giving message ids."""
        self.name = name
        self.status_lookup = status_lookup
        self.script: deque[SendError | None] = deque(script)
        self.delivered = delivered
        self.ids_per_part = ids_per_part
        self.lookup_status = lookup_status
        self.receipts_first = receipts_first
        self.no_ids = no_ids
        self.parts_sent: list[tuple[str, int]] = []
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

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        self.calls.append(sms)
        outcome = self.script.popleft() if self.script else None
        if outcome is not None:
            raise outcome
        self.accepted.append(sms)
        if self.no_ids:
            self.parts_sent += [(sms.sms_id, n) for n in range(1, sms.parts + 1) if n not in sms.accepted]
            if self.ids_per_part:
                for n in range(1, sms.parts + 1):
                    if n not in sms.accepted and on_part is not None:
                        await on_part(n, "")
                return Submitted((), parts=tuple((n, "") for n in range(1, sms.parts + 1)))
            return Submitted((), delivered=self.delivered)
        ids = self._ids(len(self.accepted), sms)
        if not self.ids_per_part:
            self.parts_sent += [(sms.sms_id, n) for n in range(1, sms.parts + 1)]
            if self.receipts_first is not None:
                for message_id in ids:
                    await self.report(message_id, self.receipts_first, recipient=sms.recipient)
            return Submitted(ids, delivered=self.delivered)
        parts = []
        for n, message_id in enumerate(ids, start=1):
            if n in sms.accepted:
                parts.append((n, sms.accepted[n]))
                continue
            self.parts_sent.append((sms.sms_id, n))
            if self.receipts_first is not None:
                await self.report(message_id, self.receipts_first, recipient=sms.recipient)
            if on_part is not None:
                await on_part(n, message_id)
            parts.append((n, message_id))
        return Submitted(tuple(i for _, i in parts if i), delivered=self.delivered, parts=tuple(parts))

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
    ) -> None:
        """Push a delivery receipt, as an SMSC's deliver_sm does."""
        assert self.on_report is not None, "start() first"
        await self.on_report(DeliveryReport(self.name, message_id, status, error, recipient=recipient))

    async def inbound(self, sender: str, text: str) -> None:
        """An SMS from a citizen."""
        assert self.on_inbound is not None, "start() first"
        await self.on_inbound(InboundSms(self.name, sender, text))
