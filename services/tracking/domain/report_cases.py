"""The cases behind a number of a report: which cases a cell of the funnel, per-agency, per-county or
per-week report counted, by the same rules as ``domain.reports``, so that a list opened from a number
holds exactly the cases that number counts.

A number counting an agency's holdings (received, acknowledged, resolved) counts a case once per
holding; the list shows the case once. The per-agency "currently overdue" is an agency's queue with
``overdue=true`` and is not repeated here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from services.tracking.domain.model import Case, Holding

MEASURES: dict[str, tuple[str, ...]] = {
    "funnel": ("cases_registered", "cases_referred"),
    "agencies": ("received", "acknowledged", "acknowledged_within_sla", "resolved"),
    "counties": ("registered", "referred", "resolved", "rejected", "open", "currently_overdue"),
    "weeks": ("cases_registered", "cases_referred", "cases_resolved"),
}
UNKNOWN_COUNTY = "unknown"  # the county report's row for cases without a county


class BadSelection(ValueError):
    """A report or measure that does not exist, or a selection missing what its report needs."""

    def __init__(self, field: str, fa: str, en: str) -> None:
        super().__init__(en)
        self.field, self.fa, self.en = field, fa, en


@dataclass(frozen=True)
class Selection:
    """One cell of a report: the report, its column (``measure``), and the row's agency or county; the
    period (or, for the funnel, a duty session) comes beside it."""

    report: str
    measure: str
    agency: str | None = None
    county: str | None = None
    duty_session_id: str | None = None

    def check(self) -> None:
        if self.report not in MEASURES:
            raise BadSelection(
                "report",
                "گزارش شناخته نیست: funnel، agencies، counties یا weeks",
                "Unknown report: funnel, agencies, counties or weeks",
            )
        if self.measure not in MEASURES[self.report]:
            names = ", ".join(MEASURES[self.report])
            raise BadSelection("measure", f"ستون این گزارش یکی از این‌هاست: {names}", f"One of: {names}")
        if self.report == "agencies" and not self.agency:
            raise BadSelection("agency", "دستگاه را نام ببرید", "Name the agency")
        if self.report == "counties" and not self.county:
            raise BadSelection("county", "شهرستان را نام ببرید", "Name the county")
        if self.duty_session_id and self.report != "funnel":
            raise BadSelection(
                "duty_session_id",
                "جلسهٔ کشیک فقط برای قیف تماس‌ها به کار می‌رود",
                "A duty session selects the funnel only",
            )


def _held(case: Case, agency: str, start: datetime, end: datetime) -> list[Holding]:
    return [h for h in case.agencies if h.agency == agency and start <= h.received_at < end]


def _in(value: datetime | None, start: datetime, end: datetime) -> bool:
    return value is not None and start <= value < end


def counted(s: Selection, case: Case, start: datetime, end: datetime, now: datetime) -> bool:
    """Whether the report counts ``case`` in the cell ``s`` over [start, end) (for a duty session the
    period is not looked at: the case is one of the session's)."""
    if s.report == "funnel":
        if case.status is None:
            return False
        if not s.duty_session_id and not _in(case.reported_at, start, end):
            return False
        if s.duty_session_id and case.duty_session_id != s.duty_session_id:
            return False
        return s.measure == "cases_registered" or case.referred
    if s.report == "agencies":
        holdings = _held(case, s.agency or "", start, end)
        if s.measure == "received":
            return bool(holdings)
        if s.measure == "acknowledged":
            return any(h.acknowledged_at is not None for h in holdings)
        if s.measure == "acknowledged_within_sla":
            return any(
                h.acknowledged_at is not None
                and (h.acknowledge_due is None or h.acknowledged_at <= h.acknowledge_due)
                for h in holdings
            )
        return any(h.resolved_at is not None for h in holdings)
    if s.report == "counties":
        if case.status is None or not _in(case.reported_at, start, end):
            return False
        if (case.county or UNKNOWN_COUNTY) != s.county:
            return False
        return {
            "registered": True,
            "referred": case.referred,
            "resolved": case.resolved_at is not None and case.first_routed_at is not None,
            "rejected": case.status == "rejected",
            "open": case.status not in ("resolved", "rejected", "closed"),
            "currently_overdue": case.is_overdue(now),
        }[s.measure]
    # weeks: cases when reported (a case from a call, when the call was made), resolved cases by
    # when they were resolved
    if s.measure == "cases_resolved":
        return _in(case.resolved_at, start, end)
    return _in(case.reported_at, start, end) and (s.measure == "cases_registered" or case.referred)


def newest_first(cases: list[Case]) -> list[Case]:
    """Newest registration first, then by id (a stable order for paging)."""
    ordered = sorted(cases, key=lambda c: c.id)
    ordered.sort(key=lambda c: (c.registered_at is not None, c.registered_at or datetime.min), reverse=True)
    return ordered


def order_key(case: Case) -> tuple[bool, datetime, str]:
    """``newest_first``'s order as a key kept without the case (descending; ties by id ascending are
    broken by the caller's stable sort of the ids first)."""
    return (case.registered_at is not None, case.registered_at or datetime.min, case.id)
