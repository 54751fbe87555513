"""Bulk import of a call log (a telephony export, optionally with the cases registered from its calls).

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

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import ValidationError

from services.common.problems import field_errors
from services.intake.domain import ids
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.service import IntakeService, KeyConflict, Rejected

TEHRAN = ZoneInfo("Asia/Tehran")
SCENARIO = Path(__file__).parent / "data" / "duty-session-1396-12-08.csv"

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
CALL_SCOPE = "import-calls"
CASE_SCOPE = "import-cases"


class FileProblem(Exception):
    """The file cannot be read as a call log at all (missing header columns, not UTF-8 CSV)."""


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


@dataclass
class Summary:
    rows: int = 0
    calls_published: int = 0
    calls_already_imported: int = 0
    cases_registered: int = 0
    cases_already_imported: int = 0
    repeat_calls: int = 0
    rejected: list[RowProblem] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)
    case_ids: list[str] = field(default_factory=list)

    @property
    def rejected_rows(self) -> int:
        return len({p.row for p in self.rejected})


def _started_at(raw: str) -> str | datetime:
    """Telephony exports usually write local time without a zone: read it as Tehran time."""
    text = raw.strip()
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return text  # CallIn reports it, in Persian and English
    return value if value.tzinfo is not None else value.replace(tzinfo=TEHRAN)


def _problems(exc: ValidationError, line: int, ref: str, part: str) -> list[RowProblem]:
    return [
        RowProblem(line, ref, part, e["field"], e["message"], e["message_en"])
        for e in field_errors(list(exc.errors()))
    ]


def call_key(prefix: str, call_ref: str) -> str:
    return f"{prefix}{call_ref}"


def parse_row(
    line: int, raw: dict[str, str], *, key_prefix: str = "", duty_session: str | None = None
) -> Row:
    values = {k: (v or "").strip() for k, v in raw.items() if k is not None}
    ref = values.get("call_ref", "")
    problems: list[RowProblem] = []
    if not ref:
        problems.append(RowProblem(line, ref, "call", "call_ref", "شناسهٔ تماس خالی است", "call_ref is empty"))
        return Row(line, ref, None, None, tuple(problems))
    session = duty_session if duty_session is not None else values.get("duty_session_id") or None
    call_data: dict[str, Any] = {
        "caller_phone": values.get("caller_phone") or None,
        "channel": values.get("channel") or "phone",
        "outcome": values.get("outcome", ""),
        "started_at": _started_at(values.get("started_at", "")),
        "duration_seconds": values.get("duration_seconds") or "0",
        "operator_id": values.get("operator_id") or None,
        "county": values.get("county") or None,
        "duty_session_id": session,
    }
    call: CallIn | None = None
    try:
        call = CallIn.model_validate(call_data)
    except ValidationError as exc:
        problems.extend(_problems(exc, line, ref, "call"))
    case: CaseIn | None = None
    if values.get("description") or values.get("subject"):
        call_id = ids.call_ids(f"{CALL_SCOPE}:{call_key(key_prefix, ref)}").call_id
        case_data: dict[str, Any] = {
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
        try:
            case = CaseIn.model_validate(case_data)
        except ValidationError as exc:
            problems.extend(_problems(exc, line, ref, "case"))
        if call is not None and call.outcome.value != "answered":
            problems.append(
                RowProblem(
                    line,
                    ref,
                    "case",
                    "outcome",
                    "پرونده فقط از تماس پاسخ‌داده‌شده ثبت می‌شود",
                    "a case can only come from an answered call",
                )
            )
            case = None
    return Row(line, ref, call, case, tuple(problems))


def read_rows(path: Path, *, key_prefix: str = "", duty_session: str | None = None) -> Iterator[Row]:
    """The file's rows; the header is checked now, before anything is connected or published."""
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise FileProblem(f"cannot open {path}: {exc.strerror}") from exc
    reader = csv.DictReader(handle)
    try:
        header = reader.fieldnames or []
    except (csv.Error, UnicodeDecodeError) as exc:
        handle.close()
        raise FileProblem(f"{path} is not a UTF-8 CSV file: {exc}") from exc
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        handle.close()
        raise FileProblem(f"{path}: the header lacks {', '.join(missing)} (has: {', '.join(header)})")
    return _rows(path, handle, reader, key_prefix=key_prefix, duty_session=duty_session)


def _rows(
    path: Path, handle: Any, reader: csv.DictReader[str], *, key_prefix: str, duty_session: str | None
) -> Iterator[Row]:
    seen: set[str] = set()
    try:
        for raw in reader:
            row = parse_row(reader.line_num, raw, key_prefix=key_prefix, duty_session=duty_session)
            if row.call_ref and row.call_ref in seen:
                dup = RowProblem(
                    row.line,
                    row.call_ref,
                    "call",
                    "call_ref",
                    "این شناسهٔ تماس در پرونده تکراری است",
                    "call_ref appears twice in the file",
                )
                yield Row(row.line, row.call_ref, None, None, (dup,))
                continue
            seen.add(row.call_ref)
            yield row
    except (csv.Error, UnicodeDecodeError) as exc:
        raise FileProblem(f"{path} line {reader.line_num}: {exc}") from exc
    finally:
        handle.close()


def count_rows(path: Path) -> int:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return sum(1 for _ in csv.DictReader(handle))


async def import_rows(
    rows: Iterator[Row],
    service: IntakeService | None,
    *,
    key_prefix: str = "",
    on_row: Callable[[Row], None] = lambda _row: None,
) -> Summary:
    """Publish every valid row (or, with ``service=None``, only check them: a dry run)."""
    summary = Summary()
    for row in rows:
        summary.rows += 1
        summary.rejected.extend(row.problems)
        if row.call is not None:
            summary.outcomes[row.call.outcome.value] = summary.outcomes.get(row.call.outcome.value, 0) + 1
        if row.call is None:  # a rejected call takes its case with it
            on_row(row)
            continue
        if service is None:  # dry run: counts what would be published
            summary.calls_published += 1
            summary.cases_registered += 1 if row.case is not None else 0
            on_row(row)
            continue
        key = call_key(key_prefix, row.call_ref)
        try:
            answer = await service.log_call(
                row.call, key=key, operator_id=row.call.operator_id, scope=CALL_SCOPE
            )
        except (Rejected, KeyConflict) as exc:
            summary.rejected.extend(_use_case_problems(exc, row, "call"))
            on_row(row)
            continue
        if answer.replayed:
            summary.calls_already_imported += 1
        else:
            summary.calls_published += 1
        if row.case is not None:
            try:
                case_answer = await service.register_case(
                    row.case, key=key, operator_id=row.case.operator_id, scope=CASE_SCOPE
                )
            except (Rejected, KeyConflict) as exc:
                summary.rejected.extend(_use_case_problems(exc, row, "case"))
                on_row(row)
                continue
            summary.case_ids.append(str(case_answer.body["case_id"]))
            if case_answer.replayed:
                summary.cases_already_imported += 1
            elif case_answer.body.get("duplicate_of"):
                summary.repeat_calls += 1
            else:
                summary.cases_registered += 1
        on_row(row)
    return summary


def _use_case_problems(exc: Exception, row: Row, part: str) -> list[RowProblem]:
    if isinstance(exc, Rejected):
        return [RowProblem(row.line, row.call_ref, part, f, inv.fa, inv.en) for f, inv in exc.errors]
    return [
        RowProblem(
            row.line,
            row.call_ref,
            part,
            "call_ref",
            "این ردیف پیش‌تر با محتوای دیگری وارد شده است",
            "this call_ref was imported before with different content",
        )
    ]
