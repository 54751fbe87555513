"""A delivery receipt finds its ledger record through the provider:message-id mapping (reads by _id), and
a record written before the mapping existed is still found, by the query on its ids."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notify.adapters.store import Ledger


async def test_receipts_find_their_record_by_message_id(mongo_db: Any, unique: str) -> None:
    ledger = Ledger(mongo_db)
    await ledger.setup()
    now = datetime.now(UTC)
    for sid in (f"a-{unique}", f"b-{unique}"):
        assert await ledger.insert({"_id": sid, "state": "pending", "provider": "smpp", "outbox": []})
    # Message ids added by a ledger write are mapped.
    assert await ledger.add_message_ids(f"a-{unique}", ["m1", "m2"], now) is not None
    assert await mongo_db["sms_message_ids"].find_one({"_id": "smpp:m2"}) == {
        "_id": "smpp:m2",
        "sms_id": f"a-{unique}",
    }
    found = await ledger.by_message_id("smpp", "m2")
    assert found is not None and found["_id"] == f"a-{unique}"
    assert await ledger.by_message_id("kavenegar", "m2") is None  # another provider's ids are others
    # Written without the mapping (an older notify): found by the query.
    await mongo_db["sms_ledger"].update_one(
        {"_id": f"b-{unique}"}, {"$set": {"provider_message_ids": ["m9"]}}
    )
    found = await ledger.by_message_id("smpp", "m9")
    assert found is not None and found["_id"] == f"b-{unique}"
