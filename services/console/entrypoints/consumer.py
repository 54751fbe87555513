"""The console's Kafka consumer: call, case and SMS events, read only to tell the browsers watching a
case that it changed, and the duty walls that the funnel did (each replica in a group of its own, from
the log's end: nothing is projected here)."""

from __future__ import annotations

import logging
from typing import Any

from faststream.kafka import KafkaMessage

from contracts.events import EventDecodeError, decode
from contracts.topics import CALLS, CASES, NOTIFICATIONS
from services.console.bootstrap import ConsoleContainer
from services.console.service.live import case_topic
from services.console.service.supervisor import FUNNEL_EVENTS, funnel_topic

log = logging.getLogger("samad.console.consumer")


async def _raw(_msg: Any) -> list[None]:
    return []


def register(container: ConsoleContainer) -> None:
    broker = container.broker
    if broker is None:
        return

    @broker.subscriber(
        CALLS,
        CASES,
        NOTIFICATIONS,
        group_id=container.consumer_group,
        batch=True,
        max_records=500,
        batch_timeout_ms=50,
        auto_offset_reset="latest",
        decoder=_raw,
        title=f"console:{container.consumer_group}",
        description="Tells the browsers watching a case that its status or an SMS of it changed, and the "
        "duty walls that a call or a case changed the funnel",
    )
    async def changed(_body: list[None], msg: KafkaMessage) -> None:
        records = msg.raw_message if isinstance(msg.raw_message, (tuple, list)) else (msg.raw_message,)
        for record in records:
            try:
                event = decode(record.value or b"")
            except EventDecodeError:
                continue  # the services' own consumers dead-letter it; nothing to show here
            if event.type in FUNNEL_EVENTS:
                container.hub.publish(funnel_topic(), {"event": "funnel", "data": event.type})
            case_id = getattr(event.data, "case_id", None)
            if not case_id:
                continue
            kind = "sms" if record.topic == NOTIFICATIONS else "case"
            container.hub.publish(case_topic(case_id), {"event": kind, "data": event.type})
