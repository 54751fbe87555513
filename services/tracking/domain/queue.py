"""An agency's queue as the inbox lists it: which cases a filter selects and in which order.

A case in the queue is reduced to a ``QueueRow``: the few fields the filters and the two orders read.
The stores select with these rules (the in-memory fake on its cases, the MongoDB store on the rows it
keeps per agency), so both answer alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from services.tracking.domain.model import OPEN_AT_AGENCY

# An assignee filter meaning "nobody works it yet".
UNASSIGNED = ""
# A status filter meaning every state in which the agency still holds the case (the inbox's default).
OPEN = "open"
OPEN_STATUSES = frozenset(s.value for s in OPEN_AT_AGENCY)
SEPARATOR = "\x1f"  # ASCII unit separator, between a packed row's fields
ESCALATION_SEPARATOR = "@"  # in a packed row: between an escalation's targets and when it was missed
# Characters a packed row never holds (the stores join rows and their ids with them).
_CONTROL = str.maketrans({c: " " for c in "\x1c\x1d\x1e\x1f\n\r"})


@dataclass(frozen=True)
class QueueFilter:
    """An agency's queue: optionally one status (or ``OPEN``: every open one), overdue or not (at
    ``now``), one county, one assignee (``UNASSIGNED``: nobody), and cases registered in
    [registered_from, registered_to). Sorted ``newest`` (registered last first) or ``urgent`` (the
    earliest pending deadline first; cases with none, e.g. waiting for the citizen, after them, newest
    first)."""

    agency: str
    status: str | None = None
    overdue: bool | None = None
    county: str | None = None
    assignee: str | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    sort: str = "newest"

    @property
    def open_only(self) -> bool:
        """Whether only cases the agency still holds can match (an open status, or overdue)."""
        if self.status:
            return self.status == OPEN or self.status in OPEN_STATUSES
        return self.overdue is True

    @property
    def finished_only(self) -> bool:
        """Whether only cases the agency no longer holds can match (a closed status asked for)."""
        return bool(self.status) and not self.open_only


@dataclass(frozen=True)
class QueueRow:
    """What the queue reads of a case: its agency and status, county, assignee (``UNASSIGNED`` for
    nobody), registration time and earliest pending deadline, its active escalation (the targets it
    reached and when its deadline was missed; none: nothing reached and no time); and the case's
    version the row was written from (``n``, not compared: two rows of different versions may say the
    same)."""

    case_id: str
    agency: str
    status: str
    county: str | None
    assignee: str
    registered_at: datetime | None
    due_next: datetime | None
    escalated_to: tuple[str, ...] = ()
    breached_at: datetime | None = None
    n: int = field(default=0, compare=False)

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def packed(self) -> str:
        """The row as one string (an agency's rows share a document; FerretDB reads and writes a
        document of strings several times faster than one of sub-documents): its fields joined by
        ``SEPARATOR``, times in ISO 8601, a missing value empty."""
        fields = (
            self.agency,
            self.status,
            self.county or "",
            self.assignee,
            self.registered_at.isoformat() if self.registered_at else "",
            self.due_next.isoformat() if self.due_next else "",
            f"{','.join(self.escalated_to)}{ESCALATION_SEPARATOR}{self.breached_at.isoformat()}"
            if self.breached_at
            else "",
        )
        return SEPARATOR.join(f.translate(_CONTROL) for f in fields)

    @classmethod
    def unpacked(cls, case_id: str, packed: str, n: int = 0) -> QueueRow:
        agency, status, county, assignee, registered, due, escalation = packed.split(SEPARATOR)
        reached, _, breached = escalation.partition(ESCALATION_SEPARATOR)
        return cls(
            case_id,
            agency,
            status,
            county or None,
            assignee,
            datetime.fromisoformat(registered) if registered else None,
            datetime.fromisoformat(due) if due else None,
            escalated_to=tuple(reached.split(",")) if reached else (),
            breached_at=datetime.fromisoformat(breached) if breached else None,
            n=n,
        )


def row_of(doc: Mapping[str, Any]) -> QueueRow | None:
    """The queue's row of a case document (``Case.to_document`` or as stored); None for a case no
    agency's queue lists (not registered, or held by no agency)."""
    agency, status = doc.get("agency"), doc.get("status")
    if not agency or not status:
        return None
    assignee = doc.get("assignee") or {}
    due = doc.get("due") or {}
    escalation = doc.get("escalation") or {}
    breached = _ms(escalation.get("breached_at")) if escalation.get("active") else None
    return QueueRow(
        case_id=str(doc["_id"]),
        agency=str(agency),
        status=str(status),
        county=doc.get("county") or None,
        assignee=str(assignee.get("id") or UNASSIGNED),
        registered_at=_ms(doc.get("registered_at")),
        due_next=_ms(due.get("next")),
        escalated_to=tuple(escalation.get("reached") or []) if breached is not None else (),
        breached_at=breached,
        n=int(doc.get("n") or 0),
    )


def _ms(at: datetime | None) -> datetime | None:
    """A time as the database keeps it (milliseconds): the row of a case about to be written and
    the row of the stored case are then the same."""
    return at.replace(microsecond=at.microsecond - at.microsecond % 1000) if at is not None else None


def selects(f: QueueFilter, row: QueueRow, now: datetime) -> bool:
    """Whether the filter lists this row at ``now``."""
    if row.agency != f.agency:
        return False
    if f.status == OPEN:
        if not row.open:
            return False
    elif f.status and row.status != f.status:
        return False
    if f.county and row.county != f.county:
        return False
    if f.assignee is not None and row.assignee != f.assignee:
        return False
    if f.registered_from or f.registered_to:
        r = row.registered_at
        if (
            r is None
            or (f.registered_from and r < f.registered_from)
            or (f.registered_to and r >= f.registered_to)
        ):
            return False
    if f.overdue is True:
        return row.due_next is not None and row.due_next < now and (bool(f.status) or row.open)
    if f.overdue is False:
        return row.due_next is None or row.due_next >= now
    return True


def ordered(f: QueueFilter, rows: Iterable[QueueRow]) -> list[QueueRow]:
    """The rows in the filter's order, then by case id: newest first (a case without a registration
    time last, as MongoDB sorts a missing value), or most urgent first (a pending deadline first, by
    that deadline; the others after them, newest first)."""
    found = sorted(rows, key=lambda r: r.case_id)
    found.sort(key=lambda r: (r.registered_at is not None, r.registered_at or _EARLIEST), reverse=True)
    if f.sort == "urgent":
        timed = sorted((r for r in found if r.due_next is not None), key=lambda r: (r.due_next, r.case_id))
        found = timed + [r for r in found if r.due_next is None]
    return found


_EARLIEST = datetime.min.replace(tzinfo=UTC)


def escalation_selects(target: str, agency: str | None, row: QueueRow) -> bool:
    """Whether an escalation queue (of ``target``, one agency's or every one's) lists this row: its
    active escalation reached ``target``."""
    return target in row.escalated_to and (agency is None or row.agency == agency)


def escalation_ordered(rows: Iterable[QueueRow]) -> list[QueueRow]:
    """The longest late first (by when the deadline was missed), then by case id."""
    return sorted(rows, key=lambda r: (r.breached_at or _EARLIEST, r.case_id))
