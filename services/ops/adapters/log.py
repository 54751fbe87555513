"""The event log as the operator tools use it (a port): bounded reads by offset and time, following a
topic, publishing raw records, consumer groups, and the rebuild's replay reader. ``KafkaLog``
(adapters/kafka.py) is the real one; ``InMemoryLog`` here is the fake the use-case tests run on.

Partitions are named by plain ``(topic, partition)`` tuples; Kafka's ``TopicPartition`` is such a tuple,
so the real adapter takes them as they are.
"""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from services.common.clock import Clock, SystemClock
from services.ops.domain.offsets import GroupState
from services.ops.domain.records import Outgoing, Published, RawRecord
from services.ops.domain.shadow import Partition
from services.ops.domain.timespec import to_millis

Bounds = dict[int, tuple[int, int]]  # partition -> (earliest offset, high watermark)
Ranges = Mapping[Partition, tuple[int, int]]  # [start, stop) per partition


class TopicNotFound(LookupError):
    pass


class GroupBusy(RuntimeError):
    """The broker refuses offsets committed from outside while the group has active members."""


class LogReader(Protocol):
    async def partitions(self, topic: str) -> list[int]: ...

    async def bounds(self, topic: str) -> Bounds: ...

    async def offsets_for_time(self, topic: str, millis: int) -> dict[int, int | None]:
        """Per partition, the first offset whose timestamp is at or after ``millis`` (None: none is)."""
        ...

    def read(self, ranges: Ranges, *, max_records: int = 2000) -> AsyncIterator[list[RawRecord]]:
        """Batches of records in [start, stop) of each partition, in offset order per partition."""
        ...

    def follow(self, starts: Mapping[Partition, int]) -> AsyncIterator[list[RawRecord]]:
        """Batches from the given offsets on, forever (until the caller stops iterating); a batch may be
        empty when nothing new arrived."""
        ...


class LogWriter(Protocol):
    async def send(self, messages: Iterable[Outgoing]) -> list[Published]:
        """Publish and wait for every acknowledgement; order is kept per partition."""
        ...


class GroupAdmin(Protocol):
    async def describe_group(self, group: str) -> GroupState: ...

    async def committed(self, group: str) -> dict[Partition, int | None]: ...

    async def ends(self, topics: Sequence[str]) -> dict[Partition, int]: ...

    async def commit(self, group: str, offsets: Mapping[Partition, int]) -> None:
        """Commit offsets for a group from outside it; refused while the group has active members."""
        ...


class ReplayReader(Protocol):
    """A rebuild's read of its ranges under its own consumer group."""

    def batches(self, size: int) -> AsyncIterator[list[RawRecord]]:
        """Batches of about ``size`` records up to each partition's stop offset, in order per partition,
        with the partitions kept close together in log time."""
        ...

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        """Record the group's position (the resume point); may run while the next batch is read."""
        ...


class EventLog(LogReader, LogWriter, GroupAdmin, Protocol):
    def replay(self, group: str, ranges: Ranges) -> AbstractAsyncContextManager[ReplayReader]:
        """A reader of ``ranges`` that commits under ``group`` (never a live group)."""
        ...


# --- the fake ------------------------------------------------------------------------------------


@dataclass
class _Topic:
    partitions: list[list[RawRecord]]
    starts: list[int]  # the earliest offset still "on disk", per partition (retention)


