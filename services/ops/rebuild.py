"""Rebuilding a projection from the log into a shadow collection, then comparing and promoting it.

The engine knows nothing about cases: a ``Projection`` says which events it wants, which document each
event belongs to, and how to apply an event to that document with the owning service's own code. The
engine makes it fast and safe:

- a fresh consumer group per run (``samad.replay.<run-id>``) read by manual assignment, so the live
  group is never touched; it commits its position after every batch, and the run document in
  ``samad_ops.rebuild_runs`` keeps the rest of the checkpoint (target offsets, shadow name, counters);
- documents are kept in memory while their events are applied and written back in one unordered bulk
  write per batch (inserts for documents new to the shadow, replaces for the others);
- one rebuild per projection at a time: a lock document claimed by an atomic insert, renewed while the
  run is alive, and claimable by the next run once it has expired (a crashed run does not block forever);
- interrupted (Ctrl-C, SIGTERM, lost lock), a run stops at a batch boundary and ``--resume`` continues it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiokafka import TopicPartition
from aiokafka.structs import OffsetAndMetadata
from pymongo import DeleteOne, InsertOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.events import Envelope, EventDecodeError, decode
from services.ops.adapters.kafka import KafkaLog
from services.ops.adapters.store import OpsStore, utcnow
from services.ops.audit import Refused
from services.ops.domain.compare import Comparison, compare_ids, differences
from services.ops.domain.offsets import reset_refusal
from services.ops.domain.records import RawRecord
from services.ops.domain.timespec import Position

log = logging.getLogger("samad.ops.rebuild")

Doc = dict[str, Any]


class Projection(Protocol):
    """A projection as its owning service defines it; the engine only drives it."""

    name: str  # "tracking"
    topics: Sequence[str]
    # Fields that legitimately differ between a rebuild and the live copy (e.g. a write timestamp).
    volatile_fields: Sequence[str]

    def key(self, event: Envelope) -> str | None:
        """The _id of the document this event changes; None when the projection ignores the event."""

    def load(self, doc: Doc) -> Any:
        """The owning service's state for a stored document."""

    def apply(self, state: Any | None, event: Envelope) -> Any | None:
        """The state after the event, by the owning service's own code; None: nothing to store."""

    def dump(self, state: Any) -> Doc:
        """The document the owning service stores for a state (with its ``_id``)."""


@dataclass
class Progress:
    total: int
    done: int = 0
    applied: int = 0
    ignored: int = 0
    undecodable: int = 0
    documents_written: int = 0


@dataclass
class RebuildOptions:
    start: Position
    resume: str | None = None
    swap: bool = False
    sample: int = 200
    compare: bool = True
    batch_size: int = 5000
    cache_size: int = 200_000
    lock_ttl: float = 60.0
    live_group: str = "samad.tracking"


@dataclass
class RebuildResult:
    run_id: str
    shadow: str
    progress: Progress
    seconds: float
    comparison: Comparison | None = None
    swapped: bool = False
    replaced_backup: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.progress.done / self.seconds if self.seconds > 0 else 0.0


class LockLost(RuntimeError):
    pass


@dataclass
class Target:
    """Where the projection lives: the live collection and the database of its shadow."""

    db: AsyncDatabase[Doc]
    collection: str

    @property
    def live(self) -> AsyncCollection[Doc]:
        return self.db[self.collection]

    def shadow_name(self, run_id: str) -> str:
        return f"{self.collection}__rebuild_{run_id.replace('-', '_')}"


def new_run_id() -> str:
    return f"{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:6]}"


