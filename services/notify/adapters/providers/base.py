"""The one interface every SMS provider implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from services.notify.domain.policy import ErrorKind


@dataclass(frozen=True)
class OutgoingSms:
    sms_id: str
    recipient: str  # E.164
    text: str
    parts: int
    local_id: int  # numeric id derived from sms_id: the gateway-side deduplication key


@dataclass(frozen=True)
class Submitted:
    """The provider accepted the message; one id per part when the provider reports parts."""

    message_ids: tuple[str, ...]
    delivered: bool = False  # the provider already knows it was delivered (file provider)


class SendError(Exception):
    def __init__(self, kind: ErrorKind, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.kind = kind
        self.code = code
        self.message = message


class ReportStatus(StrEnum):
    delivered = "delivered"
    failed = "failed"


@dataclass(frozen=True)
class DeliveryReport:
    """A delivery receipt pushed by the provider (SMPP deliver_sm) or found by a status lookup."""

    provider: str
    message_id: str
    status: ReportStatus
    error: str = ""
    at: datetime | None = None
    # What the receipt says about the message, to match it when the id was never recorded
    # (a crash between submit_sm_resp and the ledger update).
    recipient: str | None = None
    text_prefix: str | None = None


@dataclass(frozen=True)
class InboundSms:
    provider: str
    sender: str  # E.164
    text: str
    received_at: datetime | None = None


class LookupOutcome(StrEnum):
    found = "found"  # the provider has it: see status/message ids
    absent = "absent"  # the provider states for certain it never received it: safe to send again
    unknowable = "unknowable"  # the provider cannot say (SMPP): wait for a receipt


@dataclass(frozen=True)
class Lookup:
    outcome: LookupOutcome
    message_ids: tuple[str, ...] = ()
    status: ReportStatus | None = None  # None while still in flight
    error: str = ""
    extra: dict[str, str] = field(default_factory=dict)


ReportHandler = Callable[[DeliveryReport], Awaitable[None]]
InboundHandler = Callable[[InboundSms], Awaitable[None]]


class SmsProvider(Protocol):
    name: str
    # Whether lookup() can tell a submitted message's outcome: the reconciler then asks about records
    # left submitted for too long.
    status_lookup: bool

    async def start(self, on_report: ReportHandler, on_inbound: InboundHandler) -> None:
        """Connect; from now on receipts and inbound messages are handed to the two callbacks."""

    async def stop(self) -> None: ...

    async def ready(self) -> bool: ...

    async def send(self, sms: OutgoingSms) -> Submitted:
        """Submit one message (all its parts), or raise SendError saying what kind of failure."""

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        """What the provider knows of a message whose outcome we lost."""
