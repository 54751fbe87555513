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


async def _create_topic(name: str, config: dict[str, str] | None = None) -> None:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1, topic_configs=config or {})])
    finally:
        await admin.close()


async def _set_topic_config(name: str, config: dict[str, str]) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    admin = AIOKafkaAdminClient(bootstrap_servers=KAFKA)
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, name, configs=config)])
    finally:
        await admin.close()


async def test_a_batch_whose_dead_letters_cannot_be_written_is_fetched_again_not_lost(unique: str) -> None:
    """Poison and good events in one batch while Kafka refuses every write to the dead-letter topic
    (its size limit is below any dead letter): nothing may be committed past them. Once the
    dead-letter topic takes writes again, the poison is dead-lettered and every good event handled."""
    topic, dead_topic = f"test.dlqdown.{unique}", f"test.dlqdown.dead.{unique}"
    await _create_topic(topic)
    await _create_topic(dead_topic, {"max.message.bytes": "100"})
    settings = ServiceSettings(
        kafka_bootstrap=KAFKA, consumer_offset_reset="earliest", consumer_rewind_pause_seconds=0.5
    )
    broker = make_broker(settings, "dlqdown")
    publisher = EventPublisher(broker, "dlqdown", deadletter_topic=dead_topic)
    handled: list[str] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        handled.extend(item.event.data.text for item in batch)  # type: ignore[attr-defined]

    subscribe_events(
        broker, publisher, settings, topics=[topic], group=f"test.dlqdown.{unique}", handler=handler
    )
    key = f"case-{unique}".encode()
    await produce_raw(topic, note(f"case-{unique}", "before"), key=key)
    await produce_raw(topic, b"{poison", key=key)
    await produce_raw(topic, note(f"case-{unique}", "after"), key=key)
    await broker.start()
    try:
        await asyncio.sleep(4)  # the consumer meets the poison while dead letters are refused
        await produce_raw(topic, note(f"case-{unique}", "later"), key=key)
        await asyncio.sleep(3)
        assert "after" not in handled and "later" not in handled  # held back, not skipped
        await _set_topic_config(dead_topic, {"max.message.bytes": "1048588"})
        await wait_for(lambda: "later" in handled, timeout=60)
    finally:
        await broker.stop()
    assert [t for t in dict.fromkeys(handled)] == ["before", "after", "later"]
    reader = AIOKafkaConsumer(dead_topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await reader.start()
    try:
        records = await reader.getmany(timeout_ms=5000)
        values = [r.value for batch in records.values() for r in batch]
    finally:
        await reader.stop()
    assert b"{poison" in values


async def test_an_event_that_keeps_failing_like_an_outage_is_dead_lettered_while_the_database_answers(
    unique: str,
) -> None:
    """A handler that raises OSError for one event every time, while its database answers: the event is
    dead-lettered with the reason and the partition moves on, instead of being retried for ever."""
    topic, dead_topic = f"test.oserror.{unique}", f"test.oserror.dead.{unique}"
    await _create_topic(topic)
    await _create_topic(dead_topic)
    settings = ServiceSettings(
        kafka_bootstrap=KAFKA,
        consumer_offset_reset="earliest",
        consumer_retry_seconds=1,
        consumer_max_attempts=2,
    )
    broker = make_broker(settings, "oserror")
    publisher = EventPublisher(broker, "oserror", deadletter_topic=dead_topic)
    handled: list[str] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        for item in batch:
            text = item.event.data.text  # type: ignore[attr-defined]
            if text == "cursed":
                raise OSError("[Errno 36] File name too long")
            handled.append(text)

    async def database_answers() -> bool:
        return True

    subscribe_events(
        broker,
        publisher,
        settings,
        topics=[topic],
        group=f"test.oserror.{unique}",
        handler=handler,
        healthy=database_answers,
    )
    key = f"case-{unique}".encode()
    for text in ("first", "cursed", "last"):
        await produce_raw(topic, note(f"case-{unique}", text), key=key)
    await broker.start()
    try:
        await wait_for(lambda: "last" in handled, timeout=60)
    finally:
        await broker.stop()
    assert list(dict.fromkeys(handled)) == ["first", "last"]  # a retried batch hands "first" again
    reader = AIOKafkaConsumer(dead_topic, bootstrap_servers=KAFKA, auto_offset_reset="earliest")
    await reader.start()
    try:
        records = await reader.getmany(timeout_ms=5000)
        dead = [r for batch in records.values() for r in batch]
    finally:
        await reader.stop()
    assert len(dead) == 1
    headers = dict(dead[0].headers)
    assert headers["samad-dlq-reason"] == b"persistent_error"
    assert b"OSError" in headers["samad-dlq-error"]
