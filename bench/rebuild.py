"""Benchmark: rebuild tracking's case projection from the log, against the bench stack.

    uv run python deploy/local/stack.py start --profile bench
    uv run python bench/rebuild.py [--cases 20000]
    uv run python deploy/local/stack.py stop --profile bench

It publishes a realistic case history (registered, routed, acknowledged, resolved, SMS sent and delivered
for each step) to private topics, rebuilds the projection with the same engine and projection code as
`samad replay rebuild tracking`, and prints events/s. In the same run it measures the raw MongoDB write
rate of this machine (unordered bulk inserts of the rebuilt documents, same batch size and number of
concurrent writes) so the figure
can be judged against what the database can take. Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pymongo import AsyncMongoClient, InsertOne  # noqa: E402

from contracts.catalogue import AgencyCode  # noqa: E402
from contracts.events import (  # noqa: E402
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    EventData,
    RouteReason,
    SmsDelivered,
    SmsSent,
    deterministic_id,
    make_event,
)
from contracts.tracking_code import from_seed  # noqa: E402
from services.common.bounded import run_all  # noqa: E402
from services.common.clock import SystemClock  # noqa: E402
from services.ops.adapters.kafka import KafkaLog  # noqa: E402
from services.ops.adapters.projection_store import (  # noqa: E402
    INSERT_CHUNK,
    INSERT_WRITERS,
    MongoProjectionStore,
)
from services.ops.adapters.store import MongoOpsStore  # noqa: E402
from services.ops.bootstrap import current_operator  # noqa: E402
from services.ops.domain.rebuild import Progress, RebuildOptions  # noqa: E402
from services.ops.domain.records import Outgoing  # noqa: E402
from services.ops.domain.timespec import EARLIEST  # noqa: E402
from services.ops.service.rebuild_engine import Rebuilder  # noqa: E402

AGENCIES = list(AgencyCode)


def case_history(i: int, run: str, start: datetime) -> list[EventData]:
    """One case's events, in order, as the four services would publish them."""
    case_id = deterministic_id("bench", run, str(i))
    agency = AGENCIES[i % len(AGENCIES)]
    staff = Actor(kind=ActorKind.agency_staff, id=f"staff-{i % 50}", agency=agency)
    t0 = start + timedelta(seconds=i)
    events: list[EventData] = [
        CaseRegistered(
            case_id=case_id,
            tracking_code=from_seed(case_id),
            county="mashhad",
            citizen=Citizen(phone=f"+98912{i % 10_000_000:07d}", name="شهروند"),
            category="water",
            subject="قطعی آب",
            description=f"آب محله از دیروز قطع است و هنوز وصل نشده؛ پرونده آزمایشی شماره {i}",
            registered_at=t0,
        ),
        CaseRouted(
            case_id=case_id,
            agency=agency,
            reason=RouteReason.classifier,
            confidence=0.9,
            explanation=["واژه «آب» در شرح"],
        ),
    ]

    def sms(step: str) -> list[EventData]:
        sms_id = deterministic_id("bench-sms", case_id, step)
        return [
            SmsSent(
                sms_id=sms_id,
                case_id=case_id,
                source_event_id=deterministic_id("bench-src", case_id, step),
                template=step,
                recipient=f"+98912{i % 10_000_000:07d}",
                text=f"سامانه ۱۱۱: وضعیت پرونده شما «{step}» است.",
                parts=1,
                provider="file",
            ),
            SmsDelivered(
                sms_id=sms_id, case_id=case_id, provider="file", delivered_at=t0 + timedelta(minutes=5)
            ),
        ]

    events += sms("routed")
    if i % 10 < 8:
        events.append(
            CaseStatusChanged(case_id=case_id, status=CaseStatus.in_progress, agency=agency, actor=staff)
        )
    if i % 10 < 6:
        events.append(
            CaseStatusChanged(
                case_id=case_id,
                status=CaseStatus.resolved,
                agency=agency,
                answer="لوله اصلی تعمیر شد و آب وصل است.",
                actor=staff,
            )
        )
        events += sms("resolved")
    return events


async def publish(log: KafkaLog, cases: int, run: str, topics: dict[str, str]) -> int:
    start = datetime.now(UTC) - timedelta(days=30)
    total = 0
    pending: list[Outgoing] = []
    for i in range(cases):
        for data in case_history(i, run, start):
            env = make_event(
                data, source="/samad/bench", event_id=deterministic_id("bench-ev", run, str(total))
            )
            pending.append(
                Outgoing(
                    topics[data.topic],
                    env.key,
                    env.to_json(),
                    [("content-type", b"application/cloudevents+json")],
                )
            )
            total += 1
        if len(pending) >= 20_000:
            await log.send(pending)
            pending = []
    await log.send(pending)
    return total


