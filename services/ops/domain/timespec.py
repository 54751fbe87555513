"""What operators type for "when" and "where in the log": times, offsets, and the ends of a topic.

Times (``--from``, ``--to``, ``--since``, ``--to-datetime``):
- ISO 8601: ``2025-03-01T08:00:00+03:30``, ``2025-03-01 08:00``, ``2025-03-01`` (naive = operator zone);
- Solar Hijri, as the hotline speaks it: ``1403-12-11 08:00`` (any year before 1700), Persian digits too;
- relative: ``15m``, ``-2h``, ``3d ago``, ``1w`` (that long before now); ``now``;
- epoch: 10 digits are seconds, 13 digits are milliseconds.
Positions (``replay plan --from/--to``) also accept ``earliest``/``latest``, a plain offset applied to
every partition (``1200``) and per-partition offsets (``0:1200,3:40``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo

import jdatetime

from contracts.persian import to_ascii_digits


class SpecError(ValueError):
    """An operator typed a time or position that cannot be understood."""


_RELATIVE = re.compile(r"^-?\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w)\s*(ago)?$", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$")


def parse_time(text: str, *, now: datetime, zone: tzinfo) -> datetime:
    """An aware datetime for what the operator typed, or SpecError saying what is accepted."""
    raw = to_ascii_digits(text.strip())
    if not raw:
        raise SpecError("empty time")
    lowered = raw.lower()
    if lowered == "now":
        return now
    m = _RELATIVE.match(lowered)
    if m:
        return now - timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])
    if raw.isdigit() and len(raw) in (10, 13):
        seconds = int(raw) / (1000 if len(raw) == 13 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    m = _DATE.match(raw)
    if m:
        year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        hour, minute, second = (int(m.group(i) or 0) for i in (4, 5, 6))
        try:
            if year < 1700:
                gregorian: datetime = jdatetime.datetime(year, month, day, hour, minute, second).togregorian()
                naive = gregorian
            else:
                naive = datetime(year, month, day, hour, minute, second)
        except ValueError as exc:
            raise SpecError(f"{text!r}: {exc}") from exc
        return naive.replace(tzinfo=zone)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise SpecError(
            f"{text!r} is not a time: use ISO 8601 (2025-03-01T08:00+03:30), a Solar Hijri date "
            "(1403-12-11 08:00), a relative time (15m, 2h ago, 3d) or epoch seconds/milliseconds"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=zone)


def to_millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Position:
    """Where to start or stop reading: exactly one of the fields says how."""

    edge: str | None = None  # "earliest" | "latest"
    time: datetime | None = None
    offset: int | None = None  # the same offset on every partition
    offsets: tuple[tuple[int, int], ...] | None = None  # (partition, offset) pairs

    def describe(self) -> str:
        if self.edge:
            return self.edge
        if self.time is not None:
            return self.time.isoformat()
        if self.offset is not None:
            return f"offset {self.offset}"
        return ", ".join(f"{p}:{o}" for p, o in self.offsets or ())


EARLIEST = Position(edge="earliest")
LATEST = Position(edge="latest")

_PER_PARTITION = re.compile(r"^\d+:\d+(,\s*\d+:\d+)*$")


def parse_position(text: str, *, now: datetime, zone: tzinfo) -> Position:
    raw = to_ascii_digits(text.strip())
    lowered = raw.lower()
    if lowered in ("earliest", "beginning", "start"):
        return EARLIEST
    if lowered in ("latest", "end"):
        return LATEST
    if _PER_PARTITION.match(raw):
        pairs = tuple(
            sorted((int(p), int(o)) for p, o in (item.strip().split(":") for item in raw.split(",")))
        )
        return Position(offsets=pairs)
    if raw.isdigit() and len(raw) not in (10, 13):
        return Position(offset=int(raw))
    return Position(time=parse_time(raw, now=now, zone=zone))
