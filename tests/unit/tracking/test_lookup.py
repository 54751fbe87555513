"""Looking cases up on the fakes: staff by id or tracking code within their agency; citizens by code and
phone, limited per client and per tracking code."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from contracts.persian import to_persian_digits
from services.tracking.domain.access import OtherAgency, Staff
from services.tracking.domain.citizens import NotACitizenKey
from services.tracking.domain.views import phone_matches
from services.tracking.service import citizen_status
from services.tracking.service.errors import CaseNotFound, NoSuchCase, RateLimited
from services.tracking.settings import TrackingSettings
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


def limited(**limits: Any) -> Fakes:
    return Fakes(TrackingSettings(**limits))


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
    # Each lookup counts once for the client and once for the code it names.
    assert fakes.attempts.asked[::2] == ["client:10.0.0.1"] * 4
    assert fakes.attempts.asked[1::2] == [f"code:{c.code}"] * 2 + [
        f"code:{CaseEvents('nobody').code}",
        "code:12345",
    ]


async def test_a_client_over_its_limit_waits_before_anything_is_looked_up() -> None:
    fakes = limited(status_client_attempts=1, status_client_window_seconds=60)
    c = CaseEvents("n")
    await fakes.consume([c.registered()])
    status = fakes.tracking.citizen_status
    await status(c.code, "4567", "10.0.0.2")
    reads = list(fakes.cases.citizen_reads)
    with pytest.raises(RateLimited) as refused:
        await status(c.code, "4567", "10.0.0.2")
    # The fake clock stands at a whole hour: the client's one-minute window has all 60 s to run.
    assert refused.value.wait == 60
    assert fakes.cases.citizen_reads == reads  # nothing was looked up
    assert (await status(c.code, "4567", "10.0.0.3"))["status"] == "registered"  # another client
    # An IPv6 client is one /64: changing the last bits is the same client.
    await status(c.code, "4567", "2001:db8:1:2::1")
    with pytest.raises(RateLimited):
        await status(c.code, "4567", "2001:db8:1:2:ffff::7")
    fakes.clock.advance(timedelta(seconds=60))
    assert (await status(c.code, "4567", "10.0.0.2"))["status"] == "registered"


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


async def test_a_code_answers_429_to_everybody_after_its_failures_until_its_window_ends() -> None:
    """Guessing the phone of one code from many addresses: after the code's failures are used up it
    answers 429 to every address, the right phone included (a 200 would tell the guess was right)."""
    fakes = limited(status_code_failures=3, status_code_window_seconds=3600)
    c = CaseEvents("guessed")
    await fakes.consume([c.registered(), c.routed()])
    status = fakes.tracking.citizen_status
    unknown = CaseEvents("unknown").code
    for code in (c.code, unknown):
        for n in range(3):
            with pytest.raises(NoSuchCase):
                await status(code, f"000{n}", f"10.1.{n}.1")
        answers = []
        for phone, client in (("4567", "10.2.0.1"), ("0009", "10.2.0.2")):
            with pytest.raises(RateLimited) as refused:
                await status(code, phone, client)
            answers.append(refused.value.wait)
        # A known code and an unknown one are locked alike, for the rest of the same window.
        assert answers == [3600, 3600]
    fakes.clock.advance(timedelta(minutes=20))
    with pytest.raises(RateLimited) as later:
        await status(c.code, "4567", "10.3.0.1")
    assert later.value.wait == 40 * 60
    fakes.clock.advance(timedelta(minutes=40))
    assert (await status(c.code, "4567", "10.3.0.1"))["status"] == "routed"


async def test_right_answers_give_their_ticket_back() -> None:
    """Only failures use up a code's tickets: a citizen may look their case up again and again."""
    fakes = limited(status_code_failures=2)
    c = CaseEvents("often")
    await fakes.consume([c.registered()])
    status = fakes.tracking.citizen_status
    for n in range(6):
        assert (await status(c.code, "4567", f"10.4.0.{n}"))["status"] == "registered"
    for n in range(2):
        with pytest.raises(NoSuchCase):
            await status(c.code, "1111", f"10.5.0.{n}")
    with pytest.raises(RateLimited):
        await status(c.code, "4567", "10.6.0.1")


async def test_a_wrong_code_and_a_wrong_phone_take_the_same_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same tickets, the same store reads and the same phone comparison on both refusals: nothing
    returns early for an unknown code."""
    fakes = Fakes()
    c = CaseEvents("steps")
    await fakes.consume([c.registered()])
    compared: list[tuple[str | None, str]] = []

    def spy(stored: str | None, given: str) -> bool:
        compared.append((stored, given))
        return phone_matches(stored, given)

    monkeypatch.setattr(citizen_status, "phone_matches", spy)
    get_calls: list[str] = []
    real_get = fakes.cases.get

    async def counting_get(case_id: str) -> Any:
        get_calls.append(case_id)
        return await real_get(case_id)

    monkeypatch.setattr(fakes.cases, "get", counting_get)
    steps = []
    for code, phone in ((c.code, "1111"), (CaseEvents("no-such").code, "4567")):
        fakes.attempts.asked.clear()
        fakes.cases.citizen_reads.clear()
        compared.clear()
        with pytest.raises(NoSuchCase) as refused:
            await fakes.tracking.citizen_status(code, phone, "10.8.0.1")
        steps.append(
            (
                [k.split(":")[0] for k in fakes.attempts.asked],
                fakes.cases.citizen_reads == [code],
                len(compared),
                str(refused.value) == code,
            )
        )
    assert steps[0] == steps[1] == (["client", "code"], True, 1, True)
    assert compared == [(None, "4567")] and not get_calls  # the unknown code's phone was compared too


async def test_the_timers_forget_the_attempts_of_ended_windows() -> None:
    fakes = limited(sweep_interval_seconds=0.01)
    with pytest.raises(NoSuchCase):
        await fakes.tracking.citizen_status(CaseEvents("gone").code, "1111", "10.9.0.1")
    assert fakes.attempts.taken
    fakes.clock.advance(timedelta(hours=1))
    await fakes.tracking.start_timers()
    try:
        for _ in range(100):
            if not fakes.attempts.taken:
                break
            await asyncio.sleep(0.01)
    finally:
        await fakes.tracking.stop_timers()
    assert fakes.attempts.taken == {}
