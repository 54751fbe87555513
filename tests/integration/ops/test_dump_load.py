"""Back up and restore: a dump loaded into an empty topic reproduces it exactly; loading twice adds nothing."""

from __future__ import annotations

import json
from pathlib import Path

from aiokafka import TopicPartition

from contracts.events import Actor, ActorKind, CaseNoteAdded, make_event
from services.ops.adapters.kafka import KafkaLog
from services.ops.domain.records import Outgoing, RawRecord

BASE_TS = 1_735_700_000_000  # 2025-01-01: timestamps from the past must survive the round trip


def note(case: str, text: str, i: int) -> bytes:
    data = CaseNoteAdded(case_id=case, text=text, actor=Actor(kind=ActorKind.ops, id="op-1"))
    return make_event(data, source="/samad/test", event_id=f"{case}-note-{i}").to_json()


async def everything(log: KafkaLog, topic: str) -> list[RawRecord]:
    bounds = await log.bounds(topic)
    out: list[RawRecord] = []
    async for batch in log.read({TopicPartition(topic, p): b for p, b in bounds.items()}):
        out.extend(batch)
    return out


def essence(records: list[RawRecord]) -> list[tuple]:
    return sorted((r.partition, r.offset, r.timestamp, r.key, r.value, r.headers) for r in records)


async def test_dump_and_load_round_trip_a_topic_exactly(
    log, make_topic, samad, tmp_path: Path, unique: str
) -> None:
    source = await make_topic("src", 3)
    target = await make_topic("dst", 3)
    messages = [
        Outgoing(
            source,
            f"case-{i % 4}-{unique}".encode(),
            note(f"case-{i % 4}-{unique}", f"یادداشت شماره {i}: آب قطع است", i),
            [("content-type", b"application/cloudevents+json"), ("x-binary", bytes([0xFF, 0x00, i]))],
            timestamp=BASE_TS + i * 1000,
        )
        for i in range(24)
    ]
    messages.append(Outgoing(source, None, b"{not json", [("x-origin", "تست".encode())], BASE_TS + 50_000, 1))
    messages.append(Outgoing(source, b"k", None, [], BASE_TS + 60_000, 2))  # a tombstone-like empty value
    await log.send(messages)
    original = await everything(log, source)
    assert len(original) == 26

    backup = tmp_path / "backup.jsonl"
    with backup.open("w") as fh:
        dumped = samad("events", "dump", "--topic", source, "--from", "earliest", "--to", "now", stdout=fh)
    assert dumped.returncode == 0, dumped.stderr
    lines = backup.read_text(encoding="utf-8").splitlines()
    assert json.loads(lines[0])["samad_dump"] == 1
    assert len(lines) == 27
    assert "آب قطع است" in backup.read_text(encoding="utf-8")  # readable, not \u-escaped

    loaded = samad("events", "load", str(backup), "--topic", target)
    assert loaded.returncode == 0, loaded.stderr
    assert f"published 26 record(s) to {target}" in loaded.stdout

    restored = await everything(log, target)
    assert essence(restored) == essence(
        original
    )  # same partitions, offsets, timestamps, keys, values, headers

    again = samad("events", "load", str(backup), "--topic", target)
    assert again.returncode == 0, again.stderr
    assert f"published 0 record(s) to {target}" in again.stdout
    assert "skipped 26 already on the topic" in again.stdout
    assert len(await everything(log, target)) == 26

    audit = samad("audit", "--json")
    entries = [json.loads(line) for line in audit.stdout.splitlines()]
    loads = [e for e in entries if e["command"] == "events load"]
    assert [e["detail"]["published"] for e in loads] == [
        [{"topic": target, "records": 0}],  # newest first
        [{"topic": target, "records": 26}],
    ]
    assert all(e["actor"] == "test-operator" and e["outcome"] == "ok" for e in loads)


async def test_dump_by_time_keeps_only_the_range(log, make_topic, samad, tmp_path: Path, unique: str) -> None:
    topic = await make_topic("range", 2)
    await log.send(
        Outgoing(topic, b"k", note(f"c-{unique}", f"n{i}", i), [], timestamp=BASE_TS + i * 60_000)
        for i in range(10)
    )
    out = tmp_path / "range.jsonl"
    start, stop = str(BASE_TS + 3 * 60_000), str(BASE_TS + 7 * 60_000)
    with out.open("w") as fh:
        result = samad("events", "dump", "--topic", topic, "--from", start, "--to", stop, stdout=fh)
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in out.read_text().splitlines()[1:]]
    assert [r["timestamp"] for r in records] == [BASE_TS + i * 60_000 for i in range(3, 7)]
