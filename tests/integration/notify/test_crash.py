"""Notify killed at the worst moment — the provider has the SMS, the ledger does not know — sends
nothing twice after a restart: the lease expires, the record becomes unknown, and the provider's
status lookup finds the SMS and completes the record."""

from __future__ import annotations

import time
from pathlib import Path

from contracts.topics import CASES, NOTIFICATIONS
from services.common.mongo import make_client
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
