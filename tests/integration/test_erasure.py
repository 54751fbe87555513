"""Erasure survives replay: cases of three citizens registered through intake's HTTP API on the real
stack (the four services as processes, sealing on) and answered by the agency (an internal note
about the citizen, then the answer sent to them by SMS), one citizen erased with `samad privacy` (two
members of ops), tracking rebuilt from the whole log into a fresh projection and swapped in, notify's
consumer re-driven over the same events. Then the raw bytes of every topic (read record by record and
on disk), every collection of every database (and FerretDB's SQLite files), a `samad events dump` and
every service log hold none of the erased citizen's phone, name, national id, complaint text, or
staff's answer and note about them; the other citizens' cases (and answers) are intact, the duty
session's funnel is the same, and no SMS went out on the replay."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
import httpx
import pytest
from pymongo import AsyncMongoClient

from contracts.sealed import ERASED_FA
from services.common.auth import Role
from services.ops.adapters.kafka import KafkaLog
from tests.support.identity import token as issue_token
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import KAFKA, MONGO, ROOT, sealing_env

SERVICES = ("intake", "routing", "tracking", "notify")
TEST_HOME = ROOT / ".local" / "test"


def national_id(nine: str) -> str:
    """A valid کد ملی from nine digits (the tenth is the check digit)."""
    total = sum(int(d) * (10 - i) for i, d in enumerate(nine)) % 11
    return nine + str(total if total < 2 else 11 - total)


class Citizen:
    def __init__(self, n: int, run: str) -> None:
        digits = f"{secrets.randbelow(10**7):07d}"
        self.local = f"0915{n}{digits[1:]}"  # 0915n + six random digits
        self.e164 = "+98" + self.local[1:]
        self.name = f"شهروند{n} آزمون{secrets.token_hex(3)}"
        self.national_id = national_id(f"{secrets.randbelow(10**9):09d}")
        marker = secrets.token_hex(6)
        self.description = f"لوله آب کوچه ما ترکیده و آب هدر می‌رود؛ نشانی دقیق {marker} {run}"
        self.marker = marker
        # What staff write about them: the public answer (sent by SMS) and an internal note naming them.
        # Letters only: the SMS writes digits in Persian, and the search looks for the marker as typed.
        self.answer_marker, self.note_marker = (
            "".join(secrets.choice("abcdefghjkmnpqrstuvwxyz") for _ in range(12)) for _ in range(2)
        )
        self.answer = f"شماره کار {self.answer_marker}: لوله جلوی منزل {self.name} تعویض شد"
        self.note = f"{self.name} گفت همسایه هم شاکی است؛ پیگیری {self.note_marker}"

    def secrets(self) -> dict[str, str]:
        """What must not survive the erasure, in each form it could be written in."""
        return {
            "phone (E.164)": self.e164,
            "phone (national digits)": self.local[1:],
            "name": self.name,
            "national id": self.national_id,
            "complaint text": self.marker,
            "complaint text (Persian)": self.description.split("؛")[0],
            "staff answer": self.answer_marker,
            "staff answer (Persian)": self.answer.split(": ")[1],
            "internal note": self.note_marker,
            "internal note (Persian)": self.note.split("؛")[0],
        }


def needles(citizen: Citizen) -> dict[str, list[bytes]]:
    """Each secret as UTF-8 and as JSON writes it with ASCII escapes."""
    found: dict[str, list[bytes]] = {}
    for label, text in citizen.secrets().items():
        escaped = json.dumps(text)[1:-1].encode()
        found[label] = list(dict.fromkeys([text.encode(), escaped]))
    return found


def leaks(blob: bytes, citizen: Citizen) -> list[str]:
    return [label for label, forms in needles(citizen).items() if any(f in blob for f in forms)]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServiceProcess]]:
    run = f"erase{int(time.time() * 1000) % 10**9}"
    outbox = tmp_path_factory.mktemp("sms") / "outbox.jsonl"
    ports = {name: free_port() for name in SERVICES}
    common = {
        **sealing_env(),
        "SAMAD_CONSUMER_GROUP_PREFIX": run,
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_TRACKING_URL": f"http://127.0.0.1:{ports['tracking']}",
        "SAMAD_SMS_FILE_PATH": str(outbox),
        "SAMAD_SMS_INBOX_PATH": str(outbox.with_name("inbox.jsonl")),
        "SAMAD_SMS_QUIET_HOURS": "false",
        "SAMAD_KEY_CACHE_SECONDS": "1",
    }
    procs = {
        name: ServiceProcess(name, ports[name], {**common, "SAMAD_DB_NAME": f"{run}_{name}"}, log_dir())
        for name in SERVICES
    }
    for proc in procs.values():
        proc.log_path = proc.log_path.with_name(f"{run}-{proc.log_path.name}")
    try:
        for proc in procs.values():
            proc.start(wait_ready=False)
        for proc in procs.values():
            proc.wait_ready(timeout=90)
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


def samad(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-c", "from services.cli import main; main()", *args],
        cwd=ROOT,
        env={**os.environ, "SAMAD_KAFKA_BOOTSTRAP": KAFKA, "SAMAD_MONGO_URL": MONGO, "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"samad {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done


def register(platform: dict[str, ServiceProcess], citizen: Citizen, session: str, n: int) -> dict[str, Any]:
    operator = {"Authorization": f"Bearer {issue_token(Role.operator, sub='op-erasure')}"}
    call = httpx.post(
        platform["intake"].url + "/v1/calls",
        headers={**operator, "Idempotency-Key": f"{session}-call-{n}"},
        json={
            "caller_phone": citizen.local,
            "outcome": "answered",
            "started_at": datetime.now(UTC).isoformat(),
            "duration_seconds": 90,
            "county": "mashhad",
            "duty_session_id": session,
        },
        timeout=10,
    )
    assert call.status_code == 201, call.text
    case = httpx.post(
        platform["intake"].url + "/v1/cases",
        headers={**operator, "Idempotency-Key": f"{session}-case-{n}"},
        json={
            "phone": citizen.local,
            "name": citizen.name,
            "national_id": citizen.national_id,
            "county": "mashhad",
            "subject": "ترکیدگی لوله آب",
            "description": citizen.description,
            "call_id": call.json()["call_id"],
            "duty_session_id": session,
        },
        timeout=10,
    )
    assert case.status_code == 201, case.text
    body: dict[str, Any] = case.json()
    return body


def act(platform: dict[str, ServiceProcess], case: dict[str, Any], agency: str, body: dict[str, str]) -> None:
    """One action by the staff of the agency holding the case."""
    staff = {
        "Authorization": f"Bearer {issue_token(Role.agency_staff, agency=agency, sub=f'staff-{agency}')}"
    }
    r = httpx.post(
        f"{platform['tracking'].url}/v1/cases/{case['case_id']}/actions", headers=staff, json=body, timeout=10
    )
    assert r.status_code == 202, r.text


def staff_view(platform: dict[str, ServiceProcess], case_id: str) -> dict[str, Any] | None:
    supervisor = {"Authorization": f"Bearer {issue_token(Role.supervisor, sub='sup-erasure')}"}
    r = httpx.get(f"{platform['tracking'].url}/v1/cases/{case_id}", headers=supervisor, timeout=10)
    return r.json() if r.status_code == 200 else None


def funnel(platform: dict[str, ServiceProcess], session: str) -> dict[str, Any]:
    supervisor = {"Authorization": f"Bearer {issue_token(Role.supervisor, sub='sup-erasure')}"}
    r = httpx.get(
        f"{platform['tracking'].url}/v1/reports/funnel",
        params={"duty_session_id": session},
        headers=supervisor,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return {k: v for k, v in doc.items() if k not in ("generated_at", "as_of")}


def outbox(platform: dict[str, ServiceProcess]) -> list[dict[str, Any]]:
    path = Path(platform["notify"].env["SAMAD_SMS_FILE_PATH"])
    if not path.exists():
        return []
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


async def every_record() -> bytes:
    """Every record of every topic, raw: key, value and headers, concatenated."""
    chunks: list[bytes] = []
    async with KafkaLog(KAFKA, client_id="samad-erasure-test") as log:
        topics = sorted(t for t in await log.meta.topics() if not t.startswith("__"))
        assert "samad.cases.v1" in topics
        for topic in topics:
            ranges = {(topic, p): (begin, end) for p, (begin, end) in (await log.bounds(topic)).items()}
            async for batch in log.read(ranges):
                for r in batch:
                    chunks += [r.key or b"", r.value or b"", *(v for _, v in r.headers)]
    return b"\x00".join(chunks)


async def every_document() -> bytes:
    """Every document of every collection of every database, as BSON."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(MONGO, tz_aware=True)
    chunks: list[bytes] = []
    try:
        for name in await client.list_database_names():
            db = client[name]
            for collection in await db.list_collection_names():
                async for doc in db[collection].find({}):
                    chunks.append(bson.encode(doc))
    finally:
        await client.close()
    return b"\x00".join(chunks)


