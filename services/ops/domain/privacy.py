"""The citizen's rights over their personal data, decided: two-person approval of erasure and export,
and the retention policy (docs/privacy.md).

An erasure or an export is asked for by one member of ops and carried out only when a second,
different member of ops approves it. A request names the citizen by their key id (an HMAC of the
phone), never by the phone, so the requests and the audit trail hold no personal data.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# A request not approved within this long lapses; asking again is cheap.
REQUEST_TTL = timedelta(hours=24)
FINISHED = frozenset({"resolved", "rejected", "closed"})


class PrivacyAction(StrEnum):
    erase = "erase"
    export = "export"


class RequestState(StrEnum):
    pending = "pending"
    done = "done"


class NotAllowed(ValueError):
    """The approval is refused: ``reason`` says why, in English (the CLI's audience is ops staff)."""


@dataclass(frozen=True)
class PrivacyRequest:
    id: str
    action: PrivacyAction
    kid: str  # the citizen's key id
    requested_by: str
    requested_at: datetime
    state: RequestState = RequestState.pending
    approved_by: str | None = None
    approved_at: datetime | None = None
    outcome: str | None = None


OPS_ROLE = "ops"


def check_requester(subject: str, roles: Iterable[str]) -> None:
    if OPS_ROLE not in set(roles):
        raise NotAllowed(f"{subject} does not hold the ops role")


def approved(request: PrivacyRequest, approver: str, roles: Iterable[str], now: datetime) -> PrivacyRequest:
    """The request as approved by ``approver``, or NotAllowed: only another member of ops may approve a
    pending request, within its time."""
    check_requester(approver, roles)
    if request.state is not RequestState.pending:
        raise NotAllowed(f"request {request.id} was already carried out")
    if approver == request.requested_by:
        raise NotAllowed("a second person must approve: the requester cannot approve their own request")
    if now - request.requested_at > REQUEST_TTL:
        raise NotAllowed(f"request {request.id} lapsed (older than {REQUEST_TTL}); ask again")
    return replace(request, approved_by=approver, approved_at=now)


@dataclass(frozen=True)
class RetentionPolicy:
    """Personal data of a citizen whose cases all finished more than ``erase_after`` ago is erased."""

    erase_after: timedelta

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RetentionPolicy:
        years = data.get("erase_personal_data_after_closed_years")
        if not isinstance(years, int | float) or isinstance(years, bool) or years <= 0:
            raise ValueError("erase_personal_data_after_closed_years: a positive number of years is required")
        return cls(timedelta(days=365.25 * float(years)))


@dataclass(frozen=True)
class CitizenCase:
    """What retention needs of one case: whose it is, its status and when it finished."""

    kid: str
    status: str | None
    finished_at: datetime | None


def due_for_erasure(cases: Iterable[CitizenCase], now: datetime, policy: RetentionPolicy) -> list[str]:
    """The key ids of citizens every one of whose cases finished before ``now - erase_after``; a
    citizen with any open case (or a finished one without a finish time) is kept."""
    cutoff = now - policy.erase_after
    keep: set[str] = set()
    seen: dict[str, None] = {}
    for case in cases:
        seen.setdefault(case.kid)
        if case.status not in FINISHED or case.finished_at is None or case.finished_at >= cutoff:
            keep.add(case.kid)
    return [kid for kid in seen if kid not in keep]
