"""Routing's store reads a province's roster at most once per cache period: its own changes are seen
at once, another replica's once the period is over."""

from __future__ import annotations

import asyncio
from datetime import date, time
from typing import Any

from contracts.catalogue import AgencyCode
from services.routing.adapters.roster import MongoRosterStore, entry_doc
from services.routing.domain.roster import DutyHours, RosterEntry


def entry(entry_id: str, agency: AgencyCode) -> RosterEntry:
    return RosterEntry(
        id=entry_id,
        province="khorasan_razavi",
        week_start=date(2026, 11, 28),
        agency=agency,
        director_name="مهندس رضایی",
        hours=(DutyHours(date(2026, 11, 29), time(9, 0), time(12, 0)),),
    )


async def test_the_roster_is_read_once_per_period_and_own_changes_show_at_once(
    scratch_db: Any,
) -> None:
    client, name = scratch_db.client, scratch_db.name
    mine = MongoRosterStore(client, name, cache_seconds=0.5)
    assert await mine.entries("khorasan_razavi") == []

    # Another replica adds an entry: not seen until the period is over.
    await scratch_db["roster"].insert_one(entry_doc(entry("e1", AgencyCode.water_wastewater)))
    assert await mine.entries("khorasan_razavi") == []
    # The overlap check reads past the cache.
    assert [e.id for e in await mine.entries_now("khorasan_razavi")] == ["e1"]
    await asyncio.sleep(0.6)
    assert [e.id for e in await mine.entries("khorasan_razavi")] == ["e1"]

    # This replica's own changes: at once.
    await mine.add(entry("e2", AgencyCode.tax_affairs))
    assert sorted(e.id for e in await mine.entries("khorasan_razavi")) == ["e1", "e2"]
    assert await mine.delete("e1")
    assert [e.id for e in await mine.entries("khorasan_razavi")] == ["e2"]
