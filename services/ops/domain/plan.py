"""A replay plan: for each partition, the offsets a read would start and stop at, and how many messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from services.ops.domain.timespec import Position, SpecError


@dataclass(frozen=True)
class PartitionRange:
    partition: int
    start: int  # first offset read
    stop: int  # first offset not read (exclusive)
    log_start: int  # the partition's earliest offset still on disk
    log_end: int  # the partition's high watermark when the plan was made

    @property
    def count(self) -> int:
        return max(0, self.stop - self.start)


@dataclass(frozen=True)
class Plan:
    topic: str
    ranges: tuple[PartitionRange, ...]

    @property
    def total(self) -> int:
        return sum(r.count for r in self.ranges)

    def starts(self) -> dict[int, int]:
        return {r.partition: r.start for r in self.ranges if r.count}

    def stops(self) -> dict[int, int]:
        return {r.partition: r.stop for r in self.ranges if r.count}


Bounds = Mapping[int, tuple[int, int]]  # partition -> (earliest offset, high watermark)


def resolve(
    position: Position, bounds: Bounds, by_time: Mapping[int, int | None] | None, *, is_start: bool
) -> dict[int, int]:
    """Offsets per partition for a position. ``by_time`` is offsets_for_times' answer for a time position
    (None where no message is that recent: the read starts, or stops, at the end).

    A per-partition start names the partitions to read; a per-partition stop leaves the others at the end.
    """
    out: dict[int, int] = {}
    for partition, (first, end) in sorted(bounds.items()):
        if position.edge == "earliest":
            out[partition] = first
        elif position.edge == "latest":
            out[partition] = end
        elif position.time is not None:
            if by_time is None:
                raise SpecError("a time position needs the offsets resolved from timestamps")
            found = by_time.get(partition)
            out[partition] = end if found is None else min(max(found, first), end)
        elif position.offset is not None:
            out[partition] = min(max(position.offset, first), end)
        else:
            given = dict(position.offsets or ())
            unknown = set(given) - set(bounds)
            if unknown:
                raise SpecError(f"no partition {sorted(unknown)} in the topic (it has {len(bounds)})")
            if partition in given:
                out[partition] = min(max(given[partition], first), end)
            elif not is_start:
                out[partition] = end
    return out


def make_plan(topic: str, bounds: Bounds, starts: Mapping[int, int], stops: Mapping[int, int]) -> Plan:
    ranges = []
    for partition, (first, end) in sorted(bounds.items()):
        if partition not in starts:
            continue
        start = starts[partition]
        stop = max(start, stops.get(partition, end))
        ranges.append(PartitionRange(partition, start, stop, first, end))
    return Plan(topic, tuple(ranges))
