"""Event envelope (CloudEvents 1.0, Kafka binding, structured mode) and the v1 event payloads.

Every Kafka message value is one CloudEvents JSON document (``content-type:
application/cloudevents+json``); the Kafka key is the envelope's ``subject`` (the case id, or the call
id for calls), so all events of one case land on one partition in order. Structured mode keeps a
message self-describing when it is dumped to a file, dead-lettered or replayed.

Schemas evolve additively: new optional fields only. A breaking change is a new type
(``ir.samad.case.registered.v2``) and consumers keep accepting the old one.

Personal fields (a phone, a name, a national id, free text by or about the citizen, SMS text) have a
sealed counterpart ``<field>_sealed`` (``contracts/sealed.py``, docs/privacy.md): an event published
with sealing on carries only the sealed form and leaves the plain field empty; events published
before carry the plain form and still decode and replay. ``PERSONAL_FIELDS`` lists them per type.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import from_json

from contracts.catalogue import DEFAULT_PROVINCE, AgencyCode
from contracts.sealed import Sealed
from contracts.topics import CALLS, CASES, NOTIFICATIONS

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
TYPE_PREFIX = "ir.samad."
# Namespace for deterministic ids (uuid5): a retried request yields the same event and case ids.
ID_NAMESPACE = uuid.UUID("6f1c2a4e-1111-5a3d-9c11-5a3ad0000111")


def deterministic_id(*parts: str) -> str:
    return str(uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts)))


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Channel(StrEnum):
    phone = "phone"
    walk_in = "walk_in"
    open311 = "open311"
    web = "web"  # the citizen registered online on the console, their phone proved by a one-time code


class CallOutcome(StrEnum):
    answered = "answered"
    missed = "missed"
    abandoned = "abandoned"


class ActorKind(StrEnum):
    operator = "operator"
    agency_staff = "agency_staff"
    supervisor = "supervisor"
    ops = "ops"
    citizen = "citizen"
    system = "system"


class Actor(_Model):
    kind: ActorKind
    id: str
    agency: AgencyCode | None = None


SYSTEM = Actor(kind=ActorKind.system, id="samad")


class EventData(_Model):
    """Base of every payload. ``event_type`` is the CloudEvents type; ``topic`` where it is published."""

    event_type: ClassVar[str]
    topic: ClassVar[str]


# --- calls ---------------------------------------------------------------------------------------


class CallReceived(EventData):
    event_type: ClassVar[str] = "ir.samad.call.received"
    topic: ClassVar[str] = CALLS

    call_id: str
    province: str = DEFAULT_PROVINCE
    county: str | None = None
    caller_phone: str | None = None  # E.164; None when the caller id was withheld (or sealed)
    caller_phone_sealed: Sealed | None = None
    channel: Channel = Channel.phone
    outcome: CallOutcome
    started_at: AwareDatetime
    duration_seconds: int = Field(ge=0)
    operator_id: str | None = None
    duty_session_id: str | None = None


# --- cases ---------------------------------------------------------------------------------------


class Citizen(_Model):
    """The citizen of a case. Sealed events carry ``phone_sealed`` (whose ``kid`` is the citizen's key
    id, the HMAC of their phone) and no plain phone; old events carry ``phone``."""

    phone: str | None = None  # E.164 mobile
    name: str | None = None
    national_id: str | None = None
    phone_sealed: Sealed | None = None
    name_sealed: Sealed | None = None
    national_id_sealed: Sealed | None = None
    # With the national id sealed: its HMAC under the index key, so staff can still find the
    # citizen's cases by national id without any store holding it.
    national_id_index: str | None = None

    @property
    def key_id(self) -> str | None:
        return self.phone_sealed.kid if self.phone_sealed is not None else None


class CaseRegistered(EventData):
    event_type: ClassVar[str] = "ir.samad.case.registered"
    topic: ClassVar[str] = CASES

    case_id: str
    tracking_code: str
    province: str = DEFAULT_PROVINCE
    county: str
    call_id: str | None = None
    channel: Channel = Channel.phone
    citizen: Citizen
    category: str | None = None
    subject: str
    description: str | None = None  # None only when sealed
    description_sealed: Sealed | None = None
    operator_agency: AgencyCode | None = None
    # Why the operator chose that agency: the routing suggestion accepted (with its confidence), or
    # another agency and the operator's reason.
    agency_reason: str | None = None
    operator_id: str | None = None
    duty_session_id: str | None = None
    registered_at: AwareDatetime
    # When the call this case comes from started (its call.received's started_at), when the registrar
    # knows it: a call log imported days later registers its cases then, and reports count each case in
    # the period of its call, as they count the call itself.
    call_started_at: AwareDatetime | None = None
    # The citizen chose to publish the description (an Open311 submitter may; a case registered by an
    # operator never is). Public feeds show no free text of a case without it.
    public: bool = False


class CaseRepeatCall(EventData):
    """A citizen called again about a problem that already has an open case."""

    event_type: ClassVar[str] = "ir.samad.case.repeat_call"
    topic: ClassVar[str] = CASES

    case_id: str
    tracking_code: str
    call_id: str | None = None
    description: str | None = None  # None only when sealed
    description_sealed: Sealed | None = None
    similarity: float = Field(ge=0, le=1)
    operator_id: str | None = None


class RouteReason(StrEnum):
    operator = "operator"
    classifier = "classifier"
    manual = "manual"
    reroute = "reroute"


class CaseRouted(EventData):
    event_type: ClassVar[str] = "ir.samad.case.routed"
    topic: ClassVar[str] = CASES

    case_id: str
    agency: AgencyCode
    reason: RouteReason
    confidence: float = Field(ge=0, le=1)
    explanation: list[str] = Field(default_factory=list)
    declined_agencies: list[AgencyCode] = Field(default_factory=list)
    live_session: bool = False
    duty_session_id: str | None = None
    actor: Actor = SYSTEM


class Candidate(_Model):
    agency: AgencyCode
    score: float = Field(ge=0, le=1)


class TriageReason(StrEnum):
    low_confidence = "low_confidence"
    declined_twice = "declined_twice"


class CaseTriageRequired(EventData):
    event_type: ClassVar[str] = "ir.samad.case.triage_required"
    topic: ClassVar[str] = CASES

    case_id: str
    reason: TriageReason
    candidates: list[Candidate] = Field(default_factory=list)
    explanation: list[str] = Field(default_factory=list)
    declined_agencies: list[AgencyCode] = Field(default_factory=list)


class CaseRerouteRequested(EventData):
    """An agency answered "not ours"."""

    event_type: ClassVar[str] = "ir.samad.case.reroute_requested"
    topic: ClassVar[str] = CASES

    case_id: str
    agency: AgencyCode
    reason: str | None = Field(default=None, min_length=1)  # None only when sealed
    reason_sealed: Sealed | None = None
    actor: Actor


class CaseStatus(StrEnum):
    registered = "registered"
    routed = "routed"
    triage = "triage"
    in_progress = "in_progress"
    # The agency asked the citizen for more information: its deadlines wait until the citizen answers
    # (a call linked to the case) or staff take the case up again.
    waiting_for_citizen = "waiting_for_citizen"
    resolved = "resolved"
    rejected = "rejected"
    reopened = "reopened"
    closed = "closed"


# Each status as citizens and staff read it (tracking's answers, the console, the errors that name a
# status).
STATUS_FA: dict[str, str] = {
    CaseStatus.registered: "ثبت شده",
    CaseStatus.routed: "ارجاع به دستگاه",
    CaseStatus.triage: "در حال بررسی برای تعیین دستگاه",
    CaseStatus.in_progress: "در حال رسیدگی",
    CaseStatus.waiting_for_citizen: "در انتظار پاسخ شهروند",
    CaseStatus.resolved: "پاسخ داده شده",
    CaseStatus.rejected: "رد شده",
    CaseStatus.reopened: "بازگشایی شده",
    CaseStatus.closed: "بسته شده",
}


class CaseStatusChanged(EventData):
    """A staff action or a timer moved the case: acknowledged, resolved, rejected, reopened, closed."""

    event_type: ClassVar[str] = "ir.samad.case.status_changed"
    topic: ClassVar[str] = CASES

    case_id: str
    status: CaseStatus
    agency: AgencyCode | None = None
    answer: str | None = None  # the public answer to the citizen (resolved)
    reason: str | None = None  # why (rejected, reopened)
    question: str | None = None  # what the citizen is asked (waiting_for_citizen); sent to them by SMS
    # Staff's free text about the citizen, sealed under their key (docs/privacy.md).
    answer_sealed: Sealed | None = None
    reason_sealed: Sealed | None = None
    question_sealed: Sealed | None = None
    actor: Actor = SYSTEM


class CaseNoteAdded(EventData):
    """An internal note: staff only, never shown to the citizen."""

    event_type: ClassVar[str] = "ir.samad.case.note_added"
    topic: ClassVar[str] = CASES

    case_id: str
    text: str | None = Field(default=None, min_length=1)  # None only when sealed
    text_sealed: Sealed | None = None
    actor: Actor


class CaseAssigned(EventData):
    """A member of the agency holding the case takes it, or is given it by a colleague; ``assignee``
    None gives it back to the agency as a whole."""

    event_type: ClassVar[str] = "ir.samad.case.assigned"
    topic: ClassVar[str] = CASES

    case_id: str
    agency: AgencyCode
    assignee: str | None = None  # the staff member's username, as their token names them
    assignee_name: str | None = None
    actor: Actor


class ResumedBy(StrEnum):
    citizen = "citizen"
    staff = "staff"


class CaseResumed(EventData):
    """A case waiting for the citizen goes back to work: staff take it up again without the answer
    (a linked repeat call, the citizen's answer, resumes it by itself)."""

    event_type: ClassVar[str] = "ir.samad.case.resumed"
    topic: ClassVar[str] = CASES

    case_id: str
    agency: AgencyCode
    by: ResumedBy = ResumedBy.staff
    text: str | None = None
    text_sealed: Sealed | None = None
    actor: Actor


class SlaKind(StrEnum):
    acknowledge = "acknowledge"
    resolve = "resolve"


class CaseSlaBreached(EventData):
    event_type: ClassVar[str] = "ir.samad.case.sla_breached"
    topic: ClassVar[str] = CASES

    case_id: str
    agency: AgencyCode
    sla: SlaKind
    deadline: AwareDatetime


class EscalationTarget(StrEnum):
    """Who a late case is escalated to: the head of the agency holding it, then the governorate's
    supervisor (the inspection office)."""

    agency_head = "agency_head"
    supervisor = "supervisor"


class Recipient(_Model):
    """A person an escalation reaches: their username, name and the mobile of their profile (E.164;
    None when the profile has none: the console still shows them the case)."""

    id: str
    name: str | None = None
    phone: str | None = None


class CaseEscalated(EventData):
    """A deadline passed and the case climbed a step of its agency's escalation ladder."""

    event_type: ClassVar[str] = "ir.samad.case.escalated"
    topic: ClassVar[str] = CASES

    case_id: str
    tracking_code: str | None = None
    agency: AgencyCode
    sla: SlaKind
    deadline: AwareDatetime
    level: int = Field(ge=1)  # the step of the ladder, from 1
    to: EscalationTarget
    recipients: list[Recipient] = Field(default_factory=list)


# --- notifications -------------------------------------------------------------------------------


class SmsSent(EventData):
    event_type: ClassVar[str] = "ir.samad.sms.sent"
    topic: ClassVar[str] = NOTIFICATIONS

    sms_id: str
    case_id: str
    source_event_id: str
    template: str
    recipient: str | None = None  # E.164; None only when sealed
    text: str | None = None  # None only when sealed
    recipient_sealed: Sealed | None = None
    text_sealed: Sealed | None = None
    parts: int = Field(ge=1)
    provider: str
    provider_message_id: str | None = None


class SmsDelivered(EventData):
    event_type: ClassVar[str] = "ir.samad.sms.delivered"
    topic: ClassVar[str] = NOTIFICATIONS

    sms_id: str
    case_id: str
    provider: str
    provider_message_id: str | None = None
    delivered_at: AwareDatetime


class SmsFailed(EventData):
    event_type: ClassVar[str] = "ir.samad.sms.failed"
    topic: ClassVar[str] = NOTIFICATIONS

    sms_id: str
    case_id: str
    source_event_id: str
    template: str
    provider: str
    error: str
    permanent: bool


EVENT_TYPES: dict[str, type[EventData]] = {
    m.event_type: m
    for m in (
        CallReceived,
        CaseRegistered,
        CaseRepeatCall,
        CaseRouted,
        CaseTriageRequired,
        CaseRerouteRequested,
        CaseStatusChanged,
        CaseNoteAdded,
        CaseSlaBreached,
        CaseAssigned,
        CaseResumed,
        CaseEscalated,
        SmsSent,
        SmsDelivered,
        SmsFailed,
    )
}


# The personal fields of each event type that have a sealed counterpart (``<path>_sealed``), as
# dotted paths into the payload. Sealing, opening and erasure follow this table.
PERSONAL_FIELDS: dict[type[EventData], tuple[str, ...]] = {
    CallReceived: ("caller_phone",),
    CaseRegistered: ("citizen.phone", "citizen.name", "citizen.national_id", "description"),
    CaseRepeatCall: ("description",),
    # Staff's free text about the citizen: the answer, a reason, the question they are asked, notes.
    CaseStatusChanged: ("answer", "reason", "question"),
    CaseNoteAdded: ("text",),
    CaseResumed: ("text",),
    CaseRerouteRequested: ("reason",),
    SmsSent: ("recipient", "text"),
}


class Envelope(BaseModel):
    """A CloudEvents 1.0 event with SAMAD's extension attributes (correlationid, causationid) and the
    CloudEvents distributed-tracing extension (traceparent, tracestate).

    The trace context travels inside the event, not in a Kafka header, so an event dumped to a file,
    dead-lettered, re-driven or replayed still names the trace it was published in. It is set by the
    publisher when tracing is on (``services.common.tracing``) and absent otherwise.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    specversion: Literal["1.0"] = "1.0"
    id: Annotated[str, Field(min_length=1)]
    source: Annotated[str, Field(min_length=1)]
    type: Annotated[str, Field(pattern=r"^ir\.samad\.[a-z_]+\.[a-z_]+(\.v\d+)?$")]
    subject: Annotated[str, Field(min_length=1)]
    time: AwareDatetime
    datacontenttype: Literal["application/json"] = "application/json"
    correlationid: Annotated[str, Field(min_length=1)]
    causationid: str | None = None
    # W3C Trace Context (CloudEvents distributed-tracing extension): the span that published the event.
    # Not validated beyond its length: a malformed value is ignored by the consumer's tracing (a new
    # trace starts, as W3C Trace Context asks), never a reason to dead-letter the event.
    traceparent: Annotated[str, Field(max_length=128)] | None = None
    tracestate: Annotated[str, Field(max_length=512)] | None = None
    data: EventData

    @property
    def key(self) -> bytes:
        return self.subject.encode()

    @property
    def topic(self) -> str:
        return self.data.topic

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True, serialize_as_any=True).encode()


class EventDecodeError(ValueError):
    """A message that is not a SAMAD event: bad JSON, unknown type or a payload that breaks its schema."""


def subject_of(data: EventData) -> str:
    value = getattr(data, "case_id", None) or getattr(data, "call_id", None)
    if not isinstance(value, str):
        raise TypeError(f"{type(data).__name__} has neither case_id nor call_id")
    return value


def make_event(
    data: EventData,
    *,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
    cause: Envelope | None = None,
    correlationid: str | None = None,
) -> Envelope:
    """Wrap a payload. A caused event inherits the cause's correlation id and names it as causation."""
    eid = event_id or new_id()
    return Envelope(
        id=eid,
        source=source,
        type=data.event_type,
        subject=subject_of(data),
        time=time or utcnow(),
        correlationid=correlationid or (cause.correlationid if cause else eid),
        causationid=cause.id if cause else None,
        data=data,
    )


def decode(raw: bytes | str | dict[str, Any]) -> Envelope:
    """Parse a message value into an envelope with its typed payload, or raise EventDecodeError."""
    try:
        # pydantic-core's parser: several times faster than json.loads on bytes (no encoding sniffing).
        obj: Any = raw if isinstance(raw, dict) else from_json(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventDecodeError(f"not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise EventDecodeError("not a JSON object")
    model = EVENT_TYPES.get(str(obj.get("type")))
    if model is None:
        raise EventDecodeError(f"unknown event type {obj.get('type')!r}")
    try:
        data = model.model_validate(obj.get("data"))
        return Envelope.model_validate({**obj, "data": data})
    except ValidationError as exc:
        raise EventDecodeError(f"{obj.get('type')}: {exc.errors(include_url=False)}") from exc
