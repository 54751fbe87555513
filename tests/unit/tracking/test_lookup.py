"""Looking cases up on the fakes: staff by id or tracking code within their agency; citizens by code and
phone, limited per client."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contracts.persian import to_persian_digits
from services.tracking.adapters.ratelimit import InMemoryRateLimiter
from services.tracking.domain.access import OtherAgency, Staff
from services.tracking.domain.citizens import NotACitizenKey
from services.tracking.service.errors import CaseNotFound, NoSuchCase, RateLimited
from tests.unit.tracking.factory import T0, CaseEvents
from tests.unit.tracking.fakes import Fakes

WATER = Staff("agency_staff", "u1", "water_wastewater")


async def test_staff_find_a_case_by_id_or_by_its_code_in_any_digits() -> None:
    fakes = Fakes()
    c = CaseEvents("l")
    await fakes.consume([c.registered(), c.routed(), c.note()])
    look_up = fakes.tracking.look_up
    by_id = await look_up("l", WATER)
    assert by_id["case_id"] == "l" and len(by_id["timeline"]) == 3 and not by_id["overdue"]
    spaced = f" {to_persian_digits(c.code[:4])}-{c.code[4:]} "
    assert (await look_up(spaced, Staff("operator", "op-1")))["case_id"] == "l"
    with pytest.raises(OtherAgency):
        await look_up("l", Staff("agency_staff", "u2", "education"))
    with pytest.raises(CaseNotFound):
        await look_up("1234567890", WATER)  # not a valid code
    # Overdue is computed at the clock's now.
    fakes.clock.advance(timedelta(days=30))
    assert (await look_up("l", WATER))["overdue"]


async def test_events_before_the_registration_make_no_case_to_find() -> None:
    fakes = Fakes()
    c = CaseEvents("early")
    await fakes.consume([c.sms_sent()])
    assert (await fakes.cases.get("early")) is not None
    with pytest.raises(CaseNotFound):
        await fakes.tracking.look_up("early", Staff("supervisor", "s"))


async def test_a_citizen_sees_their_case_with_the_code_and_the_phone() -> None:
    fakes = Fakes()
    c = CaseEvents("m")
    await fakes.consume([c.registered(), c.routed(), c.note(text="یادداشت داخلی")])
    status = fakes.tracking.citizen_status
    view = await status(to_persian_digits(c.code), "۴۵۶۷", "10.0.0.1")
    assert view["tracking_code"] == c.code and view["status"] == "routed"
    assert "یادداشت داخلی" not in repr(view) and view["phone"] == "+98915***4567"
    # A wrong phone and a wrong code are refused alike.
    with pytest.raises(NoSuchCase):
        await status(c.code, "1111", "10.0.0.1")
    with pytest.raises(NoSuchCase):
        await status(CaseEvents("nobody").code, "4567", "10.0.0.1")
    with pytest.raises(NoSuchCase):
        await status("12345", "4567", "10.0.0.1")
    assert fakes.limiter.asked == ["10.0.0.1"] * 4


async def test_a_client_over_its_limit_waits_before_anything_is_looked_up() -> None:
    fakes = Fakes(limiter=InMemoryRateLimiter(allowed=1, wait=12.5))
    c = CaseEvents("n")
    await fakes.consume([c.registered()])
    status = fakes.tracking.citizen_status
    await status(c.code, "4567", "10.0.0.2")
    with pytest.raises(RateLimited) as limited:
        await status(c.code, "4567", "10.0.0.2")
    assert limited.value.wait == 12.5
    assert (await status(c.code, "4567", "10.0.0.3"))["status"] == "registered"  # another client


async def test_a_citizens_cases_are_found_by_phone_in_any_form_newest_first_within_the_agency() -> None:
    fakes = Fakes()
    first, second = CaseEvents("p1"), CaseEvents("p2", start=T0 + timedelta(hours=2))
    await fakes.consume(
        [first.registered(), first.routed(), first.acknowledged(), first.resolved(), second.registered()]
    )
    find = fakes.tracking.find_citizen_cases
    operator = Staff("operator", "op-1")
    for phone in ("09151234567", "۰۹۱۵ ۱۲۳ ۴۵۶۷", "+989151234567", "00989151234567"):
        found = await find(operator, phone=phone, national_id=None, open_only=False, limit=10)
        assert [f["case_id"] for f in found] == ["p2", "p1"], phone
    still_open = await find(operator, phone="09151234567", national_id=None, open_only=True, limit=10)
    assert [f["case_id"] for f in still_open] == ["p2"] and still_open[0]["open"]
    # p1 is the water agency's; p2 has no agency yet, so agency staff see p1 only.
    water = await find(WATER, phone="09151234567", national_id=None, open_only=False, limit=10)
    assert [f["case_id"] for f in water] == ["p1"]
    assert await find(operator, phone="09121111111", national_id=None, open_only=False, limit=10) == []
    with pytest.raises(NotACitizenKey) as bad:
        await find(operator, phone="123", national_id=None, open_only=False, limit=10)
    assert bad.value.field == "phone"
    with pytest.raises(NotACitizenKey) as bad:
        await find(operator, phone=None, national_id="12ab", open_only=False, limit=10)
    assert bad.value.field == "national_id"
