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
from services.common.kafka import EventPublisher, make_broker
from services.common.settings import ServiceSettings
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.store import MongoCallStore, MongoCaseStore, MongoClaims
from services.tracking.service import TrackingService
from tests.integration.tracking.conftest import bearer, publish
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess
from tests.support.stack import KAFKA
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

    settings = ServiceSettings(kafka_bootstrap=KAFKA)
    broker = make_broker(settings, "tracking-timers-test")
    await broker.start()
    later = datetime.now(UTC) + timedelta(days=60)
    replicas = [
        TrackingService(
            MongoCaseStore(db),
            MongoCallStore(db),
            MongoClaims(db),
            EventPublisher(broker, "tracking"),
            load_policy(),
            clock=lambda: later,
            owner=f"replica-{n}",
        )
        for n in (1, 2)
    ]
    try:
        results = await asyncio.gather(*(r.sweep(limit=1000) for r in replicas))
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
        again = await asyncio.gather(*(r.sweep(limit=1000) for r in replicas))
        assert not [e for r in again for e in r.events if e.data.case_id in (late.case_id, quiet.case_id)]  # type: ignore[attr-defined]
    finally:
        await broker.stop()


async def test_a_claim_left_by_a_dead_replica_is_taken_after_its_lease(
    mongo: AsyncMongoClient[dict[str, Any]], tracking_db: str, unique: str
) -> None:
    claims = MongoClaims(mongo[tracking_db])
    now = datetime.now(UTC)
    key = f"breach:test-{unique}"
    assert await claims.claim(key, "dead-replica", now, now + timedelta(minutes=2))
    assert not await claims.claim(key, "live-replica", now + timedelta(minutes=1), now + timedelta(minutes=3))
    # The dead replica never finished: after the lease, another replica takes the work.
    assert await claims.claim(key, "live-replica", now + timedelta(minutes=3), now + timedelta(minutes=5))
    await claims.finish(key, "live-replica", now + timedelta(minutes=3))
    # Finished work is never claimed again.
    assert not await claims.claim(key, "third", now + timedelta(days=1), now + timedelta(days=2))
