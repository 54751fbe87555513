"""The shared consumer and publisher, driven through FastStream's in-memory TestKafkaBroker.

The real broker is exercised by tests/integration/test_delivery_rules.py; these pin the rules that do
not depend on Kafka itself: decode, filter, isolate a failing event, dead-letter with its reason, and
publish only declared event types.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts.events import Actor, ActorKind, CaseNoteAdded, CaseRouted, make_event
from contracts.headers import dlq
from contracts.topics import CASES, DEADLETTER
from services.common.kafka import EventPublisher, Incoming, UndeclaredEvent, make_broker, subscribe_events
from services.common.settings import ServiceSettings

OPS = Actor(kind=ActorKind.ops, id="t")


def note(case_id: str, text: str) -> bytes:
    return make_event(CaseNoteAdded(case_id=case_id, text=text, actor=OPS), source="/samad/test").to_json()


@pytest.fixture
def settings() -> ServiceSettings:
    return ServiceSettings(consumer_max_attempts=2, consumer_retry_seconds=0.5)


async def test_handled_events_arrive_decoded_and_poison_is_dead_lettered(settings: ServiceSettings) -> None:
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseNoteAdded])
    handled: list[str] = []
    dead: list[tuple[bytes, dict[str, str]]] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        for item in batch:
            assert isinstance(item.event.data, CaseNoteAdded)
            if item.event.data.text == "explode":
                raise RuntimeError("handler bug")
            handled.append(item.event.data.text)

    subscribe_events(broker, publisher, settings, topics=[CASES], group="unit.g", handler=handler)

    @broker.subscriber(DEADLETTER)
    async def watch(msg: KafkaMessage) -> None:
        dead.append((msg.body, dict(msg.headers)))

    async with TestKafkaBroker(broker) as test:
        await test.publish(note("case-1", "first"), CASES, key=b"case-1")
        await test.publish(b"{not json", CASES, key=b"case-1")
        await test.publish(note("case-1", "explode"), CASES, key=b"case-1")
        await test.publish(note("case-1", "last"), CASES, key=b"case-1")

    assert handled == ["first", "last"]
    reasons = [headers[dlq("reason")] for _body, headers in dead]
    assert reasons == ["undecodable", "handler_failed"]
    assert dead[0][0] == b"{not json"
    assert json.loads(dead[1][0])["data"]["text"] == "explode"
    assert all(headers[dlq("original-topic")] == CASES for _b, headers in dead)


async def test_a_service_publishes_only_what_it_declared(settings: ServiceSettings) -> None:
    broker = make_broker(settings, "unit")
    publisher = EventPublisher(broker, "unit", [CaseNoteAdded])
    seen: list[str] = []

    @broker.subscriber(CASES)
    async def watch(msg: KafkaMessage) -> None:
        seen.append(json.loads(msg.body)["type"])

    routed = make_event(
        CaseRouted.model_validate(
            {"case_id": "c", "agency": "education", "reason": "operator", "confidence": 1}
        ),
        source="/samad/unit",
    )
    async with TestKafkaBroker(broker):
        await publisher.publish([make_event(CaseNoteAdded(case_id="c", text="x", actor=OPS), source="/t")])
        with pytest.raises(UndeclaredEvent, match=r"case\.routed"):
            await publisher.publish([routed])

    assert seen == ["ir.samad.case.note_added"]
    assert publisher.event_types == {"ir.samad.case.note_added"}
