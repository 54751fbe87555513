"""Who may see and do what in tracking: agency scoping of cases, queues and reports; roles per action.

Roles are the names the bearer token carries (operator, agency_staff, supervisor, ops). Agency staff
work for one agency and see only what it holds; every other role sees every agency.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.tracking.domain.actions import ACTION_ROLES, ActionKind, may_take

AGENCY_STAFF = "agency_staff"


@dataclass(frozen=True)
class Staff:
    """The person asking: their role, who they are, and (for agency staff) the agency they work for."""

    role: str
    subject: str = ""
    agency: str | None = None
    head: bool = False  # heads their agency: its escalations reach them
    name: str | None = None

    def sees(self, agency: str | None) -> bool:
        """Agency staff see only what their own agency holds; a case no agency holds is not theirs."""
        if self.role == AGENCY_STAFF:
            return agency is not None and agency == self.agency
        return True


class OtherAgency(Exception):
    """An agency's staff reached for another agency's case, queue or report."""


class ActionForbidden(Exception):
    """The role may not take this action on any case."""

    def __init__(self, kind: ActionKind, allowed: list[str]) -> None:
        super().__init__(f"only {', '.join(allowed)} may {kind.value}")
        self.kind = kind
        self.allowed = allowed


def check_agency(staff: Staff, agency: str | None) -> None:
    """Raise OtherAgency when ``staff`` may not see what ``agency`` holds."""
    if not staff.sees(agency):
        raise OtherAgency(agency)


def check_action(staff: Staff, kind: ActionKind) -> None:
    """Raise ActionForbidden when the staff member's role may not take ``kind`` (see ACTION_ROLES)."""
    if not may_take(staff.role, kind):
        raise ActionForbidden(kind, sorted(ACTION_ROLES[kind]))


def report_agency(staff: Staff, requested: str | None) -> str | None:
    """The agency a per-agency report covers: the one asked for (None: every agency). Agency staff
    always get exactly their own, whether or not they name it; naming another is refused."""
    if staff.role != AGENCY_STAFF:
        return requested
    check_agency(staff, requested or staff.agency)
    return staff.agency
