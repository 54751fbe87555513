"""Kafka for the operator tools: the real ``EventLog`` (adapters/log.py): offsets and timestamps,
bounded reads, raw publishing, consumer groups, and the rebuild's replay reader.

Reads use manual assignment (no group membership), so inspecting or replaying a topic never joins, and
never rebalances, a live consumer group. A rebuild commits its progress under its own group
(``samad.replay.<run-id>``) through the same manual assignment.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    CoordinatorLoadInProgressError,
    GroupCoordinatorNotAvailableError,
    NotCoordinatorError,
)
from aiokafka.structs import OffsetAndMetadata

from services.common.settings import ServiceSettings
from services.ops.adapters.log import Bounds, EventLog, Ranges, ReplayReader, TopicNotFound
from services.ops.domain.offsets import GroupState
from services.ops.domain.records import Outgoing, Published, RawRecord
from services.ops.domain.shadow import Partition

T = TypeVar("T")

# How far (in log time) one partition of a rebuild may read ahead of the slowest (see _KafkaReplay).
ALIGN_MS = 10_000


def raw(record: Any) -> RawRecord:
    return RawRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=record.timestamp,
        timestamp_type=record.timestamp_type,
        key=record.key,
        value=record.value,
        headers=tuple((k, bytes(v) if v is not None else b"") for k, v in (record.headers or ())),
    )


def client_options(settings: ServiceSettings) -> dict[str, Any]:
    """aiokafka connection options from the SAMAD_KAFKA_* security settings the services use."""
    mechanism = settings.kafka_sasl_mechanism.upper()
    options: dict[str, Any] = {}
    if settings.kafka_tls:
        options["ssl_context"] = ssl.create_default_context(cafile=settings.kafka_ca_file or None)
    if mechanism:
        options.update(
            sasl_mechanism=mechanism,
            sasl_plain_username=settings.kafka_sasl_username,
            sasl_plain_password=settings.kafka_sasl_password,
            security_protocol="SASL_SSL" if settings.kafka_tls else "SASL_PLAINTEXT",
        )
    elif settings.kafka_tls:
        options["security_protocol"] = "SSL"
    return options


class KafkaLog:
    def __init__(
        self, bootstrap: str, client_id: str = "samad-ops", options: dict[str, Any] | None = None
    ) -> None:
        self.bootstrap = bootstrap
        self.client_id = client_id
        self.options = dict(options or {})
        self._meta: AIOKafkaConsumer | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect (the metadata client); the producer and the admin client connect on first use."""
        meta = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            enable_auto_commit=False,
            **self.options,
        )
        await meta.start()
        self._meta = meta

    async def stop(self) -> None:
        for closer in (
            self._producer.stop() if self._producer else None,
            self._admin.close() if self._admin else None,
            self._meta.stop() if self._meta else None,
        ):
            if closer is not None:
                with contextlib.suppress(Exception):  # closing after an error must not hide it
                    await closer
        self._producer = self._admin = self._meta = None

    async def __aenter__(self) -> KafkaLog:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def meta(self) -> AIOKafkaConsumer:
        assert self._meta is not None, "use KafkaLog as an async context manager"
        return self._meta

    async def admin(self) -> AIOKafkaAdminClient:
        if self._admin is None:
            self._admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap, client_id=self.client_id, **self.options
            )
            await self._admin.start()
        return self._admin

    async def producer(self) -> AIOKafkaProducer:
        if self._producer is None:
            self._producer = AIOKafkaProducer(
                bootstrap_servers=self.bootstrap,
                client_id=self.client_id,
                acks="all",
                enable_idempotence=True,
                linger_ms=5,
                max_batch_size=256 * 1024,
                request_timeout_ms=30_000,
                **self.options,
            )
            await self._producer.start()
        return self._producer

    # --- topics and offsets ------------------------------------------------------------------------

    async def partitions(self, topic: str) -> list[int]:
        found = self.meta.partitions_for_topic(topic)
        if not found:
            await self.meta._client.force_metadata_update()
            found = self.meta.partitions_for_topic(topic)
        if not found:
            raise TopicNotFound(f"topic {topic!r} does not exist")
        return sorted(found)

    async def bounds(self, topic: str) -> Bounds:
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        begin = await self.meta.beginning_offsets(tps)
        end = await self.meta.end_offsets(tps)
        return {tp.partition: (begin[tp], end[tp]) for tp in tps}

    async def offsets_for_time(self, topic: str, millis: int) -> dict[int, int | None]:
        tps = [TopicPartition(topic, p) for p in await self.partitions(topic)]
        found = await self.meta.offsets_for_times(dict.fromkeys(tps, millis))
        return {tp.partition: (v.offset if v is not None else None) for tp, v in found.items()}

    # --- reading -----------------------------------------------------------------------------------

    async def read(
        self, ranges: Ranges, *, max_records: int = 2000, group: str | None = None
    ) -> AsyncIterator[list[RawRecord]]:
        """Batches of records in [start, stop) of each partition, in offset order per partition."""
        todo = {TopicPartition(*tp): (start, stop) for tp, (start, stop) in ranges.items() if stop > start}
        if not todo:
            return
        async with self.reader(group) as consumer:
            consumer.assign(list(todo))
            for tp, (start, _) in todo.items():
                consumer.seek(tp, start)
            remaining = set(todo)
            while remaining:
                fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=max_records)
                batch: list[RawRecord] = []
                for tp, records in fetched.items():
                    stop = todo[tp][1]
                    batch.extend(raw(record) for record in records if record.offset < stop)
                for tp in list(remaining):
                    if await consumer.position(tp) >= todo[tp][1]:
                        remaining.discard(tp)
                        consumer.pause(tp)
                if batch:
                    yield batch

    def reader(self, group: str | None = None, **options: Any) -> _Reader:
        return _Reader(self.bootstrap, self.client_id, group, {**self.options, **options})

    async def follow(self, starts: Mapping[Partition, int]) -> AsyncIterator[list[RawRecord]]:
        """Batches from the given offsets on, forever (until the caller stops iterating)."""
        async with self.reader() as consumer:
            consumer.assign([TopicPartition(*tp) for tp in starts])
            for tp, offset in starts.items():
                consumer.seek(TopicPartition(*tp), offset)
            while True:
                fetched = await consumer.getmany(timeout_ms=500, max_records=500)
                batch = [raw(r) for records in fetched.values() for r in records]
                batch.sort(key=lambda r: (r.timestamp, r.partition, r.offset))
                yield batch

    @asynccontextmanager
    async def replay(self, group: str, ranges: Ranges) -> AsyncIterator[ReplayReader]:
        # Small fetches per partition keep the partitions (and the cases and notifications topics)
        # moving together, so a case's events tend to meet in one checkpoint: one insert, not replaces.
        todo = {TopicPartition(*tp): r for tp, r in ranges.items() if r[1] > r[0]}
        async with self.reader(group, max_partition_fetch_bytes=256 * 1024) as consumer:
            consumer.assign(list(todo))
            for tp, (start, _stop) in todo.items():
                consumer.seek(tp, start)
            yield _KafkaReplay(consumer, todo)

    # --- writing -----------------------------------------------------------------------------------

    async def send(self, messages: Iterable[Outgoing]) -> list[Published]:
        """Publish and wait for every acknowledgement (acks=all, idempotent: order kept per partition)."""
        producer = await self.producer()
        futures = []
        for m in messages:
            futures.append(
                await producer.send(
                    m.topic,
                    m.value,
                    key=m.key,
                    headers=list(m.headers),
                    timestamp_ms=m.timestamp,
                    partition=m.partition,
                )
            )
        return [Published(m.topic, m.partition, m.offset) for m in await asyncio.gather(*futures)]

    async def create_topic(self, name: str, partitions: int, config: Mapping[str, str] | None = None) -> None:
        admin = await self.admin()
        await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=dict(config or {}))], timeout_ms=30_000
        )
        for _ in range(100):
            await self.meta._client.force_metadata_update()
            if self.meta.partitions_for_topic(name):
                return
            await asyncio.sleep(0.1)

    async def delete_topics(self, names: Sequence[str]) -> None:
        admin = await self.admin()
        await admin.delete_topics(list(names), timeout_ms=30_000)

    # --- consumer groups ---------------------------------------------------------------------------

    async def _coordinated(self, call: Callable[[], Awaitable[T]]) -> T:
        """Retry while the group coordinator is not available yet (a fresh cluster creates the offsets
        topic on first use; a coordinator moves during a broker restart)."""
        for attempt in range(30):
            try:
                return await call()
            except (GroupCoordinatorNotAvailableError, CoordinatorLoadInProgressError, NotCoordinatorError):
                if attempt == 29:
                    raise
                await asyncio.sleep(0.5)
        raise AssertionError("unreachable")

    async def describe_group(self, group: str) -> GroupState:
        admin = await self.admin()
        response = await self._coordinated(lambda: admin.describe_consumer_groups([group]))
        for resp in response:
            for entry in resp.groups:
                _error, group_id, state, _ptype, _protocol, members = entry[:6]
                if group_id != group:
                    continue
                names = tuple(f"{m[1]}@{m[2].lstrip('/')}" for m in members)
                return GroupState(group, state or "Dead", names)
        return GroupState(group, "Dead", ())

    async def committed(self, group: str) -> dict[Partition, int | None]:
        admin = await self.admin()
        found = await self._coordinated(lambda: admin.list_consumer_group_offsets(group))
        return {
            (tp.topic, tp.partition): (meta.offset if meta.offset >= 0 else None)
            for tp, meta in found.items()
        }

    async def ends(self, topics: Sequence[str]) -> dict[Partition, int]:
        tps = [TopicPartition(t, p) for t in topics for p in await self.partitions(t)]
        end = await self.meta.end_offsets(tps)
        return {(tp.topic, tp.partition): off for tp, off in end.items()}

    async def commit(self, group: str, offsets: Mapping[Partition, int]) -> None:
        """Commit offsets for a group as a simple (non-member) consumer. The broker rejects this while
        the group has active members, so it cannot rewind a live consumer behind its back."""
        async with self.reader(group) as consumer:
            tps = {TopicPartition(t, p): OffsetAndMetadata(off, "") for (t, p), off in offsets.items()}
            consumer.assign(list(tps))
            await self._coordinated(lambda: consumer.commit(tps))


