"""Daily rollups of the reports: what one Tehran day adds to each report, summed from that day's cases.

A day's rollup is recomputed whole from the cases and calls that touch the day (never incremented), so a
replayed event or two replicas doing the same day give the same document. The reports then add up
rollups instead of reading every case. The figures that depend on the moment a report is asked
(acknowledged within SLA so far, overdue now) are kept as the deadlines themselves, compared with
``now`` when the report is made, so a rollup stays right while time passes.

Which days a case touches: the day it was reported (its call's start, else its registration: the
funnel, the counties and the weekly trend count it then), each day one of its agencies received it
(the per-agency figures), and the day it was resolved (the trend's resolved cases).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from contracts.events import CallOutcome, CallReceived
from services.tracking.domain.calendar import tehran_day
from services.tracking.domain.model import OPEN_AT_AGENCY, Case
from services.tracking.domain.reports import (
    AgencyTally,
    CountyTally,
    Funnel,
    WeekTally,
    hours_between,
)

NONE_KEY = "-"  # a figure's key when the case has no province or county


@dataclass(frozen=True)
class HopFacts:
    """What the rollups read of one agency's turn with a case."""

    agency: str
    received_at: datetime
    acknowledged_at: datetime | None
    acknowledge_due: datetime | None
    resolved_at: datetime | None


@dataclass(frozen=True)
class CaseFacts:
    """What the rollups read of a case. Each day's document keeps these for the cases touching the day
    (``to_text``), so a day is recomputed from one document, never by querying the cases (on FerretDB
    v1 every query but one by ``_id`` reads every case)."""

    reported_at: datetime | None
    status: str | None
    referred: bool
    province: str | None
    county: str | None
    resolved_at: datetime | None
    first_routed_at: datetime | None
    agency: str | None
    due_next: datetime | None  # the next deadline, while the case is open at its agency
    agencies: tuple[HopFacts, ...] = ()
    session: str | None = None  # the duty session the case was registered in
    n: int = 0  # the case's version these facts are of: of two texts of a case, the higher wins

    @classmethod
    def of(cls, case: Case) -> CaseFacts:
        return cls(
            reported_at=case.reported_at,
            status=str(case.status) if case.status is not None else None,
            referred=bool(case.referred),
            province=case.province,
            county=case.county,
            resolved_at=case.resolved_at,
            first_routed_at=case.first_routed_at,
            agency=case.agency,
            due_next=case.due.next if case.status in OPEN_AT_AGENCY else None,
            agencies=tuple(
                HopFacts(h.agency, h.received_at, h.acknowledged_at, h.acknowledge_due, h.resolved_at)
                for h in case.agencies
            ),
            session=case.duty_session_id,
            n=case.n,
        )

    def to_text(self) -> str:
        hops = [
            [
                h.agency,
                _us(h.received_at),
                _opt_us(h.acknowledged_at),
                _opt_us(h.acknowledge_due),
                _opt_us(h.resolved_at),
            ]
            for h in self.agencies
        ]
        row = [
            _opt_us(self.reported_at),
            self.status,
            int(self.referred),
            self.province,
            self.county,
            _opt_us(self.resolved_at),
            _opt_us(self.first_routed_at),
            self.agency,
            _opt_us(self.due_next),
            hops,
            self.session,
        ]
        return f"{self.n}:{json.dumps(row, separators=(',', ':'), ensure_ascii=False)}"

    @classmethod
    def from_text(cls, text: str) -> CaseFacts:
        n, _, row = text.partition(":")
        reported, status, referred, province, county, resolved, routed, agency, due, hops, session = (
            json.loads(row)
        )
        return cls(
            reported_at=_opt_at(reported),
            status=status,
            referred=bool(referred),
            province=province,
            county=county,
            resolved_at=_opt_at(resolved),
            first_routed_at=_opt_at(routed),
            agency=agency,
            due_next=_opt_at(due),
            agencies=tuple(
                HopFacts(a, _at(received), _opt_at(acked), _opt_at(ack_due), _opt_at(done))
                for a, received, acked, ack_due, done in hops
            ),
            session=session,
            n=int(n),
        )


def version_of(text: str) -> int:
    """The version a fact's text is of (``to_text``)."""
    return int(text.partition(":")[0])


