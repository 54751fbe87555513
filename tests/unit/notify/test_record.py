"""Recording: case events become ledger records, once per event and recipient, with the decision each
needs (send now, defer to the morning, skip a stale one), written in one insert per batch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalogue import AgencyCode, agency
from contracts.events import (
    CaseEscalated,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Envelope,
    EscalationTarget,
    Recipient,
    RouteReason,
    SlaKind,
    make_event,
)
from contracts.headers import REPLAY_RUN
from contracts.persian import to_persian_digits
from contracts.tracking_code import from_seed
from services.notify.adapters.ledger.memory import InMemoryLedger
from services.notify.adapters.providers.fake import FakeProvider
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import SmsRecord
from services.notify.domain.rendering import TEHRAN
from tests.unit.notify.conftest import Rig, make_rig
from tests.unit.notify.factory import NOW, PHONE, registered


def routed(case_id: str, at: datetime = NOW) -> Envelope:
    data = CaseRouted(
        case_id=case_id, agency=AgencyCode.water_wastewater, reason=RouteReason.classifier, confidence=0.9
    )
    return make_event(data, source="/samad/routing", time=at)


async def test_a_registration_becomes_one_pending_record_handed_to_the_senders(rig: Rig) -> None:
    await rig.handle(registered("case-1"))
    record = rig.only()
    assert (record.state, record.template, record.recipient, record.case_id) == (
        SmsState.pending,
        "registered",
        PHONE,
        "case-1",
    )
    assert to_persian_digits(from_seed("case-1")) in record.text
    assert record.not_before == NOW and record.version == 0 and record.claims == 0
    assert [p.number for p in record.parts] == list(range(1, len(record.parts) + 1))
    assert rig.notify.senders.queued == {record.sms_id}
    # A new case: its contact is written without looking for one, and nothing is read back.
    assert rig.contacts.reads == 0 and rig.ledger.reads == 0
    assert rig.contacts.contacts["case-1"].phone == PHONE


async def test_the_same_event_again_records_and_sends_nothing_new(rig: Rig) -> None:
    event = registered("case-1")
    await rig.handle(event)
    assert await rig.send_queued()
    sent = rig.only()
    await rig.handle(event)  # a redelivery
    await rig.handle(event, headers={REPLAY_RUN: "run-7"})  # a replay of history
    assert rig.only() == sent
    assert len(rig.provider.accepted) == 1
    assert await rig.send_queued() == []


async def test_a_replayed_event_never_seen_is_recorded_with_its_replay_run(rig: Rig) -> None:
    await rig.handle(registered("case-1"), headers={REPLAY_RUN: "run-7"})
    assert rig.only().replay_run == "run-7"


async def test_a_stale_event_is_recorded_skipped_and_never_handed_on(rig: Rig) -> None:
    await rig.handle(registered("case-1", at=NOW - timedelta(hours=72)))
    record = rig.only()
    assert record.state is SmsState.skipped_stale and "old" in record.reason
    assert rig.notify.senders.queued == frozenset()
    assert await rig.send_queued() == [] and rig.provider.calls == []


async def test_quiet_hours_defer_a_non_urgent_sms_to_the_morning_but_not_an_urgent_one() -> None:
    late = datetime(2026, 1, 1, 19, 30, tzinfo=UTC)  # 23:00 in Tehran
    rig = make_rig(at=late, sms_quiet_hours=True)
    await rig.handle(registered("case-1", at=late), routed("case-1", at=late))
    urgent, quiet = rig.record("registered"), rig.record("routed")
    assert urgent.state is SmsState.pending
    assert quiet.state is SmsState.deferred and quiet.reason == "quiet hours"
    assert quiet.not_before is not None
    assert quiet.not_before.astimezone(TEHRAN).replace(tzinfo=None) == datetime(2026, 1, 2, 8, 0)
    assert rig.notify.senders.queued == {urgent.sms_id}
    assert await rig.send_queued() == [urgent.sms_id]
    # Not due before the morning, whoever asks.
    assert not await rig.notify.senders.send_if_due(quiet.sms_id)
    rig.clock.set(quiet.not_before)
    assert await rig.notify.senders.scan_once() == [quiet.sms_id]
    assert await rig.notify.senders.send_if_due(quiet.sms_id)


async def test_a_batch_folds_each_cases_events_in_order_and_inserts_once() -> None:
    inserts: list[int] = []

    class CountingLedger(InMemoryLedger):
        async def insert_many(self, records: list[SmsRecord]) -> set[int]:  # type: ignore[override]
            inserts.append(len(records))
            return await super().insert_many(records)

    rig = make_rig(ledger=CountingLedger())
    await rig.handle(registered("case-a"), registered("case-b", "+989121234568"), routed("case-a"))
    assert inserts == [3]
    routed_a = rig.record("routed")
    assert routed_a.recipient == PHONE
    assert agency(AgencyCode.water_wastewater).fa in routed_a.text  # the routing folded onto the registration
    assert rig.contacts.contacts["case-a"].agency is AgencyCode.water_wastewater
    assert rig.contacts.reads == 0


async def test_an_event_of_a_case_without_a_known_contact_sends_nothing(rig: Rig) -> None:
    await rig.handle(routed("case-unknown"))
    assert rig.ledger.records == {}
    assert rig.contacts.reads == 1  # it was looked for


async def test_records_an_insert_may_have_written_are_handed_on_when_the_batch_comes_again() -> None:
    class AnswerLost(InMemoryLedger):
        """The first insert writes its records, then the answer is lost."""

        lost = False

        async def insert_many(self, records: list[SmsRecord]) -> set[int]:  # type: ignore[override]
            taken = await super().insert_many(records)
            if not self.lost:
                self.lost = True
                raise ConnectionError("connection closed")
            return taken

    rig = make_rig(FakeProvider(delivered=True), ledger=AnswerLost())
    await rig.notify.start(workers=False)
    batch = [registered(f"case-{n}", f"+98912123456{n}") for n in range(3)]
    with pytest.raises(ConnectionError):  # the consumer sees the failure and retries the batch
        await rig.handle(*batch)
    assert rig.notify.senders.queued == frozenset()
    await rig.handle(*batch)  # the retry: every record is in the ledger already
    assert rig.notify.senders.queued == set(rig.ledger.records)
    rig.ledger.reads = 0
    assert len(await rig.send_queued()) == 3
    # The copies were not known to be the stored ones: each claim read its record.
    assert rig.ledger.reads == 3
    assert len(rig.provider.accepted) == 3


async def test_a_redelivered_registration_keeps_what_later_events_added(rig: Rig) -> None:
    first = registered("case-1")
    await rig.handle(first)
    await rig.handle(routed("case-1"))
    await rig.handle(first)
    assert rig.contacts.contacts["case-1"].agency is AgencyCode.water_wastewater
    assert sorted(r.template for r in rig.ledger.records.values()) == ["registered", "routed"]


def escalated(case_id: str, recipients: list[Recipient], at: datetime = NOW) -> Envelope:
    data = CaseEscalated(
        case_id=case_id,
        tracking_code=from_seed(case_id),
        agency=AgencyCode.water_wastewater,
        sla=SlaKind.resolve,
        deadline=at - timedelta(hours=1),
        level=1,
        to=EscalationTarget.agency_head,
        recipients=recipients,
    )
    return make_event(data, source="/samad/tracking", time=at, event_id=f"esc-{case_id}")


HEAD = Recipient(id="head-water", name="محمود صادقی", phone="+989150000501")


async def test_an_escalation_step_texts_each_person_it_reaches_once(rig: Rig) -> None:
    deputy = Recipient(id="deputy", name="معاون", phone="+989150000509")
    no_phone = Recipient(id="no-phone", name="بی‌شماره")
    event = escalated("case-9", [HEAD, deputy, no_phone])
    await rig.handle(event)  # no registration seen here: the event carries what the SMS needs
    records = sorted(rig.ledger.records.values(), key=lambda r: r.recipient)
    assert [(r.recipient, r.template, r.state) for r in records] == [
        ("+989150000501", "escalated", SmsState.pending),
        ("+989150000509", "escalated", SmsState.pending),
    ]
    assert "مهلت رسیدگی" in records[0].text and to_persian_digits(from_seed("case-9")) in records[0].text
    await rig.handle(event)  # redelivered: nothing new
    assert len(rig.ledger.records) == 2


async def test_an_escalation_at_night_waits_for_the_morning() -> None:
    late = datetime(2026, 1, 1, 19, 30, tzinfo=UTC)  # 23:00 in Tehran
    rig = make_rig(at=late, sms_quiet_hours=True)
    await rig.handle(escalated("case-9", [HEAD], at=late))
    record = rig.only()
    assert record.state is SmsState.deferred and record.reason == "quiet hours"


async def test_the_citizen_is_asked_by_sms_when_the_agency_needs_more(rig: Rig) -> None:
    asked = CaseStatusChanged(
        case_id="case-1",
        status=CaseStatus.waiting_for_citizen,
        agency=AgencyCode.water_wastewater,
        question="پلاک منزل را بفرمایید",
    )
    await rig.handle(registered("case-1"), make_event(asked, source="/samad/tracking", time=NOW))
    record = rig.record("info_requested")
    assert record.recipient == PHONE and "پلاک منزل را بفرمایید" in record.text and record.segments <= 2
