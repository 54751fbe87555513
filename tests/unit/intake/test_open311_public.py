"""The public Open311 feed shows no free text the citizen did not choose to publish, and no staff answer
(nothing reviews one yet): a request's description only when it was submitted with ``public=true``,
never a case an operator registered, and status_notes only the Persian description of the status."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contracts.events import CaseRegistered, CaseStatus, CaseStatusChanged, Channel, decode, make_event
from services.intake.adapters.tracking import TrackedStatus
from services.intake.domain import events, ids
from services.intake.domain import open311 as o
from services.intake.domain.cases import apply
from services.intake.domain.open311 import Open311Error
from tests.unit.intake.conftest import NOW, OP1, World, case

KEY = "unit-key"
DESCRIPTION = "فشار آب طبقهٔ سوم از صبح کم است؛ شمارهٔ من 09351234567 است"
ANSWER = "آقای رضایی، لوله را فردا ساعت ۸ در پلاک ۱۲ عوض می‌کنیم"  # a staff answer, unreviewed


def form(**changes: str) -> dict[str, list[str]]:
    fields = {
        "api_key": KEY,
        "service_code": "water_outage",
        "address_string": "بلوار وکیل‌آباد، مشهد",
        "phone": "09351234567",
        "description": DESCRIPTION,
    }
    fields.update(changes)
    return {k: [v] for k, v in fields.items() if v is not None}


def registered(world: World) -> CaseRegistered:
    data = world.publisher.events[-1].data
    assert isinstance(data, CaseRegistered)
    return data


async def submit(world: World, **changes: str) -> str:
    [answer] = await world.intake.open311.submit(form(**changes), None)
    return str(answer["service_request_id"])


async def test_a_request_submitted_without_choosing_is_listed_without_its_description(world: World) -> None:
    code = await submit(world)
    assert registered(world).public is False
    [listed] = await world.intake.open311.requests({})
    assert listed["service_request_id"] == code and "description" not in listed
    one = await world.intake.open311.request(code)
    assert "description" not in one and DESCRIPTION[:10] not in str(one)


@pytest.mark.parametrize("value", ["false", "0", "no", ""])
async def test_public_false_keeps_the_description_out_of_the_feed(world: World, value: str) -> None:
    code = await submit(world, public=value)
    assert registered(world).public is False
    assert "description" not in await world.intake.open311.request(code)


@pytest.mark.parametrize("value", ["true", "1", "yes", "TRUE"])
async def test_a_request_submitted_as_public_shows_its_description_masked(world: World, value: str) -> None:
    code = await submit(world, public=value)
    assert registered(world).public is True
    [listed] = await world.intake.open311.requests({})
    assert listed["service_request_id"] == code
    assert "فشار آب" in listed["description"] and "09351234567" not in listed["description"]
    assert (await world.intake.open311.request(code))["description"] == listed["description"]


async def test_a_public_value_that_is_not_a_boolean_is_a_400_naming_it(world: World) -> None:
    with pytest.raises(Open311Error) as caught:
        await world.intake.open311.submit(form(public="maybe"), None)
    assert caught.value.status == 400 and caught.value.errors[0][1].startswith("public:")
    assert world.publisher.events == []


async def test_the_choice_is_part_of_the_request_under_its_idempotency_key(world: World) -> None:
    await world.intake.open311.submit(form(public="true"), "req-1")
    with pytest.raises(Open311Error) as caught:
        await world.intake.open311.submit(form(public="false"), "req-1")
    assert caught.value.status == 409
    again = await world.intake.open311.submit(form(public="true"), "req-1")
    assert (
        len(world.publisher.events) == 1 and again[0]["service_request_id"] == registered(world).tracking_code
    )


async def test_a_case_registered_by_an_operator_is_never_public(world: World) -> None:
    for channel in ("phone", "walk_in"):
        await world.intake.register_case(
            case(channel=channel, phone="09121234567" if channel == "phone" else "09131234567"),
            key=f"k-{channel}",
            by=OP1,
            public=True,
        )
        assert registered(world).public is False and registered(world).channel == Channel(channel)
    await world.intake.register_case(
        case(phone="09141234567"), key="k-open311", scope="open311", channel=Channel.open311, public=True
    )
    assert registered(world).public is True


async def test_status_notes_carry_the_status_never_the_staffs_answer(world: World) -> None:
    code = await submit(world, public="true")
    case_id = registered(world).case_id
    world.tracking.cases[case_id] = TrackedStatus(status="resolved", agency="water_wastewater")
    tracked = await world.intake.open311.request(code)
    assert (tracked["status"], tracked["status_notes"]) == ("closed", o.STATUS_NOTES["resolved"])
    answered = make_event(
        CaseStatusChanged(case_id=case_id, status=CaseStatus.resolved, answer=ANSWER),
        source="/samad/tracking",
        time=world.clock.now(),
    )
    await world.intake.case_view.apply(answered)
    world.tracking.available = False  # intake's own view, which has seen the answer
    own = await world.intake.open311.request(code)
    [listed] = await world.intake.open311.requests({})
    for shown in (own, listed):
        assert shown["status_notes"] == o.STATUS_NOTES["resolved"] and ANSWER not in str(shown)


def test_the_tracking_client_does_not_even_read_the_staffs_answer() -> None:
    from services.intake.adapters.tracking import parse_case

    doc: dict[str, Any] = {"status": "resolved", "answer": ANSWER, "reason": ANSWER, "public_answer": ANSWER}
    parsed = parse_case(doc)
    assert parsed is not None and ANSWER not in vars(parsed).values()


def test_a_registration_published_before_the_choice_existed_reads_as_not_public() -> None:
    event = events.case_registered(
        case(), ids.case_ids("cases:old"), tracking_code="1234567890", operator_id="op-1", now=NOW
    )
    document = json.loads(event.to_json())
    del document["data"]["public"]
    old = decode(json.dumps(document).encode())
    assert isinstance(old.data, CaseRegistered) and old.data.public is False
    view = apply(None, old)
    assert view is not None and not view.public
