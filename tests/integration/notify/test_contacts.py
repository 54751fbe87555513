"""The case contacts notify keeps (phone, tracking code, agency): a registration stores its contact
without looking for one first, a registration seen again keeps what later events added, and a batch
of several cases is projected in each case's order with one insert for all its new SMS."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from contracts.catalogue import AgencyCode, agency
from services.common.kafka import Incoming
from services.notify.adapters.contacts import MongoContacts
from services.notify.adapters.ledger.mongo import MongoLedger
from services.notify.adapters.providers.file import FileProvider
from services.notify.domain.messages import CaseContact
from services.notify.domain.records import SmsRecord
from tests.integration.notify.conftest import Published, make_notify
from tests.integration.notify.helpers import phone_for, registered, routed

CASES = "samad.cases.v1"


class CountingContacts(MongoContacts):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.reads = 0

    async def get(self, case_id: str) -> CaseContact | None:
        self.reads += 1
        return await super().get(case_id)


class CountingLedger(MongoLedger):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.inserts: list[int] = []

    async def insert_many(self, records: Sequence[SmsRecord]) -> set[int]:
        self.inserts.append(len(records))
        return await super().insert_many(records)


async def test_a_registration_stores_its_contact_without_a_read_and_a_redelivery_keeps_the_agency(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    contacts = CountingContacts(mongo_db)
    notify = make_notify(mongo_db, FileProvider(tmp_path / "outbox.jsonl"), Published(), contacts=contacts)
    case_id, phone = f"contact-{unique}", phone_for(unique)
    first = registered(case_id, phone)

    await notify.recorder.handle([Incoming(first, CASES, 0, 0, {})])
    assert contacts.reads == 0
    stored = await mongo_db["case_contacts"].find_one({"_id": case_id})
    assert (stored["phone"], stored["agency"]) == (phone, None)

    await notify.recorder.handle([Incoming(routed(case_id, AgencyCode.water_wastewater), CASES, 0, 1, {})])
    assert contacts.reads == 1  # a routing needs the phone the registration left

    # The registration again (a redelivery): the insert finds the contact, which is read and merged,
    # so the agency the routing set stays, and no second registration SMS is recorded.
    await notify.recorder.handle([Incoming(first, CASES, 0, 0, {})])
    assert contacts.reads == 2
    stored = await mongo_db["case_contacts"].find_one({"_id": case_id})
    assert (stored["phone"], stored["agency"]) == (phone, AgencyCode.water_wastewater.value)
    templates = sorted(r.template for r in await notify.ledger.list(case_id=case_id))
    assert templates == ["registered", "routed"]


async def test_a_batch_is_projected_in_each_cases_order_and_its_sms_inserted_at_once(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    contacts, ledger = CountingContacts(mongo_db), CountingLedger(mongo_db)
    notify = make_notify(
        mongo_db, FileProvider(tmp_path / "outbox.jsonl"), Published(), ledger=ledger, contacts=contacts
    )
    a, b, c = (f"batch-{unique}-{n}" for n in "abc")
    events = [
        registered(a, phone_for(f"{unique}a")),
        registered(b, phone_for(f"{unique}b")),
        routed(a, AgencyCode.water_wastewater),  # in the same batch as its registration
        registered(c, phone_for(f"{unique}c")),
        routed(b, AgencyCode.education),
    ]
    batch = [Incoming(e, CASES, 0, n, {}) for n, e in enumerate(events)]

    await notify.recorder.handle(batch)
    assert contacts.reads == 0  # three new cases: nothing looked up
    assert ledger.inserts == [5]  # every SMS of the batch in one command
    stored = {d["_id"]: d async for d in mongo_db["case_contacts"].find({"_id": {"$in": [a, b, c]}})}
    assert {k: v["agency"] for k, v in stored.items()} == {
        a: AgencyCode.water_wastewater.value,
        b: AgencyCode.education.value,
        c: None,
    }
    records = [r for cid in (a, b, c) for r in await notify.ledger.list(case_id=cid)]
    assert sorted((r.case_id, r.template) for r in records) == [
        (a, "registered"),
        (a, "routed"),
        (b, "registered"),
        (b, "routed"),
        (c, "registered"),
    ]
    routed_a = next(r for r in records if (r.case_id, r.template) == (a, "routed"))
    assert routed_a.recipient == phone_for(f"{unique}a")
    # The agency's name comes from the routing folded onto the registration within this batch.
    assert agency(AgencyCode.water_wastewater).fa in routed_a.text

    # The whole batch again (a redelivery): each case's stored contact is read once, nothing changes.
    await notify.recorder.handle(batch)
    assert contacts.reads == 3
    assert ledger.inserts == [5, 5]
    again = {d["_id"]: d async for d in mongo_db["case_contacts"].find({"_id": {"$in": [a, b, c]}})}
    assert {k: v["agency"] for k, v in again.items()} == {k: v["agency"] for k, v in stored.items()}
    assert len([r for cid in (a, b, c) for r in await notify.ledger.list(case_id=cid)]) == 5
