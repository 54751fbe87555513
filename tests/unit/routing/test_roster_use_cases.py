"""The roster use cases on the in-memory fakes: add (validated, no overlap, even when created at once),
remove (its slots given back), and the views. The claim protocol runs here exactly as on MongoDB, over
the in-memory claim table."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time, timedelta

import pytest

from contracts.catalogue import AgencyCode
from services.common.clock import FixedClock
from services.routing.adapters.roster import Claim, InMemoryRosterStore
from services.routing.bootstrap import RoutingContainer
from services.routing.domain.roster import DEFAULT_LOCATION, DutyHours, occupied_slots
from services.routing.service.roster import EntryNotFound, InvalidEntry, NewEntry, RosterOverlap
from tests.unit.routing.helpers import NOW, SATURDAY, container, entry

SUNDAY = SATURDAY + timedelta(days=1)


def new(agency: AgencyCode, start: int = 9, end: int = 12, day: int = 0, **extra: object) -> NewEntry:
    hours = (DutyHours(SATURDAY + timedelta(days=day), time(start), time(end)),)
    return NewEntry(
        week_start=SATURDAY, agency=agency, director_name=f" مدیر {agency.value} ", hours=hours, **extra
    )  # type: ignore[arg-type]


def roster_of(c: RoutingContainer) -> InMemoryRosterStore:
    store = c.roster
    assert isinstance(store, InMemoryRosterStore)
    return store


async def test_an_entry_is_added_with_the_services_defaults_and_holds_its_slots() -> None:
    c = container()
    added = await c.add_roster_entry(new(AgencyCode.education), by="sup")
    assert added.province == c.settings.province and added.location == DEFAULT_LOCATION
    assert added.director_name == "مدیر education"
    assert await c.roster.get(added.id) == added
    claims = roster_of(c).table.claims
    assert set(claims) == set(occupied_slots(added, c.tz))
    assert {cl.entry_id for cl in claims.values()} == {added.id}


async def test_an_invalid_entry_is_refused_with_every_problem_and_claims_nothing() -> None:
    c = container()
    bad = NewEntry(
        week_start=SUNDAY,
        agency=AgencyCode.education,
        director_name="x y",
        hours=(DutyHours(SATURDAY, time(12), time(9)),),
    )
    with pytest.raises(InvalidEntry) as caught:
        await c.add_roster_entry(bad, by="sup")
    assert {p.code for p in caught.value.problems} >= {"not_saturday", "end_before_start"}
    assert roster_of(c).table.claims == {} and await c.roster.entries() == []


async def test_an_overlapping_entry_is_refused_naming_the_entry_it_overlaps() -> None:
    c = container()
    first = await c.add_roster_entry(new(AgencyCode.education), by="sup")
    with pytest.raises(RosterOverlap) as caught:
        await c.add_roster_entry(new(AgencyCode.welfare, 11, 14), by="sup")
    assert [x.entry.id for x in caught.value.conflicts] == [first.id]
    assert "overlap" in caught.value.conflicts[0].why_en
    with pytest.raises(RosterOverlap) as caught:
        await c.add_roster_entry(new(AgencyCode.education, 9, 12, day=3), by="sup")
    assert "this week" in caught.value.conflicts[0].why_en
    # The refused ones hold nothing: back-to-back hours still fit.
    assert {cl.entry_id for cl in roster_of(c).table.claims.values()} == {first.id}
    await c.add_roster_entry(new(AgencyCode.welfare, 12, 14), by="sup")


async def test_an_entry_without_claims_is_still_respected() -> None:
    """Entries written before claims existed hold no slot; the check against the stored roster keeps them."""
    c = container([entry(AgencyCode.education, entry_id="old")])
    with pytest.raises(RosterOverlap) as caught:
        await c.add_roster_entry(new(AgencyCode.welfare, 10, 11), by="sup")
    assert caught.value.conflicts[0].entry.id == "old"
    assert roster_of(c).table.claims == {}


async def test_of_overlapping_entries_created_at_once_exactly_one_is_kept() -> None:
    c = container()
    agencies = list(AgencyCode)[:6]
    results = await asyncio.gather(
        *(c.add_roster_entry(new(a, 9 + i % 2, 12), by="sup") for i, a in enumerate(agencies)),
        return_exceptions=True,
    )
    kept = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, RosterOverlap)]
    assert len(kept) == 1 and len(refused) == len(agencies) - 1
    assert all([x.entry.id for x in r.conflicts] == [kept[0].id] for r in refused)
    assert [e.id for e in await c.roster.entries()] == [kept[0].id]


async def test_removing_an_entry_gives_its_slots_back() -> None:
    c = container()
    first = await c.add_roster_entry(new(AgencyCode.education), by="sup")
    await c.remove_roster_entry(first.id)
    assert roster_of(c).table.claims == {} and await c.roster.get(first.id) is None
    with pytest.raises(EntryNotFound):
        await c.remove_roster_entry(first.id)
    # Moved: the same week with other hours, then the old hours are free for another agency.
    moved = await c.add_roster_entry(new(AgencyCode.education, 14, 16), by="sup")
    taker = await c.add_roster_entry(new(AgencyCode.welfare, 9, 12), by="sup")
    assert {e.id for e in await c.roster.entries()} == {moved.id, taker.id}
    assert {cl.entry_id for cl in roster_of(c).table.claims.values()} == {moved.id, taker.id}


async def test_a_claim_left_by_a_create_that_died_is_taken_over_once_its_lease_is_over() -> None:
    clock = FixedClock(NOW)
    c = container(clock=clock, lease_seconds=0.2)
    probe = entry(AgencyCode.welfare, hours=((SATURDAY, 9, 12),), entry_id="dead")
    slot = occupied_slots(probe, c.tz)[0]
    # A create that claimed a slot a while ago and never wrote its entry.
    roster_of(c).table.claims[slot] = Claim(slot, "dead", NOW - timedelta(seconds=1))
    added = await c.add_roster_entry(new(AgencyCode.education), by="sup")
    assert roster_of(c).table.claims[slot].entry_id == added.id


async def test_a_young_claim_of_a_create_in_flight_is_waited_for() -> None:
    clock = FixedClock(NOW)
    c = container(clock=clock, lease_seconds=30)
    probe = entry(AgencyCode.welfare, hours=((SATURDAY, 9, 12),), entry_id="inflight")
    slot = occupied_slots(probe, c.tz)[0]
    roster_of(c).table.claims[slot] = Claim(slot, "inflight", NOW)

    async def finish_in_flight() -> None:
        await asyncio.sleep(0.05)
        await c.roster.add(probe)  # the other create writes its entry: now it is an overlap

    adding = asyncio.ensure_future(c.add_roster_entry(new(AgencyCode.education), by="sup"))
    await finish_in_flight()
    with pytest.raises(RosterOverlap) as caught:
        await adding
    assert caught.value.conflicts[0].entry.id == "inflight"


async def test_an_entry_that_finds_an_overlap_after_writing_withdraws() -> None:
    """A create stalled past its lease loses its slots to another; whoever writes second sees the
    first and withdraws, releasing only the claims it still holds."""
    c = container()
    store = roster_of(c)
    rival = entry(AgencyCode.welfare, hours=((SATURDAY, 10, 11),), entry_id="rival")
    original_add = store.add

    async def add_while_rival_slips_in(e: object) -> None:
        await original_add(e)  # type: ignore[arg-type]
        await original_add(rival)  # the rival wrote in the meantime, holding taken-over slots

    store.add = add_while_rival_slips_in  # type: ignore[method-assign]
    with pytest.raises(RosterOverlap) as caught:
        await c.add_roster_entry(new(AgencyCode.education), by="sup")
    assert caught.value.conflicts[0].entry.id == "rival"
    assert [e.id for e in await store.entries()] == ["rival"]
    assert store.table.claims == {}


async def test_the_views_list_find_and_say_who_is_on_duty() -> None:
    at_ten = datetime(2025, 3, 22, 6, 30, tzinfo=UTC)  # Saturday 10:00 in Tehran
    c = container([entry(AgencyCode.education)], clock=FixedClock(at_ten))
    views = c.roster_views
    assert [e.id for e in await views.entries()] == ["e1"]
    assert await views.entries("tehran") == []
    assert (await views.entry("e1")).id == "e1"
    with pytest.raises(EntryNotFound):
        await views.entry("nope")
    found = await views.on_duty()
    assert found is not None and found[1].id == "e1"
    assert views.document(found[1])["week_start_jalali"] == "1404-01-02"
    feed = await views.json_feed(None, "http://x/feed.json")
    assert feed["feed_url"] == "http://x/feed.json" and len(feed["items"]) == 1
    assert "BEGIN:VEVENT" in await views.calendar(None)


def held_by(c: RoutingContainer, entry_id: str) -> set[str]:
    return {slot for slot, cl in roster_of(c).table.claims.items() if cl.entry_id == entry_id}


async def test_a_moved_entry_keeps_its_id_holds_exactly_its_new_slots_and_frees_the_old_ones() -> None:
    c = container()
    first = await c.add_roster_entry(new(AgencyCode.education, 9, 12), by="sup")
    # Overlapping its own old hours is no overlap: 9-12 becomes 10-13, then Sunday 14-16.
    moved = await c.move_roster_entry(first.id, new(AgencyCode.education, 10, 13), by="sup")
    assert moved.id == first.id and moved.hours[0].start == time(10)
    assert held_by(c, first.id) == set(occupied_slots(moved, c.tz))
    moved = await c.move_roster_entry(first.id, new(AgencyCode.education, 14, 16, day=1), by="sup")
    assert [e.hours for e in await c.roster.entries()] == [moved.hours]
    assert set(roster_of(c).table.claims) == set(occupied_slots(moved, c.tz))  # nothing else is held
    # Saturday morning is free again for another agency.
    await c.add_roster_entry(new(AgencyCode.welfare, 9, 13), by="sup")


async def test_a_move_onto_another_entry_is_refused_and_changes_nothing() -> None:
    c = container()
    first = await c.add_roster_entry(new(AgencyCode.education, 9, 12), by="sup")
    other = await c.add_roster_entry(new(AgencyCode.welfare, 14, 16), by="sup")
    before = dict(roster_of(c).table.claims)
    with pytest.raises(RosterOverlap) as caught:
        await c.move_roster_entry(first.id, new(AgencyCode.education, 11, 15), by="sup")
    assert [x.entry.id for x in caught.value.conflicts] == [other.id]
    assert await c.roster.get(first.id) == first and roster_of(c).table.claims == before
    with pytest.raises(InvalidEntry):
        await c.move_roster_entry(first.id, new(AgencyCode.education, 12, 9), by="sup")
    with pytest.raises(EntryNotFound):
        await c.move_roster_entry("nope", new(AgencyCode.education), by="sup")
    assert roster_of(c).table.claims == before


async def test_a_move_that_finds_an_overlap_after_writing_puts_the_entry_back() -> None:
    c = container()
    store = roster_of(c)
    first = await c.add_roster_entry(new(AgencyCode.education, 9, 12), by="sup")
    rival = entry(AgencyCode.welfare, hours=((SATURDAY, 13, 14),), entry_id="rival")
    original_replace = store.replace

    async def replace_while_rival_slips_in(e: object) -> bool:
        done = await original_replace(e)  # type: ignore[arg-type]
        if "rival" not in store.by_id:
            await store.add(rival)  # written in the meantime, holding slots taken over
        return done

    store.replace = replace_while_rival_slips_in  # type: ignore[method-assign]
    with pytest.raises(RosterOverlap) as caught:
        await c.move_roster_entry(first.id, new(AgencyCode.education, 12, 15), by="sup")
    assert caught.value.conflicts[0].entry.id == "rival"
    assert await store.get(first.id) == first
    assert held_by(c, first.id) == set(occupied_slots(first, c.tz))


async def test_two_moves_of_one_entry_at_once_take_turns_and_the_last_one_holds() -> None:
    c = container()
    first = await c.add_roster_entry(new(AgencyCode.education, 9, 12), by="sup")
    a, b = await asyncio.gather(
        c.move_roster_entry(first.id, new(AgencyCode.education, 14, 16), by="sup"),
        c.move_roster_entry(first.id, new(AgencyCode.education, 8, 10, day=2), by="sup"),
    )
    stored = await c.roster.get(first.id)
    assert stored in (a, b)
    assert stored is not None and set(roster_of(c).table.claims) == set(occupied_slots(stored, c.tz))


async def test_two_entries_moved_onto_the_same_hours_at_once_cannot_both_succeed() -> None:
    c = container()
    one = await c.add_roster_entry(new(AgencyCode.education, 8, 9), by="sup")
    two = await c.add_roster_entry(new(AgencyCode.welfare, 17, 18), by="sup")
    results = await asyncio.gather(
        c.move_roster_entry(one.id, new(AgencyCode.education, 10, 12), by="sup"),
        c.move_roster_entry(two.id, new(AgencyCode.welfare, 11, 13), by="sup"),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RosterOverlap) for r in results) == 1
    kept = [r for r in results if not isinstance(r, BaseException)]
    stored = {e.id: e for e in await c.roster.entries()}
    assert len(kept) == 1 and stored[kept[0].id] == kept[0]
    claims = roster_of(c).table.claims
    assert set(claims) == set(occupied_slots(stored[one.id], c.tz)) | set(
        occupied_slots(stored[two.id], c.tz)
    )