@dataclass
class InMemoryLog:
    """The log in memory, with the semantics the use cases rely on: offsets per partition, timestamps
    (CreateTime when given), a key's partition fixed by the key, consumer groups with members and
    committed offsets (a commit from outside is refused while the group has members)."""

    clock: Clock = field(default_factory=SystemClock)
    topics: dict[str, _Topic] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    offsets: dict[str, dict[Partition, int]] = field(default_factory=dict)
    _round_robin: int = 0

    # --- set-up helpers for tests ---

    async def create_topic(self, name: str, partitions: int = 3) -> None:
        self.topics.setdefault(name, _Topic([[] for _ in range(partitions)], [0] * partitions))

    def join(self, group: str, *members: str) -> None:
        """Members join ``group`` (it becomes Stable); with no members it is left Empty."""
        self.groups[group] = GroupState(group, "Stable" if members else "Empty", tuple(members))

    def records(self, topic: str) -> list[RawRecord]:
        """Everything on the topic, per partition in offset order."""
        return [r for part in self._topic(topic).partitions for r in part]

    def _topic(self, topic: str) -> _Topic:
        found = self.topics.get(topic)
        if found is None:
            raise TopicNotFound(f"topic {topic!r} does not exist")
        return found

    # --- LogReader ---

    async def partitions(self, topic: str) -> list[int]:
        return list(range(len(self._topic(topic).partitions)))

    async def bounds(self, topic: str) -> Bounds:
        t = self._topic(topic)
        return {p: (t.starts[p], len(records)) for p, records in enumerate(t.partitions)}

    async def offsets_for_time(self, topic: str, millis: int) -> dict[int, int | None]:
        t = self._topic(topic)
        found: dict[int, int | None] = {}
        for p, records in enumerate(t.partitions):
            found[p] = next((r.offset for r in records[t.starts[p] :] if r.timestamp >= millis), None)
        return found

    async def read(self, ranges: Ranges, *, max_records: int = 2000) -> AsyncIterator[list[RawRecord]]:
        for (topic, p), (start, stop) in ranges.items():
            records = self._topic(topic).partitions[p][start:stop]
            for i in range(0, len(records), max_records):
                await asyncio.sleep(0)
                yield list(records[i : i + max_records])

    async def follow(self, starts: Mapping[Partition, int]) -> AsyncIterator[list[RawRecord]]:
        position = dict(starts)
        while True:
            batch: list[RawRecord] = []
            for (topic, p), offset in position.items():
                batch.extend(self._topic(topic).partitions[p][offset : offset + 500])
            for r in batch:
                position[(r.topic, r.partition)] = r.offset + 1
            batch.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
            await asyncio.sleep(0 if batch else 0.01)
            yield batch

    # --- LogWriter ---

    async def send(self, messages: Iterable[Outgoing]) -> list[Published]:
        out: list[Published] = []
        for m in messages:
            t = self._topic(m.topic)
            partition = m.partition if m.partition is not None else self._partition_for(m.key, t)
            records = t.partitions[partition]
            timestamp = m.timestamp if m.timestamp is not None else to_millis(self.clock.now())
            record = RawRecord(m.topic, partition, len(records), timestamp, m.key, m.value, tuple(m.headers))
            records.append(record)
            out.append(Published(m.topic, partition, record.offset))
        return out

    def _partition_for(self, key: bytes | None, topic: _Topic) -> int:
        if key is None:
            self._round_robin += 1
            return self._round_robin % len(topic.partitions)
        return zlib.crc32(key) % len(topic.partitions)

    # --- GroupAdmin ---

    async def describe_group(self, group: str) -> GroupState:
        return self.groups.get(group, GroupState(group, "Dead", ()))

    async def committed(self, group: str) -> dict[Partition, int | None]:
        return dict(self.offsets.get(group, {}))

    async def ends(self, topics: Sequence[str]) -> dict[Partition, int]:
        return {(t, p): end for t in topics for p, (_first, end) in (await self.bounds(t)).items()}

    async def commit(self, group: str, offsets: Mapping[Partition, int]) -> None:
        if (await self.describe_group(group)).live:
            raise GroupBusy(f"group {group} has active members")
        self.offsets.setdefault(group, {}).update(offsets)

    # --- replay ---

    @asynccontextmanager
    async def replay(self, group: str, ranges: Ranges) -> AsyncIterator[ReplayReader]:
        yield _InMemoryReplay(self, group, {tp: r for tp, r in ranges.items() if r[1] > r[0]})


class _InMemoryReplay:
    def __init__(self, log: InMemoryLog, group: str, todo: dict[Partition, tuple[int, int]]) -> None:
        self.log = log
        self.group = group
        self.todo = todo

    async def batches(self, size: int) -> AsyncIterator[list[RawRecord]]:
        """An equal share of ``size`` from each partition per batch, so the partitions move together."""
        position = {tp: start for tp, (start, _stop) in self.todo.items()}
        share = max(1, size // max(1, len(self.todo)))
        while True:
            batch: list[RawRecord] = []
            for (topic, p), (_start, stop) in self.todo.items():
                offset = position[(topic, p)]
                take = self.log._topic(topic).partitions[p][offset : min(stop, offset + share)]
                batch.extend(take)
                position[(topic, p)] = offset + len(take)
            if not batch:
                return
            await asyncio.sleep(0)
            yield batch

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        self.log.offsets.setdefault(self.group, {}).update(offsets)


if TYPE_CHECKING:  # the fake keeps up with the port
    _fake: EventLog = InMemoryLog()
