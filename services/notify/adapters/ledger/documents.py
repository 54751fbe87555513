"""Ledger records as MongoDB documents and back. The document layout is the one the ledger has
always had (``parts`` the segment count, ``part_prefixes``, ``provider_message_ids``, ``outbox``),
so records written before the typed model are read as they are. Each part's id and acceptance are in
``part_ids`` and ``parts_accepted``, the receipts applied in ``receipts`` (``{message_id, outcome}``
documents: ids are not safe as field names, and FerretDB stores no nested arrays), and ``part_states`` says where each part stands for
whoever reads the collection directly (derived; never read back)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from contracts.sealed import Sealed
from services.notify.domain.ledger import PartOutcome, SmsState
from services.notify.domain.records import (
    HistoryEntry,
    KeptReceipt,
    Owed,
    SmsPart,
    SmsRecord,
    with_part_ids,
)

Doc = dict[str, Any]

# Fields a record gains on its way (absent from a new record's document rather than null).
LATER_FIELDS = (
    "recipient_sealed",
    "text_sealed",
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
        "part_ids": [p.message_id for p in r.parts],
        "parts_accepted": [p.accepted for p in r.parts],
        "part_states": [r.part_state(p).value for p in r.parts],
        "receipts": [{"message_id": i, "outcome": o.value} for i, o in r.receipts],
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
        "recipient_sealed": r.recipient_sealed.model_dump() if r.recipient_sealed else None,
        "text_sealed": r.text_sealed.model_dump() if r.text_sealed else None,
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
    if "parts_accepted" in doc:
        part_ids = list(doc.get("part_ids") or [None] * len(prefixes))
        accepted = list(doc["parts_accepted"])
        parts = tuple(
            SmsPart(n, p, str(part_ids[n - 1]) if part_ids[n - 1] else None, bool(accepted[n - 1]))
            for n, p in enumerate(prefixes, start=1)
        )
    else:  # written before parts were recorded one by one
        parts = with_part_ids(tuple(SmsPart(n, p) for n, p in enumerate(prefixes, start=1)), ids)
        if ids and doc.get("state") not in ("pending", "deferred", "sending"):
            parts = tuple(replace(p, accepted=True) for p in parts)
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
        receipts=tuple((str(x["message_id"]), PartOutcome(x["outcome"])) for x in doc.get("receipts") or ()),
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
        recipient_sealed=Sealed.model_validate(doc["recipient_sealed"])
        if doc.get("recipient_sealed")
        else None,
        text_sealed=Sealed.model_validate(doc["text_sealed"]) if doc.get("text_sealed") else None,
    )


def kept_document(k: KeptReceipt) -> Doc:
    return {
        "_id": k.key,
        "provider": k.provider,
        "message_id": k.message_id,
        "outcome": k.outcome.value,
        "error": k.error,
        "received_at": k.received_at,
        "reported_at": k.reported_at,
    }


def kept_from_document(doc: Doc) -> KeptReceipt:
    return KeptReceipt(
        provider=str(doc["provider"]),
        message_id=str(doc["message_id"]),
        outcome=PartOutcome(doc["outcome"]),
        error=str(doc.get("error") or ""),
        received_at=doc["received_at"],
        reported_at=doc.get("reported_at"),
    )
