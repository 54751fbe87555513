"""Routing built through bootstrap() on the in-memory fakes, and the events its tests send."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRerouteRequested,
    Citizen,
    Envelope,
    make_event,
)
from services.common.clock import FixedClock
from services.common.publishing import InMemoryPublisher
from services.routing.adapters.cases import InMemoryRoutingStore
from services.routing.adapters.datasets import LabelledSets
from services.routing.adapters.roster import InMemoryRosterStore
from services.routing.adapters.rule_files import load_rulebook
from services.routing.bootstrap import RoutingContainer, bootstrap
from services.routing.domain.roster import DutyHours, RosterEntry
from services.routing.domain.rules import RuleBook
from services.routing.settings import RoutingSettings

NOW = datetime(2025, 3, 23, 7, 0, tzinfo=UTC)  # Sunday 10:30 in Tehran
SATURDAY = date(2025, 3, 22)
RULEBOOK = load_rulebook()


class PackagedRules:
    """The packaged rules, read once for every test."""

    def load(self) -> RuleBook:
        return RULEBOOK


def container(
    entries: Sequence[RosterEntry] = (),
    *,
    clock: FixedClock | None = None,
    lease_seconds: float = 15.0,
    datasets: LabelledSets | None = None,
) -> RoutingContainer:
    clock = clock or FixedClock(NOW)
    return bootstrap(
        RoutingSettings(),
        cases=InMemoryRoutingStore(),
        roster=InMemoryRosterStore(entries, clock=clock, claim_lease_seconds=lease_seconds),
        rules=PackagedRules(),
        datasets=datasets,
        publisher=InMemoryPublisher("routing"),
        clock=clock,
    )


def published(c: RoutingContainer) -> InMemoryPublisher:
    assert isinstance(c.publisher, InMemoryPublisher)
    return c.publisher


def registered(
    case_id: str, description: str, operator_agency: AgencyCode | None = None, at: datetime = NOW
) -> Envelope:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code="1234567890",
        county="mashhad",
        citizen=Citizen(phone="+989121234567"),
        subject="شکایت",
        description=description,
        operator_agency=operator_agency,
        registered_at=at,
    )
    return make_event(data, source="/samad/intake")


def declined(case_id: str, by: AgencyCode, reason: str = "مربوط به ما نیست") -> Envelope:
    data = CaseRerouteRequested(
        case_id=case_id,
        agency=by,
        reason=reason,
        actor=Actor(kind=ActorKind.agency_staff, id="u1", agency=by),
    )
    return make_event(data, source="/samad/tracking")


def entry(
    agency: AgencyCode = AgencyCode.education,
    week: date = SATURDAY,
    hours: tuple[tuple[date, int, int], ...] = ((SATURDAY, 9, 12),),
    entry_id: str = "e1",
    province: str = "khorasan_razavi",
    name: str = "دکتر احمدی",
) -> RosterEntry:
    return RosterEntry(
        id=entry_id,
        province=province,
        week_start=week,
        agency=agency,
        director_name=name,
        hours=tuple(DutyHours(d, time(a), time(b)) for d, a, b in hours),
    )
