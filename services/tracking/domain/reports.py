"""The governorate's view: the funnel, per-agency service levels, per county and per week.

Pure functions over case documents and call counts; the store fetches, these count.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Any

from contracts.catalogue import AgencyCode, agencies
from services.tracking.domain.calendar import jalali, jalali_week_start, tehran_day
from services.tracking.domain.model import Case


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


def _hours(start: datetime, end: datetime) -> float:
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


def agency_report(
    cases: Iterable[Case],
    start: datetime,
    end: datetime,
    now: datetime,
    open_cases: Iterable[Case] = (),
    only: str | None = None,
) -> list[dict[str, Any]]:
    """Per agency, over the cases it received in [start, end): every hop of a re-routed case counts
    for the agency that held it.

    Acknowledged within SLA % = acknowledged by the deadline / hops whose outcome is known (acknowledged,
    or the deadline has passed); a hop still inside its deadline is not counted yet.
    """
    rows: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {}
    decided: dict[str, int] = {}
    for code in AgencyCode:
        if only and code.value != only:
            continue
        rows[code.value] = {
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
        durations[code.value] = []
        decided[code.value] = 0
    for case in cases:
        for hop in case.agencies:
            row = rows.get(hop.agency)
            if row is None or not (start <= hop.received_at < end):
                continue
            row["received"] += 1
            due = hop.acknowledge_due
            if hop.acknowledged_at is not None:
                row["acknowledged"] += 1
                decided[hop.agency] += 1
                if due is None or hop.acknowledged_at <= due:
                    row["acknowledged_within_sla"] += 1
            elif due is not None and due < now:
                decided[hop.agency] += 1
            if hop.resolved_at is not None:
                row["resolved"] += 1
                durations[hop.agency].append(_hours(hop.received_at, hop.resolved_at))
    for case in open_cases:
        if case.agency in rows and case.is_overdue(now):
            rows[case.agency]["currently_overdue"] += 1
    for key, row in rows.items():
        if decided[key]:
            row["acknowledged_within_sla_pct"] = round(100 * row["acknowledged_within_sla"] / decided[key], 1)
        values = sorted(durations[key])
        row["median_hours_to_resolve"] = round(statistics.median(values), 2) if values else None
        row["p90_hours_to_resolve"] = percentile(values, 90)
    return list(rows.values())


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


def county_report(cases: Iterable[Case], now: datetime) -> list[dict[str, Any]]:
    """Per county, over the cases reported in the period (``Case.reported_at``)."""
    rows: dict[str, dict[str, Any]] = {}
    durations: dict[str, list[float]] = {}
    for case in cases:
        if case.status is None:
            continue
        county = case.county or "unknown"
        row = rows.setdefault(
            county,
            {c: 0 for c in COUNTY_COLUMNS if c not in ("county", "median_hours_to_resolve")}
            | {"county": county, "median_hours_to_resolve": None},
        )
        row["registered"] += 1
        row["referred"] += case.referred
        if case.resolved_at is not None and case.first_routed_at is not None:
            row["resolved"] += 1
            durations.setdefault(county, []).append(_hours(case.first_routed_at, case.resolved_at))
        row["rejected"] += case.status == "rejected"
        row["open"] += case.status not in ("resolved", "rejected", "closed")
        row["currently_overdue"] += case.is_overdue(now)
    for county, row in rows.items():
        values = durations.get(county, [])
        row["median_hours_to_resolve"] = round(statistics.median(values), 2) if values else None
    return [rows[k] for k in sorted(rows)]


WEEK_COLUMNS = (
    "week_start",
    "week_start_jalali",
    "calls_received",
    "calls_answered",
    "cases_registered",
    "cases_referred",
    "cases_resolved",
)


def week_report(
    calls: Iterable[tuple[datetime, bool]], cases: Iterable[Case], first: date, last: date
) -> list[dict[str, Any]]:
    """Per Iranian week (Saturday to Friday, Tehran days) from the week of ``first`` to that of ``last``.

    Calls count by their start; cases when they were reported (``Case.reported_at``: the start of the
    call a case comes from, else its registration), so a case counts in its call's week; resolved
    counts cases resolved that week.
    """
    weeks: dict[date, dict[str, Any]] = {}
    week = jalali_week_start(first)
    while week <= last:
        weeks[week] = {
            "week_start": week.isoformat(),
            "week_start_jalali": jalali(week),
            "calls_received": 0,
            "calls_answered": 0,
            "cases_registered": 0,
            "cases_referred": 0,
            "cases_resolved": 0,
        }
        week += timedelta(days=7)

    def bucket(at: datetime | None) -> dict[str, Any] | None:
        return weeks.get(jalali_week_start(tehran_day(at))) if at is not None else None

    for started, answered in calls:
        row = bucket(started)
        if row is not None:
            row["calls_received"] += 1
            row["calls_answered"] += answered
    for case in cases:
        row = bucket(case.reported_at)
        if row is not None:
            row["cases_registered"] += 1
            row["cases_referred"] += case.referred
        done = bucket(case.resolved_at)
        if done is not None:
            done["cases_resolved"] += 1
    return list(weeks.values())
