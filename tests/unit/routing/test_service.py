"""The service layer with an in-memory store: idempotent hops, re-routing chains, triage, live sessions."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseRegistered,
    CaseRerouteRequested,
    CaseRouted,
    CaseTriageRequired,
    Citizen,
    Envelope,
    RouteReason,
    TriageReason,
    make_event,
)
from services.routing.adapters.rule_files import load_rulebook
from services.routing.adapters.store import FakeRoutingStore
from services.routing.domain.classifier import Classifier
from services.routing.domain.roster import DutyHours, RosterEntry
from services.routing.service import CaseNotFound, NotInTriage, RoutingService
from services.routing.settings import RoutingSettings

NOW = datetime(2025, 3, 23, 7, 0, tzinfo=UTC)  # Sunday 10:30 in Tehran
CLASSIFIER = Classifier(load_rulebook())


def service() -> RoutingService:
    return RoutingService(FakeRoutingStore(), CLASSIFIER, RoutingSettings(), clock=lambda: NOW)


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


async def test_a_registered_case_is_routed_with_an_id_derived_from_the_cause() -> None:
    svc = service()
    cause = registered("c1", "قبض آب این ماه چهار برابر شده")
    [out] = await svc.on_event(cause)
    assert isinstance(out.data, CaseRouted)
    assert out.data.agency == AgencyCode.water_wastewater and out.data.reason == RouteReason.classifier
    assert out.causationid == cause.id and out.correlationid == cause.correlationid
    assert out.subject == "c1"


async def test_a_redelivered_registration_republishes_the_same_event_and_adds_no_hop() -> None:
    svc = service()
    cause = registered("c2", "قبض آب این ماه چهار برابر شده")
    [first] = await svc.on_event(cause)
    [again] = await svc.on_event(cause)
    assert again.id == first.id and again.to_json() == first.to_json()
    record = await svc.store.get_case("c2")
    assert record is not None and len(record.hops) == 1
    # A replay run rebuilds nothing and publishes nothing already published.
    assert await svc.on_event(cause, replay=True) == []


async def test_the_operators_choice_is_kept() -> None:
    svc = service()
    [out] = await svc.on_event(registered("c3", "قبض آب زیاد آمده", AgencyCode.economy_finance))
    assert isinstance(out.data, CaseRouted)
    assert (out.data.agency, out.data.reason) == (AgencyCode.economy_finance, RouteReason.operator)


async def test_unclear_cases_wait_for_triage_and_a_person_routes_them() -> None:
    svc = service()
    [out] = await svc.on_event(registered("c4", "سلام، لطفاً رسیدگی کنید"))
    assert isinstance(out.data, CaseTriageRequired) and out.data.reason == TriageReason.low_confidence
    actor = Actor(kind=ActorKind.supervisor, id="sup-1")
    routed, new = await svc.decide_triage("c4", AgencyCode.welfare, actor, "تماس گرفتم")
    assert new and isinstance(routed.data, CaseRouted)
    assert routed.data.reason == RouteReason.manual and routed.data.actor.id == "sup-1"
    assert routed.causationid == out.id
    # Sending the same decision again answers with the same event; a different one is a conflict.
    repeat, new = await svc.decide_triage("c4", AgencyCode.welfare, actor)
    assert not new and repeat.id == routed.id
    with pytest.raises(NotInTriage):
        await svc.decide_triage("c4", AgencyCode.education, actor)
    with pytest.raises(CaseNotFound):
        await svc.decide_triage("nope", AgencyCode.education, actor)


async def test_a_rerouting_chain_ends_in_triage_after_two_declines() -> None:
    svc = service()
    text = "آب آشامیدنی مدرسه روستا آلوده است و قبض آب مدرسه هم زیاد آمده"
    [first] = await svc.on_event(registered("c5", text))
    assert isinstance(first.data, CaseRouted) and first.data.agency == AgencyCode.water_wastewater

    no1 = declined("c5", AgencyCode.water_wastewater, "آب مدرسه با آموزش و پرورش است")
    [second] = await svc.on_event(no1)
    assert isinstance(second.data, CaseRouted)
    assert second.data.reason == RouteReason.reroute and second.data.agency == AgencyCode.education
    assert second.data.declined_agencies == [AgencyCode.water_wastewater]
    assert "آب مدرسه با آموزش و پرورش است" in second.data.explanation[0]

    # The same decline delivered twice does not move the case again.
    [again] = await svc.on_event(no1)
    assert again.id == second.id

    [third] = await svc.on_event(declined("c5", AgencyCode.education))
    assert isinstance(third.data, CaseTriageRequired)
    assert third.data.reason == TriageReason.declined_twice
    assert third.data.declined_agencies == [AgencyCode.water_wastewater, AgencyCode.education]
    assert {c.agency for c in third.data.candidates}.isdisjoint(third.data.declined_agencies)

    record = await svc.store.get_case("c5")
    assert record is not None and [h.reason for h in record.hops] == [
        "classifier",
        "reroute",
        "declined_twice",
    ]
    assert len({h.event_id for h in record.hops}) == 3


async def test_a_decline_from_an_agency_that_no_longer_has_the_case_only_counts_as_declined() -> None:
    svc = service()
    await svc.on_event(registered("c6", "قبض آب چهار برابر شده"))
    assert await svc.on_event(declined("c6", AgencyCode.education)) == []
    record = await svc.store.get_case("c6")
    assert record is not None and record.agency == AgencyCode.water_wastewater
    assert record.declined == (AgencyCode.education,) and len(record.hops) == 1


async def test_a_decline_for_an_unknown_case_goes_to_a_person() -> None:
    svc = service()
    [out] = await svc.on_event(declined("c7", AgencyCode.tax_affairs))
    assert isinstance(out.data, CaseTriageRequired)
    assert out.data.declined_agencies == [AgencyCode.tax_affairs]


async def test_cases_registered_during_the_agencys_duty_session_are_live() -> None:
    svc = service()
    entry = RosterEntry(
        id="e1",
        province="khorasan_razavi",
        week_start=date(2025, 3, 22),
        agency=AgencyCode.water_wastewater,
        director_name="مهندس رضایی",
        hours=(DutyHours(date(2025, 3, 23), time(9, 0), time(12, 0)),),
    )
    await svc.store.add_roster_entry(entry)
    [live] = await svc.on_event(registered("c8", "قبض آب چهار برابر شده"))
    assert isinstance(live.data, CaseRouted) and live.data.live_session
    assert live.data.duty_session_id == entry.sessions(svc.tz)[0].id
    # Another agency's case at the same moment is not part of the session.
    [other] = await svc.on_event(registered("c9", "برگ تشخیص مالیاتی اشتباه است"))
    assert isinstance(other.data, CaseRouted) and not other.data.live_session
    # The same agency outside the hours is not live either.
    late = datetime(2025, 3, 23, 10, 0, tzinfo=UTC)  # 13:30 in Tehran
    [after] = await svc.on_event(registered("c10", "قبض آب چهار برابر شده", at=late))
    assert isinstance(after.data, CaseRouted) and not after.data.live_session
