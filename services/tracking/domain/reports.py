"""The governorate's view: the funnel, per-agency service levels, per county and per week.

Pure counting. A report never holds the cases it counts: the stores stream the few fields each report
needs (or count groups in the database), and the tallies here take them one at a time, keeping one row
per agency, county or week and the durations their medians need.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from contracts.catalogue import AgencyCode, agencies
from contracts.events import CaseStatus
from services.tracking.domain.calendar import jalali, jalali_week_start, tehran_day
from services.tracking.domain.model import FINISHED, Case, Holding


@dataclass(frozen=True)
class Funnel:
    calls_received: int
    calls_answered: int
    cases_registered: int
    cases_referred: int

    def as_dict(self) -> dict[str, Any]:
        def share(part: int, whole: int) -> float | None:
            return round(100 * part / whole, 1) if whole else None

        return {
            **asdict(self),
            "answered_pct": share(self.calls_answered, self.calls_received),
            "registered_pct_of_answered": share(self.cases_registered, self.calls_answered),
            "referred_pct_of_registered": share(self.cases_referred, self.cases_registered),
        }


def hours_between(start: datetime, end: datetime) -> float:
    """Hours from ``start`` to ``end``: the durations every report takes medians of."""
    return (end - start).total_seconds() / 3600


def percentile(values: Sequence[float], pct: int) -> float | None:
    """Linear-interpolated percentile (the 'inclusive' method); None for no values."""
    if not values:
        return None
    if len(values) == 1:
        return round(values[0], 2)
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return round(cuts[pct - 1], 2)


AGENCY_COLUMNS = (
    "agency",
    "agency_fa",
    "received",
    "acknowledged",
    "acknowledged_within_sla",
    "acknowledged_within_sla_pct",
    "resolved",
    "median_hours_to_resolve",
    "p90_hours_to_resolve",
    "currently_overdue",
)


class AgencyTally:
    """Per agency, over the hops received in [start, end): every hop of a re-routed case counts for
    the agency that held it. Fed one hop at a time.

    Acknowledged within SLA % = acknowledged by the deadline / hops whose outcome is known
    (acknowledged, or the deadline has passed by ``now``); a hop still inside its deadline is not
    counted yet.
    """

    def __init__(self, start: datetime, end: datetime, now: datetime, only: str | None = None) -> None:
        self.start, self.end, self.now = start, end, now
        self._rows: dict[str, dict[str, Any]] = {}
        self._durations: dict[str, list[float]] = {}
        self._decided: dict[str, int] = {}
        for code in AgencyCode:
            if only and code.value != only:
                continue
            self._rows[code.value] = {
                "agency": code.value,
                "agency_fa": agencies()[code].fa,
                "received": 0,
                "acknowledged": 0,
                "acknowledged_within_sla": 0,
                "acknowledged_within_sla_pct": None,
                "resolved": 0,
                "median_hours_to_resolve": None,
                "p90_hours_to_resolve": None,
                "currently_overdue": 0,
            }
            self._durations[code.value] = []
            self._decided[code.value] = 0

    def add(self, hop: Holding) -> None:
        row = self._rows.get(hop.agency)
        if row is None or not (self.start <= hop.received_at < self.end):
            return
        row["received"] += 1
        due = hop.acknowledge_due
        if hop.acknowledged_at is not None:
            row["acknowledged"] += 1
            self._decided[hop.agency] += 1
            if due is None or hop.acknowledged_at <= due:
                row["acknowledged_within_sla"] += 1
        elif due is not None and due < self.now:
            self._decided[hop.agency] += 1
        if hop.resolved_at is not None:
            row["resolved"] += 1
            self._durations[hop.agency].append(hours_between(hop.received_at, hop.resolved_at))

    def add_counts(
        self,
        agency: str,
        *,
        received: int,
        acknowledged: int,
        within: int,
        late_unacknowledged: int,
        hours: Iterable[float],
    ) -> None:
        """What ``add`` would count of many hops at once (a day's rollup): hops received, acknowledged,
        acknowledged by their deadline, unacknowledged past it, and the hours the resolved ones took."""
        row = self._rows.get(agency)
        if row is None:
            return
        row["received"] += received
        row["acknowledged"] += acknowledged
        row["acknowledged_within_sla"] += within
        self._decided[agency] += acknowledged + late_unacknowledged
        durations = list(hours)
        row["resolved"] += len(durations)
        self._durations[agency].extend(durations)

    def rows(self, overdue: Mapping[str, int]) -> list[dict[str, Any]]:
        """The rows, with ``overdue``: the cases each agency holds past a deadline now."""
        for key, row in self._rows.items():
            row["currently_overdue"] = overdue.get(key, 0)
            if self._decided[key]:
                row["acknowledged_within_sla_pct"] = round(
                    100 * row["acknowledged_within_sla"] / self._decided[key], 1
                )
            values = sorted(self._durations[key])
            row["median_hours_to_resolve"] = round(statistics.median(values), 2) if values else None
            row["p90_hours_to_resolve"] = percentile(values, 90)
        return list(self._rows.values())


def overdue_per_agency(open_cases: Iterable[Case], now: datetime) -> Counter[str]:
    return Counter(c.agency for c in open_cases if c.agency and c.is_overdue(now))


def agency_report(
    cases: Iterable[Case],
    start: datetime,
    end: datetime,
    now: datetime,
    open_cases: Iterable[Case] = (),
    only: str | None = None,
) -> list[dict[str, Any]]:
    """``AgencyTally`` over whole cases (for tests and small sets)."""
    tally = AgencyTally(start, end, now, only)
    for case in cases:
        for hop in case.agencies:
            tally.add(hop)
    return tally.rows(overdue_per_agency(open_cases, now))


COUNTY_COLUMNS = (
    "county",
    "registered",
    "referred",
    "resolved",
    "rejected",
    "open",
    "currently_overdue",
    "median_hours_to_resolve",
)
NOT_OPEN = frozenset(FINISHED)
UNKNOWN_COUNTY = "unknown"


@dataclass
class CountyTally:
    """Per county, over the cases reported in the period: fed counts of (county, status, referred)
    groups, counts of cases overdue now, and the routed and resolved times of the resolved cases."""

    _rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    _durations: dict[str, list[float]] = field(default_factory=dict)

    def _row(self, county: str | None) -> dict[str, Any]:
        name = county or UNKNOWN_COUNTY
        row = self._rows.get(name)
        if row is None:
            row = {c: 0 for c in COUNTY_COLUMNS if c not in ("county", "median_hours_to_resolve")}
            row |= {"county": name, "median_hours_to_resolve": None}
            self._rows[name] = row
        return row

    def add_group(self, county: str | None, status: str, referred: bool, n: int) -> None:
        row = self._row(county)
        row["registered"] += n
        row["referred"] += n if referred else 0
        row["rejected"] += n if status == CaseStatus.rejected else 0
        row["open"] += n if status not in NOT_OPEN else 0

    def add_overdue(self, county: str | None, n: int) -> None:
        self._row(county)["currently_overdue"] += n

    def add_resolved(self, county: str | None, routed_at: datetime, resolved_at: datetime) -> None:
        self.add_hours(county, [hours_between(routed_at, resolved_at)])

    def add_hours(self, county: str | None, hours: Iterable[float]) -> None:
        """Resolved cases of ``county``, by the hours each took from its first routing."""
        durations = list(hours)
        self._row(county)["resolved"] += len(durations)
        self._durations.setdefault(county or UNKNOWN_COUNTY, []).extend(durations)

    def rows(self) -> list[dict[str, Any]]:
        for county, row in self._rows.items():
            values = self._durations.get(county, [])
            row["median_hours_to_resolve"] = round(statistics.median(values), 2) if values else None
        return [self._rows[k] for k in sorted(self._rows)]


def county_report(cases: Iterable[Case], now: datetime) -> list[dict[str, Any]]:
    """``CountyTally`` over whole cases (for tests and small sets): the cases reported in the period."""
    tally = CountyTally()
    for case in cases:
        if case.status is None:
            continue
        tally.add_group(case.county, case.status, case.referred, 1)
        tally.add_overdue(case.county, case.is_overdue(now))
        if case.resolved_at is not None and case.first_routed_at is not None:
            tally.add_resolved(case.county, case.first_routed_at, case.resolved_at)
    return tally.rows()


WEEK_COLUMNS = (
    "week_start",
    "week_start_jalali",
    "calls_received",
    "calls_answered",
    "cases_registered",
    "cases_referred",
    "cases_resolved",
)


class WeekTally:
    """Per Iranian week (Saturday to Friday, Tehran days) from the week of ``first`` to that of
    ``last``. Calls count by their start; cases when they were reported (``Case.reported_at``: the
    start of the call a case comes from, else its registration), so a case counts in its call's week;
    resolved counts cases resolved that week."""

    def __init__(self, first: date, last: date) -> None:
        self._weeks: dict[date, dict[str, Any]] = {}
        week = jalali_week_start(first)
        while week <= last:
            self._weeks[week] = {
                "week_start": week.isoformat(),
                "week_start_jalali": jalali(week),
                "calls_received": 0,
                "calls_answered": 0,
                "cases_registered": 0,
                "cases_referred": 0,
                "cases_resolved": 0,
            }
            week += timedelta(days=7)

    def _bucket(self, at: datetime | None) -> dict[str, Any] | None:
        return self._weeks.get(jalali_week_start(tehran_day(at))) if at is not None else None

    def add_call(self, started_at: datetime, answered: bool) -> None:
        row = self._bucket(started_at)
        if row is not None:
            row["calls_received"] += 1
            row["calls_answered"] += answered

    def add_case(self, reported_at: datetime, referred: bool) -> None:
        row = self._bucket(reported_at)
        if row is not None:
            row["cases_registered"] += 1
            row["cases_referred"] += referred

    def add_resolved(self, resolved_at: datetime) -> None:
        row = self._bucket(resolved_at)
        if row is not None:
            row["cases_resolved"] += 1

    def add_day(
        self,
        day: date,
        *,
        calls_received: int,
        calls_answered: int,
        cases_registered: int,
        cases_referred: int,
        cases_resolved: int,
    ) -> None:
        """One Tehran day's counts at once (a day's rollup), in that day's week."""
        row = self._weeks.get(jalali_week_start(day))
        if row is None:
            return
        row["calls_received"] += calls_received
        row["calls_answered"] += calls_answered
        row["cases_registered"] += cases_registered
        row["cases_referred"] += cases_referred
        row["cases_resolved"] += cases_resolved

    def rows(self) -> list[dict[str, Any]]:
        return list(self._weeks.values())


def week_report(
    calls: Iterable[tuple[datetime, bool]], cases: Iterable[Case], first: date, last: date
) -> list[dict[str, Any]]:
    """``WeekTally`` over whole cases (for tests and small sets)."""
    tally = WeekTally(first, last)
    for started, answered in calls:
        tally.add_call(started, answered)
    for case in cases:
        if case.reported_at is not None:
            tally.add_case(case.reported_at, case.referred)
        if case.resolved_at is not None:
            tally.add_resolved(case.resolved_at)
    return tally.rows()
