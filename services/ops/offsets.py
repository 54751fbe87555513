"""Consumer group offsets: show lag, and reset to a point in time only when the group is stopped."""

from __future__ import annotations

from dataclasses import dataclass, field

from services.ops.adapters.kafka import KafkaLog
from services.ops.domain.offsets import GroupState, Lag, OffsetMove, lags, moves, reset_refusal, topics_of
from services.ops.domain.timespec import Position, SpecError


@dataclass(frozen=True)
class GroupReport:
    state: GroupState
    lags: list[Lag]


async def show(log: KafkaLog, group: str, topics: list[str]) -> GroupReport:
    state = await log.describe_group(group)
    committed = await log.committed(group)
    names = topics_of(committed, topics)
    ends = await log.ends(names) if names else {}
    return GroupReport(state, lags(committed, ends))


@dataclass
class ResetResult:
    state: GroupState
    moves: list[OffsetMove] = field(default_factory=list)
    refused: str | None = None
    executed: bool = False


async def reset(
    log: KafkaLog, group: str, target: Position, topics: list[str], *, execute: bool
) -> ResetResult:
    state = await log.describe_group(group)
    committed = await log.committed(group)
    names = topics_of(committed, topics)
    if not names:
        raise SpecError(f"group {group} has no committed offsets: name the topic(s) with --topic")
    targets: dict[tuple[str, int], int] = {}
    for topic in names:
        bounds = await log.bounds(topic)
        for partition, offset in (await log.resolve(topic, target, bounds, is_start=True)).items():
            targets[(topic, partition)] = offset
    result = ResetResult(state, moves(committed, targets))
    result.refused = reset_refusal(state)
    if result.refused or not execute:
        return result
    # Look again right before writing: a consumer may have joined while the plan was printed.
    state = await log.describe_group(group)
    result.state = state
    result.refused = reset_refusal(state)
    if result.refused:
        return result
    await log.commit(group, targets)
    result.executed = True
    return result
