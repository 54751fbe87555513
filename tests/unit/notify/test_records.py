"""The ledger record's changes (pure): each refuses a state it may not come from, and the record keeps
its parts, ids, owed events and history the way the ledger's rules say; the events it owes are
built from it alone, with ids that do not change."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from services.notify.domain import records as rec
from services.notify.domain.ledger import PartOutcome, SmsState
from services.notify.domain.notifications import events_of, in_order
from services.notify.domain.records import Owed, SmsPart, local_id_of, parts_of, with_part_ids
from tests.unit.notify.factory import LONG_ANSWER, NOW, pending_record

S = SmsState
LATER = NOW + timedelta(minutes=1)


def claimed(**changes: object) -> rec.SmsRecord:
    record = rec.claim(pending_record("case-1"), now=NOW, lease_until=LATER, replica="r1", provider="fake")
    assert record is not None
    return replace(record, **changes)  # type: ignore[arg-type]


def test_a_claim_takes_a_due_record_once_and_holds_it_with_a_lease() -> None:
    record = claimed()
    assert (record.state, record.claims, record.claimed_by, record.lease_until) == (S.sending, 1, "r1", LATER)
    assert record.history[-1].note == "claimed by r1"
    assert rec.claim(record, now=NOW, lease_until=LATER, replica="r2", provider="fake") is None
    not_due = replace(pending_record("case-1"), not_before=LATER)
    assert rec.claim(not_due, now=NOW, lease_until=LATER, replica="r1", provider="fake") is None


@pytest.mark.parametrize("state", [S.submitted, S.unknown, S.delivered, S.failed, S.skipped_stale])
def test_nothing_but_pending_or_deferred_is_ever_claimed(state: SmsState) -> None:
    record = replace(pending_record("case-1"), state=state)
    assert rec.claim(record, now=NOW, lease_until=LATER, replica="r1", provider="fake") is None


def test_only_the_lease_holder_extends_it() -> None:
    assert rec.extend_lease(claimed(), replica="r2", until=LATER) is None
    extended = rec.extend_lease(claimed(), replica="r1", until=LATER + LATER.resolution)
    assert extended is not None and extended.lease_until == LATER + LATER.resolution


def test_a_submission_merges_the_gateways_ids_and_owes_its_events_unless_published() -> None:
    record = claimed(message_ids=("old",))
    done = rec.submitted(record, now=LATER, message_ids=["m1"], delivered=False, note="accepted")
    assert done is not None
    assert (done.state, done.message_ids, done.owed, done.lease_until) == (
        S.submitted,
        ("m1", "old"),
        (Owed.sent,),
        None,
    )
    both = rec.submitted(
        record,
        now=LATER,
        message_ids=["m1"],
        delivered=True,
        note="accepted",
        published=[Owed.sent, Owed.delivered],
    )
    assert both is not None and both.state is S.delivered and both.owed == ()
    assert [(h.to, h.note) for h in both.history[-2:]] == [
        (S.submitted, "accepted"),
        (S.delivered, "provider reports it delivered"),
    ]
    assert (
        rec.submitted(pending_record("case-1"), now=LATER, message_ids=["m"], delivered=False, note="")
        is None
    )


def test_a_gateway_answering_part_by_part_gives_each_part_its_id() -> None:
    parts = parts_of(LONG_ANSWER * 2)
    assert len(parts) >= 2 and all(len(p.prefix) <= rec.PART_PREFIX for p in parts)
    ids = [f"m{n}" for n in range(len(parts))]
    assert [p.message_id for p in with_part_ids(parts, ids)] == ids
    assert [p.message_id for p in with_part_ids(parts, ["whole"])] == [None] * len(parts)


def two_parts(**changes: object) -> rec.SmsRecord:
    record = claimed(parts=(SmsPart(1, "سلام شهروند گرامی"), SmsPart(2, "کد رهگیری")), segments=2)
    return replace(record, **changes)  # type: ignore[arg-type]


def test_each_accepted_part_is_recorded_with_its_id_and_once() -> None:
    record = two_parts()
    one = rec.part_accepted(record, number=1, message_id="m1")
    assert one is not None and one.message_ids == ("m1",) and one.accepted_parts == {1: "m1"}
    assert [one.part_state(p) for p in one.parts] == [rec.PartState.accepted, rec.PartState.waiting]
    assert rec.part_accepted(one, number=1, message_id="m1") is None  # said already
    assert rec.part_accepted(one, number=3, message_id="m3") is None  # no such part
    silent = rec.part_accepted(one, number=2, message_id="")
    assert silent is not None and silent.part_state(silent.parts[1]) is rec.PartState.accepted_no_id
    assert silent.accepted_parts == {1: "m1", 2: ""}


def test_a_receipt_is_applied_once_to_the_part_it_names_whenever_it_comes() -> None:
    record = rec.part_accepted(two_parts(), number=1, message_id="m1")
    assert record is not None
    # Before the submission is recorded: kept on the record, which stays sending.
    early = rec.receipt(record, message_id="m1", outcome=PartOutcome.delivered, now=LATER)
    assert early is not None and early.state is S.sending and early.receipt_of("m1") is PartOutcome.delivered
    assert rec.receipt(early, message_id="m1", outcome=PartOutcome.delivered, now=LATER) is None  # twice
    assert rec.receipt(early, message_id="other", outcome=PartOutcome.delivered, now=LATER) is None
    with_two = rec.part_accepted(early, number=2, message_id="m2")
    assert with_two is not None
    done = rec.submitted(with_two, now=LATER, message_ids=["m1", "m2"], delivered=False, note="accepted")
    assert done is not None and done.state is S.submitted and done.owed == (Owed.sent,)
    last = rec.receipt(done, message_id="m2", outcome=PartOutcome.delivered, now=LATER)
    assert last is not None and last.state is S.delivered and last.owed == (Owed.sent, Owed.delivered)
    assert [last.part_state(p) for p in last.parts] == [rec.PartState.delivered] * 2
    # All receipts in before the submission's write: that write settles it.
    both = rec.receipt(with_two, message_id="m2", outcome=PartOutcome.delivered, now=LATER)
    assert both is not None
    settled = rec.submitted(both, now=LATER, message_ids=["m1", "m2"], delivered=False, note="accepted")
    assert settled is not None and settled.state is S.delivered
    assert [h.to for h in settled.history][-2:] == [S.submitted, S.delivered]


def test_a_failed_part_fails_the_message_and_stays_failed() -> None:
    record = rec.submitted(
        two_parts(), now=LATER, message_ids=[], delivered=False, note="ok", parts=[(1, "a"), (2, "b")]
    )
    assert record is not None and record.state is S.submitted
    failed = rec.receipt(record, message_id="a", outcome=PartOutcome.failed, now=LATER, error="UNDELIV")
    assert failed is not None and failed.state is S.failed and "UNDELIV" in (failed.error or "")
    assert rec.receipt(failed, message_id="a", outcome=PartOutcome.delivered, now=LATER) is None


def test_a_receipt_for_an_unknown_record_proves_it_was_submitted() -> None:
    record = rec.part_accepted(two_parts(), number=1, message_id="a")
    assert record is not None
    unknown = rec.outcome_unknown(record, now=LATER, error="timeout")
    assert unknown is not None
    moved = rec.receipt(unknown, message_id="a", outcome=PartOutcome.delivered, now=LATER)
    assert moved is not None and moved.state is S.submitted and moved.owed == (Owed.sent,)


def test_parts_accepted_without_an_id_leave_the_message_submitted_and_say_so() -> None:
    record = rec.submitted(
        two_parts(), now=LATER, message_ids=[], delivered=False, note="ok", parts=[(1, "a"), (2, "")]
    )
    assert record is not None and record.state is S.submitted
    assert "no message id for part(s) 2" in record.history[-1].note
    still = rec.receipt(record, message_id="a", outcome=PartOutcome.delivered, now=LATER)
    assert still is not None and still.state is S.submitted  # part 2 can never be confirmed: no guess


def test_failures_come_only_from_the_states_named() -> None:
    record = claimed()
    assert rec.failed(record, now=LATER, note="x", permanent=True, only_from=[S.submitted]) is None
    failed = rec.failed(record, now=LATER, note="bad number", permanent=True, only_from=[S.sending])
    assert failed is not None
    assert (failed.state, failed.error, failed.failed_at, failed.owed) == (
        S.failed,
        "bad number",
        LATER,
        (Owed.failed,),
    )


def test_a_requeue_waits_and_an_absent_message_is_due_at_once() -> None:
    requeued = rec.requeue(claimed(), now=NOW, error="transient", delay=30)
    assert requeued is not None and requeued.not_before == NOW + timedelta(seconds=30)
    assert requeued.history[-1].note == "transient; retry in 30s"
    unknown = rec.lease_lapsed(claimed(), now=LATER)
    assert unknown is not None and unknown.state is S.unknown and unknown.lease_until is None
    again = rec.resend_absent(unknown, now=LATER)
    assert again is not None and again.state is S.pending and again.not_before == LATER


def test_published_events_are_struck_off_and_a_second_strike_is_refused() -> None:
    record = claimed(owed=(Owed.sent, Owed.delivered))
    done = rec.published(record, [Owed.sent])
    assert done is not None and done.owed == (Owed.delivered,)
    assert rec.published(replace(record, owed=()), [Owed.sent]) is None


def test_lease_expiry_is_judged_on_sending_records_only() -> None:
    assert claimed().lease_expired(LATER + timedelta(seconds=1))
    assert not claimed().lease_expired(LATER - timedelta(seconds=1))
    assert not claimed(state=S.submitted).lease_expired(LATER + timedelta(days=1))


def test_events_are_owed_in_order_with_ids_that_never_change() -> None:
    record = claimed(state=S.delivered, message_ids=("m1",), submitted_at=LATER, delivered_at=LATER)
    assert in_order([Owed.failed, Owed.delivered, Owed.sent]) == [Owed.sent, Owed.delivered, Owed.failed]
    first = events_of(record, [Owed.delivered, Owed.sent], NOW)
    again = events_of(record, [Owed.sent, Owed.delivered], LATER + timedelta(hours=1))
    assert [e.type for e in first] == ["ir.samad.sms.sent", "ir.samad.sms.delivered"]
    assert [e.id for e in first] == [e.id for e in again]
    assert first[0].data.provider_message_id == "m1"  # type: ignore[attr-defined]
    assert first[0].time == LATER and first[0].causationid == record.source_event_id


def test_the_local_id_is_a_15_digit_number_of_the_sms_id() -> None:
    record = pending_record("case-1")
    assert record.local_id == local_id_of(record.sms_id) < 10**15
