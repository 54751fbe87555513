"""Notify built by its bootstrap on fakes only: an in-memory ledger, contacts and opt-outs, a scripted
gateway, an in-memory publisher and a clock that stands still. No worker task runs: a test drives
the use cases itself."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest

from contracts.events import Envelope
from services.common.clock import FixedClock
from services.common.kafka import Incoming
from services.common.publishing import InMemoryPublisher
from services.notify.adapters.contacts import InMemoryContacts
from services.notify.adapters.ledger.memory import InMemoryLedger
from services.notify.adapters.optouts import InMemoryOptOuts
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.adapters.rate_limit import Unlimited
from services.notify.adapters.read_audit import InMemoryReadAuditSink
from services.notify.bootstrap import NotifyContainer, bootstrap
from services.notify.domain.records import SmsRecord
from services.notify.settings import NotifySettings
from tests.unit.notify.factory import NOW

LEASE = timedelta(seconds=120)


@dataclass
class Rig:
    notify: NotifyContainer
    ledger: InMemoryLedger
    contacts: InMemoryContacts
    optouts: InMemoryOptOuts
    provider: FakeProvider
    published: InMemoryPublisher
    clock: FixedClock
    limiter: Unlimited
    read_audit: InMemoryReadAuditSink = field(default_factory=InMemoryReadAuditSink)

    async def handle(self, *events: Envelope, headers: dict[str, str] | None = None) -> None:
        """The consumer hands these events over as one batch."""
        batch = [Incoming(e, "samad.cases.v1", 0, n, dict(headers or {})) for n, e in enumerate(events)]
        await self.notify.recorder.handle(batch)

    async def send_queued(self) -> list[str]:
        """What the sender workers would do with the ids handed to them; the ids sent."""
        sent = []
        for sms_id in sorted(self.notify.senders.queued):
            if await self.notify.senders.send_if_due(sms_id):
                sent.append(sms_id)
        return sent

    def only(self) -> SmsRecord:
        [record] = self.ledger.records.values()
        return record

    def record(self, template: str) -> SmsRecord:
        [record] = [r for r in self.ledger.records.values() if r.template == template]
        return record

    def of(self, kind: str) -> list[Envelope]:
        return self.published.of_type(f"ir.samad.sms.{kind}")


def make_rig(
    provider: FakeProvider | None = None,
    *,
    at: datetime = NOW,
    ledger: InMemoryLedger | None = None,
    **settings: Any,
) -> Rig:
    values: dict[str, Any] = {
        "sms_quiet_hours": False,
        "sms_retry_attempts": 3,
        "sms_retry_initial_seconds": 0.0,
        "sms_retry_max_seconds": 0.0,
        "sms_retry_max_claims": 3,
        "sms_requeue_initial_seconds": 30.0,
        "sms_lease_seconds": LEASE.total_seconds(),
        "sms_status_poll_seconds": 60.0,
        "sms_outbox_grace_seconds": 30.0,
    }
    values.update(settings)
    rig = Rig(
        notify=None,  # type: ignore[arg-type]  # set just below
        ledger=ledger if ledger is not None else InMemoryLedger(),
        contacts=InMemoryContacts(),
        optouts=InMemoryOptOuts(),
        provider=provider or FakeProvider(),
        published=InMemoryPublisher("notify"),
        clock=FixedClock(at),
        limiter=Unlimited(),
    )
    rig.notify = bootstrap(
        NotifySettings(**values),
        ledger=rig.ledger,
        contacts=rig.contacts,
        optouts=rig.optouts,
        provider=rig.provider,
        limiter=rig.limiter,
        clock=rig.clock,
        publisher=rig.published,
        replica="replica-a",
        read_audit=rig.read_audit,
    )
    return rig


@pytest.fixture
async def rig() -> Rig:
    made = make_rig()
    await made.notify.start(workers=False)
    return made
