"""The shared delivery rules on the real Kafka: poison goes to the dead-letter topic, good events are
handled, offsets are committed only after the handler succeeded, and a failing handler dead-letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence

from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from contracts.topics import CASES, DEADLETTER
from services.common.kafka import (
    EventPublisher,
    Incoming,
    consumers_positioned,
    make_broker,
    subscribe_events,
)
from services.common.settings import ServiceSettings
from tests.support.kafka import TopicReader, produce_raw, wait_for
from tests.support.stack import KAFKA


def note(case_id: str, text: str) -> bytes:
    data = CaseNoteAdded(case_id=case_id, text=text, actor=Actor(kind=ActorKind.ops, id="t"))
    return make_event(data, source="/samad/test").to_json()


async def test_poison_and_failures_are_dead_lettered_and_good_events_committed(unique: str) -> None:
    settings = ServiceSettings(kafka_bootstrap=KAFKA, consumer_offset_reset="latest", consumer_max_attempts=2)
    broker = make_broker(settings, "deliverytest")
    publisher = EventPublisher(broker, "deliverytest")
    handled: list[str] = []
    group = f"test.delivery.{unique}"

    async def handler(batch: Sequence[Incoming]) -> None:
        for item in batch:
            data = item.event.data
            assert isinstance(data, CaseNoteAdded)
            if data.case_id != f"case-{unique}":
                continue
            if data.text == "explode":
                raise RuntimeError("handler bug")
            handled.append(data.text)

    subscribe_events(broker, publisher, settings, topics=[CASES], group=group, handler=handler)
    dlq = await TopicReader.from_now(DEADLETTER)
    await broker.start()
    try:
        await wait_for(lambda: consumers_positioned(broker), timeout=30)
        key = f"case-{unique}".encode()
        await produce_raw(CASES, note(f"case-{unique}", "first"), key=key)
        await produce_raw(CASES, b"{not json", key=key, headers=[("x-origin", b"test")])
        await produce_raw(
            CASES, json.dumps({"type": "ir.samad.case.unknown_thing", "id": "x"}).encode(), key=key
        )
        bad = json.loads(note(f"case-{unique}", "x"))
        bad["data"]["text"] = ""
        await produce_raw(CASES, json.dumps(bad).encode(), key=key)
        await produce_raw(CASES, note(f"case-{unique}", "explode"), key=key)
        await produce_raw(CASES, note(f"case-{unique}", "second"), key=key)

        await wait_for(lambda: len(handled) >= 2, timeout=30)
        assert handled == ["first", "second"]

        def mine(recs: list) -> list:
            return [r for r in recs if r.key == key]

        await dlq.collect(lambda recs: len(mine(recs)) >= 4, timeout=30)
        dead = mine(dlq.records)
        reasons = sorted(dict(r.headers)["samad-dlq-reason"].decode() for r in dead)
        assert reasons == ["handler_failed", "undecodable", "undecodable", "undecodable"]
        not_json = next(r for r in dead if r.value == b"{not json")
        headers = dict(not_json.headers)
        assert headers["x-origin"] == b"test"  # original headers travel with the message
        assert headers["samad-dlq-original-topic"] == CASES.encode()
        assert b"not JSON" in headers["samad-dlq-error"]
    finally:
        await broker.stop()

    # Everything handled or dead-lettered was committed: the group has no lag on the case's partition.
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = next(r.partition for r in dead)
        tp = TopicPartition(CASES, partition)
        committed = await consumer.committed(tp)
        end = (await consumer.end_offsets([tp]))[tp]
        assert committed == end
    finally:
        await consumer.stop()
    await asyncio.sleep(0)
