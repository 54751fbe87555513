"""The composition root: fakes go where they are passed, real adapters elsewhere, and every event
intake builds is one it declared (so it can be published and is in the AsyncAPI document)."""

from __future__ import annotations

from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts import tracking_code
from contracts.topics import CALLS, CASES
from services.intake.adapters.store import MongoIntakeStore
from services.intake.adapters.tracking import HttpTrackingDirectory
from services.intake.bootstrap import PRODUCES, bootstrap
from services.intake.domain import events, ids
from services.intake.domain.cases import Repeat, apply
from services.intake.domain.requests import CallIn
from tests.unit.intake.conftest import NOW, World, case, unit_settings


async def test_fakes_are_wired_into_every_use_case(world: World) -> None:
    intake = world.intake
    assert intake.store is world.store and intake.publisher is world.publisher
    assert intake.register_case.store is world.store and intake.log_call.publisher is world.publisher
    assert intake.open311.tracking is world.tracking and intake.idempotency.clock is world.clock
    assert intake.kafka is not world.publisher  # the consumer still dead-letters through Kafka
    assert set(intake.readiness) == {"kafka", "mongodb"}


async def test_without_fakes_the_real_adapters_are_built_without_connecting() -> None:
    intake = bootstrap(unit_settings(ready_requires_assignment=True))
    try:
        assert isinstance(intake.store, MongoIntakeStore) and isinstance(
            intake.tracking, HttpTrackingDirectory
        )
        assert intake.publisher is intake.kafka
        assert intake.kafka.timeout_seconds == intake.settings.publish_timeout_seconds
        assert set(intake.readiness) == {"kafka", "mongodb", "consumers_assigned"}
    finally:
        await intake.shutdown()


async def test_every_event_intake_builds_is_declared_and_published_to_its_topic(world: World) -> None:
    call = CallIn.model_validate({"outcome": "missed", "started_at": NOW.isoformat(), "duration_seconds": 0})
    case_ids = ids.case_ids("cases:k1")
    registered = events.case_registered(
        case(), case_ids, tracking_code=tracking_code.random_code(), operator_id=None, now=NOW
    )
    view = apply(None, registered)
    assert view is not None
    built = [
        events.call_received(call, ids.call_ids("calls:k1"), operator_id=None, now=NOW),
        registered,
        events.repeat_call(case(), case_ids, Repeat(view, 0.9), operator_id=None, now=NOW),
    ]
    assert {type(e.data) for e in built} == set(PRODUCES)
    seen: list[tuple[str, bytes | None]] = []

    @world.intake.broker.subscriber(CALLS, CASES)
    async def watch(msg: KafkaMessage) -> None:
        seen.append((msg.raw_message.topic, msg.raw_message.key))

    async with TestKafkaBroker(world.intake.broker):
        await world.intake.kafka.publish(built)
    assert sorted(seen) == sorted([(CALLS, built[0].key), (CASES, built[1].key), (CASES, built[2].key)])
