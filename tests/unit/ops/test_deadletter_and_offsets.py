"""Which dead letters a re-drive publishes, with which headers; when an offset reset may run."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from contracts.headers import REDRIVEN_FROM as REDRIVE_HEADER
from services.ops.domain.deadletter import (
    Decision,
    RedriveFilter,
    decide,
    parse_dead_letter,
    redrive_headers,
)
from services.ops.domain.offsets import GroupState, lags, moves, reset_refusal
from services.ops.domain.records import RawRecord


def dead(
    offset: int = 7, extra: tuple[tuple[str, bytes], ...] = (), ts: int = 1_700_000_000_000
) -> RawRecord:
    value = json.dumps({"specversion": "1.0", "id": "e1", "type": "ir.samad.case.routed"}).encode()
    headers = (
        ("content-type", b"application/cloudevents+json"),
        *extra,
        ("samad-dlq-original-topic", b"samad.cases.v1"),
        ("samad-dlq-original-partition", b"4"),
        ("samad-dlq-original-offset", b"120"),
        ("samad-dlq-reason", b"handler_failed"),
        ("samad-dlq-error", b"RuntimeError: boom"),
        ("samad-dlq-service", b"tracking"),
        ("samad-dlq-group", b"samad.tracking"),
        ("samad-dlq-failed-at", b"2025-03-01T08:00:00+00:00"),
    )
    return RawRecord("samad.deadletter.v1", 1, offset, ts, b"case-9", value, headers)


def test_a_dead_letter_knows_where_it_came_from() -> None:
    letter = parse_dead_letter(dead())
    assert letter is not None
    assert (letter.original_topic, letter.original_partition, letter.original_offset) == (
        "samad.cases.v1",
        4,
        120,
    )
    assert letter.event_type == "ir.samad.case.routed"
    assert letter.position == "samad.deadletter.v1:1:7"
    assert letter.original_headers == (("content-type", b"application/cloudevents+json"),)
    assert parse_dead_letter(RawRecord("x", 0, 0, 0, None, b"", ())) is None


def test_redrive_headers_keep_the_originals_and_name_the_dead_letter_and_run() -> None:
    letter = parse_dead_letter(dead())
    assert letter is not None
    headers = dict(redrive_headers(letter, "redrive-1"))
    assert headers["content-type"] == b"application/cloudevents+json"
    assert headers[REDRIVE_HEADER] == b"samad.deadletter.v1:1:7"
    assert headers["samad-redrive-run"] == b"redrive-1"
    assert headers["samad-redrive-count"] == b"1"
    assert not any(k.startswith("samad-dlq-") for k in headers)


def test_a_message_is_redriven_once_then_stays_unless_forced() -> None:
    first = parse_dead_letter(dead())
    assert first is not None
    assert decide(first, RedriveFilter(), already=False) is Decision.redrive
    assert decide(first, RedriveFilter(force=True), already=True) is Decision.already_redriven
    # It failed again: the consumer dead-lettered it with the re-drive marker among its headers.
    again = parse_dead_letter(dead(offset=30, extra=((REDRIVE_HEADER, b"samad.deadletter.v1:1:7"),)))
    assert again is not None
    assert decide(again, RedriveFilter(), already=False) is Decision.failed_after_redrive
    assert decide(again, RedriveFilter(force=True), already=False) is Decision.redrive
    assert dict(redrive_headers(again, "r2"))["samad-redrive-count"] == b"2"


def test_filters_by_type_topic_service_and_time() -> None:
    letter = parse_dead_letter(dead(ts=1_700_000_000_000))
    assert letter is not None
    assert decide(letter, RedriveFilter(event_type="case.routed"), already=False) is Decision.redrive
    assert decide(letter, RedriveFilter(event_type="ir.samad.case.routed"), already=False) is Decision.redrive
    assert decide(letter, RedriveFilter(event_type="sms.sent"), already=False) is Decision.filtered
    assert decide(letter, RedriveFilter(original_topic="samad.calls.v1"), already=False) is Decision.filtered
    assert decide(letter, RedriveFilter(service="notify"), already=False) is Decision.filtered
    later = datetime.fromtimestamp(1_700_000_001, UTC)
    assert decide(letter, RedriveFilter(since=later), already=False) is Decision.filtered


def test_reset_is_refused_while_the_group_has_members() -> None:
    live = GroupState("samad.tracking", "Stable", ("samad-tracking@10.0.0.5",))
    reason = reset_refusal(live)
    assert reason is not None and "samad-tracking@10.0.0.5" in reason
    assert reset_refusal(GroupState("g", "PreparingRebalance", ())) is not None
    assert reset_refusal(GroupState("g", "Empty", ())) is None
    assert reset_refusal(GroupState("g", "Dead", ())) is None


def test_lag_and_moves() -> None:
    rows = lags({("t", 0): 5, ("t", 1): None}, {("t", 0): 9, ("t", 1): 3})
    assert [(r.partition, r.lag) for r in rows] == [(0, 4), (1, None)]
    [m0, m1] = moves({("t", 0): 5}, {("t", 0): 2, ("t", 1): 0})
    assert (m0.delta, m1.delta) == (-3, None)
