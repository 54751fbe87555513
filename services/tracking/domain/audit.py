"""The read audit: who read which case's personal data, when, from where, why, and whether they saw it.

A record names the reader (username and role), the case (by id), the client address (as tracking
derives it behind trusted proxies), the endpoint and the console screen that asked, and whether the
personal fields were shown or masked. It holds no personal data itself: no phone, name, national id
or text, and no search terms (a lookup by phone is recorded as the cases it found).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The longest screen name a client may send (X-Samad-Purpose); longer ones are cut.
PURPOSE_MAX = 100


@dataclass(frozen=True)
class ReadContext:
    """Where a read comes from: the client's address, the endpoint (method and route) and, from the
    console, the screen it was made for."""

    client: str | None
    endpoint: str
    screen: str | None = None


@dataclass(frozen=True)
class ReadRecord:
    at: datetime
    user: str
    role: str
    case_id: str
    client: str | None
    endpoint: str
    screen: str | None
    disclosure: str  # shown | masked

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "user": self.user,
            "role": self.role,
            "case_id": self.case_id,
            "client": self.client,
            "endpoint": self.endpoint,
            "screen": self.screen,
            "disclosure": self.disclosure,
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> ReadRecord:
        return cls(
            at=doc["at"],
            user=str(doc["user"]),
            role=str(doc["role"]),
            case_id=str(doc["case_id"]),
            client=doc.get("client"),
            endpoint=str(doc.get("endpoint") or ""),
            screen=doc.get("screen"),
            disclosure=str(doc["disclosure"]),
        )


def clean_screen(value: str | None) -> str | None:
    """The screen a client names, printable and bounded (it is stored and shown as sent)."""
    if not value:
        return None
    text = "".join(ch for ch in value if ch.isprintable()).strip()
    return text[:PURPOSE_MAX] or None


@dataclass(frozen=True)
class ReadFilter:
    """A supervisor's query: any of one case, one user, a period [start, end)."""

    case_id: str | None = None
    user: str | None = None
    start: datetime | None = None
    end: datetime | None = None

    def matches(self, r: ReadRecord) -> bool:
        return (
            (self.case_id is None or r.case_id == self.case_id)
            and (self.user is None or r.user == self.user)
            and (self.start is None or r.at >= self.start)
            and (self.end is None or r.at < self.end)
        )
