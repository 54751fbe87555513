"""Ledger records and case events for notify's tests, built the way the recorder builds them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from contracts.events import CaseRegistered, CaseStatus, CaseStatusChanged, Citizen, Envelope, make_event
from contracts.tracking_code import from_seed
from services.notify.adapters.template_files import load_templates
from services.notify.domain.ledger import SmsState
from services.notify.domain.messages import apply, intent_for
from services.notify.domain.policy import Decision
from services.notify.domain.records import SmsRecord, new_record
from services.notify.domain.rendering import render

NOW = datetime(2026, 1, 1, 8, 30, tzinfo=UTC)  # 12:00 in Tehran: outside quiet hours
PHONE = "+989121234567"


def registered(case_id: str, phone: str = PHONE, *, at: datetime = NOW) -> Envelope:
    data = CaseRegistered(
        case_id=case_id,
        tracking_code=from_seed(case_id),
        county="mashhad",
        citizen=Citizen(phone=phone),
        subject="قطعی آب",
        description="آب محله از دیروز قطع است",
        registered_at=at,
    )
    return make_event(data, source="/samad/intake", time=at)


def pending_record(
    case_id: str, *, phone: str = PHONE, provider: str = "fake", now: datetime = NOW, **changes: Any
) -> SmsRecord:
    """The pending record of a case's registration SMS, as the recorder writes it."""
    event = registered(case_id, phone, at=now)
    intent = intent_for(event.data, apply(None, event.data), event.time)
    assert intent is not None
    template = load_templates()[intent.template]
    record = new_record(
        event=event,
        intent=intent,
        template=template,
        rendered=render(template, intent.values),
        decision=Decision(SmsState.pending, not_before=now),
        provider=provider,
        now=now,
        replay_run=None,
    )
    return replace(record, **changes) if changes else record


LONG_ANSWER = "لوله اصلی آب محله تعویض شد و فشار آب به حالت عادی بازگشت؛ از صبر شما سپاسگزاریم."


def resolved(case_id: str, answer: str = LONG_ANSWER, *, at: datetime = NOW) -> Envelope:
    data = CaseStatusChanged(case_id=case_id, status=CaseStatus.resolved, answer=answer)
    return make_event(data, source="/samad/tracking", time=at)
