"""Whom a call or a case is logged as: operators as themselves, a supervisor for a named operator."""

from __future__ import annotations

import pytest

from contracts.events import CallOutcome
from services.intake.domain.operators import (
    Acting,
    ActingAsAnother,
    acting_operator,
    call_operator,
    case_operator,
)

OPERATOR = Acting("op-1", "operator")
SUPERVISOR = Acting("sup-1", "supervisor")


def test_an_operator_acts_as_themselves() -> None:
    assert acting_operator(OPERATOR, None) == "op-1"
    assert acting_operator(OPERATOR, "op-1") == "op-1"


def test_an_operator_may_not_name_a_colleague() -> None:
    with pytest.raises(ActingAsAnother) as caught:
        acting_operator(OPERATOR, "op-2")
    assert (caught.value.acting, caught.value.named) == (OPERATOR, "op-2")


def test_a_supervisor_acts_for_the_named_operator_or_as_themselves() -> None:
    assert acting_operator(SUPERVISOR, "op-night") == "op-night"
    assert acting_operator(SUPERVISOR, None) == "sup-1"


def test_a_case_without_a_sender_keeps_the_operator_it_names() -> None:
    assert case_operator("op-import", None) == "op-import"
    assert case_operator(None, None) is None
    assert case_operator(None, OPERATOR) == "op-1"
    with pytest.raises(ActingAsAnother):
        case_operator("op-2", OPERATOR)


@pytest.mark.parametrize("outcome", [CallOutcome.missed, CallOutcome.abandoned])
def test_nobody_answered_a_missed_or_abandoned_call(outcome: CallOutcome) -> None:
    assert call_operator(None, outcome, OPERATOR) is None
    assert call_operator(None, outcome, SUPERVISOR) is None
    assert call_operator("op-1", outcome, OPERATOR) == "op-1"  # named: it is that operator's
    with pytest.raises(ActingAsAnother):
        call_operator("op-2", outcome, OPERATOR)  # still checked


def test_an_answered_call_is_the_senders_or_the_named_operators() -> None:
    assert call_operator(None, CallOutcome.answered, OPERATOR) == "op-1"
    assert call_operator(None, CallOutcome.answered, SUPERVISOR) == "sup-1"
    assert call_operator("op-night", CallOutcome.answered, SUPERVISOR) == "op-night"
    assert call_operator("op-import", CallOutcome.missed, None) == "op-import"
    assert call_operator(None, CallOutcome.answered, None) is None
