"""A dead-lettered message is re-driven once; when it fails again it stays dead-lettered, not in a loop."""

from __future__ import annotations

from collections.abc import Sequence

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from contracts.headers import REDRIVEN_FROM as REDRIVE_HEADER
from contracts.topics import DEADLETTER
from services.common.clock import SystemClock
from services.common.kafka import (
    EventPublisher,
    Incoming,
    consumers_positioned,
    make_broker,
    subscribe_events,
)
from services.common.settings import ServiceSettings
from services.ops.domain.deadletter import Decision, RedriveFilter
from services.ops.domain.records import Outgoing
from services.ops.service.redrive import redrive
from tests.support.kafka import TopicReader, wait_for
from tests.support.stack import KAFKA

CLOCK = SystemClock()


async def test_a_dead_lettered_message_is_redriven_once(log, store, make_topic, unique: str) -> None:
    topic = await make_topic("orig", 3)
    settings = ServiceSettings(kafka_bootstrap=KAFKA, consumer_offset_reset="latest", consumer_max_attempts=1)
    broker = make_broker(settings, "redrivetest")
    publisher = EventPublisher(broker, "redrivetest")
    broken = True
    handled: list[Incoming] = []

    async def handler(batch: Sequence[Incoming]) -> None:
        for item in batch:
            if broken:
                raise RuntimeError("projection bug")
            handled.append(item)

    subscribe_events(
        broker, publisher, settings, topics=[topic], group=f"test.redrive.{unique}", handler=handler
    )
    dlq = await TopicReader.from_now(DEADLETTER)
    key = f"case-{unique}".encode()
    event = make_event(
        CaseNoteAdded(case_id=f"case-{unique}", text="پیگیری", actor=Actor(kind=ActorKind.ops, id="o")),
        source="/samad/test",
    )

    def mine(records: list) -> list:
        # TopicReader.collect reads from its start each time: keep one copy of each record.
        unique_records = {(r.partition, r.offset): r for r in records if r.key == key}
        return [unique_records[k] for k in sorted(unique_records)]

    wanted = RedriveFilter(original_topic=topic)
    await broker.start()
    try:
        await wait_for(lambda: consumers_positioned(broker), timeout=30)
        await log.send(
            [Outgoing(topic, key, event.to_json(), [("content-type", b"application/cloudevents+json")])]
        )
        await dlq.collect(lambda recs: len(mine(recs)) >= 1, timeout=30)

        # First re-drive: the bug is still there, so the message fails again and is dead-lettered again,
        # carrying the re-drive marker.
        first = [
            o
            for o in await redrive(log, store, wanted, run_id="r1", actor="t", dry_run=False, clock=CLOCK)
            if o.letter
        ]
        assert [o.decision for o in first if o.decision is not Decision.filtered] == [Decision.redrive]
        await dlq.collect(lambda recs: len(mine(recs)) >= 2, timeout=30)
        second_death = mine(dlq.records)[1]
        assert dict(second_death.headers)[REDRIVE_HEADER].startswith(f"{DEADLETTER}:".encode())

        # Second re-drive: the first dead letter is in the ledger, the second failed after a re-drive:
        # nothing is published, so there is no loop.
        second = await redrive(log, store, wanted, run_id="r2", actor="t", dry_run=False, clock=CLOCK)
        decisions = sorted(
            o.decision.value for o in second if o.decision is not Decision.filtered and o.letter
        )
        assert decisions == sorted([Decision.already_redriven.value, Decision.failed_after_redrive.value])

        # The bug is fixed; the operator forces the message that failed after its re-drive.
        broken = False
        forced = await redrive(
            log,
            store,
            RedriveFilter(original_topic=topic, force=True),
            run_id="r3",
            actor="t",
            dry_run=False,
            clock=CLOCK,
        )
        assert [o.decision for o in forced if o.decision is Decision.redrive]
        await wait_for(lambda: len(handled) >= 1, timeout=30)
        assert handled[0].event.id == event.id
        assert handled[0].headers["samad-redrive-count"] == "2"

        # And nothing more: every dead letter of this message has been re-driven once.
        last = await redrive(
            log,
            store,
            RedriveFilter(original_topic=topic, force=True),
            run_id="r4",
            actor="t",
            dry_run=False,
            clock=CLOCK,
        )
        assert not [o for o in last if o.decision is Decision.redrive]
        assert len(mine(dlq.records)) == 2
        assert len(handled) == 1
        ledger = await store.redriven([f"{DEADLETTER}:{r.partition}:{r.offset}" for r in mine(dlq.records)])
        assert len(ledger) == 2
    finally:
        await broker.stop()


async def test_dry_run_publishes_nothing_and_claims_nothing(log, store, make_topic, unique: str) -> None:
    topic = await make_topic("dry", 1)
    headers = [
        ("samad-dlq-original-topic", topic.encode()),
        ("samad-dlq-original-partition", b"0"),
        ("samad-dlq-original-offset", b"0"),
        ("samad-dlq-reason", b"handler_failed"),
        ("samad-dlq-service", b"tracking"),
    ]
    await log.send(
        [
            Outgoing(
                DEADLETTER, f"case-{unique}".encode(), b'{"id":"x","type":"ir.samad.case.routed"}', headers
            )
        ]
    )
    outcomes = await redrive(
        log, store, RedriveFilter(original_topic=topic), run_id="d", actor="t", dry_run=True, clock=CLOCK
    )
    assert [o.decision for o in outcomes if o.decision is not Decision.filtered and o.letter] == [
        Decision.redrive
    ]
    assert (await log.bounds(topic))[0] == (0, 0)
    assert await store.redriven([o.letter.position for o in outcomes if o.letter]) == set()
