"""The timers on the real Kafka and FerretDB: two replicas sweeping at once publish each SLA breach and
each close exactly once; the consumer marks the case overdue-breached and closes quiet cases."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pymongo import AsyncMongoClient

from contracts.catalogue import AgencyCode
from services.common.auth import Role
from services.common.clock import FixedClock
from services.tracking.adapters.claims import MongoClaims
from services.tracking.bootstrap import bootstrap
from services.tracking.settings import TrackingSettings
from tests.integration.tracking.conftest import bearer, publish
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess
from tests.support.stack import KAFKA, MONGO
from tests.unit.tracking.factory import CaseEvents

SUPERVISOR = bearer(Role.supervisor)


async def test_two_replicas_publish_each_breach_and_close_once(
    tracking: ServiceProcess, tracking_db: str, mongo: AsyncMongoClient[dict[str, Any]], unique: str
) -> None:
    late = CaseEvents(f"timers-late-{unique}")
    quiet = CaseEvents(f"timers-quiet-{unique}")
    await publish(
        [
            late.registered(),
            late.routed(AgencyCode.education),
            quiet.registered(),
            quiet.routed(),
            quiet.acknowledged(),
            quiet.resolved(),
        ]
    )
    db = mongo[tracking_db]

    async def stored() -> bool:
        docs = (
            await db["cases"]
            .find({"_id": {"$in": [late.case_id, quiet.case_id]}}, {"status": 1})
            .to_list(None)
        )
        return sorted(d["status"] for d in docs) == ["resolved", "routed"]

    await wait_for(stored, timeout=30)

    # Two replicas of tracking's timers, built as the service builds them, on its database, with a
    # clock two months on.
    settings = TrackingSettings(kafka_bootstrap=KAFKA, mongo_url=MONGO, db_name=tracking_db)
    later = FixedClock(datetime.now(UTC) + timedelta(days=60))
    replicas = [
        bootstrap(settings, clock=later, owner=f"replica-{n}", name=f"tracking-timers-test-{n}")
        for n in (1, 2)
    ]
    for replica in replicas:
        await replica.broker.start()
    try:
        results = await asyncio.gather(*(r.sweep_timers(limit=1000) for r in replicas))
        mine = Counter(
            (
                e.data.case_id,
                e.type.rsplit(".", 1)[-1] + ":" + str(getattr(e.data, "sla", getattr(e.data, "status", ""))),
            )  # type: ignore[attr-defined]
            for r in results
            for e in r.events
            if e.data.case_id in (late.case_id, quiet.case_id)  # type: ignore[attr-defined]
        )
        assert mine == {
            (late.case_id, "sla_breached:acknowledge"): 1,
            (late.case_id, "sla_breached:resolve"): 1,
            # The first step of the ladder (the agency's head, at once); the next waits working hours.
            (late.case_id, "escalated:resolve"): 1,
            (quiet.case_id, "status_changed:closed"): 1,
        }

        async with httpx.AsyncClient(base_url=tracking.url, headers=SUPERVISOR, timeout=10) as client:

            async def applied() -> bool:
                a = (await client.get(f"/v1/cases/{late.case_id}")).json()
                b = (await client.get(f"/v1/cases/{quiet.case_id}")).json()
                return (
                    a["due"]["acknowledge_breached"]
                    and a["due"]["resolve_breached"]
                    and b["status"] == "closed"
                )

            await wait_for(applied, timeout=30, interval=0.3)
            doc = (await client.get(f"/v1/cases/{late.case_id}")).json()
            assert doc["overdue"] and doc["status"] == "routed"
            assert doc["agencies"][0]["acknowledge_breached"]
            breaches = [e for e in doc["timeline"] if e["type"].endswith("sla_breached")]
            assert len(breaches) == 2 and not any(e["rejected"] for e in breaches)

        # Nothing left to do for these cases: the next sweeps publish nothing more for them.
        again = await asyncio.gather(*(r.sweep_timers(limit=1000) for r in replicas))
        assert not [e for r in again for e in r.events if e.data.case_id in (late.case_id, quiet.case_id)]  # type: ignore[attr-defined]
    finally:
        for replica in replicas:
            await replica.broker.stop()
            await replica.shutdown()


async def dead_replicas_claim(db: Any, key: str) -> tuple[MongoClaims, datetime]:
    """Timer claims on ``db`` with ``key`` claimed now by a replica that will never finish it (a
    two-minute lease); and now."""
    claims = MongoClaims(db)
    now = datetime.now(UTC)
    assert await claims.claim(key, "dead-replica", now, now + timedelta(minutes=2))
    return claims, now


async def test_a_claim_left_by_a_dead_replica_is_taken_after_its_lease(
    mongo: AsyncMongoClient[dict[str, Any]], tracking_db: str, unique: str
) -> None:
    key = f"breach:test-{unique}"
    claims, now = await dead_replicas_claim(mongo[tracking_db], key)
    assert not await claims.claim(key, "live-replica", now + timedelta(minutes=1), now + timedelta(minutes=3))
    # The dead replica never finished: after the lease, another replica takes the work.
    assert await claims.claim(key, "live-replica", now + timedelta(minutes=3), now + timedelta(minutes=5))
    await claims.finish(key, "live-replica", now + timedelta(minutes=3))
    # Finished work is never claimed again.
    assert not await claims.claim(key, "third", now + timedelta(days=1), now + timedelta(days=2))


async def test_replicas_racing_for_an_expired_claim_take_it_once_and_losers_write_nothing(
    mongo: AsyncMongoClient[dict[str, Any]], tracking_db: str, unique: str
) -> None:
    key = f"close:test-{unique}"
    claims, now = await dead_replicas_claim(mongo[tracking_db], key)
    writes: list[str] = []
    racers = 6
    all_have_looked = asyncio.Barrier(racers)

    class Spy:
        """The claims collection, noting every write that replaces a claim; every racer reads the
        expired claim before any of them goes on."""

        def __init__(self, inner: Any) -> None:
            self.inner = inner

        async def find_one(self, *args: Any, **kwargs: Any) -> Any:
            found = await self.inner.find_one(*args, **kwargs)
            await all_have_looked.wait()
            return found

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self.inner, name)
            if name in ("replace_one", "find_one_and_replace", "update_one"):
                writes.append(name)
            return attr

    claims.collection = Spy(claims.collection)  # type: ignore[assignment]
    later = now + timedelta(minutes=3)
    won = await asyncio.gather(
        *(claims.claim(key, f"replica-{i}", later, later + timedelta(minutes=2)) for i in range(racers))
    )
    assert sum(won) == 1
    assert len(writes) == 1  # the winner's replace; the losers wrote nothing
    winner = f"replica-{won.index(True)}"
    claims.collection = claims.collection.inner
    await claims.finish(key, winner, later)
    doc = await claims.collection.find_one({"_id": key})
    assert doc is not None and (doc["owner"], doc["done"]) == (winner, True)
    # Its lease runs out too, but finished work stays finished: no replica takes it again.
    assert not await claims.claim(key, "late", later + timedelta(days=1), later + timedelta(days=2))


async def test_a_takeover_whose_replica_died_before_replacing_the_claim_is_taken_over_again(
    mongo: AsyncMongoClient[dict[str, Any]], tracking_db: str, unique: str
) -> None:
    key = f"breach:test-{unique}"
    claims, now = await dead_replicas_claim(mongo[tracking_db], key)
    [seen] = await claims.collection.find({"_id": key}).to_list()
    # A replica won the takeover token at minute 3, then died before replacing the claim.
    at = now + timedelta(minutes=3)
    await claims.takeovers.insert_one(
        {"_id": f"{key}@{seen['claimed_at'].isoformat()}#0", "owner": "x", "at": at}
    )
    assert not await claims.claim(
        key, "early", at + timedelta(seconds=30), at + timedelta(minutes=2, seconds=30)
    )
    # A lease later, the claim is still the expired one: the next replica takes it.
    late = at + timedelta(minutes=5)
    assert await claims.claim(key, "next", late, late + timedelta(minutes=2))
    doc = await claims.collection.find_one({"_id": key})
    assert doc is not None and doc["owner"] == "next"
