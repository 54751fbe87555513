"""Case events for notify's tests, and a notify wired to the real Kafka and FerretDB in this process."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from contracts.catalogue import AgencyCode
from contracts.events import (
    CaseRegistered,
    CaseRouted,
    CaseStatus,
    CaseStatusChanged,
    Citizen,
    Envelope,
    RouteReason,
    make_event,
)
from contracts.tracking_code import from_seed


def registered(case_id: str, phone: str, *, at: datetime | None = None) -> Envelope:
    at = at or datetime.now(UTC)
    data = CaseRegistered(
        case_id=case_id,
        tracking_code=from_seed(case_id),
        county="mashhad",
        citizen=Citizen(phone=phone),
        subject="قطعی آب",
        description="آب محله از دیروز قطع است",
        registered_at=at,
    )
    return make_event(data, source="/samad/intake", time=at)


def routed(case_id: str, agency: AgencyCode, *, at: datetime | None = None) -> Envelope:
    data = CaseRouted(case_id=case_id, agency=agency, reason=RouteReason.classifier, confidence=0.9)
    return make_event(data, source="/samad/routing", time=at or datetime.now(UTC))


def status(
    case_id: str, value: CaseStatus, *, answer: str | None = None, reason: str | None = None
) -> Envelope:
    data = CaseStatusChanged(case_id=case_id, status=value, answer=answer, reason=reason)
    return make_event(data, source="/samad/tracking")


def stale(envelope: Envelope, hours: float) -> Envelope:
    return envelope.model_copy(update={"time": datetime.now(UTC) - timedelta(hours=hours)})


def outbox_lines(path: Path, to: str | None = None) -> list[dict[str, Any]]:
    """The file provider's SMS, to one number only: other tests share the topics and their
    case events reach this notify too."""
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if to is None or r["to"] == to]


def phone_for(unique: str, n: int = 0) -> str:
    """A valid Iranian mobile number unique to the test (0912 + 7 digits)."""
    digits = str(int(unique, 16) % 10**6).zfill(6)
    return f"+98912{n}{digits}"
