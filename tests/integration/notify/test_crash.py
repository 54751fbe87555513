"""Notify killed at the worst moment — the provider has the SMS, the ledger does not know — sends
nothing twice after a restart: the lease expires, the record becomes unknown, and the provider's
status lookup finds the SMS and completes the record. Likewise an outcome the database refused to
record, and a receipt that never came."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from aiokafka.errors import KafkaConnectionError
from pymongo.errors import AutoReconnect

from contracts.topics import CASES, NOTIFICATIONS
from services.common.kafka import Incoming
from services.common.mongo import make_client
from services.notify.adapters.ledger import Change
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.adapters.providers.base import OutgoingSms, PartHandler, Submitted
from services.notify.adapters.providers.file import FileProvider
from services.notify.bootstrap import NotifyContainer
from services.notify.domain.ledger import SmsState
from services.notify.domain.records import SmsRecord
from tests.integration.notify.conftest import Published, make_notify
from tests.integration.notify.helpers import outbox_lines, phone_for, registered
from tests.support.kafka import TopicReader, produce_raw, wait_for
from tests.support.processes import ServiceProcess, free_port, log_dir
from tests.support.stack import MONGO


def notify_process(unique: str, outbox: Path, *, crash: bool) -> ServiceProcess:
    env = {
        "SAMAD_DB_NAME": f"test_notify_crash_{unique}",
        "SAMAD_CONSUMER_GROUP_PREFIX": f"test.crash.{unique}",
        "SAMAD_CONSUMER_OFFSET_RESET": "latest",
        "SAMAD_READY_REQUIRES_ASSIGNMENT": "true",
        "SAMAD_SMS_PROVIDER": "file",
        "SAMAD_SMS_FILE_PATH": str(outbox),
        "SAMAD_SMS_INBOX_PATH": str(outbox.with_name("inbox.jsonl")),
        "SAMAD_SMS_LEASE_SECONDS": "3",
        "SAMAD_SMS_RECONCILE_SECONDS": "0.5",
        "SAMAD_SMS_TEST_CRASH_AFTER_SUBMIT": "true" if crash else "false",
    }
    return ServiceProcess("notify", free_port(), env, log_dir())


async def test_a_crash_after_submit_before_the_ledger_update_sends_no_duplicate(
    unique: str, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox.jsonl"
    case_id, phone = f"crash-{unique}", phone_for(unique)
    first = notify_process(unique, outbox, crash=True).start()
    notifications = await TopicReader.from_now(NOTIFICATIONS)
    client = make_client(MONGO, "notify-crash-test")
    ledger = client[f"test_notify_crash_{unique}"]["sms_ledger"]
    try:
        event = registered(case_id, phone)
        await produce_raw(CASES, event.to_json(), key=event.key)

        # The provider accepted the SMS, then the process died before the ledger heard of it.
        await wait_for(lambda: first.proc is not None and first.proc.poll() is not None, timeout=60)
        assert first.proc is not None and first.proc.returncode == 137
        assert len(outbox_lines(outbox, phone)) == 1
        doc = await ledger.find_one({"case_id": case_id})
        assert doc is not None and doc["state"] == "sending"

        started = time.monotonic()
        second = notify_process(unique, outbox, crash=False).start()
        try:

            async def completed() -> bool:
                d = await ledger.find_one({"case_id": case_id})
                return d is not None and d["state"] == "delivered"

            await wait_for(completed, timeout=60)
            print(f"unknown outcome resolved {time.monotonic() - started:.1f}s after the restart")
            doc = await ledger.find_one({"case_id": case_id})
            assert doc is not None
            states = [h["to"] for h in doc["history"]]
            assert states == ["pending", "sending", "unknown", "submitted", "delivered"]
            assert len(outbox_lines(outbox, phone)) == 1  # never written twice

            await notifications.collect(
                lambda recs: len({r.value for r in recs if r.key == case_id.encode()}) >= 2, timeout=30
            )
            types = {e["type"] for e in notifications.events() if e["subject"] == case_id}
            assert types == {"ir.samad.sms.sent", "ir.samad.sms.delivered"}
        finally:
            second.stop()
    finally:
        first.stop()
        await client.drop_database(f"test_notify_crash_{unique}")
        await client.close()


class _ReceiptLost(FileProvider):
    """The file gateway, whose answer to a submission does not say delivered: its receipt was lost
    (it came while the database was down); its status lookup still knows."""

    async def send(self, sms: OutgoingSms, on_part: PartHandler | None = None) -> Submitted:
        accepted = await super().send(sms, on_part)
        return Submitted(accepted.message_ids, delivered=False)


async def _ledger_state(notify: NotifyContainer, case_id: str) -> str:
    [record] = await notify.ledger.list(case_id=case_id)
    return record.state.value


async def test_a_submitted_sms_whose_receipt_never_comes_is_settled_by_the_status_poll(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    db = mongo_db
    published = Published()
    provider = _ReceiptLost(tmp_path / "outbox.jsonl", auto_deliver=True)
    notify = make_notify(db, provider, published, sms_status_poll_seconds=1)
    await notify.startup()
    await notify.start()
    try:
        case_id = f"lost-{unique}"
        await notify.recorder.handle([Incoming(registered(case_id, phone_for(unique)), CASES, 0, 0, {})])
        await wait_for(lambda: len(published.of("sent")) == 1, timeout=20)
        assert await _ledger_state(notify, case_id) == "submitted"
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=30)
        assert await _ledger_state(notify, case_id) == "delivered"
        assert len(outbox_lines(tmp_path / "outbox.jsonl")) == 1  # looked up, not sent again
    finally:
        await notify.stop()


async def test_an_outcome_the_database_refused_is_recovered_without_a_second_send(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    """The gateway took the SMS, but the database refused the write of that outcome (it was
    restarting): the record's lease runs out, its outcome becomes unknown, and the gateway's status
    lookup settles it. The citizen gets one SMS."""
    db = mongo_db
    published = Published()
    provider = FileProvider(tmp_path / "outbox.jsonl", auto_deliver=True)
    refused: list[str] = []

    class RefusingLedger(MongoLedger):
        """Refuses the first write that would record an SMS delivered, as a restarting database would."""

        async def update(self, sms_id: str, change: Change, **kw: Any) -> SmsRecord | None:
            def refusing(record: SmsRecord) -> SmsRecord | None:
                after = change(record)
                if after is not None and after.state is SmsState.delivered and not refused:
                    refused.append(sms_id)
                    raise AutoReconnect("connection closed (the database is restarting)")
                return after

            return await super().update(sms_id, refusing, **kw)

    notify = make_notify(db, provider, published, ledger=RefusingLedger(db), sms_lease_seconds=2)
    await notify.startup()
    await notify.start()
    try:
        case_id = f"refused-{unique}"
        await notify.recorder.handle([Incoming(registered(case_id, phone_for(unique)), CASES, 0, 0, {})])
        await wait_for(lambda: len(refused) == 1, timeout=20)
        assert await _ledger_state(notify, case_id) == "sending"

        async def settled() -> bool:
            return await _ledger_state(notify, case_id) == "delivered"

        await wait_for(settled, timeout=30)
        [record] = await notify.ledger.list(case_id=case_id)
        assert SmsState.unknown in [h.to for h in record.history]
        assert len(outbox_lines(tmp_path / "outbox.jsonl")) == 1  # found, not sent again
        assert not record.owed
        # Published before the refused write and again once the lookup settled it: the same events,
        # by id, so consumers count them once.
        for kind in ("sent", "delivered"):
            events = published.of(kind)
            assert len(events) == 2 and len({e.id for e in events}) == 1, kind
            assert events[0].data.sms_id == refused[0]  # type: ignore[attr-defined]
    finally:
        await notify.stop()


async def test_records_an_insert_wrote_before_it_failed_are_sent_when_the_batch_comes_again(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    """The database took a batch's records and the answer was lost (it was restarting): the
    consumer retries the batch, finds the records there, and hands them to the senders at once
    instead of leaving them to the scanner's next round (a minute away here). One SMS each."""
    published = Published()
    outbox = tmp_path / "outbox.jsonl"
    failed: list[int] = []

    class AnswerLostLedger(MongoLedger):
        """The first insert's records are written, and its answer is lost."""

        async def insert_many(self, records: Sequence[SmsRecord]) -> set[int]:
            taken = await super().insert_many(records)
            if not failed:
                failed.append(len(records))
                raise AutoReconnect("connection closed (the database is restarting)")
            return taken

    notify = make_notify(
        mongo_db,
        FileProvider(outbox, auto_deliver=True),
        published,
        ledger=AnswerLostLedger(mongo_db),
        sms_poll_seconds=60.0,
    )
    await notify.startup()
    await notify.start()
    try:
        cases = [(f"lost-{unique}-{n}", phone_for(f"{unique}{n}")) for n in range(3)]
        batch = [Incoming(registered(c, p), CASES, 0, n, {}) for n, (c, p) in enumerate(cases)]
        # The insert's failure must reach the consumer, which retries the batch.
        with pytest.raises(AutoReconnect):
            await notify.recorder.handle(batch)
        assert failed == [3]
        await notify.recorder.handle(batch)  # the retry: all three records are in the ledger already
        await wait_for(lambda: len(published.of("delivered")) == 3, timeout=10)
        for case_id, phone in cases:
            assert await _ledger_state(notify, case_id) == "delivered"
            assert len(outbox_lines(outbox, to=phone)) == 1
    finally:
        await notify.stop()


