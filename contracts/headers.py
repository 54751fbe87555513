"""Kafka header names every producer and consumer agrees on.

The event itself travels in the message value (a structured CloudEvent); headers carry what is about
the message's journey rather than the event: replays, re-drives and dead-lettering.
"""

from __future__ import annotations

from typing import Final

# Structured-mode CloudEvents name their content type in this header.
CONTENT_TYPE: Final = "content-type"
# A replayed copy names its replay run; consumers count replayed events and never send SMS for them.
REPLAY_RUN: Final = "samad-replay-run"
# Where a replayed copy was read from (topic:partition:offset).
REPLAY_ORIGINAL: Final = "samad-replay-original"
# W3C Trace Context of the replay run that published a copy (the copy's value keeps the original's
# trace context untouched: the consumer starts the run's trace and links it to the original).
TRACEPARENT: Final = "traceparent"
# A re-driven dead letter names the dead-letter record it came from; a second failure keeps the mark.
REDRIVEN_FROM: Final = "samad-redriven-from"
REDRIVE_RUN: Final = "samad-redrive-run"
REDRIVE_COUNT: Final = "samad-redrive-count"
# Every header a consumer adds when it dead-letters a message starts with this prefix.
DLQ_PREFIX: Final = "samad-dlq-"


def dlq(name: str) -> str:
    """The dead-letter header ``name`` (original-topic, original-partition, original-offset,
    original-timestamp, reason, error, service, group, failed-at)."""
    return DLQ_PREFIX + name
