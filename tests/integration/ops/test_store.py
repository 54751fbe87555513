"""The ops store on FerretDB: one rebuild lock holder at a time, expiry, and the re-drive ledger claim."""

from __future__ import annotations

import asyncio

from services.ops.adapters.store import MongoOpsStore


async def test_only_one_holder_until_the_lock_expires(store: MongoOpsStore) -> None:
    first = {"run_id": "run-1", "actor": "maryam", "host": "ops-1"}
    second = {"run_id": "run-2", "actor": "reza", "host": "ops-2"}
    assert await store.lock_acquire("rebuild:tracking", first, ttl=0.5) is None
    held = await store.lock_acquire("rebuild:tracking", second, ttl=0.5)
    assert held is not None and held.owner["run_id"] == "run-1" and held.owner["actor"] == "maryam"
    assert await store.lock_renew("rebuild:tracking", "run-1", ttl=0.5)
    assert not await store.lock_renew("rebuild:tracking", "run-2", ttl=0.5)

    await asyncio.sleep(0.7)  # run-1 stopped renewing (crashed): its lock may be claimed
    assert await store.lock_acquire("rebuild:tracking", second, ttl=30) is None
    assert not await store.lock_renew("rebuild:tracking", "run-1", ttl=30)  # run-1 learns it lost it
    await store.lock_release("rebuild:tracking", "run-1")  # a stale holder cannot release it either
    assert (await store.lock_acquire("rebuild:tracking", first, ttl=30)) is not None
    await store.lock_release("rebuild:tracking", "run-2")
    assert await store.lock_acquire("rebuild:tracking", first, ttl=30) is None


async def test_concurrent_claims_of_one_dead_letter_have_one_winner(store: MongoOpsStore) -> None:
    results = await asyncio.gather(
        *(
            store.redrive_claim("samad.deadletter.v1:0:5", {"status": "claimed", "run_id": f"r{i}"})
            for i in range(5)
        )
    )
    assert sorted(results) == [False, False, False, False, True]
    assert await store.redriven(["samad.deadletter.v1:0:5", "samad.deadletter.v1:0:6"]) == {
        "samad.deadletter.v1:0:5"
    }
    await store.redrive_release("samad.deadletter.v1:0:5")  # released only while merely claimed
    assert await store.redriven(["samad.deadletter.v1:0:5"]) == set()
