"""Tracking codes on the real FerretDB: random per case, claimed once with a unique _id, and found again
by case id when a retry follows a crash between the claim and the publication."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from contracts import tracking_code
from contracts.events import CaseRegistered
from services.common.clock import FixedClock, SystemClock
from services.common.publishing import BusUnavailable, InMemoryPublisher
from services.intake.adapters.call_log import SCENARIO, CsvCallLog
from services.intake.adapters.store import MongoIntakeStore
from services.intake.adapters.tracking import InMemoryTrackingDirectory
from services.intake.bootstrap import IntakeContainer, bootstrap
from services.intake.domain.operators import Acting
from services.intake.domain.requests import CaseIn
from services.intake.service.import_calls import read_rows
from tests.integration.intake.conftest import drop_database, intake_settings
from tests.support.stack import MONGO

OPERATOR = Acting("op-1", "operator")
WATER = CaseIn.model_validate(
    {
        "phone": "09151234567",
        "county": "mashhad",
        "subject": "قطعی آب",
        "description": "آب محلهٔ ما از دیروز قطع است و هیچ اطلاع‌رسانی نشده است",
    }
)


@dataclass
class Intake:
    """Intake on a fresh FerretDB database; the publisher is a fake, so Kafka's state cannot interfere."""

    container: IntakeContainer
    store: MongoIntakeStore
    publisher: InMemoryPublisher

    def codes(self) -> dict[str, str]:
        return {
            e.data.case_id: e.data.tracking_code
            for e in self.publisher.events
            if isinstance(e.data, CaseRegistered)
        }


Fresh = Callable[..., Awaitable[Intake]]


@pytest.fixture
async def fresh() -> AsyncIterator[Fresh]:
    made: list[Intake] = []

    async def make(clock: FixedClock | None = None) -> Intake:
        tag = uuid.uuid4().hex[:10]
        settings = intake_settings(tag)
        store = MongoIntakeStore.open(MONGO, settings.db_name, "test")
        await store.setup()
        publisher = InMemoryPublisher("intake")
        container = bootstrap(
            settings,
            store=store,
            publisher=publisher,
            tracking=InMemoryTrackingDirectory(),
            clock=clock or SystemClock(),
        )
        made.append(Intake(container, store, publisher))
        return made[-1]

    yield make
    for intake in made:
        await intake.store.close()
        await drop_database(intake.container.settings.db_name)


async def test_the_sample_files_codes_differ_between_imports_into_two_fresh_databases(fresh: Fresh) -> None:
    codes = []
    for _ in range(2):
        intake = await fresh()
        summary = await intake.container.import_calls(read_rows(CsvCallLog(SCENARIO)))
        assert summary.cases_registered == 65 and summary.rejected == []
        codes.append(intake.codes())
    first, second = codes
    assert first.keys() == second.keys()  # the same rows are the same cases
    assert all(first[case_id] != second[case_id] for case_id in first)
    assert all(tracking_code.is_valid(code) for code in first.values())
    assert all(code != tracking_code.from_seed(case_id) for case_id, code in first.items())


async def test_a_retry_after_a_crash_between_claim_and_publish_gets_the_claimed_code(fresh: Fresh) -> None:
    clock = FixedClock(SystemClock().now())
    intake = await fresh(clock)

    async def died(*_args: object) -> None:  # a killed process releases nothing: its key stays pending
        return None

    release = intake.store.release_key
    intake.store.release_key = died  # type: ignore[method-assign]
    intake.publisher.available = False
    with pytest.raises(BusUnavailable):
        await intake.container.register_case(WATER, key="k-crash", by=OPERATOR)
    intake.store.release_key = release  # type: ignore[method-assign]
    claims = [doc async for doc in intake.store.codes.find({})]
    assert len(claims) == 1 and intake.publisher.events == []
    claimed, case_id = claims[0]["_id"], claims[0]["case_id"]

    intake.publisher.available = True
    clock.advance(timedelta(seconds=intake.container.settings.idempotency_pending_seconds + 1))
    retry = await intake.container.register_case(WATER, key="k-crash", by=OPERATOR)
    assert (retry.status_code, retry.body["case_id"], retry.body["tracking_code"]) == (201, case_id, claimed)
    assert intake.codes() == {case_id: claimed}
    assert claimed != tracking_code.from_seed(case_id)
    assert await intake.store.codes.count_documents({}) == 1  # no second code was drawn for the case
    again = await intake.container.register_case(WATER, key="k-crash", by=OPERATOR)
    assert again.replayed and again.body["tracking_code"] == claimed


async def test_a_code_is_one_cases_and_a_case_keeps_the_code_it_recorded_first(fresh: Fresh) -> None:
    store = (await fresh()).store
    taken, mine, later = (tracking_code.random_code() for _ in range(3))
    assert await store.claim_tracking_code(taken, "case-a") == taken
    assert await store.claim_tracking_code(taken, "case-b") is None  # another case's: draw again
    assert await store.claim_tracking_code(mine, "case-b") == mine
    assert await store.claim_tracking_code(later, "case-b") == mine  # a concurrent attempt's code
    assert await store.claim_tracking_code(mine, "case-b") == mine  # the same claim again
    assert await store.tracking_code_of("case-b") == mine and await store.tracking_code_of("case-c") is None
    assert {doc["_id"] async for doc in store.codes.find({})} == {taken, mine}  # "later" was given back
    assert (await store.case_by_tracking_code(mine)) is None  # claimed, not yet a published case
