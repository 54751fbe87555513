"""The case state machine: every transition, every duplicate, every illegal event."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus, Envelope, RouteReason, SlaKind
from services.tracking.domain.model import Case, HoldingOutcome
from services.tracking.domain.projection import apply, apply_all, check, project
from tests.unit.tracking.factory import PHONE, CaseEvents


def run(events: list[Envelope]) -> Case:
    return apply_all(None, events)


def last(case: Case) -> object:
    return case.timeline[-1]


# --- every legal transition ----------------------------------------------------------------------


def test_registration_fills_the_case_and_starts_the_timeline() -> None:
    c = CaseEvents(duty_session_id="duty-1")
    case = run([c.registered(category="outage")])
    assert case.status == CaseStatus.registered
    assert case.tracking_code == c.code
    assert case.citizen is not None and case.citizen.phone == PHONE
    assert case.county == "mashhad" and case.category == "outage"
    assert case.duty_session_id == "duty-1"
    assert [e.type for e in case.timeline] == ["ir.samad.case.registered"]
    assert case.timeline[0].actor is not None and case.timeline[0].actor.id == "op-7"
    assert case.n == 1 and not case.referred


def test_routing_hands_the_case_to_an_agency_with_deadlines() -> None:
    c = CaseEvents()
    case = run([c.registered(), routed := c.routed()])
    assert case.status == CaseStatus.routed
    assert case.agency == "water_wastewater"
    assert case.referred and case.first_routed_at == routed.time.replace(microsecond=0)
    assert [h.agency for h in case.agencies] == ["water_wastewater"]
    # Default SLA: acknowledge by the end of the 2nd working day, resolve within 10 days.
    assert case.due.acknowledge is not None and case.due.resolve is not None
    assert case.due.next == case.due.acknowledge
    assert case.due.resolve == routed.time.replace(microsecond=0) + timedelta(days=10)


def test_triage_then_manual_routing() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.triage()])
    assert case.status == CaseStatus.triage and case.triage is not None and case.agency is None
    case = apply(case, c.routed(reason=RouteReason.manual))
    assert case.status == CaseStatus.routed and case.triage is None
    assert case.agencies[0].reason == "manual"


def test_acknowledge_resolve_close() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed(), ack := c.acknowledged()])
    assert case.status == CaseStatus.in_progress
    assert case.acknowledged_at == ack.time.replace(microsecond=0)
    assert case.agencies[0].acknowledged_at == case.acknowledged_at
    assert case.due.next == case.due.resolve  # the acknowledge deadline is met
    case = apply(case, c.resolved(answer="آب وصل شد"))
    assert case.status == CaseStatus.resolved and case.answer == "آب وصل شد"
    assert case.agencies[0].outcome == HoldingOutcome.resolved
    assert case.due.next is None and case.due.close is not None
    case = apply(case, c.closed())
    assert case.status == CaseStatus.closed and case.closed_at is not None
    assert case.due.close is None


def test_reject_with_reason_then_close() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed(), c.rejected(reason="خارج از حیطه")])
    assert case.status == CaseStatus.rejected and case.rejection_reason == "خارج از حیطه"
    assert case.agencies[0].outcome == HoldingOutcome.rejected
    assert apply(case, c.closed()).status == CaseStatus.closed


def test_reopen_goes_back_to_the_same_agency_with_new_deadlines() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed(), c.acknowledged(), c.resolved()])
    first_deadline = case.due.resolve
    case = apply(case, c.reopened(reason="هنوز قطع است"))
    assert case.status == CaseStatus.reopened and case.agency == "water_wastewater"
    assert case.reopen_count == 1 and case.answer is None and case.reopen_reason == "هنوز قطع است"
    assert case.due.resolve is not None and first_deadline is not None and case.due.resolve > first_deadline
    case = apply_all(case, [c.acknowledged(), c.resolved(answer="این بار درست شد")])
    assert case.status == CaseStatus.resolved and case.answer == "این بار درست شد"


def test_reroute_keeps_every_agency_that_held_the_case() -> None:
    c = CaseEvents()
    case = run(
        [
            c.registered(),
            c.routed(AgencyCode.roads_urban_development),
            c.reroute(AgencyCode.roads_urban_development, reason="مربوط به آبفا است"),
        ]
    )
    assert case.status == CaseStatus.registered and case.reroute_pending and case.agency is None
    assert case.declined_agencies == ["roads_urban_development"]
    case = apply(case, c.routed(AgencyCode.water_wastewater, reason=RouteReason.reroute))
    assert case.status == CaseStatus.routed and not case.reroute_pending
    assert [(h.agency, h.outcome) for h in case.agencies] == [
        ("roads_urban_development", HoldingOutcome.declined),
        ("water_wastewater", HoldingOutcome.holding),
    ]
    assert case.agencies[0].note == "مربوط به آبفا است"


def test_a_supervisor_can_route_a_routed_case_again() -> None:
    c = CaseEvents()
    case = run(
        [
            c.registered(),
            c.routed(AgencyCode.education),
            c.routed(AgencyCode.welfare, reason=RouteReason.manual),
        ]
    )
    assert [(h.agency, h.outcome) for h in case.agencies] == [
        ("education", HoldingOutcome.moved),
        ("welfare", HoldingOutcome.holding),
    ]


def test_notes_repeat_calls_and_sms_are_recorded_without_changing_status() -> None:
    c = CaseEvents()
    case = run(
        [
            c.registered(),
            c.routed(),
            c.note(),
            c.repeat_call(),
            c.sms_sent(),
            c.sms_delivered(),
            c.sms_failed(),
        ]
    )
    assert case.status == CaseStatus.routed
    assert case.repeat_calls == 1
    kinds = [e.type.rsplit(".", 2)[-2] + "." + e.type.rsplit(".", 1)[-1] for e in case.timeline]
    assert kinds[-5:] == ["case.note_added", "case.repeat_call", "sms.sent", "sms.delivered", "sms.failed"]
    assert [(s.sms_id, s.status) for s in case.sms] == [("sms-1", "delivered"), ("sms-2", "failed")]
    note = case.timeline[2]
    assert note.text == "با شهروند تماس گرفته شد" and not note.public


def test_sla_breach_marks_the_case_and_its_holding() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed()])
    assert case.due.acknowledge is not None
    case = apply(case, c.breached(SlaKind.acknowledge, case.due.acknowledge))
    assert case.due.acknowledge_breached and case.agencies[0].acknowledge_breached
    assert not last(case).rejected  # type: ignore[attr-defined]
    # Acknowledging late still counts as the breach it was.
    case = apply(case, c.acknowledged())
    assert case.status == CaseStatus.in_progress and case.due.acknowledge_breached


# --- duplicates ----------------------------------------------------------------------------------


def test_a_redelivered_event_is_applied_once() -> None:
    c = CaseEvents()
    reg, routed, note = c.registered(), c.routed(), c.note()
    once = run([reg, routed, note])
    twice = run([reg, reg, routed, reg, note, routed, note])
    assert twice == once
    assert twice.n == 3 and len(twice.timeline) == 3


def test_redelivery_after_later_events_changes_nothing() -> None:
    c = CaseEvents()
    reg, routed, ack, resolved = c.registered(), c.routed(), c.acknowledged(), c.resolved()
    case = run([reg, routed, ack, resolved])
    assert apply_all(case, [routed, ack]) == case


def test_apply_leaves_its_argument_untouched() -> None:
    c = CaseEvents()
    case = run([c.registered()])
    before = case.model_copy(deep=True)
    apply(case, c.routed())
    assert case == before


# --- illegal events ------------------------------------------------------------------------------


ILLEGAL = [
    ("resolve before acknowledge", lambda c: [c.registered(), c.routed(), c.resolved()], CaseStatus.routed),
    ("acknowledge unrouted", lambda c: [c.registered(), c.acknowledged()], CaseStatus.registered),
    ("close an open case", lambda c: [c.registered(), c.routed(), c.closed()], CaseStatus.routed),
    ("reopen an open case", lambda c: [c.registered(), c.routed(), c.reopened()], CaseStatus.routed),
    (
        "route a resolved case",
        lambda c: [c.registered(), c.routed(), c.acknowledged(), c.resolved(), c.routed()],
        CaseStatus.resolved,
    ),
    ("triage a routed case", lambda c: [c.registered(), c.routed(), c.triage()], CaseStatus.routed),
    ("register twice", lambda c: [c.registered(), c.registered()], CaseStatus.registered),
    (
        "act on a closed case",
        lambda c: [c.registered(), c.routed(), c.rejected(), c.closed(), c.reopened()],
        CaseStatus.closed,
    ),
    (
        "resolve without an answer",
        lambda c: [c.registered(), c.routed(), c.acknowledged(), c.resolved(answer=" ")],
        CaseStatus.in_progress,
    ),
    (
        "reject without a reason",
        lambda c: [c.registered(), c.routed(), c.rejected(reason="")],
        CaseStatus.routed,
    ),
    (
        "another agency acknowledges",
        lambda c: [c.registered(), c.routed(), c.acknowledged(agency=AgencyCode.education)],
        CaseStatus.routed,
    ),
    (
        "another agency asks to re-route",
        lambda c: [c.registered(), c.routed(), c.reroute(AgencyCode.education)],
        CaseStatus.routed,
    ),
    (
        "re-route request while in triage",
        lambda c: [c.registered(), c.triage(), c.reroute()],
        CaseStatus.triage,
    ),
    (
        "status_changed to routed",
        lambda c: [c.registered(), c.status(CaseStatus.routed)],
        CaseStatus.registered,
    ),
    ("routed before registered", lambda c: [c.routed()], None),
    ("note before registered", lambda c: [c.note()], None),
]


@pytest.mark.parametrize(("what", "build", "status"), ILLEGAL, ids=[x[0] for x in ILLEGAL])
def test_an_illegal_event_is_recorded_as_rejected_and_leaves_the_state_alone(what, build, status) -> None:  # type: ignore[no-untyped-def]
    c = CaseEvents()
    events = build(c)
    before = apply_all(None, events[:-1]) if len(events) > 1 else None
    case = apply_all(before, [events[-1]])
    entry = (
        case.timeline[-1]
        if case.timeline[-1].event_id == events[-1].id
        else next(e for e in case.timeline if e.event_id == events[-1].id)
    )
    assert entry.rejected and entry.rejection and entry.rejection_fa and entry.rejection_en
    assert case.status == status
    assert case.rejected_events == 1
    if before is not None:
        # Nothing but the timeline, the counters and the last-event time moved.
        same = {"timeline", "n", "rejected_events", "updated_at"}
        assert case.model_dump(exclude=same) == before.model_dump(exclude=same)
    # And it is deduplicated like any other event.
    assert apply(case, events[-1]) == case


def test_a_breach_for_a_deadline_met_in_time_is_rejected() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed(), c.acknowledged()])
    assert case.due.acknowledge is not None
    case = apply(case, c.breached(SlaKind.acknowledge, case.due.acknowledge))
    assert last(case).rejected and last(case).rejection == "sla_met"  # type: ignore[attr-defined]
    assert not case.due.acknowledge_breached


def test_a_breach_for_an_old_deadline_or_agency_is_rejected() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed(AgencyCode.education)])
    assert case.due.resolve is not None
    stale = apply(
        case, c.breached(SlaKind.resolve, case.due.resolve - timedelta(days=1), agency=AgencyCode.education)
    )
    assert last(stale).rejection == "stale_deadline"  # type: ignore[attr-defined]
    other = apply(case, c.breached(SlaKind.resolve, case.due.resolve, agency=AgencyCode.welfare))
    assert last(other).rejection == "wrong_agency"  # type: ignore[attr-defined]


def test_check_answers_what_the_consumer_would_do() -> None:
    c = CaseEvents()
    case = run([c.registered(), c.routed()])
    assert check(case, c.acknowledged()) is None
    refused = check(case, c.resolved())
    assert refused is not None and refused.code == "illegal_transition"
    assert "مجاز نیست" in refused.fa


# --- determinism ---------------------------------------------------------------------------------


def test_sms_interleaving_and_batching_do_not_change_the_document() -> None:
    c = CaseEvents()
    case_events = [c.registered(), c.routed(), c.acknowledged(), c.note(), c.resolved()]
    sms_events = [c.sms_sent("a"), c.sms_delivered("a"), c.sms_sent("b"), c.sms_failed("c")]
    clean = run(case_events + sms_events)
    rng = random.Random(7)
    for _ in range(25):
        # Merge the two streams randomly, each keeping its own order, and cut into random batches.
        a, b, merged = list(case_events), list(sms_events), []
        while a or b:
            source = a if (a and (not b or rng.random() < 0.5)) else b
            merged.append(source.pop(0))
        case: Case | None = None
        i = 0
        while i < len(merged):
            size = rng.randint(1, 3)
            changed = project({} if case is None else {case.id: case}, merged[i : i + size])
            case = changed.get(c.case_id, case)
            i += size
        assert case == clean


def test_times_are_kept_to_the_millisecond_like_mongodb() -> None:
    c = CaseEvents()
    reg = c.registered()
    case = run([reg])
    assert case.timeline[0].time.microsecond % 1000 == 0
    assert case.registered_at is not None and case.registered_at.microsecond % 1000 == 0


def test_events_before_registration_wait_in_a_stub() -> None:
    c = CaseEvents()
    sms = c.sms_sent()
    reg = c.registered()
    case = run([sms, reg])
    assert case.status == CaseStatus.registered
    # The timeline is in event-time order, whatever order the topics delivered in.
    assert [e.type for e in case.timeline] == ["ir.samad.sms.sent", "ir.samad.case.registered"]
    assert run([reg, sms]) == case
    assert not any(e.rejected for e in case.timeline)


def test_project_returns_only_changed_cases() -> None:
    a, b = CaseEvents("case-a"), CaseEvents("case-b")
    reg_a, reg_b = a.registered(), b.registered()
    first = project({}, [reg_a, reg_b])
    assert set(first) == {"case-a", "case-b"}
    again = project(first, [reg_a, reg_b, a.note()])
    assert set(again) == {"case-a"}


def test_in_place_application_gives_the_same_case_and_reports_the_change() -> None:
    c = CaseEvents("inplace")
    first, later = [c.registered(), c.routed()], [c.sms_sent(), c.acknowledged()]
    copied_base = apply_all(None, first)
    copied = project({"inplace": copied_base}, later)
    assert copied_base.n == 2  # the default leaves the given case untouched
    base = apply_all(None, first)
    changed = project({"inplace": base}, later, copy=False)
    assert changed["inplace"] is base and base.n == 4
    assert base == copied["inplace"]
    assert project({"inplace": base}, later, copy=False) == {}  # nothing new: no change reported
