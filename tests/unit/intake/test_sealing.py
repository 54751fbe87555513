"""Intake seals what it publishes: no phone, name, national id or description in clear in its events or
its view, and repeat calls are still found (by the citizen's key id and the opened descriptions)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from contracts.events import CallOutcome, CallReceived, CaseRegistered, CaseRepeatCall
from services.common.clock import FixedClock
from services.common.keystore import InMemoryKeyStore
from services.common.publishing import InMemoryPublisher
from services.common.sealing import KeyRing, Sealer, new_key_text, open_event, parse_keks
from services.intake.adapters.store import InMemoryIntakeStore, _view_doc
from services.intake.adapters.tracking import InMemoryTrackingDirectory
from services.intake.bootstrap import bootstrap
from services.intake.domain.operators import Acting
from services.intake.domain.requests import CallIn
from tests.unit.intake.conftest import NOW, OP1, case, unit_settings

PHONE = "+989151234567"
NAME, NID = "مریم احمدی", "0012345679"
DESCRIPTION = case().description  # as validation normalised it


def _intake() -> tuple[object, InMemoryPublisher, InMemoryIntakeStore, Sealer, FixedClock]:
    sealer = Sealer(InMemoryKeyStore(), KeyRing(parse_keks(f"k1:{new_key_text()}")), b"i" * 32)
    store, publisher, clock = InMemoryIntakeStore(), InMemoryPublisher("intake"), FixedClock(NOW)
    intake = bootstrap(
        unit_settings(),
        store=store,
        tracking=InMemoryTrackingDirectory(),
        publisher=publisher,
        clock=clock,
        sealer=sealer,
    )
    return intake, publisher, store, sealer, clock


async def test_a_registered_case_is_published_and_kept_sealed() -> None:
    intake, publisher, store, sealer, _ = _intake()
    answer = await intake.register_case(case(name=NAME, national_id=NID), key="k1", by=OP1)  # type: ignore[attr-defined]
    [event] = publisher.events
    raw = event.to_json().decode()
    for secret in (PHONE, "09151234567", NAME, NID, DESCRIPTION):
        assert secret not in raw
    view = store.cases[answer.body["case_id"]]
    assert view.phone == sealer.key_id(PHONE)
    assert DESCRIPTION not in str(_view_doc(view)) and PHONE not in str(_view_doc(view))
    opened, erased = await open_event(sealer, event.data)
    assert isinstance(opened, CaseRegistered) and not erased
    assert opened.citizen.phone == PHONE and opened.citizen.name == NAME and opened.description == DESCRIPTION


async def test_a_repeat_call_is_still_found_and_its_description_sealed() -> None:
    intake, publisher, _, sealer, clock = _intake()
    first = await intake.register_case(case(), key="k1", by=OP1)  # type: ignore[attr-defined]
    clock.advance(timedelta(days=1))
    again = await intake.register_case(case(phone="09151234567"), key="k2", by=Acting("op-2", "operator"))  # type: ignore[attr-defined]
    assert again.body["status"] == "repeat_call" and again.body["duplicate_of"] == first.body["case_id"]
    repeat = publisher.events[-1].data
    assert isinstance(repeat, CaseRepeatCall) and repeat.description is None
    assert repeat.description_sealed is not None and repeat.description_sealed.kid == sealer.key_id(PHONE)


async def test_after_erasure_the_same_citizen_calling_again_opens_a_new_case() -> None:
    intake, _, store, sealer, clock = _intake()
    first = await intake.register_case(case(), key="k1", by=OP1)  # type: ignore[attr-defined]
    await sealer.erase(sealer.key_id(PHONE))
    clock.advance(timedelta(days=1))
    again = await intake.register_case(case(), key="k2", by=OP1)  # type: ignore[attr-defined]
    assert again.status_code == 201 and again.body["case_id"] != first.body["case_id"]
    assert dataclasses.replace(store.cases[first.body["case_id"]]).description == ""


async def test_a_logged_call_carries_the_callers_phone_sealed() -> None:
    intake, publisher, _, sealer, _ = _intake()
    call = CallIn.model_validate(
        {
            "caller_phone": "09151234567",
            "outcome": CallOutcome.answered.value,
            "started_at": datetime(2018, 2, 27, 5, 0, tzinfo=UTC).isoformat(),
            "duration_seconds": 60,
            "operator_id": "op-1",
        }
    )
    await intake.log_call(call, key="c1", by=OP1)  # type: ignore[attr-defined]
    [event] = publisher.events
    assert isinstance(event.data, CallReceived) and event.data.caller_phone is None
    assert "9151234567" not in event.to_json().decode()
    assert event.data.caller_phone_sealed is not None
    assert event.data.caller_phone_sealed.kid == sealer.key_id(PHONE)
