"""One answer per Idempotency-Key, on the fakes: retries, conflicts, outages, lost and purged records."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.events import CallReceived, CaseRegistered
from services.common.publishing import BusUnavailable
from services.intake.adapters.store import KeyRecord, StoreUnavailable
from services.intake.domain.ids import fingerprint
from services.intake.domain.requests import CallIn
from services.intake.service.idempotency import KeyConflict
from tests.unit.intake.conftest import OP1, World, case


async def test_a_retry_with_the_same_key_gets_the_same_answer_and_publishes_nothing(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    again = await world.intake.register_case(case(phone="۰۹۱۵ ۱۲۳ ۴۵۶۷"), key="k1", by=OP1)
    assert again.body == first.body and again.status_code == 201 and again.replayed
    assert len(world.publisher.events) == 1


async def test_the_same_key_with_a_different_body_is_a_conflict(world: World) -> None:
    await world.intake.register_case(case(), key="k1", by=OP1)
    with pytest.raises(KeyConflict) as caught:
        await world.intake.register_case(case(subject="فاضلاب"), key="k1", by=OP1)
    assert not caught.value.in_progress
    assert len(world.publisher.events) == 1


async def test_keys_of_calls_and_cases_do_not_collide(world: World) -> None:
    call = CallIn.model_validate(
        {"outcome": "missed", "started_at": "2018-02-27T09:00:00+03:30", "duration_seconds": 0}
    )
    await world.intake.log_call(call, key="same")
    await world.intake.register_case(case(), key="same", by=OP1)
    assert [type(e.data) for e in world.publisher.events] == [CallReceived, CaseRegistered]


async def test_kafka_down_means_no_answer_no_key_and_a_clean_retry(world: World) -> None:
    store, publisher = world.store, world.publisher
    publisher.available = False
    with pytest.raises(BusUnavailable):
        await world.intake.register_case(case(), key="k1", by=OP1)
    assert publisher.events == [] and store.keys == {} and store.cases == {}
    publisher.available = True
    answer = await world.intake.register_case(case(), key="k1", by=OP1)
    assert answer.status_code == 201 and len(publisher.events) == 1


async def test_a_view_not_written_after_publishing_leaves_the_answer_for_the_retry(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The case view is written while the key's answer is stored: if the view fails, the answer
    # (with the code already published) is what the retry gets, and intake's consumer writes the view.
    working = world.store.apply_event

    async def down(*_args: object, **_kwargs: object) -> bool:
        raise StoreUnavailable("database unreachable")

    monkeypatch.setattr(world.store, "apply_event", down)
    with pytest.raises(StoreUnavailable):
        await world.intake.register_case(case(), key="k1", by=OP1)
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered)
    monkeypatch.setattr(world.store, "apply_event", working)
    again = await world.intake.register_case(case(), key="k1", by=OP1)
    assert again.replayed and again.body["tracking_code"] == event.data.tracking_code
    assert len(world.publisher.events) == 1
    assert await world.intake.case_view.apply(event)
    assert world.store.cases[event.data.case_id].tracking_code == event.data.tracking_code


async def test_the_database_down_means_no_answer_and_nothing_published(world: World) -> None:
    world.store.available = False
    with pytest.raises(StoreUnavailable):
        await world.intake.register_case(case(), key="k1", by=OP1)
    assert world.publisher.events == []
    world.store.available = True
    assert (await world.intake.register_case(case(), key="k1", by=OP1)).status_code == 201


async def test_ids_come_from_the_key_so_a_lost_answer_yields_the_same_event(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    world.store.keys.clear()  # the key record is lost (or expired); the case view still has the case
    again = await world.intake.register_case(case(), key="k1", by=OP1)
    assert again.body["case_id"] == first.body["case_id"]
    assert again.body["duplicate_of"] is None  # not mistaken for a repeat of itself
    assert (
        world.publisher.events[0].id == world.publisher.events[1].id
    )  # the same event: consumers see it once


async def test_a_request_still_running_under_the_key_is_a_conflict_until_it_is_abandoned(
    world: World,
) -> None:
    store, publisher, clock = world.store, world.publisher, world.clock
    body = case()
    scope_body = body.as_sent() | {"operator_id": "op-1", "channel": "phone"}
    await store.reserve_key(KeyRecord("cases", "k1", fingerprint("cases", scope_body), clock.now()))
    with pytest.raises(KeyConflict) as caught:
        await world.intake.register_case(body, key="k1", by=OP1)
    assert caught.value.in_progress and publisher.events == []
    clock.advance(timedelta(minutes=5))  # the replica that held it crashed
    answer = await world.intake.register_case(body, key="k1", by=OP1)
    assert answer.status_code == 201 and len(publisher.events) == 1


async def test_purging_old_key_records_keeps_retries_safe(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    world.clock.advance(timedelta(days=40))
    assert await world.intake.idempotency.forget(timedelta(days=30)) == 1
    again = await world.intake.register_case(case(), key="k1", by=OP1)
    assert again.body["case_id"] == first.body["case_id"]
    assert world.publisher.events[0].id == world.publisher.events[-1].id


async def test_recent_key_records_are_kept_by_a_purge(world: World) -> None:
    await world.intake.register_case(case(), key="k1", by=OP1)
    world.clock.advance(timedelta(days=10))
    assert await world.intake.idempotency.forget(timedelta(days=30)) == 0
    assert (await world.intake.register_case(case(), key="k1", by=OP1)).replayed
