"""Turning what an operator types (times, offsets, earliest) into offsets of a topic; shared by the use
cases."""

from __future__ import annotations

from datetime import datetime, tzinfo

from services.common.clock import Clock
from services.ops.adapters.log import Bounds, LogReader
from services.ops.domain.plan import Plan, make_plan
from services.ops.domain.plan import resolve as resolve_offsets
from services.ops.domain.timespec import Position, SpecError, parse_position, parse_time, to_millis


class Positions:
    """Reads times and positions as the operator means them: relative to now, naive ones in ``zone``."""

    def __init__(self, clock: Clock, zone: tzinfo) -> None:
        self.clock = clock
        self.zone = zone

    def position(self, text: str) -> Position:
        return parse_position(text, now=self.clock.now(), zone=self.zone)

    def time(self, text: str) -> datetime:
        return parse_time(text, now=self.clock.now(), zone=self.zone)


async def resolve(
    log: LogReader, topic: str, position: Position, bounds: Bounds, *, is_start: bool
) -> dict[int, int]:
    """Offsets per partition of ``topic`` for a position (times looked up in the log)."""
    by_time = None
    if position.time is not None:
        by_time = await log.offsets_for_time(topic, to_millis(position.time))
    return resolve_offsets(position, bounds, by_time, is_start=is_start)


async def plan(log: LogReader, topic: str, start: Position, stop: Position) -> Plan:
    """Per partition, the offsets a read from ``start`` to ``stop`` covers."""
    bounds = await log.bounds(topic)
    starts = await resolve(log, topic, start, bounds, is_start=True)
    stops = await resolve(log, topic, stop, bounds, is_start=False)
    if start.edge == "latest":
        raise SpecError("--from latest reads nothing: give a time, an offset or earliest")
    return make_plan(topic, bounds, starts, stops)
