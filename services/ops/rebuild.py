"""Rebuilding a projection from the log into a shadow collection, then comparing and promoting it.

The engine knows nothing about cases: a ``Projection`` says which events it wants, which document each
event belongs to, and how to apply an event to that document with the owning service's own code. The
engine makes it fast and safe:

- a fresh consumer group per run (``samad.replay.<run-id>``) read by manual assignment, so the live
  group is never touched; it commits its position at every checkpoint, and the run document in
  ``samad_ops.rebuild_runs`` keeps the rest of the checkpoint (target offsets, shadow name, counters);
- documents are kept in memory while their events are applied and written back at checkpoints in
  unordered bulk writes, two at once (inserts for documents new to the shadow, replaces for the
  others); a document that changed only since the last checkpoint is held back one interval, so a case
  whose events straddle a checkpoint is inserted once instead of inserted and then replaced (replaces
  cost FerretDB about four times as much), and the committed position stops at its first unstored event;
- the cyclic garbage collector runs less often during the run (``services.common.collector``);
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
from pymongo import DeleteOne, ReplaceOne
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

from contracts.events import Envelope, EventDecodeError, decode
from services.common.bounded import run_all
from services.common.collector import fewer_collections
from services.common.mongo import create_index, insert_new
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

    @property
    def name(self) -> str:
        """The projection's name ("tracking"): the rebuild lock and run documents use it."""

    @property
    def topics(self) -> Sequence[str]:
        """The topics its events come from."""

    @property
    def volatile_fields(self) -> Sequence[str]:
        """Fields that legitimately differ between a rebuild and the live copy (e.g. a write time)."""

    def key(self, event: Envelope) -> str | None:
        """The _id of the document this event changes; None when the projection ignores the event."""

    def load(self, doc: Doc) -> Any:
        """The owning service's state for a stored document."""

    async def apply_batch(self, states: Mapping[str, Any], events: Sequence[Envelope]) -> Mapping[str, Any]:
        """Apply a batch (in log order) with the owning service's own code, given the current states of
        the documents it touches (absent: none yet); returns the states that changed (None: delete)."""

    def dump(self, state: Any) -> Doc:
        """The document the owning service stores for a state (with its ``_id``)."""

    async def create_indexes(self, db: AsyncDatabase[Doc], collection: str) -> None:
        """The owning service's indexes, on the shadow collection."""


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
    # Documents are folded in memory and written at checkpoints: every this many events, and at the end.
    checkpoint_events: int = 25_000
    cache_size: int = 500_000
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


# FerretDB v1.24 stops answering (every connection) once about a hundred update/delete statements are in
# flight at once, whether in one bulk command or several concurrent ones; inserts do not have this
# problem. Updates therefore go in small sequential chunks, and the engine avoids them where it can.
UPDATE_CHUNK = 50
INSERT_CHUNK = 1000
INSERT_WRITERS = 2
# How far (in log time) one partition may read ahead of the slowest (see _batches).
ALIGN_MS = 10_000


