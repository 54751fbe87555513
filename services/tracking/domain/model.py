"""The case document: what tracking knows about one case, projected from its events.

The document is a deterministic function of the case's events: its fields depend only on the order of
the case's own events on the cases topic (one partition, in order), never on how they interleave with
its SMS events from the notifications topic, on batch boundaries or on redeliveries. ``n`` counts the
applied events and serves as the compare-and-set token of the single-document update that stores it.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from contracts.events import CaseStatus
from contracts.sealed import Sealed

OPEN_AT_AGENCY = frozenset(
    {CaseStatus.routed, CaseStatus.in_progress, CaseStatus.reopened, CaseStatus.waiting_for_citizen}
)
# The agency holds the case and its clock runs: every state open at the agency but waiting for the
# citizen, whose deadlines stand still until the case resumes.
CLOCK_RUNNING = frozenset({CaseStatus.routed, CaseStatus.in_progress, CaseStatus.reopened})
AWAITING_ACK = frozenset({CaseStatus.routed, CaseStatus.reopened})
FINISHED = frozenset({CaseStatus.resolved, CaseStatus.rejected, CaseStatus.closed})


def _without_none(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: (_without_none(v) if isinstance(v, dict) else v) for k, v in entry.items() if v is not None}


class _Doc(BaseModel):
    model_config = ConfigDict(extra="ignore", use_enum_values=True, populate_by_name=True)


class ActorRef(_Doc):
    kind: str
    id: str
    agency: str | None = None


class TimelineEntry(_Doc):
    """One event as the case saw it: applied or rejected, with its time, actor and text."""

    event_id: str
    type: str
    time: datetime
    actor: ActorRef | None = None
    text: str = ""
    public: bool = False  # shown to the citizen on the status page
    status: CaseStatus | None = None  # the status after this event, when it changed it
    agency: str | None = None
    rejected: bool = False
    rejection: str | None = None  # a code, e.g. illegal_transition
    rejection_fa: str | None = None
    rejection_en: str | None = None
    # A personal text sealed under the citizen's key (a repeat call's description), shown after
    # ``text`` once opened for staff (docs/privacy.md).
    sealed: Sealed | None = None
    # The field ``sealed`` was sealed for (None: a repeat call's ``description``, as stored before).
    sealed_field: str | None = None
    # The event's payload. Stored as one JSON string: FerretDB writes a flat string several times
    # faster than a nested document, and nothing queries inside it.
    data: dict[str, Any] = Field(default_factory=dict)

    @field_validator("data", mode="before")
    @classmethod
    def _data_from_text(cls, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value


# How a timeline entry's text runs into the staff text it quotes (default ": "); a note is the quote alone.
_QUOTE_SEPARATORS = {"case.note_added": "", "case.reroute_requested": " — "}


def with_quote(entry: TimelineEntry, quote: str) -> str:
    """The entry's text ending with ``quote`` (staff's free text, or a repeat call's description)."""
    sep = next((v for k, v in _QUOTE_SEPARATORS.items() if entry.type.endswith(k)), ": ")
    return f"{entry.text}{sep}{quote}" if entry.text or not sep else quote


class HoldingOutcome(StrEnum):
    holding = "holding"
    declined = "declined"
    moved = "moved"
    resolved = "resolved"
    rejected = "rejected"


class Holding(_Doc):
    """One agency's turn with the case: re-routing keeps every one of them."""

    agency: str
    event_id: str
    reason: str
    received_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    acknowledge_due: datetime | None = None
    resolve_due: datetime | None = None
    acknowledge_breached: bool = False
    resolve_breached: bool = False
    outcome: HoldingOutcome = HoldingOutcome.holding
    left_at: datetime | None = None
    note: str | None = None
    note_sealed: Sealed | None = None  # the reason staff gave, sealed under the citizen's key


class Due(_Doc):
    """The deadlines in force now. ``next`` is the earliest pending one (acknowledge, then resolve);
    none while the case waits for the citizen (``paused_at``). ``escalate``: when the case climbs the
    next step of its escalation ladder."""

    acknowledge: datetime | None = None
    resolve: datetime | None = None
    next: datetime | None = None
    close: datetime | None = None
    acknowledge_breached: bool = False
    resolve_breached: bool = False
    escalate: datetime | None = None
    paused_at: datetime | None = None


class Assignee(_Doc):
    """The staff member of the holding agency who works the case."""

    id: str
    name: str | None = None
    since: datetime
    by: str | None = None


class Waiting(_Doc):
    """The agency asked the citizen: what, when, and the status the case goes back to."""

    question: str = ""  # empty when sealed
    question_sealed: Sealed | None = None
    since: datetime
    by: str | None = None


class EscalationStep(_Doc):
    level: int
    to: str  # agency_head | supervisor
    at: datetime
    event_id: str
    recipients: list[str] = Field(default_factory=list)  # usernames (their phones stay in the event log)


