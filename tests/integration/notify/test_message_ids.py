"""A delivery receipt finds its ledger record through the provider:message-id mapping (reads by _id), and
a record written before the mapping existed is still found, by the query on its ids."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.domain import records as rec
from tests.unit.notify.factory import pending_record


async def test_receipts_find_their_record_by_message_id(mongo_db: Any, unique: str) -> None:
    ledger = MongoLedger(mongo_db)
    await ledger.setup()
    now = datetime.now(UTC)
    a, b = (pending_record(f"{n}-{unique}", provider="smpp") for n in "ab")
    assert await ledger.insert_many([a, b]) == set()
    # Message ids added by a ledger write are mapped.
    for n, message_id in ((1, "m1"), (2, "m2")):  # each part's id, as its submit_sm_resp comes
        change = partial(rec.part_accepted, number=n, message_id=message_id)
        assert await ledger.update(a.sms_id, change, now=now) is not None
    assert await mongo_db["sms_message_ids"].find_one({"_id": "smpp:m2"}) == {
        "_id": "smpp:m2",
        "sms_id": a.sms_id,
    }
    found = await ledger.by_message_id("smpp", "m2")
    assert found is not None and found.sms_id == a.sms_id
    assert await ledger.by_message_id("kavenegar", "m2") is None  # another provider's ids are others
    # Written without the mapping (an older notify): found by the query.
    await mongo_db["sms_ledger"].update_one({"_id": b.sms_id}, {"$set": {"provider_message_ids": ["m9"]}})
    found = await ledger.by_message_id("smpp", "m9")
    assert found is not None and found.sms_id == b.sms_id
