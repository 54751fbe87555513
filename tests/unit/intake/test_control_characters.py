"""Control characters (C0, DEL, C1) are refused in every text field a call, a case or an Open311
request brings in, so nothing downstream (the Open311 XML and JSON feeds, SMS, the console) can be
broken by one; tab and line breaks only where text may run over several lines (a description)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from services.common.auth import Role
from services.common.problems import field_errors
from services.intake.adapters.call_log import InMemoryCallLog
from services.intake.domain.open311 import Open311Error
from services.intake.domain.requests import CallIn, CaseIn
from services.intake.entrypoints.http import create_app
from services.intake.service.import_calls import read_rows
from tests.support.tokens import unit_bearer
from tests.unit.intake.conftest import WATER, World, build_world

CALL: dict[str, Any] = {
    "outcome": "answered",
    "started_at": "2018-02-27T09:05:00+03:30",
    "duration_seconds": 60,
}
# NUL, BEL, ESC (as in a terminal escape sequence), DEL, and the C1 controls NEL and CSI.
CONTROLS = ["\x00", "\x07", "\x1b[2J", "\x7f", "\x85", "\x9b31m"]
# Vertical tab and form feed are C0 controls too, even though Python counts them as whitespace.
NOT_LINE_BREAKS = ["\x0b", "\x0c", "\x1c"]


def refused(model: type[CaseIn] | type[CallIn], data: dict[str, Any]) -> dict[str, dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {e["field"]: e for e in field_errors(list(caught.value.errors()))}


def assert_control_error(error: dict[str, str]) -> None:
    assert error["code"] == "control_character"
    assert "control character" in error["message_en"] and "کنترلی" in error["message"]


@pytest.mark.parametrize("control", CONTROLS + NOT_LINE_BREAKS)
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("description", "آب محلهٔ ما از دیروز {} قطع است"),
        ("subject", "قطعی {}آب"),
        ("name", "زهرا {}احمدی"),
        ("county", "مشهد{}"),
        ("phone", "0915{}1234567"),
        ("national_id", "0499370899{}"),
        ("operator_id", "op-1{}"),
    ],
)
def test_a_control_character_in_any_case_field_is_refused(field: str, value: str, control: str) -> None:
    errors = refused(CaseIn, {**WATER, field: value.format(control)})
    assert list(errors) == [field]
    assert_control_error(errors[field])


@pytest.mark.parametrize("control", CONTROLS)
@pytest.mark.parametrize(
    ("field", "value"),
    [("county", "mash{}had"), ("caller_phone", "0915{}1234567"), ("duty_session_id", "duty-1{}")],
)
def test_a_control_character_in_any_call_field_is_refused(field: str, value: str, control: str) -> None:
    errors = refused(CallIn, {**CALL, field: value.format(control)})
    assert list(errors) == [field]
    assert_control_error(errors[field])


@pytest.mark.parametrize("field", ["subject", "name"])
@pytest.mark.parametrize("control", ["\t", "\n", "\r\n"])
def test_tab_and_line_breaks_are_refused_in_one_line_fields(field: str, control: str) -> None:
    assert_control_error(refused(CaseIn, {**WATER, field: f"قطعی{control}آب"})[field])


def test_a_description_may_run_over_lines_and_keeps_its_normalisation() -> None:
    typed = "\u200fآب محله\tاز دیروز\r\nقطع است\n\nلطفا پیگیری کنید\u200e"
    assert CaseIn.model_validate({**WATER, "description": typed}).description == (
        "آب محله از دیروز قطع است لطفا پیگیری کنید"
    )


def test_every_bad_field_is_named_at_once() -> None:
    errors = refused(
        CaseIn, {**WATER, "subject": "قطعی\x00آب", "description": "آب قطع است\x1b", "name": "\x07"}
    )
    assert set(errors) == {"subject", "description", "name"}


@pytest.fixture
async def http() -> AsyncIterator[tuple[httpx.AsyncClient, World]]:
    world = build_world()
    transport = httpx.ASGITransport(app=create_app(world.intake))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield client, world


async def test_the_api_answers_422_in_persian_and_english_and_publishes_nothing(
    http: tuple[httpx.AsyncClient, World],
) -> None:
    client, world = http
    auth = unit_bearer(Role.operator, sub="op-1")
    r = await client.post("/v1/cases", json={**WATER, "description": "آب قطع است \x1b[2J"}, headers=auth)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    [error] = r.json()["errors"]
    assert error["field"] == "description"
    assert_control_error(error)
    call = await client.post("/v1/calls", json={**CALL, "county": "mash\x00had"}, headers=auth)
    assert call.status_code == 422 and call.json()["errors"][0]["field"] == "county"
    assert world.publisher.events == []


def open311_form(**changes: str) -> dict[str, list[str]]:
    fields = {
        "api_key": "unit-key",
        "service_code": "water_outage",
        "address_string": "بلوار وکیل‌آباد، مشهد",
        "phone": "09351234567",
        "first_name": "مریم",
        "description": "فشار آب طبقهٔ سوم از صبح کم است",
    }
    fields.update(changes)
    return {k: [v] for k, v in fields.items()}


@pytest.mark.parametrize(
    "field",
    ["description", "address_string", "first_name", "last_name", "email", "device_id", "media_url"],
)
async def test_an_open311_field_with_a_control_character_is_a_400_naming_it(world: World, field: str) -> None:
    value = {"description": "فشار آب کم است \x1b[31m", "address_string": "مشهد\x00"}.get(field, "x\x07y")
    with pytest.raises(Open311Error) as caught:
        await world.intake.open311.submit(open311_form(**{field: value}), None)
    assert caught.value.status == 400
    [(_, description)] = caught.value.errors
    assert (
        description.startswith(f"{field}:") and "control character" in description and "کنترلی" in description
    )
    assert world.publisher.events == []


async def test_an_open311_description_may_run_over_lines(world: World) -> None:
    form = open311_form(description="فشار آب\r\nطبقهٔ سوم کم است", address_string="بلوار وکیل‌آباد،\nمشهد")
    await world.intake.open311.submit(form, None)
    assert len(world.publisher.events) == 1


def test_an_imported_row_with_a_control_character_is_rejected_with_its_field() -> None:
    row = {
        "call_ref": "r1",
        "started_at": "2018-02-27 09:00:00",
        "outcome": "answered",
        "caller_phone": "09151234567",
        "county": "mashhad",
        "subject": "قطعی\x1bآب",
        "description": "آب محلهٔ ما از دیروز قطع است",
    }
    [parsed] = list(read_rows(InMemoryCallLog([row])))
    assert [(p.part, p.field) for p in parsed.problems] == [("case", "subject")]
    assert "کنترلی" in parsed.problems[0].message and parsed.case is None


async def test_a_control_character_in_an_open311_field_name_is_not_echoed(world: World) -> None:
    form = {**open311_form(), "colour\x1b[2J": ["red"]}
    with pytest.raises(Open311Error) as caught:
        await world.intake.open311.submit(form, None)
    [(_, description)] = caught.value.errors
    assert description.startswith("colourU+001B[2J:") and "\x1b" not in description
