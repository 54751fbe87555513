"""Fault injection: while cases flow through the four services, break everything once, then count.

Its own stack (profile ``faults``: Kafka 127.0.0.1:29092, FerretDB 127.0.0.1:27019, wiped first; the
SMPP run, test_smpp_faults.py, uses it after this one), the four services as separate processes.
While a few thousand cases are registered through intake's API, at random moments (the seed is
printed; SAMAD_FAULTS_SEED repeats a run):
  - each service is killed with SIGKILL once and restarted;
  - Kafka is stopped and kept down 15-30 s, longer than the producers' request timeout, so batches
    waiting for a partition leader expire; FerretDB is stopped and kept down 5-20 s;
  - poison (bad JSON, an unknown type, a schema-invalid payload) is written to every topic.
Then, with independent readers (plain aiokafka and PyMongo, tracking's HTTP API):
  - every case the API accepted is in tracking exactly once, routed, with its complete timeline
    (registered, routed, two SMS sent and delivered: each exactly once), and tracking has no other case;
  - every SMS the design calls for (case registered, case routed) is in notify's ledger exactly once,
    delivered, and the provider (the file gateway) received each exactly once;
  - every poison message is in the dead-letter topic with its error, from every consumer group that
    reads its topic, and nothing else was dead-lettered;
  - every consumer group's lag returns to zero.
The counts are printed. SAMAD_FAULTS_CASES and SAMAD_FAULTS_RATE size the run.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from bench.harness import FAULTS, ROOT, SERVICES, Pipeline, StackProfile
from contracts.topics import CALLS, CASES, DEADLETTER, NOTIFICATIONS
from services.common.auth import Role
from tests.faults import probes
from tests.support import identity

# Sized for this 2-core machine with FerretDB: the pipeline absorbs about 25 cases per second here
# (docs/performance.md), so 10/s leaves room to catch up after each fault; a larger run only takes longer.
CASES_TOTAL = int(os.environ.get("SAMAD_FAULTS_CASES", "2000"))
RATE = float(os.environ.get("SAMAD_FAULTS_RATE", "10"))
SEED = int(os.environ.get("SAMAD_FAULTS_SEED", str(random.SystemRandom().randrange(1_000_000))))
CONVERGE_SECONDS = float(os.environ.get("SAMAD_FAULTS_CONVERGE_SECONDS", "2400"))
# Stop waiting when nothing has moved for this long: what is missing by then is not coming.
STALL_SECONDS = float(os.environ.get("SAMAD_FAULTS_STALL_SECONDS", "300"))
POISONED_TOPICS = (CALLS, CASES, NOTIFICATIONS)
EXPECTED_TIMELINE = Counter(
    {
        "ir.samad.case.registered": 1,
        "ir.samad.case.routed": 1,
        "ir.samad.sms.sent": 2,
        "ir.samad.sms.delivered": 2,
    }
)


# The run is long by nature (a few thousand cases, two infrastructure restarts); pytest-timeout's
# default for the suite is far shorter.
pytestmark = pytest.mark.timeout(CONVERGE_SECONDS + 1800)


def say(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


@pytest.fixture(scope="module")
def pipeline(faults_stack: StackProfile) -> Iterator[Pipeline]:
    started = time.monotonic()
    # Outside the profile's home, which the next run wipes.
    run = Pipeline(faults_stack, ROOT / ".local" / "fault-runs" / time.strftime("%Y%m%dT%H%M%S"))
    try:
        run.start()
        say(f"services up in {time.monotonic() - started:.0f}s (run {run.run_id}, logs {run.outdir})")
        yield run
    finally:
        run.stop()
        # Keep the broker's and database's logs with the run's (the next run wipes the profile).
        for name in ("kafka.log", "ferretdb.log"):
            log = faults_stack.home / "logs" / name
            if log.exists():
                shutil.copy(log, run.outdir / name)


async def _kill_and_restart(run: Pipeline, name: str) -> None:
    svc = run[name]
    svc.kill9()
    svc.start()
    await asyncio.to_thread(svc.wait_ready, 180)


# How long each component stays down when it is restarted. Kafka's outage outlasts the producers'
# request timeout (15 s): aiokafka then fails the batches waiting for a leader, which is what once
# wedged an idempotent producer for good.
OUTAGE_SECONDS = {"kafka": (15.0, 30.0), "ferretdb": (5.0, 20.0)}


def _log_excerpt(run: Pipeline, name: str, lines: int = 12) -> list[str]:
    """The last distinct warnings and errors of a service's log (the run's directory is not kept by CI)."""
    path = run.outdir / f"{name}.log"
    if not path.exists():
        return []
    seen: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("-----"):
            seen[line] = line
        elif " WARNING " in line or " ERROR " in line:
            # Keyed without the timestamp, so a repeated message shows once, at its last time.
            seen.pop(line[24:], None)
            seen[line[24:]] = line[:300]
    return list(seen.values())[-lines:]


def _print_logs(run: Pipeline) -> None:
    for name in SERVICES:
        for line in _log_excerpt(run, name):
            say(f"  {name}.log: {line}")


async def _poison(run: Pipeline) -> list[tuple[str, str, str]]:
    sent = []
    for topic in POISONED_TOPICS:
        for kind, key, value in probes.poison_messages(f"{run.run_id}-{topic}"):
            await probes.produce(FAULTS.bootstrap, topic, value, key)
            sent.append((topic, kind, key.decode()))
    return sent


async def _inject_faults(
    run: Pipeline, rng: random.Random, window: float, log: list[str], poison: list[tuple[str, str, str]]
) -> None:
    """Each fault once, in a random order, at random moments inside the load window."""
    faults = [*(f"kill -9 {s}" for s in SERVICES), "restart kafka", "restart ferretdb", "poison"]
    rng.shuffle(faults)
    # Each fault takes seconds to recover from; start them early enough that all land while cases flow.
    moments = sorted(rng.uniform(0.03, 0.6) * window for _ in faults)
    started = time.monotonic()
    for fault, at in zip(faults, moments, strict=True):
        delay = started + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t0 = time.monotonic()
        if fault.startswith("kill -9"):
            await _kill_and_restart(run, fault.split()[-1])
        elif fault == "poison":
            poison.extend(await _poison(run))
        else:
            what = fault.split()[-1]
            down = rng.uniform(*OUTAGE_SECONDS[what])
            fault = f"{fault}, down {down:.0f}s"
            await asyncio.to_thread(FAULTS.restart, what, down)
        back = time.monotonic()
        log.append(
            f"t={t0 - started:6.1f}s {fault} (back at t={back - started:.1f}s, after {back - t0:.1f}s)"
        )
        say(log[-1])


async def _converged(run: Pipeline, mongo: AsyncMongoClient[dict[str, Any]]) -> tuple[int, int]:
    cases = mongo[run.db("tracking")]["cases"]
    ledger = mongo[run.db("notify")]["sms_ledger"]
    done = await cases.count_documents({"status": "routed", "sms.1.status": "delivered"})
    delivered = await ledger.count_documents({"state": "delivered"})
    return done, delivered


async def _explain_timelines(
    run: Pipeline, mongo: AsyncMongoClient[dict[str, Any]], problems: list[str], t0: float
) -> None:
    """For the cases with an incomplete timeline, print what the notifications topic holds for them
    (partition, offset, when) next to what tracking stored, so a failure says where events went missing."""
    wanted = {p.split()[1].rstrip(":") for p in problems if p.startswith("case ")}
    in_topic: dict[str, list[str]] = defaultdict(list)
    started_ms = (time.time() - (time.monotonic() - t0)) * 1000
    for record in await probes.read_topic(FAULTS.bootstrap, NOTIFICATIONS):
        try:
            event = json.loads(record.value)
            case_id = event["data"]["case_id"]
        except (ValueError, KeyError, TypeError):
            continue
        if case_id in wanted:
            at = (record.timestamp - started_ms) / 1000
            in_topic[case_id].append(
                f"{event['type'].rsplit('.', 1)[-1]}@{record.partition}:{record.offset} t={at:.1f}s id={event['id']}"
            )
    cases = mongo[run.db("tracking")]["cases"]
    published_all = sum(1 for cid in wanted if len(in_topic.get(cid, [])) >= 4)
    say(
        f"incomplete timelines: {len(wanted)}; all four SMS events in the notifications topic for "
        f"{published_all}, fewer for {len(wanted) - published_all}"
    )
    for cid in sorted(wanted)[:8]:
        doc = await cases.find_one({"_id": cid}, {"n": 1, "timeline.event_id": 1, "timeline.type": 1})
        stored = [f"{e['type'].rsplit('.', 1)[-1]}:{e['event_id']}" for e in (doc or {}).get("timeline", [])]
        say(f"  {cid}: topic {in_topic.get(cid, [])}; tracking n={(doc or {}).get('n')} {stored}")


async def test_nothing_lost_nothing_doubled_under_faults(pipeline: Pipeline) -> None:
    run = pipeline
    rng = random.Random(SEED)
    salt = uuid.uuid4().hex[:6]
    say(f"seed {SEED}: {CASES_TOTAL} cases at {RATE:g}/s while every fault happens once")
    identity.use_profile(FAULTS.name)
    operator = identity.token(Role.operator, sub="faults-operator")
    staff = identity.token(Role.supervisor, sub="faults-supervisor")
    fault_log: list[str] = []
    poison: list[tuple[str, str, str]] = []
    window = CASES_TOTAL / RATE
    t0 = time.monotonic()
    load, _ = await asyncio.gather(
        probes.drive_cases(
            run["intake"].url, operator, CASES_TOTAL, RATE, f"{salt}{run.run_id}", stall_after=STALL_SECONDS
        ),
        _inject_faults(run, rng, window, fault_log, poison),
    )
    say(
        f"load done in {load.seconds:.0f}s: {len(load.accepted)} accepted, {len(load.gave_up)} given up; "
        f"answers {dict(load.answers)}"
    )
    if load.gave_up:
        say(f"load stalled: {load.stalled}" if load.stalled else "some cases were never accepted")
        _print_logs(run)
    assert not load.gave_up, f"cases never accepted after retries: {sorted(load.gave_up)[:10]}"
    accepted = load.accepted
    expected = len(accepted)

    # --- convergence -----------------------------------------------------------------------------
    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(FAULTS.mongo_url, tz_aware=True)
    try:
        deadline = time.monotonic() + CONVERGE_SECONDS
        done = delivered = 0
        last_change, last_counts = time.monotonic(), (-1, -1)
        while time.monotonic() < deadline:
            try:
                done, delivered = await _converged(run, mongo)
            except Exception as exc:  # FerretDB may still be warming up after its restart
                say(f"counting failed ({exc!r}); retrying")
            if done >= expected and delivered >= 2 * expected:
                break
            if (done, delivered) != last_counts:
                last_change, last_counts = time.monotonic(), (done, delivered)
            elif time.monotonic() - last_change > STALL_SECONDS:
                say(
                    f"no progress for {STALL_SECONDS:.0f}s at {done}/{expected} cases, {delivered} SMS delivered"
                )
                _print_logs(run)
                break
            # Counting makes FerretDB read every document: do not add much load while it catches up.
            await asyncio.sleep(10)
        say(
            f"converged after {time.monotonic() - t0:.0f}s: {done}/{expected} cases, {delivered} SMS delivered"
        )
        lag: dict[str, dict[str, int]] = {}
        while time.monotonic() < deadline + 120:
            lag = await probes.group_lag(FAULTS.bootstrap, f"run-{run.run_id}.")
            if lag and all(v == 0 for per in lag.values() for v in per.values()):
                break
            await asyncio.sleep(2)

        # --- tracking: every accepted case exactly once, with its complete timeline -------------------
        problems: list[str] = []
        timelines_checked = 0
        async with httpx.AsyncClient(
            base_url=run["tracking"].url, headers={"Authorization": f"Bearer {staff}"}, timeout=30
        ) as client:
            gate = asyncio.Semaphore(16)

            async def check(item: probes.Accepted) -> None:
                nonlocal timelines_checked
                async with gate:
                    r = await client.get(f"/v1/cases/{item.tracking_code}")
                if r.status_code != 200:
                    problems.append(f"case {item.seq} {item.case_id}: tracking answered {r.status_code}")
                    return
                doc = r.json()
                ids = [e["event_id"] for e in doc["timeline"]]
                types = Counter(e["type"] for e in doc["timeline"])
                if doc["case_id"] != item.case_id or doc["status"] != "routed":
                    problems.append(f"case {item.case_id}: {doc['case_id']} status {doc['status']}")
                if len(ids) != len(set(ids)):
                    problems.append(f"case {item.case_id}: an event applied twice: {ids}")
                if types != EXPECTED_TIMELINE:
                    problems.append(f"case {item.case_id}: timeline {dict(types)}")
                timelines_checked += 1

            await asyncio.gather(*(check(a) for a in accepted.values()))
        if problems:
            # Where were the missing events lost: never published, or published and not projected?
            await _explain_timelines(run, mongo, problems, t0)
        tracked_total = await mongo[run.db("tracking")]["cases"].count_documents({})
        accepted_ids = {a.case_id for a in accepted.values()}

        # --- notify: every SMS exactly once, in the ledger and at the provider ----------------------
        ledger = [
            d
            async for d in mongo[run.db("notify")]["sms_ledger"].find(
                {}, {"case_id": 1, "template": 1, "state": 1, "outbox": 1}
            )
        ]
        per_case: dict[str, Counter[str]] = defaultdict(Counter)
        for d in ledger:
            per_case[d["case_id"]][d["template"]] += 1
        ledger_problems = [
            f"case {cid}: ledger {dict(per_case.get(cid, {}))}"
            for cid in accepted_ids
            if per_case.get(cid) != Counter({"registered": 1, "routed": 1})
        ]
        not_delivered = [d["_id"] for d in ledger if d["state"] != "delivered"]
        owed = [f"{d['_id']} owes {d['outbox']}" for d in ledger if d.get("outbox")]
        strangers = set(per_case) - accepted_ids
        outbox = probes.read_outbox(run.outdir / "sms-outbox.jsonl")
        sent_per_sms = Counter(line["sms_id"] for line in outbox)
        resent = {k: v for k, v in sent_per_sms.items() if v > 1}
        ledger_ids = {d["_id"] for d in ledger}
        never_sent = ledger_ids - set(sent_per_sms)

        # --- dead letters -------------------------------------------------------------------------------
        dlq = await probes.read_topic(FAULTS.bootstrap, DEADLETTER)
        readers: dict[str, set[str]] = defaultdict(set)  # topic -> groups that committed on it
        admin_lag = lag
        for group, per_topic in admin_lag.items():
            for topic in per_topic:
                readers[topic].add(group)
        dead: dict[str, set[str]] = defaultdict(set)
        other_dead: list[str] = []
        errors_missing = 0
        for record in dlq:
            headers = {k: v.decode(errors="replace") for k, v in (record.headers or ())}
            key = (record.key or b"").decode(errors="replace")
            if not headers.get("samad-dlq-error"):
                errors_missing += 1
            if key.startswith("poison-"):
                dead[key].add(headers.get("samad-dlq-group", "?"))
            else:
                other_dead.append(
                    f"{headers.get('samad-dlq-original-topic')}: {headers.get('samad-dlq-error', '')[:200]}"
                )
        poison_problems = [
            f"{topic} {kind}: dead-lettered by {sorted(dead.get(key, set()))}, readers {sorted(readers[topic])}"
            for topic, kind, key in poison
            if not readers[topic] or not readers[topic] <= dead.get(key, set())
        ]
    finally:
        await mongo.close()

    say("faults: " + "; ".join(fault_log))
    say(
        f"cases accepted by the API: {expected} (retries needed for {sum(1 for a in accepted.values() if a.attempts > 1)})"
    )
    say(f"tracking: {timelines_checked} timelines checked via its API, {tracked_total} case documents in all")
    say(
        f"notify: {len(ledger)} ledger records ({len(ledger) - len(not_delivered)} delivered), "
        f"{len(outbox)} SMS at the provider, {len(resent)} sent twice, {len(never_sent)} never sent, "
        f"{len(owed)} with events still owed"
    )
    say(
        f"dead-letter topic: {len(dlq)} records, {len(poison)} poison messages sent, "
        f"{sum(len(v) for v in dead.values())} (poison, group) dead letters, {len(other_dead)} others"
    )
    say(f"consumer lag: {lag}")

    for label, items in (
        ("tracking", problems),
        ("ledger", ledger_problems),
        ("SMS not delivered", [f"{d['_id']} {d['state']}" for d in ledger if d["state"] != "delivered"]),
        ("SMS events never published", owed),
        ("poison", poison_problems),
        ("dead-lettered events", other_dead),
    ):
        if items:
            say(f"PROBLEM {label}: {len(items)}, e.g. {items[:5]}")

    assert len(poison) == 3 * len(POISONED_TOPICS), fault_log
    assert len(fault_log) == len(SERVICES) + 3, fault_log
    assert not problems, problems[:10]
    assert tracked_total == expected, f"tracking holds {tracked_total} cases, the API accepted {expected}"
    assert not ledger_problems, ledger_problems[:10]
    assert not strangers, sorted(strangers)[:10]
    assert not not_delivered, not_delivered[:10]
    assert not owed, owed[:10]
    assert len(ledger) == 2 * expected
    assert not resent, resent
    assert not never_sent, sorted(never_sent)[:10]
    assert not poison_problems, poison_problems
    assert errors_missing == 0
    assert not other_dead, other_dead[:10]
    assert set(lag) >= set(run.groups.values()), lag
    assert all(v == 0 for per in lag.values() for v in per.values()), lag
