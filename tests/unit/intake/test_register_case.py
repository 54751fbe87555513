"""Registering a case on the fakes: tracking codes, repeat calls, and what the case view decides."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from contracts import tracking_code
from contracts.catalogue import AgencyCode
from contracts.events import (
    CaseRegistered,
    CaseRepeatCall,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Channel,
    RouteReason,
    decode,
    make_event,
)
from services.intake.domain.operators import Acting, ActingAsAnother
from services.intake.service.idempotency import Answer, KeyConflict
from services.intake.service.log_call import Rejected
from tests.unit.intake.conftest import OP1, OP2, World, case


async def test_a_case_is_published_and_answered_with_a_verhoeff_tracking_code(world: World) -> None:
    answer = await world.intake.register_case(case(), key="k1", by=OP1)
    assert answer.status_code == 201
    code = answer.body["tracking_code"]
    assert tracking_code.is_valid(code) and len(code) == 10
    assert answer.body["status_url"] == f"http://tracking.example/v1/status/{code}"
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered)
    assert event.data.case_id == answer.body["case_id"] and event.id == answer.body["event_id"]
    assert event.data.citizen.phone == "+989151234567" and event.data.operator_id == "op-1"
    assert decode(event.to_json()) == event  # what consumers read back


async def test_the_registered_case_is_in_the_view_at_once(world: World) -> None:
    answer = await world.intake.register_case(case(), key="k1", by=OP1)
    view = world.store.cases[answer.body["case_id"]]  # write-through: no wait for the consumer
    assert view.tracking_code == answer.body["tracking_code"] and view.open


async def test_an_operator_registers_only_as_themselves_a_supervisor_for_anyone(world: World) -> None:
    with pytest.raises(ActingAsAnother):
        await world.intake.register_case(case(operator_id="op-other"), key="k1", by=OP1)
    assert world.publisher.events == [] and world.store.keys == {}
    supervisor = Acting("sup-1", "supervisor")
    await world.intake.register_case(case(operator_id="op-night"), key="k2", by=supervisor)
    await world.intake.register_case(case(phone="09157654321"), key="k3", by=supervisor)
    operators = [e.data.operator_id for e in world.publisher.events if isinstance(e.data, CaseRegistered)]
    assert operators == ["op-night", "sup-1"]


async def test_without_a_sender_the_case_keeps_the_operator_it_names(world: World) -> None:
    await world.intake.register_case(case(operator_id="op-import"), key="k1")
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered) and event.data.operator_id == "op-import"


async def test_a_repeat_call_is_linked_to_the_open_case(world: World) -> None:
    intake, publisher = world.intake, world.publisher
    first = await intake.register_case(case(), key="k1", by=OP1)
    world.clock.advance(timedelta(days=2))
    again = await intake.register_case(
        case(phone="+989151234567", description="آب محله ما از ديروز قطع است و هیچ اطلاع رسانی نشده"),
        key="k2",
        by=OP2,
    )
    assert again.status_code == 200
    assert again.body["status"] == "repeat_call"
    assert again.body["duplicate_of"] == first.body["case_id"]
    assert again.body["tracking_code"] == first.body["tracking_code"]
    repeat = publisher.events[-1].data
    assert isinstance(repeat, CaseRepeatCall)
    assert repeat.case_id == first.body["case_id"] and repeat.similarity >= 0.85
    assert repeat.operator_id == "op-2"
    assert publisher.events[-1].subject == first.body["case_id"]  # same key, same partition as the case
    retry = await intake.register_case(
        case(phone="+989151234567", description="آب محله ما از ديروز قطع است و هیچ اطلاع رسانی نشده"),
        key="k2",
        by=OP2,
    )
    assert retry.body == again.body and len(publisher.events) == 2


async def test_the_operator_links_a_call_to_the_open_case_they_chose_whatever_its_words(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    other_words = "دوباره زنگ زد، هنوز خبری نشده"
    linked = await world.intake.register_case(
        case(description=other_words, repeat_of=first.body["tracking_code"]), key="k2", by=OP2
    )
    assert linked.status_code == 200 and linked.body["duplicate_of"] == first.body["case_id"]
    repeat = world.publisher.events[-1].data
    assert isinstance(repeat, CaseRepeatCall) and repeat.description == other_words
    # A case of another caller, or one that does not exist, cannot be named.
    for wrong in (first.body["case_id"], "no-such-case"):
        with pytest.raises(Rejected) as refused:
            await world.intake.register_case(
                case(phone="+989121111111", repeat_of=wrong), key=f"k-{wrong}", by=OP2
            )
        assert refused.value.errors[0][0] == "repeat_of"


async def test_a_repeat_outside_the_window_is_a_new_case(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    world.clock.advance(timedelta(days=31))
    again = await world.intake.register_case(case(), key="k2", by=OP1)
    assert again.status_code == 201 and again.body["case_id"] != first.body["case_id"]


async def test_a_different_problem_from_the_same_phone_is_a_new_case(world: World) -> None:
    await world.intake.register_case(case(), key="k1", by=OP1)
    other = await world.intake.register_case(
        case(subject="مستمری", description="مستمری بازنشستگی پدرم دو ماه است واریز نشده"),
        key="k2",
        by=OP1,
    )
    assert other.status_code == 201 and other.body["duplicate_of"] is None


async def test_a_resolved_case_is_not_reused_for_a_new_call(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    resolved = make_event(
        CaseStatusChanged(case_id=first.body["case_id"], status=CaseStatus.resolved, answer="وصل شد"),
        source="/samad/tracking",
        time=world.clock.now(),
    )
    assert await world.intake.case_view.apply(resolved)
    again = await world.intake.register_case(case(), key="k2", by=OP1)
    assert again.status_code == 201 and again.body["case_id"] != first.body["case_id"]


async def test_the_routed_agency_decides_whether_an_operator_choice_matches(world: World) -> None:
    intake = world.intake
    first = await intake.register_case(case(), key="k1", by=OP1)
    routed = make_event(
        CaseRouted(
            case_id=first.body["case_id"],
            agency=AgencyCode.water_wastewater,
            reason=RouteReason.classifier,
            confidence=0.9,
        ),
        source="/samad/routing",
    )
    await intake.case_view.apply(routed)
    elsewhere = await intake.register_case(case(agency="housing_foundation"), key="k2", by=OP1)
    assert elsewhere.status_code == 201  # same words, but the operator sends it to another agency
    same = await intake.register_case(case(agency="water_wastewater"), key="k3", by=OP1)
    assert same.status_code == 200 and same.body["duplicate_of"] == first.body["case_id"]


async def test_a_tracking_code_already_held_by_another_case_is_never_reused(world: World) -> None:
    store, publisher = world.store, world.publisher
    taken, fresh = tracking_code.random_code(), tracking_code.random_code()
    assert await store.claim_tracking_code(taken, "some-other-case") == taken
    draws = iter([taken, fresh])  # the first draw hits a code another case holds
    world.intake.register_case.new_code = lambda: next(draws)
    answer = await world.intake.register_case(case(), key="k-clash", by=OP1)
    assert answer.body["tracking_code"] == fresh
    [event] = publisher.events
    assert isinstance(event.data, CaseRegistered) and event.data.tracking_code == fresh
    # The retry of the same request gets the same code, and it stays this case's.
    again = await world.intake.register_case(case(), key="k-clash", by=OP1)
    assert again.body["tracking_code"] == fresh
    assert await store.claim_tracking_code(fresh, "yet-another-case") is None
    assert store.codes == {taken: "some-other-case", fresh: answer.body["case_id"]}


async def test_a_concurrent_attempt_of_the_same_case_keeps_the_code_recorded_first(world: World) -> None:
    store = world.store
    first, second = tracking_code.random_code(), tracking_code.random_code()
    assert await store.claim_tracking_code(first, "case-1") == first
    assert await store.claim_tracking_code(second, "case-1") == first  # the later one is given back
    assert store.codes == {first: "case-1"} and await store.tracking_code_of("case-1") == first


async def test_one_form_sent_twice_at_once_is_one_case_with_one_code(world: World) -> None:
    # A double click: both requests start their reads and their code's claim before either holds the
    # key; the one refused as in progress still finishes its claim, and its code is given back.
    first, second = await asyncio.gather(
        world.intake.register_case(case(), key="k-twice", by=OP1),
        world.intake.register_case(case(), key="k-twice", by=OP1),
        return_exceptions=True,
    )
    assert isinstance(second, KeyConflict) and second.in_progress
    assert isinstance(first, Answer) and first.status_code == 201
    case_id, code = first.body["case_id"], first.body["tracking_code"]
    assert world.store.codes == {code: case_id} and world.store.case_codes == {case_id: code}
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered) and event.data.tracking_code == code
    again = await world.intake.register_case(case(), key="k-twice", by=OP1)
    assert again.replayed and again.body["tracking_code"] == code
    assert world.store.codes == {code: case_id}


async def test_a_call_the_operator_links_to_an_open_case_draws_no_code(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    linked = await world.intake.register_case(case(repeat_of=first.body["tracking_code"]), key="k2", by=OP2)
    assert linked.status_code == 200 and linked.body["tracking_code"] == first.body["tracking_code"]
    assert world.store.codes == {first.body["tracking_code"]: first.body["case_id"]}


async def test_no_free_tracking_code_is_an_error_not_a_shared_code(world: World) -> None:
    taken = tracking_code.random_code()
    await world.store.claim_tracking_code(taken, "other-case")
    world.intake.register_case.new_code = lambda: taken
    with pytest.raises(RuntimeError, match="no free tracking code"):
        await world.intake.register_case(case(), key="k-full", by=OP1)
    assert world.publisher.events == [] and world.store.keys == {}


async def test_a_channel_given_by_the_caller_is_the_cases_channel(world: World) -> None:
    await world.intake.register_case(case(), key="k1", scope="open311", channel=Channel.open311)
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered) and event.data.channel == Channel.open311
    assert event.data.operator_id is None


async def test_the_operators_reason_for_the_agency_travels_with_the_registration(world: World) -> None:
    reason = "پیشنهاد سامانه: آموزش و پرورش؛ تماس‌گیرنده درباره سرویس مدرسه گفت"
    await world.intake.register_case(case(agency="education", agency_reason=reason), key="k1", by=OP1)
    registered = world.publisher.events[-1].data
    assert isinstance(registered, CaseRegistered) and registered.agency_reason == reason
