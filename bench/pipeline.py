"""End-to-end benchmark of the SAMAD-111 pipeline against the machine's raw Kafka and MongoDB ceilings.

    make bench                       # = uv run --frozen python bench/pipeline.py
    python bench/pipeline.py --quick # a short run to check the harness
    python bench/pipeline.py --profile-services   # also profile every service with pyinstrument

Starts its own stack (profile ``pipeline``: Kafka 127.0.0.1:26092, FerretDB 127.0.0.1:27040, data
wiped first), the four services as separate processes, then measures:

1. latency at fixed offered rates through intake's real HTTP API: accepted (201) -> visible in
   tracking's staff API, and -> routed with both SMS on the case;
2. sustained throughput at saturation, driven through the API (closed loop), counted as cases
   tracked as routed with both SMS and both SMS submitted in notify's ledger;
3. the same driven by publishing case.registered straight to Kafka (bypasses intake's HTTP front);
4. peak and steady RSS of each service (psutil);
5. raw ceilings of the same machine in the same run: plain aiokafka through the same hops, and plain
   PyMongo async replaying the write statements the services actually made per case (counted by a
   PyMongo command listener while they ran);
6. the cost of tracing: the same saturation, through the API and from Kafka, on two fresh stacks, first
   with tracing off, then with every service exporting its spans to the profile's Jaeger (OTLP/HTTP)
   (``--tracing-cases N``, 0 to skip; ``--tracing-only`` runs this part alone);
7. the cost of sealing personal fields (docs/privacy.md): the same saturation on two fresh stacks, with
   the personal fields in plain form, then sealed (``--sealing-cases N``, 0 to skip;
   ``--sealing-only`` runs this part alone).

Writes bench/results/pipeline-<time>.json and .png (latency percentiles against offered rate), and
prints a table. Only 127.0.0.1 is addressed; every phase is bounded in cases and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # noqa: E402
from pymongo import AsyncMongoClient  # noqa: E402

from bench import raw_kafka, raw_mongo  # noqa: E402
from bench.harness import COMPLAINTS, PIPELINE, SERVICES, Pipeline, RssSampler, StackProfile  # noqa: E402
from bench.load import Driver, Progress, Sample, summary_ms  # noqa: E402
from contracts.topics import NOTIFICATIONS  # noqa: E402

RESULTS = ROOT / "bench" / "results"
MB = 1024 * 1024


def say(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def machine() -> dict[str, Any]:
    model = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


# --- completion, read from the services' own databases ---------------------------------------------


class Completion:
    """Finished cases: tracked as routed with two SMS, and those two SMS submitted or delivered in
    notify's ledger.

    A case is confirmed by ``_id`` reads (its tracking document, then the two ledger records it names)
    once notify's topic has carried an ``sms.sent`` for each of its two SMS; until then it is not
    read at all. So confirming costs about three reads per case, where a count over the collections,
    as this used to be, made FerretDB read every document of both at each poll (3-4 s of its time on
    1,500 cases) and competed with the pipeline it measures. The topic only says which cases to read:
    a case counts when the databases hold it. Should the topic say nothing new for a while, the
    oldest unfinished cases are read anyway (``LOOKAHEAD`` of them per poll)."""

    LOOKAHEAD = 8
    POLL_SECONDS = 1.0

    def __init__(self, pipeline: Pipeline) -> None:
        self.client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(pipeline.profile.mongo_url)
        self.cases = self.client[pipeline.db("tracking")]["cases"]
        self.ledger = self.client[pipeline.db("notify")]["sms_ledger"]
        self.consumer = AIOKafkaConsumer(
            NOTIFICATIONS,
            bootstrap_servers=pipeline.profile.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
        )
        self.sent: dict[str, set[str]] = {}  # case id -> ids of its SMS with an sms.sent on the topic

    async def start(self) -> None:
        """Start reading notify's topic from its end (before the first case is sent)."""
        await self.consumer.start()
        await self.consumer.seek_to_end()

    async def _read_topic(self) -> None:
        batches = await self.consumer.getmany(timeout_ms=0, max_records=100_000)
        for records in batches.values():
            for record in records:
                event = json.loads(record.value or b"{}")
                if event.get("type") == "ir.samad.sms.sent":
                    self.sent.setdefault(event["subject"], set()).add(event["data"]["sms_id"])

    async def finished(self, case_id: str) -> tuple[bool, int]:
        """Whether the case is finished, and how many of its SMS are submitted or delivered."""
        case = await self.cases.find_one({"_id": case_id}, {"status": 1, "sms.sms_id": 1})
        sms = (case or {}).get("sms") or []
        if case is None or case.get("status") != "routed" or len(sms) < 2:
            return False, 0
        ledgered = 0
        for entry in sms[:2]:
            record = await self.ledger.find_one({"_id": entry["sms_id"]}, {"state": 1})
            ledgered += record is not None and record["state"] in ("submitted", "delivered")
        return ledgered == 2, ledgered

    async def sweep(self, pending: list[str]) -> tuple[list[str], int]:
        """The cases still unfinished, in order, and the SMS ledgered among those read."""
        await self._read_topic()
        announced = [c for c in pending if len(self.sent.get(c, ())) >= 2]
        to_read = announced or pending[: self.LOOKAHEAD]
        partial = 0
        finished: set[str] = set()
        for case_id in to_read:
            done, ledgered = await self.finished(case_id)
            if done:
                finished.add(case_id)
            else:
                partial += ledgered
        return [c for c in pending if c not in finished], partial

    async def wait(
        self,
        case_ids: Sequence[str],
        timeout: float,
        started: float,
        progress: Progress | None = None,
        sending: asyncio.Task[Any] | None = None,
        skip: int = 0,
    ) -> tuple[float | None, tuple[int, int]]:
        """Poll until every case is finished; returns the time it happened and (finished cases,
        SMS ledgered: two per finished case, plus those found for cases read and not finished).
        ``sending``: the task still adding to ``case_ids`` (a list it appends to); the wait starts
        while it runs, so progress is seen when it happens, and ends only after it. ``skip``: the
        ids at the start of ``case_ids`` that belong to earlier phases."""
        deadline = time.perf_counter() + timeout
        pending: list[str] = []
        known = skip
        counts = (0, 0)
        while True:
            adding = sending is not None and not sending.done()
            pending += case_ids[known:]
            known = len(case_ids)
            pending, partial = await self.sweep(pending)
            now = time.perf_counter()
            done = known - skip - len(pending)
            counts = (done, 2 * done + partial)
            if progress is not None:
                progress.points.append((now - started, *counts))
            if not pending and not adding:
                return now, counts
            if now >= deadline:
                return None, counts
            await asyncio.sleep(self.POLL_SECONDS)

    async def close(self) -> None:
        await self.consumer.stop()
        await self.client.close()


