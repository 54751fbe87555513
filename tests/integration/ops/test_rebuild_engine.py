"""The rebuild engine's mechanics on the real Kafka and FerretDB, driven by a small counting projection
(a test double: tracking's real projection is exercised in test_rebuild_tracking.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from contracts.events import Actor, ActorKind, CaseNoteAdded, Envelope, make_event
from services.common.clock import SystemClock
from services.common.mongo import SECONDARY_INDEXES_ENV
from services.ops.adapters.projection_store import MongoProjectionStore
from services.ops.domain.audit import Operator
from services.ops.domain.rebuild import Progress, RebuildOptions
from services.ops.domain.records import Outgoing
from services.ops.domain.timespec import EARLIEST
from services.ops.service.errors import Refused
from services.ops.service.rebuild_engine import Rebuilder


class NotesPerCase:
    """Keeps, per case, the ids and texts of its notes; deduplicates by event id like a real projection."""

    name = "notes"
    volatile_fields: tuple[str, ...] = ()

    def __init__(self, topic: str) -> None:
        self.topics = [topic]
        self.promotions: list[str] = []  # the live collections it was told a rebuild replaced

    def key(self, event: Envelope) -> str | None:
        return event.subject if isinstance(event.data, CaseNoteAdded) else None

    def load(self, doc: dict[str, Any]) -> dict[str, Any]:
        return doc

    async def apply_batch(self, states: dict[str, Any], events: list[Envelope]) -> dict[str, Any]:
        changed: dict[str, Any] = {}
        for event in events:
            key = self.key(event)
            if key is not None:
                changed[key] = self.apply(changed.get(key) or states.get(key), event)
        return changed

    async def create_indexes(self, db: Any, collection: str) -> None:
        await db[collection].create_index("ids", name="by_id")

    async def promoted(self, db: Any, collection: str) -> None:
        self.promotions.append(collection)

    def apply(self, state: dict[str, Any] | None, event: Envelope) -> dict[str, Any]:
        state = state or {"_id": event.subject, "ids": [], "texts": []}
        if event.id in state["ids"]:
            return state
        assert isinstance(event.data, CaseNoteAdded)
        return {**state, "ids": [*state["ids"], event.id], "texts": [*state["texts"], event.data.text]}

    def dump(self, state: dict[str, Any]) -> dict[str, Any]:
        return state


def note(case: str, i: int) -> Outgoing:
    env = make_event(
        CaseNoteAdded(case_id=case, text=f"یادداشت {i}", actor=Actor(kind=ActorKind.ops, id="o")),
        source="/samad/test",
        event_id=f"{case}:{i}",
    )
    return Outgoing("", env.key, env.to_json(), [])


async def fill(log, topic: str, cases: int, per_case: int) -> None:
    await log.send(
        Outgoing(topic, o.key, o.value, o.headers)
        for i in range(per_case)
        for c in range(cases)
        for o in [note(f"case-{c}", i)]
    )


def expected(cases: int, per_case: int) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"case-{c}",
            "ids": [f"case-{c}:{i}" for i in range(per_case)],
            "texts": [f"یادداشت {i}" for i in range(per_case)],
        }
        for c in range(cases)
    ]


@pytest.fixture
async def target(mongo, unique: str):
    db = mongo[f"test_rebuild_{unique}"]
    yield MongoProjectionStore(db, "cases")
    await mongo.drop_database(db.name)


def rebuilder(log, store, target, projection, actor: str = "t", **kwargs: Any) -> Rebuilder:
    operator = Operator(actor=actor, os_user=actor, host="ops-test", pid=1)
    return Rebuilder(log, store, target, projection, operator=operator, clock=SystemClock(), **kwargs)


async def test_rebuild_compares_and_swaps_a_corrupted_live_collection(
    log, store, make_topic, target, unique, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "always")  # as on MongoDB: the swap carries the indexes
    topic = await make_topic("notes", 3)
    await fill(log, topic, cases=30, per_case=5)
    good = expected(30, 5)
    await target.db[target.live].insert_many([dict(d) for d in good])
    await target.db[target.live].create_index("texts", name="by_text")
    await target.db[target.live].update_one({"_id": "case-3"}, {"$set": {"texts": ["خراب"]}})
    await target.db[target.live].delete_one({"_id": "case-7"})
    await target.db[target.live].insert_one({"_id": "case-ghost", "ids": [], "texts": []})

    engine = rebuilder(log, store, target, NotesPerCase(topic))
    options = RebuildOptions(start=EARLIEST, batch_size=40, sample=0, live_group=f"test.nobody.{unique}")
    result = await engine.run(options)
    c = result.comparison
    assert c is not None and not c.identical
    assert (c.live_count, c.shadow_count) == (30, 30)
    assert c.only_live == ["case-ghost"] and c.only_shadow == ["case-7"]
    assert list(c.differing) == ["case-3"] and any(d.startswith("texts") for d in c.differing["case-3"])
    assert result.progress.done == 150 and not result.swapped

    notes = NotesPerCase(topic)
    swapped = await rebuilder(log, store, target, notes).run(
        RebuildOptions(start=EARLIEST, batch_size=40, swap=True, live_group=f"test.nobody.{unique}")
    )
    assert swapped.swapped and notes.promotions == [target.live]
    assert [d async for d in target.db[target.live].find({}).sort("_id")] == sorted(
        good, key=lambda d: d["_id"]
    )
    assert "by_text" in await target.db[target.live].index_information()
    if swapped.replaced_backup:  # FerretDB: the replaced collection is kept
        assert await target.db[swapped.replaced_backup].count_documents({}) == 30


async def test_an_interrupted_rebuild_resumes_from_its_checkpoint(
    log, store, make_topic, target, unique
) -> None:
    topic = await make_topic("resume", 2)
    await fill(log, topic, cases=20, per_case=10)
    seen: list[int] = []
    task: asyncio.Task[Any] | None = None

    def stop_after_two_batches(p: Progress) -> None:
        seen.append(p.done)
        if len(seen) == 2 and task is not None:
            task.cancel()

    first = rebuilder(log, store, target, NotesPerCase(topic), on_progress=stop_after_two_batches)
    options = RebuildOptions(start=EARLIEST, batch_size=30, checkpoint_events=30, compare=False)
    task = asyncio.create_task(first.run(options))
    with pytest.raises(asyncio.CancelledError):
        await task
    run = await store.run_latest("notes", ["interrupted"])
    assert run is not None and 0 < run["events"] < 200  # its last checkpoint is part of the way
    assert await store.lock_acquire(first.lock_name, {"run_id": "probe"}, 5) is None  # released
    await store.lock_release(first.lock_name, "probe")

    resumed = await rebuilder(log, store, target, NotesPerCase(topic)).run(
        RebuildOptions(start=EARLIEST, resume=run["_id"], batch_size=30, checkpoint_events=30, compare=False)
    )
    assert resumed.run_id == run["_id"] and resumed.progress.done == 200
    shadow = [d async for d in target.db[resumed.shadow].find({}).sort("_id")]
    assert shadow == sorted(expected(20, 10), key=lambda d: d["_id"])  # each note applied exactly once
    assert (await store.run_get(run["_id"]))["status"] == "completed"


async def test_a_case_whose_events_cross_a_checkpoint_is_written_once(log, store, make_topic, target) -> None:
    topic = await make_topic("once", 1)
    # Each case's five notes are consecutive; a checkpoint every 12 events falls inside many cases.
    await log.send(
        Outgoing(topic, o.key, o.value, o.headers)
        for c in range(20)
        for i in range(5)
        for o in [note(f"case-{c}", i)]
    )
    result = await rebuilder(log, store, target, NotesPerCase(topic)).run(
        RebuildOptions(start=EARLIEST, batch_size=12, checkpoint_events=12, compare=False)
    )
    shadow = [d async for d in target.db[result.shadow].find({}).sort("_id")]
    assert shadow == sorted(expected(20, 5), key=lambda d: d["_id"])
    assert result.progress.documents_written == 20  # one insert per case, no replace


async def test_a_second_rebuild_is_refused_while_one_runs(log, store, make_topic, target) -> None:
    topic = await make_topic("lock", 1)
    await fill(log, topic, cases=2, per_case=2)
    projection = NotesPerCase(topic)
    holder = rebuilder(log, store, target, projection, actor="maryam")
    assert (
        await store.lock_acquire(holder.lock_name, {"run_id": "r-1", "actor": "maryam", "host": "ops-1"}, 30)
        is None
    )
    with pytest.raises(Refused, match="maryam"):
        await rebuilder(log, store, target, projection, actor="reza").run(RebuildOptions(start=EARLIEST))
    await store.lock_release(holder.lock_name, "r-1")
    assert (
        await rebuilder(log, store, target, projection, actor="reza").run(RebuildOptions(start=EARLIEST))
    ).progress.done == 4


async def test_swap_is_refused_while_the_live_group_has_members(
    log, store, make_topic, target, unique
) -> None:
    from aiokafka import AIOKafkaConsumer

    from tests.support.kafka import wait_for
    from tests.support.stack import KAFKA

    topic = await make_topic("live", 1)
    await fill(log, topic, cases=2, per_case=1)
    group = f"test.live.{unique}"
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=KAFKA, group_id=group)
    await consumer.start()
    try:
        await wait_for(lambda: bool(consumer.assignment()), timeout=30)
        with pytest.raises(Refused, match="not swapping"):
            await rebuilder(log, store, target, NotesPerCase(topic)).run(
                RebuildOptions(start=EARLIEST, swap=True, live_group=group)
            )
    finally:
        await consumer.stop()
    assert await target.db[target.live].count_documents({}) == 0  # live untouched
