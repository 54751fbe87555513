"""Open311's use cases on the fakes: submit, list and read requests, with tracking answering or not."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from contracts.events import CaseRegistered, Channel
from services.intake.adapters.tracking import TrackedStatus
from services.intake.domain.open311 import STATUS_NOTES, Open311Error
from tests.unit.intake.conftest import OP1, World, case

KEY = "unit-key"  # accepted by unit_settings()


def form(**changes: str) -> dict[str, list[str]]:
    fields = {
        "api_key": KEY,
        "jurisdiction_id": "khorasan_razavi",
        "service_code": "water_outage",
        "address_string": "بلوار وکیل‌آباد، مشهد",
        "phone": "09351234567",
        "first_name": "مریم",
        "description": "فشار آب طبقهٔ سوم از صبح کم است؛ شمارهٔ من 09351234567 است",
    }
    fields.update(changes)
    return {k: [v] for k, v in fields.items()}


async def refused(call: Any) -> Open311Error:
    with pytest.raises(Open311Error) as caught:
        await call
    return caught.value


async def test_a_submission_is_a_case_on_the_open311_channel_answered_with_its_code(world: World) -> None:
    [answer] = await world.intake.open311.submit(form(), "req-1")
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered)
    assert event.data.channel == Channel.open311 and event.data.operator_id is None
    assert answer["service_request_id"] == event.data.tracking_code and answer["account_id"] is None
    assert "ثبت شد" in answer["service_notice"]
    again = await world.intake.open311.submit(form(), "req-1")
    assert again == [answer] and len(world.publisher.events) == 1  # a retry publishes nothing new


async def test_a_repeat_submission_joins_the_open_request(world: World) -> None:
    [first] = await world.intake.open311.submit(form(), None)
    [again] = await world.intake.open311.submit(form(), None)  # no key: a new request each time
    assert again["service_request_id"] == first["service_request_id"] and "پیوست" in again["service_notice"]


async def test_a_key_reused_for_another_submission_is_a_409(world: World) -> None:
    await world.intake.open311.submit(form(), "req-1")
    assert (
        await refused(world.intake.open311.submit(form(description="لوله ترکیده است"), "req-1"))
    ).status == 409


async def test_submissions_without_a_valid_key_jurisdiction_or_case_are_refused(world: World) -> None:
    assert (await refused(world.intake.open311.submit(form(api_key="nope"), None))).status == 403
    assert (await refused(world.intake.open311.submit(form(jurisdiction_id="tehran"), None))).status == 404
    landline = await refused(world.intake.open311.submit(form(phone="05138001234"), None))
    assert landline.status == 400 and landline.errors[0][1].startswith("phone:")
    assert world.publisher.events == []


async def test_listed_requests_are_open311_ones_only_without_personal_numbers(world: World) -> None:
    [mine] = await world.intake.open311.submit(form(public="true"), None)
    await world.intake.register_case(case(), key="phone-case", by=OP1)  # not a public request
    listed = await world.intake.open311.requests({})
    assert [r["service_request_id"] for r in listed] == [mine["service_request_id"]]
    assert "09351234567" not in listed[0]["description"] and "***" in listed[0]["description"]
    assert listed[0]["status"] == "open"
    chosen = await world.intake.open311.requests({"service_request_id": mine["service_request_id"]})
    assert len(chosen) == 1
    assert await world.intake.open311.requests({"status": "closed"}) == []


async def test_the_listing_covers_the_last_90_days_by_default(world: World) -> None:
    await world.intake.open311.submit(form(), None)
    world.clock.advance(timedelta(days=91))
    assert await world.intake.open311.requests({}) == []
    assert (await refused(world.intake.open311.requests({"status": "maybe"}))).status == 400


async def test_one_request_has_trackings_status_or_intakes_own_when_tracking_is_down(world: World) -> None:
    [mine] = await world.intake.open311.submit(form(), None)
    code = mine["service_request_id"]
    case_id = world.publisher.events[0].data.case_id  # type: ignore[attr-defined]
    world.tracking.cases[case_id] = TrackedStatus(status="resolved", agency="water_wastewater")
    tracked = await world.intake.open311.request(code)
    assert (tracked["status"], tracked["status_notes"]) == ("closed", STATUS_NOTES["resolved"])
    assert tracked["agency_responsible"]
    world.tracking.available = False
    own = await world.intake.open311.request(code)
    assert own["status"] == "open" and own["service_request_id"] == code


async def test_unknown_invalid_and_non_open311_requests_are_not_found(world: World) -> None:
    phone_case = await world.intake.register_case(case(), key="phone-case", by=OP1)
    for reference in ("1234567890", "not-a-code", phone_case.body["tracking_code"]):
        assert (await refused(world.intake.open311.request(reference))).status == 404
    with pytest.raises(Open311Error):
        world.intake.open311.token("t-1")


def test_the_jurisdiction_is_the_province_served(world: World) -> None:
    world.intake.open311.check_jurisdiction(None)
    world.intake.open311.check_jurisdiction("khorasan_razavi")
    with pytest.raises(Open311Error):
        world.intake.open311.check_jurisdiction("tehran")
