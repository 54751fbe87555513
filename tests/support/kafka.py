"""An independent reader of the real topics: plain aiokafka, no FastStream, no service code."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.stack import KAFKA


async def end_offsets(topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in (consumer.partitions_for_topic(topic) or set())]
        return dict(await consumer.end_offsets(parts))
    finally:
        await consumer.stop()


class TopicReader:
    """Reads a topic from given offsets (no consumer group) and collects decoded JSON messages."""

    def __init__(self, topic: str, start: dict[TopicPartition, int]) -> None:
        self.topic = topic
        self.start = start
        self.records: list[Any] = []

    @classmethod
    async def from_now(cls, topic: str) -> TopicReader:
        return cls(topic, await end_offsets(topic))

    async def collect(self, until: Callable[[list[Any]], bool], timeout: float = 20.0) -> list[Any]:
        """Read on from where the last call stopped until ``until(records)`` holds or time runs out."""
        consumer = AIOKafkaConsumer(bootstrap_servers=KAFKA, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign(list(self.start))
            for tp, off in self.start.items():
                consumer.seek(tp, off)
            deadline = time.monotonic() + timeout
            while not until(self.records) and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=200)
                for tp, recs in batch.items():
                    self.records.extend(recs)
                    self.start[tp] = recs[-1].offset + 1
            return self.records
        finally:
            await consumer.stop()

    def events(self) -> list[dict[str, Any]]:
        out = []
        for r in self.records:
            try:
                out.append(json.loads(r.value))
            except ValueError:
                continue
        return out


async def produce_raw(
    topic: str, value: bytes, key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=KAFKA, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(interval)
