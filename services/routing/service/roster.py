"""The duty roster: a supervisor adds, moves or removes a week; anyone reads it (JSON, JSON Feed,
iCalendar) and asks who is on duty now.

No two entries of a province may overlap, across every routing replica: a new entry claims the slots
it occupies in the database (see services.routing.adapters.roster), is checked against the roster as
stored, is written, and is checked once more. The second check is what makes the rule hold even if a
create stalled past its claims' lease while another took them over: of two overlapping entries, the
later writer sees the earlier one and withdraws.

A move keeps the entry's id and goes the same way: it claims the slots it gains before the entry is
rewritten and gives back the ones it leaves after, so an entry never occupies a slot it does not hold.
Moves and removals of one entry take turns: each first claims the entry's own ``change|`` slot.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
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


class _RosterChange:
    """What adding and moving share: claiming slots, and checking an entry against the stored roster."""

    def __init__(self, roster: RosterStore, tz: ZoneInfo) -> None:
        self.roster = roster
        self.tz = tz

    async def _claim(self, entry: RosterEntry, slots: Sequence[str]) -> None:
        for _ in range(CLAIM_ATTEMPTS):
            try:
                await self.roster.claim(entry.id, slots)
                return
            except SlotsTaken:
                await self._check(entry)
        raise RosterBusy(f"the roster of {entry.province} kept changing while entry {entry.id} was written")

    async def _check(self, entry: RosterEntry) -> None:
        clash = conflicts(entry, await self.roster.entries_now(entry.province), self.tz)
        if clash:
            raise RosterOverlap(clash)


@contextlib.asynccontextmanager
async def _turn(roster: RosterStore, entry_id: str) -> AsyncIterator[None]:
    """Hold the entry's ``change|`` slot meanwhile: a second move or removal of the same entry waits
    (a holder that died is taken over after the claims' lease, as any claim)."""
    holder, slot = f"change-{new_id()}", (f"change|{entry_id}",)
    await roster.claim(holder, slot)
    try:
        yield
    finally:
        await roster.release(holder, slot)


class AddRosterEntry(_RosterChange):
    def __init__(self, roster: RosterStore, tz: ZoneInfo, province: str) -> None:
        super().__init__(roster, tz)
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


class MoveRosterEntry(_RosterChange):
    """Give an entry other days, hours, week, agency or director (a supervisor's correction); it keeps
    its id, and the overlap rule holds exactly as for a new entry."""

    async def __call__(self, entry_id: str, new: NewEntry, by: str) -> RosterEntry:
        """The entry as stored now. Raises EntryNotFound, InvalidEntry, RosterOverlap or RosterBusy."""
        async with _turn(self.roster, entry_id):
            old = await self.roster.get(entry_id)
            if old is None:
                raise EntryNotFound(entry_id)
            entry = RosterEntry(
                id=old.id,
                province=new.province or old.province,
                week_start=new.week_start,
                agency=new.agency,
                director_name=new.director_name.strip(),
                director_title=new.director_title,
                location=new.location or old.location,
                hours=new.hours,
            )
            problems = validate(entry)
            if problems:
                raise InvalidEntry(problems)
            before = set(occupied_slots(old, self.tz))
            after = occupied_slots(entry, self.tz)
            gained = tuple(s for s in after if s not in before)
            left = tuple(sorted(before - set(after)))
            # Until the new version is written, the entry holds the slots of both versions.
            await self._claim(entry, gained)
            rewritten = False
            try:
                await self._check(entry)
                if not await self.roster.replace(entry):
                    raise EntryNotFound(entry_id)
                rewritten = True
                await self._check(entry)
            except BaseException:
                if rewritten:
                    await self.roster.replace(old)
                await self.roster.release(entry.id, gained)
                raise
            await self.roster.release(entry.id, left)
        log.info(
            "roster: entry %s moved to %s week %s by %s", entry.id, entry.agency.value, entry.week_start, by
        )
        return entry


class RemoveRosterEntry:
    def __init__(self, roster: RosterStore, tz: ZoneInfo) -> None:
        self.roster = roster
        self.tz = tz

    async def __call__(self, entry_id: str) -> None:
        async with _turn(self.roster, entry_id):
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
