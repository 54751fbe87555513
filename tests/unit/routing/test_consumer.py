"""Routing's Kafka consumer driven through FastStream's in-memory TestKafkaBroker: a registration on
samad.cases.v1 comes back as case.routed on the same topic, keyed by the case; what routing does not
handle is ignored, and a poison message is dead-lettered."""

from __future__ import annotations

import json

from faststream.kafka import KafkaMessage, TestKafkaBroker

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from contracts.headers import dlq
from contracts.topics import CASES, DEADLETTER
from services.common.clock import FixedClock
from services.common.kafka import make_broker
from services.routing.adapters.cases import InMemoryRoutingStore
from services.routing.adapters.roster import InMemoryRosterStore
from services.routing.bootstrap import bootstrap
from services.routing.entrypoints import consumer
from services.routing.settings import RoutingSettings
from tests.unit.routing.helpers import NOW, PackagedRules, registered


async def test_a_registration_is_answered_on_the_cases_topic() -> None:
    settings = RoutingSettings(consumer_max_attempts=1)
    routing = bootstrap(
        settings,
        cases=InMemoryRoutingStore(),
        roster=InMemoryRosterStore(),
        rules=PackagedRules(),
        broker=make_broker(settings, "routing"),
        clock=FixedClock(NOW),
    )
    consumer.register(routing)
    assert routing.broker is not None
    seen: list[tuple[bytes | None, dict]] = []
    dead: list[dict[str, str]] = []

    @routing.broker.subscriber(CASES, group_id="unit.watch")
    async def watch(msg: KafkaMessage) -> None:
        if msg.body.startswith(b'{"'):
            seen.append((msg.raw_message.key, json.loads(msg.body)))  # type: ignore[union-attr]

    @routing.broker.subscriber(DEADLETTER)
    async def watch_dead(msg: KafkaMessage) -> None:
        dead.append(dict(msg.headers))

    cause = registered("k1", "قبض آب این ماه چهار برابر شده")
    note = make_event(
        CaseNoteAdded(case_id="k1", text="x", actor=Actor(kind=ActorKind.ops, id="t")), source="/t"
    )
    async with TestKafkaBroker(routing.broker) as test:
        await test.publish(cause.to_json(), CASES, key=cause.key)
        await test.publish(note.to_json(), CASES, key=note.key)
        await test.publish(b"{not json", CASES, key=b"k1")

    answers = [doc for _key, doc in seen if doc.get("source") == "/samad/routing"]
    assert len(answers) == 1
    assert answers[0]["type"] == "ir.samad.case.routed" and answers[0]["causationid"] == cause.id
    assert answers[0]["data"]["agency"] == "water_wastewater"
    assert [key for key, doc in seen if doc.get("source") == "/samad/routing"] == [b"k1"]
    record = await routing.cases.get_case("k1")
    assert record is not None and record.hops[0].event_id == answers[0]["id"]
    assert [h[dlq("reason")] for h in dead] == ["undecodable"]
