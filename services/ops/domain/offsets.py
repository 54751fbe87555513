"""Consumer group positions: lag per partition, and whether an offset reset may go ahead."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

TopicPartitionKey = tuple[str, int]


@dataclass(frozen=True)
class Lag:
    topic: str
    partition: int
    committed: int | None  # None: the group never committed on this partition
    log_end: int

    @property
    def lag(self) -> int | None:
        return None if self.committed is None else max(0, self.log_end - self.committed)


def lags(
    committed: Mapping[TopicPartitionKey, int | None], ends: Mapping[TopicPartitionKey, int]
) -> list[Lag]:
    return [Lag(t, p, committed.get((t, p)), end) for (t, p), end in sorted(ends.items())]


@dataclass(frozen=True)
class GroupState:
    group: str
    state: str  # Empty, Stable, PreparingRebalance, CompletingRebalance, Dead
    members: tuple[str, ...]  # "client-id@host"

    @property
    def live(self) -> bool:
        return bool(self.members) or self.state not in ("Empty", "Dead")


@dataclass(frozen=True)
class OffsetMove:
    topic: str
    partition: int
    current: int | None
    target: int

    @property
    def delta(self) -> int | None:
        return None if self.current is None else self.target - self.current


def reset_refusal(state: GroupState) -> str | None:
    """Why a reset must not run now, or None. A group with members would overwrite (or ignore) the
    new offsets on its next commit, and rewinding a live consumer by accident is what this guards."""
    if state.live:
        members = ", ".join(state.members) or "none listed"
        return (
            f"group {state.group} is {state.state} with {len(state.members)} active member(s) "
            f"({members}); stop its consumers first"
        )
    return None


def moves(
    current: Mapping[TopicPartitionKey, int | None], targets: Mapping[TopicPartitionKey, int]
) -> list[OffsetMove]:
    return [OffsetMove(t, p, current.get((t, p)), off) for (t, p), off in sorted(targets.items())]


def topics_of(committed: Mapping[TopicPartitionKey, int | None], explicit: Sequence[str]) -> list[str]:
    return sorted(set(explicit) if explicit else {t for t, _ in committed})
