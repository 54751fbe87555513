"""The MongoDB store speaks its own exceptions: an outage is ``StoreUnavailable`` (a ConnectionError, so
consumers retry it), a bad configuration ``StoreError``; no caller sees a pymongo exception."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient

from services.intake.adapters.store import MongoIntakeStore, StoreError, StoreUnavailable


async def test_an_unreachable_database_is_store_unavailable() -> None:
    # The services wait 5 s for a server; the outcome is the same after 0.3 s.
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
        "mongodb://127.0.0.1:1/", serverSelectionTimeoutMS=300
    )
    store = MongoIntakeStore(client["samad_intake_unreachable"])
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await store.get_case("c1")
        assert isinstance(caught.value, ConnectionError)
        with pytest.raises(StoreUnavailable):
            await store.purge_keys(datetime.now(UTC))
    finally:
        await client.close()


def test_a_malformed_url_is_a_store_error() -> None:
    with pytest.raises(StoreError) as caught:
        MongoIntakeStore.open("bad://x", "samad_intake", "test")
    assert not isinstance(caught.value, ConnectionError)
