"""Intake's own view of cases, rebuilt from the case events, and the repeat-call rule that uses it.

The view is a deterministic function of the log (``apply``), the same for the live consumer and a replay.
It holds just what intake needs: who called about what, which agency holds it, and whether it is open.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from rapidfuzz import fuzz

from contracts.catalogue import AgencyCode
from contracts.events import (
    CaseRegistered,
    CaseRepeatCall,
    CaseResumed,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    CaseTriageRequired,
    Channel,
    Envelope,
)
from contracts.persian import matching_form
from contracts.sealed import Sealed

# A case in one of these states is finished: a new call about the same problem is a new case.
FINISHED = frozenset({CaseStatus.resolved.value, CaseStatus.rejected.value, CaseStatus.closed.value})


@dataclass(frozen=True)
class CaseView:
    case_id: str
    tracking_code: str
    # The citizen: their phone, or (events sealed, docs/privacy.md) their key id, the HMAC of the
    # phone; a repeat call is looked up by the same form, so the view never holds a sealed phone.
    phone: str
    province: str
    county: str
    channel: str
    subject: str
    description: str
    category: str | None
    operator_agency: AgencyCode | None
    agency: AgencyCode | None
    status: str
    status_notes: str | None
    registered_at: datetime
    updated_at: datetime
    public: bool = False  # the submitter chose to publish the description (Open311 only)
    # The description sealed under the citizen's key (``description`` is then empty); opened by the
    # use cases that compare or publish it.
    description_sealed: Sealed | None = None

    @property
    def open(self) -> bool:
        return self.status not in FINISHED

    @property
    def responsible_agency(self) -> AgencyCode | None:
        return self.agency or self.operator_agency


def apply(view: CaseView | None, event: Envelope) -> CaseView | None:
    """The view after one event. Events for a case not seen (yet) leave it absent."""
    data = event.data
    if isinstance(data, CaseRegistered):
        if view is not None:
            return view
        return CaseView(
            case_id=data.case_id,
            tracking_code=data.tracking_code,
            phone=data.citizen.phone or data.citizen.key_id or "",
            province=data.province,
            county=data.county,
            channel=data.channel.value,
            subject=data.subject,
            description=data.description or "",
            description_sealed=data.description_sealed,
            category=data.category,
            operator_agency=data.operator_agency,
            agency=None,
            status=CaseStatus.registered.value,
            status_notes=None,
            registered_at=data.registered_at,
            updated_at=data.registered_at,
            public=data.public and data.channel == Channel.open311,
        )
    if view is None:
        return None
    if isinstance(data, CaseRouted):
        status = view.status if not view.open else CaseStatus.routed.value
        return replace(view, agency=data.agency, status=status, updated_at=event.time)
    if isinstance(data, CaseTriageRequired):
        return replace(view, status=CaseStatus.triage.value, updated_at=event.time)
    if isinstance(data, CaseStatusChanged):
        return replace(
            view,
            status=data.status.value,
            agency=data.agency or view.agency,
            status_notes=data.answer or data.reason or view.status_notes,
            updated_at=event.time,
        )
    if isinstance(data, CaseResumed | CaseRepeatCall) and view.status == CaseStatus.waiting_for_citizen.value:
        # Back to work after waiting for the citizen (their call back, or staff going on without it).
        return replace(view, status=CaseStatus.in_progress.value, updated_at=event.time)
    return view


RELEVANT_TYPES = frozenset(
    {
        CaseRegistered.event_type,
        CaseRouted.event_type,
        CaseTriageRequired.event_type,
        CaseStatusChanged.event_type,
        CaseResumed.event_type,
        CaseRepeatCall.event_type,
    }
)


@dataclass(frozen=True)
class RepeatPolicy:
    window: timedelta = timedelta(days=30)
    threshold: float = 0.85  # token-sorted similarity of the descriptions, 0..1


@dataclass(frozen=True)
class Repeat:
    case: CaseView
    similarity: float


def similarity(a: str, b: str) -> float:
    """How alike two descriptions are, 0..1, after Persian normalisation and ignoring word order."""
    return round(fuzz.token_sort_ratio(matching_form(a), matching_form(b)) / 100.0, 4)


def find_repeat(
    *,
    phone: str,
    agency: AgencyCode | None,
    description: str,
    candidates: Iterable[CaseView],
    now: datetime,
    policy: RepeatPolicy,
    exclude_case_id: str | None = None,
) -> Repeat | None:
    """The open case this new report repeats: same phone, same agency, near-identical description, recent.

    When the operator named no agency, or the earlier case is not routed yet, the agency cannot differ
    by choice: routing reads the text, and near-identical text goes to the same agency.
    """
    best: Repeat | None = None
    for case in candidates:
        if case.case_id == exclude_case_id or case.phone != phone or not case.open:
            continue
        if case.registered_at < now - policy.window:
            continue
        held_by = case.responsible_agency
        if agency is not None and held_by is not None and held_by != agency:
            continue
        score = similarity(description, case.description)
        if score < policy.threshold:
            continue
        if (
            best is None
            or score > best.similarity
            or (score == best.similarity and case.registered_at > best.case.registered_at)
        ):
            best = Repeat(case, score)
    return best
