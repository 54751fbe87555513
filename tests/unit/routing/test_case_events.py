"""Routing's consumer use cases on the in-memory fakes: idempotent hops, re-routing chains, live sessions,
and a fetched batch handled case by case and published once."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from contracts.catalogue import AgencyCode
from contracts.events import CaseRouted, CaseTriageRequired, RouteReason, TriageReason
from services.routing.domain.roster import DutyHours, RosterEntry
from tests.unit.routing.helpers import container, declined, published, registered


async def test_a_registered_case_is_routed_with_an_id_derived_from_the_cause() -> None:
    c = container()
    cause = registered("c1", "قبض آب این ماه چهار برابر شده")
    [out] = await c.case_events.one(cause)
    assert isinstance(out.data, CaseRouted)
    assert out.data.agency == AgencyCode.water_wastewater and out.data.reason == RouteReason.classifier
    assert out.causationid == cause.id and out.correlationid == cause.correlationid
    assert out.subject == "c1"


async def test_a_redelivered_registration_republishes_the_same_event_and_adds_no_hop() -> None:
    c = container()
    cause = registered("c2", "قبض آب این ماه چهار برابر شده")
    [first] = await c.case_events.one(cause)
    [again] = await c.case_events.one(cause)
    assert again.id == first.id and again.to_json() == first.to_json()
    record = await c.cases.get_case("c2")
    assert record is not None and len(record.hops) == 1
    # A replay run rebuilds nothing and publishes nothing already published.
    assert await c.case_events.one(cause, replay=True) == []


async def test_the_operators_choice_is_kept() -> None:
    c = container()
    [out] = await c.case_events.one(registered("c3", "قبض آب زیاد آمده", AgencyCode.economy_finance))
    assert isinstance(out.data, CaseRouted)
    assert (out.data.agency, out.data.reason) == (AgencyCode.economy_finance, RouteReason.operator)


async def test_a_rerouting_chain_ends_in_triage_after_two_declines() -> None:
    c = container()
    text = "آب آشامیدنی مدرسه روستا آلوده است و قبض آب مدرسه هم زیاد آمده"
    [first] = await c.case_events.one(registered("c5", text))
    assert isinstance(first.data, CaseRouted) and first.data.agency == AgencyCode.water_wastewater

    no1 = declined("c5", AgencyCode.water_wastewater, "آب مدرسه با آموزش و پرورش است")
    [second] = await c.case_events.one(no1)
    assert isinstance(second.data, CaseRouted)
    assert second.data.reason == RouteReason.reroute and second.data.agency == AgencyCode.education
    assert second.data.declined_agencies == [AgencyCode.water_wastewater]
    assert "آب مدرسه با آموزش و پرورش است" in second.data.explanation[0]

    # The same decline delivered twice does not move the case again.
    [again] = await c.case_events.one(no1)
    assert again.id == second.id

    [third] = await c.case_events.one(declined("c5", AgencyCode.education))
    assert isinstance(third.data, CaseTriageRequired)
    assert third.data.reason == TriageReason.declined_twice
    assert third.data.declined_agencies == [AgencyCode.water_wastewater, AgencyCode.education]
    assert {x.agency for x in third.data.candidates}.isdisjoint(third.data.declined_agencies)

    record = await c.cases.get_case("c5")
    assert record is not None and [h.reason for h in record.hops] == [
        "classifier",
        "reroute",
        "declined_twice",
    ]
    assert len({h.event_id for h in record.hops}) == 3


async def test_a_decline_from_an_agency_that_no_longer_has_the_case_only_counts_as_declined() -> None:
    c = container()
    await c.case_events.one(registered("c6", "قبض آب چهار برابر شده"))
    stale = declined("c6", AgencyCode.education)
    assert await c.case_events.one(stale) == []
    record = await c.cases.get_case("c6")
    assert record is not None and record.agency == AgencyCode.water_wastewater
    assert record.declined == (AgencyCode.education,) and len(record.hops) == 1
    # Delivered again, it is recognised and still moves nothing.
    assert await c.case_events.one(stale) == []
    record = await c.cases.get_case("c6")
    assert record is not None and record.declined == (AgencyCode.education,) and len(record.hops) == 1


async def test_a_decline_for_an_unknown_case_goes_to_a_person() -> None:
    c = container()
    [out] = await c.case_events.one(declined("c7", AgencyCode.tax_affairs))
    assert isinstance(out.data, CaseTriageRequired)
    assert out.data.declined_agencies == [AgencyCode.tax_affairs]
    record = await c.cases.get_case("c7")
    assert record is not None and record.status == "triage" and record.province == c.settings.province


async def test_cases_registered_during_the_agencys_duty_session_are_live() -> None:
    entry = RosterEntry(
        id="e1",
        province="khorasan_razavi",
        week_start=date(2025, 3, 22),
        agency=AgencyCode.water_wastewater,
        director_name="مهندس رضایی",
        hours=(DutyHours(date(2025, 3, 23), time(9, 0), time(12, 0)),),
    )
    c = container([entry])
    [live] = await c.case_events.one(registered("c8", "قبض آب چهار برابر شده"))
    assert isinstance(live.data, CaseRouted) and live.data.live_session
    assert live.data.duty_session_id == entry.sessions(c.tz)[0].id
    # Another agency's case at the same moment is not part of the session.
    [other] = await c.case_events.one(registered("c9", "برگ تشخیص مالیاتی اشتباه است"))
    assert isinstance(other.data, CaseRouted) and not other.data.live_session
    # The same agency outside the hours is not live either.
    late = datetime(2025, 3, 23, 10, 0, tzinfo=UTC)  # 13:30 in Tehran
    [after] = await c.case_events.one(registered("c10", "قبض آب چهار برابر شده", at=late))
    assert isinstance(after.data, CaseRouted) and not after.data.live_session


async def test_a_batch_is_handled_in_order_per_case_and_published_once_at_the_end() -> None:
    c = container()
    text = "آب آشامیدنی مدرسه روستا آلوده است و قبض آب مدرسه هم زیاد آمده"
    first, tax = registered("b1", text), registered("b2", "برگ تشخیص مالیاتی اشتباه است")
    no = declined("b1", AgencyCode.water_wastewater)
    await c.case_events([(first, False), (tax, False), (no, False), (first, True)])
    events = published(c).events
    assert len(events) == 3  # the replayed registration publishes nothing
    b1 = [e for e in events if e.subject == "b1"]
    assert [e.causationid for e in b1] == [first.id, no.id]  # the decline after the registration
    assert isinstance(b1[1].data, CaseRouted) and b1[1].data.reason == RouteReason.reroute


async def test_nothing_is_published_when_kafka_is_down_and_the_retried_batch_publishes_the_same() -> None:
    c = container()
    cause = registered("b3", "قبض آب این ماه چهار برابر شده")
    published(c).available = False
    try:
        await c.case_events([(cause, False)])
    except ConnectionError:
        pass
    else:
        raise AssertionError("the batch must fail while Kafka is down")
    assert published(c).events == []
    published(c).available = True
    await c.case_events([(cause, False)])
    [out] = published(c).events
    record = await c.cases.get_case("b3")
    assert record is not None and record.hops[0].event_id == out.id
