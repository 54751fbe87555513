"""The whole notify service on the real Kafka and FerretDB: case events in, SMS and events out,
nothing sent twice on redelivery or replay, stale events skipped, opt-out respected."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from contracts.catalogue import AgencyCode
from contracts.events import CaseStatus, Envelope
from contracts.headers import REPLAY_RUN as REPLAY_HEADER
from contracts.persian import to_persian_digits
from contracts.topics import CASES, NOTIFICATIONS
from services.common.kafka import consumers_positioned
from services.notify.bootstrap import NotifyContainer, bootstrap
from services.notify.domain.ledger import SmsState
from services.notify.entrypoints import consumer
from services.notify.settings import NotifySettings
from tests.integration.notify.helpers import outbox_lines, phone_for, registered, routed, stale, status
from tests.support.kafka import TopicReader, produce_raw, wait_for
from tests.support.stack import KAFKA, MONGO


async def publish(event: Envelope, headers: list[tuple[str, bytes]] | None = None) -> None:
    await produce_raw(CASES, event.to_json(), key=event.key, headers=headers)


@pytest.fixture
async def notify(unique: str, tmp_path: Path) -> AsyncIterator[tuple[NotifySettings, NotifyContainer]]:
    settings = NotifySettings(
        kafka_bootstrap=KAFKA,
        mongo_url=MONGO,
        db_name=f"test_notify_{unique}",
        consumer_group_prefix=f"test.{unique}",
        consumer_offset_reset="latest",
        sms_file_path=tmp_path / "outbox.jsonl",
        sms_inbox_path=tmp_path / "inbox.jsonl",
        sms_quiet_hours=False,
        sms_reconcile_seconds=0.5,
        sms_poll_seconds=0.2,
    )
    c = bootstrap(settings)
    consumer.register(c)
    await c.startup()
    await c.start()
    await c.broker.start()
    try:
        await wait_for(lambda: consumers_positioned(c.broker), timeout=40)
        yield settings, c
    finally:
        await c.broker.stop()
        await c.stop()
        assert c.client is not None
        await c.client.drop_database(settings.db_name)
        await c.shutdown()


async def test_case_lifecycle_sends_each_sms_once_and_publishes_events(notify, unique: str) -> None:
    settings, c = notify
    case_id, phone = f"case-{unique}", phone_for(unique)
    reader = await TopicReader.from_now(NOTIFICATIONS)
    events = [
        registered(case_id, phone),
        routed(case_id, AgencyCode.water_wastewater),
        status(case_id, CaseStatus.in_progress),
        status(case_id, CaseStatus.resolved, answer="لوله اصلی تعمیر شد و آب وصل است."),
    ]
    for e in events:
        await publish(e)
    await wait_for(lambda: len(outbox_lines(settings.sms_file_path, phone)) >= 4, timeout=30)

    # A redelivery of everything (same event ids) sends nothing new.
    for e in events:
        await publish(e)
    mine = lambda recs: [r for r in recs if r.key == case_id.encode()]  # noqa: E731
    await reader.collect(lambda recs: len({r.value for r in mine(recs)}) >= 8, timeout=30)
    await asyncio.sleep(1.5)

    lines = outbox_lines(settings.sms_file_path, phone)
    assert len(lines) == 4
    assert all(line["to"] == phone for line in lines)
    templates = {r.sms_id: r.template for r in await c.ledger.list(case_id=case_id)}
    texts = {templates[line["sms_id"]]: line["text"] for line in lines}
    code = to_persian_digits(from_code(case_id))
    assert code in texts["registered"] and "کد رهگیری" in texts["registered"]
    assert "آب و فاضلاب" in texts["routed"]
    assert "رسیدگی" in texts["acknowledged"]
    assert "پاسخ" in texts["resolved"] and "لوله اصلی" in texts["resolved"]
    # Events are published at least once with deterministic ids: consumers deduplicate by id.
    ids_by_type: dict[str, set[str]] = {}
    for e in reader.events():
        if e["subject"] == case_id:
            ids_by_type.setdefault(e["type"], set()).add(e["id"])
    assert {t: len(ids) for t, ids in ids_by_type.items()} == {
        "ir.samad.sms.sent": 4,
        "ir.samad.sms.delivered": 4,
    }
    records = await c.ledger.list(case_id=case_id)
    assert sorted(r.state for r in records) == [SmsState.delivered] * 4
    # Two writes per SMS: the claim, then the outcome, whose events were out before it was written
    # (none left owed, none to strike off).
    assert [(r.version, r.owed) for r in records] == [(2, ())] * 4


def from_code(case_id: str) -> str:
    from contracts.tracking_code import from_seed

    return from_seed(case_id)


async def test_replayed_and_stale_events_send_nothing(notify, unique: str) -> None:
    settings, c = notify
    case_id, phone = f"case-{unique}", phone_for(unique)
    first = registered(case_id, phone)
    await publish(first)
    await wait_for(lambda: len(outbox_lines(settings.sms_file_path, phone)) >= 1, timeout=30)

    # The same event replayed with the replay header: recognised, nothing sent.
    await publish(first, headers=[(REPLAY_HEADER, b"run-1")])
    # An old event from a long outage or a replay of history: skipped as stale.
    old_case = f"old-{unique}"
    await publish(stale(registered(old_case, phone_for(unique, 1)), hours=72))

    async def both_recorded() -> bool:
        return bool(await c.ledger.list(case_id=old_case))

    await wait_for(both_recorded, timeout=30)
    await asyncio.sleep(1.0)
    assert len(outbox_lines(settings.sms_file_path, phone)) == 1
    [old] = await c.ledger.list(case_id=old_case)
    assert old.state is SmsState.skipped_stale


async def test_opt_out_by_inbound_sms_stops_later_messages(notify, unique: str) -> None:
    settings, c = notify
    case_id, phone = f"case-{unique}", phone_for(unique)
    await publish(registered(case_id, phone))
    await wait_for(lambda: len(outbox_lines(settings.sms_file_path, phone)) >= 1, timeout=30)

    with settings.sms_inbox_path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"from": phone, "text": " لغو "}, ensure_ascii=False) + "\n")
    await wait_for(lambda: c.optouts.is_opted_out(phone), timeout=15)

    await publish(routed(case_id, AgencyCode.education))
    await wait_for(lambda: c.ledger.list(case_id=case_id, state=SmsState.skipped_opted_out), timeout=30)
    assert len(outbox_lines(settings.sms_file_path, phone)) == 1