class _Reader:
    def __init__(self, bootstrap: str, client_id: str, group: str | None, options: dict[str, Any]) -> None:
        defaults: dict[str, Any] = {
            "enable_auto_commit": False,
            "auto_offset_reset": "earliest",
            "fetch_max_bytes": 32 * 1024 * 1024,
            "max_partition_fetch_bytes": 8 * 1024 * 1024,
        }
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, client_id=client_id, group_id=group, **{**defaults, **options}
        )

    async def __aenter__(self) -> AIOKafkaConsumer:
        await self.consumer.start()
        return self.consumer

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()


class _KafkaReplay:
    """A rebuild's reader: its consumer (assigned and positioned) and the stop offset per partition."""

    def __init__(self, consumer: AIOKafkaConsumer, todo: Mapping[TopicPartition, tuple[int, int]]) -> None:
        self.consumer = consumer
        self.todo = todo

    async def commit(self, offsets: Mapping[Partition, int]) -> None:
        await self.consumer.commit(
            {TopicPartition(*tp): OffsetAndMetadata(off, "") for tp, off in offsets.items()}
        )

    async def batches(self, size: int, align_ms: int = ALIGN_MS) -> AsyncIterator[list[RawRecord]]:
        """Batches of about ``size`` records up to each partition's stop offset, in order per partition.

        Partitions are kept together in log time: one that has read ``align_ms`` past the slowest is
        paused until the others catch up. A case's events sit on two topics (its case events and its SMS
        events) at about the same time, so they are applied in the same checkpoint window and its
        document is inserted once, instead of inserted at one checkpoint and replaced at the next
        (without it, 60% of the cases of a 20,000-case rebuild were written twice).
        """
        consumer, todo = self.consumer, self.todo
        remaining = set(todo)
        last: dict[TopicPartition, int] = {}  # log time of the last record read, per partition
        held: set[TopicPartition] = set()
        buffer: list[RawRecord] = []
        while remaining:
            fetched = await consumer.getmany(*(remaining - held), timeout_ms=500, max_records=size)
            for tp, records in fetched.items():
                stop = todo[tp][1]
                mine = [raw(r) for r in records if r.offset < stop]
                buffer.extend(mine)
                if mine:
                    last[tp] = mine[-1].timestamp
            for tp in list(remaining):
                if await consumer.position(tp) >= todo[tp][1]:
                    remaining.discard(tp)
                    held.discard(tp)
                    consumer.pause(tp)
            # A partition not read yet counts as the slowest; the slowest is never held, so some
            # partition always moves.
            slowest = min((last.get(tp, -1) for tp in remaining), default=-1)
            for tp in remaining:
                ahead = last.get(tp, -1) > slowest + align_ms
                if ahead and tp not in held:
                    held.add(tp)
                    consumer.pause(tp)
                elif not ahead and tp in held:
                    held.discard(tp)
                    consumer.resume(tp)
            if len(buffer) >= size or (buffer and not remaining):
                yield buffer
                buffer = []
        if buffer:
            yield buffer


if TYPE_CHECKING:  # the real one keeps up with the port
    _real: EventLog = KafkaLog("")
