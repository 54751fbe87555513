"""Which case events call for an SMS, and the small projection notify keeps to reach the citizen.

Only ``case.registered`` carries the citizen's phone; later events carry the case id. Notify keeps
case id → phone, tracking code and current agency, built by ``apply`` from the same events it
handles live or in a replay. A ``case.escalated`` names the staff it reaches, each with the phone of
their profile: one SMS to each who has one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from contracts.catalogue import AgencyCode, agency
from contracts.events import (
    CaseEscalated,
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    EventData,
)
from contracts.sealed import Sealed
from services.notify.domain.rendering import MessageValues
from services.notify.domain.templates import TemplateKey


@dataclass(frozen=True)
class CaseContact:
    case_id: str
    phone: str  # empty when sealed: the recorder opens ``phone_sealed`` for the SMS it records
    tracking_code: str
    agency: AgencyCode | None = None
    phone_sealed: Sealed | None = None  # the citizen's phone sealed under their key (docs/privacy.md)


def apply(contact: CaseContact | None, data: EventData) -> CaseContact | None:
    """The projection after one event (pure; the same for live handling and replay)."""
    if isinstance(data, CaseRegistered):
        return CaseContact(
            case_id=data.case_id,
            phone=data.citizen.phone or "",
            tracking_code=data.tracking_code,
            agency=contact.agency if contact else data.operator_agency,
            phone_sealed=data.citizen.phone_sealed,
        )
    if contact is None:
        return None
    if isinstance(data, CaseRouted):
        return replace(contact, agency=data.agency)
    if isinstance(data, CaseStatusChanged) and data.agency is not None:
        return replace(contact, agency=data.agency)
    return contact


STATUS_TEMPLATES: dict[CaseStatus, TemplateKey] = {
    CaseStatus.in_progress: TemplateKey.acknowledged,
    CaseStatus.resolved: TemplateKey.resolved,
    CaseStatus.rejected: TemplateKey.rejected,
    CaseStatus.reopened: TemplateKey.reopened,
    CaseStatus.waiting_for_citizen: TemplateKey.info_requested,
}

CITIZEN_FACING_TYPES = frozenset(
    {CaseRegistered.event_type, CaseRouted.event_type, CaseStatusChanged.event_type}
)
# Every event type that may call for an SMS: the citizen's, and the escalation steps (to staff).
SMS_EVENT_TYPES = CITIZEN_FACING_TYPES | {CaseEscalated.event_type}


@dataclass(frozen=True)
class Intent:
    """An SMS this event calls for: which template, to whom, with which values."""

    template: TemplateKey
    recipient: str
    values: MessageValues


def _agency_fa(code: AgencyCode | None) -> str:
    return agency(code).fa if code is not None else "دستگاه مسئول"


def intents_for(data: EventData, contact: CaseContact | None, moment: datetime) -> list[Intent]:
    """The SMS this event calls for (given the projection after it): the citizen's, or one to each
    person an escalation step reaches who has a phone; none when nobody is told."""
    if isinstance(data, CaseEscalated):
        values = MessageValues(
            tracking_code=data.tracking_code or (contact.tracking_code if contact else data.case_id),
            agency_fa=_agency_fa(data.agency),
            moment=moment,
            late=data.sla.value,
        )
        phones = dict.fromkeys(r.phone for r in data.recipients if r.phone)  # each number once
        return [Intent(TemplateKey.escalated, phone, values) for phone in phones]
    intent = intent_for(data, contact, moment)
    return [intent] if intent is not None else []


def intent_for(data: EventData, contact: CaseContact | None, moment: datetime) -> Intent | None:
    """The citizen's SMS for this event (given the projection after it), or None when the citizen is
    not told."""
    if contact is None:
        return None
    key: TemplateKey | None = None
    answer = reason = question = None
    if isinstance(data, CaseRegistered):
        key = TemplateKey.registered
    elif isinstance(data, CaseRouted):
        key = TemplateKey.routed
    elif isinstance(data, CaseStatusChanged):
        key = STATUS_TEMPLATES.get(data.status)
        answer, reason, question = data.answer, data.reason, data.question
    if key is None:
        return None
    values = MessageValues(
        tracking_code=contact.tracking_code,
        agency_fa=_agency_fa(contact.agency),
        moment=moment,
        answer=answer,
        reason=reason,
        question=question,
    )
    return Intent(key, contact.phone, values)
