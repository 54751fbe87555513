"""The roster's overlap rule across replicas: two routing processes on one database, as production runs
them. Overlapping weeks sent at once to both: exactly one is kept, every other request gets the same
409 problem document a single replica gives; removing and moving entries through either replica gives
their hours back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from contracts.events import new_id
from services.common.auth import Role
from tests.support.identity import LazyBearer
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import MONGO

SUPERVISOR = LazyBearer(Role.supervisor, sub="sup-replicas")
AGENCIES = [
    "education",
    "welfare",
    "tax_affairs",
    "water_wastewater",
    "social_security",
    "relief_committee",
    "civil_registration",
    "housing_foundation",
    "cooperatives_labour",
    "economy_finance",
]


@pytest.fixture(scope="module")
def replicas() -> Iterator[tuple[ServiceProcess, ServiceProcess, str]]:
    tag = new_id()[:10]
    db = f"samad_routing_replicas_{tag}"
    env = {
        "SAMAD_DB_NAME": db,
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test.replicas.{tag}",
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
    }
    procs = (
        ServiceProcess("routing", free_port(), env, log_dir()),
        ServiceProcess("routing", free_port(), env, log_dir()),
    )
    try:
        for p in procs:
            p.start(wait_ready=False)
        for p in procs:
            p.wait_ready(timeout=90)
        yield procs[0], procs[1], db
    finally:
        for p in procs:
            p.stop()
        with MongoClient(MONGO) as client:
            client.drop_database(db)


def week(saturday: str, agency: str, day: str, start: str, end: str) -> dict[str, Any]:
    return {
        "week_start": saturday,
        "agency": agency,
        "director_name": f"مدیرکل {agency}",
        "hours": [{"date": day, "start": start, "end": end}],
    }


async def fire(targets: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Send every request at once, each to its replica."""
    async with httpx.AsyncClient(timeout=60) as http:
        return await asyncio.gather(
            *(http.post(f"{url}/v1/roster", json=body, headers=SUPERVISOR) for url, body in targets)
        )


def stored(db: str, saturday: str | None = None) -> list[dict[str, Any]]:
    with MongoClient(MONGO) as client:
        return list(client[db]["roster"].find({"week_start": saturday} if saturday else {}))


def claims_of(db: str) -> set[str]:
    with MongoClient(MONGO) as client:
        return {d["entry"] for d in client[db]["roster_claims"].find({})}


@pytest.mark.parametrize(
    ("saturday", "day"),
    [("2027-01-02", "2027-01-03"), ("2027-01-09", "2027-01-11"), ("2027-01-16", "2027-01-16")],
)
async def test_overlapping_weeks_sent_at_once_to_both_replicas_keep_exactly_one(
    replicas: tuple[ServiceProcess, ServiceProcess, str], saturday: str, day: str
) -> None:
    one, two, db = replicas
    targets = [
        ((one if i % 2 else two).url, week(saturday, agency, day, f"{9 + i % 3:02d}:00", "13:00"))
        for i, agency in enumerate(AGENCIES)
    ]
    answers = await fire(targets)
    created = [a for a in answers if a.status_code == 201]
    refused = [a for a in answers if a.status_code == 409]
    assert len(created) == 1 and len(refused) == len(AGENCIES) - 1, [(a.status_code, a.text) for a in answers]
    winner = created[0].json()

    # A single replica, asked one more time (by an agency that took no part), gives the same document.
    async with httpx.AsyncClient(timeout=30) as http:
        late = await http.post(
            f"{one.url}/v1/roster",
            json=week(saturday, "martyrs_foundation", day, "12:00", "14:00"),
            headers=SUPERVISOR,
        )
    assert late.status_code == 409
    expected = late.json()
    assert expected["type"] == "https://samad.ir/problems/roster-overlap"
    assert expected["title"] == "برنامهٔ کشیک با برنامهٔ دیگری هم‌پوشانی دارد"
    assert [c["id"] for c in expected["conflicts"]] == [winner["id"]]
    assert all(a.json() == expected for a in refused), [a.json() for a in refused]
    assert all(a.headers["content-type"].startswith("application/problem+json") for a in refused)

    # Stored: the one entry; the refused ones left no claim behind (claims belong to stored entries only).
    assert [e["_id"] for e in stored(db, saturday)] == [winner["id"]]
    assert claims_of(db) == {e["_id"] for e in stored(db)}


async def test_one_entry_per_agency_and_week_across_replicas(
    replicas: tuple[ServiceProcess, ServiceProcess, str],
) -> None:
    one, two, _db = replicas
    saturday = "2027-02-06"
    answers = await fire(
        [
            (one.url, week(saturday, "education", "2027-02-06", "09:00", "10:00")),
            (two.url, week(saturday, "education", "2027-02-08", "09:00", "10:00")),
            (one.url, week(saturday, "education", "2027-02-10", "09:00", "10:00")),
            (two.url, week(saturday, "education", "2027-02-12", "09:00", "10:00")),
        ]
    )
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409]
    assert claims_of(replicas[2]) == {e["_id"] for e in stored(replicas[2])}
    assert {a.json()["conflicts"][0]["reason"] for a in answers if a.status_code == 409} == {
        "This agency already has an entry for this week"
    }


async def test_removed_and_moved_entries_give_their_hours_back_on_either_replica(
    replicas: tuple[ServiceProcess, ServiceProcess, str],
) -> None:
    one, two, db = replicas
    saturday, day = "2027-03-06", "2027-03-07"
    async with httpx.AsyncClient(timeout=30) as http:

        async def add(replica: ServiceProcess, agency: str, start: str, end: str) -> httpx.Response:
            body = week(saturday, agency, day, start, end)
            return await http.post(f"{replica.url}/v1/roster", json=body, headers=SUPERVISOR)

        first = await add(one, "education", "09:00", "12:00")
        assert first.status_code == 201, first.text
        assert (await add(two, "welfare", "10:00", "11:00")).status_code == 409

        # Removed through the other replica: its hours are free at once, through either replica.
        gone = await http.delete(f"{two.url}/v1/roster/{first.json()['id']}", headers=SUPERVISOR)
        assert gone.status_code == 204
        assert (
            await http.delete(f"{one.url}/v1/roster/{first.json()['id']}", headers=SUPERVISOR)
        ).status_code == 404
        taker = await add(one, "welfare", "10:00", "11:00")
        assert taker.status_code == 201, taker.text

        # Moved (removed, then added again with other hours): the old hours go to another agency.
        assert (
            await http.delete(f"{one.url}/v1/roster/{taker.json()['id']}", headers=SUPERVISOR)
        ).status_code == 204
        moved = await add(two, "welfare", "14:00", "16:00")
        assert moved.status_code == 201, moved.text
        again = await add(one, "tax_affairs", "09:00", "12:00")
        assert again.status_code == 201, again.text
        clash = await add(one, "education", "15:00", "17:00")
        assert clash.status_code == 409 and clash.json()["conflicts"][0]["id"] == moved.json()["id"]

    assert {moved.json()["id"], again.json()["id"]} <= claims_of(db)
    assert not {first.json()["id"], taker.json()["id"]} & claims_of(db)
    assert claims_of(db) == {e["_id"] for e in stored(db)}
