"""The ledger's compare-and-set from a copy the writer already holds: no read when the copy is current,
and a stale copy changes nothing but the number of tries (the stored record decides)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from services.notify.adapters.store import Ledger
from services.notify.domain.ledger import SmsState


class CountingLedger(Ledger):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.reads = 0

    async def get(self, sms_id: str) -> dict[str, Any] | None:
        self.reads += 1
        return await super().get(sms_id)


async def pending_record(db: Any, sid: str) -> tuple[CountingLedger, dict[str, Any], datetime]:
    """A ledger that counts its reads, a pending record written to it (as its writer holds it), now."""
    ledger = CountingLedger(db)
    record = {"_id": sid, "state": "pending", "claims": 0, "outbox": [], "history": []}
    assert await ledger.insert(record)
    return ledger, {**record, "version": 0}, datetime.now(UTC)


async def test_a_current_copy_is_written_without_a_read(mongo_db: Any, unique: str) -> None:
    sid = f"s-{unique}"
    ledger, record, now = await pending_record(mongo_db, sid)
    claimed = await ledger.claim(sid, now=now, lease_until=now, replica="r1", provider="file", known=record)
    assert claimed is not None and claimed["version"] == 1 and claimed["claims"] == 1
    moved = await ledger.move(sid, SmsState.submitted, now=now, outbox=["sent"], known=claimed)
    assert moved is not None and moved["version"] == 2
    await ledger.pull_outbox(sid, ["sent"], now, known=moved)
    assert ledger.reads == 0
    stored = await mongo_db["sms_ledger"].find_one({"_id": sid})
    assert (stored["state"], stored["version"], stored["outbox"]) == ("submitted", 3, [])
    assert [h["to"] for h in stored["history"]] == ["sending", "submitted"]


async def test_a_stale_copy_yields_to_the_stored_record(mongo_db: Any, unique: str) -> None:
    sid = f"s-{unique}"
    ledger, stale, now = await pending_record(mongo_db, sid)
    # Another writer claims it and records it submitted with an event owed.
    other = await ledger.claim(sid, now=now, lease_until=now, replica="r2", provider="file")
    assert other is not None
    assert await ledger.move(sid, SmsState.submitted, now=now, outbox=["sent"], known=other)

    # From the stale copy (pending), a claim must fail: the stored record is submitted.
    assert (
        await ledger.claim(sid, now=now, lease_until=now, replica="r1", provider="file", known=stale) is None
    )
    # From a stale copy that would refuse (no outbox there), the stored record still gets its outbox
    # pulled; and a stale copy that would allow the write does not overwrite newer fields.
    await ledger.pull_outbox(sid, ["sent"], now, known=stale)
    delivered = await ledger.move(sid, SmsState.delivered, now=now, known=stale | {"state": "submitted"})
    assert delivered is not None
    stored = await mongo_db["sms_ledger"].find_one({"_id": sid})
    assert (stored["state"], stored["version"], stored["outbox"], stored["claimed_by"]) == (
        "delivered",
        4,
        [],
        "r2",
    )
    assert [h["to"] for h in stored["history"]] == ["sending", "submitted", "delivered"]
    assert ledger.reads == 1 + 3  # the claim without a copy, then one per stale copy


async def test_a_record_handed_to_a_sender_is_sent_without_reading_it_back(
    mongo_db: Any, unique: str, tmp_path: Any
) -> None:
    """Written by the consumer, claimed, sent, recorded delivered and its events struck off, each from
    the copy the step before returned; the recipient's opt-out asked once, by the consumer."""
    from contracts.topics import CASES
    from services.common.kafka import Incoming
    from services.notify.adapters.providers.file import FileProvider
    from tests.integration.notify.conftest import Published, make_notifier
    from tests.integration.notify.helpers import outbox_lines, phone_for, registered
    from tests.support.kafka import wait_for

    published = Published()
    notifier = make_notifier(mongo_db, FileProvider(tmp_path / "outbox.jsonl", auto_deliver=True), published)
    counting = CountingLedger(mongo_db)
    notifier.ledger = counting
    asked: list[str] = []
    real_is_opted_out = notifier.optouts.is_opted_out

    async def is_opted_out(phone: str) -> bool:
        asked.append(phone)
        return await real_is_opted_out(phone)

    notifier.optouts.is_opted_out = is_opted_out  # type: ignore[method-assign]
    await counting.setup()
    await notifier.start()
    try:
        case_id, phone = f"known-{unique}", phone_for(unique)
        await notifier.handle([Incoming(registered(case_id, phone), CASES, 0, 0, {})])
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)

        async def struck_off() -> bool:
            [doc] = await counting.list(case_id=case_id)
            return doc["outbox"] == []

        await wait_for(struck_off, timeout=20)
    finally:
        await notifier.stop()
    assert len(outbox_lines(tmp_path / "outbox.jsonl")) == 1
    assert counting.reads == 0
    assert asked == [phone]
