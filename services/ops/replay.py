"""Replaying a range of a topic: publish copies of its messages, each marked with the replay run.

Every consumer is idempotent by event id, so a replayed copy changes nothing that was already applied
(tracking), sends no SMS already sent and nothing stale (notify's ledger and staleness rule). The
REPLAY_RUN names the run, so consumers can tell replayed messages apart in logs and metrics.
To replay into one consumer only, stop it and move its group back with ``samad offsets reset`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiokafka import TopicPartition

from contracts.headers import REPLAY_ORIGINAL, REPLAY_RUN
from services.ops.adapters.kafka import KafkaLog, Outgoing
from services.ops.domain.plan import Plan
from services.ops.domain.records import RawRecord
from services.ops.domain.render import matches


@dataclass(frozen=True)
class ReplayStats:
    read: int
    published: int


def replay_headers(record: RawRecord, run_id: str) -> list[tuple[str, bytes]]:
    keep = [(k, v) for k, v in record.headers if k not in (REPLAY_RUN, REPLAY_ORIGINAL)]
    where = f"{record.topic}:{record.partition}:{record.offset}"
    return keep + [(REPLAY_RUN, run_id.encode()), (REPLAY_ORIGINAL, where.encode())]


async def publish(
    log: KafkaLog,
    plan: Plan,
    *,
    run_id: str,
    into: str | None = None,
    event_type: str | None = None,
    case: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    target = into or plan.topic
    same_layout = len(await log.partitions(target)) == len(plan.ranges)
    ranges = {TopicPartition(plan.topic, r.partition): (r.start, r.stop) for r in plan.ranges}
    read = published = 0
    async for batch in log.read(ranges):
        read += len(batch)
        chosen = [r for r in batch if matches(r, case=case, event_type=event_type)]
        await log.send(
            Outgoing(
                topic=target,
                key=r.key,
                value=r.value,
                headers=replay_headers(r, run_id),
                partition=r.partition if same_layout else None,
            )
            for r in chosen
        )
        published += len(chosen)
        if progress:
            progress(len(batch))
    return ReplayStats(read, published)
