"""Dead letters and the rules for re-driving them to where they came from.

``services.common.kafka`` dead-letters a message with its original key, value and headers plus
``samad-dlq-*`` headers saying where it came from and why it failed. A re-drive publishes the original
back to its topic with REDRIVEN_FROM naming the dead-letter record it came from. When that message
fails again, the consumer dead-letters it with its headers, REDRIVEN_FROM included: that marker is how a
second failure is told apart from a first one, so a message that keeps failing is re-driven once and then
stays in the dead-letter topic until an operator forces it again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.headers import DLQ_PREFIX, REDRIVE_COUNT, REDRIVE_RUN, REDRIVEN_FROM
from services.ops.domain.records import RawRecord


@dataclass(frozen=True)
class DeadLetter:
    record: RawRecord  # the record in the dead-letter topic
    original_topic: str
    original_partition: int | None
    original_offset: int | None
    reason: str
    error: str
    service: str
    group: str
    failed_at: str
    original_headers: tuple[tuple[str, bytes], ...]

    @property
    def position(self) -> str:
        """The dead-letter record's own address: the re-drive ledger's key."""
        return f"{self.record.topic}:{self.record.partition}:{self.record.offset}"

    @property
    def event_type(self) -> str | None:
        obj = self.record.json_value()
        value = obj.get("type") if obj else None
        return value if isinstance(value, str) else None

    @property
    def event_id(self) -> str | None:
        obj = self.record.json_value()
        value = obj.get("id") if obj else None
        return value if isinstance(value, str) else None

    @property
    def redriven_before(self) -> str | None:
        """Set when this message had already been re-driven once and failed again."""
        for k, v in self.original_headers:
            if k == REDRIVEN_FROM:
                return v.decode(errors="replace")
        return None

    @property
    def redrive_count(self) -> int:
        for k, v in self.original_headers:
            if k == REDRIVE_COUNT and v.isdigit():
                return int(v)
        return 1 if self.redriven_before else 0


def parse_dead_letter(record: RawRecord) -> DeadLetter | None:
    """None when the record lacks the headers every dead letter carries (then it is not re-drivable)."""
    original_topic = record.header(f"{DLQ_PREFIX}original-topic")
    if not original_topic:
        return None

    def as_int(name: str) -> int | None:
        value = record.header(f"{DLQ_PREFIX}{name}")
        return int(value) if value is not None and value.lstrip("-").isdigit() else None

    return DeadLetter(
        record=record,
        original_topic=original_topic,
        original_partition=as_int("original-partition"),
        original_offset=as_int("original-offset"),
        reason=record.header(f"{DLQ_PREFIX}reason") or "",
        error=record.header(f"{DLQ_PREFIX}error") or "",
        service=record.header(f"{DLQ_PREFIX}service") or "",
        group=record.header(f"{DLQ_PREFIX}group") or "",
        failed_at=record.header(f"{DLQ_PREFIX}failed-at") or "",
        original_headers=tuple((k, v) for k, v in record.headers if not k.startswith(DLQ_PREFIX)),
    )


def type_matches(wanted: str, actual: str | None) -> bool:
    """``case.routed`` and ``ir.samad.case.routed`` both name ``ir.samad.case.routed``."""
    if actual is None:
        return False
    return actual == wanted or actual == f"ir.samad.{wanted}" or actual.endswith(f".{wanted}")


class Decision(StrEnum):
    redrive = "redrive"
    already_redriven = "already re-driven"
    failed_after_redrive = "failed again after a re-drive"
    filtered = "filtered out"
    not_a_dead_letter = "not a dead letter"


@dataclass(frozen=True)
class RedriveFilter:
    event_type: str | None = None
    since: datetime | None = None
    original_topic: str | None = None
    service: str | None = None
    force: bool = False


def decide(letter: DeadLetter, wanted: RedriveFilter, already: bool) -> Decision:
    """Whether to re-drive one dead letter. ``already``: the ledger says this record was re-driven."""
    if wanted.event_type and not type_matches(wanted.event_type, letter.event_type):
        return Decision.filtered
    if wanted.original_topic and letter.original_topic != wanted.original_topic:
        return Decision.filtered
    if wanted.service and letter.service != wanted.service:
        return Decision.filtered
    if wanted.since is not None and letter.record.timestamp < wanted.since.timestamp() * 1000:
        return Decision.filtered
    if already:
        return Decision.already_redriven  # the same dead letter is never published twice, even forced
    if letter.redriven_before and not wanted.force:
        return Decision.failed_after_redrive
    return Decision.redrive


def redrive_headers(letter: DeadLetter, run_id: str) -> list[tuple[str, bytes]]:
    """The original headers, with the marker naming this dead letter and the run that re-drove it."""
    keep = [
        (k, v) for k, v in letter.original_headers if k not in (REDRIVEN_FROM, REDRIVE_RUN, REDRIVE_COUNT)
    ]
    return keep + [
        (REDRIVEN_FROM, letter.position.encode()),
        (REDRIVE_RUN, run_id.encode()),
        (REDRIVE_COUNT, str(letter.redrive_count + 1).encode()),
    ]


@dataclass(frozen=True)
class Outcome:
    """What a re-drive did with one record of the dead-letter topic."""

    record: RawRecord
    letter: DeadLetter | None
    decision: Decision
    published_to: str | None = None  # "topic:partition:offset" of the re-driven copy


def shown(outcome: Outcome) -> bool:
    """Whether the operator sees this outcome as a row (filtered ones and non-dead-letters are counted)."""
    return outcome.letter is not None and outcome.decision not in (
        Decision.filtered,
        Decision.not_a_dead_letter,
    )


def action_label(outcome: Outcome, *, dry_run: bool) -> str:
    if outcome.decision is Decision.redrive:
        return "would re-drive" if dry_run else f"re-driven -> {outcome.published_to}"
    return f"skipped: {outcome.decision.value}"


def tally(outcomes: Iterable[Outcome], *, dry_run: bool) -> dict[str, int]:
    """How many of each: "would re-drive"/"re-driven", "skipped: <why>", "filtered out", ..."""
    counts: dict[str, int] = {}
    for o in outcomes:
        name = action_label(o, dry_run=dry_run).split(" ->")[0] if shown(o) else o.decision.value
        counts[name] = counts.get(name, 0) + 1
    return counts