async def test_a_record_left_pending_by_a_stopped_replica_is_found_and_sent_once(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    db = mongo_db
    outbox = tmp_path / "outbox.jsonl"
    # Replica A records the SMS and stops before any of its senders takes it.
    first = make_notify(db, FileProvider(outbox), Published())
    await first.startup()
    await first.start(workers=False)
    case_id = f"orphan-{unique}"
    await first.recorder.handle([Incoming(registered(case_id, phone_for(unique)), CASES, 0, 0, {})])
    await first.stop()
    assert await _ledger_state(first, case_id) == "pending"
    # Replica B never saw the event: its scanner finds the record in the ledger.
    published = Published()
    second = make_notify(db, FileProvider(outbox), published, sms_poll_seconds=0.5)
    await second.start()
    try:
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=20)
        assert await _ledger_state(second, case_id) == "delivered"
        assert len(outbox_lines(outbox)) == 1
    finally:
        await second.stop()


async def test_events_whose_publication_failed_are_published_by_the_reconciler(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    """Kafka was down when the SMS went out: the record is delivered, its events stay owed in its
    outbox, and the reconciler publishes them once Kafka is back, then strikes them off."""
    failures: list[str] = []

    class FlakyKafka(Published):
        """Kafka restarting: the first three publications fail."""

        async def publish(self, events: Any, headers: dict[str, str] | None = None) -> None:
            batch = list(events)
            if len(failures) < 3:
                failures.append(batch[0].type)
                raise KafkaConnectionError("broker restarting")
            await super().publish(batch, headers)

    published = FlakyKafka()
    notify = make_notify(
        mongo_db,
        FileProvider(tmp_path / "outbox.jsonl", auto_deliver=True),
        published,
        sms_outbox_grace_seconds=1,
    )
    await notify.startup()
    await notify.start()
    try:
        case_id = f"unpublished-{unique}"
        await notify.recorder.handle([Incoming(registered(case_id, phone_for(unique)), CASES, 0, 0, {})])
        await wait_for(lambda: len(published.of("delivered")) == 1, timeout=30)
        [record] = await notify.ledger.list(case_id=case_id)
        assert record.state is SmsState.delivered
        assert not record.owed, record.owed
        assert len(published.of("sent")) == 1
        assert failures, "the first publication never failed: the test proves nothing"
        assert len(outbox_lines(tmp_path / "outbox.jsonl")) == 1
    finally:
        await notify.stop()
