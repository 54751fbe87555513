"""Staff actions on the fakes: who may act, on which case, what is published, and every refusal."""

from __future__ import annotations

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus
from services.tracking.domain.access import ActionForbidden, OtherAgency, Staff
from services.tracking.domain.actions import ActionKind, ActionRequest, MissingText
from services.tracking.service.errors import ActionConflict, CaseNotFound
from tests.unit.tracking.factory import CaseEvents
from tests.unit.tracking.fakes import NOW, Fakes

WATER = Staff("agency_staff", "u1", "water_wastewater")
EDUCATION = Staff("agency_staff", "u2", "education")
OPERATOR = Staff("operator", "op-1")
SUPERVISOR = Staff("supervisor", "sup-1")


async def routed(fakes: Fakes, case_id: str) -> CaseEvents:
    c = CaseEvents(case_id)
    await fakes.consume([c.registered(), c.routed()])
    return c


async def test_actions_publish_events_and_conflicts_are_409s() -> None:
    fakes = Fakes()
    await routed(fakes, "d")
    act = fakes.tracking.act_on_case
    out = await act("d", ActionRequest(ActionKind.acknowledge), WATER, "k1")
    assert not out.repeated and out.status_after == CaseStatus.in_progress
    event = fakes.publisher.events[-1]
    assert event.id == out.event.id and event.data.status == CaseStatus.in_progress  # type: ignore[attr-defined]
    assert event.time == NOW and event.source == "/samad/tracking"
    assert event.data.actor.id == "u1" and event.data.actor.agency == AgencyCode.water_wastewater  # type: ignore[attr-defined]
    # Resolving a case not yet acknowledged (the event is published but not applied here) is refused.
    with pytest.raises(ActionConflict) as refused:
        await act("d", ActionRequest(ActionKind.resolve, "done"), WATER)
    assert refused.value.rejection.code == "illegal_transition" and refused.value.status_now == "routed"
    with pytest.raises(MissingText):
        await act("d", ActionRequest(ActionKind.note, "  "), WATER)
    assert len(fakes.publisher.events) == 1


async def test_the_same_idempotency_key_publishes_the_same_event() -> None:
    fakes = Fakes()
    await routed(fakes, "e")
    act = fakes.tracking.act_on_case
    first = await act("e", ActionRequest(ActionKind.acknowledge), WATER, "k")
    second = await act("e", ActionRequest(ActionKind.acknowledge), WATER, "k")
    assert first.event.id == second.event.id
    await fakes.consume_published()
    case = await fakes.cases.get("e")
    assert case is not None and case.n == 3
    replay = await act("e", ActionRequest(ActionKind.acknowledge), WATER, "k")
    assert (
        replay.repeated and replay.status_after == CaseStatus.in_progress and len(fakes.publisher.events) == 2
    )
    with pytest.raises(ActionConflict) as reused:
        await act("e", ActionRequest(ActionKind.note, "x"), WATER, "k")
    assert reused.value.rejection.code == "idempotency_key_reused"


async def test_the_status_after_each_action() -> None:
    fakes = Fakes()
    c = await routed(fakes, "s")
    act = fakes.tracking.act_on_case
    note = await act("s", ActionRequest(ActionKind.note, "تماس گرفتیم"), OPERATOR)
    assert note.status_after == CaseStatus.routed  # a note leaves the status as it is
    assert (
        await act("s", ActionRequest(ActionKind.acknowledge), WATER)
    ).status_after == CaseStatus.in_progress
    await fakes.consume_published()
    resolved = await act("s", ActionRequest(ActionKind.resolve, "حل شد"), SUPERVISOR)
    assert resolved.status_after == CaseStatus.resolved
    await fakes.consume_published()
    reopened = await act(c.code, ActionRequest(ActionKind.reopen, "هنوز قطع است"), OPERATOR)
    assert reopened.status_after == CaseStatus.reopened
    await fakes.consume_published()
    reroute = await act("s", ActionRequest(ActionKind.reroute, "مربوط به ما نیست"), WATER)
    assert reroute.status_after == CaseStatus.registered  # back to routing for the next agency
    assert reroute.event.type == "ir.samad.case.reroute_requested"
    await fakes.consume_published()
    case = await fakes.cases.get("s")
    assert (
        case is not None
        and case.status == CaseStatus.registered
        and case.declined_agencies == ["water_wastewater"]
    )


async def test_who_may_act_on_which_case() -> None:
    fakes = Fakes()
    await routed(fakes, "w")
    act = fakes.tracking.act_on_case
    with pytest.raises(ActionForbidden) as forbidden:
        await act("w", ActionRequest(ActionKind.resolve, "x"), OPERATOR)
    assert forbidden.value.allowed == ["agency_staff", "supervisor"]
    with pytest.raises(ActionForbidden):
        await act("w", ActionRequest(ActionKind.note, "x"), Staff("ops", "ops-1"))
    with pytest.raises(OtherAgency):
        await act("w", ActionRequest(ActionKind.acknowledge), EDUCATION)
    with pytest.raises(CaseNotFound):
        await act("nobody", ActionRequest(ActionKind.note, "x"), SUPERVISOR)
    # The role is checked before the case is looked up: a forbidden action says so even for no case.
    with pytest.raises(ActionForbidden):
        await act("nobody", ActionRequest(ActionKind.reopen, "x"), WATER)
    assert fakes.publisher.events == []


async def test_a_reroute_of_a_case_no_agency_holds_is_a_conflict() -> None:
    fakes = Fakes()
    c = CaseEvents("t")
    await fakes.consume([c.registered(), c.triage()])
    with pytest.raises(ActionConflict) as refused:
        await fakes.tracking.act_on_case("t", ActionRequest(ActionKind.reroute, "x"), SUPERVISOR)
    assert refused.value.status_now == "triage" and refused.value.rejection.code == "illegal_transition"


async def test_nothing_is_acknowledged_while_the_bus_is_down() -> None:
    fakes = Fakes()
    await routed(fakes, "b")
    fakes.publisher.available = False
    with pytest.raises(ConnectionError):
        await fakes.tracking.act_on_case("b", ActionRequest(ActionKind.acknowledge), WATER)
    assert fakes.publisher.events == []
