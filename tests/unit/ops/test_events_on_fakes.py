"""Backing up, restoring, replaying and following a topic on the in-memory log and files."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from contracts.headers import REPLAY_ORIGINAL, REPLAY_RUN
from services.common.clock import FixedClock
from services.ops.adapters.files import InMemoryFiles
from services.ops.adapters.log import InMemoryLog, TopicNotFound
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.bootstrap import OpsContainer
from services.ops.domain.records import DumpFormatError, Outgoing, RawRecord
from services.ops.domain.render import EventView
from services.ops.domain.timespec import SpecError
from tests.unit.ops.conftest import BASE_TS, NOTES, note


def essence(records: list[RawRecord]) -> list[tuple[object, ...]]:
    return sorted((r.partition, r.offset, r.timestamp, r.key, r.value, r.headers) for r in records)


async def source_topic(log: InMemoryLog) -> list[RawRecord]:
    await log.send(
        Outgoing(
            note(NOTES, f"case-{i % 4}", i).topic,
            f"case-{i % 4}".encode(),
            note(NOTES, f"case-{i % 4}", i).value,
            [("content-type", b"application/cloudevents+json"), ("x-binary", bytes([0xFF, 0x00, i]))],
            timestamp=BASE_TS + i * 1000,
        )
        for i in range(12)
    )
    await log.send([Outgoing(NOTES, None, b"{not json", [("x-origin", "تست".encode())], BASE_TS + 50_000, 1)])
    await log.send([Outgoing(NOTES, b"k", None, [], BASE_TS + 60_000, 2)])
    return log.records(NOTES)


async def test_dump_and_load_round_trip_a_topic_exactly_and_loading_twice_adds_nothing(
    ops: OpsContainer, log: InMemoryLog, files: InMemoryFiles, store: InMemoryOpsStore, clock: FixedClock
) -> None:
    original = await source_topic(log)
    await log.create_topic("test.restored", 3)

    stats = await ops.dump_events.run(NOTES, "earliest", "now", "backup.jsonl")
    per_partition = {p: n for p in (0, 1, 2) if (n := sum(r.partition == p for r in original))}
    assert (stats.records, stats.partitions) == (14, per_partition)
    lines = files.files["backup.jsonl"].splitlines()
    assert json.loads(lines[0])["samad_dump"] == 1 and json.loads(lines[0])["partitions"] == 3
    assert json.loads(lines[0])["created_at"] == ops.clock.now().isoformat()
    assert len(lines) == 15 and "یادداشت" in files.files["backup.jsonl"]

    loaded = await ops.load_events.run("backup.jsonl", topic="test.restored")
    assert loaded.published == {"test.restored": 14} and loaded.records_in_file == 14
    assert essence(log.records("test.restored")) == essence(original)

    clock.advance(timedelta(minutes=1))
    again = await ops.load_events.run("backup.jsonl", topic="test.restored")
    assert again.published == {"test.restored": 0} and again.already_on_topic == 14
    assert len(log.records("test.restored")) == 14

    loads = await store.audit_list(command="events load")
    assert [e["detail"]["published"] for e in loads] == [
        [{"topic": "test.restored", "records": 0}],
        [{"topic": "test.restored", "records": 14}],
    ]
    assert {e["arguments"]["file"] for e in loads} == {"backup.jsonl"}


async def test_a_dump_by_time_keeps_only_the_range_and_goes_to_stdout_without_a_path(
    ops: OpsContainer, log: InMemoryLog, files: InMemoryFiles
) -> None:
    await log.send(note(NOTES, "case-1", i, BASE_TS + i * 60_000) for i in range(10))
    stats = await ops.dump_events.run(NOTES, str(BASE_TS + 3 * 60_000), str(BASE_TS + 7 * 60_000))
    records = [json.loads(line) for line in files.stdout.splitlines()[1:]]
    assert [r["timestamp"] for r in records] == [BASE_TS + i * 60_000 for i in range(3, 7)]
    assert stats.records == 4


async def test_a_dry_run_load_from_stdin_publishes_nothing(
    ops: OpsContainer, log: InMemoryLog, files: InMemoryFiles, store: InMemoryOpsStore
) -> None:
    await source_topic(log)
    await ops.dump_events.run(NOTES, "earliest")
    files.stdin = files.stdout
    await log.create_topic("test.empty", 3)
    stats = await ops.load_events.run("-", topic="test.empty", dry_run=True)
    assert stats.published == {"test.empty": 14} and log.records("test.empty") == []
    [entry] = await store.audit_list(command="events load")
    assert (entry["outcome"], entry["changes"]) == ("dry-run", False)


async def test_a_file_that_is_not_a_dump_is_refused_before_anything_is_published(
    ops: OpsContainer, log: InMemoryLog, files: InMemoryFiles
) -> None:
    files.files["bad.jsonl"] = '{"samad_dump": 1}\n[1, 2]\n'
    with pytest.raises(DumpFormatError, match="line 2"):
        await ops.load_events.run("bad.jsonl")
    assert log.records(NOTES) == []


async def test_replay_plan_and_publish_mark_each_copy_with_its_run(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore
) -> None:
    await log.create_topic("test.replayed", 3)
    await log.send(note(NOTES, f"case-{i % 3}", i, BASE_TS + i * 1000) for i in range(9))
    planned = await ops.replay.plan(NOTES, str(BASE_TS + 3000))
    assert planned.plan.total == 6 and planned.stop.edge == "latest"

    dry = await ops.replay.publish(NOTES, "earliest", into="test.replayed")
    assert dry.stats is None and dry.plan.total == 9 and log.records("test.replayed") == []

    done = await ops.replay.publish(NOTES, "earliest", into="test.replayed", case="case-1", execute=True)
    assert done.stats is not None and (done.stats.read, done.stats.published) == (9, 3)
    copies = log.records("test.replayed")
    assert {c.key for c in copies} == {b"case-1"}
    for c in copies:
        headers = dict(c.headers)
        assert headers[REPLAY_RUN] == done.run_id.encode()
        assert headers[REPLAY_ORIGINAL].startswith(f"{NOTES}:{c.partition}:".encode())
    outcomes = [e["outcome"] for e in await store.audit_list()]
    assert sorted(outcomes) == ["dry-run", "dry-run", "ok"]

    with pytest.raises(SpecError, match="--from latest reads nothing"):
        await ops.replay.plan(NOTES, "latest")
    with pytest.raises(TopicNotFound):
        await ops.replay.plan("no.such.topic", "earliest")


async def test_tail_shows_the_matching_events_and_stops_at_the_end_without_follow(
    ops: OpsContainer, log: InMemoryLog, store: InMemoryOpsStore
) -> None:
    await log.send(note(NOTES, f"case-{i % 2}", i, BASE_TS + i * 1000) for i in range(6))
    shown: list[EventView] = []
    said: list[str] = []
    count = await ops.tail_events.run(
        NOTES, show=shown.append, say=said.append, case="case-1", start="earliest", follow=False
    )
    assert count == 3 and [v.subject for v in shown] == ["case-1"] * 3
    assert said == [f"{NOTES}: from earliest; Ctrl-C to stop"]
    limited = await ops.tail_events.run(NOTES, show=shown.append, say=said.append, start="earliest", limit=2)
    assert limited == 2
    [first, second] = await store.audit_list(command="events tail")
    assert {first["detail"]["shown"], second["detail"]["shown"]} == {2, 3}
