"""Service levels per agency and category: time to acknowledge, time to resolve, and the quiet period
after which a resolved or rejected case closes. Read from services/tracking/data/sla.yaml; the
escalation ladder of late cases (data/escalation.yaml) travels with them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from services.tracking.domain.calendar import WorkCalendar
from services.tracking.domain.escalation import EscalationPolicy


@dataclass(frozen=True)
class Duration:
    """A span measured in working days, calendar days or hours (exactly one is set)."""

    working_days: int = 0
    days: int = 0
    hours: int = 0

    @classmethod
    def parse(cls, raw: Any) -> Duration:
        if isinstance(raw, Duration):
            return raw
        if not isinstance(raw, Mapping) or len(raw) != 1:
            raise ValueError(f"a duration is one of working_days, days or hours: {raw!r}")
        ((unit, value),) = raw.items()
        if unit not in ("working_days", "days", "hours") or int(value) <= 0:
            raise ValueError(f"bad duration {raw!r}")
        return cls(**{unit: int(value)})

    def after(self, start: datetime, calendar: WorkCalendar) -> datetime:
        if self.working_days:
            return calendar.add_working_days(start, self.working_days)
        return start + timedelta(days=self.days, hours=self.hours)

    def describe(self) -> str:
        if self.working_days:
            return f"{self.working_days} working days"
        if self.days:
            return f"{self.days} days"
        return f"{self.hours} hours"


@dataclass(frozen=True)
class Sla:
    acknowledge: Duration
    resolve: Duration


DEFAULT_SLA = Sla(Duration(working_days=2), Duration(days=10))
DEFAULT_QUIET = Duration(days=7)


@dataclass(frozen=True)
class SlaPolicy:
    """Deadlines for every agency and category, and the calendar they are counted on."""

    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    default: Sla = DEFAULT_SLA
    agencies: Mapping[str, Mapping[str, Duration]] = field(default_factory=dict)
    categories: Mapping[tuple[str, str], Mapping[str, Duration]] = field(default_factory=dict)
    close_after: Duration = DEFAULT_QUIET
    escalation: EscalationPolicy = field(default_factory=EscalationPolicy)

    @classmethod
    def from_mapping(
        cls, raw: Mapping[str, Any], calendar: WorkCalendar, escalation: EscalationPolicy | None = None
    ) -> SlaPolicy:
        defaults = raw.get("defaults") or {}
        default = Sla(
            Duration.parse(defaults.get("acknowledge", {"working_days": 2})),
            Duration.parse(defaults.get("resolve", {"days": 10})),
        )
        agencies: dict[str, dict[str, Duration]] = {}
        categories: dict[tuple[str, str], dict[str, Duration]] = {}
        for code, spec in (raw.get("agencies") or {}).items():
            spec = spec or {}
            agencies[str(code)] = {
                k: Duration.parse(spec[k]) for k in ("acknowledge", "resolve") if k in spec
            }
            for category, cspec in (spec.get("categories") or {}).items():
                categories[(str(code), str(category))] = {
                    k: Duration.parse(cspec[k]) for k in ("acknowledge", "resolve") if k in (cspec or {})
                }
        close_after = Duration.parse(raw.get("close_after", {"days": 7}))
        return cls(calendar, default, agencies, categories, close_after, escalation or EscalationPolicy())

    def sla_for(self, agency: str, category: str | None) -> Sla:
        by_agency = self.agencies.get(agency, {})
        by_category = self.categories.get((agency, category or ""), {})
        return Sla(
            by_category.get("acknowledge") or by_agency.get("acknowledge") or self.default.acknowledge,
            by_category.get("resolve") or by_agency.get("resolve") or self.default.resolve,
        )

    def acknowledge_due(self, agency: str, category: str | None, start: datetime) -> datetime:
        return self.sla_for(agency, category).acknowledge.after(start, self.calendar)

    def resolve_due(self, agency: str, category: str | None, start: datetime) -> datetime:
        return self.sla_for(agency, category).resolve.after(start, self.calendar)

    def close_due(self, start: datetime) -> datetime:
        return self.close_after.after(start, self.calendar)
