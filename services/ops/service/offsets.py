"""``samad offsets show|reset``: a consumer group's lag, and moving a stopped group to a point in time.

A reset refuses while the group has active members: it would be overwritten (or ignored) on the group's
next commit, and rewinding a live consumer by accident is what this guards against.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from services.ops.adapters.log import GroupAdmin, LogReader
from services.ops.domain.offsets import GroupState, Lag, OffsetMove, lags, moves, reset_refusal, topics_of
from services.ops.domain.timespec import Position, SpecError
from services.ops.service.audit import Auditor
from services.ops.service.positions import Positions, resolve


class Log(LogReader, GroupAdmin, Protocol):
    """What offsets need of the log: the group's state and positions, the topics' offsets."""


@dataclass(frozen=True)
class GroupReport:
    state: GroupState
    lags: list[Lag]

    @property
    def total(self) -> int:
        return sum(lag.lag or 0 for lag in self.lags)


async def show(log: Log, group: str, topics: list[str]) -> GroupReport:
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
    target: Position | None = None


async def reset(log: Log, group: str, target: Position, topics: list[str], *, execute: bool) -> ResetResult:
    state = await log.describe_group(group)
    committed = await log.committed(group)
    names = topics_of(committed, topics)
    if not names:
        raise SpecError(f"group {group} has no committed offsets: name the topic(s) with --topic")
    targets: dict[tuple[str, int], int] = {}
    for topic in names:
        bounds = await log.bounds(topic)
        for partition, offset in (await resolve(log, topic, target, bounds, is_start=True)).items():
            targets[(topic, partition)] = offset
    result = ResetResult(state, moves(committed, targets), target=target)
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


class Offsets:
    def __init__(self, log: Log, auditor: Auditor, positions: Positions) -> None:
        self.log = log
        self.auditor = auditor
        self.positions = positions

    async def show(self, group: str, topics: list[str] | None = None) -> GroupReport:
        """Lag per partition of a consumer group, and its members."""
        async with self.auditor.action("offsets show", {"group": group, "topics": topics}, changes=False):
            return await show(self.log, group, list(topics or []))

    async def reset(
        self, group: str, to_datetime: str, topics: list[str] | None = None, *, execute: bool = False
    ) -> ResetResult:
        """Move a stopped group's offsets (with ``execute``; otherwise a dry run). A refusal is recorded
        as such and returned in ``refused``: nothing moved."""
        args = {"group": group, "to_datetime": to_datetime, "topics": topics, "execute": execute}
        async with self.auditor.action("offsets reset", args, changes=execute) as action:
            target = self.positions.position(to_datetime)
            result = await reset(self.log, group, target, list(topics or []), execute=execute)
            action.detail["moves"] = [
                {"topic": m.topic, "partition": m.partition, "from": m.current, "to": m.target}
                for m in result.moves
            ]
            if result.refused:
                action.refuse(result.refused)
            elif not execute:
                action.outcome = "dry-run"
            return result
