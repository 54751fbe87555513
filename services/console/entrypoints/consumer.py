"""The console's Kafka consumer: call, case and SMS events, read only to tell the browsers watching a
case that it changed, the duty walls that the funnel did, and the agency inboxes' live feed which cases
changed (each replica in a group of its own, from the log's end: nothing is projected here)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from faststream.kafka import KafkaMessage

from contracts.events import EventDecodeError, decode
from contracts.topics import CALLS, CASES, NOTIFICATIONS
from services.console.bootstrap import ConsoleContainer
from services.console.service.live import Hub, case_topic
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
        case_events: list[Any] = []
        tell_watchers(container.hub, records, case_events)
        container.inbox_feed.saw(case_events)


def tell_watchers(hub: Hub, records: Iterable[Any], case_events: list[Any] | None = None) -> int:
    """Tell the pages watching a case that it changed; how many were told (a case event handed to the
    inboxes' feed in ``case_events`` is told by the feed, once tracking has applied it). Every event
    of the two topics is keyed by its case's id, so an event of a case no page here watches (nearly
    all of them) is passed over by its key without being read: the console would otherwise parse
    every event of the platform, and under load that took CPU from the pages it serves."""
    told = 0
    wall = hub.watched(funnel_topic())  # the duty wall follows calls and cases of every case
    for record in records:
        key = record.key.decode("utf-8", "replace") if record.key else None
        # The inboxes' feed (``case_events``) reads every case event: a case routed to an agency shows
        # up in that agency's inbox whether or not a page watches the case yet.
        inbox = case_events is not None and record.topic == CASES
        if not wall and not inbox and key is not None and not hub.watched(case_topic(key)):
            continue
        try:
            event = decode(record.value or b"")
        except EventDecodeError:
            continue  # the services' own consumers dead-letter it; nothing to show here
        if event.type in FUNNEL_EVENTS:
            told += hub.publish(funnel_topic(), {"event": "funnel", "data": event.type})
        case_id = getattr(event.data, "case_id", None)
        if not case_id:
            continue
        kind = "sms" if record.topic == NOTIFICATIONS else "case"
        if kind == "case" and case_events is not None:
            # The inboxes' feed tells the case's pages once tracking has applied the event: told now,
            # a page would reload the case before tracking had it and show the state before it.
            case_events.append(event)
            continue
        told += hub.publish(case_topic(case_id), {"event": kind, "data": event.type})
    return told
