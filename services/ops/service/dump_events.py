"""``samad events dump``: write a time range of a topic to a file, keys, headers and timestamps intact.

With times, a record belongs to the range by its timestamp, so a record loaded later with an older
timestamp is still found: the read goes from the start offset to the end of the log as it was when the
dump began, keeping records with ``from <= timestamp < to``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from services.common.clock import Clock
from services.ops.adapters.files import DumpFiles
from services.ops.adapters.log import LogReader
from services.ops.domain.records import dump_header, dump_line
from services.ops.domain.timespec import Position, to_millis
from services.ops.service.audit import Auditor
from services.ops.service.positions import Positions, resolve


@dataclass(frozen=True)
class DumpStats:
    topic: str
    records: int
    partitions: dict[int, int]


async def dump(
    log: LogReader,
    topic: str,
    start: Position,
    stop: Position,
    out: TextIO,
    *,
    now: datetime,
    progress: Callable[[int], None] | None = None,
) -> DumpStats:
    """Write the topic's records from ``start`` to ``stop`` as a dump file; returns what was written."""
    bounds = await log.bounds(topic)
    starts = await resolve(log, topic, start, bounds, is_start=True)
    stops = (
        {p: end for p, (_first, end) in bounds.items()}
        if stop.time is not None
        else await resolve(log, topic, stop, bounds, is_start=False)
    )
    low = to_millis(start.time) if start.time is not None else None
    high = to_millis(stop.time) if stop.time is not None else None
    out.write(dump_header(topic, len(bounds), start.describe(), stop.describe(), now.isoformat()) + "\n")
    per_partition: dict[int, int] = defaultdict(int)
    ranges = {(topic, p): (starts[p], stops.get(p, bounds[p][1])) for p in starts}
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


class DumpEvents:
    def __init__(
        self, log: LogReader, files: DumpFiles, auditor: Auditor, positions: Positions, clock: Clock
    ) -> None:
        self.log = log
        self.files = files
        self.auditor = auditor
        self.positions = positions
        self.clock = clock

    async def run(self, topic: str, start: str, stop: str = "now", output: str | None = None) -> DumpStats:
        """Dump ``topic`` from ``start`` to ``stop`` into ``output`` (standard output without one)."""
        args = {"topic": topic, "from": start, "to": stop, "output": output}
        async with self.auditor.action("events dump", args, changes=False) as action:
            first, last = self.positions.position(start), self.positions.position(stop)
            with self.files.writer(output) as out:
                stats = await dump(self.log, topic, first, last, out, now=self.clock.now())
            action.detail.update({"records": stats.records, "partitions": stats.partitions})
            return stats
