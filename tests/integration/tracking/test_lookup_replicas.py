"""The citizen lookup's limits across replicas, as production runs them: two tracking processes on one
database behind a proxy they trust (the tests stand in for it on 127.0.0.1). Guessing the phone of
one case from ten forwarded addresses through both replicas is stopped after a handful of answers;
a forwarded header from a peer that is not a trusted proxy counts for nothing; a wrong code and a
wrong phone get the same answer."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from contracts.events import new_id
from services.common.auth import Role
from tests.integration.tracking.conftest import publish
from tests.support.identity import LazyBearer
from tests.support.kafka import wait_for
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import MONGO
from tests.unit.tracking.factory import CaseEvents

SUPERVISOR = LazyBearer(Role.supervisor, sub="sup-lookup-replicas")
# The tests connect from 127.0.0.1, the trusted proxy; from 127.0.0.2 they are a peer nobody trusts.
UNTRUSTED_PEER = "127.0.0.2"
# The settings' defaults: 10 lookups per client per minute, 5 failures per code per hour.
CODE_FAILURES = 5


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[ServiceProcess, ServiceProcess, str]]:
    tag = new_id()[:10]
    db = f"samad_tracking_replicas_{tag}"
    env = {
        "SAMAD_DB_NAME": db,
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test.lookup-replicas.{tag}",
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_SWEEP_INTERVAL_SECONDS": "0",
        "SAMAD_TRUSTED_PROXIES": '["127.0.0.1/32"]',
    }
    procs = (
        ServiceProcess("tracking", free_port(), env, log_dir()),
        ServiceProcess("tracking", free_port(), env, log_dir()),
    )
    try:
        for p in procs:
            p.start(wait_ready=False)
        for p in procs:
            p.wait_ready(timeout=120)
        yield procs[0], procs[1], db
    finally:
        for p in procs:
            p.stop()
        with MongoClient(MONGO) as client:
            client.drop_database(db)


async def projected_case(replicas: tuple[ServiceProcess, ServiceProcess, str], name: str) -> CaseEvents:
    """A case registered and routed through Kafka, projected by whichever replica holds its partition."""
    one, two, _db = replicas
    c = CaseEvents(f"replicas-{name}-{uuid.uuid4().hex[:8]}")
    await publish([c.registered(), c.routed()])
    async with httpx.AsyncClient(timeout=10, headers=SUPERVISOR) as http:

        async def seen_by_both() -> bool | None:
            answers = [await http.get(f"{p.url}/v1/cases/{c.case_id}") for p in (one, two)]
            return all(a.status_code == 200 and a.json()["status"] == "routed" for a in answers) or None

        await wait_for(seen_by_both, timeout=60, interval=0.3)
    return c


def client_keys(db: str) -> set[str]:
    with MongoClient(MONGO) as client:
        return {d["key"] for d in client[db]["lookup_attempts"].find({"key": {"$regex": "^client:"}})}


async def test_a_thousand_guesses_from_ten_addresses_through_two_replicas_get_a_handful_of_answers(
    replicas: tuple[ServiceProcess, ServiceProcess, str],
) -> None:
    one, two, db = replicas
    c = await projected_case(replicas, "brute")
    addresses = [f"198.51.100.{n}" for n in range(1, 11)]
    # Every phone ending but the right one, spread over both replicas and all ten addresses.
    guesses = [f"{n:04d}" for n in range(10_000) if f"{n:04d}" != "4567"][:1000]
    plan = list(zip(guesses, itertools.cycle(addresses), itertools.cycle((one, two, two, one)), strict=False))
    limit = asyncio.Semaphore(20)

    async with httpx.AsyncClient(timeout=30) as http:

        async def guess(phone: str, address: str, replica: ServiceProcess) -> tuple[int, str]:
            async with limit:
                r = await http.get(
                    f"{replica.url}/v1/status/{c.code}",
                    params={"phone": phone},
                    headers={"X-Forwarded-For": address},
                )
            return r.status_code, replica.url

        answers = await asyncio.gather(*(guess(*step) for step in plan))

    statuses = Counter(status for status, _ in answers)
    not_limited = len(answers) - statuses[429]
    print(f"\n1,000 wrong-phone lookups of one code: {dict(statuses)}")
    assert len(answers) == 1000 and set(statuses) <= {404, 429}, statuses
    # At most the code's five failures in its window (ten should the test straddle two windows).
    assert 1 <= not_limited <= 2 * CODE_FAILURES, statuses
    assert {url for status, url in answers if status == 429} == {one.url, two.url}
    # The ten forwarded clients were counted, not the proxy.
    assert {f"client:{a}" for a in addresses} <= client_keys(db) and "client:127.0.0.1" not in client_keys(db)

    # The code stays locked for everybody, the right phone included, through either replica.
    async with httpx.AsyncClient(timeout=10) as http:
        for replica in (one, two):
            r = await http.get(
                f"{replica.url}/v1/status/{c.code}",
                params={"phone": "4567"},
                headers={"X-Forwarded-For": "203.0.113.77"},
            )
            assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["title"] == "تعداد درخواست‌ها بیش از حد مجاز است؛ کمی بعد دوباره تلاش کنید"


@pytest.fixture(scope="module")
def untrusting() -> Iterator[tuple[ServiceProcess, str]]:
    """Tracking behind a proxy range that is not this machine's (the base manifests' placeholder):
    a request from 127.0.0.1 comes from an untrusted peer."""
    tag = new_id()[:10]
    db = f"samad_tracking_untrusting_{tag}"
    proc = ServiceProcess(
        "tracking",
        free_port(),
        {
            "SAMAD_DB_NAME": db,
            "SAMAD_CONSUMER_GROUP_PREFIX": f"test.untrusting.{tag}",
            "SAMAD_CONSUMER_OFFSET_RESET": "latest",
            "SAMAD_SWEEP_INTERVAL_SECONDS": "0",
            "SAMAD_TRUSTED_PROXIES": '["192.0.2.0/24"]',
        },
        log_dir(),
    )
    try:
        yield proc.start(timeout=120), db
    finally:
        proc.stop()
        with MongoClient(MONGO) as client:
            client.drop_database(db)


async def forged_lookups(url: str, transport: httpx.AsyncHTTPTransport | None = None) -> list[int]:
    """25 lookups, each naming another client in X-Forwarded-For and another (unknown) code, so only
    the limit of the peer itself can refuse them."""
    statuses = []
    async with httpx.AsyncClient(timeout=10, transport=transport) as http:
        for n in range(25):
            code = CaseEvents(f"forged-{uuid.uuid4().hex}").code
            r = await http.get(
                f"{url}/v1/status/{code}",
                params={"phone": "4567"},
                headers={"X-Forwarded-For": f"192.0.2.{n + 1}, 100.64.0.{n + 1}"},
            )
            statuses.append(r.status_code)
    return statuses


def limited_as_one_client(statuses: list[int]) -> bool:
    """Ten per minute for the peer itself: ten answers, then 429 (should the lookups straddle a
    minute, at most ten more)."""
    return statuses[:10] == [404] * 10 and statuses.count(404) <= 20 and statuses.count(429) >= 5


async def test_a_forwarded_header_from_an_untrusted_peer_is_ignored(
    replicas: tuple[ServiceProcess, ServiceProcess, str], untrusting: tuple[ServiceProcess, str]
) -> None:
    # From 127.0.0.1 to a service that trusts another range (and not, as uvicorn would by default,
    # any peer on 127.0.0.1).
    proc, db = untrusting
    statuses = await forged_lookups(proc.url)
    assert limited_as_one_client(statuses), statuses
    assert client_keys(db) == {"client:127.0.0.1"}
    # From 127.0.0.2 to the replicas, which trust 127.0.0.1 only.
    one, _two, replicas_db = replicas
    statuses = await forged_lookups(one.url, httpx.AsyncHTTPTransport(local_address=UNTRUSTED_PEER))
    assert limited_as_one_client(statuses), statuses
    keys = client_keys(replicas_db)
    assert f"client:{UNTRUSTED_PEER}" in keys
    assert not any(k.startswith(("client:192.0.2.", "client:100.64.")) for k in keys)


async def test_a_wrong_code_and_a_wrong_phone_get_the_same_answer_from_either_replica(
    replicas: tuple[ServiceProcess, ServiceProcess, str],
) -> None:
    one, two, _db = replicas
    c = await projected_case(replicas, "alike")
    unknown = CaseEvents(f"nobody-{uuid.uuid4().hex}").code

    def shape(r: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
        # Everything but the time of the answer.
        return r.status_code, sorted((k, v) for k, v in r.headers.items() if k != "date"), r.content

    answers: list[Any] = []
    async with httpx.AsyncClient(timeout=10) as http:
        for n, (replica, code, phone) in enumerate(
            [(one, c.code, "1111"), (two, c.code, "2222"), (one, unknown, "4567"), (two, unknown, "4567")]
        ):
            r = await http.get(
                f"{replica.url}/v1/status/{code}",
                params={"phone": phone},
                headers={"X-Forwarded-For": f"203.0.113.{n + 1}"},
            )
            answers.append(shape(r))
        right = await http.get(
            f"{one.url}/v1/status/{c.code}",
            params={"phone": "4567"},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
    assert answers[0][0] == 404 and all(a == answers[0] for a in answers), answers
    assert right.status_code == 200 and right.json()["tracking_code"] == c.code
