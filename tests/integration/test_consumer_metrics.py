"""Consumer lag and the age of the oldest unprocessed event, as the shared consumer exports them, on the
real Kafka: a held batch shows its event's age and the events behind it as lag; both fall to zero once
everything is handled."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from prometheus_client import REGISTRY

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from contracts.topics import CASES
from services.common.kafka import (
    EventPublisher,
    Incoming,
    consumers_positioned,
    make_broker,
    subscribe_events,
)
from services.common.settings import ServiceSettings
from tests.support.kafka import produce_raw, wait_for
from tests.support.stack import KAFKA

SERVICE = "metricstest"


def note(case_id: str, text: str) -> bytes:
    data = CaseNoteAdded(case_id=case_id, text=text, actor=Actor(kind=ActorKind.ops, id="t"))
    return make_event(data, source="/samad/test").to_json()


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


async def test_lag_and_the_oldest_waiting_event_are_exported(unique: str) -> None:
    settings = ServiceSettings(kafka_bootstrap=KAFKA, consumer_offset_reset="latest")
    broker = make_broker(settings, SERVICE)
    publisher = EventPublisher(broker, SERVICE)
    group = f"test.metrics.{unique}"
    case = f"case-{unique}"
    holding, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []
    lag_seen: list[float] = []
    where: dict[str, str] = {}

    async def handler(batch: Sequence[Incoming]) -> None:
        for item in batch:
            data = item.event.data
            if not isinstance(data, CaseNoteAdded) or data.case_id != case:
                continue
            where.update(topic=item.topic, partition=str(item.partition))
            lag = value("samad_consumer_lag", service=SERVICE, group=group, **where)
            if lag is not None:
                lag_seen.append(lag)
            if data.text == "hold":
                holding.set()
                await release.wait()
            handled.append(data.text)

    subscribe_events(broker, publisher, settings, topics=[CASES], group=group, handler=handler)
    await broker.start()
    try:
        await wait_for(lambda: consumers_positioned(broker), timeout=30)
        assert value("samad_consumer_oldest_unprocessed_seconds", service=SERVICE, group=group) == 0
        await produce_raw(CASES, note(case, "hold"), key=case.encode())
        await asyncio.wait_for(holding.wait(), timeout=30)
        for n in range(5):
            await produce_raw(CASES, note(case, f"after-{n}"), key=case.encode())
        await asyncio.sleep(1.5)
        # the held event has waited about as long as the handler holds it
        waited = value("samad_consumer_oldest_unprocessed_seconds", service=SERVICE, group=group)
        assert waited is not None and waited >= 1.0
        release.set()
        await wait_for(lambda: len(handled) == 6, timeout=30)
        # the batches after the held one started with the five behind it counted as lag
        assert max(lag_seen) >= 1, lag_seen
        await wait_for(
            lambda: value("samad_consumer_lag", service=SERVICE, group=group, **where) == 0, timeout=30
        )
        assert value("samad_consumer_oldest_unprocessed_seconds", service=SERVICE, group=group) == 0
        delay = value("samad_event_delay_seconds_count", service=SERVICE, type=CaseNoteAdded.event_type)
        assert delay is not None and delay >= 6
    finally:
        release.set()
        await broker.stop()
