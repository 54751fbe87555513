"""Re-driving dead letters end to end on the in-memory log and ledger: each dead letter published back
once, with its key and headers; a second failure stays put unless forced; dry runs change nothing."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta

import pytest

from contracts.headers import REDRIVE_COUNT, REDRIVE_RUN, REDRIVEN_FROM
from contracts.topics import DEADLETTER
from services.common.clock import FixedClock
from services.ops.adapters.log import InMemoryLog
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer
from services.ops.domain.deadletter import Decision
from services.ops.domain.records import Outgoing, Published, RawRecord
from tests.unit.ops.conftest import BASE_TS, NOTES, note

CASES = "samad.cases.v1"


def dead_letter(
    original: Outgoing,
    *,
    topic: str = CASES,
    partition: int = 1,
    offset: int = 40,
    service: str = "tracking",
    timestamp: int = BASE_TS,
) -> Outgoing:
    """How services.common.kafka dead-letters a message: the original plus samad-dlq-* headers."""
    headers = [
        *original.headers,
        ("samad-dlq-original-topic", topic.encode()),
        ("samad-dlq-original-partition", str(partition).encode()),
        ("samad-dlq-original-offset", str(offset).encode()),
        ("samad-dlq-reason", b"handler_failed"),
        ("samad-dlq-error", b"RuntimeError: projection bug"),
        ("samad-dlq-service", service.encode()),
        ("samad-dlq-group", f"samad.{service}".encode()),
        ("samad-dlq-failed-at", b"2025-01-01T03:33:20+00:00"),
    ]
    return Outgoing(DEADLETTER, original.key, original.value, headers, timestamp, 0)


def died_again(copy: RawRecord) -> Outgoing:
    """The re-driven copy failing again: dead-lettered with its headers, re-drive marker included."""
    again = Outgoing(CASES, copy.key, copy.value, copy.headers)
    return dead_letter(again, partition=copy.partition, offset=copy.offset, timestamp=BASE_TS + 60_000)


def decisions(outcomes: Iterable[object]) -> list[Decision]:
    return [o.decision for o in outcomes if o.letter is not None]  # type: ignore[attr-defined]


async def test_a_dead_letter_is_redriven_once_and_a_second_failure_waits_for_force(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore, clock: FixedClock
) -> None:
    original = note(CASES, "case-9", 1)
    await log.send([dead_letter(original)])

    first = await ops.redrive.run()
    assert decisions(first.outcomes) == [Decision.redrive]
    [copy] = log.records(CASES)
    assert (copy.key, copy.value) == (original.key, original.value)
    headers = dict(copy.headers)
    assert headers[REDRIVEN_FROM] == f"{DEADLETTER}:0:0".encode()
    assert headers[REDRIVE_RUN] == first.run_id.encode() and headers[REDRIVE_COUNT] == b"1"
    assert not any(k.startswith("samad-dlq-") for k in headers)
    assert store.ledger[f"{DEADLETTER}:0:0"]["status"] == "redriven"
    assert store.ledger[f"{DEADLETTER}:0:0"]["published_to"] == f"{CASES}:{copy.partition}:0"
    assert first.counts == {"re-driven": 1}

    await log.send([died_again(copy)])
    clock.advance(timedelta(minutes=1))
    second = await ops.redrive.run()
    assert decisions(second.outcomes) == [Decision.already_redriven, Decision.failed_after_redrive]
    assert len(log.records(CASES)) == 1  # nothing published: no loop

    clock.advance(timedelta(minutes=1))
    forced = await ops.redrive.run(force=True)
    assert decisions(forced.outcomes) == [Decision.already_redriven, Decision.redrive]
    again = log.records(CASES)[-1]
    assert dict(again.headers)[REDRIVE_COUNT] == b"2"
    assert store.ledger[f"{DEADLETTER}:0:1"]["forced"] is True

    clock.advance(timedelta(minutes=1))
    last = await ops.redrive.run(force=True)
    assert Decision.redrive not in decisions(last.outcomes)
    audit = await store.audit_list(command="replay redrive-deadletter")
    assert [e["detail"]["counts"] for e in audit] == [
        {"skipped: already re-driven": 2},
        {"skipped: already re-driven": 1, "re-driven": 1},
        {"skipped: already re-driven": 1, "skipped: failed again after a re-drive": 1},
        {"re-driven": 1},
    ]


async def test_a_dry_run_publishes_nothing_and_claims_nothing(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore
) -> None:
    await log.send(
        [dead_letter(note(CASES, "case-1", 1)), Outgoing(DEADLETTER, b"k", b"poison", [], None, 1)]
    )
    report = await ops.redrive.run(dry_run=True)
    assert decisions(report.outcomes) == [Decision.redrive]
    assert report.counts == {"would re-drive": 1, "not a dead letter": 1}
    assert log.records(CASES) == [] and store.ledger == {}
    [entry] = await store.audit_list()
    assert (entry["outcome"], entry["changes"]) == ("dry-run", False)


async def test_filters_choose_what_is_redriven(ops: OpsContainer, log: InMemoryLog) -> None:
    await log.send(
        [
            dead_letter(note(CASES, "case-1", 1), service="tracking", timestamp=BASE_TS),
            dead_letter(note(CASES, "case-2", 1), service="notify", timestamp=BASE_TS + 3_600_000),
            dead_letter(note(NOTES, "case-3", 1), topic=NOTES, timestamp=BASE_TS + 7_200_000),
        ]
    )
    by_service = await ops.redrive.run(service="notify", dry_run=True)
    assert [o.record.key for o in by_service.outcomes if o.decision is Decision.redrive] == [b"case-2"]
    by_topic = await ops.redrive.run(original_topic=NOTES, dry_run=True)
    assert [o.record.key for o in by_topic.outcomes if o.decision is Decision.redrive] == [b"case-3"]
    # An hour after the first: the read starts there, so the first is not even read.
    since = await ops.redrive.run(since=str(BASE_TS + 3_600_000), dry_run=True)
    assert [o.record.key for o in since.outcomes if o.decision is Decision.redrive] == [b"case-2", b"case-3"]
    assert len(since.outcomes) == 2
    by_type = await ops.redrive.run(event_type="case.routed", dry_run=True)
    assert by_type.counts == {"filtered out": 3}


class BrokenLog(InMemoryLog):
    async def send(self, messages: Iterable[Outgoing]) -> list[Published]:
        list(messages)
        raise ConnectionError("broker down")


async def test_a_failed_publish_gives_the_claim_back(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore
) -> None:
    await log.send([dead_letter(note(CASES, "case-1", 1))])
    ops.redrive.log = BrokenLog(clock=log.clock, topics=log.topics)
    with pytest.raises(ConnectionError):
        await ops.redrive.run()
    assert store.ledger == {}  # a later re-drive may publish it
    [entry] = await store.audit_list()
    assert entry["outcome"] == "failed" and "broker down" in entry["detail"]["error"]
