"""Ids derived from the Idempotency-Key, and the fingerprint that tells a retry from a different request.

A retry with the same key yields the same call id, case id and event ids, so even a retry that reaches
Kafka twice is one event to every consumer (they deduplicate by event id). The tracking code is not
among them: it is what a citizen shows to read a case, so it is drawn at random and kept with the case
id (service/register_case.py), never computed from the key.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from contracts.events import deterministic_id

# Printable ASCII without spaces, as in the IETF Idempotency-Key draft's examples (UUIDs, ULIDs, hashes).
KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


def valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.fullmatch(key))


@dataclass(frozen=True)
class CallIds:
    call_id: str
    event_id: str


@dataclass(frozen=True)
class CaseIds:
    case_id: str
    registered_event_id: str
    repeat_event_id: str


def call_ids(key: str) -> CallIds:
    return CallIds(
        call_id=deterministic_id("intake", "call", key),
        event_id=deterministic_id("intake", "call.received", key),
    )


def case_ids(key: str) -> CaseIds:
    case_id = deterministic_id("intake", "case", key)
    return CaseIds(
        case_id=case_id,
        registered_event_id=deterministic_id("intake", "case.registered", key),
        repeat_event_id=deterministic_id("intake", "case.repeat_call", key),
    )


def fingerprint(scope: str, body: dict[str, Any]) -> str:
    """A digest of the normalised request: "۰۹۱۵…" and "0915…" are the same request, a changed word is not."""
    canonical = json.dumps({"scope": scope, "body": body}, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()
