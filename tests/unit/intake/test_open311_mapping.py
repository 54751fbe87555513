"""Open311 GeoReport v2 mapping: services from categories, forms to cases, cases to requests, filters, XML."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

import pytest

from contracts.catalogue import AgencyCode, agencies
from contracts.catalogue import AgencyCode as A
from services.intake.domain import open311 as o
from services.intake.domain.cases import CaseView
from services.intake.domain.categories import categories
from services.intake.entrypoints.open311 import to_xml

NOW = datetime(2018, 3, 1, 8, 0, tzinfo=UTC)
FORM = {
    "api_key": ["k"],
    "service_code": ["water_outage"],
    "address_string": ["خیابان امام رضا، کوچه ۱۲، نیشابور"],
    "phone": ["۰۹۱۵۱۲۳۴۵۶۷"],
    "description": ["آب قطع است"],
    "first_name": ["زهرا"],
    "last_name": ["احمدی"],
}


def test_every_agency_answers_at_least_one_service_and_groups_it() -> None:
    services = o.service_list()
    assert {c.agency for c in categories().values()} == set(AgencyCode)
    by_code = {s["service_code"]: s for s in services}
    water = by_code["water_outage"]
    assert water["group"] == agencies()[A.water_wastewater].fa
    assert "water_wastewater" in water["keywords"] and "قطعی آب" in water["keywords"]
    assert water["type"] == "realtime" and water["metadata"] is False


def test_service_definition_and_unknown_service() -> None:
    assert o.service_definition("water_outage") == {"service_code": "water_outage", "attributes": []}
    with pytest.raises(o.Open311Error) as caught:
        o.service_definition("potholes")
    assert caught.value.status == 404


def test_a_form_becomes_a_case_in_the_county_named_in_the_address() -> None:
    s = o.parse_submission(FORM, "khorasan_razavi")
    assert s.county.code == "neyshabur"
    assert s.case_fields["name"] == "زهرا احمدی"
    assert s.case_fields["category"] == "water_outage" and s.case_fields["subject"] == "قطعی یا افت فشار آب"


def test_address_id_is_a_county_code() -> None:
    form = {k: v for k, v in FORM.items() if k != "address_string"} | {"address_id": ["sabzevar"]}
    assert o.parse_submission(form, "khorasan_razavi").county.code == "sabzevar"


def test_all_form_problems_come_back_together() -> None:
    form = {"api_key": ["k"], "lat": ["36.2"], "long": ["59.6"], "color": ["red"]}
    with pytest.raises(o.Open311Error) as caught:
        o.parse_submission(form, "khorasan_razavi")
    assert caught.value.status == 400
    text = " | ".join(d for _, d in caught.value.errors)
    for field in ("color", "service_code", "address_string", "description", "phone"):
        assert field in text
    assert "lat/long alone" in text


def test_an_unknown_service_code_alone_is_a_404() -> None:
    with pytest.raises(o.Open311Error) as caught:
        o.parse_submission(FORM | {"service_code": ["potholes"]}, "khorasan_razavi")
    assert caught.value.status == 404


def test_an_address_outside_the_province_is_rejected() -> None:
    with pytest.raises(o.Open311Error) as caught:
        o.parse_submission(FORM | {"address_string": ["خیابان ولیعصر، تهران"]}, "khorasan_razavi")
    assert "address_string" in caught.value.errors[0][1]


def test_jurisdiction_is_the_province_served() -> None:
    o.check_jurisdiction(None, "khorasan_razavi")
    o.check_jurisdiction("khorasan_razavi", "khorasan_razavi")
    with pytest.raises(o.Open311Error) as caught:
        o.check_jurisdiction("tehran", "khorasan_razavi")
    assert caught.value.status == 404


def test_query_defaults_to_the_last_90_days_and_refuses_more() -> None:
    q = o.parse_query({}, NOW)
    assert (q.start, q.end, q.open) == (NOW - timedelta(days=90), NOW, None)
    q = o.parse_query({"start_date": "2018-01-01T00:00:00Z", "status": "open"}, NOW)
    assert q.end - q.start == timedelta(days=90) and q.open is True
    assert o.parse_query({"status": "open,closed"}, NOW).open is None
    for bad in (
        {"start_date": "2018-01-01T00:00:00Z", "end_date": "2018-06-01T00:00:00Z"},
        {"start_date": "yesterday"},
        {"start_date": "2018-01-01T00:00:00"},
        {"status": "pending"},
        {"start_date": "2018-02-01T00:00:00Z", "end_date": "2018-01-01T00:00:00Z"},
    ):
        with pytest.raises(o.Open311Error):
            o.parse_query(bad, NOW)
    q = o.parse_query({"service_request_id": "1234567890, 9876543210", "service_code": "water_outage"}, NOW)
    assert q.tracking_codes == ("1234567890", "9876543210") and q.service_codes == ("water_outage",)


VIEW = CaseView(
    case_id="c1",
    tracking_code="1234567890",
    phone="+989151234567",
    province="khorasan_razavi",
    county="neyshabur",
    channel="open311",
    subject="قطعی آب",
    description="آب قطع است",
    category="water_outage",
    operator_agency=None,
    agency=AgencyCode.water_wastewater,
    status="routed",
    status_notes=None,
    registered_at=NOW,
    updated_at=NOW,
)


def test_a_case_as_a_request_open_or_closed_without_personal_data() -> None:
    r = o.request(VIEW, description=VIEW.description)
    assert r["status"] == "open" and r["service_request_id"] == "1234567890"
    assert r["agency_responsible"] == agencies()[A.water_wastewater].fa
    assert r["address"] == "نیشابور، خراسان رضوی" and r["requested_datetime"] == "2018-03-01T08:00:00Z"
    assert "+989151234567" not in str(r)
    for status in ("resolved", "rejected", "closed"):
        assert o.request(dataclasses.replace(VIEW, status=status), description="")["status"] == "closed"
    fresh = o.request(VIEW, status="resolved", description="")
    assert (fresh["status"], fresh["status_notes"]) == ("closed", o.STATUS_NOTES["resolved"])


def test_the_description_is_in_the_request_only_when_its_submitter_chose_to_publish_it() -> None:
    assert "description" not in o.request(VIEW, description=VIEW.description)
    public = dataclasses.replace(VIEW, public=True)
    assert o.request(public, description=VIEW.description)["description"] == VIEW.description
    by_operator = dataclasses.replace(VIEW, public=True, channel="phone")
    assert "description" not in o.request(by_operator, description=VIEW.description)


def test_xml_follows_the_spec_element_names() -> None:
    root = ET.fromstring(to_xml("services", o.service_list()))
    assert root.tag == "services" and root[0].tag == "service"
    assert root[0].find("metadata").text == "false"  # type: ignore[union-attr]
    errors = ET.fromstring(to_xml("errors", [{"code": 403, "description": "کلید نامعتبر"}]))
    assert errors[0].tag == "error" and errors[0].find("description").text == "کلید نامعتبر"  # type: ignore[union-attr]
    assert to_xml("errors", []).startswith(b'<?xml version="1.0" encoding="utf-8"?>')


def test_only_an_accepted_api_key_may_submit_and_the_last_one_sent_counts() -> None:
    o.check_api_key({"api_key": ["k1"]}, ["k1", "k2"])
    o.check_api_key({"api_key": ["bad", "k2"]}, ["k1", "k2"])
    for form in ({}, {"api_key": ["bad"]}, {"api_key": ["k1", "bad"]}):
        with pytest.raises(o.Open311Error) as caught:
            o.check_api_key(form, ["k1", "k2"])
        assert caught.value.status == 403


def test_a_valid_idempotency_key_is_kept_and_a_bad_or_missing_one_replaced() -> None:
    assert o.idempotency_key("abc-123") == "abc-123"
    fresh = {o.idempotency_key(None), o.idempotency_key(""), o.idempotency_key("has space")}
    assert len(fresh) == 3 and "has space" not in fresh


def test_the_notice_gives_the_code_in_persian_digits_and_says_whether_it_joined_a_request() -> None:
    new = o.service_notice("1234567890", repeat=False)
    joined = o.service_notice("1234567890", repeat=True)
    assert "۱۲۳۴۵۶۷۸۹۰" in new and "ثبت شد" in new
    assert "۱۲۳۴۵۶۷۸۹۰" in joined and "پیوست" in joined


def test_case_field_errors_are_named_by_the_form_field_they_came_from() -> None:
    exc = o.invalid_case(
        [
            {"field": "phone", "message": "نامعتبر", "message_en": "invalid"},
            {"field": "name", "message": "بلند", "message_en": "too long"},
            {"field": "other", "message": "؟", "message_en": "?"},
        ]
    )
    assert exc.status == 400
    assert [d.split(":")[0] for _code, d in exc.errors] == ["phone", "first_name", "other"]


def test_discovery_lists_one_production_endpoint() -> None:
    doc = o.discovery("http://x/open311/v2", "تلفن ۱۱۱")
    [endpoint] = doc["endpoints"]
    assert endpoint["url"] == "http://x/open311/v2" and endpoint["specification"] == o.SPECIFICATION
    assert doc["contact"] == "تلفن ۱۱۱"
