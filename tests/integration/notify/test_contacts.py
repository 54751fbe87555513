"""The case contacts notify keeps (phone, tracking code, agency): a registration stores its contact
without looking for one first, and a registration seen again keeps what later events added."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from contracts.catalogue import AgencyCode
from services.common.kafka import Incoming
from services.notify.adapters.providers.file import FileProvider
from services.notify.adapters.store import Contacts
from services.notify.domain.messages import CaseContact
from tests.integration.notify.conftest import Published, make_notifier
from tests.integration.notify.helpers import phone_for, registered, routed

CASES = "samad.cases.v1"


class CountingContacts(Contacts):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self.reads = 0

    async def get(self, case_id: str) -> CaseContact | None:
        self.reads += 1
        return await super().get(case_id)


async def test_a_registration_stores_its_contact_without_a_read_and_a_redelivery_keeps_the_agency(
    unique: str, tmp_path: Path, mongo_db: Any
) -> None:
    notifier = make_notifier(mongo_db, FileProvider(tmp_path / "outbox.jsonl"), Published())
    contacts = CountingContacts(mongo_db)
    notifier.contacts = contacts
    case_id, phone = f"contact-{unique}", phone_for(unique)
    first = registered(case_id, phone)

    await notifier.handle([Incoming(first, CASES, 0, 0, {})])
    assert contacts.reads == 0
    stored = await mongo_db["case_contacts"].find_one({"_id": case_id})
    assert (stored["phone"], stored["agency"]) == (phone, None)

    await notifier.handle([Incoming(routed(case_id, AgencyCode.water_wastewater), CASES, 0, 1, {})])
    assert contacts.reads == 1  # a routing needs the phone the registration left

    # The registration again (a redelivery): the insert finds the contact, which is read and merged,
    # so the agency the routing set stays, and no second registration SMS is recorded.
    await notifier.handle([Incoming(first, CASES, 0, 0, {})])
    assert contacts.reads == 2
    stored = await mongo_db["case_contacts"].find_one({"_id": case_id})
    assert (stored["phone"], stored["agency"]) == (phone, AgencyCode.water_wastewater.value)
    templates = sorted(d["template"] for d in await notifier.ledger.list(case_id=case_id))
    assert templates == ["registered", "routed"]
