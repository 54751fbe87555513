"""Tracking codes are drawn at random, once per case: nothing a caller knows (the Idempotency-Key, a
CSV call_ref, the case id) predicts one, and a retry still gets the code its case was given."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts import tracking_code
from contracts.events import CaseRegistered
from services.common.publishing import BusUnavailable
from services.intake.adapters.call_log import SCENARIO, CsvCallLog
from services.intake.service.import_calls import read_rows
from tests.unit.intake.conftest import OP1, World, build_world, case


async def _import_scenario(world: World) -> dict[str, str]:
    world.clock.advance(timedelta(days=2))  # the session ended before the import
    summary = await world.intake.import_calls(read_rows(CsvCallLog(SCENARIO)))
    assert summary.cases_registered == 65
    return {
        e.data.case_id: e.data.tracking_code
        for e in world.publisher.events
        if isinstance(e.data, CaseRegistered)
    }


async def test_the_sample_files_codes_differ_between_two_fresh_imports_and_are_not_derived() -> None:
    first = await _import_scenario(build_world())
    second = await _import_scenario(build_world())
    assert first.keys() == second.keys()  # the same rows are the same cases (ids from the call_ref)
    assert all(tracking_code.is_valid(code) for code in [*first.values(), *second.values()])
    assert all(first[case_id] != second[case_id] for case_id in first)
    assert all(code != tracking_code.from_seed(case_id) for case_id, code in first.items())
    assert len(set(first.values())) == 65


async def test_a_retry_with_the_same_key_gets_the_same_case_and_code(world: World) -> None:
    first = await world.intake.register_case(case(), key="k-retry", by=OP1)
    again = await world.intake.register_case(case(), key="k-retry", by=OP1)
    assert (again.body["case_id"], again.body["tracking_code"]) == (
        first.body["case_id"],
        first.body["tracking_code"],
    )
    assert first.body["tracking_code"] != tracking_code.from_seed(first.body["case_id"])


async def test_a_retry_after_a_crash_between_claim_and_publish_gets_the_claimed_code(world: World) -> None:
    async def died(*_args: object) -> None:  # a killed process releases nothing: its key stays pending
        return None

    world.store.release_key = died  # type: ignore[method-assign]
    world.publisher.available = False  # the code is claimed, then the process dies before publishing
    with pytest.raises(BusUnavailable):
        await world.intake.register_case(case(), key="k-crash", by=OP1)
    assert world.publisher.events == []
    [(claimed, case_id)] = world.store.codes.items()
    world.publisher.available = True
    world.clock.advance(timedelta(seconds=world.intake.settings.idempotency_pending_seconds + 1))
    retry = await world.intake.register_case(case(), key="k-crash", by=OP1)  # takes the stale key over
    assert (retry.status_code, retry.body["case_id"], retry.body["tracking_code"]) == (201, case_id, claimed)
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered) and event.data.tracking_code == claimed
    assert claimed != tracking_code.from_seed(case_id)
    assert len(world.store.codes) == 1  # no second code was drawn for the case
