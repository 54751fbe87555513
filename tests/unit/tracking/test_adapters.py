"""The adapters' own rules: the lookup attempts, the Mongo case store after a failed write, and the fakes
keeping the real stores' semantics (their queries are compared with MongoDB's in the integration tests)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from pymongo.errors import AutoReconnect

from contracts.events import CallOutcome
from services.tracking.adapters.calls import InMemoryCallStore
from services.tracking.adapters.cases import HeldCases, InMemoryCaseStore, MongoCaseStore
from services.tracking.adapters.claims import InMemoryClaims
from services.tracking.adapters.ratelimit import InMemoryAttempts
from services.tracking.domain.lookup_limits import window_at
from services.tracking.domain.projection import apply_all
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import T0, CaseEvents, call


async def test_the_fake_attempts_hand_out_numbered_tickets_per_key_and_window() -> None:
    attempts = InMemoryAttempts()
    now = T0
    window = window_at(now, 60)
    assert [await attempts.take("a", 2, window) for _ in range(3)] == [1, 2, None]
    assert await attempts.take("b", 2, window) == 1  # another key
    assert await attempts.take("a", 2, window_at(now + timedelta(seconds=60), 60)) == 1  # the next window
    await attempts.give_back("a", window, 1)
    assert await attempts.take("a", 2, window) == 1 and attempts.asked[:4] == ["a", "a", "a", "b"]
    assert await attempts.purge(window.end) == 3 and await attempts.take("a", 2, window) == 1


async def test_a_failed_save_leaves_no_write_behind_to_overwrite_the_retry() -> None:
    """The database goes away in the middle of a batch's writes. Once save raises (and the consumer
    retries the batch), none of that batch's writes may still be running or waiting: one landing
    later would put an older document back over the retry's and later batches' writes."""

    class Collection:
        def __init__(self) -> None:
            self.started: list[str] = []
            self.raised = False

        async def find_one_and_replace(self, query: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any]:
            self.started.append(query["_id"])
            if query["_id"] == "case-01":
                await asyncio.sleep(0.01)
                raise AutoReconnect("connection closed")
            await asyncio.sleep(0.05)
            return {**doc, "n": doc["n"] - 1}

    collection = Collection()
    store = MongoCaseStore(
        {c: collection for c in ("cases", "cases_codes", "cases_citizens", "cases_queue")},  # type: ignore[arg-type]
        queue_rows=False,
    )
    cases = {f"case-{i:02}": apply_all(None, [CaseEvents(f"case-{i:02}").registered()]) for i in range(40)}
    with pytest.raises(AutoReconnect):
        await store.save(cases, {cid: c.n - 1 or 7 for cid, c in cases.items()})
    started = list(collection.started)
    assert len(started) < len(cases)  # the writes queued behind the failure were never started
    await asyncio.sleep(0.3)
    assert collection.started == started, "a write of the failed attempt ran after save had raised"


async def test_the_fake_case_store_conflicts_as_the_database_does() -> None:
    store = InMemoryCaseStore()
    c = CaseEvents("x")
    first = apply_all(None, [c.registered()])
    assert (await store.save({"x": first}, {"x": 0})).conflicts == set()
    # An insert of a case that exists, and a replace of a case that does not, write nothing.
    assert (await store.save({"x": first}, {"x": 0})).conflicts == {"x"}
    ghost = apply_all(None, [CaseEvents("ghost").registered()])
    assert (await store.save({"ghost": ghost}, {"ghost": 1})).conflicts == {"ghost"}
    assert store.writes == 1 and "ghost" not in store.docs
    # A replace reports the version it found when it is not the one expected.
    second = apply_all(first, [c.routed()])
    third = apply_all(second, [c.note()])
    await store.save({"x": second}, {"x": 1})
    saved = await store.save({"x": third}, {"x": 1})
    assert saved.overwritten["x"] == second
    # What a test gets back is its own object: changing it changes nothing stored.
    got = await store.get("x")
    assert got is not None
    got.status = None
    assert (await store.get("x")) == third


async def test_the_rebuild_store_changes_the_held_cases_in_place() -> None:
    c = CaseEvents("h")
    held = apply_all(None, [c.registered()])
    store = HeldCases({"h": held})
    await apply_events(store, [c.routed(), c.note()], in_place=True)
    assert store.saved["h"] is held and held.n == 3 and held.status == "routed"


async def test_the_fake_claims_keep_the_lease_rules() -> None:
    claims = InMemoryClaims()
    assert await claims.claim("k", "a", T0, T0 + timedelta(minutes=2))
    assert not await claims.claim("k", "b", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    assert await claims.claim("k", "b", T0 + timedelta(minutes=3), T0 + timedelta(minutes=5))
    await claims.finish("k", "b", T0 + timedelta(minutes=3))
    assert not await claims.claim("k", "c", T0 + timedelta(days=1), T0 + timedelta(days=2))
    assert claims.claims["k"].owner == "b"


async def test_the_fake_call_store_keeps_each_call_once() -> None:
    calls = InMemoryCallStore()
    a, b = call("a", CallOutcome.answered, "s"), call("b", CallOutcome.missed, "s")
    assert await calls.add([a, b, a]) == 2 and await calls.add([a]) == 0
    assert await calls.count_received(duty_session_id="s") == (2, 1)
    assert await calls.count_received(start=T0, end=T0 + timedelta(seconds=1)) == (2, 1)
    assert await calls.count_received(start=T0 + timedelta(seconds=1)) == (0, 0)
    assert sorted([t async for t in calls.start_times(T0, T0 + timedelta(days=1))]) == [
        (T0, False),
        (T0, True),
    ]
