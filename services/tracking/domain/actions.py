"""Staff actions on a case and the events they become; timer events (SLA breaches, escalation steps,
closing).

An action is validated by the same state machine that applies its event, so the API's 409 and the
consumer's rejection can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from contracts.catalogue import AgencyCode
from contracts.events import (
    SYSTEM,
    Actor,
    ActorKind,
    CaseAssigned,
    CaseEscalated,
    CaseNoteAdded,
    CaseRerouteRequested,
    CaseResumed,
    CaseSlaBreached,
    CaseStatus,
    CaseStatusChanged,
    EscalationTarget,
    EventData,
    Recipient,
    ResumedBy,
    SlaKind,
    deterministic_id,
    new_id,
)
from services.tracking.domain.model import Case
from services.tracking.domain.projection import Rejection, illegal


class ActionKind(StrEnum):
    acknowledge = "acknowledge"
    resolve = "resolve"
    reject = "reject"
    reroute = "reroute"  # "not ours": routing names the next agency
    note = "note"
    reopen = "reopen"
    assign = "assign"  # to a colleague of the agency holding the case (or to nobody)
    ask = "ask"  # ask the citizen for more information: the case waits, its deadlines stand still
    resume = "resume"  # go on without the citizen's answer


# Who may do what (role names as in the bearer token). Agency staff act only on their own agency's
# cases; operators take a citizen's call to reopen or annotate; supervisors may do everything;
# ops (platform operators) read but do not act on cases.
ACTION_ROLES: dict[ActionKind, frozenset[str]] = {
    ActionKind.acknowledge: frozenset({"agency_staff", "supervisor"}),
    ActionKind.resolve: frozenset({"agency_staff", "supervisor"}),
    ActionKind.reject: frozenset({"agency_staff", "supervisor"}),
    ActionKind.reroute: frozenset({"agency_staff", "supervisor"}),
    ActionKind.note: frozenset({"agency_staff", "supervisor", "operator"}),
    ActionKind.reopen: frozenset({"operator", "supervisor"}),
    ActionKind.assign: frozenset({"agency_staff", "supervisor"}),
    ActionKind.ask: frozenset({"agency_staff", "supervisor"}),
    ActionKind.resume: frozenset({"agency_staff", "supervisor"}),
}


@dataclass(frozen=True)
class ActionRequest:
    kind: ActionKind
    # the answer (resolve), the question (ask), the reason (reject, reroute, reopen, resume) or the note
    text: str | None = None
    assignee: str | None = None  # assign: the colleague's username (None: nobody)
    assignee_name: str | None = None  # their name, as the directory knows it


class ActionRefused(Exception):
    """The action is not allowed in the case's current state."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.en)
        self.rejection = rejection


class MissingText(ValueError):
    """The action needs an answer, a reason or a note text."""


NEEDS_TEXT = frozenset(
    {ActionKind.resolve, ActionKind.reject, ActionKind.reroute, ActionKind.note, ActionKind.ask}
)
# The request field that carries each action's text: the public answer of a resolve, the internal text
# of a note, the reason of everything else (an acknowledge carries none that is used).
TEXT_FIELD: dict[ActionKind, str] = {
    ActionKind.acknowledge: "reason",
    ActionKind.resolve: "answer",
    ActionKind.reject: "reason",
    ActionKind.reroute: "reason",
    ActionKind.note: "text",
    ActionKind.reopen: "reason",
    ActionKind.assign: "assignee",
    ActionKind.ask: "question",
    ActionKind.resume: "reason",
}


def may_take(role: str, kind: ActionKind) -> bool:
    """Whether a role (as named in the bearer token) may take this action at all."""
    return role in ACTION_ROLES[kind]


def status_after(kind: ActionKind, data: EventData, current: str | None) -> CaseStatus | None:
    """The case's status once the action's event is applied: what a status change sets; registered
    after a re-route request (the case waits for routing to name the next agency); unchanged after a
    note."""
    status = getattr(data, "status", None)
    if status:
        return CaseStatus(status)
    if kind == ActionKind.reroute:
        return CaseStatus.registered
    if kind == ActionKind.resume:
        return CaseStatus.in_progress
    return CaseStatus(current) if current is not None else None


def action_event_id(case_id: str, idempotency_key: str | None, principal: str) -> str:
    """A retried request with the same Idempotency-Key produces the same event (deduplicated)."""
    if idempotency_key:
        return deterministic_id("tracking.action", case_id, principal, idempotency_key)
    return new_id()


