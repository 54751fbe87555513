"""The duty roster: a supervisor adds or removes a week; anyone reads it (JSON, JSON Feed, iCalendar) and
asks who is on duty now.

No two entries of a province may overlap, across every routing replica: a new entry claims the slots
it occupies in the database (see services.routing.adapters.roster), is checked against the roster as
stored, is written, and is checked once more. The second check is what makes the rule hold even if a
create stalled past its claims' lease while another took them over: of two overlapping entries, the
later writer sees the earlier one and withdraws.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from contracts.catalogue import AgencyCode
from contracts.events import new_id
from services.common.clock import Clock
from services.routing.adapters.roster import RosterBusy, RosterStore, SlotsTaken
from services.routing.domain.feeds import entry_document, icalendar, json_feed
from services.routing.domain.roster import (
    DEFAULT_LOCATION,
    Conflict,
    DutyHours,
    DutySession,
    RosterEntry,
    RosterProblem,
    conflicts,
    occupied_slots,
    on_duty,
    validate,
    within,
)

__all__ = ["RosterBusy"]

log = logging.getLogger("samad.routing.roster")

# A slot found taken by an entry that is gone when the roster is read (removed meanwhile) is claimed
# again; a roster that keeps changing under a create this often is reported busy.
CLAIM_ATTEMPTS = 5


class InvalidEntry(ValueError):
    def __init__(self, problems: list[RosterProblem]) -> None:
        super().__init__("; ".join(p.en for p in problems))
        self.problems = problems


class RosterOverlap(Exception):
    def __init__(self, clash: list[Conflict]) -> None:
        super().__init__(clash[0].why_en)
        self.conflicts = clash


class EntryNotFound(LookupError):
    pass


@dataclass(frozen=True)
class NewEntry:
    """A week as a supervisor sends it; province and location default to the service's."""

    week_start: date
    agency: AgencyCode
    director_name: str
    hours: tuple[DutyHours, ...]
    director_title: str | None = None
    province: str | None = None
    location: str | None = None


class AddRosterEntry:
    def __init__(self, roster: RosterStore, tz: ZoneInfo, province: str) -> None:
        self.roster = roster
        self.tz = tz
        self.province = province

    async def __call__(self, new: NewEntry, by: str) -> RosterEntry:
        """The entry as stored. Raises InvalidEntry, RosterOverlap, or RosterBusy."""
        entry = RosterEntry(
            id=new_id(),
            province=new.province or self.province,
            week_start=new.week_start,
            agency=new.agency,
            director_name=new.director_name.strip(),
            director_title=new.director_title,
            location=new.location or DEFAULT_LOCATION,
            hours=new.hours,
        )
        problems = validate(entry)
        if problems:
            raise InvalidEntry(problems)
        slots = occupied_slots(entry, self.tz)
        await self._claim(entry, slots)
        written = False
        try:
            await self._check(entry)
            await self.roster.add(entry)
            written = True
            await self._check(entry)
        except BaseException:
            # Entry first: until its claims are given back, nobody takes them (they are young).
            if written:
                await self.roster.delete(entry.id)
            await self.roster.release(entry.id, slots)
            raise
        log.info("roster: %s week %s added by %s", entry.agency.value, entry.week_start, by)
        return entry

    async def _claim(self, entry: RosterEntry, slots: Sequence[str]) -> None:
        for _ in range(CLAIM_ATTEMPTS):
            try:
                await self.roster.claim(entry.id, slots)
                return
            except SlotsTaken:
                await self._check(entry)
        raise RosterBusy(f"the roster of {entry.province} kept changing while entry {entry.id} was added")

    async def _check(self, entry: RosterEntry) -> None:
        clash = conflicts(entry, await self.roster.entries_now(entry.province), self.tz)
        if clash:
            raise RosterOverlap(clash)


class RemoveRosterEntry:
    def __init__(self, roster: RosterStore, tz: ZoneInfo) -> None:
        self.roster = roster
        self.tz = tz

    async def __call__(self, entry_id: str) -> None:
        entry = await self.roster.get(entry_id)
        if entry is None:
            raise EntryNotFound(entry_id)
        # Slots first, then the entry: an entry that exists never has a slot another could take over.
        await self.roster.release(entry.id, occupied_slots(entry, self.tz))
        if not await self.roster.delete(entry.id):
            raise EntryNotFound(entry_id)


class RosterViews:
    """The roster as it is read: entries, one entry, who is on duty, the feeds."""

    def __init__(
        self, roster: RosterStore, clock: Clock, tz: ZoneInfo, province: str, public_url: str
    ) -> None:
        self.roster = roster
        self.clock = clock
        self.tz = tz
        self.province = province
        self.public_url = public_url

    def document(self, entry: RosterEntry) -> dict[str, Any]:
        return entry_document(entry, self.tz)

    async def entries(
        self, province: str | None = None, start: date | None = None, end: date | None = None
    ) -> list[RosterEntry]:
        return within(await self.roster.entries(province or self.province), start, end)

    async def entry(self, entry_id: str) -> RosterEntry:
        for e in await self.roster.entries(None):
            if e.id == entry_id:
                return e
        raise EntryNotFound(entry_id)

    async def on_duty(self, province: str | None = None) -> tuple[DutySession, RosterEntry] | None:
        province = province or self.province
        return on_duty(await self.roster.entries(province), province, self.clock.now(), self.tz)

    async def json_feed(self, province: str | None, feed_url: str) -> dict[str, Any]:
        return json_feed(await self.entries(province), self.tz, self.public_url, feed_url)

    async def calendar(self, province: str | None) -> str:
        return icalendar(await self.entries(province), self.tz, self.clock.now())
