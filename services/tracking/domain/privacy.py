"""Who sees a case's personal data, and what the others see of it (least privilege on staff reads).

The personal fields are the citizen's phone, name and national id, the description and every other
text the citizen wrote or said (a repeat call, an answer), internal notes and SMS texts (which quote
them), and the SMS recipients. Supervisors see them; agency staff see them on their own agency's
cases (they reach no other); operators only while handling that caller: the cases they registered
themselves, and the cases a lookup by the caller's phone or national id found in the same request;
``ops`` runs the platform and never needs them. Everyone else reads the same case with those fields
masked: enough to recognise a phone, nothing to call or identify anyone with.
"""

from __future__ import annotations

from collections.abc import Collection
from enum import StrEnum
from typing import Any

from services.common.logs import mask_phone, mask_text
from services.tracking.domain.access import AGENCY_STAFF, Staff
from services.tracking.domain.citizens import citizen_keys
from services.tracking.domain.model import Case


class Disclosure(StrEnum):
    shown = "shown"
    masked = "masked"


SUPERVISOR = "supervisor"
OPERATOR = "operator"

# What a masked free text reads as.
MASKED = "***"
# Keys of an event's payload (a timeline entry's data, at any depth) that hold personal data.
PERSONAL_KEYS = frozenset(
    {
        "phone",
        "caller_phone",
        "name",
        "national_id",
        "description",
        "text",
        "recipient",
        "answer",
        "question",
        # Routing's reasons quote the words of the description it matched.
        "explanation",
    }
)
# Entries whose ``reason`` is staff's free text about the citizen (elsewhere a reason is a code).
_FREE_TEXT_REASON = ("case.status_changed", "case.reroute_requested")
# Timeline entries whose text quotes the citizen, a note about them or an SMS sent to them.
_QUOTING = ("case.repeat_call", "case.note_added", "case.resumed", "sms.sent")
# Timeline entries whose text ends with what it quotes (routing's matched words, an answer, a reason,
# a question): where the quote starts, and the text that stands in for it.
_QUOTING_TAIL = {
    "case.routed": (" (", f" ({MASKED})"),
    "case.triage_required": (":", f": {MASKED}"),
    "case.status_changed": (":", f": {MASKED}"),
    "case.reroute_requested": (" — ", f" — {MASKED}"),
}


def disclosure(staff: Staff, case: Case, looked_up: Collection[str] = ()) -> Disclosure:
    """Whether ``staff`` sees ``case``'s personal fields. ``looked_up``: the citizen keys (see
    ``citizens.citizen_keys``) the same request searched by: the caller the operator is handling."""
    if staff.role == SUPERVISOR:
        return Disclosure.shown
    if staff.role == AGENCY_STAFF:
        return Disclosure.shown if staff.sees(case.agency) else Disclosure.masked
    if staff.role == OPERATOR:
        if staff.subject and case.operator_id == staff.subject:
            return Disclosure.shown
        if looked_up and set(looked_up) & set(citizen_keys(case)):
            return Disclosure.shown
    return Disclosure.masked


def mask_national_id(value: str | None) -> str | None:
    if not value:
        return value
    return value[:3] + "*****" + value[-2:] if len(value) >= 8 else "*" * len(value)


def _mask_value(key: str, value: Any) -> Any:
    if value is None or value == "":
        return value
    if isinstance(value, dict):
        return mask_data(value)
    if isinstance(value, list):
        return [_mask_value(key, v) for v in value]
    if key in ("phone", "caller_phone", "recipient") and isinstance(value, str):
        return mask_phone(value)
    if key == "national_id" and isinstance(value, str):
        return mask_national_id(value)
    return MASKED


def mask_data(data: Any) -> Any:
    """An event payload with every personal key masked, at any depth."""
    if isinstance(data, dict):
        return {k: _mask_value(k, v) if k in PERSONAL_KEYS else mask_data(v) for k, v in data.items()}
    if isinstance(data, list):
        return [mask_data(v) for v in data]
    return data


def masked_view(doc: dict[str, Any]) -> dict[str, Any]:
    """A staff view of a case (``views.staff_view`` or ``summary_view``) with the personal fields masked;
    ``personal`` says so. The view is changed in place and returned."""
    citizen = doc.get("citizen")
    if isinstance(citizen, dict):
        citizen["phone"] = mask_phone(citizen.get("phone"))
        if citizen.get("name"):
            citizen["name"] = MASKED
        citizen["national_id"] = mask_national_id(citizen.get("national_id"))
    for key in ("description", "answer", "rejection_reason", "reopen_reason"):
        if doc.get(key):
            doc[key] = MASKED
    waiting = doc.get("waiting")
    if isinstance(waiting, dict) and waiting.get("question"):
        waiting["question"] = MASKED
    for holding in doc.get("agencies") or []:
        if isinstance(holding, dict) and holding.get("note"):
            holding["note"] = MASKED
    for record in doc.get("sms") or []:
        if isinstance(record, dict) and record.get("recipient"):
            record["recipient"] = mask_phone(record["recipient"])
    for entry in doc.get("timeline") or []:
        if not isinstance(entry, dict):
            continue
        kind = str(entry.get("type") or "")
        data = mask_data(entry.get("data") or {})
        if any(kind.endswith(k) for k in _FREE_TEXT_REASON) and isinstance(data, dict) and data.get("reason"):
            data["reason"] = MASKED
        entry["data"] = data
        entry["text"] = _masked_text(kind, str(entry.get("text") or ""))
    doc["personal"] = Disclosure.masked.value
    return doc


def _masked_text(kind: str, text: str) -> str:
    """A timeline entry's text without what it quotes of the citizen (and no whole number in the rest)."""
    if not text:
        return text
    if any(kind.endswith(k) for k in _QUOTING):
        return MASKED
    for k, (separator, stand_in) in _QUOTING_TAIL.items():
        if kind.endswith(k):
            head, found, _ = text.partition(separator)
            return mask_text(head) + (stand_in if found else "")
    return mask_text(text)


def shown_view(doc: dict[str, Any]) -> dict[str, Any]:
    doc["personal"] = Disclosure.shown.value
    return doc


def disclosed(doc: dict[str, Any], how: Disclosure) -> dict[str, Any]:
    """``doc`` as ``how`` allows."""
    return shown_view(doc) if how is Disclosure.shown else masked_view(doc)
