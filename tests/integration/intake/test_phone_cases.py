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


class CountingReads:
    """A collection that counts its find_one calls (everything else passes through)."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.reads = inner, 0

    async def find_one(self, *args: Any, **kwargs: Any) -> Any:
        self.reads += 1
        return await self.inner.find_one(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_a_registration_reads_nothing_it_has_just_read_and_its_echo_reads_nothing(
    db: Any, unique: str
) -> None:
    store = MongoIntakeStore(db)
    await store.setup()
    now = datetime.now(UTC)
    phone = "+989125556677"
    assert await store.apply_event(registered(f"first-{unique}", phone, now - timedelta(hours=1)))
    cases, phones = CountingReads(store.cases), CountingReads(store.phones)
    store.cases, store.phones = cases, phones  # type: ignore[assignment]

    # The repeat-call check reads the phone's list; the registration that follows starts from there.
    [earlier] = await store.open_cases_for_phone(phone, now - timedelta(days=1))
    assert earlier.case_id == f"first-{unique}"
    cases.reads = phones.reads = 0
    event = registered(f"second-{unique}", phone, now)
    assert await store.apply_event(event, new=True)
    assert (cases.reads, phones.reads) == (0, 0)
    # Its echo from Kafka is known here: no lookup. Another replica looks it up and skips it.
    assert not await store.apply_event(event)
    assert cases.reads == 0
    assert not await MongoIntakeStore(db).apply_event(event)
    found = await store.open_cases_for_phone(phone, now - timedelta(days=1))
    assert [c.case_id for c in found] == [f"second-{unique}", f"first-{unique}"]


async def test_a_slot_taken_since_the_check_is_skipped_not_overwritten(db: Any, unique: str) -> None:
    mine, theirs = MongoIntakeStore(db), MongoIntakeStore(db)
    await mine.setup()
    now = datetime.now(UTC)
    phone = "+989128889900"
    assert await mine.open_cases_for_phone(phone, now - timedelta(days=1)) == []  # next slot: 0
    assert await theirs.apply_event(registered(f"theirs-{unique}", phone, now))  # takes slot 0
    assert await mine.apply_event(registered(f"mine-{unique}", phone, now + timedelta(seconds=1)), new=True)
    found = await mine.open_cases_for_phone(phone, now - timedelta(days=1))
    assert [c.case_id for c in found] == [f"mine-{unique}", f"theirs-{unique}"]


async def test_a_case_listed_before_its_view_is_found_once_the_view_is_written(db: Any, unique: str) -> None:
    # A registration lists its case for the phone while publishing, then writes the view.
    store = MongoIntakeStore(db)
    await store.setup()
    now = datetime.now(UTC)
    phone = "+989124445566"
    await store.list_for_phone(phone, f"listed-{unique}", now)
    assert await store.open_cases_for_phone(phone, now - timedelta(days=1)) == []  # no view yet
    assert await store.apply_event(registered(f"listed-{unique}", phone, now), new=True, listed=True)
    [found] = await store.open_cases_for_phone(phone, now - timedelta(days=1))
    assert found.case_id == f"listed-{unique}"
    # Listed once, and a phone's first case writes no hint: the next registration from the phone
    # probes past slot 0, takes the next slot and writes the hint then.
    assert await db["phone_cases"].find_one({"_id": phone}) is None
    assert await MongoIntakeStore(db).apply_event(
        registered(f"next-{unique}", phone, now + timedelta(seconds=1))
    )
    found = await store.open_cases_for_phone(phone, now - timedelta(days=1))
    assert [c.case_id for c in found] == [f"next-{unique}", f"listed-{unique}"]
    assert await db["phone_cases"].find_one({"_id": f"{phone}#1"}) is not None
    assert (await db["phone_cases"].find_one({"_id": phone}))["next"] == 2


async def test_a_retry_finds_its_own_case_in_the_phones_list_whatever_its_state(db: Any, unique: str) -> None:
    store = MongoIntakeStore(db)
    await store.setup()
    now = datetime.now(UTC)
    phone = "+989126667788"
    assert await store.phone_cases(phone, now - timedelta(days=1), f"mine-{unique}") == (None, [])
    assert await store.apply_event(registered(f"mine-{unique}", phone, now))
    assert await store.apply_event(registered(f"other-{unique}", phone, now + timedelta(seconds=1)))
    own, found = await store.phone_cases(phone, now - timedelta(days=1), f"mine-{unique}")
    assert own is not None and own.case_id == f"mine-{unique}"
    assert [c.case_id for c in found] == [f"other-{unique}", f"mine-{unique}"]
    await db["cases"].update_one({"_id": f"mine-{unique}"}, {"$set": {"status": "closed", "open": False}})
    own, found = await store.phone_cases(phone, now - timedelta(days=1), f"mine-{unique}")
    assert own is not None and own.status == "closed" and [c.case_id for c in found] == [f"other-{unique}"]
