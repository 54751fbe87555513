"""The rules on a case record: what a cause seen again is answered with, stale declines, repeated
decisions, unseen cases, the status after a decision, and what becomes of a decision's owed event."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from contracts.catalogue import AgencyCode
from contracts.events import RouteReason, TriageReason
from services.routing.domain.cases import (
    CaseRecord,
    Hop,
    OwedEvent,
    already_answered,
    decision_for,
    owed_awaited,
    owed_due,
    owed_hop,
    repeated_decision,
    stale_decline,
    stored_answer,
    unseen_case,
    waiting_for_triage,
)
from services.routing.domain.routing import Routed, Triage, decision_event_id, status_after

AT = datetime(2025, 3, 23, 7, 0, tzinfo=UTC)


def hop(cause: str, reason: str, agency: AgencyCode | None) -> Hop:
    return Hop(cause, f"ev-{cause}", "t", "{}", agency, reason, AT)


def record(**changes: object) -> CaseRecord:
    base = CaseRecord("c1", "khorasan_razavi", "s", "d", None, None, AT, "reg-1")
    return replace(base, **changes)  # type: ignore[arg-type]


def test_a_cause_seen_before_is_answered_with_its_stored_event_except_in_a_replay() -> None:
    r = record(hops=(hop("reg-1", "classifier", AgencyCode.welfare),), ignored_causes=("decline-9",))
    assert stored_answer(r, "reg-1", replay=False) == r.hops[0]
    assert stored_answer(r, "reg-1", replay=True) is None
    assert stored_answer(r, "other", replay=False) is None
    assert already_answered(r, "reg-1") and already_answered(r, "decline-9")
    assert not already_answered(r, "other")


def test_a_decline_counts_as_stale_only_when_another_agency_has_the_case() -> None:
    routed = record(status="routed", agency=AgencyCode.water_wastewater)
    assert stale_decline(routed, AgencyCode.education)
    assert not stale_decline(routed, AgencyCode.water_wastewater)
    assert not stale_decline(record(status="triage"), AgencyCode.education)


def test_the_same_manual_decision_twice_is_recognised() -> None:
    decided = record(
        status="routed",
        agency=AgencyCode.welfare,
        hops=(hop("reg-1", "low_confidence", None), hop("tri-1", "manual", AgencyCode.welfare)),
    )
    assert repeated_decision(decided, AgencyCode.welfare) == decided.hops[1]
    assert repeated_decision(decided, AgencyCode.education) is None
    by_classifier = record(status="routed", hops=(hop("reg-1", "classifier", AgencyCode.welfare),))
    assert repeated_decision(by_classifier, AgencyCode.welfare) is None
    assert decision_for(decided, "tri-1", AgencyCode.welfare) == decided.hops[1]
    assert decision_for(decided, "tri-1", AgencyCode.education) is None
    assert not waiting_for_triage(decided) and waiting_for_triage(record(status="triage"))


def test_an_unseen_case_has_no_text_so_a_person_decides() -> None:
    r = unseen_case("c9", "tehran", AT)
    assert (r.case_id, r.province, r.text, r.registered_event_id, r.hops) == ("c9", "tehran", "", None, ())


def test_the_status_after_a_decision_and_the_id_of_the_answer() -> None:
    routed = Routed(AgencyCode.welfare, RouteReason.classifier, 0.9, [])
    assert status_after(routed) == ("routed", AgencyCode.welfare)
    assert status_after(Triage(TriageReason.low_confidence, [], [])) == ("triage", None)
    assert decision_event_id("cause-1") == decision_event_id("cause-1") != decision_event_id("cause-2")


def test_an_owed_event_is_published_once_stored_kept_while_awaited_and_dropped_otherwise() -> None:
    waiting = record(status="triage", hops=(hop("reg-1", "low_confidence", None),))
    owed = OwedEvent("ev-ev-reg-1", "c1", "ev-reg-1", AT)
    # Not stored yet, the case still waits on that cause: a stalled request may still store it.
    assert owed_hop(waiting, owed) is None and owed_awaited(waiting, owed)
    decided = replace(
        waiting, status="routed", hops=(*waiting.hops, hop("ev-reg-1", "manual", AgencyCode.welfare))
    )
    assert owed_hop(decided, owed) == decided.hops[1] and not owed_awaited(decided, owed)
    # Never stored: the case moved on another way, went back to triage on another cause, or is unknown.
    rerouted = replace(
        waiting, status="routed", hops=(*waiting.hops, hop("decline-1", "reroute", AgencyCode.education))
    )
    assert owed_hop(rerouted, owed) is None and not owed_awaited(rerouted, owed)
    again = replace(
        rerouted, status="triage", hops=(*rerouted.hops, hop("decline-2", "declined_twice", None))
    )
    assert not owed_awaited(again, owed)
    assert owed_hop(None, owed) is None and not owed_awaited(None, owed)
    # Taken only after the grace the request that recorded it has to publish it itself.
    assert not owed_due(owed, AT + timedelta(seconds=14), timedelta(seconds=15))
    assert owed_due(owed, AT + timedelta(seconds=15), timedelta(seconds=15))
