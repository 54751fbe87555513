"""Projecting the event log onto case documents: the consumer's use case, and the batch function the
rebuild shares with it.

Every batch writes each case it changes once, from the case's document as this process last wrote it
(a cache) or as loaded; the write is a compare-and-set on the case's version, so another writer's
events are never lost and none is applied twice (see ``adapters.cases``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import date

from contracts.events import CallReceived, CaseRegistered, Envelope
from services.common.recent import Recent
from services.tracking.adapters.calls import CallStore
from services.tracking.adapters.cases import CaseWriter
from services.tracking.adapters.data import load_policy
from services.tracking.domain.model import Case
from services.tracking.domain.projection import case_id_of, project
from services.tracking.domain.rollups import CaseFacts, call_facts, days_of
from services.tracking.domain.sla import SlaPolicy
from services.tracking.service.rollups import DailyRollups

# The logger keeps the name it had before the move, so existing log filters still apply.
log = logging.getLogger("samad.tracking.store")


class ConflictsPersist(RuntimeError):
    """The same cases kept losing their compare-and-set: another writer is racing this one."""


@dataclass
class ApplyResult:
    events: int = 0
    cases_written: int = 0
    retries: int = 0
    written: set[str] = field(default_factory=set)


class CaseCache:
    """The documents this process wrote last, so the next batch need not read them back.

    Safe because a write checks the version it replaces: if another writer changed a cached case,
    the replace returns that writer's document and the batch is applied on top of it. If the store
    went back to an older version (one whose events the cached case all has), the write puts the
    complete document back.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.cases: Recent[str, Case] = Recent(size)

    def get(self, case_id: str) -> Case | None:
        return self.cases.touch(case_id)

    def put(self, case: Case) -> None:
        self.cases.put(case.id, case)

    def forget(self, case_id: str) -> None:
        self.cases.pop(case_id, None)


async def apply_events(
    store: CaseWriter,
    events: Sequence[Envelope],
    policy: SlaPolicy | None = None,
    max_rounds: int = 20,
    cache: CaseCache | None = None,
    in_place: bool = False,
    before_save: Callable[[dict[str, Case], dict[str, set[date]]], Awaitable[None]] | None = None,
) -> ApplyResult:
    """Apply a batch of case and SMS events to their documents: one write per changed case.

    Used by the live consumer (with a cache of the documents it wrote) and, with a store on another
    collection, by the replay tool. Without a policy, the shipped SLA and holiday files apply, as in
    the service with default settings. ``in_place``: the loaded cases are changed rather than copied,
    for a store whose saves cannot conflict (the rebuild's in-memory state); a live store keeps the
    copies, which a failed or lost compare-and-set needs. ``before_save`` hears, before each write,
    the cases about to be written and the report days each touches (before and after the batch).
    """
    policy = policy or load_policy()
    result = ApplyResult(events=len(events))
    pending: list[Envelope] = []
    first: dict[str, Envelope] = {}  # each case's first event in the batch, cases in batch order
    for e in events:
        if (cid := case_id_of(e)) is not None:
            pending.append(e)
            first.setdefault(cid, e)
    ids = list(first)
    base: dict[str, Case] = {}
    if cache is not None:
        for cid in ids:
            hit = cache.get(cid)
            if hit is not None:
                base[cid] = hit
    # A case whose first event here is its registration is nearly always new: it is not looked up,
    # and its insert finds out (one that exists is a conflict, reloaded and applied on top below).
    presumed_new = {cid for cid in ids if cid not in base and isinstance(first[cid].data, CaseRegistered)}
    base.update(await store.load(cid for cid in ids if cid not in base and cid not in presumed_new))
    stored_n = {cid: case.n for cid, case in base.items()}  # the version in the store now
    days_before = {cid: days_of(case) for cid, case in base.items()}
    must_write: set[str] = set()
    for round_ in range(max_rounds):
        changed = project(base, pending, policy, copy=not in_place)
        for cid in must_write - set(changed):
            changed[cid] = base[cid]  # our batch was already in there: put the other writer's back
        if not changed:
            return result
        if before_save is not None:
            await before_save(
                changed, {cid: days_of(case) | days_before.get(cid, set()) for cid, case in changed.items()}
            )
        try:
            saved = await store.save(changed, {cid: stored_n.get(cid, 0) for cid in changed})
        except BaseException:
            if cache is not None:
                for cid in changed:
                    cache.forget(cid)  # the write's outcome is unknown
            raise
        for cid, before in list(saved.overwritten.items()):
            if before.applied_ids() <= changed[cid].applied_ids():
                # The store held a version whose every event ours has (an older document put back,
                # or the same events stored by another writer): ours, now in place, stands.
                del saved.overwritten[cid]
        retry = saved.conflicts | set(saved.overwritten)
        won = set(changed) - retry
        result.cases_written += len(won)
        result.written |= won
        if cache is not None:
            for cid in won:
                cache.put(changed[cid])
        if not retry:
            return result
        result.retries += 1
        if retry - presumed_new:
            log.warning(
                "another writer stored %d case(s) during this batch (round %d): applying the batch on top",
                len(retry - presumed_new),
                round_ + 1,
            )
        presumed_new -= retry  # (a registration seen before: its document is read now)
        pending = [e for e in pending if case_id_of(e) in retry]
        must_write = set(saved.overwritten)
        for cid, before in saved.overwritten.items():
            # The store holds this batch's document now; the one it replaced has the other writer's
            # events. The batch is applied on top of that one, and the next write expects ours in place.
            base[cid] = before
            days_before[cid] = days_before.get(cid, set()) | days_of(before)
            stored_n[cid] = changed[cid].n
        if saved.conflicts:
            reloaded = await store.load(saved.conflicts)
            for cid in saved.conflicts:
                base.pop(cid, None)
                if cid in reloaded:
                    base[cid] = reloaded[cid]
                    days_before[cid] = days_before.get(cid, set()) | days_of(reloaded[cid])
                    stored_n[cid] = reloaded[cid].n
    raise ConflictsPersist(f"{len(pending)} event(s) could not be stored after {max_rounds} rounds")


class ProjectEvents:
    """The consumer's handler: keep the calls for the funnel; apply case and SMS events to their cases.

    ``cache_size``: case documents kept after writing them, so the next events of a case need no read
    (0 turns the cache off).
    """

    def __init__(
        self,
        cases: CaseWriter,
        calls: CallStore,
        policy: SlaPolicy,
        cache_size: int = 1000,
        rollups: DailyRollups | None = None,
    ) -> None:
        self.cases = cases
        self.calls = calls
        self.policy = policy
        self.cache = CaseCache(cache_size) if cache_size > 0 else None
        self.rollups = rollups

    async def __call__(self, events: Sequence[Envelope]) -> ApplyResult:
        calls = [e for e in events if isinstance(e.data, CallReceived)]
        others = [e for e in events if not isinstance(e.data, CallReceived)]
        rollups = self.rollups
        kept = [(e.data.call_id, call_facts(e.data)) for e in calls if isinstance(e.data, CallReceived)]
        # The facts are kept before the writes: a report asked once a case is written counts it.
        if rollups is not None and kept:
            await rollups.note({}, kept)
        if calls:
            await self.calls.add(calls)

        async def note(changed: dict[str, Case], days: dict[str, set[date]]) -> None:
            assert rollups is not None
            await rollups.note({cid: (CaseFacts.of(case), days[cid]) for cid, case in changed.items()}, [])

        result = await apply_events(
            self.cases,
            others,
            self.policy,
            cache=self.cache,
            before_save=note if rollups is not None else None,
        )
        return result
