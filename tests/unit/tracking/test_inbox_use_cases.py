"""The agency inbox's use cases on the fakes: assigning only to a colleague, asking the citizen and
resuming, the queue by assignee and by urgency with the working days left, the escalation queues of
heads and the supervisor, and the timers that climb the ladder once, reaching each person by phone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseEscalated, CaseStatus, EscalationTarget, SlaKind
from services.tracking.adapters.directory import DirectoryUnavailable
from services.tracking.domain.access import OtherAgency, Staff
from services.tracking.domain.actions import ActionKind, ActionRequest
from services.tracking.service.errors import NotAColleague, NotAHead
from tests.unit.tracking.factory import T0, CaseEvents
from tests.unit.tracking.fakes import Fakes

WATER = Staff("agency_staff", "staff-1", "water_wastewater", name="رضا کریمی")
HEAD = Staff("agency_staff", "head-water", "water_wastewater", head=True, name="محمود صادقی")
EDUCATION_HEAD = Staff("agency_staff", "head-education", "education", head=True)
SUPERVISOR = Staff("supervisor", "supervisor1")


async def routed(fakes: Fakes, case_id: str, agency: AgencyCode = AgencyCode.water_wastewater) -> CaseEvents:
    c = CaseEvents(case_id)
    await fakes.consume([c.registered(), c.routed(agency)])
    return c


# --- acting --------------------------------------------------------------------------------------


async def test_a_case_is_assigned_only_to_a_colleague_of_its_agency() -> None:
    fakes = Fakes()
    await routed(fakes, "a")
    act = fakes.tracking.act_on_case
    out = await act("a", ActionRequest(ActionKind.assign, assignee="staff-3"), WATER)
    event = fakes.publisher.events[-1]
    assert out.event.id == event.id and event.data.assignee == "staff-3"  # type: ignore[attr-defined]
    assert event.data.assignee_name == "سارا امینی"  # type: ignore[attr-defined]
    # A head of another agency is not a colleague; the refusal names the field.
    with pytest.raises(NotAColleague):
        await act("a", ActionRequest(ActionKind.assign, assignee="head-education"), WATER)
    with pytest.raises(NotAColleague):
        await act("a", ActionRequest(ActionKind.assign, assignee="nobody-known"), SUPERVISOR)
    # Staff of another agency cannot reach the case at all.
    with pytest.raises(OtherAgency):
        await act("a", ActionRequest(ActionKind.assign, assignee="staff-3"), EDUCATION_HEAD)
    # Taking it oneself needs no directory (the token says the agency); anyone else does.
    fakes.directory.down = True
    await act("a", ActionRequest(ActionKind.assign, assignee="staff-1"), WATER)
    assert fakes.publisher.events[-1].data.assignee_name == "رضا کریمی"  # type: ignore[attr-defined]
    with pytest.raises(DirectoryUnavailable):
        await act("a", ActionRequest(ActionKind.assign, assignee="staff-3"), WATER)
    # Nobody: the case goes back to the agency as a whole.
    await act("a", ActionRequest(ActionKind.assign, assignee=None), WATER)
    assert fakes.publisher.events[-1].data.assignee is None  # type: ignore[attr-defined]
    await fakes.consume_published()
    case = await fakes.cases.get("a")
    assert case is not None and case.assignee is None and case.status == CaseStatus.routed


async def test_asking_the_citizen_and_resuming() -> None:
    fakes = Fakes()
    await routed(fakes, "b")
    act = fakes.tracking.act_on_case
    asked = await act("b", ActionRequest(ActionKind.ask, "پلاک منزل را بفرمایید"), WATER)
    assert asked.status_after == CaseStatus.waiting_for_citizen
    assert asked.event.data.question == "پلاک منزل را بفرمایید"  # type: ignore[attr-defined]
    await fakes.consume_published()
    # Acknowledging a waiting case makes no sense; resuming does.
    from services.tracking.service.errors import ActionConflict

    with pytest.raises(ActionConflict):
        await act("b", ActionRequest(ActionKind.acknowledge), WATER)
    fakes.clock.advance(timedelta(days=2))
    resumed = await act("b", ActionRequest(ActionKind.resume, "بدون پاسخ ادامه می‌دهیم"), WATER)
    assert resumed.status_after == CaseStatus.in_progress
    await fakes.consume_published()
    case = await fakes.cases.get("b")
    assert case is not None and case.status == CaseStatus.in_progress
    assert case.waited_seconds == timedelta(days=2).total_seconds()


# --- the queue ------------------------------------------------------------------------------------


async def test_the_queue_by_assignee_and_by_urgency_with_working_days_left() -> None:
    fakes = Fakes()
    a, b = CaseEvents("qa", start=T0), CaseEvents("qb", start=T0 + timedelta(hours=2))
    await fakes.consume(
        [
            a.registered(),
            a.routed(),
            a.assigned("staff-3"),
            b.registered(category="outage"),  # the water company's outages: 4 hours to acknowledge
            b.routed(),
        ]
    )
    queue = fakes.tracking.agency_queue
    newest = await queue(WATER, "water_wastewater")
    assert [i["case_id"] for i in newest.items] == ["qb", "qa"]
    mine = await queue(WATER, "water_wastewater", assignee="staff-3")
    assert [i["case_id"] for i in mine.items] == ["qa"] and mine.items[0]["assignee"]["id"] == "staff-3"
    nobodys = await queue(WATER, "water_wastewater", assignee="")
    assert [i["case_id"] for i in nobodys.items] == ["qb"]
    # Most urgent first: the outage (due in hours) before the older case (due in two working days).
    urgent = await queue(WATER, "water_wastewater", sort="urgent")
    assert [i["case_id"] for i in urgent.items] == ["qb", "qa"]
    sla = urgent.items[1]["sla"]
    # Routed on Wednesday morning: acknowledge by the end of Saturday (Thursday, Saturday).
    assert sla["acknowledge"]["state"] == "pending" and sla["acknowledge"]["working_days_left"] == 2
    assert sla["acknowledge"]["due_jalali"] == "1405-09-07 23:59"  # Saturday night, Tehran
    assert sla["resolve"]["working_days_left"] > 2
    # Asked and waiting: no deadline runs, so it sorts after every case with one.
    await fakes.consume([a.asked()])
    urgent = await queue(WATER, "water_wastewater", sort="urgent", page_size=1)
    assert [i["case_id"] for i in urgent.items] == ["qb"] and urgent.total == 2
    page2 = await queue(WATER, "water_wastewater", sort="urgent", page=2, page_size=1)
    assert [i["case_id"] for i in page2.items] == ["qa"]
    assert page2.items[0]["sla"]["resolve"]["state"] == "paused"
    # A week on, the outage is late: negative working days, and "overdue".
    fakes.clock.advance(timedelta(days=7))
    late = (await queue(WATER, "water_wastewater", sort="urgent")).items[0]["sla"]["acknowledge"]
    assert late["state"] == "overdue" and late["working_days_left"] < 0


async def test_the_agency_staff_list_shows_colleagues_without_phones() -> None:
    fakes = Fakes()
    people = await fakes.tracking.agency_staff(WATER, "water_wastewater")
    # By name, in Persian alphabetical order.
    assert [p["id"] for p in people] == ["staff-1", "staff-3", "head-water"]
    assert all(set(p) == {"id", "name", "head"} for p in people)
    assert [p["id"] for p in people if p["head"]] == ["head-water"]
    with pytest.raises(OtherAgency):
        await fakes.tracking.agency_staff(WATER, "education")


# --- escalation --------------------------------------------------------------------------------------


async def test_a_late_case_reaches_the_head_once_then_the_supervisor() -> None:
    fakes = Fakes()
    late = await routed(fakes, "late")
    await routed(fakes, "late-edu", AgencyCode.education)
    fakes.clock.advance(timedelta(days=4))  # past both cases' acknowledge deadlines (two working days)
    first = await fakes.tracking.sweep_timers()
    escalated = [e for e in first.events if isinstance(e.data, CaseEscalated)]
    assert first.acknowledge_breaches == 2 and len(escalated) == 2
    water = next(e.data for e in escalated if e.data.case_id == late.case_id)
    assert isinstance(water, CaseEscalated)
    assert (water.level, water.to, water.sla) == (1, EscalationTarget.agency_head, SlaKind.acknowledge)
    assert [(r.id, r.phone) for r in water.recipients] == [("head-water", "+989150000501")]
    assert water.tracking_code == late.code
    # Published once: a second sweep (or replica) before the events are applied adds nothing.
    assert (await fakes.tracking.sweep_timers()).events == []
    await fakes.consume_published()
    assert (await fakes.tracking.sweep_timers()).events == []

    # The head of the water company sees it; the head of education sees only education's.
    target, agency, page = await fakes.tracking.escalation_queue(HEAD)
    assert (target, agency) == ("agency_head", "water_wastewater")
    assert [i["case_id"] for i in page.items] == ["late"]
    assert [i["case_id"] for i in (await fakes.tracking.escalation_queue(EDUCATION_HEAD))[2].items] == [
        "late-edu"
    ]
    with pytest.raises(NotAHead):
        await fakes.tracking.escalation_queue(WATER)
    with pytest.raises(OtherAgency):
        await fakes.tracking.escalation_queue(HEAD, agency="education")
    # Nothing at the supervisor's step yet.
    assert (await fakes.tracking.escalation_queue(SUPERVISOR))[2].total == 0

    # The breach came at 09:32 on Sunday (Tehran): the water company's supervisor step is four
    # working hours later, education's seven (09:30 on Monday, office hours end at 14:30).
    fakes.clock.advance(timedelta(hours=4, minutes=1))
    second = await fakes.tracking.sweep_timers()
    step = [e.data for e in second.events if isinstance(e.data, CaseEscalated)]
    assert [(s.case_id, s.level, s.to) for s in step] == [("late", 2, EscalationTarget.supervisor)]
    water_step = step[0]
    assert [(r.id, r.phone) for r in water_step.recipients] == [("supervisor1", "+989150000201")]
    await fakes.consume_published()
    supervisor = (await fakes.tracking.escalation_queue(SUPERVISOR))[2]
    assert [i["case_id"] for i in supervisor.items] == ["late"]
    fakes.clock.advance(timedelta(hours=20))
    third = await fakes.tracking.sweep_timers()
    assert [(e.data.case_id, e.data.level) for e in third.events] == [("late-edu", 2)]  # type: ignore[attr-defined]
    # Acknowledged at last: the case leaves every escalation queue.
    await fakes.tracking.act_on_case("late", ActionRequest(ActionKind.acknowledge), WATER)
    await fakes.consume_published()
    assert "late" not in [i["case_id"] for i in (await fakes.tracking.escalation_queue(HEAD))[2].items]


async def test_an_escalation_step_waits_while_the_directory_cannot_name_anyone() -> None:
    fakes = Fakes()
    await routed(fakes, "wait")
    fakes.clock.advance(timedelta(days=4))
    fakes.directory.down = True
    first = await fakes.tracking.sweep_timers()
    assert first.acknowledge_breaches == 1 and first.escalations == 0 and first.escalations_waiting == 1
    await fakes.consume_published()
    fakes.directory.down = False
    second = await fakes.tracking.sweep_timers()
    assert second.escalations == 1


async def test_a_case_waiting_for_the_citizen_is_never_late() -> None:
    fakes = Fakes()
    c = await routed(fakes, "w")
    await fakes.consume([c.asked()])
    fakes.clock.advance(timedelta(days=60))
    result = await fakes.tracking.sweep_timers()
    assert result.events == []