# --- phases ----------------------------------------------------------------------------------------


async def latency_phases(
    driver: Driver, completion: Completion, rates: list[float], seconds: float, cap: int, done_so_far: int
) -> tuple[list[dict[str, Any]], int]:
    results = []
    total = done_so_far
    for rate in rates:
        count = int(min(cap, max(20, rate * seconds)))
        say(f"offered {rate:g}/s: {count} cases through POST /v1/cases")
        first = len(driver.accepted_ids)
        result = await driver.offered(rate, count)
        total += result["accepted"]
        drained_at, counts = await completion.wait(
            driver.accepted_ids[first:], timeout=300, started=time.perf_counter()
        )
        result["drained"] = drained_at is not None
        results.append(result)
        v = result["visible_ms"]
        say(
            f"  sent {result['send_rate']}/s, accepted {result['accepted_rate']}/s; visible p50 {v['p50']} "
            f"p95 {v['p95']} p99 {v['p99']} ms (n={v['n']}); drained: {result['drained']} {counts}"
        )
    return results, total


async def saturation_api(
    driver: Driver, completion: Completion, count: int, concurrency: int
) -> dict[str, Any]:
    say(f"saturation through the API: {count} cases, {concurrency} concurrent clients")
    progress = Progress()
    first = len(driver.accepted_ids)
    started = time.perf_counter()
    api_done = started

    async def send() -> list[Sample]:
        nonlocal api_done
        samples = await driver.saturate(count, concurrency)
        api_done = time.perf_counter()
        return samples

    sending = asyncio.create_task(send())
    finished, counts = await completion.wait(
        driver.accepted_ids,
        timeout=max(600.0, count / 2),
        started=started,
        progress=progress,
        sending=sending,
        skip=first,
    )
    samples = await sending
    accepted = [s for s in samples if s.ok]
    end = finished or time.perf_counter()
    return {
        "cases": count,
        "accepted": len(accepted),
        "rejected": len(samples) - len(accepted),
        "errors": sorted({s.error for s in samples if s.error})[:3],
        "concurrency": concurrency,
        "api_seconds": round(api_done - started, 2),
        "api_accept_rate": round(len(accepted) / (api_done - started), 1),
        "request_ms": summary_ms([s.accepted - s.sent for s in accepted if s.accepted]),
        "completed": finished is not None,
        "tracked": counts[0],
        "sms_ledgered": counts[1],
        "end_to_end_seconds": round(end - started, 2),
        # Unfinished within the time limit: count only what did finish.
        "end_to_end_rate": round(
            (len(accepted) if finished else counts[0]) / (end - started),
            2,
        ),
        "steady_rate_10_90": progress.rate_between(0.1, 0.9, len(accepted)),
        "progress": [(round(t, 2), d, n) for t, d, n in progress.points],
    }


