"""Who is signed in, as the console keeps it in the session: what the identity provider's token says."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.console.domain.display import ROLE_FA

STAFF_ROLES = frozenset({"operator", "agency_staff", "supervisor", "ops"})
# Who may sit at the operator's desk: operators and directors-general on duty (supervisors).
DESK_ROLES = frozenset({"operator", "supervisor"})


@dataclass(frozen=True)
class User:
    subject: str
    name: str
    role: str
    agency: str | None = None
    province: str | None = None
    # Heads their agency (realm role agency_head beside agency_staff): its late cases reach them.
    agency_head: bool = False

    @property
    def role_fa(self) -> str:
        return ROLE_FA.get(self.role, self.role)

    @property
    def at_desk(self) -> bool:
        return self.role in DESK_ROLES

    @property
    def in_agency(self) -> bool:
        """Works one agency's cases: their inbox."""
        return self.role == "agency_staff" and bool(self.agency)

    @property
    def follows_escalations(self) -> bool:
        """Late cases reach them: an agency's head, the governorate's supervisor."""
        return (self.in_agency and self.agency_head) or self.role == "supervisor"

    def to_session(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_session(cls, data: dict[str, Any] | None) -> User | None:
        if not data or not data.get("subject"):
            return None
        return cls(
            subject=str(data["subject"]),
            name=str(data.get("name") or data["subject"]),
            role=str(data.get("role")),
            agency=data.get("agency"),
            province=data.get("province"),
            agency_head=bool(data.get("agency_head")),
        )
