"""Delivery receipts: each is kept once (an SMSC repeats them), a message is delivered when every part
is and failed when one part fails, and a receipt for a message whose submission was never recorded
is matched by recipient and text and proves it was submitted."""

from __future__ import annotations

from datetime import timedelta

from services.notify.adapters.providers.base import ReportStatus, SendError
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.domain.ledger import SmsState
from services.notify.domain.policy import ErrorKind
from tests.unit.notify.conftest import Rig, make_rig
from tests.unit.notify.factory import PHONE, registered, resolved

TIMEOUT = SendError(ErrorKind.unknown, "timeout", "no answer after submit")


async def started(provider: FakeProvider) -> Rig:
    rig = make_rig(provider)
    await rig.notify.start(workers=False)
    return rig


async def test_a_delivery_receipt_is_applied_once_however_often_it_comes(rig: Rig) -> None:
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    await rig.provider.report("fake-1", ReportStatus.delivered)
    await rig.provider.report("fake-1", ReportStatus.delivered)
    record = rig.only()
    assert record.state is SmsState.delivered and record.delivered_at == rig.clock.now()
    assert [h.to for h in record.history].count(SmsState.delivered) == 1
    assert len(rig.of("delivered")) == 1 and record.owed == ()
    assert len(rig.ledger.receipts) == 1


async def test_an_undeliverable_receipt_fails_the_sms(rig: Rig) -> None:
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    await rig.provider.report("fake-1", ReportStatus.failed, error="UNDELIV err:001")
    record = rig.only()
    assert record.state is SmsState.failed and record.permanent is True
    [failed] = rig.of("failed")
    assert "UNDELIV err:001" in failed.data.error  # type: ignore[attr-defined]


async def test_a_concatenated_message_is_delivered_once_every_part_is() -> None:
    rig = await started(FakeProvider(ids_per_part=True))
    await rig.handle(registered("case-1"), resolved("case-1"))
    await rig.send_queued()
    record = rig.record("resolved")
    first, second = record.message_ids
    assert [p.message_id for p in record.parts] == [first, second]  # one id per part, in order
    assert first.endswith(".1") and second.endswith(".2")
    await rig.provider.report(second, ReportStatus.delivered)
    assert rig.record("resolved").state is SmsState.submitted  # one part of two
    await rig.provider.report(first, ReportStatus.delivered)
    assert rig.record("resolved").state is SmsState.delivered


async def test_one_failed_part_fails_a_concatenated_message() -> None:
    rig = await started(FakeProvider(ids_per_part=True))
    await rig.handle(registered("case-1"), resolved("case-1"))
    await rig.send_queued()
    first, second = rig.record("resolved").message_ids
    await rig.provider.report(first, ReportStatus.failed, error="EXPIRED")
    assert rig.record("resolved").state is SmsState.failed
    await rig.provider.report(second, ReportStatus.delivered)
    assert rig.record("resolved").state is SmsState.failed


async def test_a_receipt_for_a_message_whose_submission_was_lost_proves_it_was_submitted() -> None:
    """The gateway took the SMS but its answer never came (a timeout): the record is unknown and
    the gateway cannot be asked. The receipt names an id the ledger never heard of; its recipient
    and text find the record, which is then submitted and delivered."""
    rig = await started(FakeProvider([TIMEOUT], status_lookup=False))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.unknown and record.message_ids == ()
    await rig.provider.report(
        "smsc-77", ReportStatus.delivered, recipient=PHONE, text_prefix=record.text[:20]
    )
    record = rig.only()
    assert record.message_ids == ("smsc-77",)
    assert [h.to.value for h in record.history] == ["pending", "sending", "unknown", "submitted", "delivered"]
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]


async def test_a_receipt_that_overtakes_the_gateways_answer_is_kept_and_settles_the_sms() -> None:
    rig = await started(FakeProvider(receipts_first=ReportStatus.delivered))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert len(rig.ledger.receipts) == 1  # kept while the record was still sending
    assert [h.to.value for h in record.history] == ["pending", "sending", "submitted", "delivered"]
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]


async def test_a_receipt_for_a_message_nobody_knows_changes_nothing(rig: Rig) -> None:
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    before = rig.only()
    await rig.provider.report("someone-else", ReportStatus.delivered, recipient="+989350000000")
    assert rig.only() == before and rig.ledger.receipts == {}
    rig.clock.advance(timedelta(seconds=1))
    assert len(rig.of("delivered")) == 0
