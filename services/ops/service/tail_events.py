"""``samad events tail``: follow a topic readably, from a position, optionally only one case or type."""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo

from services.ops.adapters.log import LogReader
from services.ops.domain.render import EventView, matches, view
from services.ops.domain.timespec import LATEST
from services.ops.service.audit import Auditor
from services.ops.service.positions import Positions, resolve


class TailEvents:
    def __init__(
        self, log: LogReader, auditor: Auditor, positions: Positions, zone: tzinfo, *, bidi: bool
    ) -> None:
        self.log = log
        self.auditor = auditor
        self.positions = positions
        self.zone = zone
        self.bidi = bidi

    async def run(
        self,
        topic: str,
        *,
        show: Callable[[EventView], None],
        say: Callable[[str], None],
        case: str | None = None,
        event_type: str | None = None,
        start: str | None = None,
        limit: int | None = None,
        follow: bool = True,
        unmask: bool = False,
        bidi: bool | None = None,
    ) -> int:
        """Hand each matching event to ``show`` until ``limit`` are shown, or (without ``follow``) the
        end of the topic as it was at the start is reached; how many were shown."""
        args = {"topic": topic, "case": case, "type": event_type, "from": start, "unmask": unmask}
        async with self.auditor.action("events tail", args, changes=False) as action:
            position = self.positions.position(start) if start else LATEST
            bounds = await self.log.bounds(topic)
            starts = await resolve(self.log, topic, position, bounds, is_start=True)
            ends = {p: end for p, (_f, end) in bounds.items()}
            use_bidi = self.bidi if bidi is None else bidi
            shown = 0
            positions = dict(starts)
            say(f"{topic}: from {position.describe()}; Ctrl-C to stop")
            async for batch in self.log.follow({(topic, p): off for p, off in starts.items()}):
                for record in batch:
                    positions[record.partition] = record.offset + 1
                    if not matches(record, case=case, event_type=event_type):
                        continue
                    show(view(record, zone=self.zone, unmask=unmask, bidi=use_bidi))
                    shown += 1
                    if limit is not None and shown >= limit:
                        break
                if limit is not None and shown >= limit:
                    break
                if not follow and all(positions[p] >= end for p, end in ends.items()):
                    break
            action.detail["shown"] = shown
            return shown
