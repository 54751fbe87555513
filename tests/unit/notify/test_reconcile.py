"""Reconciling: expired leases become unknown, unknown outcomes are resolved through the gateway's
lookup (resent only when the gateway states it never had the message), submitted records are polled
when the gateway can answer, and nothing is asked before its time."""

from __future__ import annotations

from datetime import timedelta

from services.notify.adapters.providers.base import ReportStatus, SendError
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.domain import records as rec
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind
from tests.unit.notify.conftest import LEASE, Rig, make_rig
from tests.unit.notify.factory import registered

TIMEOUT = SendError(ErrorKind.unknown, "timeout", "no answer after submit")


async def started(provider: FakeProvider) -> Rig:
    rig = make_rig(provider)
    await rig.notify.start(workers=False)
    return rig


async def claimed_by_a_dead_sender(rig: Rig) -> str:
    """A record a sender of another replica claimed before it died (the gateway was never called)."""
    await rig.handle(registered("case-1"))
    [sms_id] = rig.notify.senders.queued
    now = rig.clock.now()
    await rig.ledger.update(
        sms_id,
        lambda r: rec.claim(r, now=now, lease_until=now + LEASE, replica="replica-b", provider="fake"),
        now=now,
    )
    return sms_id


def history(rig: Rig) -> list[str]:
    return [h.to.value for h in rig.only().history]


async def test_an_expired_lease_becomes_unknown_and_a_gateway_that_never_had_it_sends_it_once() -> None:
    rig = await started(FakeProvider())
    sms_id = await claimed_by_a_dead_sender(rig)
    rig.clock.advance(LEASE + timedelta(seconds=1))
    await rig.notify.reconciler.reconcile_once()
    record = rig.only()
    assert history(rig) == ["pending", "sending", "unknown", "pending"]
    assert record.lease_until is None and record.not_before == rig.clock.now()
    assert rig.provider.calls == []  # asked, not sent
    assert await rig.notify.senders.scan_once() == [sms_id]
    assert await rig.notify.senders.send_if_due(sms_id)
    assert len(rig.provider.accepted) == 1 and rig.only().state is SmsState.submitted


async def test_an_unknown_outcome_the_gateway_knows_delivered_is_completed_with_both_events() -> None:
    rig = await started(FakeProvider([TIMEOUT], lookup_status=ReportStatus.delivered))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    assert rig.only().state is SmsState.unknown
    rig.provider.accepted.append(rig.provider.calls[0])  # the gateway had it after all
    await rig.notify.reconciler.reconcile_once()
    assert history(rig) == ["pending", "sending", "unknown", "submitted", "delivered"]
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]
    assert rig.only().owed == ()
    assert len(rig.provider.calls) == 1


async def test_a_gateway_that_cannot_be_asked_leaves_an_unknown_outcome_to_its_receipt() -> None:
    rig = await started(FakeProvider([TIMEOUT], status_lookup=False))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    for _ in range(3):
        rig.clock.advance(timedelta(minutes=10))
        await rig.notify.reconciler.reconcile_once()
    assert rig.only().state is SmsState.unknown
    assert len(rig.provider.calls) == 1 and rig.published.events == []


async def test_a_submitted_sms_is_polled_once_its_receipt_is_late_and_settled_by_the_answer() -> None:
    rig = await started(FakeProvider(lookup_status=ReportStatus.delivered))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    rig.clock.advance(timedelta(seconds=30))
    await rig.notify.reconciler.reconcile_once()
    assert rig.only().state is SmsState.submitted and rig.provider.lookups == []  # not yet
    rig.clock.advance(timedelta(seconds=31))
    await rig.notify.reconciler.reconcile_once()
    record = rig.only()
    assert record.state is SmsState.delivered and len(rig.provider.lookups) == 1
    assert record.polled_at is not None
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]


async def test_a_gateway_that_pushes_receipts_is_not_polled() -> None:
    rig = await started(FakeProvider(status_lookup=False))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    rig.clock.advance(timedelta(hours=1))
    await rig.notify.reconciler.reconcile_once()
    assert rig.only().state is SmsState.submitted and rig.provider.lookups == []


async def test_another_gateways_unknown_records_are_left_to_it() -> None:
    rig = await started(FakeProvider(name="smpp"))
    sms_id = await claimed_by_a_dead_sender(rig)  # claimed for the gateway named "fake"
    rig.clock.advance(LEASE + timedelta(seconds=1))
    await rig.notify.reconciler.reconcile_once()
    assert rig.ledger.records[sms_id].state is SmsState.unknown  # its lease expired: that much is known
    assert rig.provider.lookups == []