def merge(into: dict[str, str], texts: Mapping[str, str]) -> None:
    """Put facts' ``texts`` over ``into``: a case's text of a lower version than the one there is
    ignored, so facts arriving late or twice change nothing."""
    for key, text in texts.items():
        held = into.get(key)
        if held is None or version_of(text) >= version_of(held):
            into[key] = text


def days_of(case: Case | CaseFacts) -> set[date]:
    """The Tehran days whose rollups count something of ``case``."""
    days = {tehran_day(h.received_at) for h in case.agencies}
    if case.reported_at is not None:
        days.add(tehran_day(case.reported_at))
    if case.resolved_at is not None:
        days.add(tehran_day(case.resolved_at))
    return days


@dataclass(frozen=True)
class CallFacts:
    """What the reports read of a call."""

    started_at: datetime
    answered: bool
    province: str | None
    session: str | None = None  # the duty session the call came in

    def to_text(self) -> str:
        row = [_us(self.started_at), int(self.answered), self.province, self.session]
        return f"0:{json.dumps(row, separators=(',', ':'))}"  # a call never changes: always version 0

    @classmethod
    def from_text(cls, text: str) -> CallFacts:
        started, answered, province, session = json.loads(text.partition(":")[2])
        return cls(_at(started), bool(answered), province, session)


def call_facts(call: CallReceived) -> CallFacts:
    return CallFacts(
        call.started_at, call.outcome == CallOutcome.answered, call.province, call.duty_session_id
    )


def session_funnel(cases: Iterable[CaseFacts], calls: Iterable[CallFacts], province: str | None) -> Funnel:
    """A duty session's funnel from the facts of its cases and calls (all of them: a session is short)."""
    mine = [c for c in calls if province is None or c.province == province]
    registered = [c for c in cases if c.status is not None and (province is None or c.province == province)]
    return Funnel(
        len(mine), sum(c.answered for c in mine), len(registered), sum(c.referred for c in registered)
    )


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(at: datetime) -> int:
    """An instant as whole microseconds since 1970 (exact, unlike a float timestamp)."""
    return (at - EPOCH) // timedelta(microseconds=1)


def _opt_us(at: datetime | None) -> int | None:
    return _us(at) if at is not None else None


