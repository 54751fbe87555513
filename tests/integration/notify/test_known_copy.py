"""The ledger's compare-and-set from a copy the writer already holds: no read when the copy is current,
and a stale copy changes nothing but the number of tries (the stored record decides)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.topics import CASES
from services.common.kafka import Incoming
from services.notify.adapters.ledger import Change
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.adapters.optouts import MongoOptOuts
from services.notify.adapters.providers.file import FileProvider
from services.notify.domain import records as rec
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import Owed, SmsRecord
from tests.integration.notify.conftest import Published, make_notify
from tests.integration.notify.helpers import outbox_lines, phone_for, registered
from tests.support.kafka import wait_for
from tests.unit.notify.factory import pending_record


class CountingLedger(MongoLedger):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.reads = 0

    async def get(self, sms_id: str) -> SmsRecord | None:
        self.reads += 1
        return await super().get(sms_id)


class CountingOptOuts(MongoOptOuts):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.asked: list[str] = []

    async def is_opted_out(self, phone: str) -> bool:
        self.asked.append(phone)
        return await super().is_opted_out(phone)


async def written(db: Any, unique: str) -> tuple[CountingLedger, SmsRecord, datetime]:
    """A ledger that counts its reads, a pending record written to it (as its writer holds it), now."""
    ledger = CountingLedger(db)
    record = pending_record(f"case-{unique}")
    assert await ledger.insert_many([record]) == set()
    return ledger, record, datetime.now(UTC)


def claim(now: datetime, replica: str) -> Change:
    return lambda r: rec.claim(r, now=now, lease_until=now, replica=replica, provider="file")


def to_submitted(now: datetime) -> Change:
    return lambda r: rec.submitted(r, now=now, message_ids=["m1"], delivered=False, note="accepted")


async def test_a_current_copy_is_written_without_a_read(mongo_db: Any, unique: str) -> None:
    ledger, record, now = await written(mongo_db, unique)
    sid = record.sms_id
    claimed = await ledger.update(sid, claim(now, "r1"), now=now, known=record)
    assert claimed is not None and claimed.version == 1 and claimed.claims == 1
    moved = await ledger.update(sid, to_submitted(now), now=now, known=claimed)
    assert moved is not None and moved.version == 2 and moved.owed == (Owed.sent,)
    assert await ledger.update(sid, lambda r: rec.published(r, [Owed.sent]), now=now, known=moved)
    assert ledger.reads == 0
    stored = await mongo_db["sms_ledger"].find_one({"_id": sid})
    assert (stored["state"], stored["version"], stored["outbox"]) == ("submitted", 3, [])
    assert [h["to"] for h in stored["history"]] == ["pending", "sending", "submitted"]


async def test_a_stale_copy_yields_to_the_stored_record(mongo_db: Any, unique: str) -> None:
    ledger, stale, now = await written(mongo_db, unique)
    sid = stale.sms_id
    # Another writer claims it and records it submitted with an event owed.
    other = await ledger.update(sid, claim(now, "r2"), now=now)
    assert other is not None
    assert await ledger.update(sid, to_submitted(now), now=now, known=other)

    # From the stale copy (pending), a claim must fail: the stored record is submitted.
    assert await ledger.update(sid, claim(now, "r1"), now=now, known=stale) is None
    # From a stale copy that would refuse (nothing owed there), the stored record still gets its
    # owed event struck off; and a stale copy that would allow the write does not overwrite newer fields.
    await ledger.update(sid, lambda r: rec.published(r, [Owed.sent]), now=now, known=stale)
    delivered = await ledger.update(
        sid,
        lambda r: rec.delivered(r, now=now, note="receipt"),
        now=now,
        known=replace(stale, state=SmsState.submitted),
    )
    assert delivered is not None
    stored = await mongo_db["sms_ledger"].find_one({"_id": sid})
    assert (stored["state"], stored["version"], stored["outbox"], stored["claimed_by"]) == (
        "delivered",
        4,
        ["delivered"],
        "r2",
    )
    assert [h["to"] for h in stored["history"]] == ["pending", "sending", "submitted", "delivered"]
    assert ledger.reads == 1 + 3  # the claim without a copy, then one per stale copy


async def test_a_record_handed_to_a_sender_is_sent_without_reading_it_back(
    mongo_db: Any, unique: str, tmp_path: Path
) -> None:
    """Written by the consumer, claimed, sent, recorded delivered and its events struck off, each from
    the copy the step before returned; the recipient's opt-out asked once, by the sender."""
    published = Published()
    ledger, optouts = CountingLedger(mongo_db), CountingOptOuts(mongo_db)
    notify = make_notify(
        mongo_db,
        FileProvider(tmp_path / "outbox.jsonl", auto_deliver=True),
        published,
        ledger=ledger,
        optouts=optouts,
    )
    await notify.startup()
    await notify.start()
    try:
        case_id, phone = f"known-{unique}", phone_for(unique)
        await notify.recorder.handle([Incoming(registered(case_id, phone), CASES, 0, 0, {})])
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)

        async def struck_off() -> bool:
            [record] = await ledger.list(case_id=case_id)
            return record.owed == ()

        await wait_for(struck_off, timeout=20)
    finally:
        await notify.stop()
    assert len(outbox_lines(tmp_path / "outbox.jsonl")) == 1
    assert ledger.reads == 0
    assert optouts.asked == [phone]
