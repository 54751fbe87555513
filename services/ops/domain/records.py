"""Kafka records as the operator tools see them, and the dump file format (JSON lines).

A dump file starts with one header line ``{"samad_dump": 1, ...}`` and has one record per line after it.
Bytes (key, value, header values) are written as text when they are valid UTF-8, so Persian text stays
readable in the file, and as ``{"b64": "..."}`` otherwise, so any record round-trips byte for byte.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

DUMP_FORMAT = 1


class DumpFormatError(ValueError):
    """A line of a dump file that is not what ``samad events dump`` writes."""


@dataclass(frozen=True)
class RawRecord:
    """One Kafka record with everything that makes it itself: key, value, headers and timestamp."""

    topic: str
    partition: int
    offset: int
    timestamp: int  # milliseconds since the epoch
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = field(default_factory=tuple)
    timestamp_type: int = 0  # 0 CreateTime, 1 LogAppendTime

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None

    def json_value(self) -> dict[str, Any] | None:
        if not self.value:
            return None
        try:
            obj = json.loads(self.value)
        except (ValueError, UnicodeDecodeError):
            return None
        return obj if isinstance(obj, dict) else None

    def identity(self) -> str:
        """What makes two copies of a message the same message: its CloudEvents id when it has one,
        otherwise a digest of key and value (a non-event, e.g. poison kept in the dead-letter topic)."""
        obj = self.json_value()
        if obj is not None and isinstance(obj.get("id"), str) and obj.get("specversion"):
            return f"id:{obj['id']}"
        digest = hashlib.sha256()
        digest.update(b"k" + (self.key or b"") if self.key is not None else b"-")
        digest.update(b"\x00v" + (self.value or b"") if self.value is not None else b"\x00-")
        return f"sha256:{digest.hexdigest()}"


@dataclass(frozen=True)
class Outgoing:
    """A record to publish as it is: key, value and headers untouched; timestamp and partition when they
    must be kept (otherwise the producer sets the time and the key picks the partition)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    timestamp: int | None = None
    partition: int | None = None


@dataclass(frozen=True)
class Published:
    """Where the log stored a published record."""

    topic: str
    partition: int
    offset: int

    @property
    def where(self) -> str:
        return f"{self.topic}:{self.partition}:{self.offset}"


def _bytes_out(value: bytes | None) -> str | dict[str, str] | None:
    if value is None:
        return None
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(value).decode()}


def _bytes_in(value: Any, what: str) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("b64"), str):
        return base64.b64decode(value["b64"])
    raise DumpFormatError(f"{what}: expected text, null or {{'b64': ...}}")


# json.dumps leaves these unescaped with ensure_ascii=False, and str.splitlines() (and some editors)
# break lines on them: escape them so one record is always one line.
_LINE_BREAKERS = str.maketrans({"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"})


def _one_line(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).translate(_LINE_BREAKERS)


def dump_header(topic: str, partitions: int, start: str, stop: str, created_at: str) -> str:
    return _one_line(
        {
            "samad_dump": DUMP_FORMAT,
            "topic": topic,
            "partitions": partitions,
            "from": start,
            "to": stop,
            "created_at": created_at,
        }
    )


def dump_line(record: RawRecord) -> str:
    return _one_line(
        {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "timestamp_type": record.timestamp_type,
            "key": _bytes_out(record.key),
            "headers": [[k, _bytes_out(v)] for k, v in record.headers],
            "value": _bytes_out(record.value),
        }
    )


@dataclass(frozen=True)
class DumpFile:
    header: dict[str, Any]
    records: tuple[RawRecord, ...]

    @property
    def partitions(self) -> int | None:
        value = self.header.get("partitions")
        return value if isinstance(value, int) else None


def parse_dump(lines: Iterable[str]) -> DumpFile:
    header: dict[str, Any] = {}
    records: list[RawRecord] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as exc:
            raise DumpFormatError(f"line {number}: not JSON ({exc})") from exc
        if not isinstance(obj, dict):
            raise DumpFormatError(f"line {number}: not a JSON object")
        if "samad_dump" in obj:
            if obj["samad_dump"] != DUMP_FORMAT:
                raise DumpFormatError(f"line {number}: dump format {obj['samad_dump']} is not supported")
            header = obj
            continue
        try:
            headers = tuple(
                (str(k), _bytes_in(v, f"line {number} header {k}") or b"") for k, v in obj.get("headers", [])
            )
            records.append(
                RawRecord(
                    topic=str(obj["topic"]),
                    partition=int(obj["partition"]),
                    offset=int(obj["offset"]),
                    timestamp=int(obj["timestamp"]),
                    timestamp_type=int(obj.get("timestamp_type", 0)),
                    key=_bytes_in(obj.get("key"), f"line {number} key"),
                    value=_bytes_in(obj.get("value"), f"line {number} value"),
                    headers=headers,
                )
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, DumpFormatError):
                raise
            raise DumpFormatError(f"line {number}: {type(exc).__name__}: {exc}") from exc
    return DumpFile(header, tuple(records))


@dataclass(frozen=True)
class LoadSelection:
    """What a load publishes, and what it leaves out because the topic already has it."""

    to_publish: tuple[RawRecord, ...]
    already_on_topic: int
    repeated_in_file: int


def select_for_load(records: Iterable[RawRecord], present: set[str]) -> LoadSelection:
    """Keep, in file order, the first copy of each message that the topic does not have yet."""
    seen = set(present)
    keep: list[RawRecord] = []
    on_topic = repeated = 0
    for record in records:
        ident = record.identity()
        if ident in present:
            on_topic += 1
        elif ident in seen:
            repeated += 1
        else:
            seen.add(ident)
            keep.append(record)
    return LoadSelection(tuple(keep), on_topic, repeated)


def in_load_order(records: Iterable[RawRecord]) -> Iterator[RawRecord]:
    """The order they were in the log: per partition by offset (a case's events keep their order)."""
    return iter(sorted(records, key=lambda r: (r.topic, r.partition, r.offset)))
