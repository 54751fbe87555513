"""Ledger records as MongoDB documents: the layout the ledger has always had, read back unchanged, and
an update that writes only what a change changed."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from services.notify.adapters.ledger.documents import changed_fields, from_document, new_document, to_document
from services.notify.domain import records as rec
from services.notify.domain.records import Owed
from tests.unit.notify.factory import NOW, pending_record


def test_a_new_record_is_written_in_the_ledgers_layout_and_read_back_unchanged() -> None:
    record = pending_record("case-1")
    doc = new_document(record)
    assert set(doc) == {
        "_id", "case_id", "source_event_id", "source_event_type", "source_event_time", "correlationid",
        "template", "recipient", "text", "parts", "encoding", "part_prefixes", "part_ids", "parts_accepted",
            "part_states", "receipts", "urgent", "local_id",
        "state", "not_before", "reason", "claims", "provider", "provider_message_ids", "outbox",
        "replay_run", "created_at", "updated_at", "history", "version",
    }  # fmt: skip
    assert doc["parts"] == record.segments and doc["state"] == "pending" and doc["outbox"] == []
    assert doc["history"] == [{"at": NOW, "to": "pending", "note": "recorded"}]
    assert from_document(doc) == record


def test_a_record_with_ids_and_owed_events_survives_the_round_trip() -> None:
    record = rec.claim(pending_record("case-1"), now=NOW, lease_until=NOW, replica="r", provider="smpp")
    assert record is not None
    done = rec.submitted(record, now=NOW, message_ids=["m1"], delivered=False, note="accepted")
    assert done is not None
    assert from_document(to_document(done)) == done


def test_a_change_writes_only_the_fields_it_changed() -> None:
    record = pending_record("case-1")
    claimed = rec.claim(
        record, now=NOW, lease_until=NOW + timedelta(minutes=2), replica="r1", provider="fake"
    )
    assert claimed is not None
    after = replace(claimed, version=1, updated_at=NOW)
    assert set(changed_fields(record, after)) == {
        "state",
        "lease_until",
        "claimed_by",
        "claims",
        "history",
        "version",
    }
    owing = replace(after, owed=(Owed.sent,))
    assert changed_fields(owing, replace(owing, owed=())) == {"outbox": []}
    # A field a record had is cleared explicitly; one it never had stays absent.
    submitted = rec.submitted(
        after, now=NOW, message_ids=["m1"], delivered=False, note="ok", published=[Owed.sent]
    )
    assert submitted is not None
    diff = changed_fields(after, submitted)
    assert diff["lease_until"] is None and "error" not in diff and diff["provider_message_ids"] == ["m1"]
