"""Sending: a due record is claimed, the gateway called with the retry policy, the outcome recorded and
its events published; an SMS is never sent twice, whatever fails and whoever else tries."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contracts.events import deterministic_id
from services.common.publishing import BusUnavailable
from services.notify.adapters.providers.base import SendError
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.bootstrap import bootstrap
from services.notify.domain import records as rec
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind
from services.notify.domain.records import Owed
from services.notify.service.outcomes import outgoing
from tests.unit.notify.conftest import LEASE, Rig, make_rig
from tests.unit.notify.factory import NOW, registered

THROTTLED = SendError(ErrorKind.transient, "ESME_RTHROTTLED", "throttled")
BAD_NUMBER = SendError(ErrorKind.permanent, "ESME_RINVDSTADR", "bad number")
TIMEOUT = SendError(ErrorKind.unknown, "timeout", "no answer after submit")


async def started(provider: FakeProvider, **settings: object) -> Rig:
    rig = make_rig(provider, **settings)  # type: ignore[arg-type]
    await rig.notify.start(workers=False)
    return rig


def states(rig: Rig) -> list[str]:
    return [h.to.value for h in rig.only().history]


async def test_an_accepted_sms_is_recorded_submitted_with_its_event_published_before_the_write(
    rig: Rig,
) -> None:
    await rig.handle(registered("case-1"))
    [sms_id] = await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.submitted and record.message_ids == ("fake-1",)
    assert states(rig) == ["pending", "sending", "submitted"]
    [sent] = rig.of("sent")
    assert sent.data.sms_id == sms_id and sent.data.provider_message_id == "fake-1"  # type: ignore[attr-defined]
    # Published before the outcome was written: nothing owed, two writes (claim, outcome), no read.
    assert record.owed == () and record.version == 2 and rig.ledger.reads == 0
    assert record.lease_until is None and record.claimed_by == "replica-a" and record.claims == 1
    assert [s.sms_id for s in rig.provider.accepted] == [sms_id]
    assert rig.limiter.acquired == 1


async def test_a_gateway_that_answers_delivered_is_recorded_delivered_in_one_write() -> None:
    rig = await started(FakeProvider(delivered=True))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.delivered and record.version == 2 and record.owed == ()
    assert states(rig) == ["pending", "sending", "submitted", "delivered"]
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]
    assert rig.ledger.reads == 0  # claimed from the copy the consumer handed over, no read at all


async def test_a_transient_error_is_retried_within_the_claim() -> None:
    rig = await started(FakeProvider([THROTTLED, THROTTLED]))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.submitted and record.claims == 1
    assert len(rig.provider.calls) == 3 and len(rig.provider.accepted) == 1
    assert rig.limiter.acquired == 3  # every attempt waits for the gateway's rate


async def test_transient_errors_past_the_attempts_requeue_the_record_then_fail_it() -> None:
    rig = await started(FakeProvider([THROTTLED] * 9))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.pending and record.claims == 1
    assert record.not_before == NOW + timedelta(seconds=30)
    assert record.error is not None and "ESME_RTHROTTLED" in record.error
    assert len(rig.provider.calls) == 3 and rig.published.events == []
    assert not await rig.notify.senders.send_if_due(record.sms_id)  # not due yet
    rig.clock.advance(timedelta(seconds=30))
    assert await rig.notify.senders.send_if_due(record.sms_id)
    assert rig.only().state is SmsState.pending and rig.only().claims == 2
    rig.clock.advance(timedelta(minutes=5))
    assert await rig.notify.senders.send_if_due(record.sms_id)
    record = rig.only()
    assert record.state is SmsState.failed and record.claims == 3 and record.permanent is False
    [failed] = rig.of("failed")
    assert failed.data.permanent is False  # type: ignore[attr-defined]
    assert rig.provider.accepted == []


async def test_a_permanent_error_fails_the_sms_at_once() -> None:
    rig = await started(FakeProvider([BAD_NUMBER]))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.failed and record.permanent is True and record.owed == ()
    assert len(rig.provider.calls) == 1
    [failed] = rig.of("failed")
    assert failed.data.permanent and "ESME_RINVDSTADR" in failed.data.error  # type: ignore[attr-defined]


async def test_an_unknown_outcome_is_never_sent_again_by_a_sender() -> None:
    rig = await started(FakeProvider([TIMEOUT]))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.unknown and record.error is not None and "timeout" in record.error
    assert not await rig.notify.senders.send_if_due(record.sms_id)
    rig.clock.advance(timedelta(days=1))
    assert await rig.notify.senders.scan_once() == []
    assert len(rig.provider.calls) == 1 and rig.published.events == []


async def test_a_sender_that_dies_after_the_gateway_accepted_leaves_an_sms_that_is_never_sent_twice() -> None:
    """The worst moment: the gateway has the SMS, the ledger still says sending. The lease runs out,
    the reconciler asks the gateway and completes the record; no sender ever takes it again."""
    rig = await started(FakeProvider())
    await rig.handle(registered("case-1"))
    [sms_id] = rig.notify.senders.queued
    # What a sender of another replica did before it died: claim, call the gateway. Nothing more.
    now = rig.clock.now()
    claimed = await rig.ledger.update(
        sms_id,
        lambda r: rec.claim(r, now=now, lease_until=now + LEASE, replica="replica-b", provider="fake"),
        now=now,
    )
    assert claimed is not None
    await rig.provider.send(outgoing(claimed))

    assert not await rig.notify.senders.send_if_due(sms_id)  # held by the dead sender's lease
    await rig.notify.reconciler.reconcile_once()
    assert rig.only().state is SmsState.sending  # the lease has not run out yet
    rig.clock.advance(LEASE + timedelta(seconds=1))
    await rig.notify.reconciler.reconcile_once()

    assert states(rig) == ["pending", "sending", "unknown", "submitted"]
    assert rig.only().message_ids == ("fake-1",)
    assert len(rig.provider.accepted) == 1
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent"]
    assert not await rig.notify.senders.send_if_due(sms_id)
    assert await rig.notify.senders.scan_once() == []
    assert len(rig.provider.calls) == 1


async def test_two_senders_racing_for_one_record_send_it_once() -> None:
    rig = await started(FakeProvider())
    other = bootstrap(
        rig.notify.settings,
        ledger=rig.ledger,
        contacts=rig.contacts,
        optouts=rig.optouts,
        provider=rig.provider,
        limiter=rig.limiter,
        clock=rig.clock,
        publisher=rig.published,
        replica="replica-b",
    )
    await rig.handle(registered("case-1"))
    [sms_id] = rig.notify.senders.queued
    results = await asyncio.gather(
        rig.notify.senders.send_if_due(sms_id),
        other.senders.send_if_due(sms_id),
        rig.notify.senders.send_if_due(sms_id),
    )
    assert sorted(results) == [False, False, True]
    assert len(rig.provider.calls) == 1 and rig.only().claims == 1


async def test_events_kafka_did_not_take_are_owed_and_published_once_it_is_back(rig: Rig) -> None:
    rig.published.available = False
    await rig.handle(registered("case-1"))
    with pytest.raises(BusUnavailable):  # the sender's worker logs it; the record is safe
        await rig.notify.senders.send_if_due(next(iter(rig.notify.senders.queued)))
    record = rig.only()
    assert record.state is SmsState.submitted and record.owed == (Owed.sent,)

    rig.published.available = True
    rig.clock.advance(timedelta(seconds=10))
    await rig.notify.reconciler.reconcile_once()
    assert rig.published.events == []  # within the grace the writer may still publish them itself
    rig.clock.advance(timedelta(seconds=30))
    await rig.notify.reconciler.reconcile_once()
    [sent] = rig.of("sent")
    assert rig.only().owed == ()
    assert sent.id == deterministic_id("sms.sent", record.sms_id)  # the id any republication carries
    assert len(rig.provider.accepted) == 1


async def test_an_opted_out_citizen_is_asked_about_once_right_before_sending(rig: Rig) -> None:
    await rig.notify.opt_out.set_by_staff("+989121234567", True, by="staff-1", reason="asked")
    await rig.handle(registered("case-1"))
    assert rig.only().state is SmsState.pending  # the recorder does not ask
    await rig.send_queued()
    assert rig.only().state is SmsState.skipped_opted_out
    assert rig.optouts.asked == ["+989121234567"]
    assert rig.provider.calls == [] and rig.published.events == []
