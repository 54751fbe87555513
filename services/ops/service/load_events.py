"""``samad events load``: publish a dump's records that the topic does not already have.

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
from dataclasses import dataclass, field
from typing import Protocol

from services.ops.adapters.files import DumpFiles
from services.ops.adapters.log import LogReader, LogWriter
from services.ops.domain.records import (
    DumpFile,
    Outgoing,
    RawRecord,
    in_load_order,
    parse_dump,
    select_for_load,
)
from services.ops.service.audit import Auditor


class Log(LogReader, LogWriter, Protocol):
    """What a load needs of the log: read the target, publish to it."""


@dataclass
class LoadStats:
    published: dict[str, int] = field(default_factory=dict)
    already_on_topic: int = 0
    repeated_in_file: int = 0
    scanned: int = 0
    records_in_file: int = 0

    @property
    def total_published(self) -> int:
        return sum(self.published.values())


async def present_identities(log: LogReader, topic: str, since_ms: int) -> tuple[set[str], int]:
    """Identities of the messages on ``topic`` with a timestamp at or after ``since_ms``."""
    bounds = await log.bounds(topic)
    by_time = await log.offsets_for_time(topic, since_ms)
    ranges = {
        (topic, p): (found if found is not None else end, end)
        for p, (_first, end) in bounds.items()
        for found in [by_time.get(p)]
    }
    present: set[str] = set()
    scanned = 0
    async for batch in log.read(ranges):
        scanned += len(batch)
        present.update(r.identity() for r in batch if r.timestamp >= since_ms)
    return present, scanned


async def load(log: Log, dumped: DumpFile, *, topic: str | None = None, dry_run: bool = False) -> LoadStats:
    """Publish the file's records the target topic does not have yet. ``topic`` overrides the target."""
    stats = LoadStats(records_in_file=len(dumped.records))
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


class LoadEvents:
    def __init__(self, log: Log, files: DumpFiles, auditor: Auditor) -> None:
        self.log = log
        self.files = files
        self.auditor = auditor

    async def run(self, file: str, *, topic: str | None = None, dry_run: bool = False) -> LoadStats:
        """Load the dump at ``file`` (``-``: standard input) into its topic, or into ``topic``."""
        args = {"file": file, "topic": topic, "dry_run": dry_run}
        async with self.auditor.action("events load", args, changes=not dry_run) as action:
            with self.files.reader(file) as lines:
                dumped = parse_dump(lines)
            stats = await load(self.log, dumped, topic=topic, dry_run=dry_run)
            if dry_run:
                action.outcome = "dry-run"
            action.detail.update(
                {
                    "records_in_file": len(dumped.records),
                    "published": [{"topic": t, "records": n} for t, n in stats.published.items()],
                    "already_on_topic": stats.already_on_topic,
                    "repeated_in_file": stats.repeated_in_file,
                }
            )
            return stats
