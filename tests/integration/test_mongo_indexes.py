"""Secondary indexes are created only where the server uses them: FerretDB 1.x answers every query but
one by _id by reading the collection, so there they would only slow writes down. Unique indexes are
constraints and always created. Also the shared insert that keeps what is already there."""

from __future__ import annotations

from typing import Any

import pytest

from services.common.mongo import SECONDARY_INDEXES_ENV, create_index, insert_new, serves_secondary_indexes
from services.tracking.adapters.cases import MongoCaseStore


@pytest.fixture
def db(scratch_db: Any) -> Any:
    return scratch_db


async def test_the_test_server_is_ferretdb_1_and_gets_no_secondary_index(db: Any) -> None:
    info = await db.client.admin.command("buildInfo")
    assert str(info["ferretdbVersion"]).startswith("v1.")
    assert not await serves_secondary_indexes(db)
    await MongoCaseStore(db).ensure_indexes()
    await db.cases.insert_one({"_id": "c1"})
    assert list(await db.cases.index_information()) == ["_id_"]


async def test_unique_indexes_are_always_created(db: Any) -> None:
    assert await create_index(db.codes, [("code", 1)], name="code", unique=True) == "code"
    assert "code" in await db.codes.index_information()
    await db.codes.insert_one({"code": "A"})
    with pytest.raises(Exception, match="duplicate key"):
        await db.codes.insert_one({"code": "A"})


async def test_the_setting_overrides_what_the_server_says(db: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "always")
    await MongoCaseStore(db).ensure_indexes()
    assert {"tracking_code", "agency_due"} <= set(await db.cases.index_information())
    monkeypatch.setenv(SECONDARY_INDEXES_ENV, "sometimes")
    with pytest.raises(ValueError, match=SECONDARY_INDEXES_ENV):
        await serves_secondary_indexes(db)


async def test_insert_new_reports_the_documents_already_there(db: Any) -> None:
    await db.things.insert_one({"_id": "b", "v": 0})
    assert await insert_new(db.things, [{"_id": "a"}, {"_id": "b", "v": 1}, {"_id": "c"}]) == [1]
    assert await db.things.find_one({"_id": "b"}) == {"_id": "b", "v": 0}  # left as it was
    assert await db.things.count_documents({}) == 3
    assert await insert_new(db.things, []) == []
