"""Looking a case up by tracking code on FerretDB goes through the code -> case mapping (reads by _id),
and a case stored without a mapping is still found, once by a query, then through the mapping."""

from __future__ import annotations

from typing import Any

from services.tracking.adapters.cases import MongoCaseStore
from services.tracking.domain.projection import apply_all
from services.tracking.service.project_events import apply_events
from tests.unit.tracking.factory import CaseEvents


async def test_a_saved_case_is_found_by_its_code_through_the_mapping(mongo: Any, unique: str) -> None:
    db = mongo[f"test_tracking_codes_{unique}"]
    try:
        store = MongoCaseStore(db)
        c = CaseEvents(f"code-{unique}")
        await apply_events(store, [c.registered(), c.routed()])
        assert await db["cases_codes"].find_one({"_id": c.code}) == {"_id": c.code, "case_id": c.case_id}
        found = await store.by_tracking_code(c.code)
        assert found is not None and found.id == c.case_id and found.status == "routed"

        # Stored without a mapping (as before the mapping existed, or by a rebuild's swap).
        old = CaseEvents(f"old-{unique}")
        await db["cases"].insert_one(apply_all(None, [old.registered()]).to_document())
        fresh = MongoCaseStore(db)
        found = await fresh.by_tracking_code(old.code)
        assert found is not None and found.id == old.case_id
        assert await db["cases_codes"].find_one({"_id": old.code}) is not None  # mapped from now on

        assert await fresh.by_tracking_code("1111111111") is None
    finally:
        await mongo.drop_database(db.name)
