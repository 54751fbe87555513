"""Replaying a whole cases topic into notify (stop it, rewind its group with `samad offsets reset`, start it
again) sends no SMS twice and nothing stale.

Notify's own code (its use cases, ledger, templates and file provider) consumes a private cases topic here,
so "the whole topic" is this test's history and not the traffic other tests put on the shared one."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.catalogue import AgencyCode
from contracts.events import CaseRegistered, CaseRouted, Citizen, Envelope, RouteReason, make_event
from contracts.tracking_code import from_seed
from services.common.kafka import consumers_positioned
from services.notify.bootstrap import bootstrap
from services.notify.entrypoints import consumer
from services.notify.settings import NotifySettings
from services.ops.adapters.kafka import KafkaLog
from services.ops.domain.records import Outgoing
from tests.support.kafka import wait_for
from tests.support.stack import KAFKA, MONGO


def case_events(case_id: str, phone: str, at: datetime) -> list[Envelope]:
    registered = CaseRegistered(
        case_id=case_id,
        tracking_code=from_seed(case_id),
        county="mashhad",
        citizen=Citizen(phone=phone),
        subject="قطعی آب",
        description="آب محله از دیروز قطع است",
        registered_at=at,
    )
    routed = CaseRouted(
        case_id=case_id, agency=AgencyCode.welfare, reason=RouteReason.classifier, confidence=0.9
    )
    return [
        make_event(registered, source="/samad/intake", time=at),
        make_event(routed, source="/samad/routing", time=at + timedelta(seconds=1)),
    ]


def outbox_lines(outbox: Path) -> list[dict[str, Any]]:
    if not outbox.exists():
        return []
    return [json.loads(x) for x in outbox.read_text(encoding="utf-8").splitlines() if x.strip()]


@asynccontextmanager
async def running_notify(settings: NotifySettings, topic: str) -> AsyncIterator[Any]:
    """Notify as its bootstrap builds it, consuming ``topic`` instead of the shared cases topic."""
    notify = bootstrap(settings)
    consumer.register(notify, topics=[topic])
    await notify.startup()
    await notify.start()
    await notify.broker.start()
    try:
        await wait_for(lambda: consumers_positioned(notify.broker), timeout=40)
        yield notify
    finally:
        await notify.broker.stop()
        await notify.stop()
        await notify.shutdown()


async def caught_up(log: KafkaLog, group: str, topic: str) -> None:
    ends = await log.ends([topic])

    async def done() -> bool:
        committed = await log.committed(group)
        return all((committed.get(tp) or 0) >= end for tp, end in ends.items())

    await wait_for(done, timeout=60, interval=0.3)


async def settled(outbox: Path) -> None:
    """Give the sender time to write whatever is still due (the outbox stops growing for 2 s)."""
    last, quiet = -1, 0
    for _ in range(120):
        count = len(outbox_lines(outbox))
        quiet = quiet + 1 if count == last else 0
        if quiet >= 8:
            return
        last = count
        await asyncio.sleep(0.25)


async def test_replaying_the_cases_topic_into_notify_sends_nothing_twice_and_nothing_stale(
    log: KafkaLog, make_topic, samad, mongo, tmp_path: Path, unique: str
) -> None:
    topic = await make_topic("cases", 3)
    outbox = tmp_path / "sms-outbox.jsonl"
    settings = NotifySettings(
        kafka_bootstrap=KAFKA,
        mongo_url=MONGO,
        db_name=f"test_notify_ops_{unique}",
        consumer_group_prefix=f"test.opsnotify.{unique}",
        consumer_offset_reset="latest",
        sms_provider="file",
        sms_file_path=outbox,
        sms_inbox_path=tmp_path / "sms-inbox.jsonl",
        sms_quiet_hours=False,
        sms_poll_seconds=0.2,
        sms_reconcile_seconds=0.5,
        graceful_timeout_seconds=3,
    )
    group = settings.group("notify")
    serial = int(unique, 16) % 10**6
    old_phones = {f"+98935{n}{serial:06d}" for n in range(3)}
    new_phones = {f"+98936{n}{serial:06d}" for n in range(4)}

    def publishable(events: list[Envelope]) -> list[Outgoing]:
        return [
            Outgoing(topic, e.key, e.to_json(), [("content-type", b"application/cloudevents+json")])
            for e in events
        ]

    # Cases from three days ago that this notify never saw: a replay must not wake them up.
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    for n, phone in enumerate(sorted(old_phones)):
        await log.send(publishable(case_events(f"case-old-{n}-{unique}", phone, three_days_ago)))

    try:
        async with running_notify(settings, topic):
            for n, phone in enumerate(sorted(new_phones)):
                await log.send(publishable(case_events(f"case-new-{n}-{unique}", phone, datetime.now(UTC))))
            await wait_for(lambda: len(outbox_lines(outbox)) >= 2 * len(new_phones), timeout=60)
            await caught_up(log, group, topic)
            await settled(outbox)
            before = outbox_lines(outbox)
            # Registered and routed: two SMS per new case, none for the old ones.
            assert sorted(x["to"] for x in before) == sorted([*new_phones, *new_phones])

            # In a thread: notify's consumer shares this event loop, and a loop blocked for the CLI's
            # run (over ten seconds on a loaded machine) would miss its heartbeats and leave the group.
            refused = await asyncio.to_thread(
                samad, "offsets", "reset", "--group", group, "--to-datetime", "earliest", "--execute"
            )
            assert refused.returncode == 3, refused.stdout + refused.stderr

        rewound = samad("offsets", "reset", "--group", group, "--to-datetime", "earliest", "--execute")
        assert rewound.returncode == 0, rewound.stdout + rewound.stderr
        assert set((await log.committed(group)).values()) == {0}

        async with running_notify(settings, topic):
            await caught_up(log, group, topic)  # notify has consumed the whole topic again
            await settled(outbox)
        assert outbox_lines(outbox) == before  # not one SMS more: nothing twice, nothing stale
    finally:
        await mongo.drop_database(settings.db_name)
