"""Every test here talks to the real Kafka and FerretDB of the test profile."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from services.common.mongo import make_client
from tests.support.stack import MONGO


@pytest.fixture(autouse=True, scope="session")
def _real_stack(real_stack: None) -> None:
    return real_stack


@pytest.fixture
async def scratch_db(unique: str) -> AsyncIterator[Any]:
    """A database of its own on the test FerretDB, dropped afterwards."""
    client = make_client(MONGO, "test")
    name = f"test_{unique}"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()