class Escalation(_Doc):
    """A late case on its agency's escalation ladder: which deadlines were missed, how far it climbed.
    ``active`` until the agency does what was late (or the case leaves it)."""

    agency: str
    slas: list[str] = Field(default_factory=list)  # acknowledge, resolve: the deadlines missed
    deadline: datetime
    breached_at: datetime
    level: int = 0
    reached: list[str] = Field(default_factory=list)  # the targets it reached, in order
    steps: list[EscalationStep] = Field(default_factory=list)
    active: bool = True
    settled_at: datetime | None = None


class CitizenInfo(_Doc):
    """The citizen: in plain form from old events; sealed (docs/privacy.md) with their key id and the
    national id's lookup key from new ones, opened only when shown to staff."""

    phone: str | None = None
    name: str | None = None
    national_id: str | None = None
    key_id: str | None = None
    national_id_index: str | None = None
    phone_sealed: Sealed | None = None
    name_sealed: Sealed | None = None
    national_id_sealed: Sealed | None = None


class Candidate(_Doc):
    agency: str
    score: float


class TriageInfo(_Doc):
    reason: str
    candidates: list[Candidate] = Field(default_factory=list)
    since: datetime


class SmsStatus(StrEnum):
    sent = "sent"
    delivered = "delivered"
    failed = "failed"


class SmsRecord(_Doc):
    sms_id: str
    first_at: datetime
    status: SmsStatus
    template: str | None = None
    recipient: str | None = None
    parts: int | None = None
    provider: str | None = None
    source_event_id: str | None = None
    sent_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    error: str | None = None
    permanent: bool | None = None


class Case(_Doc):
    id: str = Field(alias="_id")
    n: int = 0
    status: CaseStatus | None = None  # None: events arrived before the case's registration
    tracking_code: str | None = None
    province: str | None = None
    county: str | None = None
    channel: str | None = None
    call_id: str | None = None
    citizen: CitizenInfo | None = None
    category: str | None = None
    subject: str | None = None
    description: str | None = None
    description_sealed: Sealed | None = None
    operator_id: str | None = None
    operator_agency: str | None = None
    duty_session_id: str | None = None
    live_session: bool = False
    registered_at: datetime | None = None
    # When the call the case comes from started, when the registration said (an imported call log
    # registers its cases long after the calls): period reports count the case then (``reported_at``).
    call_started_at: datetime | None = None
    status_changed_at: datetime | None = None
    agency: str | None = None
    agencies: list[Holding] = Field(default_factory=list)
    declined_agencies: list[str] = Field(default_factory=list)
    reroute_pending: bool = False
    triage: TriageInfo | None = None
    referred: bool = False
    first_routed_at: datetime | None = None
    acknowledged_at: datetime | None = None
    resolved_at: datetime | None = None
    rejected_at: datetime | None = None
    reopened_at: datetime | None = None
    closed_at: datetime | None = None
    reopen_count: int = 0
    answer: str | None = None
    rejection_reason: str | None = None
    reopen_reason: str | None = None
    # Sealed under the citizen's key when staff's text was (docs/privacy.md); opened only to show it.
    answer_sealed: Sealed | None = None
    rejection_reason_sealed: Sealed | None = None
    reopen_reason_sealed: Sealed | None = None
    due: Due = Field(default_factory=Due)
    assignee: Assignee | None = None
    waiting: Waiting | None = None
    waited_seconds: float = 0.0  # time spent waiting for the citizen at the current agency
    escalation: Escalation | None = None
    repeat_calls: int = 0
    sms: list[SmsRecord] = Field(default_factory=list)
    timeline: list[TimelineEntry] = Field(default_factory=list)
    rejected_events: int = 0
    updated_at: datetime | None = None

    @classmethod
    def empty(cls, case_id: str) -> Case:
        return cls.model_validate({"_id": case_id})

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Case:
        return cls.model_validate(doc)

    def to_document(self) -> dict[str, Any]:
        doc = self.model_dump(by_alias=True, mode="python")
        for entry in doc["timeline"]:
            entry["data"] = json.dumps(entry["data"], ensure_ascii=False, sort_keys=True)
        # The lists' entries leave out their unset (None) fields: most of them are unset, and FerretDB's
        # write cost grows with the number of fields (a rebuild inserts about a quarter more documents
        # per second). Reading a document back gives the same model: None is every such field's default.
        for name in ("timeline", "sms", "agencies"):
            doc[name] = [_without_none(entry) for entry in doc[name]]
        return doc

    @property
    def registered(self) -> bool:
        return self.status is not None

    @property
    def reported_at(self) -> datetime | None:
        """When the citizen reported the problem, the time period reports count the case at: the start
        of the call it comes from, else its registration (the same clock as the calls' counts)."""
        return self.call_started_at or self.registered_at

    def applied_ids(self) -> set[str]:
        return {entry.event_id for entry in self.timeline}

    def current_holding(self) -> Holding | None:
        if self.agency is None:
            return None
        for holding in reversed(self.agencies):
            if holding.agency == self.agency:
                return holding
        return None

    def is_overdue(self, now: datetime) -> bool:
        """Past a pending deadline (acknowledge or resolve) while the agency holds the case."""
        return self.status in OPEN_AT_AGENCY and self.due.next is not None and self.due.next < now
