"""The online form's one-time code: six digits from a cryptographic source, kept only as a keyed hash,
valid for a few minutes and a few tries."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class Verdict(StrEnum):
    ok = "ok"
    wrong = "wrong"
    expired = "expired"
    exhausted = "exhausted"


@dataclass(frozen=True)
class Challenge:
    phone: str
    salt: str
    digest: str
    expires_at: datetime
    attempts_left: int

    @classmethod
    def new(cls, phone: str, now: datetime, minutes: int, attempts: int) -> tuple[Challenge, str]:
        code = f"{secrets.randbelow(10**6):06d}"
        salt = secrets.token_hex(16)
        return cls(phone, salt, _digest(salt, code), now + timedelta(minutes=minutes), attempts), code

    def check(self, code: str, now: datetime) -> tuple[Verdict, Challenge]:
        """The verdict on ``code`` and the challenge as it stands after this try."""
        if self.attempts_left <= 0:
            return Verdict.exhausted, self
        if now >= self.expires_at:
            return Verdict.expired, self
        if hmac.compare_digest(self.digest, _digest(self.salt, code)):
            return Verdict.ok, self
        left = self.attempts_left - 1
        after = Challenge(self.phone, self.salt, self.digest, self.expires_at, left)
        return (Verdict.wrong if left > 0 else Verdict.exhausted), after

    def to_doc(self) -> dict[str, object]:
        return {
            "phone": self.phone,
            "salt": self.salt,
            "digest": self.digest,
            "expires_at": self.expires_at.isoformat(),
            "attempts_left": self.attempts_left,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, object]) -> Challenge:
        return cls(
            str(doc["phone"]),
            str(doc["salt"]),
            str(doc["digest"]),
            datetime.fromisoformat(str(doc["expires_at"])),
            int(str(doc["attempts_left"])),
        )


def _digest(salt: str, code: str) -> str:
    return hmac.new(salt.encode(), code.encode(), hashlib.sha256).hexdigest()
