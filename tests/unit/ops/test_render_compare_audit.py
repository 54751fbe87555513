"""What an operator sees in tail, in a rebuild comparison, and in the audit trail."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest

from contracts.events import CaseRegistered, Citizen, make_event
from services.common.clock import FixedClock
from services.ops.adapters.store import InMemoryOpsStore
from services.ops.domain.audit import Operator
from services.ops.domain.compare import compare_ids, differences
from services.ops.domain.records import RawRecord
from services.ops.domain.render import matches, view
from services.ops.service.audit import Auditor
from services.ops.service.errors import AuditUnavailable

TEHRAN = ZoneInfo("Asia/Tehran")


def registered() -> RawRecord:
    from datetime import UTC, datetime

    data = CaseRegistered(
        case_id="case-1",
        tracking_code="1234567",
        county="mashhad",
        citizen=Citizen(phone="+989121234567", national_id="0012345679"),
        subject="قطعی آب",
        description="آب محله از دیروز قطع است؛ شماره من ۰۹۱۲۱۲۳۴۵۶۷ است",
        registered_at=datetime(2025, 3, 1, 8, 0, tzinfo=UTC),
    )
    env = make_event(data, source="/samad/intake", event_id="e-1")
    return RawRecord(
        "samad.cases.v1", 2, 17, 1_740_816_000_000, b"case-1", env.to_json(), (("samad-replay-run", b"r-9"),)
    )


def test_tail_view_shows_persian_masks_personal_data_and_marks_replays() -> None:
    v = view(registered(), zone=TEHRAN)
    fields = dict(v.fields)
    assert v.type == "case.registered"
    assert v.where == "2@17"
    assert v.when.startswith("2025-03-01T11:30:00")  # Tehran time
    assert "replay:r-9" in v.marks
    assert fields["subject"] == "قطعی آب"
    assert fields["citizen.phone"] == "+98912***4567"
    assert fields["citizen.national_id"] == "001*****79"
    assert "1234567" not in fields["description"] and "آب محله" in fields["description"]
    unmasked = dict(view(registered(), zone=TEHRAN, unmask=True).fields)
    assert unmasked["citizen.phone"] == "+989121234567"


def test_bidi_reorders_right_to_left_text_for_plain_terminals() -> None:
    logical = dict(view(registered(), zone=TEHRAN).fields)["subject"]
    visual = dict(view(registered(), zone=TEHRAN, bidi=True).fields)["subject"]
    assert visual != logical
    assert sorted(visual) == sorted(logical)
    assert dict(view(registered(), zone=TEHRAN, bidi=True).fields)["case_id"] == "case-1"


def test_undecodable_messages_are_shown_not_hidden() -> None:
    v = view(RawRecord("t", 0, 1, 0, b"k", b"{not json", ()), zone=TEHRAN)
    assert v.undecodable and dict(v.fields)["value"] == "{not json"


def test_case_and_type_filters() -> None:
    r = registered()
    assert matches(r, case="case-1", event_type=None)
    assert matches(r, case="۱۲۳۴۵۶۷", event_type="case.registered")  # tracking code, Persian digits
    assert not matches(r, case="case-2", event_type=None)
    assert not matches(r, case=None, event_type="case.routed")


def test_differences_name_the_paths() -> None:
    live = {"_id": "c1", "status": "routed", "timeline": [{"t": 1}], "agency": "water"}
    shadow = {"_id": "c1", "status": "resolved", "timeline": [{"t": 1}, {"t": 2}], "notes": []}
    diff = differences(live, shadow)
    assert "status: live 'routed' != shadow 'resolved'" in diff
    assert "timeline: 1 items in live, 2 in shadow" in diff
    assert "agency: missing in shadow" in diff
    assert "notes: missing in live" in diff
    assert differences(live, dict(live)) == []
    assert compare_ids(["a", "b"], ["b", "c"]) == (["a"], ["c"])


def operator(actor: str) -> Operator:
    return Operator(actor=actor, os_user="ops", host="ops-1", pid=4242)


async def test_audit_records_who_what_and_outcome() -> None:
    store = InMemoryOpsStore()
    auditor = Auditor(store, operator("maryam"), FixedClock())
    async with auditor.action("offsets reset", {"group": "g", "execute": True}, changes=True) as action:
        action.refuse("group g is Stable")
    with pytest.raises(RuntimeError):
        async with auditor.action("events load", {"file": "x.jsonl"}, changes=True):
            raise RuntimeError("broker down")
    entries = await store.audit_list(limit=10)
    by_command = {e["command"]: e for e in entries}
    assert by_command["offsets reset"]["actor"] == "maryam"
    assert (by_command["offsets reset"]["os_user"], by_command["offsets reset"]["host"]) == ("ops", "ops-1")
    assert by_command["offsets reset"]["outcome"] == "refused"
    assert by_command["offsets reset"]["arguments"] == {"group": "g", "execute": True}
    assert by_command["events load"]["outcome"] == "failed"
    assert "broker down" in by_command["events load"]["detail"]["error"]
    assert all(e["finished_at"] >= e["started_at"] for e in entries)


class BrokenStore(InMemoryOpsStore):
    async def audit_begin(self, entry: dict) -> None:
        raise ConnectionError("mongo down")


async def test_a_changing_action_does_not_run_without_its_audit_record() -> None:
    ran = []
    with pytest.raises(AuditUnavailable):
        async with Auditor(BrokenStore(), operator("a"), FixedClock()).action(
            "events load", {}, changes=True
        ):
            ran.append("load")
    async with Auditor(BrokenStore(), operator("a"), FixedClock()).action("events tail", {}, changes=False):
        ran.append("tail")
    assert ran == ["tail"]
