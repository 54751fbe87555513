"""The console's Kafka consumer: case and SMS events, read only to tell the browsers watching a case
that it changed, and to hand changed cases to the agency inboxes' live feed (each replica in a group of
its own, from the log's end: nothing is projected here)."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaMessage

from contracts.events import EventDecodeError, decode
from contracts.topics import CASES, NOTIFICATIONS
from services.console.bootstrap import ConsoleContainer
from services.console.service.live import case_topic

log = logging.getLogger("samad.console.consumer")


async def _raw(_msg: Any) -> list[None]:
    return []


def register(container: ConsoleContainer) -> None:
    broker = container.broker
    if broker is None:
        return

    @broker.subscriber(
        CASES,
        NOTIFICATIONS,
        group_id=container.consumer_group,
        batch=True,
        max_records=500,
        batch_timeout_ms=50,
        auto_offset_reset="latest",
        decoder=_raw,
        title=f"console:{container.consumer_group}",
        description="Tells the browsers watching a case that its status or an SMS of it changed",
    )
    async def changed(_body: list[None], msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, (tuple, list)) else (msg.raw_message,)
        case_events = []
        for record in records:
            try:
                event = decode(record.value or b"")
            except EventDecodeError:
                continue  # the services' own consumers dead-letter it; nothing to show here
            case_id = getattr(event.data, "case_id", None)
            if not case_id:
                continue
            kind = "sms" if record.topic == NOTIFICATIONS else "case"
            container.hub.publish(case_topic(case_id), {"event": kind, "data": event.type})
            if kind == "case":
                case_events.append(event)
        container.inbox_feed.saw(case_events)
