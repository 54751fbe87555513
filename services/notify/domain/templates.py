"""SMS templates: Persian text with named fields, read from a data file that a non-programmer edits.

Each citizen-facing moment has one template, and so has the one staff-facing one: a late case reaching
a person on its agency's escalation ladder. A template names the fields it uses in braces
(``{tracking_code}``); the fields a template may shorten to stay within its part limit are listed
under ``shrink`` (free text typed by staff: the answer, the reason).
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class TemplateKey(StrEnum):
    """The citizen-facing moments of a case; each needs exactly one template."""

    registered = "registered"
    routed = "routed"
    acknowledged = "acknowledged"
    resolved = "resolved"
    rejected = "rejected"
    reopened = "reopened"
    info_requested = "info_requested"  # the agency asks the citizen for more information
    escalated = "escalated"  # to an agency head or the supervisor: a case of theirs is late


# Fields a template may use; rendering fills each of them.
FIELDS = frozenset({"tracking_code", "agency", "date", "time", "answer", "reason", "question", "late"})
SHRINKABLE = frozenset({"answer", "reason", "question"})
DEFAULT_MAX_PARTS = 2


class TemplateError(ValueError):
    """The template data file is wrong; the message says where, in words its editor understands."""


@dataclass(frozen=True)
class Template:
    key: TemplateKey
    text: str
    urgent: bool
    fields: frozenset[str]
    shrink: tuple[str, ...]
    max_parts: int
    description: str = ""


def _fields_of(key: str, text: str) -> frozenset[str]:
    names: set[str] = set()
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise TemplateError(f"template {key!r}: braces do not match ({exc})") from exc
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in FIELDS:
            known = ", ".join(sorted(FIELDS))
            raise TemplateError(f"template {key!r}: unknown field {{{name}}}; known fields: {known}")
        if spec or conversion:
            raise TemplateError(f"template {key!r}: write {{{name}}} without a format or conversion")
        names.add(name)
    return frozenset(names)


def parse_templates(doc: Any) -> dict[TemplateKey, Template]:
    """Validate the parsed data file and return one template per key."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("templates"), Mapping):
        raise TemplateError("the file must have a 'templates:' section")
    rows: Mapping[str, Any] = doc["templates"]
    unknown = set(rows) - {k.value for k in TemplateKey}
    if unknown:
        raise TemplateError(f"unknown templates: {', '.join(sorted(unknown))}")
    missing = [k.value for k in TemplateKey if k.value not in rows]
    if missing:
        raise TemplateError(f"missing templates: {', '.join(missing)}")
    result: dict[TemplateKey, Template] = {}
    for key in TemplateKey:
        row = rows[key.value]
        if not isinstance(row, Mapping) or not isinstance(row.get("text"), str) or not row["text"].strip():
            raise TemplateError(f"template {key.value!r} needs a non-empty 'text'")
        text = row["text"].strip()
        fields = _fields_of(key.value, text)
        shrink = tuple(row.get("shrink") or ())
        bad = [f for f in shrink if f not in SHRINKABLE or f not in fields]
        if bad:
            raise TemplateError(
                f"template {key.value!r}: only fields used in the text and among "
                f"{', '.join(sorted(SHRINKABLE))} can be shortened, not {', '.join(bad)}"
            )
        max_parts = int(row.get("max_parts", DEFAULT_MAX_PARTS))
        if max_parts < 1:
            raise TemplateError(f"template {key.value!r}: max_parts must be at least 1")
        result[key] = Template(
            key=key,
            text=text,
            urgent=bool(row.get("urgent", False)),
            fields=fields,
            shrink=shrink,
            max_parts=max_parts,
            description=str(row.get("description", "")),
        )
    return result
