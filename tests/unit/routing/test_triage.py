"""Triage on the in-memory fakes: a person routes a waiting case, the same decision twice answers alike,
the queue lists waiting cases with why, and the history shows every hop."""

from __future__ import annotations

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import Actor, ActorKind, CaseRouted, CaseTriageRequired, RouteReason, TriageReason
from services.routing.service.triage import CaseNotFound, NotInTriage
from tests.unit.routing.helpers import container, published, registered

SUPERVISOR = Actor(kind=ActorKind.supervisor, id="sup-1")


async def test_unclear_cases_wait_for_triage_and_a_person_routes_them() -> None:
    c = container()
    [out] = await c.case_events.one(registered("c4", "سلام، لطفاً رسیدگی کنید"))
    assert isinstance(out.data, CaseTriageRequired) and out.data.reason == TriageReason.low_confidence
    routed, new = await c.decide_triage("c4", AgencyCode.welfare, SUPERVISOR, "تماس گرفتم")
    assert new and isinstance(routed.data, CaseRouted)
    assert routed.data.reason == RouteReason.manual and routed.data.actor.id == "sup-1"
    assert routed.causationid == out.id
    # Sending the same decision again answers with the same event; a different one is a conflict.
    repeat, new = await c.decide_triage("c4", AgencyCode.welfare, SUPERVISOR)
    assert not new and repeat.id == routed.id
    with pytest.raises(NotInTriage):
        await c.decide_triage("c4", AgencyCode.education, SUPERVISOR)
    with pytest.raises(CaseNotFound):
        await c.decide_triage("nope", AgencyCode.education, SUPERVISOR)
    # Stored, then published: the repeat is published again (the first publish may have failed).
    assert [e.id for e in published(c).events] == [routed.id, routed.id]


async def test_a_decision_is_stored_even_when_publishing_it_fails() -> None:
    c = container()
    await c.case_events.one(registered("c11", "سلام، لطفاً رسیدگی کنید"))
    published(c).available = False
    with pytest.raises(ConnectionError):
        await c.decide_triage("c11", AgencyCode.welfare, SUPERVISOR)
    record = await c.cases.get_case("c11")
    assert record is not None and record.status == "routed" and record.agency == AgencyCode.welfare
    published(c).available = True
    again, new = await c.decide_triage("c11", AgencyCode.welfare, SUPERVISOR)
    assert not new and [e.id for e in published(c).events] == [again.id]


async def test_the_queue_lists_waiting_cases_with_why_and_the_history_every_hop() -> None:
    c = container()
    await c.case_events.one(registered("q1", "سلام، لطفاً رسیدگی کنید"))
    await c.case_events.one(registered("q2", "قبض آب این ماه چهار برابر شده"))
    [waiting] = await c.triage_queue(None, 10)
    assert waiting.record.case_id == "q1"
    assert waiting.why is not None and waiting.why.reason == TriageReason.low_confidence
    assert await c.triage_queue("tehran", 10) == []

    await c.decide_triage("q1", AgencyCode.welfare, SUPERVISOR)
    assert await c.triage_queue(None, 10) == []
    record, hops = await c.routing_history("q1")
    assert record.status == "routed"
    assert [e.type for _, e in hops] == ["ir.samad.case.triage_required", "ir.samad.case.routed"]
    assert hops[1][0] == hops[0][1].id  # the manual hop answers the triage event
    with pytest.raises(CaseNotFound):
        await c.routing_history("nope")
