"""Backing up and restoring the log: dump a time range of a topic to a file, load a file back.

Loading is idempotent without any state of its own: before publishing, it reads the target topic from
the earliest timestamp in the file to the end and collects the identity (CloudEvents id, or a digest for
a non-event) of every message already there; only messages the topic does not have are published.
Reading the topic itself, rather than keeping a record of past loads, stays right when the file is
loaded into another cluster, after the ops database was lost, or after someone published the same
events another way. Records keep their key, headers, timestamp (CreateTime) and, when the target topic
has the same partition count as the source, their partition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TextIO

from aiokafka import TopicPartition

from services.ops.adapters.kafka import KafkaLog, Outgoing
from services.ops.domain.records import (
    DumpFile,
    RawRecord,
    dump_header,
    dump_line,
    in_load_order,
    select_for_load,
)
from services.ops.domain.timespec import Position, to_millis


@dataclass(frozen=True)
class DumpStats:
    topic: str
    records: int
    partitions: dict[int, int]


async def dump(
    log: KafkaLog,
    topic: str,
    start: Position,
    stop: Position,
    out: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
) -> DumpStats:
    """Write the topic's records from ``start`` to ``stop`` as a dump file; returns what was written.

    With times, a record belongs to the range by its timestamp, so a record loaded later with an older
    timestamp is still found: the read goes from the start offset to the end of the log as it was when
    the dump began, keeping records with ``from <= timestamp < to``.
    """
    bounds = await log.bounds(topic)
    starts = await log.resolve(topic, start, bounds, is_start=True)
    stops = (
        {p: end for p, (_first, end) in bounds.items()}
        if stop.time is not None
        else await log.resolve(topic, stop, bounds, is_start=False)
    )
    low = to_millis(start.time) if start.time is not None else None
    high = to_millis(stop.time) if stop.time is not None else None
    out.write(
        dump_header(topic, len(bounds), start.describe(), stop.describe(), datetime.now(UTC).isoformat())
        + "\n"
    )
    per_partition: dict[int, int] = defaultdict(int)
    ranges = {TopicPartition(topic, p): (starts[p], stops.get(p, bounds[p][1])) for p in starts}
    async for batch in log.read(ranges):
        batch.sort(key=lambda r: (r.partition, r.offset))
        for record in batch:
            if (low is not None and record.timestamp < low) or (
                high is not None and record.timestamp >= high
            ):
                continue
            out.write(dump_line(record) + "\n")
            per_partition[record.partition] += 1
        if progress:
            progress(len(batch))
    out.flush()
    return DumpStats(topic, sum(per_partition.values()), dict(per_partition))


@dataclass
class LoadStats:
    published: dict[str, int] = field(default_factory=dict)
    already_on_topic: int = 0
    repeated_in_file: int = 0
    scanned: int = 0

    @property
    def total_published(self) -> int:
        return sum(self.published.values())


async def present_identities(log: KafkaLog, topic: str, since_ms: int) -> tuple[set[str], int]:
    """Identities of the messages on ``topic`` with a timestamp at or after ``since_ms``."""
    bounds = await log.bounds(topic)
    by_time = await log.offsets_for_time(topic, since_ms)
    ranges = {
        TopicPartition(topic, p): (found if found is not None else end, end)
        for p, (_first, end) in bounds.items()
        for found in [by_time.get(p)]
    }
    present: set[str] = set()
    scanned = 0
    async for batch in log.read(ranges):
        scanned += len(batch)
        present.update(r.identity() for r in batch if r.timestamp >= since_ms)
    return present, scanned


async def load(
    log: KafkaLog, dumped: DumpFile, *, topic: str | None = None, dry_run: bool = False
) -> LoadStats:
    """Publish the file's records the target topic does not have yet. ``topic`` overrides the target."""
    stats = LoadStats()
    by_topic: dict[str, list[RawRecord]] = defaultdict(list)
    for record in dumped.records:
        by_topic[topic or record.topic].append(record)
    for target, records in sorted(by_topic.items()):
        partitions = await log.partitions(target)
        keep_partition = dumped.partitions == len(partitions)
        present, scanned = await present_identities(log, target, min(r.timestamp for r in records))
        stats.scanned += scanned
        chosen = select_for_load(in_load_order(records), present)
        stats.already_on_topic += chosen.already_on_topic
        stats.repeated_in_file += chosen.repeated_in_file
        stats.published[target] = len(chosen.to_publish)
        if dry_run or not chosen.to_publish:
            continue
        await log.send(
            Outgoing(
                topic=target,
                key=r.key,
                value=r.value,
                headers=r.headers,
                timestamp=r.timestamp,
                # Same partition count: the same partition (what the key would choose anyway, and the
                # only way to keep a keyless record where it was). Otherwise the key decides.
                partition=r.partition if keep_partition else None,
            )
            for r in chosen.to_publish
        )
    return stats
