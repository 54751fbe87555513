"""What tracking's use cases refuse, beyond the domain's own refusals (access, periods, missing texts)."""

from __future__ import annotations

from services.tracking.domain.projection import Rejection


class CaseNotFound(LookupError):
    """No registered case has this id or tracking code."""


class NoSuchCase(LookupError):
    """The citizen's tracking code and phone do not name a case together (which one was wrong is
    never told)."""


class RateLimited(Exception):
    """Too many lookups from this client; ``wait`` seconds until the next may go ahead."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"wait {wait:.1f}s")
        self.wait = wait


class ActionConflict(Exception):
    """The action does not fit the case's current state (``status_now``): the reason in ``rejection``."""

    def __init__(self, rejection: Rejection, status_now: str | None) -> None:
        super().__init__(rejection.en)
        self.rejection = rejection
        self.status_now = status_now


class NotAColleague(LookupError):
    """The person a case would be assigned to does not work for the agency holding it."""

    def __init__(self, assignee: str, agency: str) -> None:
        super().__init__(f"{assignee} is not on the staff of {agency}")
        self.assignee = assignee
        self.agency = agency


class NotAHead(Exception):
    """Only the head of an agency (and supervisors) have an escalation queue."""
