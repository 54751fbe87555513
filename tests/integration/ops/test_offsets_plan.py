"""Offsets: a reset refuses while the group has live members and works once it is stopped; plans resolve
times to offsets per partition."""

from __future__ import annotations

import json

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from services.ops.domain.records import Outgoing
from services.ops.service.positions import plan as make_plan
from tests.support.kafka import wait_for
from tests.support.stack import KAFKA

BASE_TS = 1_735_700_000_000


async def test_reset_refuses_while_the_group_is_live(log, make_topic, samad, unique: str) -> None:
    topic = await make_topic("reset", 2)
    await log.send(
        Outgoing(topic, None, f"m{i}".encode(), [], timestamp=BASE_TS + i * 1000, partition=i % 2)
        for i in range(20)
    )
    group = f"test.ops.group.{unique}"
    # The samad CLI runs as a blocking subprocess, which stops this event loop and so the consumer's
    # heartbeats: a long session timeout keeps the member in the group even on a loaded machine.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=KAFKA,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=60_000,
        heartbeat_interval_ms=3_000,
    )
    await consumer.start()
    try:
        await wait_for(lambda: bool(consumer.assignment()), timeout=30)

        async def stable() -> bool:
            return (await log.describe_group(group)).state == "Stable"

        await wait_for(stable, timeout=30, interval=0.3)
        await consumer.commit(
            {
                TopicPartition(topic, 0): OffsetAndMetadata(10, ""),
                TopicPartition(topic, 1): OffsetAndMetadata(10, ""),
            }
        )
        before = await log.committed(group)

        shown = samad("offsets", "show", "--group", group)
        assert shown.returncode == 0, shown.stderr
        assert "Stable, 1 member(s)" in shown.stdout

        refused = samad(
            "offsets", "reset", "--group", group, "--to-datetime", str(BASE_TS + 4000), "--execute"
        )
        assert refused.returncode == 3, refused.stdout + refused.stderr
        assert "active member" in refused.stderr
        assert await log.committed(group) == before  # nothing moved
    finally:
        await consumer.stop()

    dry = samad("offsets", "reset", "--group", group, "--to-datetime", str(BASE_TS + 4000))
    assert dry.returncode == 0, dry.stderr
    assert "dry run" in dry.stdout
    assert await log.committed(group) == before

    done = samad("offsets", "reset", "--group", group, "--to-datetime", str(BASE_TS + 4000), "--execute")
    assert done.returncode == 0, done.stdout + done.stderr
    # Messages at BASE_TS + 4000 and later: i=4 is the 3rd on partition 0 (offset 2), i=5 on partition 1.
    assert await log.committed(group) == {(topic, 0): 2, (topic, 1): 2}

    audit = [
        json.loads(line)
        for line in samad("audit", "--json", "--command", "offsets reset").stdout.splitlines()
    ]
    assert [e["outcome"] for e in audit] == ["ok", "dry-run", "refused"]
    assert "active member" in audit[2]["detail"]["refused"]


async def test_plan_resolves_times_per_partition(log, make_topic, samad, unique: str) -> None:
    topic = await make_topic("plan", 3)
    await log.send(
        Outgoing(topic, None, b"x", [], timestamp=BASE_TS + i * 1000, partition=i % 3) for i in range(30)
    )
    plan = await make_plan(log, topic, *_positions(BASE_TS + 15_000))
    # From i=15 on: partition 0 holds i=15,18,..,27 (5), partition 1 i=16..28 (5), partition 2 i=17..29 (5).
    assert [(r.partition, r.start, r.stop, r.count) for r in plan.ranges] == [
        (0, 5, 10, 5),
        (1, 5, 10, 5),
        (2, 5, 10, 5),
    ]
    result = samad("replay", "plan", "--topic", topic, "--from", str(BASE_TS + 15_000), "--to", "1:7")
    assert result.returncode == 0, result.stderr
    assert "│     total │" in result.stdout and "│       12 │" in result.stdout


def _positions(millis: int):
    from datetime import UTC, datetime

    from services.ops.domain.timespec import LATEST, Position

    return Position(time=datetime.fromtimestamp(millis / 1000, UTC)), LATEST