class _Shadow:
    """What the engine knows of the shadow collection: documents in memory (most recently used last),
    and the ids stored in it. ``complete``: every stored id is in ``stored`` (a fresh shadow, or one read
    whole on resume), so an id not in it needs no lookup.

    ``dirty`` maps each changed document to the checkpoint interval in which it first changed since it
    was last written; ``unsaved`` keeps, per partition, the offset of the first event it holds that is
    not stored yet. A checkpoint holds back the documents that changed only in the interval just ended
    (a case's events come close together, so most of them are not finished yet), and commits each
    partition only up to the first event such a document holds: a resume reads those events again, and
    the documents already stored skip them (the projection ignores an event it has applied)."""

    def __init__(self, size: int, complete: bool) -> None:
        self.size = size
        self.states: OrderedDict[str, Any | None] = OrderedDict()
        self.stored: set[str] = set()
        self.complete = complete
        self.dirty: dict[str, int] = {}
        self.unsaved: dict[str, dict[TopicPartition, int]] = {}
        self.interval = 0

    def get(self, key: str) -> tuple[bool, Any | None]:
        if key in self.states:
            self.states.move_to_end(key)
            return True, self.states[key]
        return False, None

    def put(self, key: str, state: Any | None, *, changed: bool) -> None:
        self.states[key] = state
        self.states.move_to_end(key)
        if changed:
            self.dirty.setdefault(key, self.interval)

    def needs_lookup(self, key: str) -> bool:
        return not self.complete or key in self.stored

    def evict(self) -> None:
        """Forget the least recently used clean documents beyond the size (only once they are stored)."""
        excess = len(self.states) - self.size
        if excess <= 0:
            return
        victims = [k for k in self.states if k not in self.dirty][:excess]
        for key in victims:
            del self.states[key]

    def take(self, *, hold: bool) -> list[str]:
        """The changed documents to write now, in the order they changed; with ``hold``, not those that
        changed only in the current interval, which then ends."""
        if hold:
            now = self.interval
            self.interval += 1
            keys = [k for k, first in self.dirty.items() if first < now]
        else:
            keys = list(self.dirty)
        for key in keys:
            del self.dirty[key]
            self.unsaved.pop(key, None)
        return keys

    def safe_position(self, position: Mapping[TopicPartition, int]) -> dict[TopicPartition, int]:
        """How far each partition may be committed: not past the first unstored event of a held
        document."""
        safe = dict(position)
        for offsets in self.unsaved.values():
            for tp, offset in offsets.items():
                if offset < safe.get(tp, offset + 1):
                    safe[tp] = offset
        return safe


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
        self._shadow: _Shadow | None = None
        self._topics: list[str] = []

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
            with fewer_collections():
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
        self._topics = list(run["topics"])  # a resumed run reads what it started with
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
        self._shadow = await self._load_shadow(
            shadow, fresh=bool(run.get("fresh")) and not options.resume, size=options.cache_size
        )
        await self.store.run_save(
            run_id, {"status": "running", "resumed_at": utcnow()} if options.resume else {}
        )
        result = RebuildResult(run_id, shadow.name, progress, 0.0)
        try:
            # Indexes first: FerretDB maintains them on insert for less than it costs to build them over
            # a loaded collection (about 60% less, measured on 5,000 case documents).
            await self._copy_indexes(shadow)
            await self._project(shadow, group, starts, ends, progress, options, run_id)
            # Catch up with what was published while the rebuild ran, so the comparison is fair.
            current = await self._ends()
            await self._project(shadow, group, ends, current, progress, options, run_id, catching_up=True)
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

    async def _load_shadow(self, shadow: AsyncCollection[Doc], *, fresh: bool, size: int) -> _Shadow:
        """A fresh shadow is empty. A seeded or resumed one is read whole into memory when it fits (one
        scan is far cheaper than looking documents up one batch at a time); otherwise it is looked up."""
        if fresh:
            return _Shadow(size, complete=True)
        if await shadow.count_documents({}) > size:
            return _Shadow(size, complete=False)
        state = _Shadow(size, complete=True)
        async for doc in shadow.find({}):
            key = str(doc["_id"])
            state.put(key, self.projection.load(doc), changed=False)
            state.stored.add(key)
        return state

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
        for topic in self._topics or self.projection.topics:
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
        options: RebuildOptions,
        run_id: str,
        *,
        catching_up: bool = False,
    ) -> None:
        ranges = {tp: (starts.get(tp, end), end) for tp, end in ends.items()}
        if catching_up:
            progress.total += sum(max(0, stop - start) for start, stop in ranges.values())
        todo = {tp: r for tp, r in ranges.items() if r[1] > r[0]}
        if not todo:
            return
        state = self._shadow
        assert state is not None
        # Small fetches per partition keep the partitions (and the cases and notifications topics) moving
        # together, so a case's events tend to meet in one checkpoint: one insert instead of replaces.
        async with self.kafka.reader(group, max_partition_fetch_bytes=256 * 1024) as consumer:
            consumer.assign(list(todo))
            for tp, (start, _stop) in todo.items():
                consumer.seek(tp, start)
            position = {tp: start for tp, (start, _stop) in todo.items()}
            since_checkpoint = 0
            # One checkpoint is written while the next events are read and applied; never two at once.
            pending: asyncio.Task[None] | None = None
            try:
                async for records in _batches(consumer, todo, options.batch_size):
                    await self._apply(records, shadow, state, progress)
                    for r in records:
                        position[TopicPartition(r.topic, r.partition)] = r.offset + 1
                    progress.done += len(records)
                    since_checkpoint += len(records)
                    self.on_progress(progress)
                    if since_checkpoint >= options.checkpoint_events or len(state.states) > state.size:
                        if pending is not None:
                            await asyncio.shield(pending)
                            state.evict()
                        writes = self._prepare(state, hold=True)
                        pending = asyncio.create_task(
                            self._checkpoint(
                                shadow, writes, consumer, state.safe_position(position), run_id, progress
                            )
                        )
                        since_checkpoint = 0
                if pending is not None:
                    await asyncio.shield(pending)
                    pending = None
                await asyncio.shield(
                    self._checkpoint(shadow, self._prepare(state), consumer, dict(position), run_id, progress)
                )
                state.evict()
            finally:
                # Interrupted: let the checkpoint in flight land whole, so the committed position matches
                # what is stored.
                if pending is not None and not pending.done():
                    with contextlib.suppress(BaseException):
                        await asyncio.shield(pending)

    async def _apply(
        self, records: list[RawRecord], shadow: AsyncCollection[Doc], state: _Shadow, progress: Progress
    ) -> None:
        events: list[tuple[str, Envelope]] = []
        origins: list[tuple[TopicPartition, int]] = []
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
            origins.append((TopicPartition(record.topic, record.partition), record.offset))
        keys = list(dict.fromkeys(k for k, _e in events))
        lookup = sorted(k for k in keys if not state.get(k)[0] and state.needs_lookup(k))
        found: dict[str, Any] = {}
        for i in range(0, len(lookup), 500):
            async for doc in shadow.find({"_id": {"$in": lookup[i : i + 500]}}):
                found[str(doc["_id"])] = self.projection.load(doc)
        current: dict[str, Any] = {}
        for key in keys:
            hit, known = state.get(key)
            value = known if hit else found.get(key)
            if not hit:
                state.put(key, value, changed=False)
            if value is not None:
                current[key] = value
        changed = await self.projection.apply_batch(current, [e for _k, e in events])
        for key, value in changed.items():
            state.put(key, value, changed=True)
        for (key, _event), (tp, offset) in zip(events, origins, strict=True):
            if key in changed:
                state.unsaved.setdefault(key, {}).setdefault(tp, offset)
        progress.applied += len(events)

    def _prepare(self, state: _Shadow, *, hold: bool = False) -> tuple[list[Doc], list[Any]]:
        """The writes for the changed documents (with ``hold``, see ``_Shadow``): inserts for documents
        new to the shadow (cheap on every server), replaces or deletes for the others. Documents are
        serialised now, so applying later events while they are written changes nothing in flight."""
        inserts: list[Doc] = []
        updates: list[Any] = []
        for key in state.take(hold=hold):
            _hit, current = state.get(key)
            known = key in state.stored or not state.complete
            if current is None:
                if known:
                    updates.append(DeleteOne({"_id": key}))
                state.stored.discard(key)
            elif known:
                updates.append(ReplaceOne({"_id": key}, self.projection.dump(current), upsert=True))
                state.stored.add(key)
            else:
                inserts.append(self.projection.dump(current))
                state.stored.add(key)
        return inserts, updates

    async def _checkpoint(
        self,
        shadow: AsyncCollection[Doc],
        writes: tuple[list[Doc], list[Any]],
        consumer: Any,
        position: Mapping[TopicPartition, int],
        run_id: str,
        progress: Progress,
    ) -> None:
        """Write the documents, then commit the replay group's position: the resume point."""
        inserts, updates = writes
        chunks = [inserts[i : i + INSERT_CHUNK] for i in range(0, len(inserts), INSERT_CHUNK)]
        # Already there (written by a run that stopped mid-checkpoint): replace those instead.
        clashes = await run_all(lambda chunk: insert_new(shadow, chunk), chunks, INSERT_WRITERS)
        for chunk, taken in zip(chunks, clashes, strict=True):
            updates = updates + [ReplaceOne({"_id": chunk[j]["_id"]}, chunk[j], upsert=True) for j in taken]
        for i in range(0, len(updates), UPDATE_CHUNK):
            await shadow.bulk_write(updates[i : i + UPDATE_CHUNK], ordered=False)
        progress.documents_written += len(inserts) + len(updates)
        await consumer.commit({tp: OffsetAndMetadata(off, "") for tp, off in position.items()})
        await self.store.run_save(
            run_id, {"applied": progress.applied, "events": progress.done, "checkpoint_at": utcnow()}
        )

    async def _copy_indexes(self, shadow: AsyncCollection[Doc]) -> None:
        """The shadow gets the owning service's indexes and any other the live collection has, so a swap
        changes data, not query plans."""
        await self.projection.create_indexes(self.target.db, shadow.name)
        try:
            indexes = await self.target.live.index_information()
        except OperationFailure:
            return
        for name, spec in indexes.items():
            if name == "_id_":
                continue
            options = {k: v for k, v in spec.items() if k not in ("key", "v", "ns")}
            await create_index(shadow, spec["key"], name=name, **options)

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
        await self._project(shadow, group, applied_to, current, progress, options, run_id, catching_up=True)
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


async def _batches(
    consumer: Any, todo: Mapping[TopicPartition, tuple[int, int]], size: int, align_ms: int = ALIGN_MS
) -> AsyncIterator[list[RawRecord]]:
    """Batches of about ``size`` records up to each partition's stop offset, in order per partition.

    Partitions are kept together in log time: one that has read ``align_ms`` past the slowest is
    paused until the others catch up. A case's events sit on two topics (its case events and its SMS
    events) at about the same time, so they are applied in the same checkpoint window and its
    document is inserted once, instead of inserted at one checkpoint and replaced at the next
    (without it, 60% of the cases of a 20,000-case rebuild were written twice).
    """
    from services.ops.adapters.kafka import raw

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
