"""A span around every call to the SMS gateway (submit and status lookup), whatever the provider.

Wraps the provider ``SAMAD_SMS_PROVIDER`` chose; with tracing off it only passes the calls on. The
spans name the SMS and the provider, never the recipient or the text.
"""

from __future__ import annotations

from typing import Any

from opentelemetry.trace import SpanKind, Status, StatusCode

from services.common import tracing
from services.notify.adapters.providers.base import (
    InboundHandler,
    Lookup,
    OutgoingSms,
    PartHandler,
    ReportHandler,
    SendError,
    SmsProvider,
    Submitted,
)


class TracedProvider:
    def __init__(self, inner: SmsProvider) -> None:
        self.inner = inner
        self.name = inner.name
        self.status_lookup = inner.status_lookup

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        await self.inner.start(on_report, on_inbound)

    async def stop(self) -> None:
        await self.inner.stop()

    async def ready(self) -> bool:
        return await self.inner.ready()

    def _attributes(self, sms: OutgoingSms) -> dict[str, Any]:
        return {
            tracing.SMS_ID: sms.sms_id,
            "samad.sms.provider": self.name,
            "samad.sms.parts": sms.parts,
            "samad.sms.parts_accepted_before": len(sms.accepted),
        }

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        with tracing.span(
            f"sms gateway submit ({self.name})", attributes=self._attributes(sms), kind=SpanKind.CLIENT
        ) as span:
            try:
                submitted = await self.inner.send(sms, on_part)
            except SendError as exc:
                if span.is_recording():
                    span.set_attributes(
                        {"samad.sms.error.kind": exc.kind.value, "samad.sms.error.code": exc.code}
                    )
                    span.set_status(Status(StatusCode.ERROR, f"{exc.kind.value} {exc.code}"))
                raise
            if span.is_recording():
                span.set_attributes(
                    {
                        "samad.sms.message_ids": len(submitted.message_ids),
                        "samad.sms.delivered": submitted.delivered,
                    }
                )
            return submitted

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        with tracing.span(
            f"sms gateway lookup ({self.name})", attributes=self._attributes(sms), kind=SpanKind.CLIENT
        ) as span:
            found = await self.inner.lookup(sms, message_ids)
            if span.is_recording():
                span.set_attribute("samad.sms.lookup", found.outcome.value)
            return found
