"""The escalation ladder: who a late case reaches, and after how many working hours.

Read from services/tracking/data/escalation.yaml, beside the agencies' service levels. A breach of the
acknowledge or resolve deadline starts the case on its agency's ladder (or the default one): each step
names a target (the agency's head, the governorate's supervisor) and the working hours to wait after
the previous step (the first: after the breach). Working hours are the office hours of working days
(Fridays and official holidays skipped).

The file is checked as a whole when it is read; every mistake is named with where it is, in words its
editor understands (``agencies.water_wastewater[1].after_working_hours: ...``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Any

from contracts.catalogue import AgencyCode
from contracts.events import EscalationTarget
from services.tracking.domain.calendar import OfficeHours, WorkCalendar

FILE = "escalation.yaml"
# A ladder climbs: the agency's head before the governorate's supervisor.
RANK = {EscalationTarget.agency_head: 1, EscalationTarget.supervisor: 2}
TARGET_FA = {
    EscalationTarget.agency_head: "رئیس دستگاه",
    EscalationTarget.supervisor: "ناظر استان",
}
_CLOCK = re.compile(r"^([01]?[0-9]|2[0-3]):([0-5][0-9])$")
_STEP_KEYS = {"to", "after_working_hours"}
_TOP_KEYS = {"office_hours", "defaults", "agencies"}


class EscalationConfigError(ValueError):
    """The escalation file is wrong: the message says where and what to write instead."""


@dataclass(frozen=True)
class Step:
    to: EscalationTarget
    after_working_hours: float


DEFAULT_LADDER: tuple[Step, ...] = (
    Step(EscalationTarget.agency_head, 0),
    Step(EscalationTarget.supervisor, 14),
)


@dataclass(frozen=True)
class EscalationPolicy:
    """Every agency's ladder and the office hours its delays are counted in."""

    office: OfficeHours = field(default_factory=OfficeHours)
    default: tuple[Step, ...] = DEFAULT_LADDER
    agencies: Mapping[str, tuple[Step, ...]] = field(default_factory=dict)

    def ladder(self, agency: str) -> tuple[Step, ...]:
        return self.agencies.get(agency, self.default)

    def step(self, agency: str, level: int) -> Step | None:
        """The step a case at ``level`` (steps taken so far) climbs next; None at the top."""
        ladder = self.ladder(agency)
        return ladder[level] if level < len(ladder) else None

    def next_due(self, agency: str, level: int, since: datetime, calendar: WorkCalendar) -> datetime | None:
        """When a case that took ``level`` steps (the last at ``since``, or its breach) climbs again."""
        step = self.step(agency, level)
        if step is None:
            return None
        return calendar.add_working_hours(since, step.after_working_hours, self.office)

    @classmethod
    def from_mapping(cls, raw: Any) -> EscalationPolicy:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise EscalationConfigError(f"{FILE}: the file must be a mapping with {_names(_TOP_KEYS)}")
        unknown = set(raw) - _TOP_KEYS
        if unknown:
            raise EscalationConfigError(
                f"{FILE}: unknown key(s) {_names(unknown)}; the file has only {_names(_TOP_KEYS)}"
            )
        office = _office(raw.get("office_hours"))
        default = _ladder(raw["defaults"], "defaults") if "defaults" in raw else DEFAULT_LADDER
        agencies: dict[str, tuple[Step, ...]] = {}
        per_agency = raw.get("agencies") or {}
        if not isinstance(per_agency, Mapping):
            raise EscalationConfigError(f"{FILE}: agencies: a mapping of agency code to its ladder")
        known = {a.value for a in AgencyCode}
        for code, ladder in per_agency.items():
            if str(code) not in known:
                raise EscalationConfigError(
                    f"{FILE}: agencies.{code}: not an agency code; use one of {_names(known)}"
                )
            agencies[str(code)] = _ladder(ladder, f"agencies.{code}")
        return cls(office, default, agencies)


def _names(keys: Any) -> str:
    return ", ".join(sorted(str(k) for k in keys))


def _clock(value: Any, where: str) -> time:
    match = _CLOCK.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise EscalationConfigError(f'{FILE}: {where}: a time of day as "HH:MM" in quotes, e.g. "07:30"')
    return time(int(match.group(1)), int(match.group(2)))


def _office(raw: Any) -> OfficeHours:
    if raw is None:
        return OfficeHours()
    if not isinstance(raw, Mapping) or set(raw) != {"start", "end"}:
        raise EscalationConfigError(f'{FILE}: office_hours: write {{start: "07:30", end: "14:30"}}')
    start, end = _clock(raw["start"], "office_hours.start"), _clock(raw["end"], "office_hours.end")
    if start >= end:
        raise EscalationConfigError(f"{FILE}: office_hours: start ({raw['start']}) must be before end")
    return OfficeHours(start, end)


def _ladder(raw: Any, where: str) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        raise EscalationConfigError(
            f"{FILE}: {where}: a list of steps, each {{to: agency_head or supervisor, after_working_hours: N}}"
        )
    targets = {t.value for t in EscalationTarget}
    steps: list[Step] = []
    for n, item in enumerate(raw):
        here = f"{where}[{n}]"
        if not isinstance(item, Mapping) or set(item) != _STEP_KEYS:
            got = _names(item) if isinstance(item, Mapping) else repr(item)
            raise EscalationConfigError(
                f"{FILE}: {here}: a step has exactly to and after_working_hours (got {got})"
            )
        to = item["to"]
        if to not in targets:
            raise EscalationConfigError(f"{FILE}: {here}.to: {to!r} is not a target; use {_names(targets)}")
        hours = item["after_working_hours"]
        if isinstance(hours, bool) or not isinstance(hours, int | float) or hours < 0:
            raise EscalationConfigError(
                f"{FILE}: {here}.after_working_hours: a number of working hours, 0 or more (got {hours!r})"
            )
        step = Step(EscalationTarget(to), float(hours))
        if steps and RANK[step.to] <= RANK[steps[-1].to]:
            raise EscalationConfigError(
                f"{FILE}: {here}.to: a ladder climbs (agency_head, then supervisor); "
                f"{to} cannot follow {steps[-1].to.value}"
            )
        steps.append(step)
    return tuple(steps)