async def saturation_kafka(pipeline: Pipeline, completion: Completion, count: int) -> dict[str, Any]:
    """Publish case.registered straight to Kafka (intake's HTTP front bypassed), as fast as possible."""
    from contracts.events import CaseRegistered, Citizen, deterministic_id, make_event
    from contracts.topics import CASES
    from contracts.tracking_code import from_seed

    say(f"saturation from Kafka: {count} case.registered events published directly")
    run = pipeline.run_id
    producer = AIOKafkaProducer(
        bootstrap_servers=pipeline.profile.bootstrap, acks="all", enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    progress = Progress()
    started = time.perf_counter()
    case_ids = [deterministic_id("bench", run, "kafka", str(i)) for i in range(count)]
    try:
        futures = []
        for i, case_id in enumerate(case_ids):
            _agency, subject, description = COMPLAINTS[i % len(COMPLAINTS)]
            event = make_event(
                CaseRegistered(
                    case_id=case_id,
                    tracking_code=from_seed(case_id),
                    county="mashhad",
                    citizen=Citizen(phone=f"+98913{i % 10_000_000:07d}"),
                    subject=subject,
                    description=f"{description} (پرونده ک{i})",
                    registered_at=datetime.now(UTC),
                ),
                source="/bench/kafka",
            )
            futures.append(
                await producer.send(
                    CASES,
                    event.to_json(),
                    key=event.key,
                    headers=[("content-type", b"application/cloudevents+json")],
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    published = time.perf_counter()
    finished, counts = await completion.wait(
        case_ids, timeout=max(600.0, count / 2), started=started, progress=progress
    )
    end = finished or time.perf_counter()
    return {
        "cases": count,
        "publish_seconds": round(published - started, 2),
        "completed": finished is not None,
        "tracked": counts[0],
        "sms_ledgered": counts[1],
        "end_to_end_seconds": round(end - started, 2),
        "end_to_end_rate": round(
            (count if finished else counts[0]) / (end - started),
            2,
        ),
        "steady_rate_10_90": progress.rate_between(0.1, 0.9, count),
        "progress": [(round(t, 2), d, n) for t, d, n in progress.points],
    }


# --- the census and the raw MongoDB plan -----------------------------------------------------------


def read_censuses(outdir: Path) -> dict[str, dict[str, Any]]:
    """Each service's census file (bench/instrument.py), by service."""
    return {
        name: json.loads(path.read_text())
        for name in SERVICES
        if (path := outdir / f"{name}-census.json").exists()
    }


async def write_plan(
    pipeline: Pipeline, census: dict[str, dict[str, int]], cases: int
) -> raw_mongo.WritePlan | None:
    if not census:
        return None
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(pipeline.profile.mongo_url, tz_aware=True)
    templates: dict[tuple[str, str], dict[str, Any]] = {}
    indexes = []
    try:
        for name, writes in census.items():
            db = client[pipeline.db(name)]
            for coll in {k.split("|")[1] for k in writes}:
                doc = await db[coll].find_one({})
                if doc is not None:
                    doc.pop("_id", None)
                    templates[(f"samad_{name}", coll)] = doc
                async for ix in await db[coll].list_indexes():
                    keys = tuple((str(k), int(v)) for k, v in ix["key"].items())
                    if keys != (("_id", 1),):
                        indexes.append((f"samad_{name}", coll, keys, bool(ix.get("unique"))))
    finally:
        await client.close()
    # Census database names are the run's (run_<id>_<svc>): key them by service.
    by_service = {
        name: {"|".join([f"samad_{name}", *k.split("|")[1:]]): v for k, v in writes.items()}
        for name, writes in census.items()
    }
    return raw_mongo.plan_from_census(by_service, cases, templates, tuple(indexes))


# --- report ----------------------------------------------------------------------------------------


def chart(report: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    phases = [p for p in report["latency"] if p["visible_ms"]["n"]]
    if not phases:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = [p["offered_rate"] for p in phases]
    for q, style in (("p50", "o-"), ("p95", "s-"), ("p99", "^-")):
        ax.plot(xs, [p["visible_ms"][q] for p in phases], style, label=f"visible {q}")
    complete = [p["complete_ms"]["p50"] for p in phases]
    if any(c is not None for c in complete):
        ax.plot(xs, complete, "x--", label="routed + 2 SMS, p50")
    for p in phases:
        ax.annotate(
            f"achieved {p['accepted_rate']:g}/s",
            (p["offered_rate"], p["visible_ms"]["p99"] or 0),
            textcoords="offset points",
            xytext=(4, 6),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("offered rate (cases/s, POST /v1/cases)")
    ax.set_ylabel("latency from 201 to visible in tracking (ms)")
    m = report["machine"]
    ax.set_title(f"SAMAD-111 pipeline latency — {m['nproc']} cores, {m['cpu_model'][:40]}", fontsize=9)
    ax.axhline(100, color="grey", linestyle=":", linewidth=1)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


async def saturate_both(pipeline: Pipeline, cases: int, concurrency: int) -> dict[str, Any]:
    """Warm up, then saturate through the API and from Kafka: the figures the tracing pair compares."""
    profile = pipeline.profile
    driver = Driver(
        pipeline["intake"].url,
        pipeline["tracking"].url,
        profile.seed_token("operator"),
        profile.seed_token("supervisor"),
        salt=2,
    )
    completion = Completion(pipeline)
    await completion.start()
    try:
        warm = await driver.offered(20, 40)
        await completion.wait(driver.accepted_ids, timeout=120, started=time.perf_counter())
        api = await saturation_api(driver, completion, cases, concurrency)
        kafka = await saturation_kafka(pipeline, completion, cases)
    finally:
        await completion.close()
        await driver.close()
    return {"warm_up": warm["accepted"], "api": api, "kafka": kafka}


def _saturation_pass(
    outdir: Path, tag: str, cases: int, concurrency: int, extra: Callable[[StackProfile], dict[str, str]]
) -> dict[str, Any]:
    """One saturation (through the API and from Kafka) on a fresh stack, with ``extra(profile)`` in
    every service's environment: throughput, CPU and memory."""
    profile = PIPELINE
    say(f"{tag}: a fresh stack, {cases} cases through the API and {cases} from Kafka")
    profile.start(fresh=True)
    pipeline = Pipeline(profile, outdir / tag.replace(" ", "-"), extra_env=extra(profile))
    try:
        pipeline.start()
        infra_before = profile.cpu_seconds()
        with RssSampler(pipeline) as rss:
            figures = asyncio.run(saturate_both(pipeline, cases, concurrency))
        infra_after = profile.cpu_seconds()
    finally:
        pipeline.stop()
    done = {
        "api_cases_per_second": figures["api"]["end_to_end_rate"],
        "kafka_cases_per_second": figures["kafka"]["end_to_end_rate"],
        "completed": figures["api"]["completed"] and figures["kafka"]["completed"],
        "service_cpu_seconds": round(sum(rss.cpu_seconds.values()), 1),
        "infra_cpu_seconds": {k: round(infra_after[k] - infra_before[k], 1) for k in infra_after},
        "peak_rss_mb": {name: round(rss.peak[name] / MB, 1) for name in SERVICES},
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }
    say(
        f"  {tag}: API {done['api_cases_per_second']} cases/s, from Kafka "
        f"{done['kafka_cases_per_second']} cases/s, service CPU {done['service_cpu_seconds']} s"
    )
    return done


def _pair(cases: int, passes: dict[str, Any], off: str, on: str) -> dict[str, Any]:
    a, b = passes[off], passes[on]

    def cost(key: str) -> float | None:
        return round(1 - b[key] / a[key], 3) if a[key] else None

    return {
        "cases": cases,
        "passes": passes,
        "throughput_cost": {"api": cost("api_cases_per_second"), "kafka": cost("kafka_cases_per_second")},
        "service_cpu_increase": round(b["service_cpu_seconds"] / a["service_cpu_seconds"] - 1, 3)
        if a["service_cpu_seconds"]
        else None,
    }


# The share of traces a production deployment keeps (deploy/k8s/base: SAMAD_TRACING_SAMPLE_RATIO).
PRODUCTION_SAMPLE_RATIO = 0.1


def tracing_cost(outdir: Path, cases: int, concurrency: int) -> dict[str, Any]:
    """The same saturation with tracing off, then on with every trace kept, then on keeping the
    production share of traces (the others carry their context but record nothing), each on a fresh
    stack so none inherits another's data; throughput, CPU and memory side by side."""
    passes = {
        "off": _saturation_pass(outdir, "tracing off", cases, concurrency, lambda p: {}),
        "on": _saturation_pass(
            outdir, "tracing on", cases, concurrency, lambda p: {"SAMAD_OTLP_ENDPOINT": p.start_jaeger()}
        ),
        "sampled": _saturation_pass(
            outdir,
            "tracing sampled",
            cases,
            concurrency,
            lambda p: {
                "SAMAD_OTLP_ENDPOINT": p.start_jaeger(),
                "SAMAD_TRACING_SAMPLE_RATIO": str(PRODUCTION_SAMPLE_RATIO),
            },
        ),
    }
    PIPELINE.stop()
    result = _pair(cases, passes, "off", "on")
    sampled = _pair(cases, passes, "off", "sampled")
    result["sample_ratio"] = PRODUCTION_SAMPLE_RATIO
    result["sampled_throughput_cost"] = sampled["throughput_cost"]
    result["sampled_service_cpu_increase"] = sampled["service_cpu_increase"]
    return result


def sealing_cost(outdir: Path, cases: int, concurrency: int) -> dict[str, Any]:
    """The same saturation with personal fields in plain form, then sealed (docs/privacy.md: intake
    seals, routing opens to classify, tracking stores sealed, notify opens to send and seals the SMS),
    each on a fresh stack. Through the API every case is sealed end to end; the Kafka-driven half
    publishes plain case.registered events (old-style), so there it measures only the consumers'
    checks on events with nothing sealed."""
    passes = {
        "plain": _saturation_pass(outdir, "sealing off", cases, concurrency, lambda p: {}),
        "sealed": _saturation_pass(outdir, "sealing on", cases, concurrency, lambda p: p.sealing_env()),
    }
    PIPELINE.stop()
    return _pair(cases, passes, "plain", "sealed")


def sealing_table(result: dict[str, Any]) -> str:
    plain, sealed = result["passes"]["plain"], result["passes"]["sealed"]
    cost = result["throughput_cost"]
    rows = [
        f"cost of sealing personal fields ({result['cases']} cases per saturation, fresh stack each)",
        f"{'':14} {'API cases/s':>12} {'Kafka cases/s':>14} {'service CPU s':>14} {'load after':>18}",
        f"{'plain':14} {plain['api_cases_per_second']:>12} {plain['kafka_cases_per_second']:>14} "
        f"{plain['service_cpu_seconds']:>14} {plain['load_average_after']!s:>18}",
        f"{'sealed':14} {sealed['api_cases_per_second']:>12} {sealed['kafka_cases_per_second']:>14} "
        f"{sealed['service_cpu_seconds']:>14} {sealed['load_average_after']!s:>18}",
        f"throughput lost with sealing: API {cost['api']:.1%} (every case sealed end to end; aim: under "
        f"10%), from Kafka {cost['kafka']:.1%} (plain events); service CPU {result['service_cpu_increase']:+.1%}"
        if cost["api"] is not None
        and cost["kafka"] is not None
        and result["service_cpu_increase"] is not None
        else "throughput lost with sealing: not measured",
    ]
    return "\n".join(rows)


def tracing_table(result: dict[str, Any]) -> str:
    ratio = result.get("sample_ratio", PRODUCTION_SAMPLE_RATIO)
    labels = {"off": "tracing off", "on": "on, all traces", "sampled": f"on, {ratio:.0%} kept"}
    rows = [
        f"cost of tracing ({result['cases']} cases per saturation, fresh stack each; spans to Jaeger over OTLP/HTTP)",
        f"{'':16} {'API cases/s':>12} {'Kafka cases/s':>14} {'service CPU s':>14} {'load after':>18}",
    ]
    for mode, label in labels.items():
        if mode in result["passes"]:
            row = result["passes"][mode]
            rows.append(
                f"{label:16} {row['api_cases_per_second']:>12} {row['kafka_cases_per_second']:>14} "
                f"{row['service_cpu_seconds']:>14} {row['load_average_after']!s:>18}"
            )
    for label, cost, cpu in (
        ("all traces", result["throughput_cost"], result["service_cpu_increase"]),
        (
            f"{ratio:.0%} kept",
            result.get("sampled_throughput_cost"),
            result.get("sampled_service_cpu_increase"),
        ),
    ):
        if cost and cost["api"] is not None and cost["kafka"] is not None and cpu is not None:
            rows.append(
                f"throughput lost with tracing on ({label}): API {cost['api']:.1%}, from Kafka "
                f"{cost['kafka']:.1%} (aim: under 10%); service CPU {cpu:+.1%}"
            )
        else:
            rows.append(f"throughput lost with tracing on ({label}): not measured")
    return "\n".join(rows)


def table(report: dict[str, Any]) -> str:
    lines: list[str] = []
    add = lines.append
    m = report["machine"]
    add(
        f"machine: {m['nproc']} cores, {m['cpu_model']}, {m['memory_gb']} GB, load at start {m['load_average_at_start']}"
    )
    add("")
    add("latency through POST /v1/cases -> GET tracking /v1/cases/{id}  (ms; n = watched cases)")
    add(
        f"{'offered/s':>9} {'sent/s':>8} {'accepted/s':>10} {'req p50':>8} {'vis p50':>8} {'vis p95':>8} {'vis p99':>8} {'n':>5} {'full p50':>9} {'full p99':>9}"
    )
    for p in report["latency"]:
        v, c, r = p["visible_ms"], p["complete_ms"], p["request_ms"]
        add(
            f"{p['offered_rate']:>9g} {p['send_rate']:>8} {p['accepted_rate']:>10} {r['p50']!s:>8} {v['p50']!s:>8} {v['p95']!s:>8} {v['p99']!s:>8} {v['n']:>5} {c['p50']!s:>9} {c['p99']!s:>9}"
        )
    add("")
    add("throughput (cases/s, accepted -> tracked as routed with 2 SMS, 2 SMS in notify's ledger)")
    for key, label in (
        ("saturation_api", "through the API"),
        ("saturation_kafka", "from Kafka (intake bypassed)"),
    ):
        s = report.get(key)
        if s:
            add(
                f"  {label:32} {s['end_to_end_rate']:>8} overall, {s['steady_rate_10_90']!s:>8} steady (10-90%), "
                f"{s['cases']} cases, completed: {s['completed']}"
            )
    c = report["ceilings"]
    add(
        f"  {'raw aiokafka, same hops':32} {c['kafka']['cases_per_second']:>8}  ({c['kafka']['messages_per_second']} msg/s)"
    )
    add(
        f"  {'raw PyMongo, same writes':32} {c['mongo']['cases_per_second']:>8}  ({c['mongo']['writes_per_case']} writes/case, {c['mongo']['writes_per_second']} writes/s)"
    )
    r = report["ratios"]
    add(
        f"  pipeline / lower ceiling ({r['lower_ceiling']}): API {r['api_share_of_lower_ceiling']}, Kafka-driven {r['kafka_share_of_lower_ceiling']}"
    )
    add("")
    add(
        "memory (MB RSS): "
        + ", ".join(f"{k} peak {v['peak_mb']} steady {v['steady_mb']}" for k, v in report["rss"].items())
    )
    if "cpu_seconds" in report:
        add("CPU seconds during the run: " + ", ".join(f"{k} {v}" for k, v in report["cpu_seconds"].items()))
    if report.get("db_time_ms"):
        add("")
        add("database time by command and filter shape (driver-side, all services; top 15)")
        for row in report["db_time_ms"]:
            per = row["ms"] / row["calls"] if row["calls"] else 0.0
            add(f"  {row['ms'] / 1000:8.1f} s  {row['calls']:>7} calls  {per:7.1f} ms/call  {row['what']}")
    add("")
    add("targets: " + ", ".join(f"{k}: {'met' if v else 'NOT met'}" for k, v in report["targets"].items()))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rates",
        default="10,50,100,200,1000",
        help="offered rates for the latency phases (10/s: below what this machine absorbs, the others above)",
    )
    parser.add_argument("--phase-seconds", type=float, default=10.0)
    parser.add_argument("--phase-cap", type=int, default=1000, help="at most this many cases per rate")
    parser.add_argument("--saturation-cases", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument(
        "--ceiling-cases", type=int, default=0, help="cases for the raw ceilings (default: as saturation)"
    )
    parser.add_argument("--quick", action="store_true", help="small counts to check the harness")
    parser.add_argument("--profile-services", action="store_true", help="run the services under pyinstrument")
    parser.add_argument("--keep-stack", action="store_true", help="leave Kafka and FerretDB running")
    parser.add_argument(
        "--tracing-cases",
        type=int,
        default=1000,
        help="cases per saturation in the tracing off/on comparison (0: skip it)",
    )
    parser.add_argument("--tracing-only", action="store_true", help="run only the tracing off/on comparison")
    parser.add_argument(
        "--sealing-cases",
        type=int,
        default=1000,
        help="cases per saturation in the sealing off/on comparison (0: skip it)",
    )
    parser.add_argument("--sealing-only", action="store_true", help="run only the sealing off/on comparison")
    args = parser.parse_args()
    if args.quick:
        args.rates, args.phase_seconds, args.phase_cap, args.saturation_cases = "20,100", 3.0, 300, 200
        args.tracing_cases = min(args.tracing_cases, 200)
        args.sealing_cases = min(args.sealing_cases, 200)
    rates = [float(r) for r in args.rates.split(",") if r]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    RESULTS.mkdir(parents=True, exist_ok=True)
    outdir = ROOT / ".local" / "bench-runs" / stamp  # outside the profile's home, which a run wipes
    report: dict[str, Any] = {"started_at": stamp, "machine": machine(), "settings": vars(args)}
    if args.sealing_only:
        report["sealing"] = sealing_cost(outdir, args.sealing_cases, args.concurrency)
        json_path = RESULTS / f"sealing-{stamp}.json"
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        print()
        print(sealing_table(report["sealing"]))
        print(f"\nreport: {json_path.relative_to(ROOT)}")
        return 0
    if args.tracing_only:
        report["tracing"] = tracing_cost(outdir, args.tracing_cases, args.concurrency)
        json_path = RESULTS / f"tracing-{stamp}.json"
        json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
        print()
        print(tracing_table(report["tracing"]))
        print(f"\nreport: {json_path.relative_to(ROOT)}")
        return 0
    profile = PIPELINE
    say(
        f"starting a fresh stack (profile {profile.name}: Kafka {profile.bootstrap}, FerretDB {profile.mongo_url})"
    )
    profile.start(fresh=True)
    wrapper = [
        "-m",
        "bench.instrument",
        "--out",
        str(outdir),
        *(["--profile"] if args.profile_services else []),
    ]
    pipeline = Pipeline(profile, outdir, wrappers=dict.fromkeys(SERVICES, wrapper))
    try:
        say(f"starting the four services (run {pipeline.run_id}, logs in {outdir})")
        pipeline.start()
        driver = Driver(
            pipeline["intake"].url,
            pipeline["tracking"].url,
            profile.seed_token("operator"),
            profile.seed_token("supervisor"),
            salt=1,
        )
        infra_before = profile.cpu_seconds()
        with RssSampler(pipeline) as rss:

            async def drive() -> None:
                completion = Completion(pipeline)
                await completion.start()
                try:
                    say("warm-up: 40 cases at 20/s")
                    warm = await driver.offered(20, 40)
                    done = warm["accepted"]
                    await completion.wait(driver.accepted_ids, timeout=120, started=time.perf_counter())
                    report["latency"], done = await latency_phases(
                        driver, completion, rates, args.phase_seconds, args.phase_cap, done
                    )
                    report["saturation_api"] = await saturation_api(
                        driver, completion, args.saturation_cases, args.concurrency
                    )
                    done += report["saturation_api"]["accepted"]
                    report["census_cases"] = done
                    report["saturation_kafka"] = await saturation_kafka(
                        pipeline, completion, args.saturation_cases
                    )
                    report["census_cases_total"] = done + args.saturation_cases
                finally:
                    await completion.close()
                    await driver.close()

            asyncio.run(drive())
        infra_after = profile.cpu_seconds()
        # Where the machine's CPU went while the pipeline ran: the services' Python or the stores.
        report["cpu_seconds"] = {
            **{name: round(rss.cpu_seconds[name], 1) for name in SERVICES},
            **{name: round(infra_after[name] - infra_before[name], 1) for name in infra_after},
        }
        report["rss"] = {
            name: {"peak_mb": round(rss.peak[name] / MB, 1), "steady_mb": round(rss.steady(name) / MB, 1)}
            for name in SERVICES
        }
    finally:
        say("stopping the services")
        # A profiled service writes its profile on the way out, which takes a while after a long run.
        pipeline.stop(timeout=300 if args.profile_services else 30)
    censuses = read_censuses(outdir)
    report["census"] = {name: data["writes"] for name, data in censuses.items()}
    plan = asyncio.run(write_plan(pipeline, report["census"], report.get("census_cases_total", 1)))
    # Where the database's time went: driver-side time by command and filter shape, every service.
    timed: list[tuple[float, int, str]] = []
    for name, data in censuses.items():
        for key, ms in (data.get("time_ms") or {}).items():
            timed.append((ms, int((data.get("calls") or {}).get(key, 0)), f"{name}: {key.split('|', 1)[1]}"))
    report["db_time_ms"] = [
        {"what": what, "ms": ms, "calls": calls} for ms, calls, what in sorted(timed, reverse=True)[:15]
    ]
    ceiling_cases = args.ceiling_cases or args.saturation_cases
    say(f"raw Kafka ceiling: {ceiling_cases} cases through the same hops with plain aiokafka")
    kafka = raw_kafka.measure(
        profile.bootstrap,
        ceiling_cases,
        raw_kafka.Flow(
            routed_from=("registered",), sms_for=("registered", "routed"), extra_notifications_per_sms=1
        ),
    )
    say(f"  {kafka.cases_per_second} cases/s ({kafka.messages_per_second} messages/s)")
    say(
        f"raw MongoDB ceiling: {ceiling_cases} cases' writes with plain PyMongo ({plan.source if plan else 'default'} plan)"
    )
    mongo = raw_mongo.measure(profile.mongo_url, ceiling_cases, plan, batch=90, concurrency=1)
    say(
        f"  {mongo.cases_per_second} cases/s ({mongo.writes_per_second} writes/s, {mongo.writes_per_case} writes/case)"
    )
    report["ceilings"] = {"kafka": asdict(kafka), "mongo": asdict(mongo)}
    lower = min(kafka.cases_per_second, mongo.cases_per_second)
    api = report["saturation_api"]["end_to_end_rate"]
    via_kafka = report["saturation_kafka"]["end_to_end_rate"]
    report["ratios"] = {
        "lower_ceiling": "mongo" if mongo.cases_per_second <= kafka.cases_per_second else "kafka",
        "lower_ceiling_rate": lower,
        "api_share_of_lower_ceiling": round(api / lower, 3),
        "kafka_share_of_lower_ceiling": round(via_kafka / lower, 3),
    }
    at_100 = next((p for p in report["latency"] if p["offered_rate"] == 100), None)
    report["targets"] = {
        ">=1000 cases/s end to end": max(api, via_kafka) >= 1000,
        ">=50% of the lower ceiling": max(api, via_kafka) / lower >= 0.5,
        "p99 < 100 ms at 100/s": bool(
            at_100 and at_100["visible_ms"]["p99"] is not None and at_100["visible_ms"]["p99"] < 100
        ),
        "every service < 150 MB RSS steady": all(v["steady_mb"] < 150 for v in report["rss"].values()),
    }
    if args.profile_services:
        report["profiles"] = {
            name: str((outdir / f"{name}-profile.txt").relative_to(ROOT)) for name in SERVICES
        }
    if not args.keep_stack:
        say("stopping the stack")
        profile.stop()
    if args.tracing_cases > 0:
        report["tracing"] = tracing_cost(outdir, args.tracing_cases, args.concurrency)
    if args.sealing_cases > 0:
        report["sealing"] = sealing_cost(outdir, args.sealing_cases, args.concurrency)
    json_path = RESULTS / f"pipeline-{stamp}.json"
    png_path = RESULTS / f"pipeline-{stamp}.png"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    chart(report, png_path)
    (RESULTS / "latest.json").write_text(json_path.read_text())
    if png_path.exists():
        (RESULTS / "latest.png").write_bytes(png_path.read_bytes())
    print()
    print(table(report))
    if report.get("tracing"):
        print()
        print(tracing_table(report["tracing"]))
    if report.get("sealing"):
        print()
        print(sealing_table(report["sealing"]))
    print(f"\nreport: {json_path.relative_to(ROOT)}  chart: {png_path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
