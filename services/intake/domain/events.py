"""The events intake publishes, built from validated input, the ids derived from the Idempotency-Key
and, for a new case, the tracking code drawn for it."""

from __future__ import annotations

from datetime import datetime

from contracts.events import (
    CallReceived,
    CaseRegistered,
    CaseRepeatCall,
    Channel,
    Citizen,
    Envelope,
    make_event,
)
from services.intake.domain.cases import Repeat
from services.intake.domain.ids import CallIds, CaseIds
from services.intake.domain.requests import CallIn, CaseIn

SOURCE = "/samad/intake"


def call_received(call: CallIn, ids: CallIds, *, operator_id: str | None, now: datetime) -> Envelope:
    data = CallReceived(
        call_id=ids.call_id,
        province=call.province,
        county=call.county,
        caller_phone=call.caller_phone,
        channel=Channel(call.channel),
        outcome=call.outcome,
        started_at=call.started_at,
        duration_seconds=call.duration_seconds,
        operator_id=operator_id,
        duty_session_id=call.duty_session_id,
    )
    return make_event(data, source=SOURCE, event_id=ids.event_id, time=now)


def case_registered(
    case: CaseIn,
    ids: CaseIds,
    *,
    tracking_code: str,
    operator_id: str | None,
    now: datetime,
    channel: Channel | None = None,
    public: bool = False,
    call_started_at: datetime | None = None,
) -> Envelope:
    """``public``: the submitter chose to publish the description; only an Open311 request can be.
    ``call_started_at``: when the call the case comes from started, when known (an imported log)."""
    channel = channel or Channel(case.channel)
    data = CaseRegistered(
        case_id=ids.case_id,
        tracking_code=tracking_code,
        province=case.province,
        county=case.county,
        call_id=case.call_id,
        channel=channel,
        citizen=Citizen(phone=case.phone, name=case.name, national_id=case.national_id),
        category=case.category,
        subject=case.subject,
        description=case.description,
        operator_agency=case.agency,
        agency_reason=case.agency_reason,
        operator_id=operator_id,
        duty_session_id=case.duty_session_id,
        registered_at=now,
        call_started_at=call_started_at if case.call_id is not None else None,
        public=public and channel == Channel.open311,
    )
    return make_event(data, source=SOURCE, event_id=ids.registered_event_id, time=now)


def repeat_call(
    case: CaseIn, ids: CaseIds, repeat: Repeat, *, operator_id: str | None, now: datetime
) -> Envelope:
    data = CaseRepeatCall(
        case_id=repeat.case.case_id,
        tracking_code=repeat.case.tracking_code,
        call_id=case.call_id,
        description=case.description,
        similarity=repeat.similarity,
        operator_id=operator_id,
    )
    return make_event(data, source=SOURCE, event_id=ids.repeat_event_id, time=now)
