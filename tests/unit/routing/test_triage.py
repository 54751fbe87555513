"""Triage on the in-memory fakes: a person routes a waiting case, the same decision twice answers alike,
a decision whose event Kafka did not take stays owed until the re-publisher publishes it, the queue
lists waiting cases with why, and the history shows every hop."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRouted,
    CaseTriageRequired,
    Envelope,
    RouteReason,
    TriageReason,
    decode,
)
from services.common.clock import FixedClock
from services.common.publishing import BusUnavailable
from services.routing.domain.cases import OwedEvent
from services.routing.domain.routing import decision_event_id
from services.routing.service.triage import CaseNotFound, DecisionOwed, NotInTriage
from tests.unit.routing.helpers import container, declined, published, registered

SUPERVISOR = Actor(kind=ActorKind.supervisor, id="sup-1")


async def test_unclear_cases_wait_for_triage_and_a_person_routes_them() -> None:
    c = container()
    [out] = await c.case_events.one(registered("c4", "سلام، لطفاً رسیدگی کنید"))
    assert isinstance(out.data, CaseTriageRequired) and out.data.reason == TriageReason.low_confidence
    routed, new = await c.decide_triage("c4", AgencyCode.welfare, SUPERVISOR, "تماس گرفتم")
    assert new and isinstance(routed.data, CaseRouted)
    assert routed.data.reason == RouteReason.manual and routed.data.actor.id == "sup-1"
    assert routed.causationid == out.id
    # Sending the same decision again answers with the same event; a different one is a conflict.
    repeat, new = await c.decide_triage("c4", AgencyCode.welfare, SUPERVISOR)
    assert not new and repeat.id == routed.id
    with pytest.raises(NotInTriage):
        await c.decide_triage("c4", AgencyCode.education, SUPERVISOR)
    with pytest.raises(CaseNotFound):
        await c.decide_triage("nope", AgencyCode.education, SUPERVISOR)
    # Stored, then published once: the repeat finds it published and publishes nothing more.
    assert [e.id for e in published(c).events] == [routed.id]
    assert not await c.cases.is_owed(routed.id)


async def test_a_decision_is_stored_even_when_publishing_it_fails_and_a_retry_publishes_it() -> None:
    c = container()
    await c.case_events.one(registered("c11", "سلام، لطفاً رسیدگی کنید"))
    published(c).available = False
    with pytest.raises(DecisionOwed) as owed:
        await c.decide_triage("c11", AgencyCode.welfare, SUPERVISOR)
    assert owed.value.new
    record = await c.cases.get_case("c11")
    assert record is not None and record.status == "routed" and record.agency == AgencyCode.welfare
    assert record.hops[-1].event_id == owed.value.envelope.id and await c.cases.is_owed(
        owed.value.envelope.id
    )
    with pytest.raises(DecisionOwed) as still:  # Kafka still down: the retry says the same
        await c.decide_triage("c11", AgencyCode.welfare, SUPERVISOR)
    assert not still.value.new and still.value.envelope.id == owed.value.envelope.id
    published(c).available = True
    again, new = await c.decide_triage("c11", AgencyCode.welfare, SUPERVISOR)
    assert not new and again.id == owed.value.envelope.id
    assert [e.id for e in published(c).events] == [again.id] and not await c.cases.is_owed(again.id)
    assert await c.republish_owed.once() == 0  # nothing left owed


async def test_the_republisher_publishes_an_owed_decision_once_with_the_stored_event() -> None:
    clock = FixedClock()
    c = container(clock=clock)
    await c.case_events.one(registered("c12", "سلام، لطفاً رسیدگی کنید"))
    published(c).available = False
    with pytest.raises(DecisionOwed):
        await c.decide_triage("c12", AgencyCode.welfare, SUPERVISOR, "تماس گرفتم")
    record = await c.cases.get_case("c12")
    assert record is not None
    stored = decode(record.hops[-1].event_json)

    clock.advance(timedelta(seconds=c.settings.routing_republish_grace_seconds))
    with pytest.raises(ConnectionError):  # Kafka still down: the round ends, the event stays owed
        await c.republish_owed.once()
    assert published(c).events == [] and await c.cases.is_owed(stored.id)

    published(c).available = True
    assert await c.republish_owed.once() == 1
    assert await c.republish_owed.once() == 0
    [event] = published(c).events
    assert event.id == stored.id and event.to_json() == stored.to_json()  # the stored event, as stored
    assert isinstance(event.data, CaseRouted) and event.data.reason == RouteReason.manual
    assert not await c.cases.is_owed(stored.id)
    # A retry of the same request answers with the stored decision and publishes nothing more.
    again, new = await c.decide_triage("c12", AgencyCode.welfare, SUPERVISOR)
    assert not new and again.id == stored.id and len(published(c).events) == 1


async def test_a_failed_publish_leaves_the_event_owed_even_if_its_debt_went_meanwhile() -> None:
    c = container()
    await c.case_events.one(registered("c15", "سلام، لطفاً رسیدگی کنید"))
    kafka = published(c)

    class DropsTheDebtThenFails:
        """The request stalled: meanwhile the debt was struck off; then Kafka refuses the event."""

        service = "routing"

        async def publish(self, events: Iterable[Envelope], headers: dict[str, str] | None = None) -> None:
            for event in events:
                await c.cases.settle(event.id)
            raise BusUnavailable("Kafka unreachable")

    c.decide_triage.publisher = DropsTheDebtThenFails()
    with pytest.raises(DecisionOwed) as owed:
        await c.decide_triage("c15", AgencyCode.welfare, SUPERVISOR)
    [debt] = await c.cases.owed(10)
    assert (debt.event_id, debt.case_id) == (owed.value.envelope.id, "c15")
    assert debt.cause_id == owed.value.envelope.causationid
    c.decide_triage.publisher = kafka
    assert isinstance(c.clock, FixedClock)
    c.clock.advance(timedelta(minutes=1))
    assert await c.republish_owed.once() == 1 and [e.id for e in kafka.events] == [debt.event_id]


async def test_the_republisher_waits_for_a_stalled_request_and_drops_a_debt_never_stored() -> None:
    clock = FixedClock()
    c = container(clock=clock)
    [triage] = await c.case_events.one(registered("c13", "سلام، لطفاً رسیدگی کنید"))
    # A request recorded the debt and stalled before storing its decision: the case still waits on
    # that cause, so the debt is kept however old it is.
    owed = OwedEvent(decision_event_id(triage.id), "c13", triage.id, clock.now())
    await c.cases.owe(owed)
    clock.advance(timedelta(hours=1))
    assert await c.republish_owed.once() == 0 and await c.cases.is_owed(owed.event_id)
    # The request goes on and stores its decision (same event id): the re-publisher publishes it.
    envelope, new = await c.decide_triage.decide("c13", AgencyCode.welfare, SUPERVISOR)
    assert new and envelope.id == owed.event_id
    assert await c.republish_owed.once() == 1 and [e.id for e in published(c).events] == [envelope.id]

    # A debt whose decision was never stored and no longer can be (the case moved on, or is unknown).
    [waiting] = await c.case_events.one(registered("c14", "سلام، لطفاً رسیدگی کنید"))
    await c.cases.owe(OwedEvent(decision_event_id(waiting.id), "c14", waiting.id, clock.now()))
    await c.cases.owe(OwedEvent("ev-unknown", "nope", "cause-x", clock.now()))
    await c.case_events.one(declined("c14", AgencyCode.welfare))  # triage again, on another cause
    clock.advance(timedelta(hours=1))
    assert await c.republish_owed.once() == 0 and await c.cases.owed(10) == []
    assert [e.id for e in published(c).events] == [envelope.id]  # nothing else published


async def test_the_queue_lists_waiting_cases_with_why_and_the_history_every_hop() -> None:
    c = container()
    await c.case_events.one(registered("q1", "سلام، لطفاً رسیدگی کنید"))
    await c.case_events.one(registered("q2", "قبض آب این ماه چهار برابر شده"))
    [waiting] = await c.triage_queue(None, 10)
    assert waiting.record.case_id == "q1"
    assert waiting.why is not None and waiting.why.reason == TriageReason.low_confidence
    assert await c.triage_queue("tehran", 10) == []

    await c.decide_triage("q1", AgencyCode.welfare, SUPERVISOR)
    assert await c.triage_queue(None, 10) == []
    record, hops = await c.routing_history("q1")
    assert record.status == "routed"
    assert [e.type for _, e in hops] == ["ir.samad.case.triage_required", "ir.samad.case.routed"]
    assert hops[1][0] == hops[0][1].id  # the manual hop answers the triage event
    with pytest.raises(CaseNotFound):
        await c.routing_history("nope")
