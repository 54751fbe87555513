"""What the console decides without I/O: Persian display, form checks, one-time codes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.console.domain.display import grouped_code, jalali, masked_phone, national_phone
from services.console.domain.forms import DESK_FIELDS, Form, check_desk, check_status, chosen_agency, digits
from services.console.domain.otp import Challenge, Verdict

NOW = datetime(2026, 12, 5, 11, 0, tzinfo=UTC)


def test_dates_read_in_persian_with_the_weekday_in_tehran_time() -> None:
    assert jalali(NOW) == "شنبه ۱۴ آذر ۱۴۰۵، ۱۴:۳۰"
    assert jalali("2026-12-05T11:00:00Z", with_time=False) == "شنبه ۱۴ آذر ۱۴۰۵"
    assert jalali(None) == ""


def test_codes_and_phones_read_aloud_and_masked() -> None:
    assert grouped_code("7583870168") == "۷۵۸ ۳۸۷ ۰۱۶۸"
    assert masked_phone("+989151234567") == "۰۹۱۵***۴۵۶۷"
    assert masked_phone("+98915***4567") == "۰۹۱۵***۴۵۶۷"  # as notify gives it to operators
    assert national_phone("+989151234567") == "۰۹۱۵۱۲۳۴۵۶۷"
    assert digits("۰۹۱۵ ۱۲۳-۴۵۶۷") == "09151234567"


def desk(**values: str) -> Form:
    return Form({"outcome": "answered", **values}, DESK_FIELDS)


def test_the_desk_asks_for_what_a_case_needs_only_for_an_answered_call() -> None:
    form = desk(caller_phone="0915")
    check_desk(form, "auto")
    assert [name for name, _ in form.summary()] == ["caller_phone", "county", "subject", "description"]
    assert "۱۱ رقم" in form.errors["caller_phone"]
    missed = desk(outcome="missed")
    check_desk(missed, "auto")
    assert missed.ok  # a missed call is only logged
    nothing = Form({}, DESK_FIELDS)
    check_desk(nothing, "log")
    assert list(nothing.errors) == ["outcome"]


def test_choosing_another_agency_needs_the_agency_and_a_reason() -> None:
    base = {
        "caller_phone": "09151234567",
        "county": "مشهد",
        "subject": "قطعی آب",
        "description": "آب قطع است",
    }
    other = desk(**base, agency_choice="other", suggested_agency="water_wastewater")
    check_desk(other, "register")
    assert set(other.errors) == {"other_agency", "override_reason"}
    chosen = desk(**base, agency_choice="other", other_agency="education", override_reason="سرویس مدرسه")
    check_desk(chosen, "register")
    assert chosen.ok and chosen_agency(chosen) == "education"
    accepted = desk(**base, agency_choice="suggested", suggested_agency="water_wastewater")
    assert chosen_agency(accepted) == "water_wastewater"


def test_linking_a_repeat_call_needs_the_case() -> None:
    form = desk(caller_phone="09151234567")
    check_desk(form, "link")
    assert list(form.errors) == ["repeat_of"]


def test_a_status_lookup_takes_ten_digits_and_a_mobile_or_its_last_four() -> None:
    for code, phone, ok in (
        ("۷۵۸۳۸۷۰۱۶۸", "۴۵۶۷", True),
        ("758 387 0168", "09151234567", True),
        ("12", "45", False),
    ):
        form = Form({"tracking_code": code, "phone": phone}, ("tracking_code", "phone"))
        check_status(form)
        assert form.ok is ok


def test_a_one_time_code_is_right_once_wrong_a_few_times_and_expires() -> None:
    challenge, code = Challenge.new("+989151234567", NOW, minutes=5, attempts=3)
    assert len(code) == 6 and code.isdigit() and code not in repr(challenge.to_doc())
    verdict, after = challenge.check("000000" if code != "000000" else "111111", NOW)
    assert verdict is Verdict.wrong and after.attempts_left == 2
    verdict, _ = after.check(code, NOW + timedelta(minutes=1))
    assert verdict is Verdict.ok
    verdict, _ = after.check(code, NOW + timedelta(minutes=5))
    assert verdict is Verdict.expired
    worn = Challenge.from_doc({**after.to_doc(), "attempts_left": 1})
    verdict, spent = worn.check("999999" if code != "999999" else "888888", NOW)
    assert verdict is Verdict.exhausted and spent.attempts_left == 0
    assert spent.check(code, NOW)[0] is Verdict.exhausted  # not even the right code now
