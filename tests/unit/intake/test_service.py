"""Intake's use cases with fakes: idempotency, repeat calls, the case view, and Kafka being down."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts import tracking_code
from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CallReceived,
    CaseRegistered,
    CaseRepeatCall,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    RouteReason,
    decode,
    make_event,
)
from services.intake.adapters.bus import BusUnavailable, InMemoryEventBus
from services.intake.adapters.clock import FixedClock
from services.intake.adapters.store import InMemoryIntakeStore, KeyRecord
from services.intake.domain.cases import RepeatPolicy
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.service import IntakeService, KeyConflict, Rejected

NOW = datetime(2018, 2, 27, 6, 0, tzinfo=UTC)
WATER = {
    "phone": "09151234567",
    "county": "mashhad",
    "subject": "قطعی آب",
    "description": "آب محلهٔ ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده است",
}


def case(**changes: Any) -> CaseIn:
    return CaseIn.model_validate({**WATER, **changes})


@pytest.fixture
def world() -> tuple[IntakeService, InMemoryIntakeStore, InMemoryEventBus, FixedClock]:
    store, bus, clock = InMemoryIntakeStore(), InMemoryEventBus(), FixedClock(NOW)
    service = IntakeService(
        store,
        bus,
        clock,
        repeat_policy=RepeatPolicy(window=timedelta(days=30), threshold=0.85),
        status_base_url="http://tracking.example/",
    )
    return service, store, bus, clock


World = tuple[IntakeService, InMemoryIntakeStore, InMemoryEventBus, FixedClock]


async def test_a_case_is_published_and_answered_with_a_verhoeff_tracking_code(world: World) -> None:
    service, _, bus, _ = world
    answer = await service.register_case(case(), key="k1", operator_id="op-1")
    assert answer.status_code == 201
    code = answer.body["tracking_code"]
    assert tracking_code.is_valid(code) and len(code) == 10
    assert answer.body["status_url"] == f"http://tracking.example/v1/status/{code}"
    [event] = bus.events
    assert isinstance(event.data, CaseRegistered)
    assert event.data.case_id == answer.body["case_id"] and event.id == answer.body["event_id"]
    assert event.data.citizen.phone == "+989151234567" and event.data.operator_id == "op-1"
    assert decode(event.to_json()) == event  # what consumers read back


async def test_a_retry_with_the_same_key_gets_the_same_answer_and_publishes_nothing(world: World) -> None:
    service, _, bus, _ = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    again = await service.register_case(case(phone="۰۹۱۵ ۱۲۳ ۴۵۶۷"), key="k1", operator_id="op-1")
    assert again.body == first.body and again.status_code == 201 and again.replayed
    assert len(bus.events) == 1


async def test_the_same_key_with_a_different_body_is_a_conflict(world: World) -> None:
    service, _, bus, _ = world
    await service.register_case(case(), key="k1", operator_id="op-1")
    with pytest.raises(KeyConflict) as caught:
        await service.register_case(case(subject="فاضلاب"), key="k1", operator_id="op-1")
    assert not caught.value.in_progress
    assert len(bus.events) == 1


async def test_keys_of_calls_and_cases_do_not_collide(world: World) -> None:
    service, _, bus, _ = world
    call = CallIn.model_validate(
        {"outcome": "missed", "started_at": "2018-02-27T09:00:00+03:30", "duration_seconds": 0}
    )
    await service.log_call(call, key="same", operator_id=None)
    await service.register_case(case(), key="same", operator_id="op-1")
    assert [type(e.data) for e in bus.events] == [CallReceived, CaseRegistered]


async def test_kafka_down_means_no_answer_no_key_and_a_clean_retry(world: World) -> None:
    service, store, bus, _ = world
    bus.available = False
    with pytest.raises(BusUnavailable):
        await service.register_case(case(), key="k1", operator_id="op-1")
    assert bus.events == [] and store.keys == {} and store.cases == {}
    bus.available = True
    answer = await service.register_case(case(), key="k1", operator_id="op-1")
    assert answer.status_code == 201 and len(bus.events) == 1


async def test_ids_come_from_the_key_so_a_lost_answer_yields_the_same_event(world: World) -> None:
    service, store, bus, _ = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    store.keys.clear()  # the key record is lost (or expired); the case view still has the case
    again = await service.register_case(case(), key="k1", operator_id="op-1")
    assert again.body["case_id"] == first.body["case_id"]
    assert again.body["duplicate_of"] is None  # not mistaken for a repeat of itself
    assert bus.events[0].id == bus.events[1].id  # the same event: consumers see it once


async def test_a_request_still_running_under_the_key_is_a_conflict_until_it_is_abandoned(
    world: World,
) -> None:
    service, store, bus, clock = world
    body = case()
    from services.intake.domain.ids import fingerprint

    scope_body = body.model_dump(mode="json") | {"operator_id": "op-1", "channel": "phone"}
    await store.reserve_key(KeyRecord("cases", "k1", fingerprint("cases", scope_body), clock.now()))
    with pytest.raises(KeyConflict) as caught:
        await service.register_case(body, key="k1", operator_id="op-1")
    assert caught.value.in_progress and bus.events == []
    clock.advance(timedelta(minutes=5))  # the replica that held it crashed
    answer = await service.register_case(body, key="k1", operator_id="op-1")
    assert answer.status_code == 201 and len(bus.events) == 1


async def test_a_repeat_call_is_linked_to_the_open_case(world: World) -> None:
    service, _, bus, clock = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    clock.advance(timedelta(days=2))
    again = await service.register_case(
        case(phone="+989151234567", description="آب محله ما از ديروز قطع است و هیچ اطلاع رسانی نشده"),
        key="k2",
        operator_id="op-2",
    )
    assert again.status_code == 200
    assert again.body["status"] == "repeat_call"
    assert again.body["duplicate_of"] == first.body["case_id"]
    assert again.body["tracking_code"] == first.body["tracking_code"]
    repeat = bus.events[-1].data
    assert isinstance(repeat, CaseRepeatCall)
    assert repeat.case_id == first.body["case_id"] and repeat.similarity >= 0.85
    assert bus.events[-1].subject == first.body["case_id"]  # same key, same partition as the case
    retry = await service.register_case(
        case(phone="+989151234567", description="آب محله ما از ديروز قطع است و هیچ اطلاع رسانی نشده"),
        key="k2",
        operator_id="op-2",
    )
    assert retry.body == again.body and len(bus.events) == 2


async def test_a_different_problem_from_the_same_phone_is_a_new_case(world: World) -> None:
    service, _, _, _ = world
    await service.register_case(case(), key="k1", operator_id="op-1")
    other = await service.register_case(
        case(subject="مستمری", description="مستمری بازنشستگی پدرم دو ماه است واریز نشده"),
        key="k2",
        operator_id="op-1",
    )
    assert other.status_code == 201 and other.body["duplicate_of"] is None


async def test_a_resolved_case_is_not_reused_for_a_new_call(world: World) -> None:
    service, _, _, clock = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    resolved = make_event(
        CaseStatusChanged(case_id=first.body["case_id"], status=CaseStatus.resolved, answer="وصل شد"),
        source="/samad/tracking",
        time=clock.now(),
    )
    assert await service.apply_event(resolved)
    again = await service.register_case(case(), key="k2", operator_id="op-1")
    assert again.status_code == 201 and again.body["case_id"] != first.body["case_id"]


async def test_the_routed_agency_decides_whether_an_operator_choice_matches(world: World) -> None:
    service, _, _, _ = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    routed = make_event(
        CaseRouted(
            case_id=first.body["case_id"],
            agency=AgencyCode.water_wastewater,
            reason=RouteReason.classifier,
            confidence=0.9,
        ),
        source="/samad/routing",
    )
    await service.apply_event(routed)
    elsewhere = await service.register_case(case(agency="housing_foundation"), key="k2", operator_id="op-1")
    assert elsewhere.status_code == 201  # same words, but the operator sends it to another agency
    same = await service.register_case(case(agency="water_wastewater"), key="k3", operator_id="op-1")
    assert same.status_code == 200 and same.body["duplicate_of"] == first.body["case_id"]


async def test_events_are_applied_to_the_view_once(world: World) -> None:
    service, store, _, _ = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    cid = first.body["case_id"]
    staff = Actor(kind=ActorKind.agency_staff, id="s1", agency=AgencyCode.water_wastewater)
    event = make_event(
        CaseStatusChanged(case_id=cid, status=CaseStatus.in_progress, actor=staff), source="/t"
    )
    assert await service.apply_event(event)
    assert not await service.apply_event(event)  # redelivered
    view = store.cases[cid]
    assert view.status == "in_progress" and view.open


async def test_a_call_starting_in_the_future_is_rejected_with_its_field(world: World) -> None:
    service, _, bus, clock = world
    call = CallIn.model_validate(
        {
            "outcome": "answered",
            "started_at": (clock.now() + timedelta(days=1)).isoformat(),
            "duration_seconds": 60,
        }
    )
    with pytest.raises(Rejected) as caught:
        await service.log_call(call, key="c1", operator_id="op-1")
    assert caught.value.errors[0][0] == "started_at" and bus.events == []


async def test_a_logged_call_carries_everything_the_funnel_needs(world: World) -> None:
    service, _, bus, _ = world
    call = CallIn.model_validate(
        {
            "caller_phone": "۰۵۱۳۸۰۰۱۲۳۴",
            "outcome": "abandoned",
            "started_at": "2018-02-27T09:00:00+03:30",
            "duration_seconds": 12,
            "county": "سبزوار",
            "duty_session_id": "duty-1396-12-08-education",
        }
    )
    answer = await service.log_call(call, key="c1", operator_id=None)
    data = bus.events[0].data
    assert isinstance(data, CallReceived)
    assert answer.body["call_id"] == data.call_id == bus.events[0].subject
    assert (data.outcome.value, data.county, data.caller_phone) == ("abandoned", "sabzevar", "+985138001234")
    assert data.duty_session_id == "duty-1396-12-08-education"


async def test_purging_old_key_records_keeps_retries_safe(world: World) -> None:
    service, store, bus, clock = world
    first = await service.register_case(case(), key="k1", operator_id="op-1")
    clock.advance(timedelta(days=40))
    assert await store.purge_keys(clock.now() - timedelta(days=30)) == 1
    again = await service.register_case(case(), key="k1", operator_id="op-1")
    assert again.body["case_id"] == first.body["case_id"] and bus.events[0].id == bus.events[-1].id


async def test_a_tracking_code_already_held_by_another_case_is_never_reused(world: World) -> None:
    service, store, bus, _ = world
    from services.intake.domain import ids

    mine = ids.case_ids("cases:k-clash")
    # Another case already holds the code this case's id hashes to (a birthday clash).
    taken = tracking_code.from_seed(mine.case_id)
    assert await store.claim_tracking_code(taken, "some-other-case")
    answer = await service.register_case(case(), key="k-clash", operator_id="op-1")
    code = answer.body["tracking_code"]
    assert code != taken and tracking_code.is_valid(code)
    assert code == tracking_code.from_seed(mine.case_id, 1)
    [event] = bus.events
    assert isinstance(event.data, CaseRegistered) and event.data.tracking_code == code
    # The retry of the same request gets the same code, and it stays this case's.
    again = await service.register_case(case(), key="k-clash", operator_id="op-1")
    assert again.body["tracking_code"] == code
    assert not await store.claim_tracking_code(code, "yet-another-case")
