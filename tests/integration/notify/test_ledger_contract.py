"""The in-memory ledger the use-case tests run on keeps the rules of the MongoDB ledger: the same
scenarios, run against both, give the same answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from services.notify.adapters.ledger import Change, Ledger
from services.notify.adapters.ledger.memory import InMemoryLedger
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.domain import records as rec
from services.notify.domain.ledger import PartOutcome, SmsState
from tests.unit.notify.factory import NOW, pending_record

LATER = NOW + timedelta(minutes=1)


@pytest.fixture(params=["memory", "mongo"])
async def ledger(request: pytest.FixtureRequest, mongo_db: Any) -> AsyncIterator[Ledger]:
    store: Ledger = InMemoryLedger() if request.param == "memory" else MongoLedger(mongo_db)
    await store.setup()
    yield store


def claim(replica: str) -> Change:
    return lambda r: rec.claim(r, now=NOW, lease_until=LATER, replica=replica, provider="smpp")


async def test_an_insert_writes_new_records_and_names_those_there_already(ledger: Ledger) -> None:
    a, b = pending_record("case-a"), pending_record("case-b", phone="+989121234568")
    assert await ledger.insert_many([a]) == set()
    assert await ledger.insert_many([b, a]) == {1}
    assert await ledger.get(a.sms_id) == a
    assert await ledger.get("nothing") is None


async def test_a_change_is_judged_on_the_stored_record_and_versions_it(ledger: Ledger) -> None:
    record = pending_record("case-a")
    await ledger.insert_many([record])
    won = await ledger.update(record.sms_id, claim("r1"), now=NOW, known=record)
    assert won is not None and (won.version, won.updated_at, won.claimed_by) == (1, NOW, "r1")
    assert await ledger.update(record.sms_id, claim("r2"), now=NOW, known=record) is None  # a stale copy
    assert await ledger.update("nothing", claim("r2"), now=NOW) is None
    assert await ledger.get(record.sms_id) == won


async def test_due_records_come_longest_waiting_first_and_only_when_due(ledger: Ledger) -> None:
    early = replace(pending_record("case-a"), not_before=NOW - timedelta(minutes=5))
    late = replace(pending_record("case-b", phone="+989121234568"), not_before=LATER)
    stale = replace(pending_record("case-c", phone="+989121234569"), state=SmsState.skipped_stale)
    await ledger.insert_many([late, early, stale])
    assert await ledger.due(NOW) == [early.sms_id]
    assert await ledger.due(LATER) == [early.sms_id, late.sms_id]
    assert await ledger.due(LATER, limit=1) == [early.sms_id]


async def test_unsettled_records_are_those_in_flight_or_owing_events(ledger: Ledger) -> None:
    pending = pending_record("case-a")
    sending = pending_record("case-b", phone="+989121234568")
    owing = replace(pending_record("case-c", phone="+989121234569"), state=SmsState.delivered)
    await ledger.insert_many([pending, sending, owing])
    await ledger.update(sending.sms_id, claim("r1"), now=NOW)
    await ledger.update(owing.sms_id, lambda r: replace(r, owed=(rec.Owed.delivered,)), now=LATER)
    assert [r.sms_id for r in await ledger.unsettled()] == [sending.sms_id, owing.sms_id]


async def test_receipts_find_their_record_by_the_id_of_a_part_and_by_nothing_else(ledger: Ledger) -> None:
    record = pending_record("case-a")
    await ledger.insert_many([record])
    sending = await ledger.update(record.sms_id, claim("r1"), now=NOW)
    assert sending is not None
    assert await ledger.by_message_id("smpp", "m1") is None
    await ledger.update(record.sms_id, lambda r: rec.part_accepted(r, number=1, message_id="m1"), now=NOW)
    by_id = await ledger.by_message_id("smpp", "m1")
    assert by_id is not None and by_id.message_ids == ("m1",) and by_id.accepted_parts == {1: "m1"}
    assert await ledger.by_message_id("kavenegar", "m1") is None
    applied = await ledger.update(
        record.sms_id,
        lambda r: rec.receipt(r, message_id="m1", outcome=PartOutcome.delivered, now=NOW),
        now=NOW,
    )
    assert applied is not None and (await ledger.get(record.sms_id)) == applied
    assert applied.receipt_of("m1") is PartOutcome.delivered
    again = await ledger.update(
        record.sms_id,
        lambda r: rec.receipt(r, message_id="m1", outcome=PartOutcome.delivered, now=NOW),
        now=NOW,
    )
    assert again is None  # applied once


async def test_a_receipt_whose_id_is_unknown_is_kept_once_until_dropped(ledger: Ledger) -> None:
    kept = rec.KeptReceipt("smpp", "m9", PartOutcome.delivered, "", NOW)
    later = rec.KeptReceipt("smpp", "m8", PartOutcome.failed, "UNDELIV", LATER)
    assert await ledger.keep_receipt(later) and await ledger.keep_receipt(kept)
    assert not await ledger.keep_receipt(kept)
    assert await ledger.kept_receipts("smpp", ["m9"]) == [kept]
    assert await ledger.kept_receipts("kavenegar", ["m9"]) == []
    # Several ids in one read, answered in the ids' order.
    assert await ledger.kept_receipts("smpp", ["m8", "m7", "m9"]) == [later, kept]
    assert await ledger.all_kept_receipts() == [kept, later]
    await ledger.report_kept_receipt(later, LATER)
    await ledger.drop_kept_receipt(kept)
    assert await ledger.all_kept_receipts() == [replace(later, reported_at=LATER)]


async def test_listing_and_counting_by_state(ledger: Ledger) -> None:
    a = pending_record("case-a")
    b = replace(pending_record("case-a", phone="+989121234568"), created_at=LATER)
    c = replace(pending_record("case-c", phone="+989121234569"), state=SmsState.failed)
    await ledger.insert_many([b, a, c])
    assert [r.sms_id for r in await ledger.list(case_id="case-a")] == [a.sms_id, b.sms_id]
    assert [r.sms_id for r in await ledger.list(state=SmsState.failed)] == [c.sms_id]
    assert [r.sms_id for r in await ledger.list(recipient=b.recipient)] == [b.sms_id]
    assert await ledger.count_by_state() == {"pending": 2, "failed": 1}
