"""Raw MongoDB ceiling: plain PyMongo async doing the pipeline's writes per case against the same FerretDB.

No SAMAD code: documents are plain dicts shaped like the services' (a case with its timeline and
applied-event ids, SMS ledger records). Each case gets the same sequence of single-document writes the
services make (``WritePlan``); cases are processed in batches, each step of a batch is one unordered
``bulk_write``, and several batches run concurrently. Per-case order holds (a case's steps run one after
another); across cases everything is batched. This is the best this machine's FerretDB does for the
pipeline's writes, so it bounds what the pipeline can reach.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, DeleteOne, InsertOne, ReplaceOne, UpdateOne


@dataclass(frozen=True)
class Step:
    """Writes of one kind per case into one collection.

    ``kind``: insert, upsert, update, replace, find_and_modify, find_and_upsert or delete.
    ``id_only``: the filter is exactly ``{_id: ...}`` (FerretDB's SQLite backend pushes down only that
    shape; any other filter is evaluated by scanning the collection). ``per_case`` may be fractional
    (e.g. 0.5 when every other case makes the write)."""

    db: str
    collection: str
    kind: str
    id_only: bool = True
    per_case: float = 1.0
    label: str = ""


@dataclass(frozen=True)
class WritePlan:
    steps: tuple[Step, ...]
    # (db, collection) -> a document shaped like the service's (without _id)
    templates: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    # (db, collection, keys, unique)
    indexes: tuple[tuple[str, str, tuple[tuple[str, int], ...], bool], ...] = ()
    source: str = "default"

    @property
    def writes_per_case(self) -> float:
        return round(sum(s.per_case for s in self.steps), 2)


ORDER = {
    "insert": 0,
    "upsert": 1,
    "find_and_upsert": 1,
    "update": 2,
    "replace": 2,
    "find_and_modify": 2,
    "delete": 3,
}


def default_plan() -> WritePlan:
    """A plausible plan for a case with two SMS, used when no census of the services is at hand."""
    t, n = "samad_tracking", "samad_notify"
    return WritePlan(
        steps=(
            Step(t, "cases", "insert", label="tracking: case.registered"),
            Step(t, "cases", "replace", id_only=False, per_case=3, label="tracking: routed, 2x sms"),
            Step(n, "sms_ledger", "insert", per_case=2, label="notify: ledger pending"),
            Step(n, "sms_ledger", "update", id_only=False, per_case=4, label="notify: ledger moves"),
        ),
        templates={(t, "cases"): _case_template()},
        indexes=(
            (t, "cases", (("tracking_code", ASCENDING),), False),
            (
                t,
                "cases",
                (("agency", ASCENDING), ("status", ASCENDING), ("registered_at", DESCENDING)),
                False,
            ),
        ),
    )


def plan_from_census(
    census: dict[str, dict[str, int]],
    cases: int,
    templates: dict[tuple[str, str], dict[str, Any]],
    indexes: tuple[tuple[str, str, tuple[tuple[str, int], ...], bool], ...] = (),
) -> WritePlan:
    """Turn the services' measured write statements (bench.instrument) into a per-case plan.

    ``census`` maps service -> {"db|collection|kind|filter keys": statements}; ``cases`` is how many
    cases those statements served. Database names keep only their service suffix."""
    steps = []
    for service, writes in sorted(census.items()):
        for key, count in sorted(writes.items()):
            _db, coll, kind, shape = key.split("|", 3)
            per_case = count / max(1, cases)
            if per_case < 0.05:
                continue  # start-up and housekeeping writes, not per case
            steps.append(
                Step(
                    f"samad_{service}",
                    coll,
                    kind,
                    id_only=shape in ("_id", ""),
                    per_case=round(per_case, 3),
                    label=f"{service}: {coll} {kind} by {{{shape}}}",
                )
            )
    steps.sort(key=lambda s: (s.db, s.collection, ORDER.get(s.kind, 9)))
    return WritePlan(tuple(steps), templates, indexes, source="census")


def _case_template() -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "tracking_code": "1234567890",
        "province": "khorasan_razavi",
        "county": "mashhad",
        "status": "registered",
        "agency": None,
        "citizen": {"phone": "+989121234567"},
        "subject": "قطعی آب در محله",
        "description": "سه روز است آب محله ما قطع است و کسی پاسخگو نیست. لطفاً پیگیری کنید. " * 3,
        "registered_at": now,
        "updated_at": now,
        "timeline": [{"type": "case.registered", "at": now, "text": "ثبت شد"}],
    }


def _ops(step: Step, ids: list[str], template: dict[str, Any], round_no: int) -> list[Any]:
    ops: list[Any] = []
    for doc_id in ids:
        filt: dict[str, Any] = {"_id": doc_id}
        if not step.id_only:
            filt["bench_never"] = {"$exists": False}  # always true, but not the pushed-down shape
        if step.kind == "insert":
            ops.append(InsertOne({**template, "_id": doc_id}))
        elif step.kind == "upsert":
            ops.append(
                UpdateOne(filt, {"$set": {"bench_round": round_no}, "$setOnInsert": template}, upsert=True)
            )
        elif step.kind == "update":
            ops.append(UpdateOne(filt, {"$set": {"bench_round": round_no}}))
        elif step.kind == "replace":
            ops.append(ReplaceOne(filt, {**template, "bench_round": round_no}))
        elif step.kind == "delete":
            ops.append(DeleteOne(filt))
        else:
            raise ValueError(f"not a bulk kind: {step.kind}")
    return ops


@dataclass
class MongoCeiling:
    cases: int
    writes: int
    seconds: float
    cases_per_second: float
    writes_per_second: float
    batch: int
    concurrency: int
    statements_per_command: int
    plan_source: str
    writes_per_case: float
    steps: list[str] = field(default_factory=list)


async def _measure(url: str, cases: int, plan: WritePlan, batch: int, concurrency: int) -> MongoCeiling:
    run = uuid.uuid4().hex[:8]
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, tz_aware=True, w="majority")
    names = sorted({s.db for s in plan.steps})
    dbs = {name: client[f"bench_raw_{run}_{name.removeprefix('samad_')}"] for name in names}
    # FerretDB 1.24 (SQLite) keeps a pooled connection per update statement open until the whole
    # command ends, and its pool holds 100: 100 or more update statements in flight on one database
    # deadlock it. Keep commands (times concurrency) below that.
    per_command = max(1, min(batch, 96 // concurrency))
    statements = 0
    try:
        for db, coll, keys, unique in plan.indexes:
            if db in dbs:
                await dbs[db][coll].create_index(list(keys), unique=unique)
        chunks = [list(range(start, min(cases, start + batch))) for start in range(0, cases, batch)]

        async def run_chunk(name: str, chunk_no: int, chunk: list[int]) -> int:
            done = 0
            db = dbs[name]
            created: dict[str, list[str]] = {}
            for step in (s for s in plan.steps if s.db == name):
                template = plan.templates.get((step.db, step.collection), {"v": 0})
                # Fractional per-case counts: this chunk's share of the statements.
                n = round(step.per_case * len(chunk))
                if n == 0:
                    continue
                pool = created.setdefault(step.collection, [])
                if step.kind in ("insert", "upsert", "find_and_upsert") or not pool:
                    ids = [f"{chunk_no}-{step.kind}-{i}-{uuid.uuid4().hex[:6]}" for i in range(n)]
                    if step.kind not in ("insert", "upsert", "find_and_upsert"):
                        # An update with nothing created before it in this collection: create its targets
                        # (not counted) so it has documents to find.
                        await db[step.collection].insert_many([{**template, "_id": i} for i in ids])
                    pool.extend(ids)
                else:
                    ids = [pool[i % len(pool)] for i in range(n)]
                if step.kind in ("find_and_modify", "find_and_upsert"):
                    for round_no, doc_id in enumerate(ids):
                        filt: dict[str, Any] = {"_id": doc_id}
                        if not step.id_only:
                            filt["bench_never"] = {"$exists": False}
                        await db[step.collection].find_one_and_update(
                            filt,
                            {"$set": {"bench_round": round_no}, "$setOnInsert": {"v": 0}},
                            upsert=step.kind == "find_and_upsert",
                        )
                else:
                    ops = _ops(step, ids, template, chunk_no)
                    for i in range(0, len(ops), per_command):
                        await db[step.collection].bulk_write(ops[i : i + per_command], ordered=False)
                if step.kind == "delete":
                    for doc_id in ids:
                        if doc_id in pool:
                            pool.remove(doc_id)
                done += n
            return done

        async def worker(name: str, queue: asyncio.Queue[tuple[int, list[int]]]) -> int:
            total = 0
            while not queue.empty():
                chunk_no, chunk = queue.get_nowait()
                total += await run_chunk(name, chunk_no, chunk)
            return total

        # One queue per database: a case's writes in one database run in order; the databases (one
        # SQLite file each behind FerretDB) are written concurrently, as the services write them.
        queues: dict[str, asyncio.Queue[tuple[int, list[int]]]] = {}
        for name in names:
            queues[name] = asyncio.Queue()
            for item in enumerate(chunks):
                queues[name].put_nowait(item)
        started = time.perf_counter()
        counts = await asyncio.gather(
            *(worker(name, queues[name]) for name in names for _ in range(concurrency))
        )
        seconds = time.perf_counter() - started
        statements = sum(counts)
    finally:
        for database in dbs.values():
            await client.drop_database(database.name)
        await client.close()
    return MongoCeiling(
        cases=cases,
        writes=statements,
        seconds=round(seconds, 3),
        cases_per_second=round(cases / seconds, 1),
        writes_per_second=round(statements / seconds, 1),
        batch=batch,
        concurrency=concurrency,
        statements_per_command=per_command,
        plan_source=plan.source,
        writes_per_case=plan.writes_per_case,
        steps=[f"{s.per_case:g} x {s.label or s.kind}" for s in plan.steps],
    )


def measure(
    url: str, cases: int, plan: WritePlan | None = None, batch: int = 500, concurrency: int = 4
) -> MongoCeiling:
    return asyncio.run(_measure(url, cases, plan or default_plan(), batch, concurrency))


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default="mongodb://127.0.0.1:27040/")
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    result = measure(args.url, args.cases, batch=args.batch, concurrency=args.concurrency)
    print(json.dumps(asdict(result), indent=2, ensure_ascii=False))
