"""Keeping the case view on the fakes: idempotent by event id, only the events that matter, in order."""

from __future__ import annotations

from contracts.catalogue import AgencyCode
from contracts.events import (
    Actor,
    ActorKind,
    CaseNoteAdded,
    CaseRepeatCall,
    CaseResumed,
    CaseStatus,
    CaseStatusChanged,
    make_event,
)
from tests.unit.intake.conftest import OP1, World, case

STAFF = Actor(kind=ActorKind.agency_staff, id="s1", agency=AgencyCode.water_wastewater)


async def test_events_are_applied_to_the_view_once(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    cid = first.body["case_id"]
    event = make_event(
        CaseStatusChanged(case_id=cid, status=CaseStatus.in_progress, actor=STAFF), source="/t"
    )
    assert await world.intake.case_view.apply(event)
    assert not await world.intake.case_view.apply(event)  # redelivered
    view = world.store.cases[cid]
    assert view.status == "in_progress" and view.open


async def test_events_that_do_not_change_the_view_are_not_wanted(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    note = make_event(CaseNoteAdded(case_id=first.body["case_id"], text="x", actor=STAFF), source="/t")
    assert not world.intake.case_view.wants(note)
    assert not await world.intake.case_view.apply(note)


async def test_an_event_about_a_case_never_registered_here_is_skipped(world: World) -> None:
    orphan = make_event(CaseStatusChanged(case_id="unknown", status=CaseStatus.resolved), source="/t")
    assert not await world.intake.case_view.apply(orphan)
    assert world.store.cases == {}


async def test_a_batch_is_applied_in_order(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    cid = first.body["case_id"]
    resolved = make_event(
        CaseStatusChanged(case_id=cid, status=CaseStatus.resolved, answer="وصل شد"), source="/t"
    )
    reopened = make_event(CaseStatusChanged(case_id=cid, status=CaseStatus.reopened), source="/t")
    await world.intake.case_view.apply_all([resolved, reopened])
    view = world.store.cases[cid]
    assert view.status == "reopened" and view.open and view.status_notes == "وصل شد"


async def test_a_case_waiting_for_the_citizen_stays_open_and_goes_back_to_work(world: World) -> None:
    first = await world.intake.register_case(case(), key="k1", by=OP1)
    cid = first.body["case_id"]
    agency = AgencyCode.water_wastewater
    asked = make_event(
        CaseStatusChanged(case_id=cid, status=CaseStatus.waiting_for_citizen, question="پلاک؟", actor=STAFF),
        source="/t",
    )
    resumed = make_event(CaseResumed(case_id=cid, agency=agency, actor=STAFF), source="/t")
    await world.intake.case_view.apply_all([asked])
    assert world.store.cases[cid].status == "waiting_for_citizen" and world.store.cases[cid].open
    assert world.intake.case_view.wants(resumed)
    await world.intake.case_view.apply_all([resumed])
    assert world.store.cases[cid].status == "in_progress"
    # A call back about a case that is not waiting changes nothing here.
    again = make_event(
        CaseRepeatCall(case_id=cid, tracking_code="1", description="x", similarity=1), source="/t"
    )
    assert not await world.intake.case_view.apply(again)
