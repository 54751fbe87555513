"""Re-driving dead letters: publish each one back to its original topic with its original key, once.

Each dead-letter record is claimed in the ledger (``samad_ops.redriven``, keyed by the record's
dead-letter topic, partition and offset) with an atomic insert before it is published, so two operators
running a re-drive at the same time, or one running it twice, never publish the same dead letter twice.
A message that fails again after a re-drive comes back to the dead-letter topic carrying REDRIVEN_FROM;
it is left there (shown as "failed again after a re-drive") unless the operator passes ``--force``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import TopicPartition

from contracts.topics import DEADLETTER
from services.ops.adapters.kafka import KafkaLog, Outgoing
from services.ops.adapters.store import OpsStore
from services.ops.domain.deadletter import (
    DeadLetter,
    Decision,
    RedriveFilter,
    decide,
    parse_dead_letter,
    redrive_headers,
)
from services.ops.domain.records import RawRecord
from services.ops.domain.timespec import to_millis


@dataclass(frozen=True)
class Outcome:
    record: RawRecord
    letter: DeadLetter | None
    decision: Decision
    published_to: str | None = None  # "topic:partition:offset" of the re-driven copy


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


async def redrive(
    log: KafkaLog,
    store: OpsStore,
    wanted: RedriveFilter,
    *,
    run_id: str,
    actor: str,
    dry_run: bool,
    deadletter_topic: str = DEADLETTER,
) -> list[Outcome]:
    bounds = await log.bounds(deadletter_topic)
    if wanted.since is not None:
        by_time = await log.offsets_for_time(deadletter_topic, to_millis(wanted.since))
        starts = {p: _or(by_time.get(p), end) for p, (_f, end) in bounds.items()}
    else:
        starts = {p: first for p, (first, _end) in bounds.items()}
    ranges = {TopicPartition(deadletter_topic, p): (starts[p], end) for p, (_f, end) in bounds.items()}
    records: list[RawRecord] = []
    async for batch in log.read(ranges):
        records.extend(batch)
    records.sort(key=lambda r: (r.timestamp, r.partition, r.offset))

    letters = [(r, parse_dead_letter(r)) for r in records]
    done = await store.redriven([letter.position for _r, letter in letters if letter is not None])
    outcomes: list[Outcome] = []
    for record, letter in letters:
        if letter is None:
            outcomes.append(Outcome(record, None, Decision.not_a_dead_letter))
            continue
        decision = decide(letter, wanted, letter.position in done)
        if decision is not Decision.redrive or dry_run:
            outcomes.append(Outcome(record, letter, decision))
            continue
        claimed = await store.redrive_claim(
            letter.position,
            {
                "status": "claimed",
                "run_id": run_id,
                "actor": actor,
                "claimed_at": datetime.now(UTC),
                "event_id": letter.event_id,
                "event_type": letter.event_type,
                "original_topic": letter.original_topic,
                "original_partition": letter.original_partition,
                "original_offset": letter.original_offset,
                "reason": letter.reason,
                "service": letter.service,
                "forced": bool(letter.redriven_before),
            },
        )
        if not claimed:  # another re-drive got there first
            outcomes.append(Outcome(record, letter, Decision.already_redriven))
            continue
        try:
            [meta] = await log.send(
                [
                    Outgoing(
                        topic=letter.original_topic,
                        key=record.key,
                        value=record.value,
                        headers=redrive_headers(letter, run_id),
                        # With a key the partitioner picks the original partition again (same count);
                        # a keyless message goes back to the partition it failed on.
                        partition=letter.original_partition if record.key is None else None,
                    )
                ]
            )
        except BaseException:
            await store.redrive_release(letter.position)
            raise
        where = f"{meta.topic}:{meta.partition}:{meta.offset}"
        await store.redrive_done(
            letter.position, {"status": "redriven", "published_to": where, "redriven_at": datetime.now(UTC)}
        )
        outcomes.append(Outcome(record, letter, Decision.redrive, where))
    return outcomes
