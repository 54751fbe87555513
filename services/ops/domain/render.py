"""How one event looks in ``samad events tail``: envelope fields in fixed columns, then the payload.

Persian text is printed as it is (UTF-8, never ``\\u`` escapes). Terminals that do not implement the
Unicode bidirectional algorithm show it reversed; ``bidi=True`` reorders right-to-left runs for them.
Phone numbers and national ids are masked unless the operator asks (and the audit records that).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any

from bidi import get_display

from contracts.headers import DLQ_PREFIX, REDRIVEN_FROM, REPLAY_RUN
from contracts.persian import to_ascii_digits
from services.common.logs import mask_phone, mask_text
from services.ops.domain.records import RawRecord

_RTL = re.compile("[\u0590-\u08ff\ufb1d-\ufdff\ufe70-\ufeff]")
_PHONE_FIELDS = {"phone", "caller_phone", "recipient"}


def mask_national_id(value: str) -> str:
    digits = to_ascii_digits(value)
    return digits[:3] + "*****" + digits[-2:] if len(digits) >= 8 else "*" * len(digits)


def short_type(event_type: str | None) -> str:
    if not event_type:
        return "?"
    return event_type.removeprefix("ir.samad.")


@dataclass(frozen=True)
class EventView:
    when: str
    where: str  # partition@offset
    type: str
    subject: str
    event_id: str
    marks: tuple[str, ...]  # replay run, re-drive, dead-letter reason
    fields: tuple[tuple[str, str], ...]
    undecodable: bool = False


def _flatten(value: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        for i, v in enumerate(value):
            yield from _flatten(v, f"{prefix}[{i}]")
    else:
        yield prefix, value


def _masked(name: str, value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "[]"
    text = str(value)
    leaf = name.rsplit(".", 1)[-1]
    if leaf in _PHONE_FIELDS:
        return mask_phone(text)
    if leaf == "national_id":
        return mask_national_id(text)
    masked = mask_text(text)
    # mask_text also turns Persian digits into ASCII ones: keep the original unless it masked something.
    return masked if masked != to_ascii_digits(text) else text


def visual(text: str, bidi: bool) -> str:
    return get_display(text) if bidi and _RTL.search(text) else text


def view(record: RawRecord, *, zone: tzinfo, unmask: bool = False, bidi: bool = False) -> EventView:
    when = datetime.fromtimestamp(record.timestamp / 1000, UTC).astimezone(zone)
    marks = []
    if record.header(REPLAY_RUN):
        marks.append(f"replay:{record.header(REPLAY_RUN)}")
    if record.header(REDRIVEN_FROM):
        marks.append(f"re-driven:{record.header(REDRIVEN_FROM)}")
    if record.header(f"{DLQ_PREFIX}reason"):
        marks.append(
            f"dead-letter:{record.header(f'{DLQ_PREFIX}reason')} from {record.header(f'{DLQ_PREFIX}service')}"
        )
    obj = record.json_value()
    key = record.key.decode(errors="replace") if record.key else "-"
    where = f"{record.partition}@{record.offset}"
    stamp = when.isoformat(timespec="milliseconds")
    if obj is None or "type" not in obj:
        raw = (record.value or b"").decode(errors="replace")
        return EventView(
            stamp,
            where,
            "(not an event)",
            key,
            "-",
            tuple(marks),
            (("value", visual(raw[:300], bidi)),),
            True,
        )
    fields = []
    for name, value in _flatten(obj.get("data") or {}):
        text = str(value) if unmask and value is not None else _masked(name, value)
        fields.append((name, visual(text, bidi)))
    for extra in ("correlationid", "causationid", "source"):
        if obj.get(extra):
            fields.append((f"@{extra}", str(obj[extra])))
    dlq_error = record.header(f"{DLQ_PREFIX}error")
    if dlq_error:
        fields.append(("@error", dlq_error[:300]))
    return EventView(
        stamp,
        where,
        short_type(obj.get("type")),
        str(obj.get("subject") or key),
        str(obj.get("id") or "-"),
        tuple(marks),
        tuple(fields),
    )


def matches(record: RawRecord, *, case: str | None, event_type: str | None) -> bool:
    """``--case`` matches the key, the subject, the case id or the tracking code; ``--type`` the type."""
    obj = record.json_value()
    if event_type:
        actual = obj.get("type") if obj else None
        if not isinstance(actual, str) or not (
            actual == event_type or actual.removeprefix("ir.samad.") == event_type
        ):
            return False
    if case:
        wanted = to_ascii_digits(case.strip())
        key = record.key.decode(errors="replace") if record.key else None
        data = (obj or {}).get("data") or {}
        candidates = {key, (obj or {}).get("subject"), data.get("case_id"), data.get("tracking_code")}
        if wanted not in {str(c) for c in candidates if c}:
            return False
    return True