def files_under(folder: Path) -> bytes:
    return b"\x00".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_an_erased_citizen_is_gone_from_every_copy_and_stays_gone_after_a_replay(
    platform: dict[str, ServiceProcess], tmp_path: Path
) -> None:
    run = platform["intake"].env["SAMAD_DB_NAME"].removesuffix("_intake")
    session = f"{run}-session"
    began = datetime.now(UTC)
    erased, kept = Citizen(1, run), [Citizen(2, run), Citizen(3, run)]
    cases = {c.marker: register(platform, c, session, n) for n, c in enumerate([erased, *kept])}

    def texted_and_routed(case_id: str) -> bool:
        doc = staff_view(platform, case_id)
        types = [e.get("type", "") for e in (doc or {}).get("timeline", [])]
        return bool(doc and doc.get("agency") and sum(t.endswith("sms.sent") for t in types) >= 2)

    asyncio.run(wait_for(lambda: all(texted_and_routed(c["case_id"]) for c in cases.values()), timeout=120))
    # The agency takes each case up, writes an internal note about the citizen and answers them.
    for citizen in (erased, *kept):
        case = cases[citizen.marker]
        agency = (staff_view(platform, case["case_id"]) or {})["agency"]
        act(platform, case, agency, {"action": "acknowledge"})
        asyncio.run(
            wait_for(
                lambda cid=case["case_id"]: (staff_view(platform, cid) or {}).get("status") == "in_progress"
            )
        )
        act(platform, case, agency, {"action": "note", "text": citizen.note})
        act(platform, case, agency, {"action": "resolve", "answer": citizen.answer})

    def answered(case_id: str) -> bool:
        doc = staff_view(platform, case_id)
        types = [e.get("type", "") for e in (doc or {}).get("timeline", [])]
        return bool(
            doc and doc.get("status") == "resolved" and sum(t.endswith("sms.sent") for t in types) >= 3
        )

    asyncio.run(wait_for(lambda: all(answered(c["case_id"]) for c in cases.values()), timeout=120))
    seen = {m: staff_view(platform, c["case_id"]) for m, c in cases.items()}
    before = {m: doc for m, doc in seen.items() if doc is not None}
    for citizen in (erased, *kept):
        doc = before[citizen.marker]
        assert doc["citizen"]["phone"] == citizen.e164 and doc["citizen"]["name"] == citizen.name
        assert doc["description"] == citizen.description
        assert doc["answer"] == citizen.answer
        assert citizen.note in [e["text"] for e in doc["timeline"]]
    funnel_before = funnel(platform, session)
    sent_before = outbox(platform)
    assert len(sent_before) >= 9  # registered, routed, taken up and answered, for each of the three
    assert any(erased.answer_marker in m["text"] for m in sent_before)  # the sealed answer, opened to send
    assert {m["to"] for m in sent_before} >= {c.e164 for c in (erased, *kept)}

    # Erasure: asked by one member of ops, approved by another.
    ops_env = {**sealing_env(), "SAMAD_DB_NAME": f"{run}_ops", "SAMAD_TRACKING_DB_NAME": f"{run}_tracking"}
    asked = samad(
        "privacy", "request", "erase", "--phone", erased.local,
        "--token", issue_token(Role.ops, sub="ops-erasure-1"), "--actor", "ops-erasure-1", env=ops_env,
    )  # fmt: skip
    request_id = asked.stdout.strip().splitlines()[-1]
    approved = samad(
        "privacy", "approve", request_id,
        "--token", issue_token(Role.ops, sub="ops-erasure-2"), "--actor", "ops-erasure-2", env=ops_env,
    )  # fmt: skip
    assert "erased" in approved.stderr

    # Tracking rebuilt from the whole log into a fresh collection, swapped in for the live one.
    platform["notify"].stop()
    time.sleep(2)  # past the key cache of the running services
    rebuild_env = {**ops_env, "SAMAD_CONSUMER_GROUP_PREFIX": f"{run}-rebuild"}
    rebuilt = samad("replay", "rebuild", "tracking", "--swap", env=rebuild_env, timeout=1200)
    assert "swapped:" in rebuilt.stdout, rebuilt.stdout

    # Notify's consumer re-driven over every event since the test began (the shared topics' older
    # events are other tests' cases, not this replay's business).
    samad(
        "offsets", "reset", "--group", f"{run}.notify", "--to-datetime", began.isoformat(), "--execute",
        env=ops_env,
    )  # fmt: skip
    platform["notify"].start(wait_ready=True, timeout=90)
    asyncio.run(_caught_up(f"{run}.notify"))
    time.sleep(3)  # the senders' round after the consumer's last batch
    assert outbox(platform) == sent_before, "an SMS went out on the replay"

    # What staff see now: the erased citizen's fields say so, the others are intact, the funnel is the same.
    after = {m: staff_view(platform, c["case_id"]) for m, c in cases.items()}
    gone = after[erased.marker]
    assert gone is not None
    assert gone["citizen"]["phone"] == gone["citizen"]["name"] == gone["citizen"]["national_id"] == ERASED_FA
    assert gone["description"] == ERASED_FA and gone["answer"] == ERASED_FA
    assert ERASED_FA in [e["text"] for e in gone["timeline"]]  # the internal note
    assert (gone["status"], gone["agency"]) == (
        before[erased.marker]["status"],
        before[erased.marker]["agency"],
    )
    for citizen in kept:
        now = after[citizen.marker]
        assert now is not None
        assert (
            now["citizen"]["phone"] == citizen.e164 and now["citizen"]["national_id"] == citizen.national_id
        )
        assert now["description"] == citizen.description and now["status"] == before[citizen.marker]["status"]
        assert now["answer"] == citizen.answer and citizen.note in [e["text"] for e in now["timeline"]]
    assert funnel(platform, session) == funnel_before

    # Nowhere: topics (every record, and Kafka's files), every collection (and FerretDB's files), a dump, the logs.
    dump_dir = tmp_path / "dumps"
    dump_dir.mkdir()

    def dump(topic: str) -> None:
        out = str(dump_dir / f"{topic}.jsonl")
        samad("events", "dump", "--topic", topic, "--from", "earliest", "--output", out, env=ops_env)

    topics = ("samad.calls.v1", "samad.cases.v1", "samad.notifications.v1", "samad.deadletter.v1")
    with ThreadPoolExecutor(len(topics)) as pool:  # the four dumps at once, not one after another
        list(pool.map(dump, topics))
    places = {
        "topics (records)": asyncio.run(every_record()),
        "topics (Kafka's files)": files_under(TEST_HOME / "kafka-data"),
        "collections": asyncio.run(every_document()),
        "FerretDB's SQLite files": files_under(TEST_HOME / "ferretdb-data"),
        "samad events dump": files_under(dump_dir),
        "service logs": b"".join(p.log_path.read_bytes() for p in platform.values()),
    }
    found = {place: leaks(blob, erased) for place, blob in places.items()}
    assert found == {place: [] for place in places}, found
    # The search would have seen them: the SMS gateway (outside the platform) got the phone before the
    # erasure, and the tracking code is in the clear everywhere it travels.
    gateway = Path(platform["notify"].env["SAMAD_SMS_FILE_PATH"]).read_bytes()
    assert "phone (E.164)" in leaks(gateway, erased)
    code = cases[erased.marker]["tracking_code"].encode()
    assert code in places["topics (records)"] and code in places["collections"]


async def _caught_up(group: str) -> None:
    """Until ``group`` has committed every event the cases topic holds now."""
    async with KafkaLog(KAFKA, client_id="samad-erasure-test") as log:
        ends = await log.ends(["samad.cases.v1"])  # what notify consumes

        async def done() -> bool:
            committed = await log.committed(group)
            return all((committed.get(tp) or 0) >= end for tp, end in ends.items() if end)

        await wait_for(done, timeout=180, interval=0.5)
