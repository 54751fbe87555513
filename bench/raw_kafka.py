"""Raw Kafka ceiling: plain aiokafka moving the pipeline's messages through the pipeline's hops.

No FastStream, no SAMAD models, no service code: JSON built with the standard library and read back
with ``json.loads`` only to tell one message type from another. The delivery rules are the same as
the pipeline's (producers acks=all without aiokafka's idempotence, consumers commit only after what
they produced is acknowledged), so the figure is what this machine can do with Kafka under those rules.

The hops mirror the services (see ``Flow``):

    source   --registered-->  cases
    routing  cases: registered            --routed-->  cases
    notify   cases: citizen-facing events --sms-->     notifications
    tracking cases + notifications: counts every event of every case (the end of the pipeline)

Each stage runs in its own process, as the services do, so both cores are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import multiprocessing as mp
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


@dataclass(frozen=True)
class Flow:
    """What one case makes the pipeline move: message types per hop and how many of each."""

    # Events the routing stage answers with one event on the cases topic.
    routed_from: tuple[str, ...] = ("registered",)
    # Case events that make notify send an SMS (one notifications event each).
    sms_for: tuple[str, ...] = ("registered", "routed")
    # Extra notification events per SMS after the first (e.g. sms.delivered from a provider receipt).
    extra_notifications_per_sms: int = 0
    cases_partitions: int = 12
    notifications_partitions: int = 12

    @property
    def events_per_case(self) -> int:
        case_events = 1 + len(self.routed_from)
        sms = len(self.sms_for)
        return case_events + sms * (1 + self.extra_notifications_per_sms)


def _body(kind: str, case_id: str, seq: int) -> bytes:
    # Roughly the size and shape of a real structured-mode CloudEvent of the same kind.
    data: dict[str, Any] = {"case_id": case_id}
    if kind == "registered":
        data |= {
            "tracking_code": f"{seq:09d}3",
            "province": "khorasan_razavi",
            "county": "mashhad",
            "channel": "phone",
            "citizen": {"phone": "+989121234567"},
            "subject": "قطعی آب در محله",
            "description": "سه روز است آب محله ما قطع است و کسی پاسخگو نیست. لطفاً پیگیری کنید. " * 3,
            "registered_at": "2025-01-01T10:00:00+00:00",
        }
    elif kind == "routed":
        data |= {
            "agency": "water_wastewater",
            "reason": "classifier",
            "confidence": 0.93,
            "explanation": ["آب", "قطعی"],
        }
    else:
        data |= {
            "sms_id": str(uuid.uuid4()),
            "template": kind,
            "recipient": "+989121234567",
            "text": "شهروند گرامی، درخواست شما با کد پیگیری ۱۲۳۴۵۶۷۸۹۰ ثبت شد. سامانه ۱۱۱",
            "parts": 1,
            "provider": "file",
        }
    return json.dumps(
        {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "/bench/raw",
            "type": kind,
            "subject": case_id,
            "time": "2025-01-01T10:00:00+00:00",
            "datacontenttype": "application/json",
            "correlationid": case_id,
            "data": data,
        },
        ensure_ascii=False,
    ).encode()


def _producer(bootstrap: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=False,  # as the services' producers (services/common/kafka.py)
        linger_ms=5,
        max_batch_size=256 * 1024,
    )


def _consumer(bootstrap: str, group: str, *topics: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=16 * 1024 * 1024,
    )


async def _wait_assigned(consumer: AIOKafkaConsumer, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not consumer.assignment():
        if time.monotonic() > deadline:
            raise TimeoutError("consumer got no partitions")
        await consumer.getmany(timeout_ms=100)  # drives the group join
    for tp in consumer.assignment():
        await consumer.position(tp)


async def _relay(
    bootstrap: str,
    group: str,
    topics: list[str],
    out_topic: str,
    answer: dict[str, list[str]],
    expected_in: int,
    ready: Any,
    done: Any,
) -> None:
    """Consume, produce the answers for each message (same key), then commit once they are acked."""
    consumer = _consumer(bootstrap, group, *topics)
    producer = _producer(bootstrap)
    await producer.start()
    await consumer.start()
    try:
        await _wait_assigned(consumer)
        ready.put(group)
        seen = 0
        while seen < expected_in:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            futures = []
            for records in batches.values():
                for r in records:
                    seen += 1
                    kinds = answer.get(json.loads(r.value)["type"])
                    if kinds:
                        case_id = r.key.decode()
                        for kind in kinds:
                            futures.append(
                                await producer.send(out_topic, _body(kind, case_id, r.offset), key=r.key)
                            )
            if futures:
                await asyncio.gather(*futures)
            if batches:
                await consumer.commit()
        done.put((group, time.time(), seen))
    finally:
        await consumer.stop()
        await producer.stop()


async def _sink(bootstrap: str, group: str, topics: list[str], expected: int, ready: Any, done: Any) -> None:
    consumer = _consumer(bootstrap, group, *topics)
    await consumer.start()
    try:
        await _wait_assigned(consumer)
        ready.put(group)
        seen = 0
        while seen < expected:
            batches = await consumer.getmany(timeout_ms=200, max_records=2000)
            for records in batches.values():
                for r in records:
                    json.loads(r.value)
                    seen += 1
            if batches:
                await consumer.commit()
        done.put((group, time.time(), seen))
    finally:
        await consumer.stop()


async def _source(bootstrap: str, topic: str, cases: int) -> tuple[float, float]:
    producer = _producer(bootstrap)
    await producer.start()
    try:
        started = time.time()
        futures = []
        for i in range(cases):
            case_id = str(uuid.uuid4())
            futures.append(await producer.send(topic, _body("registered", case_id, i), key=case_id.encode()))
            if len(futures) >= 5000:
                await asyncio.gather(*futures)
                futures.clear()
        await asyncio.gather(*futures)
        return started, time.time()
    finally:
        await producer.stop()


def _run_stage(target: str, kwargs: dict[str, Any]) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    if target == "relay":
        asyncio.run(_relay(**kwargs))
    else:
        asyncio.run(_sink(**kwargs))


@dataclass
class KafkaCeiling:
    cases: int
    messages: int
    seconds: float
    produce_seconds: float
    cases_per_second: float
    messages_per_second: float
    hops: list[str] = field(default_factory=list)
    flow: dict[str, Any] = field(default_factory=dict)


async def _topics(bootstrap: str, flow: Flow, run: str) -> tuple[str, str]:
    cases_topic, notes_topic = f"bench.raw.{run}.cases", f"bench.raw.{run}.notifications"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(cases_topic, flow.cases_partitions, 1),
                NewTopic(notes_topic, flow.notifications_partitions, 1),
            ]
        )
    finally:
        await admin.close()
    return cases_topic, notes_topic


async def _delete_topics(bootstrap: str, *topics: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.delete_topics(list(topics))
    except Exception:  # noqa: S110 - cleanup of a benchmark's own topics is best effort
        pass
    finally:
        await admin.close()


def measure(bootstrap: str, cases: int, flow: Flow | None = None) -> KafkaCeiling:
    """Move ``cases`` cases' worth of messages through the hops; return the end-to-end rate."""
    flow = flow or Flow()
    run = uuid.uuid4().hex[:8]
    cases_topic, notes_topic = asyncio.run(_topics(bootstrap, flow, run))
    case_events = cases * (1 + len(flow.routed_from))
    sms = cases * len(flow.sms_for)
    notes = sms * (1 + flow.extra_notifications_per_sms)
    notify_kinds = ["sms.sent"] + ["sms.delivered"] * flow.extra_notifications_per_sms
    ctx = mp.get_context("spawn")
    ready, done = ctx.Queue(), ctx.Queue()
    stages = [
        (
            "relay",
            dict(
                bootstrap=bootstrap,
                group=f"bench.raw.{run}.routing",
                topics=[cases_topic],
                out_topic=cases_topic,
                answer={k: ["routed"] for k in flow.routed_from},
                expected_in=case_events,
                ready=ready,
                done=done,
            ),
        ),
        (
            "relay",
            dict(
                bootstrap=bootstrap,
                group=f"bench.raw.{run}.notify",
                topics=[cases_topic],
                out_topic=notes_topic,
                answer={k: notify_kinds for k in flow.sms_for},
                expected_in=case_events,
                ready=ready,
                done=done,
            ),
        ),
        (
            "sink",
            dict(
                bootstrap=bootstrap,
                group=f"bench.raw.{run}.tracking",
                topics=[cases_topic, notes_topic],
                expected=case_events + notes,
                ready=ready,
                done=done,
            ),
        ),
    ]
    procs = [ctx.Process(target=_run_stage, args=stage, daemon=True) for stage in stages]
    try:
        for p in procs:
            p.start()
        for _ in procs:
            ready.get(timeout=60)
        started, produced = asyncio.run(_source(bootstrap, cases_topic, cases))
        finished: dict[str, float] = {}
        deadline = time.monotonic() + max(120.0, cases / 100)
        while len(finished) < len(procs):
            group, at, _seen = done.get(timeout=max(1.0, deadline - time.monotonic()))
            finished[group] = at
        for p in procs:
            p.join(timeout=30)
    finally:
        for p in procs:
            if p.is_alive():
                p.kill()
        asyncio.run(_delete_topics(bootstrap, cases_topic, notes_topic))
    seconds = max(finished.values()) - started
    messages = case_events + notes
    return KafkaCeiling(
        cases=cases,
        messages=messages,
        seconds=round(seconds, 3),
        produce_seconds=round(produced - started, 3),
        cases_per_second=round(cases / seconds, 1),
        messages_per_second=round(messages / seconds, 1),
        hops=[
            "source -> cases (registered)",
            "routing: cases -> cases (" + ", ".join(f"{k}->routed" for k in flow.routed_from) + ")",
            "notify: cases -> notifications (" + ", ".join(flow.sms_for) + " -> sms)",
            "tracking: cases + notifications -> count",
        ],
        flow=asdict(flow),
    )


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:26092")
    parser.add_argument("--cases", type=int, default=20_000)
    args = parser.parse_args()
    print(json.dumps(asdict(measure(args.bootstrap, args.cases)), indent=2, ensure_ascii=False))
