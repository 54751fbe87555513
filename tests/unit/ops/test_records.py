"""The dump file keeps every record byte for byte, and a load publishes each message at most once."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ops.domain.records import (
    DumpFormatError,
    RawRecord,
    dump_header,
    dump_line,
    in_load_order,
    parse_dump,
    select_for_load,
)


def event(eid: str, text: str = "سلام") -> bytes:
    return json.dumps(
        {"specversion": "1.0", "id": eid, "type": "ir.samad.case.note_added", "data": {"text": text}},
        ensure_ascii=False,
    ).encode()


def rec(offset: int, value: bytes | None, key: bytes | None = b"case-1", partition: int = 0) -> RawRecord:
    return RawRecord(
        "samad.cases.v1", partition, offset, 1_700_000_000_000 + offset, key, value, (("h", b"v"),)
    )


@given(
    key=st.none() | st.binary(max_size=20),
    value=st.none() | st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    headers=st.lists(st.tuples(st.text(min_size=1, max_size=10), st.binary(max_size=20)), max_size=4),
    timestamp=st.integers(min_value=0, max_value=2**41),
)
def test_any_record_round_trips_exactly(key, value, headers, timestamp) -> None:
    record = RawRecord("t", 3, 42, timestamp, key, value, tuple(headers))
    text = (
        dump_header("t", 12, "earliest", "now", "2025-01-01T00:00:00+00:00") + "\n" + dump_line(record) + "\n"
    )
    parsed = parse_dump(text.splitlines())
    assert parsed.records == (record,)
    assert parsed.partitions == 12


def test_persian_stays_readable_in_the_file() -> None:
    line = dump_line(rec(0, event("e1", "آب قطع است")))
    assert "آب قطع است" in line
    assert "\\u" not in line


def test_identity_is_the_event_id_or_a_digest_of_key_and_value() -> None:
    assert rec(0, event("e1")).identity() == "id:e1"
    assert rec(5, event("e1", "other text")).identity() == "id:e1"
    poison = rec(1, b"{not json")
    assert poison.identity().startswith("sha256:")
    assert poison.identity() == rec(9, b"{not json").identity()
    assert poison.identity() != rec(1, b"{not json", key=b"case-2").identity()
    assert rec(1, None, key=None).identity() != rec(1, b"", key=b"").identity()


def test_load_skips_what_the_topic_has_and_repeats_in_the_file() -> None:
    records = [rec(0, event("a")), rec(1, event("b")), rec(2, event("a")), rec(3, event("c"))]
    chosen = select_for_load(records, present={"id:b"})
    assert [r.offset for r in chosen.to_publish] == [0, 3]
    assert chosen.already_on_topic == 1
    assert chosen.repeated_in_file == 1
    again = select_for_load(records, present={r.identity() for r in records})
    assert again.to_publish == ()


def test_load_order_is_log_order_per_partition() -> None:
    records = [rec(5, b"x", partition=1), rec(2, b"y", partition=0), rec(1, b"z", partition=1)]
    assert [(r.partition, r.offset) for r in in_load_order(records)] == [(0, 2), (1, 1), (1, 5)]


def test_a_damaged_file_names_the_line() -> None:
    with pytest.raises(DumpFormatError, match="line 2"):
        parse_dump(['{"samad_dump": 1, "topic": "t"}', "{oops"])
    with pytest.raises(DumpFormatError, match="line 1"):
        parse_dump(['{"topic": "t", "partition": 0}'])
    with pytest.raises(DumpFormatError, match="format 9"):
        parse_dump(['{"samad_dump": 9}'])
