"""Delivery receipts: each is applied once (an SMSC repeats them) to the part its message id names, a
message is delivered when every part is and failed when one part fails; a receipt whose id is not
known yet is kept and applied once it is, and reported when it stays unmatched. Nothing is matched
by recipient or text."""

from __future__ import annotations

from datetime import timedelta

from services.notify.adapters.providers.base import ReportStatus, SendError
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.domain import records as rec
from services.notify.domain.ledger import PartOutcome, SmsState
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
    assert record.receipts == (("fake-1", PartOutcome.delivered),) and rig.ledger.kept == {}


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


async def test_a_receipt_for_a_message_whose_submission_was_lost_is_never_matched_by_text() -> None:
    """The gateway took the SMS but its answer never came (a timeout): the record is unknown and no
    id of it is known. A receipt naming an id nobody recorded is kept, never pinned on this SMS by
    its recipient or text, and reported once it has waited too long."""
    rig = await started(FakeProvider([TIMEOUT], status_lookup=False))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    before = rig.only()
    assert before.state is SmsState.unknown and before.message_ids == ()
    await rig.provider.report("smsc-77", ReportStatus.delivered, recipient=PHONE)
    assert rig.only() == before
    [kept] = rig.ledger.kept.values()
    assert kept.message_id == "smsc-77" and kept.reported_at is None
    assert await rig.notify.receipts.sweep() == 0  # still within the wait
    rig.clock.advance(rig.notify.config.receipt_match_wait + timedelta(seconds=1))
    assert await rig.notify.receipts.sweep() == 1
    [kept] = await rig.notify.receipts.unmatched()
    assert kept.reported_at == rig.clock.now()  # reported, and still listed for people to look at
    assert rig.only() == before


async def test_a_receipt_that_overtakes_each_parts_answer_is_kept_then_applied() -> None:
    """An SMSC sends each part's receipt before its submit_sm_resp: nobody knows the id yet. The
    receipt is kept, and applied the moment the part's id is recorded."""
    rig = await started(FakeProvider(ids_per_part=True, receipts_first=ReportStatus.delivered))
    await rig.handle(registered("case-1"), resolved("case-1"))
    await rig.send_queued()
    record = rig.record("resolved")
    assert len(record.parts) == 2 and record.state is SmsState.delivered
    assert [record.part_state(p).value for p in record.parts] == ["delivered", "delivered"]
    assert rig.ledger.kept == {}
    assert [h.to.value for h in record.history] == ["pending", "sending", "submitted", "delivered"]
    assert len(rig.of("delivered")) == 2 and len(rig.of("sent")) == 2


async def test_a_receipt_kept_while_its_id_was_unknown_is_applied_by_the_sweep() -> None:
    rig = await started(FakeProvider(ids_per_part=True))
    await rig.handle(registered("case-1"))
    record = rig.only()
    await rig.provider.report("smsc-1", ReportStatus.delivered)  # before its id was recorded
    assert len(rig.ledger.kept) == 1
    # The id is recorded by a write that does not look for kept receipts (a replica that stopped
    # right after it, say): the reconciler's sweep applies the receipt.
    now = rig.clock.now()
    await rig.ledger.update(
        record.sms_id, lambda r: rec.part_accepted(r, number=1, message_id="smsc-1"), now=now
    )
    assert await rig.notify.receipts.sweep() == 0
    assert rig.ledger.kept == {} and rig.only().receipt_of("smsc-1") is PartOutcome.delivered


async def test_parts_accepted_without_ids_leave_the_sms_submitted() -> None:
    rig = await started(FakeProvider(ids_per_part=True, no_ids=True))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert record.state is SmsState.submitted and record.message_ids == ()
    assert "no message id" in record.history[-1].note
    assert [record.part_state(p).value for p in record.parts] == ["accepted_no_id"] * len(record.parts)


async def test_a_receipt_that_overtakes_the_gateways_answer_is_kept_and_settles_the_sms() -> None:
    rig = await started(FakeProvider(receipts_first=ReportStatus.delivered))
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    record = rig.only()
    assert rig.ledger.kept == {}  # kept while the id was unknown, applied once it was written
    assert [h.to.value for h in record.history] == ["pending", "sending", "submitted", "delivered"]
    assert [e.type for e in rig.published.events] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]


async def test_a_receipt_for_a_message_nobody_knows_changes_nothing(rig: Rig) -> None:
    await rig.handle(registered("case-1"))
    await rig.send_queued()
    before = rig.only()
    await rig.provider.report("someone-else", ReportStatus.delivered, recipient="+989350000000")
    assert rig.only() == before and list(rig.ledger.kept) == ["fake:someone-else:delivered"]
    rig.clock.advance(timedelta(seconds=1))
    assert len(rig.of("delivered")) == 0