def action_data(case: Case, request: ActionRequest, actor: Actor) -> EventData:
    """The event payload an action publishes on the case's current state."""
    text = (request.text or "").strip() or None
    if request.kind in NEEDS_TEXT and text is None:
        raise MissingText(request.kind)
    agency = AgencyCode(case.agency) if case.agency else None
    if request.kind == ActionKind.acknowledge:
        return CaseStatusChanged(case_id=case.id, status=CaseStatus.in_progress, agency=agency, actor=actor)
    if request.kind == ActionKind.resolve:
        return CaseStatusChanged(
            case_id=case.id, status=CaseStatus.resolved, agency=agency, answer=text, actor=actor
        )
    if request.kind == ActionKind.reject:
        return CaseStatusChanged(
            case_id=case.id, status=CaseStatus.rejected, agency=agency, reason=text, actor=actor
        )
    if request.kind == ActionKind.reopen:
        return CaseStatusChanged(
            case_id=case.id, status=CaseStatus.reopened, agency=agency, reason=text, actor=actor
        )
    if request.kind == ActionKind.ask:
        return CaseStatusChanged(
            case_id=case.id, status=CaseStatus.waiting_for_citizen, agency=agency, question=text, actor=actor
        )
    if request.kind in (ActionKind.reroute, ActionKind.assign, ActionKind.resume) and agency is None:
        names = {
            ActionKind.reroute: ("درخواست ارجاع مجدد", "A re-route request"),
            ActionKind.assign: ("واگذاری پرونده", "Assigning"),
            ActionKind.resume: ("ادامهٔ رسیدگی", "Resuming"),
        }
        raise ActionRefused(illegal(case, *names[request.kind]))
    if request.kind == ActionKind.reroute:
        assert agency is not None
        return CaseRerouteRequested(case_id=case.id, agency=agency, reason=text or "", actor=actor)
    if request.kind == ActionKind.assign:
        assert agency is not None
        assignee = (request.assignee or "").strip() or None
        return CaseAssigned(
            case_id=case.id,
            agency=agency,
            assignee=assignee,
            assignee_name=request.assignee_name if assignee else None,
            actor=actor,
        )
    if request.kind == ActionKind.resume:
        assert agency is not None
        return CaseResumed(case_id=case.id, agency=agency, by=ResumedBy.staff, text=text, actor=actor)
    return CaseNoteAdded(case_id=case.id, text=text or "", actor=actor)


def actor_for(role: str, subject: str, agency: str | None) -> Actor:
    return Actor(kind=ActorKind(role), id=subject, agency=AgencyCode(agency) if agency else None)


# --- timers --------------------------------------------------------------------------------------


def breach_event_id(case_id: str, kind: SlaKind, deadline: datetime) -> str:
    return deterministic_id("tracking.sla_breached", case_id, kind.value, deadline.isoformat())


def breach_data(case: Case, kind: SlaKind) -> CaseSlaBreached | None:
    deadline = case.due.acknowledge if kind == SlaKind.acknowledge else case.due.resolve
    if deadline is None or case.agency is None:
        return None
    return CaseSlaBreached(case_id=case.id, agency=AgencyCode(case.agency), sla=kind, deadline=deadline)


def escalation_event_id(case: Case) -> str | None:
    """The next step of the case's escalation: the same id however often (or by whichever replica)
    it is computed. Named by the deadline whose breach started the ladder (as the breach's own id
    is), never by a time of the sweep, so two replicas sweeping at once claim the same step."""
    escalation = case.escalation
    if escalation is None or not escalation.active:
        return None
    return deterministic_id(
        "tracking.escalated", case.id, escalation.deadline.isoformat(), str(escalation.level + 1)
    )


def escalation_data(case: Case, to: EscalationTarget, recipients: list[Recipient]) -> CaseEscalated | None:
    """The next step of the case's escalation ladder, reaching ``recipients``."""
    escalation = case.escalation
    if escalation is None or not escalation.active or case.agency is None:
        return None
    # The latest deadline missed, the one to name (a case late to acknowledge may be late to resolve
    # by now as well).
    sla = SlaKind(escalation.slas[-1]) if escalation.slas else SlaKind.acknowledge
    missed = case.due.acknowledge if sla == SlaKind.acknowledge else case.due.resolve
    return CaseEscalated(
        case_id=case.id,
        tracking_code=case.tracking_code,
        agency=AgencyCode(case.agency),
        sla=sla,
        deadline=missed or escalation.deadline,
        level=escalation.level + 1,
        to=to,
        recipients=recipients,
    )


def close_event_id(case: Case) -> str:
    since = case.status_changed_at.isoformat() if case.status_changed_at else ""
    return deterministic_id("tracking.close", case.id, str(case.status), since)


def close_data(case: Case) -> CaseStatusChanged:
    agency = AgencyCode(case.agency) if case.agency else None
    return CaseStatusChanged(
        case_id=case.id,
        status=CaseStatus.closed,
        agency=agency,
        reason="پایان مهلت اعتراض شهروند",
        actor=SYSTEM,
    )
