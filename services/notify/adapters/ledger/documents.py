"""Ledger records as MongoDB documents and back. The document layout is the one the ledger has
always had (``parts`` the segment count, ``part_prefixes``, ``provider_message_ids``, ``outbox``),
so records written before the typed model are read as they are."""

from __future__ import annotations

from typing import Any

from services.notify.domain.ledger import SmsState
from services.notify.domain.records import HistoryEntry, Owed, SmsPart, SmsRecord, with_part_ids

Doc = dict[str, Any]

# Fields a record gains on its way (absent from a new record's document rather than null).
LATER_FIELDS = (
    "lease_until",
    "claimed_by",
    "submitted_at",
    "delivered_at",
    "failed_at",
    "polled_at",
    "error",
    "permanent",
)


def to_document(r: SmsRecord) -> Doc:
    return {
        "_id": r.sms_id,
        "case_id": r.case_id,
        "source_event_id": r.source_event_id,
        "source_event_type": r.source_event_type,
        "source_event_time": r.source_event_time,
        "correlationid": r.correlationid,
        "template": r.template,
        "recipient": r.recipient,
        "text": r.text,
        "parts": r.segments,
        "encoding": r.encoding,
        "part_prefixes": [p.prefix for p in r.parts],
        "urgent": r.urgent,
        "local_id": r.local_id,
        "state": r.state.value,
        "not_before": r.not_before,
        "reason": r.reason,
        "claims": r.claims,
        "provider": r.provider,
        "provider_message_ids": list(r.message_ids),
        "outbox": [k.value for k in r.owed],
        "replay_run": r.replay_run,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "history": [{"at": h.at, "to": h.to.value, "note": h.note} for h in r.history],
        "version": r.version,
        "lease_until": r.lease_until,
        "claimed_by": r.claimed_by,
        "submitted_at": r.submitted_at,
        "delivered_at": r.delivered_at,
        "failed_at": r.failed_at,
        "polled_at": r.polled_at,
        "error": r.error,
        "permanent": r.permanent,
    }


def new_document(r: SmsRecord) -> Doc:
    """A new record's document: without the fields it has not gained yet."""
    doc = to_document(r)
    for name in LATER_FIELDS:
        if doc[name] is None:
            del doc[name]
    return doc


def changed_fields(before: SmsRecord, after: SmsRecord) -> Doc:
    """The ``$set`` that turns ``before``'s document into ``after``'s (a field nobody wrote yet stays
    absent rather than becoming null)."""
    old, new = new_document(before), to_document(after)
    return {k: v for k, v in new.items() if k != "_id" and old.get(k) != v}


def from_document(doc: Doc) -> SmsRecord:
    ids = tuple(str(i) for i in doc.get("provider_message_ids") or ())
    prefixes = [str(p) for p in doc.get("part_prefixes") or ()]
    parts = with_part_ids(tuple(SmsPart(n, p) for n, p in enumerate(prefixes, start=1)), ids)
    return SmsRecord(
        sms_id=str(doc["_id"]),
        case_id=doc["case_id"],
        source_event_id=doc["source_event_id"],
        source_event_type=doc.get("source_event_type") or "",
        source_event_time=doc["source_event_time"],
        correlationid=doc.get("correlationid"),
        template=doc["template"],
        recipient=doc["recipient"],
        text=doc["text"],
        segments=int(doc["parts"]),
        encoding=doc.get("encoding") or "",
        parts=parts,
        urgent=bool(doc.get("urgent", False)),
        local_id=int(doc["local_id"]),
        state=SmsState(doc["state"]),
        provider=doc.get("provider") or "",
        created_at=doc["created_at"],
        updated_at=doc["updated_at"],
        not_before=doc.get("not_before"),
        reason=doc.get("reason") or "",
        claims=int(doc.get("claims", 0)),
        message_ids=ids,
        owed=tuple(Owed(k) for k in doc.get("outbox") or ()),
        replay_run=doc.get("replay_run"),
        history=tuple(
            HistoryEntry(h["at"], SmsState(h["to"]), h.get("note") or "") for h in doc.get("history") or ()
        ),
        version=int(doc.get("version", 0)),
        lease_until=doc.get("lease_until"),
        claimed_by=doc.get("claimed_by"),
        submitted_at=doc.get("submitted_at"),
        delivered_at=doc.get("delivered_at"),
        failed_at=doc.get("failed_at"),
        polled_at=doc.get("polled_at"),
        error=doc.get("error"),
        permanent=doc.get("permanent"),
    )