class _Cache:
    """Documents being rebuilt, most recently used last; evicted ones are read back from the shadow."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.docs: OrderedDict[str, Any | None] = OrderedDict()

    def get(self, key: str) -> tuple[bool, Any | None]:
        if key in self.docs:
            self.docs.move_to_end(key)
            return True, self.docs[key]
        return False, None

    def put(self, key: str, doc: Any | None) -> None:
        self.docs[key] = doc
        self.docs.move_to_end(key)

    def trim(self, keep: set[str]) -> None:
        while len(self.docs) > self.size:
            key = next(iter(self.docs))
            if key in keep:
                break
            del self.docs[key]


class Rebuilder:
    def __init__(
        self,
        kafka: KafkaLog,
        store: OpsStore,
        target: Target,
        projection: Projection,
        *,
        actor: str,
        on_progress: Callable[[Progress], None] | None = None,
        say: Callable[[str], None] | None = None,
    ) -> None:
        self.kafka = kafka
        self.store = store
        self.target = target
        self.projection = projection
        self.actor = actor
        self.on_progress = on_progress or (lambda _p: None)
        self.say = say or log.info

    @property
    def lock_name(self) -> str:
        return f"rebuild:{self.projection.name}:{self.target.db.name}.{self.target.collection}"

    async def run(self, options: RebuildOptions) -> RebuildResult:
        run_id = options.resume or new_run_id()
        if options.resume and await self.store.run_get(options.resume) is None:
            raise Refused(f"no rebuild run {options.resume} to resume")
        owner = {"run_id": run_id, "actor": self.actor, "pid": _pid(), "host": _host()}
        held = await self.store.lock_acquire(self.lock_name, owner, options.lock_ttl)
        if held is not None:
            who = held.owner
            raise Refused(
                f"a rebuild of {self.projection.name} is already running: run {who.get('run_id')} by "
                f"{who.get('actor')} on {who.get('host')} (pid {who.get('pid')}); its lock expires at "
                f"{held.expires_at.isoformat()} unless renewed"
            )
        heartbeat = asyncio.create_task(self._heartbeat(run_id, options.lock_ttl, asyncio.current_task()))
        try:
            return await self._run(run_id, options)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            await asyncio.shield(self.store.lock_release(self.lock_name, run_id))

    async def _heartbeat(self, run_id: str, ttl: float, main: asyncio.Task[Any] | None) -> None:
        while True:
            await asyncio.sleep(ttl / 3)
            try:
                renewed = await self.store.lock_renew(self.lock_name, run_id, ttl)
            except Exception as exc:  # MongoDB blip: try again at the next beat, before the lock expires
                log.warning("could not renew the rebuild lock: %s", exc)
                continue
            if not renewed and main is not None:
                log.error("rebuild lock lost (claimed by another run after expiry); stopping")
                main.cancel("rebuild lock lost")
                return

    async def _run(self, run_id: str, options: RebuildOptions) -> RebuildResult:
        group = f"samad.replay.{run_id}"
        started = time.perf_counter()
        run = await self.store.run_get(run_id) if options.resume else None
        if run is None:
            run = await self._new_run(run_id, group, options)
        elif run.get("status") in ("completed", "swapped"):
            raise Refused(f"run {run_id} is already {run['status']}; start a new rebuild instead")
        shadow = self.target.db[run["shadow"]]
        ends = _offsets_in(run["ends"])
        committed = await self.kafka.committed(group)
        starts = {
            tp: _or(committed.get((tp.topic, tp.partition)), off)
            for tp, off in _offsets_in(run["starts"]).items()
        }
        progress = Progress(
            total=sum(max(0, ends[tp] - off) for tp, off in _offsets_in(run["starts"]).items())
        )
        progress.done = sum(max(0, starts[tp] - off) for tp, off in _offsets_in(run["starts"]).items())
        progress.applied = int(run.get("applied", 0))
        fresh = bool(run.get("fresh")) and not options.resume
        await self.store.run_save(
            run_id, {"status": "running", "resumed_at": utcnow()} if options.resume else {}
        )
        result = RebuildResult(run_id, shadow.name, progress, 0.0)
        try:
            await self._project(shadow, group, starts, ends, progress, fresh, options, run_id)
            # Catch up with what was published while the rebuild ran, so the comparison is fair.
            current = await self._ends()
            await self._project(
                shadow, group, ends, current, progress, False, options, run_id, catching_up=True
            )
            await self._copy_indexes(shadow)
            result.seconds = time.perf_counter() - started
            await self.store.run_save(
                run_id,
                {
                    "status": "completed",
                    "finished_at": utcnow(),
                    "ends": _offsets_out(current),
                    "applied": progress.applied,
                    "events": progress.done,
                    "rate": result.rate,
                },
            )
            if options.compare:
                result.comparison = await self.compare(shadow, options.sample)
            if options.swap:
                result.replaced_backup = await self.swap(shadow, group, current, progress, options, run_id)
                result.swapped = True
                await self.store.run_save(
                    run_id, {"status": "swapped", "swapped_at": utcnow(), "backup": result.replaced_backup}
                )
            return result
        except (asyncio.CancelledError, KeyboardInterrupt):
            await asyncio.shield(
                self.store.run_save(
                    run_id, {"status": "interrupted", "interrupted_at": utcnow(), "applied": progress.applied}
                )
            )
            raise
        except BaseException as exc:
            await asyncio.shield(
                self.store.run_save(
                    run_id, {"status": "failed", "error": f"{type(exc).__name__}: {exc}"[:2000]}
                )
            )
            raise

    async def _new_run(self, run_id: str, group: str, options: RebuildOptions) -> Doc:
        starts: dict[TopicPartition, int] = {}
        ends: dict[TopicPartition, int] = {}
        for topic in self.projection.topics:
            bounds = await self.kafka.bounds(topic)
            for p, off in (await self.kafka.resolve(topic, options.start, bounds, is_start=True)).items():
                starts[TopicPartition(topic, p)] = off
                ends[TopicPartition(topic, p)] = bounds[p][1]
        shadow = self.target.shadow_name(run_id)
        fresh = options.start.edge == "earliest"
        await self.target.db[shadow].drop()
        if not fresh:
            # A partial replay applies newer events on top of today's documents (e.g. after restoring a
            # database backup): the shadow starts as a copy of the live collection.
            copied = await self._copy_live(self.target.db[shadow])
            self.say(f"shadow {shadow} seeded with {copied} live document(s)")
        run = {
            "_id": run_id,
            "target": self.projection.name,
            "database": self.target.db.name,
            "collection": self.target.collection,
            "shadow": shadow,
            "group": group,
            "topics": list(self.projection.topics),
            "from": options.start.describe(),
            "starts": _offsets_out(starts),
            "ends": _offsets_out(ends),
            "fresh": fresh,
            "status": "running",
            "actor": self.actor,
            "started_at": utcnow(),
            "applied": 0,
        }
        await self.store.run_save(run_id, run)
        return run

    async def _copy_live(self, shadow: AsyncCollection[Doc]) -> int:
        copied = 0
        batch: list[Doc] = []
        async for doc in self.target.live.find({}):
            batch.append(doc)
            if len(batch) >= 2000:
                await shadow.insert_many(batch, ordered=False)
                copied += len(batch)
                batch = []
        if batch:
            await shadow.insert_many(batch, ordered=False)
            copied += len(batch)
        return copied

    async def _ends(self) -> dict[TopicPartition, int]:
        out: dict[TopicPartition, int] = {}
        for topic in self.projection.topics:
            for p, (_first, end) in (await self.kafka.bounds(topic)).items():
                out[TopicPartition(topic, p)] = end
        return out

    async def _project(
        self,
        shadow: AsyncCollection[Doc],
        group: str,
        starts: Mapping[TopicPartition, int],
        ends: Mapping[TopicPartition, int],
        progress: Progress,
        fresh: bool,
        options: RebuildOptions,
        run_id: str,
        *,
        catching_up: bool = False,
    ) -> None:
        ranges = {tp: (starts.get(tp, end), end) for tp, end in ends.items()}
        if catching_up:
            progress.total += sum(max(0, stop - start) for start, stop in ranges.values())
        if not any(stop > start for start, stop in ranges.values()):
            return
        cache = _Cache(options.cache_size)
        in_shadow: set[str] = set()  # ids known to be stored in the shadow (only tracked when fresh)
        async with self.kafka.reader(group) as consumer:
            todo = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
            consumer.assign(list(todo))
            for tp, (start, _stop) in todo.items():
                consumer.seek(tp, start)
            position = {tp: start for tp, (start, _stop) in todo.items()}
            batches = _batches(consumer, todo, options.batch_size)
            pending: asyncio.Task[None] | None = None
            try:
                async for records in batches:
                    dirty = await self._apply(records, shadow, cache, in_shadow, fresh, progress)
                    for r in records:
                        position[TopicPartition(r.topic, r.partition)] = r.offset + 1
                    # Write this batch while the next one is fetched and applied; one write in flight.
                    if pending is not None:
                        await pending
                    writes = _writes(self.projection, dirty, cache, in_shadow, fresh)
                    commit = {tp: OffsetAndMetadata(off, "") for tp, off in position.items()}
                    pending = asyncio.create_task(
                        self._write(shadow, writes, consumer, commit, run_id, progress, len(records))
                    )
                    cache.trim(set(dirty))
                if pending is not None:
                    await pending
                    pending = None
            finally:
                if pending is not None:
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(pending)

    async def _apply(
        self,
        records: list[RawRecord],
        shadow: AsyncCollection[Doc],
        cache: _Cache,
        in_shadow: set[str],
        fresh: bool,
        progress: Progress,
    ) -> list[str]:
        events: list[tuple[str, Envelope]] = []
        for record in records:
            try:
                event = decode(record.value or b"")
            except EventDecodeError:
                progress.undecodable += 1  # the live consumer dead-letters it; the rebuild skips it too
                continue
            key = self.projection.key(event)
            if key is None:
                progress.ignored += 1
                continue
            events.append((key, event))
        missing = {k for k, _e in events if not cache.get(k)[0]}
        # In a fresh shadow a document not written yet does not exist: no need to look for it.
        wanted = sorted(k for k in missing if not fresh or k in in_shadow)
        found: dict[str, Any] = {}
        for i in range(0, len(wanted), 1000):
            async for doc in shadow.find({"_id": {"$in": wanted[i : i + 1000]}}):
                found[str(doc["_id"])] = self.projection.load(doc)
        for key in missing:
            cache.put(key, found.get(key))
        dirty: dict[str, None] = {}
        for key, event in events:
            _hit, state = cache.get(key)
            cache.put(key, self.projection.apply(state, event))
            dirty[key] = None
            progress.applied += 1
        return list(dirty)

    async def _write(
        self,
        shadow: AsyncCollection[Doc],
        writes: list[Any],
        consumer: Any,
        commit: dict[TopicPartition, OffsetAndMetadata],
        run_id: str,
        progress: Progress,
        count: int,
    ) -> None:
        if writes:
            await shadow.bulk_write(writes, ordered=False)
        # Only after the documents are durable: the group's position is the resume point.
        await consumer.commit(commit)
        progress.done += count
        progress.documents_written += len(writes)
        await self.store.run_save(run_id, {"applied": progress.applied, "checkpoint_at": utcnow()})
        self.on_progress(progress)

    async def _copy_indexes(self, shadow: AsyncCollection[Doc]) -> None:
        """The shadow gets the live collection's indexes, so a swap changes data, not query plans."""
        try:
            indexes = await self.target.live.index_information()
        except OperationFailure:
            return
        for name, spec in indexes.items():
            if name == "_id_":
                continue
            options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
            await shadow.create_index(spec["key"], name=name, **options)

    async def compare(self, shadow: AsyncCollection[Doc], sample: int) -> Comparison:
        live = self.target.live
        live_ids = [d["_id"] async for d in live.find({}, {"_id": 1})]
        shadow_ids = [d["_id"] async for d in shadow.find({}, {"_id": 1})]
        only_live, only_shadow = compare_ids(live_ids, shadow_ids)
        result = Comparison(len(live_ids), len(shadow_ids), only_live, only_shadow)
        common = sorted(set(map(str, live_ids)) & set(map(str, shadow_ids)))
        chosen = common if sample <= 0 or sample >= len(common) else random.sample(common, sample)
        for i in range(0, len(chosen), 500):
            part = chosen[i : i + 500]
            a = {str(d["_id"]): d async for d in live.find({"_id": {"$in": part}})}
            b = {str(d["_id"]): d async for d in shadow.find({"_id": {"$in": part}})}
            for key in part:
                diff = differences(
                    _without(a.get(key), self.projection.volatile_fields),
                    _without(b.get(key), self.projection.volatile_fields),
                )
                if diff:
                    result.differing[key] = diff
        result.compared = len(chosen)
        return result

    async def swap(
        self,
        shadow: AsyncCollection[Doc],
        group: str,
        applied_to: Mapping[TopicPartition, int],
        progress: Progress,
        options: RebuildOptions,
        run_id: str,
    ) -> str | None:
        """Promote the shadow. The live consumers must be stopped: otherwise they would keep writing to
        the collection being replaced, and what they wrote between the last catch-up and the swap would
        be lost. After the swap they resume from their own committed offsets; events the shadow already
        holds are applied again harmlessly (the projection deduplicates by event id)."""
        state = await self.kafka.describe_group(options.live_group)
        refusal = reset_refusal(state)
        if refusal:
            raise Refused(f"not swapping: {refusal} (the rebuilt shadow {shadow.name} is kept)")
        current = await self._ends()
        await self._project(
            shadow, group, applied_to, current, progress, False, options, run_id, catching_up=True
        )
        admin = self.target.db.client.admin
        db = self.target.db.name
        live = self.target.collection
        try:
            await admin.command("renameCollection", f"{db}.{shadow.name}", to=f"{db}.{live}", dropTarget=True)
            return None
        except OperationFailure as exc:
            if exc.code != 238:  # NotImplemented: FerretDB v1 has no dropTarget
                raise
        # FerretDB: two renames. The previous live collection is kept as a backup; with the live
        # consumers stopped, nothing writes in between (readers may see no documents for that instant).
        backup = f"{live}__replaced_{run_id.replace('-', '_')}"
        names = await self.target.db.list_collection_names()
        if live in names:
            await admin.command("renameCollection", f"{db}.{live}", to=f"{db}.{backup}")
        try:
            await admin.command("renameCollection", f"{db}.{shadow.name}", to=f"{db}.{live}")
        except BaseException:
            if live in names:
                await admin.command("renameCollection", f"{db}.{backup}", to=f"{db}.{live}")
            raise
        return backup if live in names else None


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def _without(doc: Doc | None, fields: Sequence[str]) -> Doc | None:
    if doc is None:
        return None
    return {k: v for k, v in doc.items() if k not in fields}


