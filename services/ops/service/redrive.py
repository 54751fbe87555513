"""``samad replay redrive-deadletter``: publish each dead letter back to its original topic with its
original key, once.

Each dead-letter record is claimed in the ledger (``samad_ops.redriven``, keyed by the record's
dead-letter topic, partition and offset) with an atomic insert before it is published, so two operators
running a re-drive at the same time, or one running it twice, never publish the same dead letter twice.
A message that fails again after a re-drive comes back to the dead-letter topic carrying REDRIVEN_FROM;
it is left there (shown as "failed again after a re-drive") unless the operator passes ``--force``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Protocol

from contracts.topics import DEADLETTER
from services.common.clock import Clock
from services.ops.adapters.log import LogReader, LogWriter
from services.ops.adapters.store import RedriveLedger
from services.ops.domain.deadletter import (
    Decision,
    Outcome,
    RedriveFilter,
    decide,
    parse_dead_letter,
    redrive_headers,
    tally,
)
from services.ops.domain.records import Outgoing, RawRecord
from services.ops.domain.timespec import to_millis
from services.ops.service.audit import Auditor
from services.ops.service.positions import Positions


class Log(LogReader, LogWriter, Protocol):
    """What a re-drive needs of the log: read the dead letters, publish the originals."""


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


async def redrive(
    log: Log,
    store: RedriveLedger,
    wanted: RedriveFilter,
    *,
    run_id: str,
    actor: str,
    dry_run: bool,
    clock: Clock,
    deadletter_topic: str = DEADLETTER,
) -> list[Outcome]:
    bounds = await log.bounds(deadletter_topic)
    if wanted.since is not None:
        by_time = await log.offsets_for_time(deadletter_topic, to_millis(wanted.since))
        starts = {p: _or(by_time.get(p), end) for p, (_f, end) in bounds.items()}
    else:
        starts = {p: first for p, (first, _end) in bounds.items()}
    ranges = {(deadletter_topic, p): (starts[p], end) for p, (_f, end) in bounds.items()}
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
                "claimed_at": clock.now(),
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
            [published] = await log.send(
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
        await store.redrive_done(
            letter.position,
            {"status": "redriven", "published_to": published.where, "redriven_at": clock.now()},
        )
        outcomes.append(Outcome(record, letter, Decision.redrive, published.where))
    return outcomes


@dataclass(frozen=True)
class RedriveReport:
    run_id: str
    outcomes: list[Outcome]
    counts: dict[str, int]


class Redrive:
    def __init__(
        self, log: Log, ledger: RedriveLedger, auditor: Auditor, positions: Positions, clock: Clock
    ) -> None:
        self.log = log
        self.ledger = ledger
        self.auditor = auditor
        self.positions = positions
        self.clock = clock

    async def run(
        self,
        *,
        event_type: str | None = None,
        since: str | None = None,
        original_topic: str | None = None,
        service: str | None = None,
        dry_run: bool = False,
        force: bool = False,
    ) -> RedriveReport:
        args = {
            "type": event_type,
            "since": since,
            "topic": original_topic,
            "service": service,
            "dry_run": dry_run,
            "force": force,
        }
        async with self.auditor.action("replay redrive-deadletter", args, changes=not dry_run) as action:
            wanted = RedriveFilter(
                event_type=event_type,
                since=self.positions.time(since) if since else None,
                original_topic=original_topic,
                service=service,
                force=force,
            )
            run_id = f"redrive-{uuid.uuid4().hex[:12]}"
            outcomes = await redrive(
                self.log,
                self.ledger,
                wanted,
                run_id=run_id,
                actor=self.auditor.actor,
                dry_run=dry_run,
                clock=self.clock,
            )
            counts = tally(outcomes, dry_run=dry_run)
            action.outcome = "dry-run" if dry_run else "ok"
            action.detail.update({"run_id": run_id, "counts": counts})
            return RedriveReport(run_id, outcomes, counts)