async def raw_write_rate(
    db: Any, docs: list[dict[str, Any]], batch: int, writers: int, indexes: Any
) -> float:
    """Unordered bulk inserts of the same documents into a collection with the same indexes (created
    first, as the rebuild does), ``writers`` at once as the rebuild writes them: what the database alone
    takes, with no Kafka and no projection."""
    scratch = db["raw_write_probe"]
    await scratch.drop()
    await indexes(db, scratch.name)
    chunks = [docs[i : i + batch] for i in range(0, len(docs), batch)]
    started = time.perf_counter()
    await run_all(
        lambda chunk: scratch.bulk_write([InsertOne(dict(d)) for d in chunk], ordered=False), chunks, writers
    )
    seconds = time.perf_counter() - started
    await scratch.drop()
    return len(docs) / seconds if seconds else 0.0


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kafka", default=os.environ.get("SAMAD_BENCH_KAFKA", "127.0.0.1:24092"))
    parser.add_argument("--mongo", default=os.environ.get("SAMAD_BENCH_MONGO", "mongodb://127.0.0.1:27020/"))
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--keep", action="store_true", help="Keep the topics and database afterwards.")
    args = parser.parse_args()

    from services.ops.adapters.catalog import load_projection

    run = uuid.uuid4().hex[:8]
    base = load_projection("tracking")
    topics = {t: f"bench.{t}.{run}" for t in base.topics}
    projection = load_projection("tracking", topics=list(topics.values()))
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(args.mongo, tz_aware=True)
    db = client[f"bench_tracking_{run}"]
    ops_db = client[f"bench_ops_{run}"]
    async with KafkaLog(args.kafka, client_id="samad-bench") as log:
        for name in topics.values():
            await log.create_topic(name, 12)
        t0 = time.perf_counter()
        events = await publish(log, args.cases, run, topics)
        publish_s = time.perf_counter() - t0
        print(f"published {events:,} events for {args.cases:,} cases in {publish_s:.1f}s", flush=True)

        last = [0.0]

        def progress(p: Progress) -> None:
            now = time.perf_counter()
            if now - last[0] > 2:
                last[0] = now
                print(f"  {p.done:,}/{p.total:,} events", flush=True)

        rebuilder = Rebuilder(
            log,
            MongoOpsStore(ops_db),
            MongoProjectionStore(db, "cases"),
            projection,
            operator=current_operator("bench"),
            clock=SystemClock(),
            on_progress=progress,
        )
        result = await rebuilder.run(
            RebuildOptions(start=EARLIEST, batch_size=args.batch_size, compare=False)
        )
        shadow = db[result.shadow]
        docs = [d async for d in shadow.find({})]
        raw_rate = await raw_write_rate(db, docs, INSERT_CHUNK, INSERT_WRITERS, projection.create_indexes)
        p = result.progress
        figures = {
            "events": p.done,
            "applied": p.applied,
            "documents": len(docs),
            # More than documents: some were written at one checkpoint and replaced at a later one.
            "document_writes": p.documents_written,
            "seconds": round(result.seconds, 2),
            "rebuild_events_per_s": round(result.rate),
            "rebuild_documents_per_s": round(len(docs) / result.seconds) if result.seconds else 0,
            "raw_mongo_inserts_per_s": round(raw_rate),
            # What the database alone would allow, in events: its insert rate times events per document.
            "raw_ceiling_events_per_s": round(raw_rate * p.done / len(docs)) if docs else 0,
            "share_of_raw_ceiling": round(len(docs) / result.seconds / raw_rate, 3)
            if result.seconds and raw_rate
            else 0,
            "load_average": os.getloadavg(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        }
        print()
        print(
            f"rebuild:   {figures['rebuild_events_per_s']:>9,} events/s  ({p.done:,} events, {len(docs):,} case documents, {result.seconds:.1f}s)"
        )
        print(
            f"raw write: {figures['raw_mongo_inserts_per_s']:>9,} documents/s  (unordered bulk inserts of the same documents, same indexes, {INSERT_CHUNK:,} per write, {INSERT_WRITERS} at once, same run)"
        )
        print(
            f"ceiling:   {figures['raw_ceiling_events_per_s']:>9,} events/s  (raw write rate x {p.done / max(len(docs), 1):.1f} events per document); the rebuild runs at {figures['share_of_raw_ceiling']:.0%} of it"
        )
        print(json.dumps(figures))
        if not args.keep:
            await log.delete_topics(list(topics.values()))
            await client.drop_database(db.name)
            await client.drop_database(ops_db.name)
    await client.close()


if __name__ == "__main__":
    asyncio.run(main())
