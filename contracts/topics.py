"""Kafka topics: names, partition counts and retention. Created explicitly, never auto-created."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: dict[str, str] = field(default_factory=dict)


KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}

CALLS = "samad.calls.v1"
CASES = "samad.cases.v1"
NOTIFICATIONS = "samad.notifications.v1"
DEADLETTER = "samad.deadletter.v1"

# Calls, cases and notifications keep everything: replay rebuilds projections from them.
# The dead-letter topic keeps 90 days: long enough to investigate and re-drive.
TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(CALLS, 6, KEEP_FOREVER),
    TopicSpec(CASES, 12, KEEP_FOREVER),
    TopicSpec(NOTIFICATIONS, 12, KEEP_FOREVER),
    TopicSpec(DEADLETTER, 3, {"retention.ms": str(90 * 24 * 3600 * 1000), "cleanup.policy": "delete"}),
)
