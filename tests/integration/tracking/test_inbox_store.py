"""The inbox's queries on FerretDB answer as the fakes do (the use-case tests run on the fakes): the
queue by assignee and by urgency (cases with no pending deadline last, paged across both parts), the
escalation queues, and the escalation steps due."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import Envelope, EscalationTarget, SlaKind
from services.tracking.adapters.cases import EscalationFilter, InMemoryCaseStore, MongoCaseStore
from services.tracking.adapters.data import load_policy
from services.tracking.domain.projection import apply_all
from services.tracking.domain.queue import UNASSIGNED, QueueFilter
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import T0, CaseEvents

WATER = AgencyCode.water_wastewater.value


def inbox_history() -> list[Envelope]:
    """Ten cases at the water company: some assigned, some waiting for the citizen, some late and
    escalated to the head, one further to the supervisor, one settled by acknowledging."""
    events: list[Envelope] = []
    for i in range(10):
        c = CaseEvents(f"i{i}", start=T0 + timedelta(hours=i))
        events += [c.registered(category="outage" if i % 3 == 0 else None), c.routed()]
        if i % 2:
            events += [c.assigned("staff-3" if i % 4 == 1 else "staff-1")]
        if i in (2, 5):
            events += [c.asked()]
        if i in (6, 7, 8):
            # The deadline as the stores' policy (the shipped SLA table) sets it.
            case = apply_all(None, [e for e in events if e.subject == c.case_id], load_policy())
            deadline = case.due.acknowledge
            assert deadline is not None
            events += [c.breached(SlaKind.acknowledge, deadline, at=deadline + timedelta(minutes=1))]
            events += [
                c.escalated(1, EscalationTarget.agency_head, deadline, at=deadline + timedelta(minutes=2))
            ]
            if i == 7:
                events += [
                    c.escalated(2, EscalationTarget.supervisor, deadline, at=deadline + timedelta(hours=5))
                ]
            if i == 8:
                events += [c.acknowledged(at=deadline + timedelta(hours=6))]
    return events


@pytest.fixture
async def stores(mongo: Any, unique: str) -> Any:
    """The Mongo store with its queries, the Mongo store keeping queue rows (as on FerretDB), and the
    fake, each given the same history."""
    db = mongo[f"test_tracking_inbox_{unique}"]
    queried, with_rows = MongoCaseStore(db, queue_rows=False), MongoCaseStore(db, "rows", queue_rows=True)
    await with_rows.ensure_indexes()
    fake = InMemoryCaseStore()
    for store in (queried, with_rows, fake):
        await apply_events(store, inbox_history())
    try:
        yield queried, with_rows, fake
    finally:
        await mongo.drop_database(db.name)


@pytest.mark.parametrize("which", ["queried", "with_rows"])
async def test_the_queue_by_assignee_and_urgency_selects_what_the_fake_selects(
    stores: Any, which: str
) -> None:
    queried, with_rows, fake = stores
    real = {"queried": queried, "with_rows": with_rows}[which]
    for days in (0, 1, 5, 30):
        now = T0 + timedelta(days=days)
        for f in (
            QueueFilter(WATER, assignee="staff-3"),
            QueueFilter(WATER, assignee=UNASSIGNED),
            QueueFilter(WATER, sort="urgent"),
            QueueFilter(WATER, sort="urgent", overdue=True),
            QueueFilter(WATER, sort="urgent", overdue=False),
            QueueFilter(WATER, sort="urgent", status="waiting_for_citizen"),
            QueueFilter(WATER, sort="urgent", assignee="staff-1"),
            QueueFilter(WATER, status="open"),
            QueueFilter(WATER, status="open", sort="urgent", assignee=UNASSIGNED),
        ):
            for skip, limit in ((0, 50), (0, 3), (3, 3), (6, 3), (8, 5)):
                a, b = await real.queue(f, now, skip, limit), await fake.queue(f, now, skip, limit)
                assert (a.total, [c.id for c in a.items]) == (b.total, [c.id for c in b.items]), (
                    f,
                    days,
                    skip,
                )
    urgent = await real.queue(QueueFilter(WATER, sort="urgent"), T0, 0, 50)
    waiting = [c.id for c in urgent.items if c.due.next is None]
    assert set(waiting) >= {"i2", "i5"} and [c.id for c in urgent.items][-len(waiting) :] == waiting


async def test_the_escalation_queues_and_steps_due_select_what_the_fake_selects(stores: Any) -> None:
    real, _, fake = stores
    for f in (
        EscalationFilter("agency_head", WATER),
        EscalationFilter("supervisor"),
        EscalationFilter("agency_head", AgencyCode.education.value),
    ):
        a, b = await real.escalated(f, 0, 50), await fake.escalated(f, 0, 50)
        assert (a.total, [c.id for c in a.items]) == (b.total, [c.id for c in b.items]), f
    heads = await real.escalated(EscalationFilter("agency_head", WATER), 0, 50)
    assert [c.id for c in heads.items] == ["i6", "i7"]  # i8 was acknowledged: settled
    assert [c.id for c in (await real.escalated(EscalationFilter("supervisor"), 0, 50)).items] == ["i7"]
    for days in (0, 3, 10):
        now = T0 + timedelta(days=days)
        a, b = await real.escalation_due(now, 100), await fake.escalation_due(now, 100)
        assert sorted(c.id for c in a) == sorted(c.id for c in b), days
