"""Independent inspection of a fault run: plain aiokafka and PyMongo, no service code.

Reads whole topics, consumer-group lag, tracking's cases, notify's ledger and the file provider's
outbox, and drives cases through intake's API the way a well-behaved client does (retrying with the
same Idempotency-Key until it gets an answer).
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from bench.harness import case_body


async def read_topic(bootstrap: str, topic: str) -> list[Any]:
    """Every record of a topic from the beginning to its current end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not parts:
            await consumer._client.force_metadata_update()
            parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        ends = await consumer.end_offsets(parts)
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        records: list[Any] = []
        remaining = {tp for tp in parts if ends[tp] > 0}
        deadline = time.monotonic() + 120
        while remaining and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for tp, recs in batch.items():
                records.extend(r for r in recs if r.offset < ends[tp])
                if recs and recs[-1].offset >= ends[tp] - 1:
                    remaining.discard(tp)
        return records
    finally:
        await consumer.stop()


async def group_lag(bootstrap: str, prefix: str) -> dict[str, dict[str, int]]:
    """For each consumer group whose id starts with ``prefix``: lag per topic (end - committed)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        groups = [g[0] for g in await admin.list_consumer_groups() if str(g[0]).startswith(prefix)]
        result: dict[str, dict[str, int]] = {}
        for group in sorted(groups):
            committed = await admin.list_consumer_group_offsets(group)
            ends = await consumer.end_offsets(list(committed))
            lag: Counter[str] = Counter()
            for tp, meta in committed.items():
                lag[tp.topic] += max(0, ends[tp] - max(0, meta.offset))
            result[group] = dict(lag)
        return result
    finally:
        await consumer.stop()
        await admin.close()


async def produce(bootstrap: str, topic: str, value: bytes, key: bytes, within: float = 180.0) -> None:
    """Write one raw message, retrying while the broker is unreachable (a loaded machine, a restart)."""
    deadline = time.monotonic() + within
    while True:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
        try:
            await producer.start()
            await producer.send_and_wait(
                topic, value, key=key, headers=[("content-type", b"application/json")]
            )
            return
        except KafkaError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1.0)
        finally:
            await producer.stop()


def poison_messages(run: str) -> list[tuple[str, bytes, bytes]]:
    """(kind, key, value): bad JSON, an unknown type, and a known type whose payload breaks its schema."""
    envelope = {
        "specversion": "1.0",
        "source": "/faults",
        "time": "2026-01-01T00:00:00+00:00",
        "datacontenttype": "application/json",
        "correlationid": "poison",
    }
    return [
        ("bad_json", f"poison-bad_json-{run}".encode(), b'{"specversion": "1.0", "id": oops not json'),
        (
            "unknown_type",
            f"poison-unknown_type-{run}".encode(),
            json.dumps(
                {
                    **envelope,
                    "id": f"poison-u-{run}",
                    "type": "ir.samad.case.teleported",
                    "subject": f"poison-unknown_type-{run}",
                    "data": {"case_id": "x"},
                }
            ).encode(),
        ),
        (
            "schema_invalid",
            f"poison-schema_invalid-{run}".encode(),
            json.dumps(
                {
                    **envelope,
                    "id": f"poison-s-{run}",
                    "type": "ir.samad.case.registered",
                    "subject": f"poison-schema_invalid-{run}",
                    "data": {"case_id": f"poison-schema_invalid-{run}", "tracking_code": 12},
                }
            ).encode(),
        ),
    ]


@dataclass
class Accepted:
    seq: int
    case_id: str
    tracking_code: str
    attempts: int


@dataclass
class LoadResult:
    accepted: dict[int, Accepted] = field(default_factory=dict)
    gave_up: list[int] = field(default_factory=list)
    # Answers by status; a 503 also names what intake found unreachable ("503 Kafka", "503 MongoDB").
    answers: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Set when no case was accepted for ``stall_after`` seconds while some were waiting: the rest
    # were given up then rather than after ``give_up_after``.
    stalled: str | None = None


def _answer(r: httpx.Response) -> str:
    if r.status_code != 503:
        return str(r.status_code)
    for what in ("Kafka", "MongoDB"):
        if what in r.text:
            return f"503 {what}"
    return "503"


async def drive_cases(
    intake_url: str,
    token: str,
    count: int,
    rate: float,
    run: str,
    give_up_after: float = 1800.0,
    stall_after: float | None = None,
) -> LoadResult:
    """Register ``count`` cases at ``rate``/s; each is retried with its key until it gets a 201.

    With ``stall_after``, the load stops early when no case has been accepted for that long while
    some are waiting: an intake that stopped accepting does not hold the run for ``give_up_after``.
    """
    result = LoadResult()
    client = httpx.AsyncClient(
        base_url=intake_url,
        headers={"Authorization": f"Bearer {token}"},
        # Waiting for a free connection is the client's own queue, not an answer from intake.
        timeout=httpx.Timeout(30.0, pool=None),
        limits=httpx.Limits(max_connections=64),
    )
    last_accepted = time.monotonic()
    waiting: dict[int, asyncio.Task[None]] = {}

    async def one(seq: int) -> None:
        nonlocal last_accepted
        deadline = time.monotonic() + give_up_after
        attempt = 0
        try:
            # The stall check also ends the loop: a cancellation that lands inside the HTTP client
            # can be absorbed by it.
            while time.monotonic() < deadline and not result.stalled:
                attempt += 1
                try:
                    r = await client.post(
                        "/v1/cases",
                        json=case_body(seq, salt_of(run)),
                        headers={"Idempotency-Key": f"{run}-{seq}"},
                    )
                except httpx.HTTPError as exc:
                    result.answers[type(exc).__name__] += 1
                    await asyncio.sleep(0.5 + random.random())
                    continue
                result.answers[_answer(r)] += 1
                if r.status_code == 201:
                    body = r.json()
                    result.accepted[seq] = Accepted(seq, body["case_id"], body["tracking_code"], attempt)
                    last_accepted = time.monotonic()
                    return
                if r.status_code in (409, 429, 500, 502, 503, 504):
                    await asyncio.sleep(float(r.headers.get("Retry-After", "1")) * (0.5 + random.random()))
                    continue
                raise AssertionError(f"case {seq}: unexpected answer {r.status_code} {r.text[:300]}")
            result.gave_up.append(seq)
        except asyncio.CancelledError:
            result.gave_up.append(seq)
        finally:
            waiting.pop(seq, None)

    async def watch() -> None:
        assert stall_after is not None
        while True:
            await asyncio.sleep(1.0)
            idle = time.monotonic() - last_accepted
            if waiting and idle > stall_after:
                result.stalled = (
                    f"no case accepted for {idle:.0f}s with {len(waiting)} waiting; "
                    f"answers so far {dict(result.answers)}"
                )
                for task in list(waiting.values()):
                    task.cancel()
                return

    started = time.monotonic()
    watcher = asyncio.create_task(watch()) if stall_after else None
    try:
        tasks = []
        for seq in range(count):
            if result.stalled:
                result.gave_up.extend(range(seq, count))
                break
            delay = started + seq / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            waiting[seq] = asyncio.create_task(one(seq))
            tasks.append(waiting[seq])
        await asyncio.gather(*tasks)
    finally:
        if watcher is not None:
            watcher.cancel()
        await client.aclose()
    result.seconds = time.monotonic() - started
    return result


def salt_of(run: str) -> int:
    return int(run[:6], 16) % 997


def read_outbox(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            lines.append(json.loads(line))
    return lines
