"""Tracking's consumer and publishers through FastStream's in-memory TestKafkaBroker: the events of
three topics reach the projection, poison is dead-lettered, and a staff action or a timer event goes
out on the cases topic and comes back into the case (the live broker is the integration tests')."""

from __future__ import annotations

from datetime import timedelta

from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome, CaseStatus
from contracts.headers import dlq
from contracts.topics import CALLS, CASES, DEADLETTER, NOTIFICATIONS
from services.common.clock import FixedClock
from services.tracking.adapters.calls import InMemoryCallStore
from services.tracking.adapters.cases import InMemoryCaseStore
from services.tracking.adapters.claims import InMemoryClaims
from services.tracking.bootstrap import TrackingContainer, bootstrap
from services.tracking.domain.access import Staff
from services.tracking.domain.actions import ActionKind, ActionRequest
from services.tracking.entrypoints import consumer
from services.tracking.settings import TrackingSettings
from tests.unit.tracking.factory import CaseEvents, call
from tests.unit.tracking.fakes import NOW


def tracking() -> tuple[TrackingContainer, InMemoryCaseStore, InMemoryCallStore]:
    """Tracking on in-memory stores with its real broker and declared publishers, its consumer on."""
    cases, calls = InMemoryCaseStore(), InMemoryCallStore()
    container = bootstrap(
        TrackingSettings(consumer_max_attempts=1),
        cases=cases,
        calls=calls,
        claims=InMemoryClaims(),
        clock=FixedClock(NOW),
    )
    consumer.register(container)
    return container, cases, calls


async def test_events_of_every_topic_reach_the_projection_and_poison_is_dead_lettered() -> None:
    container, cases, calls = tracking()
    dead: list[dict[str, str]] = []

    @container.broker.subscriber(DEADLETTER)
    async def watch(msg: KafkaMessage) -> None:
        dead.append(dict(msg.headers))

    c = CaseEvents("k1")
    async with TestKafkaBroker(container.broker) as broker:
        for e in (c.registered(), c.routed(), c.sms_sent()):
            await broker.publish(e.to_json(), e.topic, key=e.key)
        answered = call("call-1", CallOutcome.answered)
        await broker.publish(answered.to_json(), answered.topic, key=answered.key)
        await broker.publish(b"{not json", CASES, key=b"k1")

    assert {CASES, NOTIFICATIONS, CALLS} == {c.registered().topic, c.sms_sent().topic, answered.topic}
    case = await cases.get("k1")
    assert case is not None and case.status == CaseStatus.routed and len(case.sms) == 1
    assert list(calls.docs) == ["call-1"]
    assert [h[dlq("reason")] for h in dead] == ["undecodable"]
    assert dead[0][dlq("service")] == "tracking"


async def test_a_staff_action_goes_out_and_comes_back_into_the_case() -> None:
    container, cases, _calls = tracking()
    c = CaseEvents("k2")
    staff = Staff("agency_staff", "u1", AgencyCode.water_wastewater.value)
    async with TestKafkaBroker(container.broker) as broker:
        for e in (c.registered(), c.routed()):
            await broker.publish(e.to_json(), e.topic, key=e.key)
        out = await container.act_on_case("k2", ActionRequest(ActionKind.acknowledge), staff)
    case = await cases.get("k2")
    assert case is not None and case.status == CaseStatus.in_progress
    assert case.timeline[-1].event_id == out.event.id


async def test_the_timers_publish_through_the_declared_publishers() -> None:
    container, cases, _calls = tracking()
    c = CaseEvents("k3")
    async with TestKafkaBroker(container.broker) as broker:
        for e in (c.registered(), c.routed()):
            await broker.publish(e.to_json(), e.topic, key=e.key)
        assert isinstance(container.clock, FixedClock)
        container.clock.advance(timedelta(days=60))
        result = await container.sweep_timers()
    assert result.acknowledge_breaches == 1 and result.resolve_breaches == 1
    case = await cases.get("k3")
    assert case is not None and case.due.acknowledge_breached and case.due.resolve_breached
