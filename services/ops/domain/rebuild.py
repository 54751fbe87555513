"""The rebuild's values and naming rules: progress, options, result, the run document's offsets, the
names of the shadow, its backup and the lock, and what the audit keeps of a finished run."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.ops.domain.compare import Comparison
from services.ops.domain.shadow import Partition
from services.ops.domain.timespec import Position

Doc = dict[str, Any]


@dataclass
class Progress:
    total: int
    done: int = 0
    applied: int = 0
    ignored: int = 0
    undecodable: int = 0
    documents_written: int = 0


@dataclass
class RebuildOptions:
    start: Position
    resume: str | None = None
    swap: bool = False
    sample: int = 200
    compare: bool = True
    batch_size: int = 5000
    # Documents are folded in memory and written at checkpoints: every this many events, and at the end.
    checkpoint_events: int = 25_000
    cache_size: int = 500_000
    lock_ttl: float = 60.0
    live_group: str = "samad.tracking"


@dataclass
class RebuildResult:
    run_id: str
    shadow: str
    progress: Progress
    seconds: float
    comparison: Comparison | None = None
    swapped: bool = False
    replaced_backup: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.progress.done / self.seconds if self.seconds > 0 else 0.0


def replay_group(run_id: str) -> str:
    """The run's own consumer group: its committed offsets are the resume point."""
    return f"samad.replay.{run_id}"


def shadow_name(collection: str, run_id: str) -> str:
    return f"{collection}__rebuild_{run_id.replace('-', '_')}"


def backup_name(collection: str, run_id: str) -> str:
    """Where a swap keeps the replaced live collection when the server cannot replace it in one step."""
    return f"{collection}__replaced_{run_id.replace('-', '_')}"


def lock_name(projection: str, database: str, collection: str) -> str:
    return f"rebuild:{projection}:{database}.{collection}"


def lock_refusal(projection: str, owner: Mapping[str, Any], expires_at: datetime) -> str:
    return (
        f"a rebuild of {projection} is already running: run {owner.get('run_id')} by "
        f"{owner.get('actor')} on {owner.get('host')} (pid {owner.get('pid')}); its lock expires at "
        f"{expires_at.isoformat()} unless renewed"
    )


def offsets_out(offsets: Mapping[Partition, int]) -> list[Doc]:
    """Offsets as the run document stores them."""
    return [{"topic": t, "partition": p, "offset": off} for (t, p), off in sorted(offsets.items())]


def offsets_in(items: Sequence[Mapping[str, Any]]) -> dict[Partition, int]:
    return {(str(i["topic"]), int(i["partition"])): int(i["offset"]) for i in items}


def ranges(
    starts: Mapping[Partition, int], ends: Mapping[Partition, int]
) -> dict[Partition, tuple[int, int]]:
    """[start, end) per partition of ``ends``; a partition with no start is read from its end (nothing)."""
    return {tp: (starts.get(tp, end), end) for tp, end in ends.items()}


def remaining(starts: Mapping[Partition, int], ends: Mapping[Partition, int]) -> int:
    return sum(max(0, ends[tp] - off) for tp, off in starts.items())


def audit_detail(result: RebuildResult) -> dict[str, Any]:
    """What the audit trail keeps of a finished rebuild."""
    p = result.progress
    detail: dict[str, Any] = {
        "run_id": result.run_id,
        "shadow": result.shadow,
        "events": p.done,
        "applied": p.applied,
        "undecodable": p.undecodable,
        "events_per_s": round(result.rate),
        "swapped": result.swapped,
    }
    if result.comparison is not None:
        c = result.comparison
        detail["comparison"] = {
            "live": c.live_count,
            "shadow": c.shadow_count,
            "only_live": len(c.only_live),
            "only_shadow": len(c.only_shadow),
            "compared": c.compared,
            "differing": len(c.differing),
        }
    return detail
