"""A citizen's choice to receive SMS or not, kept with who made it and why."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class OptOutSource(StrEnum):
    sms = "sms"  # the citizen texted a stop word
    staff = "staff"  # an operator, supervisor or ops, over HTTP or the CLI


@dataclass(frozen=True)
class OptOut:
    phone: str  # E.164
    opted_out: bool
    source: str
    by: str
    reason: str
    updated_at: datetime | None = None
