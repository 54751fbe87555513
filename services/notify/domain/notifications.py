"""The ``sms.*`` events a ledger record owes, built from the record alone (deterministic ids).

Every event of one SMS and kind has the same id, however often it is published (after a crash, by
the reconciler): consumers downstream count it once.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from contracts.events import Envelope, EventData, SmsDelivered, SmsFailed, SmsSent, deterministic_id
from services.notify.domain.records import OWED_ORDER, Owed, SmsRecord

SOURCE = "/samad/notify"


def sms_event(r: SmsRecord, kind: Owed, now: datetime) -> Envelope:
    """The event of ``kind`` about this SMS; ``now`` stands in for a moment the record lacks."""
    first_id = r.message_ids[0] if r.message_ids else None
    data: EventData
    at: datetime | None
    if kind is Owed.sent:
        data = SmsSent(
            sms_id=r.sms_id,
            case_id=r.case_id,
            source_event_id=r.source_event_id,
            template=r.template,
            recipient=r.recipient or None,
            text=r.text or None,
            recipient_sealed=r.recipient_sealed,
            text_sealed=r.text_sealed,
            parts=r.segments,
            provider=r.provider,
            provider_message_id=first_id,
        )
        at = r.submitted_at
    elif kind is Owed.delivered:
        at = r.delivered_at or now
        data = SmsDelivered(
            sms_id=r.sms_id,
            case_id=r.case_id,
            provider=r.provider,
            provider_message_id=first_id,
            delivered_at=at,
        )
    else:
        data = SmsFailed(
            sms_id=r.sms_id,
            case_id=r.case_id,
            source_event_id=r.source_event_id,
            template=r.template,
            provider=r.provider,
            error=r.error or "failed",
            permanent=True if r.permanent is None else r.permanent,
        )
        at = r.failed_at
    return Envelope(
        id=deterministic_id(f"sms.{kind.value}", r.sms_id),
        source=SOURCE,
        type=data.event_type,
        subject=r.case_id,
        time=at or now,
        correlationid=r.correlationid or r.source_event_id,
        causationid=r.source_event_id,
        data=data,
    )


def in_order(kinds: Iterable[Owed]) -> list[Owed]:
    """Owed events in the order they go out: sent, delivered, failed."""
    wanted = set(kinds)
    return [k for k in OWED_ORDER if k in wanted]


def events_of(r: SmsRecord, kinds: Iterable[Owed], now: datetime) -> list[Envelope]:
    return [sms_event(r, k, now) for k in in_order(kinds)]
