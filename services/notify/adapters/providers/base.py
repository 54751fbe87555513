"""The one interface every SMS provider implements, and the values that cross it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
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
    # Parts the gateway accepted before (number -> message id, "" if it gave none), as the ledger
    # says: a gateway that submits part by part sends only the others, never these again.
    accepted: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Submitted:
    """The provider accepted the message; one id per part when the provider reports parts."""

    message_ids: tuple[str, ...]
    delivered: bool = False  # the provider already knows it was delivered (file provider)
    # A gateway that submits part by part: each part's number and id ("" when it gave none).
    parts: tuple[tuple[int, str], ...] = ()


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
    recipient: str | None = None  # for the logs only: a receipt is matched by its message id alone


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
# Called as each part is accepted (its number and message id, "" when the gateway gave none), before
# the next part is submitted: the ledger records it at once.
PartHandler = Callable[[int, str], Awaitable[None]]
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

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        """Submit one message (all its parts but those ``sms.accepted`` lists), or raise SendError
        saying what kind of failure. A gateway that submits part by part awaits ``on_part`` for each
        part it accepted before it submits the next."""

    async def lookup(self, sms: OutgoingSms, message_ids: tuple[str, ...]) -> Lookup:
        """What the provider knows of a message whose outcome we lost."""
