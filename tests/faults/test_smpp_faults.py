"""The fault run's SMS side through SMPP: the four services as processes, notify on the SMPP gateway
(``SAMAD_SMS_PROVIDER=smpp``) against the project's independent SMSC (tests/support/smsc), while cases
are registered through intake's API. The SMSC sends each receipt right behind its ``submit_sm_resp``
and, at random moments (the seed is printed; SAMAD_FAULTS_SEED repeats a run):
  - sends receipts before the answer to the message's next part, before the answer itself, twice,
    with an empty ``text:``, and a few with a source TON of 9 (which aiosmpplib cannot parse);
  - cuts the session between the two parts of a message, several times;
  - cuts every session, and twice cuts every session twice 0.2 s apart (two sessions lost in quick
    succession once left notify unbound for good).
A cut loses nothing the SMSC answered and lets nothing in after it (tests/support/smsc/smsc.js).
Then every case's timeline in tracking holds its two SMS sent and delivered, each once; every SMS is
delivered once on notify's ledger; no receipt is left unmatched; the SMSC received no part twice and
holds each message whole; nothing was dead-lettered and no consumer lags. The counts are printed.

It shares the fault run's stack (tests/faults/conftest.py) and comes after the main run: its
consumer groups start at the end of the topics, so it sees its own cases only.
SAMAD_FAULTS_SMPP_CASES and SAMAD_FAULTS_SMPP_RATE size it.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import AsyncMongoClient

from bench.harness import ROOT, Pipeline, StackProfile, free_port
from contracts.topics import DEADLETTER
from services.common.auth import Role
from tests.faults import probes
from tests.faults.test_pipeline_faults import EXPECTED_TIMELINE, say
from tests.support import identity

CASES_TOTAL = int(os.environ.get("SAMAD_FAULTS_SMPP_CASES", "120"))
RATE = float(os.environ.get("SAMAD_FAULTS_SMPP_RATE", "6"))
SEED = int(os.environ.get("SAMAD_FAULTS_SEED", str(random.SystemRandom().randrange(1_000_000))))
CONVERGE_SECONDS = float(os.environ.get("SAMAD_FAULTS_SMPP_CONVERGE_SECONDS", "300"))
SMSC_DIR = ROOT / "tests" / "support" / "smsc"

pytestmark = pytest.mark.timeout(CONVERGE_SECONDS + 600)

CUT = "cut"
CUT_TWICE = "cut twice"
# (what the log says, the SMSC's new settings or a cut), each once, in a random order.
FAULTS: list[tuple[str, dict[str, Any] | str]] = [
    ("receipts before the next part's answer", {"receipt_mode": "before_next_response"}),
    ("receipts right behind the answer, empty text", {"receipt_mode": "immediate", "receipt_text": "empty"}),
    ("receipts before the answer", {"receipt_mode": "before_response"}),
    ("receipts right behind the answer, twice", {"receipt_mode": "immediate", "duplicate_receipts": True}),
    ("three receipts with a source TON of 9", {"malformed_receipts": 3}),
    *[("session cut between the parts of a message", {"drop_between_parts": 1})] * 4,
    *[("every session cut", CUT)] * 2,
    *[("every session cut twice, 0.2 s apart", CUT_TWICE)] * 2,
]
BETWEEN_PARTS = sum(1 for _, f in FAULTS if isinstance(f, dict) and "drop_between_parts" in f)


class SmscProcess:
    """The independent SMSC as a process, scripted over its HTTP control port."""

    def __init__(self) -> None:
        if not (SMSC_DIR / "node_modules" / "smpp").exists():
            npm = shutil.which("npm")
            assert npm, "npm is needed for the test SMSC"
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=SMSC_DIR, check=True, timeout=300)
        node = shutil.which("node")
        assert node, "node is needed for the test SMSC"
        self.port, control = free_port(), free_port()
        self.control = f"http://127.0.0.1:{control}"
        self.proc = subprocess.Popen(
            [node, "smsc.js", str(self.port), str(control)],
            cwd=SMSC_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        assert line.startswith("READY"), line

    async def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10) as c:
            r = await c.post(f"{self.control}{path}", json=body or {})
            r.raise_for_status()
            answer: dict[str, Any] = r.json()
            return answer

    async def state(self) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=60) as c:
            result: dict[str, Any] = (await c.get(f"{self.control}/state")).json()
            return result

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def smsc() -> Iterator[SmscProcess]:
    process = SmscProcess()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture(scope="module")
def pipeline(faults_stack: StackProfile, smsc: SmscProcess) -> Iterator[Pipeline]:
    started = time.monotonic()
    run = Pipeline(
        faults_stack,
        ROOT / ".local" / "fault-runs" / f"smpp-{time.strftime('%Y%m%dT%H%M%S')}",
        extra_env={
            "SAMAD_SMS_PROVIDER": "smpp",
            "SAMAD_SMS_SMPP_HOST": "127.0.0.1",
            "SAMAD_SMS_SMPP_PORT": str(smsc.port),
            "SAMAD_SMS_SMPP_SYSTEM_ID": "samad",
            "SAMAD_SMS_SMPP_PASSWORD": "secret",
            "SAMAD_SMS_SMPP_RESPONSE_TIMEOUT_SECONDS": "5",
            # The stack may hold the main run's events: this run reads only what comes after its
            # services are positioned (readiness waits for that). Nothing here restarts a service.
            "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        },
    )
    try:
        run.start()
        say(
            f"SMPP run: services up in {time.monotonic() - started:.0f}s (run {run.run_id}, logs {run.outdir})"
        )
        yield run
    finally:
        run.stop()


async def _smsc_faults(smsc: SmscProcess, rng: random.Random, window: float, log: list[str]) -> int:
    """Each fault once, in a random order, at random moments while cases come in (the SMS follow
    them); how many bound sessions the cuts of every session found. A cut between parts and the
    malformed receipts wait for the message or the receipts they need, and a cut of every session for
    a session to cut (the second of a double cut, 0.2 s on, finds what is bound by then), so each one
    lands."""
    faults = list(FAULTS)
    rng.shuffle(faults)
    moments = sorted(rng.uniform(0.05, 0.85) * window for _ in faults)
    started = time.monotonic()
    sessions_cut = 0
    for (name, fault), at in zip(faults, moments, strict=True):
        delay = started + at - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        t = time.monotonic() - started
        if fault == CUT:
            await _bound(smsc)
            sessions_cut += (await smsc.post("/cut"))["cut"]
        elif fault == CUT_TWICE:
            await _bound(smsc)
            sessions_cut += (await smsc.post("/cut"))["cut"]
            await asyncio.sleep(0.2)
            sessions_cut += (await smsc.post("/cut"))["cut"]
        else:
            assert isinstance(fault, dict)
            before = await smsc.state()
            await smsc.post("/config", fault)
            for counter in ("drops", "malformed_sent"):
                wanted = {"drops": "drop_between_parts", "malformed_sent": "malformed_receipts"}[counter]
                if wanted in fault:
                    await _until(smsc, counter, before[counter] + fault[wanted])
        log.append(f"t={t:5.1f}s {name}")
        say(log[-1])
    return sessions_cut


async def _bound(smsc: SmscProcess, timeout: float = 60) -> None:
    """Wait for notify to hold a session, so that a cut of every session cuts one: a cut that finds
    none (notify still binding again after the fault before) would test nothing."""
    deadline = time.monotonic() + timeout
    while (await smsc.state())["sessions"] < 1:
        assert time.monotonic() < deadline, f"no session bound within {timeout} s"
        await asyncio.sleep(0.05)


async def _until(smsc: SmscProcess, counter: str, value: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while (await smsc.state())[counter] < value:
        assert time.monotonic() < deadline, f"the SMSC's {counter} never reached {value}"
        await asyncio.sleep(0.1)


async def test_every_sms_delivered_once_and_whole_through_smpp_while_receipts_come_early_and_sessions_are_cut(
    pipeline: Pipeline, smsc: SmscProcess
) -> None:
    run = pipeline
    rng = random.Random(SEED)
    say(f"seed {SEED}: {CASES_TOTAL} cases at {RATE:g}/s through SMPP while the SMSC misbehaves")
    await smsc.post("/config", {"receipt_mode": "immediate"})
    identity.use_profile(run.profile.name)
    operator = identity.token(Role.operator, sub="faults-operator")
    staff = identity.token(Role.supervisor, sub="faults-supervisor")
    fault_log: list[str] = []
    window = CASES_TOTAL / RATE
    t0 = time.monotonic()
    load, sessions_cut = await asyncio.gather(
        probes.drive_cases(
            run["intake"].url, operator, CASES_TOTAL, RATE, f"{uuid.uuid4().hex[:6]}{run.run_id}"
        ),
        _smsc_faults(smsc, rng, window, fault_log),
    )
    assert not load.gave_up, sorted(load.gave_up)[:10]
    accepted = load.accepted
    expected = len(accepted)

    mongo: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(run.profile.mongo_url, tz_aware=True)
    try:
        ledger_c = mongo[run.db("notify")]["sms_ledger"]
        cases_c = mongo[run.db("tracking")]["cases"]
        kept_c = mongo[run.db("notify")]["sms_unmatched_receipts"]
        deadline = time.monotonic() + CONVERGE_SECONDS
        while time.monotonic() < deadline:
            delivered = await ledger_c.count_documents({"state": "delivered"})
            done = await cases_c.count_documents({"status": "routed", "sms.1.status": "delivered"})
            if delivered >= 2 * expected and done >= expected and await kept_c.count_documents({}) == 0:
                break
            await asyncio.sleep(3)
        say(f"converged after {time.monotonic() - t0:.0f}s")
        ledger = [d async for d in ledger_c.find({})]
        unmatched = [d async for d in kept_c.find({})]
        lag: dict[str, dict[str, int]] = {}
        for _ in range(30):  # consumers commit every few seconds
            lag = await probes.group_lag(run.profile.bootstrap, f"run-{run.run_id}.")
            if lag and all(v == 0 for per in lag.values() for v in per.values()):
                break
            await asyncio.sleep(2)

        problems: list[str] = []
        async with httpx.AsyncClient(
            base_url=run["tracking"].url, headers={"Authorization": f"Bearer {staff}"}, timeout=30
        ) as client:
            gate = asyncio.Semaphore(16)

            async def check(item: probes.Accepted) -> None:
                async with gate:
                    r = await client.get(f"/v1/cases/{item.tracking_code}")
                if r.status_code != 200:
                    problems.append(f"case {item.case_id}: tracking answered {r.status_code}")
                    return
                timeline = r.json()["timeline"]
                ids = [e["event_id"] for e in timeline]
                types = Counter(e["type"] for e in timeline)
                if types != EXPECTED_TIMELINE or len(ids) != len(set(ids)):
                    problems.append(f"case {item.case_id}: timeline {dict(types)}")

            await asyncio.gather(*(check(a) for a in accepted.values()))
    finally:
        await mongo.close()

    dead = [
        r
        for r in await probes.read_topic(run.profile.bootstrap, DEADLETTER)
        if any(
            k == "samad-dlq-group" and v.decode().startswith(f"run-{run.run_id}.") for k, v in r.headers or ()
        )
    ]
    state = await smsc.state()
    # What the handsets get: every part the SMSC accepted, by recipient, concatenation reference and
    # part number, and text (two SMS to one citizen may share a reference: local ids modulo 256).
    seen = Counter((p["destination"], p["udh"][4:6], p["udh"][-2:], p["text"]) for p in state["submitted"])
    sent_twice = sum(n - 1 for n in seen.values() if n > 1)
    by_id = {p["message_id"]: p for p in state["submitted"]}
    not_whole = []
    for d in ledger:
        ids = [i for i in d.get("part_ids") or [] if i]
        parts = [by_id[i] for i in ids if i in by_id]
        if len(parts) != d["parts"] or "".join(p["text"] for p in parts) != d["text"]:
            not_whole.append(d["_id"])
    not_delivered = [f"{d['_id']} {d['state']}" for d in ledger if d["state"] != "delivered"]
    delivered_twice = [d["_id"] for d in ledger if [h["to"] for h in d["history"]].count("delivered") > 1]
    say("faults: " + "; ".join(fault_log))
    say(
        f"cases {expected}; ledger {len(ledger)} SMS, {len(ledger) - len(not_delivered)} delivered, "
        f"{len(delivered_twice)} delivered twice; receipts unmatched {len(unmatched)}; SMSC parts "
        f"{len(state['submitted'])}, sent twice {sent_twice}; messages not whole {len(not_whole)}; "
        f"timelines with problems {len(problems)}; SMSC binds {state['binds']}, sessions cut "
        f"{sessions_cut} and {state['drops']} between parts; receipts sent {state['receipts_sent']}, "
        f"acknowledged {state['receipts_acked']}, malformed {state['malformed_sent']} answered "
        f"{dict(Counter(state['malformed_statuses']))}; dead letters {len(dead)}; lag {lag}"
    )
    assert len(fault_log) == len(FAULTS), fault_log
    assert state["drops"] == BETWEEN_PARTS and sessions_cut >= 2, (state["drops"], sessions_cut)
    assert state["binds"] >= 1 + BETWEEN_PARTS + sessions_cut
    assert state["malformed_sent"] == 3 and set(state["malformed_statuses"]) == {0}
    assert len(ledger) == 2 * expected
    assert not not_delivered, not_delivered[:10]
    assert not delivered_twice, delivered_twice[:10]
    assert not unmatched, unmatched[:5]
    assert sent_twice == 0, [k for k, n in seen.items() if n > 1][:5]
    assert not not_whole, not_whole[:10]
    assert not problems, problems[:10]
    assert not dead, [dict(r.headers or ()) for r in dead[:3]]
    assert lag and all(v == 0 for per in lag.values() for v in per.values()), lag
