"""``samad replay plan|publish``: what a replay would read, and publishing copies of a range of a topic,
each marked with the replay run.

Every consumer is idempotent by event id, so a replayed copy changes nothing that was already applied
(tracking), sends no SMS already sent and nothing stale (notify's ledger and staleness rule). The
REPLAY_RUN header names the run, so consumers can tell replayed messages apart in logs and metrics.
To replay into one consumer only, stop it and move its group back with ``samad offsets reset`` instead.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from contracts.headers import REPLAY_ORIGINAL, REPLAY_RUN, TRACEPARENT
from services.common import tracing
from services.ops.adapters.log import LogReader, LogWriter
from services.ops.domain.plan import Plan
from services.ops.domain.records import Outgoing, RawRecord
from services.ops.domain.render import matches
from services.ops.domain.timespec import Position
from services.ops.service.audit import Auditor
from services.ops.service.positions import Positions, plan


class Log(LogReader, LogWriter, Protocol):
    """What a replay needs of the log: read the range, publish the copies."""


@dataclass(frozen=True)
class ReplayStats:
    read: int
    published: int


@dataclass(frozen=True)
class ReplayPlan:
    plan: Plan
    start: Position
    stop: Position


@dataclass(frozen=True)
class ReplayRun:
    run_id: str
    plan: Plan
    target: str
    stats: ReplayStats | None  # None: not executed (the plan only)


def replay_headers(record: RawRecord, run_id: str) -> list[tuple[str, bytes]]:
    """The copy's headers: the original's, marked with the run and where the copy comes from, and the
    run's trace context when tracing is on (the value keeps the original's, untouched)."""
    keep = [(k, v) for k, v in record.headers if k not in (REPLAY_RUN, REPLAY_ORIGINAL, TRACEPARENT)]
    where = f"{record.topic}:{record.partition}:{record.offset}"
    run = tracing.traceparent_header()
    return keep + [(REPLAY_RUN, run_id.encode()), (REPLAY_ORIGINAL, where.encode()), *([run] if run else [])]


async def publish(
    log: Log,
    plan: Plan,
    *,
    run_id: str,
    into: str | None = None,
    event_type: str | None = None,
    case: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReplayStats:
    target = into or plan.topic
    same_layout = len(await log.partitions(target)) == len(plan.ranges)
    ranges = {(plan.topic, r.partition): (r.start, r.stop) for r in plan.ranges}
    read = published = 0
    async for batch in log.read(ranges):
        read += len(batch)
        chosen = [r for r in batch if matches(r, case=case, event_type=event_type)]
        await log.send(
            Outgoing(
                topic=target,
                key=r.key,
                value=r.value,
                headers=replay_headers(r, run_id),
                partition=r.partition if same_layout else None,
            )
            for r in chosen
        )
        published += len(chosen)
        if progress:
            progress(len(batch))
    return ReplayStats(read, published)


class Replay:
    def __init__(self, log: Log, auditor: Auditor, positions: Positions) -> None:
        self.log = log
        self.auditor = auditor
        self.positions = positions

    async def plan(self, topic: str, start: str, stop: str = "latest") -> ReplayPlan:
        """Dry run: per partition, the offsets a replay would read (times resolved) and how many."""
        args = {"topic": topic, "from": start, "to": stop}
        async with self.auditor.action("replay plan", args, changes=False) as action:
            first, last = self.positions.position(start), self.positions.position(stop)
            p = await plan(self.log, topic, first, last)
            action.outcome = "dry-run"
            action.detail.update({"total": p.total, "starts": p.starts(), "stops": p.stops()})
            return ReplayPlan(p, first, last)

    async def publish(
        self,
        topic: str,
        start: str,
        stop: str = "latest",
        *,
        into: str | None = None,
        event_type: str | None = None,
        case: str | None = None,
        execute: bool = False,
    ) -> ReplayRun:
        """Publish copies of the range (with ``execute``; otherwise say what would be published)."""
        args = {
            "topic": topic,
            "from": start,
            "to": stop,
            "into": into,
            "type": event_type,
            "case": case,
            "execute": execute,
        }
        async with self.auditor.action("replay publish", args, changes=execute) as action:
            p = await plan(self.log, topic, self.positions.position(start), self.positions.position(stop))
            run_id = f"replay-{uuid.uuid4().hex[:12]}"
            action.detail.update({"run_id": run_id, "planned": p.total})
            if not execute:
                action.outcome = "dry-run"
                return ReplayRun(run_id, p, into or topic, None)
            with tracing.span(
                "ops replay publish",
                attributes={tracing.REPLAY_RUN: run_id, "messaging.destination.name": into or topic},
            ):
                stats = await publish(self.log, p, run_id=run_id, into=into, event_type=event_type, case=case)
            action.detail.update({"read": stats.read, "published": stats.published})
            return ReplayRun(run_id, p, into or topic, stats)
