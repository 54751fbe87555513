"""How long each report takes over a large database, and how long it holds the event loop.

Tracking's HTTP app and its Kafka consumer share one event loop: while a report keeps the loop, the
consumer neither fetches nor sends its heartbeats (aiokafka's session timeout is 10 s; past it the
group takes the partitions away). This seeds a scratch database of the given server (the test stack's
FerretDB by default) with cases and calls spread over most of a year, runs each report over the whole
span through the same use case the API calls, and prints its time and the longest stretch the loop
went without running another task (a ticker that asks to wake every 5 ms). It fails nothing.

    uv run python bench/report_loop.py --cases 20000 --keep        # seed, measure, keep the database
    uv run python bench/report_loop.py --db bench_reports_ab12cd   # measure again on it
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from datetime import UTC, datetime, timedelta

from contracts.catalogue import AgencyCode
from contracts.events import CallOutcome
from services.common.clock import FixedClock
from services.common.mongo import make_client
from services.tracking.adapters.calls import MongoCallStore, call_document
from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.domain.projection import apply_all
from services.tracking.service.reports import Reports
from tests.unit.tracking.factory import CaseEvents, call

FIRST = datetime(2026, 1, 1, 6, 0, tzinfo=UTC)
DAYS = 300
AGENCIES = list(AgencyCode)


async def seed(db: object, cases: int) -> None:
    batch: list[dict[str, object]] = []
    calls: list[dict[str, object]] = []
    step = timedelta(days=DAYS) / cases
    for i in range(cases):
        at = FIRST + step * i
        c = CaseEvents(f"bench-{i}", start=at)
        agency = AGENCIES[i % len(AGENCIES)]
        events = [c.registered(county=("mashhad", "neyshabur", "sabzevar")[i % 3]), c.routed(agency)]
        if i % 2:
            events += [c.acknowledged(agency=agency), c.resolved(agency=agency)]
        batch.append(apply_all(None, events).to_document())
        e = call(f"bench-call-{i}", CallOutcome.answered if i % 4 else CallOutcome.missed, None, at)
        calls.append(call_document(e, e.data))  # type: ignore[arg-type]
        if len(batch) == 1000:
            await db["cases"].insert_many(batch)  # type: ignore[index]
            await db["calls"].insert_many(calls)  # type: ignore[index]
            batch, calls = [], []
    if batch:
        await db["cases"].insert_many(batch)  # type: ignore[index]
        await db["calls"].insert_many(calls)  # type: ignore[index]


async def measure(reports: Reports, name: str, first: str, last: str) -> tuple[float, float]:
    stall = 0.0
    running = True

    async def ticker() -> None:
        nonlocal stall
        while running:
            start = time.perf_counter()
            await asyncio.sleep(0.005)
            stall = max(stall, time.perf_counter() - start - 0.005)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    began = time.perf_counter()
    await getattr(reports, name)(first, last)
    took = time.perf_counter() - began
    running = False
    await task
    return took, stall


async def main(url: str, cases: int, db_name: str | None, keep: bool) -> None:
    client = make_client(url, "bench-reports")
    name = db_name or f"bench_reports_{uuid.uuid4().hex[:6]}"
    db = client[name]
    try:
        if db_name is None:
            began = time.perf_counter()
            await seed(db, cases)
            print(f"seeded {cases} cases and calls into {name} in {time.perf_counter() - began:.0f} s")
        count = await db["cases"].count_documents({})
        now = FIRST + timedelta(days=DAYS + 1)
        reports = Reports(MongoCaseStore(db), MongoCallStore(db), FixedClock(now))
        first, last = FIRST.date().isoformat(), (FIRST + timedelta(days=DAYS)).date().isoformat()
        print(f"{count} cases over {first} … {last}, {url.split('@')[-1]}")
        print(f"{'report':<10} {'seconds':>8} {'longest loop stall, ms':>24}")
        for report in ("funnel", "agencies", "counties", "weeks"):
            took, stall = await measure(reports, report, first, last)
            print(f"{report:<10} {took:>8.2f} {stall * 1000:>24.1f}")
    finally:
        if not keep:
            await client.drop_database(name)
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("SAMAD_TEST_MONGO", "mongodb://127.0.0.1:27018/"))
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--db", default=None, help="an already seeded database (kept)")
    parser.add_argument("--keep", action="store_true", help="keep the seeded database")
    args = parser.parse_args()
    asyncio.run(main(args.url, args.cases, args.db, args.keep or args.db is not None))
