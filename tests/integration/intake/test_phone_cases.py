"""Intake's list of cases per phone on FerretDB: what repeat-call detection reads instead of a query on
the phone field (which FerretDB answers by reading every case)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.intake.adapters.store import MongoIntakeStore
from tests.integration.notify.helpers import registered as registered_event


@pytest.fixture
def db(scratch_db: Any) -> Any:
    return scratch_db


def registered(case_id: str, phone: str, at: datetime) -> Any:
    return registered_event(case_id, phone, at=at)


async def test_open_cases_of_a_phone_within_the_window_are_found(db: Any, unique: str) -> None:
    store = MongoIntakeStore(db)
    await store.setup()
    now = datetime.now(UTC)
    phone, other = "+989121234567", "+989127654321"
    for case_id, who, at in [
        (f"old-{unique}", phone, now - timedelta(days=30)),
        (f"new-{unique}", phone, now - timedelta(hours=1)),
        (f"newer-{unique}", phone, now - timedelta(minutes=5)),
        (f"theirs-{unique}", other, now),
    ]:
        assert await store.apply_event(registered(case_id, who, at))
    found = await store.open_cases_for_phone(phone, now - timedelta(days=7))
    assert [c.case_id for c in found] == [f"newer-{unique}", f"new-{unique}"]
    assert [c.case_id for c in await store.open_cases_for_phone(other, now - timedelta(days=7))] == [
        f"theirs-{unique}"
    ]


async def test_a_database_from_before_the_list_is_indexed_at_setup(db: Any, unique: str) -> None:
    store = MongoIntakeStore(db)
    now = datetime.now(UTC)
    assert await store.apply_event(registered(f"a-{unique}", "+989121112233", now))
    await db["phone_cases"].drop()  # as an older intake left it
    assert await store.open_cases_for_phone("+989121112233", now - timedelta(days=1)) == []
    await MongoIntakeStore(db).setup()
    [found] = await store.open_cases_for_phone("+989121112233", now - timedelta(days=1))
    assert found.case_id == f"a-{unique}"


async def test_concurrent_registrations_from_one_phone_are_all_listed(db: Any, unique: str) -> None:
    store = MongoIntakeStore(db)
    await store.setup()
    now = datetime.now(UTC)
    phone = "+989123334455"
    events = [registered(f"c{i}-{unique}", phone, now) for i in range(8)]
    # The request path and the consumer apply the same registration at once, for several cases.
    await asyncio.gather(*(store.apply_event(e) for e in events + events))
    found = await store.open_cases_for_phone(phone, now - timedelta(days=1))
    assert {c.case_id for c in found} == {f"c{i}-{unique}" for i in range(8)}
