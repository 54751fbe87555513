"""A telephony call log, row by row: which columns make the call and the case, and the rules of a file.

Each row goes through the same use cases as the HTTP API, with the row's ``call_ref`` as its
Idempotency-Key: re-importing a file publishes nothing new, and a repeat call in the file is linked to
the open case exactly as it would be on the phone.

CSV columns (UTF-8, header row required; order free; unknown columns are ignored):

- call: ``call_ref`` (unique per file), ``started_at`` (ISO 8601; without a zone it is Tehran time),
  ``duration_seconds``, ``caller_phone`` (empty when withheld), ``channel`` (phone | walk_in),
  ``outcome`` (answered | missed | abandoned), ``operator_id``, ``county``, ``duty_session_id``
- case, on rows of answered calls that became a case: ``subject``, ``description``, ``case_phone``
  (the citizen's mobile when the call came from a landline; defaults to ``caller_phone``),
  ``citizen_name``, ``national_id``, ``agency``, ``category``
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from contracts.events import CallOutcome
from services.intake.domain import ids
from services.intake.domain.requests import CallIn, CaseIn

TEHRAN = ZoneInfo("Asia/Tehran")

CALL_COLUMNS = (
    "call_ref",
    "started_at",
    "duration_seconds",
    "caller_phone",
    "channel",
    "outcome",
    "operator_id",
    "county",
    "duty_session_id",
)
CASE_COLUMNS = ("subject", "description", "case_phone", "citizen_name", "national_id", "agency", "category")
REQUIRED = ("call_ref", "started_at", "outcome")
# Idempotency scopes of imported rows: an import never collides with the API's keys.
CALL_SCOPE = "import-calls"
CASE_SCOPE = "import-cases"


@dataclass(frozen=True)
class LogLine:
    """One line of the file as read: its line number (the header is line 1) and its cells."""

    number: int
    values: Mapping[str, str | None]


@dataclass(frozen=True)
class RowProblem:
    row: int  # line number in the file (the header is line 1)
    call_ref: str
    part: str  # "call" or "case"
    field: str
    message: str
    message_en: str


@dataclass(frozen=True)
class Row:
    line: int
    call_ref: str
    call: CallIn | None
    case: CaseIn | None
    problems: tuple[RowProblem, ...]

    @property
    def has_case(self) -> bool:
        return self.case is not None or any(p.part == "case" for p in self.problems)


def missing_columns(header: Sequence[str]) -> list[str]:
    return [c for c in REQUIRED if c not in header]


def call_key(prefix: str, call_ref: str) -> str:
    """The row's Idempotency-Key: a new prefix makes the same file a new import (rehearsals)."""
    return f"{prefix}{call_ref}"


def cleaned(values: Mapping[str, str | None]) -> dict[str, str]:
    return {k: (v or "").strip() for k, v in values.items() if k is not None}


def started_at(raw: str) -> str | datetime:
    """Telephony exports usually write local time without a zone: read it as Tehran time."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text  # CallIn reports it, in Persian and English
    return value if value.tzinfo is not None else value.replace(tzinfo=TEHRAN)


def duty_session(override: str | None, column: str | None) -> str | None:
    """The session named for the whole file wins over the row's own column; an empty cell is none."""
    return override if override is not None else column or None


def call_fields(values: Mapping[str, str], session: str | None) -> dict[str, Any]:
    """The row's cells as a CallIn body."""
    return {
        "caller_phone": values.get("caller_phone") or None,
        "channel": values.get("channel") or "phone",
        "outcome": values.get("outcome", ""),
        "started_at": started_at(values.get("started_at", "")),
        "duration_seconds": values.get("duration_seconds") or "0",
        "operator_id": values.get("operator_id") or None,
        "county": values.get("county") or None,
        "duty_session_id": session,
    }


def has_case(values: Mapping[str, str]) -> bool:
    """A row describes a case when it has a subject or a description."""
    return bool(values.get("description") or values.get("subject"))


def case_fields(values: Mapping[str, str], key_prefix: str, session: str | None) -> dict[str, Any]:
    """The row's cells as a CaseIn body, tied to the call of the same row."""
    call_id = ids.call_ids(f"{CALL_SCOPE}:{call_key(key_prefix, values.get('call_ref', ''))}").call_id
    return {
        "call_id": call_id,
        "channel": values.get("channel") or "phone",
        "phone": values.get("case_phone") or values.get("caller_phone") or "",
        "name": values.get("citizen_name") or None,
        "national_id": values.get("national_id") or None,
        "county": values.get("county") or "",
        "category": values.get("category") or None,
        "subject": values.get("subject") or "",
        "description": values.get("description") or "",
        "agency": values.get("agency") or None,
        "operator_id": values.get("operator_id") or None,
        "duty_session_id": session,
    }


def missing_ref(line: int) -> RowProblem:
    return RowProblem(line, "", "call", "call_ref", "شناسهٔ تماس خالی است", "call_ref is empty")


def case_without_answer(line: int, ref: str, outcome: CallOutcome) -> RowProblem | None:
    """A case is registered only from an answered call: nobody took a missed call's report."""
    if outcome == CallOutcome.answered:
        return None
    return RowProblem(
        line,
        ref,
        "case",
        "outcome",
        "پرونده فقط از تماس پاسخ‌داده‌شده ثبت می‌شود",
        "a case can only come from an answered call",
    )


def repeated_ref(line: int, ref: str) -> RowProblem:
    """The same call_ref twice in one file: the second row is refused whole."""
    return RowProblem(
        line,
        ref,
        "call",
        "call_ref",
        "این شناسهٔ تماس در پرونده تکراری است",
        "call_ref appears twice in the file",
    )