def _at(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _opt_at(us: int | None) -> datetime | None:
    return _at(us) if us is not None else None


def _key(value: str | None) -> str:
    return value if value is not None else NONE_KEY


def _unkey(value: str) -> str | None:
    return None if value == NONE_KEY else value


@dataclass
class DayFigures:
    """One day's part of every report. Deadlines are kept as microseconds since 1970 (exact), durations
    as the very hours the live reports compute (a float survives JSON unchanged)."""

    calls: dict[str, list[int]] = field(default_factory=dict)  # province -> [received, answered]
    funnel: dict[str, list[int]] = field(default_factory=dict)  # province -> [registered, referred]
    reported: list[int] = field(default_factory=lambda: [0, 0])  # every case reported: [n, referred]
    resolved: int = 0  # cases resolved this day
    counties: list[list[Any]] = field(default_factory=list)  # [county, status, referred, n]
    county_hours: dict[str, list[float]] = field(default_factory=dict)
    county_dues: dict[str, list[int]] = field(default_factory=dict)  # open cases' next deadline
    hops: dict[str, dict[str, Any]] = field(default_factory=dict)  # agency -> its hops received
    agency_dues: dict[str, list[int]] = field(default_factory=dict)  # open cases' next deadline

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DayFigures:
        return cls(**json.loads(text))


def summarize(day: date, cases: Iterable[CaseFacts], calls: Iterable[CallFacts]) -> DayFigures:
    """Day ``day``'s figures from the cases touching it (others are ignored) and its calls."""
    f = DayFigures()
    for call in calls:
        if tehran_day(call.started_at) != day:
            continue
        row = f.calls.setdefault(_key(call.province), [0, 0])
        row[0] += 1
        row[1] += call.answered
    groups: Counter[tuple[str, str, bool]] = Counter()
    for case in cases:
        reported = case.reported_at is not None and tehran_day(case.reported_at) == day
        if reported:
            f.reported[0] += 1
            f.reported[1] += case.referred
        if reported and case.status is not None:
            row = f.funnel.setdefault(_key(case.province), [0, 0])
            row[0] += 1
            row[1] += case.referred
            groups[(_key(case.county), case.status, case.referred)] += 1
            if case.resolved_at is not None and case.first_routed_at is not None:
                f.county_hours.setdefault(_key(case.county), []).append(
                    hours_between(case.first_routed_at, case.resolved_at)
                )
            if case.due_next is not None:
                f.county_dues.setdefault(_key(case.county), []).append(_us(case.due_next))
                if case.agency is not None:
                    f.agency_dues.setdefault(case.agency, []).append(_us(case.due_next))
        if case.resolved_at is not None and tehran_day(case.resolved_at) == day:
            f.resolved += 1
        for hop in case.agencies:
            if tehran_day(hop.received_at) != day:
                continue
            h = f.hops.setdefault(
                hop.agency, {"received": 0, "acknowledged": 0, "within": 0, "pending": [], "hours": []}
            )
            h["received"] += 1
            if hop.acknowledged_at is not None:
                h["acknowledged"] += 1
                if hop.acknowledge_due is None or hop.acknowledged_at <= hop.acknowledge_due:
                    h["within"] += 1
            elif hop.acknowledge_due is not None:
                h["pending"].append(_us(hop.acknowledge_due))
            if hop.resolved_at is not None:
                h["hours"].append(hours_between(hop.received_at, hop.resolved_at))
    f.counties = [[county, status, referred, n] for (county, status, referred), n in sorted(groups.items())]
    for values in f.county_hours.values():
        values.sort()
    for h in f.hops.values():
        h["pending"].sort()
        h["hours"].sort()
    return f


def _late(dues: Iterable[int], now: datetime) -> int:
    limit = _us(now)
    return sum(1 for due in dues if due < limit)


# --- the reports from rollups: the live reports' tallies, fed day by day ----------------------------


def funnel_of(days: Iterable[DayFigures], province: str | None) -> Funnel:
    received = answered = registered = referred = 0
    for f in days:
        for key, (r, a) in f.calls.items():
            if province is None or key == province:
                received, answered = received + r, answered + a
        for key, (g, ref) in f.funnel.items():
            if province is None or key == province:
                registered, referred = registered + g, referred + ref
    return Funnel(received, answered, registered, referred)


def agency_rows(
    days: Iterable[DayFigures],
    open_days: Iterable[DayFigures],
    start: datetime,
    end: datetime,
    now: datetime,
    only: str | None,
) -> list[dict[str, Any]]:
    """The per-agency report: the hops of ``days``, and the cases overdue now among ``open_days``
    (every day's open cases: overdue counts the cases held now, whenever they came)."""
    tally = AgencyTally(start, end, now, only)
    for f in days:
        for agency, h in f.hops.items():
            tally.add_counts(
                agency,
                received=h["received"],
                acknowledged=h["acknowledged"],
                within=h["within"],
                late_unacknowledged=_late(h["pending"], now),
                hours=h["hours"],
            )
    overdue: Counter[str] = Counter()
    for f in open_days:
        for agency, dues in f.agency_dues.items():
            if only is None or agency == only:
                overdue[agency] += _late(dues, now)
    return tally.rows(overdue)


def county_rows(days: Iterable[DayFigures], now: datetime) -> list[dict[str, Any]]:
    tally = CountyTally()
    for f in days:
        for county, status, referred, n in f.counties:
            tally.add_group(_unkey(county), status, referred, n)
        for county, dues in f.county_dues.items():
            late = _late(dues, now)
            if late:
                tally.add_overdue(_unkey(county), late)
        for county, hours in f.county_hours.items():
            tally.add_hours(_unkey(county), hours)
    return tally.rows()


def week_rows(days: dict[date, DayFigures], first: date, last: date) -> list[dict[str, Any]]:
    tally = WeekTally(first, last)
    for day, f in days.items():
        tally.add_day(
            day,
            calls_received=sum(r for r, _a in f.calls.values()),
            calls_answered=sum(a for _r, a in f.calls.values()),
            cases_registered=f.reported[0],
            cases_referred=f.reported[1],
            cases_resolved=f.resolved,
        )
    return tally.rows()
