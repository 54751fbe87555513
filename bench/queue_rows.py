"""What the agencies' queue rows cost and give on FerretDB v1: the projection's rate with and without
them, and the time of the inbox's first page from tracking's store (with the use case's view of the
25 cases) read from the rows or queried.

    uv run --frozen python bench/queue_rows.py                # 5,000 open cases of one agency, 100 of each other
    uv run --frozen python bench/queue_rows.py --quick        # small numbers, to check the harness

Starts its own stack (profile ``bench``, data wiped first; SAMAD_STACK_PORTS moves it) and uses its
FerretDB only. The same seed as ``bench/inbox.py`` (registered, routed, a third acknowledged) is
applied with ``apply_events`` in batches of 250 events, as tracking's consumer applies them, once into
a store that keeps rows and once into one that does not (order alternated by ``--rounds``). Then the
first page (newest first, then most urgent first, the default open view) is timed through
``AgencyQueue``: the rows' store ``--samples`` times, the queried store a few times (each reads every
case). It prints figures and fails nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import AsyncMongoClient  # noqa: E402

from bench.harness import BENCH, percentile  # noqa: E402
from bench.inbox import INBOX_AGENCY, inbox_seed  # noqa: E402
from contracts.events import make_event  # noqa: E402
from services.common.clock import FixedClock  # noqa: E402
from services.tracking.adapters.cases import MongoCaseStore  # noqa: E402
from services.tracking.adapters.data import load_policy  # noqa: E402
from services.tracking.domain.access import Staff  # noqa: E402
from services.tracking.domain.queue import OPEN, QueueFilter  # noqa: E402
from services.tracking.service.agency_queue import AgencyQueue  # noqa: E402
from services.tracking.service.project_events import apply_events  # noqa: E402

BATCH = 250


async def project(store: MongoCaseStore, envelopes: list[Any]) -> float:
    """Seconds to apply every envelope in consumer-sized batches."""
    policy = load_policy()
    started = time.perf_counter()
    for i in range(0, len(envelopes), BATCH):
        await apply_events(store, envelopes[i : i + BATCH], policy)
    return time.perf_counter() - started


async def first_pages(store: MongoCaseStore, now: datetime, samples: int) -> dict[str, list[float]]:
    """Per order: the use case's times (the store's page and the staff view of its cases), then the
    store's alone."""
    queue = AgencyQueue(store, FixedClock(now), load_policy())
    staff = Staff("agency_staff", "bench-staff", INBOX_AGENCY.value)
    times: dict[str, list[float]] = {}
    for sort in ("newest", "urgent"):
        f = QueueFilter(INBOX_AGENCY.value, status=OPEN, sort=sort)
        await queue(staff, INBOX_AGENCY.value, status=OPEN, sort=sort, page_size=25)  # warm
        whole, alone = times.setdefault(sort, []), times.setdefault(f"{sort} (store alone)", [])
        for _ in range(samples):
            started = time.perf_counter()
            page = await queue(staff, INBOX_AGENCY.value, status=OPEN, sort=sort, page_size=25)
            whole.append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            await store.queue(f, now, 0, 25)
            alone.append((time.perf_counter() - started) * 1000)
        assert len(page.items) == 25, f"a first page of {len(page.items)} cases"
    return times


def ms(values: list[float]) -> str:
    p50, p95 = percentile(values, 50) or 0.0, percentile(values, 95) or 0.0
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  (n={len(values)})"


async def run(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    seed = list(inbox_seed("queue-bench", args.inbox_cases, args.per_other, now))
    envelopes = [make_event(data, source="/samad/queue-bench", time=at) for data, at in seed]
    print(f"seed: {len(envelopes)} events, {args.inbox_cases} open cases of {INBOX_AGENCY.value}")
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(BENCH.mongo_url, tz_aware=True)
    rates: dict[str, list[float]] = {"rows": [], "queried": []}
    try:
        stores: dict[str, MongoCaseStore] = {}
        for r in range(args.rounds):
            order = ("rows", "queried") if r % 2 == 0 else ("queried", "rows")
            for kind in order:
                db = client[f"bench_queue_{kind}"]
                await client.drop_database(db.name)
                store = MongoCaseStore(db, queue_rows=kind == "rows")
                await store.ensure_indexes()
                seconds = await project(store, envelopes)
                rates[kind].append(len(envelopes) / seconds)
                print(
                    f"round {r + 1}: projected with{'out' if kind == 'queried' else ''} rows: "
                    f"{len(envelopes) / seconds:6.0f} events/s ({seconds:.1f} s)"
                )
                stores[kind] = store
        pages_rows = await first_pages(stores["rows"], now, args.samples)
        pages_queried = await first_pages(stores["queried"], now, args.queried_samples)
    finally:
        await client.close()
    print()
    print(f"load average now: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    for kind, values in rates.items():
        print(
            f"projection {kind:8}: median {statistics.median(values):6.0f} events/s over {len(values)} run(s)"
        )
    ratio = statistics.median(rates["rows"]) / statistics.median(rates["queried"])
    print(f"projection with rows / without: {ratio:.2f}")
    for name in pages_rows:
        print(f"first page, {name:21} from rows: {ms(pages_rows[name])}")
        print(f"first page, {name:21} queried:   {ms(pages_queried[name])}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--inbox-cases", type=int, default=5_000)
    parser.add_argument("--per-other", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2, help="projections of the seed, each way")
    parser.add_argument("--samples", type=int, default=200, help="timed first pages from the rows")
    parser.add_argument("--queried-samples", type=int, default=3, help="timed first pages queried")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--keep-stack", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.inbox_cases, args.per_other, args.rounds, args.samples = 300, 5, 1, 20
    print(f"starting a fresh stack (profile {BENCH.name}, FerretDB {BENCH.mongo_url})")
    BENCH.start(fresh=True)
    try:
        asyncio.run(run(args))
    finally:
        if not args.keep_stack:
            BENCH.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
