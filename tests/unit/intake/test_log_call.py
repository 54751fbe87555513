"""Logging a call on the fakes: every call counts, answered or not, with the operator it may carry."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.events import CallReceived
from services.intake.domain.operators import Acting, ActingAsAnother
from services.intake.domain.requests import CallIn
from services.intake.service.log_call import Rejected
from tests.unit.intake.conftest import OP1, World

MISSED = {"outcome": "missed", "started_at": "2018-02-27T09:00:00+03:30", "duration_seconds": 0}
ANSWERED = {"outcome": "answered", "started_at": "2018-02-27T09:00:00+03:30", "duration_seconds": 60}


def call(**fields: Any) -> CallIn:
    return CallIn.model_validate(fields)


def logged(world: World) -> list[CallReceived]:
    return [e.data for e in world.publisher.events if isinstance(e.data, CallReceived)]


async def test_a_call_starting_in_the_future_is_rejected_with_its_field(world: World) -> None:
    future = call(
        outcome="answered",
        started_at=(world.clock.now() + timedelta(days=1)).isoformat(),
        duration_seconds=60,
    )
    with pytest.raises(Rejected) as caught:
        await world.intake.log_call(future, key="c1", by=OP1)
    assert caught.value.errors[0][0] == "started_at" and world.publisher.events == []


async def test_a_logged_call_carries_everything_the_funnel_needs(world: World) -> None:
    abandoned = call(
        caller_phone="۰۵۱۳۸۰۰۱۲۳۴",
        outcome="abandoned",
        started_at="2018-02-27T09:00:00+03:30",
        duration_seconds=12,
        county="سبزوار",
        duty_session_id="duty-1396-12-08-education",
    )
    answer = await world.intake.log_call(abandoned, key="c1")
    data = world.publisher.events[0].data
    assert isinstance(data, CallReceived)
    assert answer.status_code == 201 and answer.body["status"] == "received"
    assert answer.body["call_id"] == data.call_id == world.publisher.events[0].subject
    assert answer.body["event_id"] == world.publisher.events[0].id
    assert (data.outcome.value, data.county, data.caller_phone) == ("abandoned", "sabzevar", "+985138001234")
    assert data.duty_session_id == "duty-1396-12-08-education"


async def test_nobody_answered_a_missed_call_so_the_sender_is_not_its_operator(world: World) -> None:
    await world.intake.log_call(call(**MISSED), key="c1", by=OP1)
    await world.intake.log_call(call(**ANSWERED), key="c2", by=OP1)
    await world.intake.log_call(call(**MISSED, operator_id="op-1"), key="c3", by=OP1)
    assert [d.operator_id for d in logged(world)] == [None, "op-1", "op-1"]


async def test_an_operator_logs_only_as_themselves_a_supervisor_for_anyone(world: World) -> None:
    with pytest.raises(ActingAsAnother):
        await world.intake.log_call(call(**ANSWERED, operator_id="op-2"), key="c1", by=OP1)
    assert world.publisher.events == [] and world.store.keys == {}
    await world.intake.log_call(
        call(**ANSWERED, operator_id="op-2"), key="c2", by=Acting("sup", "supervisor")
    )
    await world.intake.log_call(call(**ANSWERED), key="c3", by=Acting("sup", "supervisor"))
    assert [d.operator_id for d in logged(world)] == ["op-2", "sup"]


async def test_a_retry_of_a_call_publishes_nothing_new(world: World) -> None:
    first = await world.intake.log_call(call(**ANSWERED), key="c1", by=OP1)
    again = await world.intake.log_call(call(**ANSWERED), key="c1", by=OP1)
    assert again.replayed and again.body == first.body and len(world.publisher.events) == 1
