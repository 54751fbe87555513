"""An answered call and its case in one request, on the fakes: one key for both, the same events as two
requests, nothing half written."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.events import CallReceived, CaseRegistered, CaseRepeatCall
from services.common.clock import FixedClock
from services.common.publishing import InMemoryPublisher
from services.intake.adapters.store import InMemoryIntakeStore, StoreUnavailable
from services.intake.adapters.tracking import InMemoryTrackingDirectory
from services.intake.bootstrap import bootstrap
from services.intake.domain.requests import CallIn
from services.intake.service.idempotency import KeyConflict
from services.intake.service.log_call import Rejected
from tests.unit.intake.conftest import NOW, OP1, World, case, unit_settings


def answered(**changes: Any) -> CallIn:
    return CallIn.model_validate(
        {
            "caller_phone": "09151234567",
            "outcome": "answered",
            "started_at": (NOW - timedelta(minutes=3)).isoformat(),
            "duration_seconds": 150,
        }
        | changes
    )


def fields(exc: pytest.ExceptionInfo[Rejected]) -> list[str]:
    return [name for name, _ in exc.value.errors]


async def test_the_call_and_its_case_are_published_in_that_order_under_one_key(world: World) -> None:
    answer = await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    assert answer.status_code == 201 and not answer.replayed
    call, registered = answer.body["call"], answer.body["case"]
    assert call["status"] == "received" and registered["status"] == "registered"
    first, second = world.publisher.events
    assert isinstance(first.data, CallReceived) and isinstance(second.data, CaseRegistered)
    assert first.id == call["event_id"] and second.id == registered["event_id"]
    assert first.data.call_id == call["call_id"] and first.data.operator_id == "op-1"
    assert second.data.call_id == call["call_id"]  # the case names the call logged with it
    assert second.data.tracking_code == registered["tracking_code"]
    assert registered["status_url"].endswith(registered["tracking_code"])
    assert world.store.cases[registered["case_id"]].tracking_code == registered["tracking_code"]
    [record] = world.store.keys.values()  # one reservation, one stored answer
    assert record.completed and record.body == answer.body


async def test_a_retry_with_the_same_key_answers_the_same_call_and_case_and_publishes_nothing(
    world: World,
) -> None:
    first = await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    again = await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    assert again.replayed and again.body == first.body and len(world.publisher.events) == 2
    with pytest.raises(KeyConflict):  # the same key for another request
        await world.intake.log_call_with_case(answered(), case(subject="قطعی برق"), key="k1", by=OP1)


async def test_a_refused_case_logs_no_call_and_names_the_field_within_the_case(world: World) -> None:
    with pytest.raises(Rejected) as refused:
        await world.intake.log_call_with_case(answered(), case(repeat_of="1234567890"), key="k1", by=OP1)
    assert fields(refused) == ["case.repeat_of"]
    assert "پرونده" in refused.value.errors[0][1].fa
    assert world.publisher.events == [] and world.store.keys == {} and world.store.cases == {}
    # Corrected, the same key logs the call and registers the case.
    answer = await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    assert answer.status_code == 201 and len(world.publisher.events) == 2


async def test_a_call_that_cannot_carry_a_case_is_refused_naming_its_fields(world: World) -> None:
    with pytest.raises(Rejected) as refused:
        await world.intake.log_call_with_case(
            answered(outcome="missed", started_at=(NOW + timedelta(hours=1)).isoformat()),
            case(call_id="call-elsewhere"),
            key="k1",
            by=OP1,
        )
    assert fields(refused) == ["call.outcome", "case.call_id", "call.started_at"]
    assert world.publisher.events == [] and world.store.keys == {}


async def test_a_repeat_call_logs_the_call_and_links_it_to_the_open_case(world: World) -> None:
    first = await world.intake.register_case(case(), key="k0", by=OP1)
    answer = await world.intake.log_call_with_case(
        answered(), case(repeat_of=first.body["tracking_code"]), key="k1", by=OP1
    )
    assert answer.status_code == 201 and answer.body["case"]["status"] == "repeat_call"
    assert answer.body["case"]["case_id"] == first.body["case_id"]
    call, repeat = world.publisher.events[-2:]
    assert isinstance(call.data, CallReceived) and isinstance(repeat.data, CaseRepeatCall)
    assert repeat.data.call_id == call.data.call_id


class FailingOnce(InMemoryIntakeStore):
    """The fake store, whose next listing of a case for its phone fails as a database outage would."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_listing = True

    async def list_for_phone(self, phone: str, case_id: str, at: Any) -> None:
        if self.fail_listing:
            self.fail_listing = False
            raise StoreUnavailable("database unreachable")
        await super().list_for_phone(phone, case_id, at)


async def test_a_store_failure_after_the_call_is_published_is_completed_by_the_retry() -> None:
    store, publisher = FailingOnce(), InMemoryPublisher("intake")
    intake = bootstrap(
        unit_settings(),
        store=store,
        tracking=InMemoryTrackingDirectory(),
        publisher=publisher,
        clock=FixedClock(NOW),
    )
    world = World(intake, store, publisher, FixedClock(NOW), InMemoryTrackingDirectory())
    with pytest.raises(StoreUnavailable):
        await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    published = list(world.publisher.events)
    assert [type(e.data) for e in published] == [CallReceived, CaseRegistered]
    assert store.keys == {} and store.cases == {}  # the key given back: the retry runs again

    answer = await world.intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    assert answer.status_code == 201 and not answer.replayed
    # The same events again (the same ids: consumers see each once) and the case completed with the
    # code claimed the first time.
    assert [e.id for e in world.publisher.events[2:]] == [e.id for e in published]
    registered = published[1].data
    assert isinstance(registered, CaseRegistered)
    assert answer.body["case"]["tracking_code"] == registered.tracking_code
    assert store.cases[answer.body["case"]["case_id"]].tracking_code == registered.tracking_code
    assert len(store.codes) == 1


class AnswerLost(InMemoryIntakeStore):
    """The fake store, whose next storing of a key's answer fails (the view beside it is written)."""

    def __init__(self) -> None:
        super().__init__()
        self.fail_answer = True

    async def complete_key(self, record: Any, status_code: int, body: dict[str, Any]) -> None:
        if self.fail_answer:
            self.fail_answer = False
            raise StoreUnavailable("database unreachable")
        await super().complete_key(record, status_code, body)


async def test_a_retry_after_the_view_was_written_republishes_the_same_events_from_it() -> None:
    store, publisher, clock = AnswerLost(), InMemoryPublisher("intake"), FixedClock(NOW)
    intake = bootstrap(
        unit_settings(), store=store, tracking=InMemoryTrackingDirectory(), publisher=publisher, clock=clock
    )
    with pytest.raises(StoreUnavailable):
        await intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    [view] = store.cases.values()  # written beside the answer that was lost; the key still reserved
    clock.advance(timedelta(seconds=intake.settings.idempotency_pending_seconds + 1))
    answer = await intake.log_call_with_case(answered(), case(), key="k1", by=OP1)
    assert answer.body["case"]["tracking_code"] == view.tracking_code
    first, again = publisher.events[:2], publisher.events[2:]
    assert [e.id for e in again] == [e.id for e in first]  # the same events to every consumer
    assert again[1] == first[1]  # the registration as first published: its time from the view
    assert len(store.codes) == 1
