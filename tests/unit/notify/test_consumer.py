"""Notify's consumer and publishers through FastStream's in-memory TestKafkaBroker: case events on the
cases topic become ledger records, other events are left alone, and the sms.* events go out through
the publishers notify declares (the same ones its AsyncAPI document shows)."""

from __future__ import annotations

import json

from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from contracts.topics import CASES, NOTIFICATIONS
from services.common.clock import FixedClock
from services.notify.adapters.contacts import InMemoryContacts
from services.notify.adapters.ledger.memory import InMemoryLedger
from services.notify.adapters.optouts import InMemoryOptOuts
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.adapters.rate_limit import Unlimited
from services.notify.bootstrap import NotifyContainer, bootstrap
from services.notify.domain.ledger import SmsState
from services.notify.entrypoints import consumer
from services.notify.settings import NotifySettings
from tests.unit.notify.factory import NOW, registered


def notify_on_fakes() -> NotifyContainer:
    """Every port a fake but the publisher: notify's own, on the broker TestKafkaBroker replaces."""
    return bootstrap(
        NotifySettings(sms_quiet_hours=False),
        ledger=InMemoryLedger(),
        contacts=InMemoryContacts(),
        optouts=InMemoryOptOuts(),
        provider=FakeProvider(delivered=True),
        limiter=Unlimited(),
        clock=FixedClock(NOW),
    )


async def test_citizen_facing_case_events_become_ledger_records_and_others_are_ignored() -> None:
    notify = notify_on_fakes()
    consumer.register(notify)
    note = make_event(
        CaseNoteAdded(case_id="case-2", text="یادداشت", actor=Actor(kind=ActorKind.ops, id="t")),
        source="/samad/tracking",
    )
    async with TestKafkaBroker(notify.broker) as broker:
        await broker.publish(registered("case-1").to_json(), CASES, key=b"case-1")
        await broker.publish(note.to_json(), CASES, key=b"case-2")
        await broker.publish(registered("case-1").to_json(), CASES, key=b"case-1")  # another event, same case

    assert isinstance(notify.ledger, InMemoryLedger)
    records = list(notify.ledger.records.values())
    assert [(r.case_id, r.state) for r in records] == [("case-1", SmsState.pending)] * 2
    assert notify.senders.queued == {r.sms_id for r in records}


async def test_the_sms_events_go_out_through_notifys_declared_publishers() -> None:
    notify = notify_on_fakes()
    consumer.register(notify)
    seen: list[tuple[str, bytes | None]] = []

    @notify.broker.subscriber(NOTIFICATIONS)
    async def watch(msg: KafkaMessage) -> None:
        seen.append((json.loads(msg.body)["type"], msg.raw_message.key))

    async with TestKafkaBroker(notify.broker) as broker:
        await notify.start(workers=False)
        await broker.publish(registered("case-1").to_json(), CASES, key=b"case-1")
        [sms_id] = notify.senders.queued
        assert await notify.senders.send_if_due(sms_id)
        await notify.stop()

    assert seen == [("ir.samad.sms.sent", b"case-1"), ("ir.samad.sms.delivered", b"case-1")]
    assert notify.events.event_types == {"ir.samad.sms.sent", "ir.samad.sms.delivered", "ir.samad.sms.failed"}
