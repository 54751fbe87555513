"""The operator tools built through bootstrap() on in-memory fakes: log, ops store, the projection's
collections, the projection catalog, dump files and a fixed clock."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pytest

from contracts.events import Actor, ActorKind, CaseNoteAdded, Envelope, make_event
from contracts.topics import DEADLETTER
from services.common.clock import FixedClock
from services.ops.adapters.catalog import InMemoryProjections
from services.ops.adapters.files import InMemoryFiles
from services.ops.adapters.log import InMemoryLog
from services.ops.adapters.projection_store import InMemoryProjectionStore
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer, bootstrap
from services.ops.domain.audit import Operator
from services.ops.domain.records import Outgoing
from services.ops.settings import OpsSettings

NOTES = "test.notes"
BASE_TS = 1_735_700_000_000  # 2025-01-01T03:33:20Z


class NotesPerCase:
    """A tiny projection: per case, the ids and texts of its notes; deduplicates by event id like a real
    projection."""

    name = "notes"
    volatile_fields: tuple[str, ...] = ("touched",)

    def __init__(self, topics: Sequence[str] | None = None, data_dir: str | None = None) -> None:
        self.topics = list(topics or [NOTES])

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
        raise AssertionError("the in-memory store does not create MongoDB indexes")

    async def promoted(self, db: Any, collection: str) -> None:
        raise AssertionError("the in-memory store keeps nothing beside a collection")

    def apply(self, state: dict[str, Any] | None, event: Envelope) -> dict[str, Any]:
        state = state or {"_id": event.subject, "ids": [], "texts": []}
        if event.id in state["ids"]:
            return state
        assert isinstance(event.data, CaseNoteAdded)
        return {**state, "ids": [*state["ids"], event.id], "texts": [*state["texts"], event.data.text]}

    def dump(self, state: dict[str, Any]) -> dict[str, Any]:
        return state


def note(topic: str, case: str, i: int, timestamp: int | None = None) -> Outgoing:
    env = make_event(
        CaseNoteAdded(case_id=case, text=f"یادداشت {i}", actor=Actor(kind=ActorKind.ops, id="o")),
        source="/samad/test",
        event_id=f"{case}:{i}",
    )
    return Outgoing(
        topic, env.key, env.to_json(), [("content-type", b"application/cloudevents+json")], timestamp
    )


def expected(cases: int, per_case: int, first: int = 0) -> list[dict[str, Any]]:
    return [
        {
            "_id": f"case-{c}",
            "ids": [f"case-{c}:{i}" for i in range(first, per_case)],
            "texts": [f"یادداشت {i}" for i in range(first, per_case)],
        }
        for c in range(cases)
    ]


async def fill(log: InMemoryLog, cases: int, per_case: int, topic: str = NOTES) -> None:
    """Notes in rounds (note i of every case, then note i+1), one second apart in log time."""
    await log.send(
        note(topic, f"case-{c}", i, BASE_TS + (i * cases + c) * 1000)
        for i in range(per_case)
        for c in range(cases)
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))


@pytest.fixture
async def log(clock: FixedClock) -> InMemoryLog:
    log = InMemoryLog(clock=clock)
    for topic, partitions in ((NOTES, 3), (DEADLETTER, 2), ("samad.cases.v1", 3)):
        await log.create_topic(topic, partitions)
    return log


@pytest.fixture
def store(clock: FixedClock) -> InMemoryOpsStore:
    return InMemoryOpsStore(clock)


@pytest.fixture
def target() -> InMemoryProjectionStore:
    return InMemoryProjectionStore("cases", "samad_notes")


@pytest.fixture
def files() -> InMemoryFiles:
    return InMemoryFiles()


@pytest.fixture
def ops(
    log: InMemoryLog,
    store: InMemoryOpsStore,
    target: InMemoryProjectionStore,
    files: InMemoryFiles,
    clock: FixedClock,
) -> OpsContainer:
    settings = OpsSettings(
        ops_timezone="Asia/Tehran",
        consumer_group_prefix="samad",
        rebuild_batch_size=7,
        rebuild_lock_seconds=60.0,
        cli_bidi=False,
    )
    return bootstrap(
        settings,
        operator=Operator(actor="maryam", os_user="maryam", host="ops-1", pid=4242),
        log=log,
        store=store,
        targets={"notes": target},
        projections=InMemoryProjections({"notes": NotesPerCase}),
        files=files,
        clock=clock,
    )
