"""Open311 GeoReport v2, driven by an independently written client (PyPI georeport) over real HTTP,
every response checked against the GeoReport JSON schemas, errors in the spec's array format."""

from __future__ import annotations

import json
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any

import httpx
import jsonschema
import pytest
from georeport import GeoReport

from contracts.catalogue import agencies
from contracts.topics import CASES
from services.intake.domain.categories import categories
from services.intake.domain.open311 import STATUS_NOTES
from tests.integration.intake import open311_schemas as schemas
from tests.integration.intake.conftest import OPEN311_KEY, StubTracking, read_to_end
from tests.support.kafka import TopicReader
from tests.support.processes import ServiceProcess

JURISDICTION = "khorasan_razavi"


def validate(document: Any, schema: dict[str, Any]) -> None:
    jsonschema.validate(document, schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    for request in document if isinstance(document, list) else [document]:
        for name in ("requested_datetime", "updated_datetime", "expected_datetime"):
            value = request.get(name) if isinstance(request, dict) else None
            if value is not None:  # w3 date-time with a zone, as the spec requires
                assert datetime.fromisoformat(value.replace("Z", "+00:00")).tzinfo is not None


def client(process: ServiceProcess, fmt: str = "json") -> GeoReport:
    return GeoReport(f"{process.url}/open311/v2", jurisdiction=JURISDICTION, output_format=fmt)


def mobile() -> str:
    return "0935" + str(uuid.uuid4().int % 10**7).zfill(7)


def submit(process: ServiceProcess, fmt: str = "json", **fields: str) -> httpx.Response:
    form = {
        "api_key": OPEN311_KEY,
        "jurisdiction_id": JURISDICTION,
        "service_code": "water_outage",
        "address_string": "بلوار وکیل‌آباد، مشهد",
        "phone": mobile(),
        "first_name": "مریم",
        "last_name": "رضایی",
        "description": f"فشار آب طبقهٔ سوم از صبح بسیار کم است {uuid.uuid4().hex[:6]}",
        "lat": "36.3",
        "long": "59.5",
    }
    form.update(fields)
    return httpx.post(f"{process.url}/open311/v2/requests.{fmt}", data=form, timeout=20)


def test_discovery_names_the_spec_and_both_formats(intake_process: ServiceProcess) -> None:
    r = httpx.get(f"{intake_process.url}/open311/v2/discovery.json")
    validate(r.json(), schemas.DISCOVERY)
    assert r.json()["endpoints"][0]["url"].endswith("/open311/v2")


def test_the_service_list_is_the_category_catalogue_grouped_by_agency(intake_process: ServiceProcess) -> None:
    services = client(intake_process).get_service_list()
    validate(services, schemas.SERVICES)
    assert {s["service_code"] for s in services} == set(categories())
    assert {s["group"] for s in services} == {a.fa for a in agencies().values()}
    as_xml = client(intake_process, "xml").get_service_list()
    assert [s["service_code"] for s in as_xml] == [s["service_code"] for s in services]
    assert as_xml[0]["metadata"] == "false"


def test_a_service_definition_and_an_unknown_service(intake_process: ServiceProcess) -> None:
    definition = client(intake_process).get_service_definition("water_outage")
    validate(definition, schemas.SERVICE_DEFINITION)
    assert (
        client(intake_process, "xml").get_service_definition("water_outage")["service_code"] == "water_outage"
    )
    r = httpx.get(f"{intake_process.url}/open311/v2/services/potholes.json")
    assert r.status_code == 404
    validate(r.json(), schemas.ERRORS)


def test_a_submitted_request_can_be_read_back_by_the_client(
    intake_process: ServiceProcess, tracking_stub: StubTracking
) -> None:
    r = submit(intake_process)
    assert r.status_code == 200, r.text
    validate(r.json(), schemas.POST_RESPONSE)
    code = r.json()[0]["service_request_id"]
    assert "۰" in r.json()[0]["service_notice"] or "کد پیگیری" in r.json()[0]["service_notice"]

    tracking_stub.down = True  # tracking unreachable: the answer comes from intake's own view
    request = client(intake_process).get_service_request(code)
    validate([request], schemas.REQUESTS)
    assert request["status"] == "open" and request["service_code"] == "water_outage"
    assert request["address_id"] == "mashhad" and "+98" not in str(request)
    assert request["service_name"] == categories()["water_outage"].fa

    tracking_stub.down = False
    case_id = tracking_stub.requested[-1]  # intake asks tracking by case id
    tracking_stub.cases[case_id] = {
        "status": "resolved",
        "agency": "water_wastewater",
        "answer": "شیر فلکه اصلاح شد",
        "updated_at": "2018-03-02T10:00:00+03:30",
    }
    request = client(intake_process).get_service_request(code)
    # The staff's answer is not reviewed by anyone yet: the feed gives the status in Persian only.
    assert (request["status"], request["status_notes"]) == ("closed", STATUS_NOTES["resolved"])
    assert "شیر فلکه" not in str(request)
    assert request["agency_responsible"] == agencies()["water_wastewater"].fa  # type: ignore[index]
    assert tracking_stub.authorizations[-1].startswith("Bearer ")
    as_xml = client(intake_process, "xml").get_service_request(code)
    assert as_xml["service_request_id"] == code and as_xml["status"] == "closed"

    listed = client(intake_process).get_service_requests(service_request_id=code)
    validate(listed, schemas.REQUESTS)
    assert [x["service_request_id"] for x in listed] == [code]


def test_request_listing_filters(intake_process: ServiceProcess) -> None:
    codes = []
    for service_code in ("water_outage", "school_fees_and_enrolment"):
        r = submit(intake_process, service_code=service_code)
        assert r.status_code == 200, r.text
        codes.append(r.json()[0]["service_request_id"])
    geo = client(intake_process)
    everything = geo.get_service_requests()
    validate(everything, schemas.REQUESTS)
    assert set(codes) <= {x["service_request_id"] for x in everything}
    schools = geo.get_service_requests(service_code="school_fees_and_enrolment", status="open")
    assert codes[1] in {x["service_request_id"] for x in schools}
    assert all(x["service_code"] == "school_fees_and_enrolment" for x in schools)
    assert not {codes[0], codes[1]} & {
        x["service_request_id"] for x in geo.get_service_requests(status="closed")
    }
    old = geo.get_service_requests(start_date="2010-01-01T00:00:00Z", end_date="2010-02-01T00:00:00Z")
    assert old == []
    as_xml = client(intake_process, "xml").get_service_requests(service_request_id=",".join(codes))
    assert {x["service_request_id"] for x in as_xml} == set(codes)


@pytest.mark.parametrize(
    ("fields", "status", "mentions"),
    [
        ({"api_key": "wrong"}, 403, "api_key"),
        ({"api_key": ""}, 403, "api_key"),
        ({"service_code": "potholes"}, 404, "service_code"),
        ({"address_string": "خیابان ولیعصر، تهران"}, 400, "address_string"),
        ({"phone": "02188776655"}, 400, "phone"),
        ({"description": "", "phone": ""}, 400, "description"),
        ({"jurisdiction_id": "tehran"}, 404, "jurisdiction_id"),
        ({"colour": "red"}, 400, "colour"),
        ({"description": "فشار آب کم است \x1b[31m"}, 400, "description"),
        ({"first_name": "مریم\x00"}, 400, "first_name"),
        ({"address_string": "بلوار وکیل‌آباد\x0b مشهد"}, 400, "address_string"),
    ],
)
def test_submission_errors_use_the_spec_array_and_status(
    intake_process: ServiceProcess, fields: dict[str, str], status: int, mentions: str
) -> None:
    r = submit(intake_process, **fields)
    assert r.status_code == status, r.text
    validate(r.json(), schemas.ERRORS)
    assert mentions in " ".join(e["description"] for e in r.json())
    x = submit(intake_process, fmt="xml", **fields)
    root = ET.fromstring(x.content)
    assert x.status_code == status and root.tag == "errors" and root[0].tag == "error"
    assert x.headers["content-type"].startswith("text/xml")


def test_query_errors_and_unknown_requests(intake_process: ServiceProcess) -> None:
    base = f"{intake_process.url}/open311/v2"
    too_long = httpx.get(
        f"{base}/requests.json",
        params={"start_date": "2018-01-01T00:00:00Z", "end_date": "2018-12-01T00:00:00Z"},
    )
    assert too_long.status_code == 400
    validate(too_long.json(), schemas.ERRORS)
    for ref in ("1234567890", "not-a-code", "0000000000"):
        r = httpx.get(f"{base}/requests/{ref}.json")
        assert r.status_code == 404
        validate(r.json(), schemas.ERRORS)
    assert httpx.get(f"{base}/services.yaml").status_code == 404
    assert httpx.get(f"{base}/tokens/123.json").status_code == 404


def test_a_repeat_submission_answers_with_the_open_requests_code(intake_process: ServiceProcess) -> None:
    phone = mobile()
    first = submit(intake_process, phone=phone, description="آب ساختمان ما از دیشب قطع است")
    again = submit(intake_process, phone=phone, description="آب ساختمان ما از ديشب قطع است!")
    assert first.status_code == again.status_code == 200
    assert again.json()[0]["service_request_id"] == first.json()[0]["service_request_id"]
    assert "پیوست" in again.json()[0]["service_notice"]


async def test_a_raw_utf8_form_as_curl_sends_it_is_stored_as_utf8(intake_process: ServiceProcess) -> None:
    """`curl -d "description=سه روز است آب قطع است&address_string=…"`: UTF-8 bytes, not percent-encoded."""
    reader = await TopicReader.from_now(CASES)
    description = f"سه روز است آب قطع است {uuid.uuid4().hex[:6]}"
    fields = {
        "api_key": OPEN311_KEY,
        "service_code": "water_outage",
        "phone": mobile(),
        "address_string": "خیابان امام، نیشابور",
        "description": description,
    }
    body = "&".join(f"{k}={v}" for k, v in fields.items()).encode()
    url = f"{intake_process.url}/open311/v2/requests.json"
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with httpx.AsyncClient(timeout=20) as http:
        r = await http.post(url, content=body, headers=form)
        assert r.status_code == 200, r.text
        code = r.json()[0]["service_request_id"]
        [event] = [
            e
            for e in (json.loads(x.value) for x in await read_to_end(reader))
            if e["data"].get("tracking_code") == code
        ]
        assert event["data"]["description"] == description and event["data"]["county"] == "neyshabur"

        cut = description.encode()[:-8] + b"\xff\xfe"  # half a letter, then bytes that are not UTF-8
        refused = await http.post(url, content=body.replace(description.encode(), cut), headers=form)
        assert refused.status_code == 400
        validate(refused.json(), schemas.ERRORS)
        assert refused.json()[0]["description"].startswith("description:")


def test_only_a_request_submitted_as_public_shows_its_description(intake_process: ServiceProcess) -> None:
    marker = uuid.uuid4().hex[:6]
    private = submit(intake_process, description=f"لوله آب کوچه ترکیده است {marker}")
    public = submit(intake_process, description=f"آب کوچه از صبح قطع است {marker}", public="true")
    assert private.status_code == public.status_code == 200, private.text + public.text
    private_code = private.json()[0]["service_request_id"]
    public_code = public.json()[0]["service_request_id"]
    geo = client(intake_process)
    listed = {
        r["service_request_id"]: r
        for r in geo.get_service_requests(service_request_id=f"{private_code},{public_code}")
    }
    validate(list(listed.values()), schemas.REQUESTS)
    assert "description" not in listed[private_code] and marker in listed[public_code]["description"]
    one = geo.get_service_request(private_code)
    validate([one], schemas.REQUESTS)
    assert "description" not in one and marker not in str(one)
    as_xml = httpx.get(f"{intake_process.url}/open311/v2/requests/{private_code}.xml")
    assert as_xml.status_code == 200 and ET.fromstring(as_xml.content).find("request/description") is None
    assert marker not in as_xml.text
    shown = ET.fromstring(httpx.get(f"{intake_process.url}/open311/v2/requests/{public_code}.xml").content)
    assert marker in (shown.findtext("request/description") or "")
