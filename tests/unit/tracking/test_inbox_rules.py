"""The rules the agency's inbox stands on, in the projection: a case assigned within its agency,
waiting for the citizen with its clock stopped, and a late case climbing its agency's escalation
ladder step by step, settled once the agency does what was late."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus, Envelope, EscalationTarget, SlaKind
from services.tracking.domain.calendar import TEHRAN, OfficeHours, WorkCalendar
from services.tracking.domain.escalation import EscalationConfigError, EscalationPolicy, Step
from services.tracking.domain.model import Case
from services.tracking.domain.projection import apply_all
from services.tracking.domain.sla import SlaPolicy
from services.tracking.domain.views import citizen_view, staff_view
from tests.unit.tracking.factory import CaseEvents

LADDER = EscalationPolicy(
    OfficeHours(time(7, 30), time(14, 30)),
    (Step(EscalationTarget.agency_head, 0), Step(EscalationTarget.supervisor, 14)),
    {"water_wastewater": (Step(EscalationTarget.agency_head, 0), Step(EscalationTarget.supervisor, 4))},
)
POLICY = SlaPolicy(escalation=LADDER)


def routed(case_id: str = "c") -> tuple[CaseEvents, Case]:
    c = CaseEvents(case_id)
    return c, apply_all(None, [c.registered(), c.routed()], POLICY)


def outcome(case: Case, event: Envelope) -> str:
    """How the case took ``event``: ``<type>:applied`` or ``<type>:<rejection code>``."""
    entry = next(e for e in case.timeline if e.event_id == event.id)
    return f"{entry.type.rsplit('.', 1)[-1]}:{entry.rejection or 'applied'}"


# --- assignment -------------------------------------------------------------------------------------


def test_a_case_is_assigned_within_its_agency_and_freed_when_it_leaves() -> None:
    c, case = routed()
    case = apply_all(case, [c.assigned("staff-3")], POLICY)
    assert case.assignee is not None and (case.assignee.id, case.assignee.name) == ("staff-3", "سارا امینی")
    assert case.assignee.by == "staff-1" and not case.timeline[-1].public  # staff only
    # Another agency cannot assign it; nobody can while it is not at an agency.
    other = c.assigned("x", agency=AgencyCode.education)
    case = apply_all(case, [other], POLICY)
    assert outcome(case, other) == "assigned:wrong_agency" and case.assignee.id == "staff-3"
    case = apply_all(case, [c.assigned(None)], POLICY)
    assert case.assignee is None
    case = apply_all(case, [c.assigned("staff-3"), c.reroute()], POLICY)
    assert case.status == CaseStatus.registered and case.assignee is None
    late = c.assigned("staff-3")
    assert outcome(apply_all(case, [late], POLICY), late) == "assigned:illegal_transition"


# --- waiting for the citizen --------------------------------------------------------------------------


def test_asking_the_citizen_stops_the_clock_and_the_answer_moves_the_deadline_by_the_wait() -> None:
    c, case = routed()
    resolve_before = case.due.resolve
    assert resolve_before is not None
    case = apply_all(case, [c.asked("پلاک منزل را بفرمایید")], POLICY)
    asked_at = c.clock
    assert case.status == CaseStatus.waiting_for_citizen
    assert case.waiting is not None and case.waiting.question == "پلاک منزل را بفرمایید"
    # Asking is the agency's first answer: it counts as acknowledging, in time.
    assert case.acknowledged_at == asked_at and case.agencies[-1].acknowledged_at == asked_at
    assert case.due.next is None and case.due.paused_at == asked_at
    # Nothing is late while the case waits, however long.
    assert not case.is_overdue(asked_at + timedelta(days=30))
    view = staff_view(case, asked_at + timedelta(days=30))
    assert view["sla"]["resolve"]["state"] == "paused" and view["sla"]["acknowledge"]["state"] == "met"
    assert citizen_view(case)["question"] == "پلاک منزل را بفرمایید"
    assert "پلاک منزل را بفرمایید" in citizen_view(case)["history"][-1]["text"]

    # The citizen calls back three days later: the operator links the call, the case goes on.
    answer = c.repeat_call(at=asked_at + timedelta(days=3))
    case = apply_all(case, [answer], POLICY)
    assert case.status == CaseStatus.in_progress and case.waiting is None
    assert case.due.resolve == resolve_before + timedelta(days=3)
    assert case.agencies[-1].resolve_due == resolve_before + timedelta(days=3)
    assert case.due.next == case.due.resolve and case.due.paused_at is None
    assert case.waited_seconds == timedelta(days=3).total_seconds()
    assert case.timeline[-1].text.startswith("پاسخ شهروند")


def test_staff_may_resume_or_answer_a_waiting_case_and_the_wait_still_counts() -> None:
    c, case = routed()
    resolve_before = case.due.resolve
    assert resolve_before is not None
    t = c.clock
    case = apply_all(case, [c.asked(at=t)], POLICY)
    case = apply_all(case, [c.resumed(at=t + timedelta(hours=5))], POLICY)
    assert case.status == CaseStatus.in_progress and case.due.resolve == resolve_before + timedelta(hours=5)
    # Asked again, and answered while waiting: the deadline the answer is judged by moved as well.
    case = apply_all(case, [c.asked(at=t + timedelta(hours=6))], POLICY)
    case = apply_all(case, [c.resolved(at=t + timedelta(hours=8))], POLICY)
    assert case.status == CaseStatus.resolved
    assert case.agencies[-1].resolve_due == resolve_before + timedelta(hours=7)
    # Resuming a case that does not wait, or asking without a question, is refused.
    d, other = routed("d")
    resume, ask = d.resumed(), d.asked("")
    assert outcome(apply_all(other, [resume], POLICY), resume) == "resumed:illegal_transition"
    assert outcome(apply_all(other, [ask], POLICY), ask) == "status_changed:question_required"


def test_a_waiting_case_may_be_declined_or_rejected() -> None:
    c, case = routed()
    declined = apply_all(case, [c.asked(), c.reroute()], POLICY)
    assert declined.status == CaseStatus.registered and declined.waiting is None
    c2, case2 = routed("e")
    rejected = apply_all(case2, [c2.asked(), c2.rejected()], POLICY)
    assert rejected.status == CaseStatus.rejected


# --- escalation -------------------------------------------------------------------------------------


def late(case_id: str = "c") -> tuple[CaseEvents, Case]:
    c, case = routed(case_id)
    deadline = case.due.acknowledge
    assert deadline is not None
    breach = c.breached(SlaKind.acknowledge, deadline, at=deadline + timedelta(minutes=1))
    return c, apply_all(case, [breach], POLICY)


def test_a_breach_starts_the_ladder_and_each_step_climbs_it_once() -> None:
    c, case = late()
    esc = case.escalation
    assert esc is not None and esc.active and esc.level == 0 and esc.slas == ["acknowledge"]
    # The first step waits no time: due at the breach.
    assert case.due.escalate == esc.breached_at
    deadline = esc.deadline
    case = apply_all(
        case, [c.escalated(1, EscalationTarget.agency_head, deadline, at=esc.breached_at)], POLICY
    )
    assert case.escalation is not None and case.escalation.reached == ["agency_head"]
    entry = case.timeline[-1]
    assert "رئیس دستگاه" in entry.text and not entry.public
    # The event log keeps the head's phone for notify; the case document does not.
    assert entry.data["recipients"] == [{"id": "head-water", "name": "محمود صادقی"}]
    assert case.escalation.steps[0].recipients == ["head-water"]
    # The water company's supervisor step: 4 working hours later (office hours 07:30-14:30 Tehran).
    assert case.due.escalate is not None
    assert case.due.escalate == WorkCalendar().add_working_hours(esc.breached_at, 4, LADDER.office)
    # The same step again, or a step skipped, is refused.
    twice = c.escalated(1, EscalationTarget.agency_head, deadline)
    assert outcome(apply_all(case, [twice], POLICY), twice) == "escalated:stale_escalation"
    skip = c.escalated(3, EscalationTarget.supervisor, deadline)
    assert outcome(apply_all(case, [skip], POLICY), skip) == "escalated:stale_escalation"
    top = apply_all(case, [c.escalated(2, EscalationTarget.supervisor, deadline)], POLICY)
    assert top.escalation is not None and top.escalation.reached == ["agency_head", "supervisor"]
    assert top.due.escalate is None  # the top of the ladder


def test_acknowledging_settles_a_late_acknowledgement_but_not_a_late_answer() -> None:
    c, case = late()
    assert case.escalation is not None
    deadline = case.escalation.deadline
    case = apply_all(case, [c.escalated(1, EscalationTarget.agency_head, deadline)], POLICY)
    acknowledged = apply_all(case, [c.acknowledged()], POLICY)
    assert acknowledged.escalation is not None and not acknowledged.escalation.active
    assert acknowledged.due.escalate is None
    # Late to resolve as well: the ladder goes on until the case is answered.
    resolve_deadline = case.due.resolve
    assert resolve_deadline is not None
    both = apply_all(case, [c.breached(SlaKind.resolve, resolve_deadline, at=resolve_deadline)], POLICY)
    assert both.escalation is not None and both.escalation.slas == ["acknowledge", "resolve"]
    still = apply_all(both, [c.acknowledged()], POLICY)
    assert still.escalation is not None and still.escalation.active
    answered = apply_all(still, [c.resolved()], POLICY)
    assert answered.escalation is not None and not answered.escalation.active


def test_a_case_leaving_its_agency_leaves_its_ladder() -> None:
    c, case = late()
    rerouted = apply_all(case, [c.reroute()], POLICY)
    assert rerouted.escalation is not None and not rerouted.escalation.active
    assert rerouted.due.escalate is None
    again = apply_all(rerouted, [c.routed(AgencyCode.education)], POLICY)
    assert again.escalation is not None and not again.escalation.active
    assert not again.due.acknowledge_breached


def test_office_hours_count_working_hours_only() -> None:
    calendar, office = WorkCalendar(), OfficeHours(time(7, 30), time(14, 30))

    def tehran(*args: int) -> datetime:
        return datetime(*args, tzinfo=TEHRAN).astimezone(UTC)  # type: ignore[misc]

    # Wednesday 20:00, two working hours on: Thursday 09:30.
    assert calendar.add_working_hours(tehran(2026, 11, 25, 20, 0), 2, office) == tehran(2026, 11, 26, 9, 30)
    # Thursday 13:30, four working hours on: one on Thursday, Friday skipped, three on Saturday.
    assert calendar.add_working_hours(tehran(2026, 11, 26, 13, 30), 4, office) == tehran(2026, 11, 28, 10, 30)
    assert calendar.add_working_hours(tehran(2026, 11, 26, 13, 30), 0, office) == tehran(2026, 11, 26, 13, 30)
    # Working days left: 0 on the day, negative once passed.
    now = tehran(2026, 11, 25, 10, 0)
    assert calendar.working_days_left(now, tehran(2026, 11, 25, 23, 59)) == 0
    assert calendar.working_days_left(now, tehran(2026, 11, 28, 23, 59)) == 2  # Thursday, Saturday
    assert calendar.working_days_left(now, tehran(2026, 11, 24, 23, 59)) == -1


def test_the_ladder_file_is_checked_and_says_where_it_is_wrong() -> None:
    from services.tracking.adapters.data import load_escalation

    shipped = load_escalation()
    assert shipped.ladder("water_wastewater")[1] == Step(EscalationTarget.supervisor, 4)
    assert shipped.ladder("welfare") == shipped.default
    bad = {
        "{'agencies': {'nowhere': []}}": "agencies.nowhere: not an agency code",
        "{'defaults': []}": "defaults: a list of steps",
        "{'defaults': [{'to': 'mayor', 'after_working_hours': 0}]}": "defaults[0].to: 'mayor' is not a target",
        "{'defaults': [{'to': 'agency_head', 'after_working_hours': -2}]}": "defaults[0].after_working_hours",
        "{'defaults': [{'to': 'supervisor', 'after_working_hours': 0}, {'to': 'agency_head', 'after_working_hours': 1}]}": "a ladder climbs",
        "{'defaults': [{'to': 'agency_head'}]}": "defaults[0]: a step has exactly to and after_working_hours",
        "{'office_hours': {'start': '15:00', 'end': '08:00'}}": "office_hours: start (15:00) must be before end",
        "{'office_hours': {'start': '7.30', 'end': '14:30'}}": "office_hours.start",
        "{'ladders': {}}": "unknown key(s) ladders",
    }
    for raw, message in bad.items():
        with pytest.raises(EscalationConfigError) as refused:
            EscalationPolicy.from_mapping(eval(raw))  # noqa: S307 - literal test data
        assert message in str(refused.value), (raw, str(refused.value))
        assert str(refused.value).startswith("escalation.yaml: ")
