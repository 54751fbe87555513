"""The rebuild, engine and use case, on the in-memory log, ops store and collections with a tiny
projection: compare and swap, checkpoints, resume, the lock, the live-group guard, partial rebuilds."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseRouted, RouteReason, make_event
from services.common.clock import FixedClock
from services.ops.adapters.log import InMemoryLog
from services.ops.adapters.projection_store import InMemoryProjectionStore
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer
from services.ops.domain.rebuild import Progress, RebuildOptions
from services.ops.domain.records import Outgoing
from services.ops.domain.timespec import EARLIEST
from services.ops.service.errors import Refused
from services.ops.service.rebuild import Watcher
from services.ops.service.rebuild_engine import Rebuilder
from tests.unit.ops.conftest import BASE_TS, NOTES, NotesPerCase, expected, fill, note


def engine(
    ops: OpsContainer, target: InMemoryProjectionStore, topic: str = NOTES, **kwargs: Any
) -> Rebuilder:
    return Rebuilder(
        ops.log,
        ops.store,
        target,
        NotesPerCase([topic]),
        operator=ops.auditor.operator,
        clock=ops.clock,
        **kwargs,
    )


def by_id(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(docs, key=lambda d: d["_id"])


async def test_a_rebuild_compares_with_a_corrupted_live_collection_and_swap_restores_it(
    ops: OpsContainer,
    log: InMemoryLog,
    target: InMemoryProjectionStore,
    store: InMemoryOpsStore,
    clock: FixedClock,
) -> None:
    await fill(log, cases=12, per_case=5)
    good = expected(12, 5)
    target.put("cases", good)
    live = target.collections["cases"]
    live["case-3"]["texts"] = ["خراب"]
    del live["case-7"]
    live["case-1"]["touched"] = "2025-03-01"  # a volatile field: not a difference
    target.put("cases", [{"_id": "case-ghost", "ids": [], "texts": []}])

    result = await ops.rebuild.run("notes", sample=0)
    c = result.comparison
    assert c is not None and not c.identical
    assert (c.live_count, c.shadow_count, c.compared) == (12, 12, 11)
    assert (c.only_live, c.only_shadow) == (["case-ghost"], ["case-7"])
    assert list(c.differing) == ["case-3"] and c.differing["case-3"][0].startswith("texts")
    assert not result.swapped and result.progress.done == 60 and result.progress.applied == 60
    assert target.documents(result.shadow) == by_id(good)
    assert target.indexed == [result.shadow]  # indexes before the documents
    assert store.runs[result.run_id]["status"] == "completed"

    clock.advance(timedelta(minutes=1))
    swapped = await ops.rebuild.run("notes", swap=True)
    assert swapped.swapped and swapped.replaced_backup is None
    assert target.documents("cases") == by_id(good)
    assert target.promotions == ["notes"]  # told, after the swap, to rebuild what it keeps beside it
    assert store.runs[swapped.run_id]["status"] == "swapped"
    assert store.locks == {}  # released
    audit = await store.audit_list(command="replay rebuild notes")
    assert [(e["outcome"], e["detail"]["swapped"]) for e in audit] == [("ok", True), ("ok", False)]
    assert audit[1]["detail"]["comparison"] == {
        "live": 12,
        "shadow": 12,
        "only_live": 1,
        "only_shadow": 1,
        "compared": 11,
        "differing": 1,
    }


async def test_on_a_server_without_one_step_replace_the_swap_keeps_the_replaced_collection(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore
) -> None:
    target.keeps_backup = True
    await fill(log, cases=3, per_case=2)
    target.put("cases", [{"_id": "case-ghost", "ids": [], "texts": []}])
    result = await ops.rebuild.run("notes", swap=True)
    assert result.replaced_backup == f"cases__replaced_{result.run_id.replace('-', '_')}"
    assert [d["_id"] for d in target.documents(result.replaced_backup)] == ["case-ghost"]
    assert target.documents("cases") == by_id(expected(3, 2))


async def test_a_case_whose_events_cross_a_checkpoint_is_inserted_once(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore
) -> None:
    await log.create_topic("test.once", 1)
    # Each case's five notes are consecutive; a checkpoint every 12 events falls inside many cases.
    await log.send(note("test.once", f"case-{c}", i) for c in range(20) for i in range(5))
    result = await engine(ops, target, "test.once").run(
        RebuildOptions(start=EARLIEST, batch_size=12, checkpoint_events=12, compare=False)
    )
    assert target.documents(result.shadow) == by_id(expected(20, 5))
    assert result.progress.documents_written == 20
    assert all(updates == 0 for _name, _inserts, updates in target.writes)  # no replace at all


async def test_an_interrupted_rebuild_resumes_from_its_checkpoint(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore, store: InMemoryOpsStore
) -> None:
    await fill(log, cases=20, per_case=10)
    seen: list[int] = []
    task: asyncio.Task[Any] | None = None

    def stop_after_two_batches(p: Progress) -> None:
        seen.append(p.done)
        if len(seen) == 2 and task is not None:
            task.cancel()

    first = engine(ops, target, on_progress=stop_after_two_batches)
    options = RebuildOptions(start=EARLIEST, batch_size=30, checkpoint_events=30, compare=False)
    task = asyncio.create_task(first.run(options))
    with pytest.raises(asyncio.CancelledError):
        await task
    [run] = store.runs.values()
    assert run["status"] == "interrupted" and 0 < run["events"] < 200  # its last checkpoint
    assert store.locks == {}  # released on the way out
    committed = await log.committed(f"samad.replay.{run['_id']}")
    assert 0 < sum(v or 0 for v in committed.values()) < 200

    resumed = await ops.rebuild.run("notes", resume_last=True, sample=0)
    assert resumed.run_id == run["_id"] and resumed.progress.done == 200
    assert target.documents(resumed.shadow) == by_id(expected(20, 10))  # each note applied once
    assert store.runs[run["_id"]]["status"] == "completed"
    [entry] = await store.audit_list(command="replay rebuild notes")
    assert entry["arguments"]["resume_last"] is True and entry["detail"]["run_id"] == run["_id"]


async def test_a_second_rebuild_is_refused_while_one_holds_the_lock(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore, store: InMemoryOpsStore
) -> None:
    await fill(log, cases=2, per_case=2)
    name = engine(ops, target).lock_name
    assert name == "rebuild:notes:samad_notes.cases"
    holder = {"run_id": "r-1", "actor": "reza", "host": "ops-2", "pid": 7}
    assert await store.lock_acquire(name, holder, 30) is None
    with pytest.raises(Refused, match="run r-1 by reza on ops-2"):
        await ops.rebuild.run("notes")
    [entry] = await store.audit_list()
    assert entry["outcome"] == "refused" and "reza" in entry["detail"]["refused"]
    await store.lock_release(name, "r-1")
    assert (await ops.rebuild.run("notes")).progress.done == 4


async def test_a_lock_whose_holder_stopped_renewing_it_is_taken_over(
    ops: OpsContainer,
    log: InMemoryLog,
    target: InMemoryProjectionStore,
    store: InMemoryOpsStore,
    clock: FixedClock,
) -> None:
    await fill(log, cases=2, per_case=1)
    await store.lock_acquire(engine(ops, target).lock_name, {"run_id": "crashed"}, 60)
    clock.advance(timedelta(seconds=61))
    assert (await ops.rebuild.run("notes")).progress.done == 2


async def test_swap_is_refused_while_the_live_group_has_members(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore, store: InMemoryOpsStore
) -> None:
    await fill(log, cases=2, per_case=1)
    log.join("samad.notes", "tracking-1@10.0.0.5")
    with pytest.raises(Refused, match=r"not swapping: group samad\.notes is Stable"):
        await ops.rebuild.run("notes", swap=True)
    assert target.documents("cases") == []  # live untouched
    [run] = store.runs.values()
    assert run["status"] == "failed" and target.documents(run["shadow"]) == by_id(expected(2, 1))


async def test_a_partial_rebuild_applies_newer_events_on_a_copy_of_live(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore
) -> None:
    await fill(log, cases=6, per_case=5)
    target.put("cases", expected(6, 3))  # e.g. a database backup taken after round 3
    notes: list[str] = []
    result = await ops.rebuild.run(
        "notes", start=str(BASE_TS + 3 * 6 * 1000), sample=0, watcher=Watcher(say=notes.append)
    )
    assert notes == [f"shadow {result.shadow} seeded with 6 live document(s)"]
    assert result.progress.done == 12 and result.progress.total == 12
    assert target.documents(result.shadow) == by_id(expected(6, 5))
    assert result.comparison is not None and len(result.comparison.differing) == 6


async def test_events_not_for_the_projection_and_undecodable_ones_are_counted_and_skipped(
    ops: OpsContainer, log: InMemoryLog, target: InMemoryProjectionStore
) -> None:
    routed = make_event(
        CaseRouted(
            case_id="case-0", agency=AgencyCode.welfare, reason=RouteReason.classifier, confidence=0.9
        ),
        source="/samad/test",
    )
    await log.send(
        [
            note(NOTES, "case-0", 0),
            Outgoing(NOTES, b"case-0", routed.to_json(), []),
            Outgoing(NOTES, b"case-0", b"{not json", []),
            note(NOTES, "case-0", 1),
        ]
    )
    result = await ops.rebuild.run("notes", sample=0)
    p = result.progress
    assert (p.done, p.applied, p.ignored, p.undecodable) == (4, 2, 1, 1)
    assert target.documents(result.shadow) == expected(1, 2)


async def test_the_use_case_refuses_what_it_cannot_do(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore
) -> None:
    with pytest.raises(Refused, match="no projection named 'tracking'"):
        await ops.rebuild.run("tracking")
    with pytest.raises(Refused, match="no interrupted notes rebuild to resume"):
        await ops.rebuild.run("notes", resume_last=True)
    with pytest.raises(Refused, match="no rebuild run 2025-x to resume"):
        await ops.rebuild.run("notes", resume="2025-x")
    entries = await store.audit_list()
    assert [e["outcome"] for e in entries] == ["refused"] * 3
    assert store.runs == {} and store.locks == {}


async def test_runs_are_listed_newest_first(ops: OpsContainer, log: InMemoryLog, clock: FixedClock) -> None:
    await fill(log, cases=1, per_case=1)
    first = await ops.rebuild.run("notes", sample=0)
    clock.advance(timedelta(minutes=5))
    second = await ops.rebuild.run("notes", sample=0)
    assert [r["_id"] for r in await ops.rebuild.recent(10)] == [second.run_id, first.run_id]
    assert [r["_id"] for r in await ops.rebuild.recent(1)] == [second.run_id]
