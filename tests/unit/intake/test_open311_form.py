"""How an Open311 form body is read: UTF-8, whether percent-encoded or sent as raw bytes (what
`curl -d "description=…"` sends), in either form encoding; bytes that are not UTF-8 are refused with
the field named, never stored as mojibake."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote_plus

import httpx
import pytest

from contracts.events import CaseRegistered
from services.intake.entrypoints.http import create_app
from tests.unit.intake.conftest import World, build_world

Client = tuple[httpx.AsyncClient, World]
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}
DESCRIPTION = "سه روز است آب قطع است و کسی جواب نمی‌دهد"
ADDRESS = "خیابان امام، نیشابور"
FIELDS = {
    "api_key": "unit-key",
    "service_code": "water_outage",
    "phone": "09351234567",
    "address_string": ADDRESS,
    "description": DESCRIPTION,
}


@pytest.fixture
async def http() -> AsyncIterator[Client]:
    world = build_world()
    transport = httpx.ASGITransport(app=create_app(world.intake))
    async with httpx.AsyncClient(transport=transport, base_url="http://intake.test") as client:
        yield client, world


def raw(fields: dict[str, str]) -> bytes:
    """A form as `curl -d "name=value&…"` sends it: UTF-8 bytes, nothing percent-encoded."""
    return "&".join(f"{k}={v}" for k, v in fields.items()).encode()


def cp1256(text: str) -> bytes:
    """Text in Windows-1256, the legacy Persian encoding of Windows (it has only the Arabic yeh)."""
    return text.replace("ی", "ي").encode("cp1256")


def registered(world: World) -> CaseRegistered:
    [event] = world.publisher.events
    assert isinstance(event.data, CaseRegistered)
    return event.data


async def test_a_raw_utf8_form_is_read_as_utf8(http: Client) -> None:
    client, world = http
    r = await client.post("/open311/v2/requests.json", content=raw(FIELDS), headers=URLENCODED)
    assert r.status_code == 200, r.text
    case = registered(world)
    assert case.description == DESCRIPTION and case.county == "neyshabur"


async def test_a_raw_utf8_description_is_stored_as_sent_not_as_mojibake(http: Client) -> None:
    client, world = http
    fields = {**{k: v for k, v in FIELDS.items() if k != "address_string"}, "address_id": "mashhad"}
    r = await client.post("/open311/v2/requests.json", content=raw(fields), headers=URLENCODED)
    assert r.status_code == 200, r.text
    assert registered(world).description == DESCRIPTION


async def test_a_percent_encoded_form_still_reads_the_same(http: Client) -> None:
    client, world = http
    body = "&".join(f"{k}={quote_plus(v)}" for k, v in FIELDS.items()).encode()
    r = await client.post("/open311/v2/requests.json", content=body, headers=URLENCODED)
    assert r.status_code == 200, r.text
    assert registered(world).description == DESCRIPTION


async def test_a_multipart_form_is_read_as_utf8(http: Client) -> None:
    client, world = http
    files = {"media": ("photo.jpg", b"\xff\xd8\xff", "image/jpeg")}  # a file part is not a field
    r = await client.post("/open311/v2/requests.json", data=FIELDS, files=files)
    assert r.status_code == 200, r.text
    case = registered(world)
    assert case.description == DESCRIPTION and case.county == "neyshabur"


@pytest.mark.parametrize(
    "description",
    ids=["cp1256", "not-utf8-bytes", "half-a-letter-percent-encoded"],
    argvalues=[
        cp1256("آب قطع است"),  # a legacy Windows encoding, sent without saying so
        b"\xff\xfe water is cut",
        b"%D8%B3%D9 half a letter, percent-encoded",
    ],
)
async def test_bytes_that_are_not_utf8_are_a_400_naming_the_field(http: Client, description: bytes) -> None:
    client, world = http
    body = raw({k: v for k, v in FIELDS.items() if k != "description"}) + b"&description=" + description
    r = await client.post("/open311/v2/requests.json", content=body, headers=URLENCODED)
    assert r.status_code == 400, r.text
    [error] = r.json()
    assert error["description"].startswith("description:") and "UTF-8" in error["description"]
    assert world.publisher.events == []


async def test_a_multipart_field_that_is_not_utf8_is_a_400_naming_the_field(http: Client) -> None:
    client, world = http
    parts = [(k, (None, v.encode())) for k, v in FIELDS.items() if k != "description"]
    parts.append(("description", (None, cp1256(DESCRIPTION))))
    r = await client.post("/open311/v2/requests.xml", files=parts)
    assert r.status_code == 400, r.text
    assert b"<error>" in r.content and "description:" in r.text and "UTF-8" in r.text
    assert world.publisher.events == []


async def test_a_declared_charset_other_than_utf8_is_refused_not_guessed(http: Client) -> None:
    client, world = http
    utf8 = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
    r = await client.post("/open311/v2/requests.json", content=raw(FIELDS), headers=utf8)
    assert r.status_code == 200, r.text
    body = b"&".join(k.encode() + b"=" + cp1256(v) for k, v in FIELDS.items())
    legacy = {"Content-Type": "application/x-www-form-urlencoded; charset=windows-1256"}
    refused = await client.post("/open311/v2/requests.json", content=body, headers=legacy)
    assert refused.status_code == 400 and "charset" in refused.text
    assert len(world.publisher.events) == 1


async def test_a_field_name_that_is_not_utf8_is_named_without_echoing_its_bytes(http: Client) -> None:
    client, world = http
    body = raw(FIELDS) + b"&col\x1b\xffour=red"
    r = await client.post("/open311/v2/requests.xml", content=body, headers=URLENCODED)
    assert r.status_code == 400 and "colU+001B" in r.text and "\x1b" not in r.text
    assert world.publisher.events == []


async def test_a_broken_multipart_body_is_a_400(http: Client) -> None:
    client, world = http
    headers = {"Content-Type": "multipart/form-data; boundary=XX"}
    r = await client.post(
        "/open311/v2/requests.json", content=b"--XX\r\nnot a header\r\n\r\n", headers=headers
    )
    assert r.status_code == 400 and r.json()[0]["code"] == 400
    assert world.publisher.events == []