def _writes(
    projection: Projection, dirty: list[str], cache: _Cache, in_shadow: set[str], fresh: bool
) -> list[Any]:
    """One write per changed document: an insert when it is new to a fresh shadow (cheapest), else a
    replace by _id; a document whose state became None is deleted."""
    writes: list[Any] = []
    for key in dirty:
        _hit, state = cache.get(key)
        if state is None:
            if not fresh or key in in_shadow:
                writes.append(DeleteOne({"_id": key}))
                in_shadow.discard(key)
            continue
        doc = projection.dump(state)
        if fresh and key not in in_shadow:
            writes.append(InsertOne(doc))
            in_shadow.add(key)
        else:
            writes.append(ReplaceOne({"_id": key}, doc, upsert=True))
    return writes


async def _batches(
    consumer: Any, todo: Mapping[TopicPartition, tuple[int, int]], size: int
) -> AsyncIterator[list[RawRecord]]:
    """Batches of about ``size`` records up to each partition's stop offset, in order per partition."""
    from services.ops.adapters.kafka import raw

    remaining = set(todo)
    buffer: list[RawRecord] = []
    while remaining:
        fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=size)
        for tp, records in fetched.items():
            stop = todo[tp][1]
            buffer.extend(raw(r) for r in records if r.offset < stop)
        for tp in list(remaining):
            if await consumer.position(tp) >= todo[tp][1]:
                remaining.discard(tp)
                consumer.pause(tp)
        if len(buffer) >= size or (buffer and not remaining):
            yield buffer
            buffer = []
    if buffer:
        yield buffer


def _offsets_out(offsets: Mapping[TopicPartition, int]) -> list[Doc]:
    return [
        {"topic": tp.topic, "partition": tp.partition, "offset": off} for tp, off in sorted(offsets.items())
    ]


def _offsets_in(items: list[Doc]) -> dict[TopicPartition, int]:
    return {TopicPartition(i["topic"], int(i["partition"])): int(i["offset"]) for i in items}


def _pid() -> int:
    import os

    return os.getpid()


def _host() -> str:
    import socket

    return socket.gethostname()
