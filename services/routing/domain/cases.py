"""A case as routing keeps it (its text, the agencies that declined, every hop) and the rules that read it.

Each hop keeps the exact event published for it, keyed by its cause event id: a cause seen again is
answered with the stored event instead of being decided again. A manual decision's event is owed until
Kafka has it (``OwedEvent``): the rules below say when the re-publisher publishes it, waits, or drops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from contracts.catalogue import AgencyCode
from contracts.sealed import Sealed


@dataclass(frozen=True)
class Hop:
    cause_id: str
    event_id: str
    event_type: str
    event_json: str  # the envelope exactly as published, so a redelivery republishes the same bytes
    agency: AgencyCode | None
    reason: str
    at: datetime


@dataclass(frozen=True)
class CaseRecord:
    case_id: str
    province: str
    subject: str
    description: str
    category: str | None
    operator_agency: AgencyCode | None
    registered_at: datetime
    registered_event_id: str | None
    duty_session_id: str | None = None
    status: str = "new"  # routed | triage
    agency: AgencyCode | None = None
    declined: tuple[AgencyCode, ...] = ()
    hops: tuple[Hop, ...] = ()
    ignored_causes: tuple[str, ...] = ()
    # The description sealed under the citizen's key (docs/privacy.md; ``description`` is then empty):
    # opened to classify, never stored in clear.
    description_sealed: Sealed | None = None

    @property
    def text(self) -> str:
        return f"{self.subject}\n{self.description}".strip()

    def hop_for(self, cause_id: str) -> Hop | None:
        return next((h for h in self.hops if h.cause_id == cause_id), None)

    @property
    def last_hop(self) -> Hop | None:
        return self.hops[-1] if self.hops else None


def unseen_case(case_id: str, province: str, at: datetime) -> CaseRecord:
    """The record for a decline of a case routing never saw (registered before routing kept cases, or
    its registration was lost): it has no text, so re-routing finds no candidate and a person decides."""
    return CaseRecord(
        case_id=case_id,
        province=province,
        subject="",
        description="",
        category=None,
        operator_agency=None,
        registered_at=at,
        registered_event_id=None,
    )


def already_answered(record: CaseRecord, cause_id: str) -> bool:
    """The cause was handled before: it has a hop, or it was a decline that needed none."""
    return record.hop_for(cause_id) is not None or cause_id in record.ignored_causes


def stored_answer(record: CaseRecord, cause_id: str, replay: bool) -> Hop | None:
    """What to publish again for a cause seen before: its stored hop's event, except in a replay run,
    which rebuilds nothing and publishes nothing already published."""
    if replay:
        return None
    return record.hop_for(cause_id)


def stale_decline(record: CaseRecord, declining: AgencyCode) -> bool:
    """A decline from an agency that no longer has the case (it was already moved on): it only counts
    as declined and moves nothing."""
    return record.status == "routed" and record.agency is not None and record.agency != declining


def waiting_for_triage(record: CaseRecord) -> bool:
    return record.status == "triage"


def repeated_decision(record: CaseRecord, chosen: AgencyCode) -> Hop | None:
    """The manual decision that already routed the case, if it chose this agency: the same decision sent
    twice (a retried request) is answered with the same event."""
    last = record.last_hop
    if last is not None and last.reason == "manual" and last.agency == chosen:
        return last
    return None


def decision_for(record: CaseRecord, cause_id: str, chosen: AgencyCode) -> Hop | None:
    """The hop answering this cause, if it routed to this agency (another request stored it first)."""
    hop = record.hop_for(cause_id)
    return hop if hop is not None and hop.agency == chosen else None


@dataclass(frozen=True)
class OwedEvent:
    """The event of a manual decision that Kafka may not have yet. Recorded before the decision is stored
    and struck off once the event is published, so no stored decision is left without it."""

    event_id: str
    case_id: str
    cause_id: str  # the case.triage_required event the decision answers
    since: datetime


def owed_due(owed: OwedEvent, now: datetime, grace: timedelta) -> bool:
    """Whether the re-publisher takes it now: the request that recorded it has had ``grace`` to publish."""
    return owed.since <= now - grace


def owed_hop(record: CaseRecord | None, owed: OwedEvent) -> Hop | None:
    """The stored decision whose event is owed, to publish exactly as stored (same id, same bytes)."""
    hop = record.hop_for(owed.cause_id) if record is not None else None
    return hop if hop is not None and hop.event_id == owed.event_id else None


def owed_awaited(record: CaseRecord | None, owed: OwedEvent) -> bool:
    """The decision is not stored yet but may still be: the case still waits in triage on the same
    cause (a request stalled between recording the debt and storing the decision). Otherwise the
    decision was never stored (the case moved on, or is unknown) and nothing is owed."""
    last = record.last_hop if record is not None else None
    return (
        record is not None
        and waiting_for_triage(record)
        and last is not None
        and last.event_id == owed.cause_id
    )
