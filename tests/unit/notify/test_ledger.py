"""The ledger's state machine: the only ways a record may move, and when a message counts as delivered."""

from __future__ import annotations

import itertools

import pytest

from services.notify.domain.ledger import (
    FINAL,
    IllegalTransition,
    PartOutcome,
    SmsState,
    can_move,
    check_move,
    overall_outcome,
    sms_id,
    sources_for,
)

S = SmsState


def test_the_happy_path() -> None:
    path = [S.pending, S.sending, S.submitted, S.delivered]
    for a, b in itertools.pairwise(path):
        check_move(a, b)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.submitted, S.sending),  # a submitted message is never claimed for sending again
        (S.submitted, S.pending),
        (S.unknown, S.sending),  # an unknown outcome is never resent blindly
        (S.delivered, S.failed),
        (S.failed, S.pending),
        (S.skipped_stale, S.pending),
        (S.pending, S.submitted),  # nothing is submitted without a claim
    ],
)
def test_moves_that_could_send_twice_or_rewrite_history_are_refused(
    current: SmsState, target: SmsState
) -> None:
    assert not can_move(current, target)
    with pytest.raises(IllegalTransition):
        check_move(current, target)


def test_an_unknown_outcome_is_resolved_by_evidence_only() -> None:
    assert sources_for(S.unknown) == {S.sending}
    assert {S.submitted, S.delivered, S.failed, S.pending} == {t for t in S if can_move(S.unknown, t)}


def test_final_states_have_no_way_out() -> None:
    assert {S.delivered, S.failed, S.skipped_stale, S.skipped_opted_out, S.skipped_erased} == FINAL


def test_only_pending_and_deferred_records_can_be_claimed() -> None:
    assert sources_for(S.sending) == {S.pending, S.deferred}


def test_one_record_per_source_event_and_recipient() -> None:
    assert sms_id("ev-1", "+989121234567") == sms_id("ev-1", "+989121234567")
    assert sms_id("ev-1", "+989121234567") != sms_id("ev-2", "+989121234567")
    assert sms_id("ev-1", "+989121234567") != sms_id("ev-1", "+989121234568")


def test_a_concatenated_message_is_delivered_when_every_part_is() -> None:
    d, f = PartOutcome.delivered, PartOutcome.failed
    assert overall_outcome(2, {"a": d}) is None
    assert overall_outcome(2, {"a": d, "b": d}) is d
    assert overall_outcome(2, {"a": f}) is f
    assert overall_outcome(2, {"a": d, "b": f}) is f
    assert overall_outcome(1, {}) is None
