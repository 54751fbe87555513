"""The roster's slot claims on the real FerretDB: a slot is held by one entry only, however many replicas
claim it at once; a claim whose create died is taken over after its lease; releasing gives back only the
releasing entry's claims; and of overlapping entries added at once through two stores, exactly one stays."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from services.common.clock import SystemClock
from services.common.publishing import InMemoryPublisher
from services.routing.adapters.cases import InMemoryRoutingStore
from services.routing.adapters.roster import Claim, MongoClaimTable, MongoRosterStore, SlotsTaken
from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.domain.roster import DutyHours, RosterEntry, occupied_slots
from services.routing.service.roster import NewEntry, RosterOverlap
from services.routing.settings import RoutingSettings
from tests.support.stack import MONGO

SATURDAY = date(2026, 11, 28)


def entry(entry_id: str, agency: AgencyCode, start: int = 9, end: int = 12) -> RosterEntry:
    return RosterEntry(
        id=entry_id,
        province="khorasan_razavi",
        week_start=SATURDAY,
        agency=agency,
        director_name="مهندس رضایی",
        hours=(DutyHours(SATURDAY + timedelta(days=1), time(start), time(end)),),
    )


def store(db: Any, lease: float = 15.0) -> MongoRosterStore:
    return MongoRosterStore(db.client, db.name, claim_lease_seconds=lease, clock=SystemClock())


async def test_one_slot_one_holder_and_ordered_claims_stop_at_the_first_held(scratch_db: Any) -> None:
    table = MongoClaimTable(scratch_db["roster_claims"])
    now = datetime.now(UTC)
    winners = await asyncio.gather(
        *(table.insert_in_order([Claim("s-1", f"e{i}", now), Claim("s-2", f"e{i}", now)]) for i in range(12))
    )
    assert sorted(winners) == [0] * 11 + [2]
    assert (
        await table.insert_in_order([Claim("s-0", "x", now), Claim("s-1", "x", now), Claim("s-3", "x", now)])
        == 1
    )
    assert await table.get("s-3") is None  # stopped at s-1
    holder = await table.get("s-1")
    assert holder is not None
    await table.release(["s-0", "s-1", "s-2"], "x")  # only x's own claim goes
    assert await table.get("s-0") is None and await table.get("s-1") == holder

    # A long claim held up early holds exactly the slots before it, however the server batches inserts.
    long = [Claim(f"t-{i:04d}", "y", now) for i in range(400)]
    await table.insert_in_order([Claim("t-0007", "z", now)])
    assert await table.insert_in_order(long) == 7
    assert await scratch_db["roster_claims"].count_documents({"entry": "y"}) == 7


async def test_a_create_in_flight_is_waited_for_then_its_entry_is_reported(scratch_db: Any) -> None:
    first, second = store(scratch_db), store(scratch_db)
    a, b = entry("a", AgencyCode.education), entry("b", AgencyCode.welfare, 11, 13)
    tz = RoutingSettings().roster_timezone
    from zoneinfo import ZoneInfo

    slots_a, slots_b = occupied_slots(a, ZoneInfo(tz)), occupied_slots(b, ZoneInfo(tz))
    await first.claim("a", slots_a)
    waiting = asyncio.ensure_future(second.claim("b", slots_b))
    await asyncio.sleep(0.3)
    assert not waiting.done()  # a holds the slots and has not written its entry yet
    await first.add(a)
    with pytest.raises(SlotsTaken) as caught:
        await waiting
    assert caught.value.holder == "a"
    claims = scratch_db["roster_claims"]
    assert await claims.count_documents({"entry": "b"}) == 0
    assert await claims.count_documents({"entry": "a"}) == len(slots_a)


async def test_a_claim_whose_create_died_is_taken_over_after_its_lease(scratch_db: Any) -> None:
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(RoutingSettings().roster_timezone)
    b = entry("b", AgencyCode.welfare)
    slots = occupied_slots(b, tz)
    # A replica claimed the first slots, then died before writing entry "dead".
    died_at = datetime.now(UTC) - timedelta(seconds=1)
    await scratch_db["roster_claims"].insert_many(
        [{"_id": s, "entry": "dead", "at": died_at} for s in slots[:5]]
    )
    young = store(scratch_db, lease=30)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(young.claim("b", slots), 0.5)  # within the lease: still waiting
    await store(scratch_db, lease=0.5).claim("b", slots)
    assert await scratch_db["roster_claims"].count_documents({"entry": "b"}) == len(slots)
    assert await scratch_db["roster_claims"].count_documents({"entry": "dead"}) == 0


def replica(db: Any) -> RoutingContainer:
    """Routing as one replica sees the shared database: its own client, roster cache and claims."""
    settings = RoutingSettings(db_name=db.name, mongo_url=MONGO)
    return bootstrap(settings, cases=InMemoryRoutingStore(), publisher=InMemoryPublisher())


async def test_of_overlapping_entries_added_at_once_through_two_replicas_one_stays(scratch_db: Any) -> None:
    one, two = replica(scratch_db), replica(scratch_db)
    try:
        agencies = list(AgencyCode)[:8]
        adds = [
            (one if i % 2 else two).add_roster_entry(
                NewEntry(
                    week_start=SATURDAY,
                    agency=a,
                    director_name=f"مدیر {i}",
                    province="khorasan_razavi",
                    hours=(DutyHours(SATURDAY + timedelta(days=1), time(9 + i % 3), time(13)),),
                ),
                by="sup",
            )
            for i, a in enumerate(agencies)
        ]
        results = await asyncio.gather(*adds, return_exceptions=True)
        kept = [r for r in results if isinstance(r, RosterEntry)]
        refused = [r for r in results if isinstance(r, RosterOverlap)]
        assert len(kept) == 1 and len(refused) == len(agencies) - 1, results
        assert all([c.entry.id for c in r.conflicts] == [kept[0].id] for r in refused)
        stored = await one.roster.entries_now("khorasan_razavi")
        assert [e.id for e in stored] == [kept[0].id]
        claims = scratch_db["roster_claims"]
        assert {d["entry"] async for d in claims.find({})} == {kept[0].id}

        # Removed through the other replica: every slot is given back, and the hours are free again.
        await (two if kept[0] in results[1::2] else one).remove_roster_entry(kept[0].id)
        assert await claims.count_documents({}) == 0
        again = await two.add_roster_entry(
            NewEntry(
                week_start=SATURDAY,
                agency=AgencyCode.tax_affairs,
                director_name="مدیر تازه",
                province="khorasan_razavi",
                hours=(DutyHours(SATURDAY + timedelta(days=1), time(9), time(13)),),
            ),
            by="sup",
        )
        assert [e.id for e in await one.roster.entries_now("khorasan_razavi")] == [again.id]
    finally:
        await one.shutdown()
        await two.shutdown()


def hours(start: int, end: int, day: int = 1) -> tuple[DutyHours, ...]:
    return (DutyHours(SATURDAY + timedelta(days=day), time(start), time(end)),)


async def test_entries_moved_onto_the_same_hours_through_two_replicas_one_move_stays(scratch_db: Any) -> None:
    one, two = replica(scratch_db), replica(scratch_db)
    try:

        def week(agency: AgencyCode, start: int, end: int) -> NewEntry:
            return NewEntry(
                week_start=SATURDAY,
                agency=agency,
                director_name=f"مدیر {agency.value}",
                province="khorasan_razavi",
                hours=hours(start, end),
            )

        a = await one.add_roster_entry(week(AgencyCode.education, 7, 8), by="sup")
        b = await two.add_roster_entry(week(AgencyCode.welfare, 17, 18), by="sup")
        results = await asyncio.gather(
            one.move_roster_entry(a.id, week(AgencyCode.education, 10, 12), by="sup"),
            two.move_roster_entry(b.id, week(AgencyCode.welfare, 11, 13), by="sup"),
            return_exceptions=True,
        )
        assert sum(isinstance(r, RosterOverlap) for r in results) == 1, results
        stored = {e.id: e for e in await one.roster.entries_now("khorasan_razavi")}
        kept = next(r for r in results if isinstance(r, RosterEntry))
        assert stored[kept.id] == kept
        claims = scratch_db["roster_claims"]
        held = {d["_id"] async for d in claims.find({})}
        assert held == set(occupied_slots(stored[a.id], one.tz)) | set(occupied_slots(stored[b.id], one.tz))
    finally:
        await one.shutdown()
        await two.shutdown()
