"""The reports' daily rollups on FerretDB give what counting the cases gives on the same data (the
funnel's two clocks included: a case from a call counts in its call's day), before and after the
background job, after a replay of the whole history, and with two replicas recomputing at once."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from services.common.clock import FixedClock
from services.tracking.adapters.calls import MongoCallStore
from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.adapters.claims import MongoClaims
from services.tracking.adapters.data import load_policy
from services.tracking.adapters.rollups import MongoRollupStore
from services.tracking.service.project_events import ProjectEvents
from services.tracking.service.reports import Reports
from services.tracking.service.rollups import DailyRollups
from tests.unit.tracking.fakes import NOW
from tests.unit.tracking.test_rollups import history, reports_of


@dataclass
class Tracking:
    """Tracking's stores on one database, two replicas' rollups on them, and the reports both ways."""

    db: Any
    store: MongoRollupStore
    replicas: list[DailyRollups]
    project: ProjectEvents
    live: Reports
    with_rollups: Reports


async def tracking_on(db: Any) -> Tracking:
    clock = FixedClock(NOW)
    cases, calls, store = MongoCaseStore(db), MongoCallStore(db), MongoRollupStore(db)
    await cases.ensure_indexes()
    claims = MongoClaims(db)
    replicas = [DailyRollups(store, cases, calls, clock, claims, f"replica-{n}") for n in range(2)]
    return Tracking(
        db,
        store,
        replicas,
        ProjectEvents(cases, calls, load_policy(), rollups=replicas[0]),
        Reports(cases, calls, clock),
        Reports(cases, calls, clock, rollups=replicas[1]),
    )


async def test_rollups_on_ferretdb_equal_counting_the_cases(mongo: Any, unique: str) -> None:
    t = await tracking_on(mongo[f"test_tracking_rollups_{unique}"])
    store, replicas, project, live, with_rollups = t.store, t.replicas, t.project, t.live, t.with_rollups
    events = history()
    for n in range(0, len(events), 9):
        await project(events[n : n + 9])
    expected = await reports_of(live)
    assert expected["funnel"].cases_registered == 35 and expected["session"].cases_registered == 5
    # Every day still dirty: computed from its cases when asked.
    assert await reports_of(with_rollups) == expected
    await asyncio.gather(*(r.recompute_dirty() for r in replicas))
    assert await store.pending() == {}
    assert await reports_of(with_rollups) == expected
    # The whole history again (a replay): nothing counts twice.
    await project(events)
    await replicas[0].recompute_dirty()
    assert await reports_of(with_rollups) == expected
    assert await reports_of(live) == expected


async def test_folds_by_two_replicas_while_batches_land_and_reports_read_lose_nothing(
    mongo: Any, unique: str
) -> None:
    t = await tracking_on(mongo[f"test_tracking_folds_{unique}"])
    db, store, replicas, project, with_rollups = t.db, t.store, t.replicas, t.project, t.with_rollups
    stop = asyncio.Event()
    folds = reads = 0

    async def folding(rollups: DailyRollups) -> None:
        nonlocal folds
        while not stop.is_set():
            folds += await rollups.recompute_dirty()
            await asyncio.sleep(0)

    async def reading() -> None:
        nonlocal reads
        while not stop.is_set():
            await reports_of(with_rollups)  # a fold removing what a read listed is read again
            reads += 1

    background = [asyncio.create_task(folding(r)) for r in replicas] + [asyncio.create_task(reading())]
    events = history()
    for n in range(0, len(events), 5):
        await project(events[n : n + 5])
    stop.set()
    await asyncio.gather(*background)
    assert folds > 0 and reads > 0
    await replicas[0].recompute_dirty()
    assert await store.pending() == {}
    assert await db["report_days_new"].count_documents({}) == 0  # every new fact folded and removed
    assert await reports_of(with_rollups) == await reports_of(t.live)
