"""Import a call log (a telephony export, optionally with the cases registered from its calls).

Each row goes through the same use cases as the HTTP API, with the row's ``call_ref`` as its
Idempotency-Key: re-importing a file publishes nothing new, and a repeat call in the file is linked to
the open case exactly as it would be on the phone. The columns are described in domain/call_log.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from services.common.problems import field_errors
from services.intake.adapters.call_log import CallLog
from services.intake.domain import call_log as c
from services.intake.domain.call_log import Row, RowProblem
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.service.idempotency import KeyConflict
from services.intake.service.log_call import LogCall, Rejected
from services.intake.service.register_case import RegisterCase

M = TypeVar("M", bound=BaseModel)


def _validated(
    model: type[M], data: dict[str, Any], line: int, ref: str, part: str
) -> tuple[M | None, list[RowProblem]]:
    try:
        return model.model_validate(data), []
    except ValidationError as exc:
        return None, [
            RowProblem(line, ref, part, e["field"], e["message"], e["message_en"])
            for e in field_errors(list(exc.errors()))
        ]


def parse_row(line: c.LogLine, *, key_prefix: str = "", duty_session: str | None = None) -> Row:
    """One line as a call (and the case registered from it), with every problem found in either."""
    values = c.cleaned(line.values)
    ref = values.get("call_ref", "")
    if not ref:
        return Row(line.number, ref, None, None, (c.missing_ref(line.number),))
    session = c.duty_session(duty_session, values.get("duty_session_id"))
    call, problems = _validated(CallIn, c.call_fields(values, session), line.number, ref, "call")
    case: CaseIn | None = None
    if c.has_case(values):
        case, case_problems = _validated(
            CaseIn, c.case_fields(values, key_prefix, session), line.number, ref, "case"
        )
        problems.extend(case_problems)
        unanswered = c.case_without_answer(line.number, ref, call.outcome) if call is not None else None
        if unanswered is not None:
            problems.append(unanswered)
            case = None
    return Row(line.number, ref, call, case, tuple(problems))


def read_rows(log: CallLog, *, key_prefix: str = "", duty_session: str | None = None) -> Iterator[Row]:
    """The log's rows; its header is checked now, before anything is connected or published."""
    return _rows(log.lines(), key_prefix=key_prefix, duty_session=duty_session)


def _rows(lines: Iterator[c.LogLine], *, key_prefix: str, duty_session: str | None) -> Iterator[Row]:
    seen: set[str] = set()
    for line in lines:
        row = parse_row(line, key_prefix=key_prefix, duty_session=duty_session)
        if row.call_ref and row.call_ref in seen:
            yield Row(row.line, row.call_ref, None, None, (c.repeated_ref(row.line, row.call_ref),))
            continue
        seen.add(row.call_ref)
        yield row


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

    def read(self, row: Row) -> None:
        self.rows += 1
        self.rejected.extend(row.problems)
        if row.call is not None:
            self.outcomes[row.call.outcome.value] = self.outcomes.get(row.call.outcome.value, 0) + 1


def check_rows(rows: Iterable[Row], *, on_row: Callable[[Row], None] = lambda _row: None) -> Summary:
    """Check every row and count what an import would publish; nothing is connected or published."""
    summary = Summary()
    for row in rows:
        summary.read(row)
        if row.call is not None:  # a rejected call takes its case with it
            summary.calls_published += 1
            summary.cases_registered += 1 if row.case is not None else 0
        on_row(row)
    return summary


class ImportCalls:
    def __init__(self, log_call: LogCall, register_case: RegisterCase) -> None:
        self.log_call = log_call
        self.register_case = register_case

    async def __call__(
        self, rows: Iterable[Row], *, key_prefix: str = "", on_row: Callable[[Row], None] = lambda _row: None
    ) -> Summary:
        """Publish every valid row, one after another (a repeat call in the file sees the case before it)."""
        summary = Summary()
        for row in rows:
            summary.read(row)
            if row.call is not None:  # a rejected call takes its case with it
                await self._one(row, key_prefix, summary)
            on_row(row)
        return summary

    async def _one(self, row: Row, key_prefix: str, summary: Summary) -> None:
        assert row.call is not None
        key = c.call_key(key_prefix, row.call_ref)
        try:
            answer = await self.log_call(row.call, key=key, scope=c.CALL_SCOPE)
        except (Rejected, KeyConflict) as exc:
            summary.rejected.extend(_use_case_problems(exc, row, "call"))
            return
        if answer.replayed:
            summary.calls_already_imported += 1
        else:
            summary.calls_published += 1
        if row.case is None:
            return
        try:
            # The case counts in the period of its call, not of the import (reports keep both times).
            case_answer = await self.register_case(
                row.case, key=key, scope=c.CASE_SCOPE, call_started_at=row.call.started_at
            )
        except (Rejected, KeyConflict) as exc:
            summary.rejected.extend(_use_case_problems(exc, row, "case"))
            return
        summary.case_ids.append(str(case_answer.body["case_id"]))
        if case_answer.replayed:
            summary.cases_already_imported += 1
        elif case_answer.body.get("duplicate_of"):
            summary.repeat_calls += 1
        else:
            summary.cases_registered += 1


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
