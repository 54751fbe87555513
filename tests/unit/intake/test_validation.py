"""Every validation rule of intake, with the Persian input operators actually type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from services.common.problems import field_errors
from services.intake.domain import validation as v
from services.intake.domain.ids import valid_key
from services.intake.domain.requests import CallIn, CaseIn

CASE = {
    "phone": "09151234567",
    "county": "mashhad",
    "subject": "قطعی آب",
    "description": "آب محلهٔ ما از دیروز قطع است",
}
CALL = {"outcome": "answered", "started_at": "2018-02-27T09:05:00+03:30", "duration_seconds": 120}


def errors_of(model: type[CaseIn] | type[CallIn], data: dict[str, Any]) -> dict[str, dict[str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return {e["field"]: e for e in field_errors(list(caught.value.errors()))}


@pytest.mark.parametrize(
    "typed",
    [
        "09151234567",
        "۰۹۱۵۱۲۳۴۵۶۷",
        "٠٩١٥١٢٣٤٥٦٧",
        "+989151234567",
        "00989151234567",
        "989151234567",
        "9151234567",
        "0915 123 4567",
        "0915-123-4567",
        "+۹۸ ۹۱۵ ۱۲۳ ۴۵۶۷",
        "\u200e09151234567\u200f",
    ],
)
def test_mobile_numbers_in_every_common_form_become_e164(typed: str) -> None:
    assert v.normalize_mobile(typed) == "+989151234567"
    assert CaseIn.model_validate({**CASE, "phone": typed}).phone == "+989151234567"


def test_landlines_are_accepted_for_calls_but_not_for_cases() -> None:
    assert CallIn.model_validate({**CALL, "caller_phone": "۰۵۱-۳۸۰۰۱۲۳۴"}).caller_phone == "+985138001234"
    errors = errors_of(CaseIn, {**CASE, "phone": "05138001234"})
    assert errors["phone"]["code"] == "mobile_required"
    assert "پیامک" in errors["phone"]["message"]


@pytest.mark.parametrize("typed", ["0915123", "091512345678901", "تلفن ندارم", "09", "+1 202 555 01"])
def test_impossible_phone_numbers_are_rejected_in_persian_and_english(typed: str) -> None:
    errors = errors_of(CaseIn, {**CASE, "phone": typed})
    assert errors["phone"]["code"] in {"phone_format", "phone_invalid", "mobile_required"}
    assert errors["phone"]["message"] and errors["phone"]["message_en"]


def test_a_foreign_mobile_cannot_receive_case_sms() -> None:
    assert errors_of(CaseIn, {**CASE, "phone": "+14155552671"})["phone"]["code"] == "mobile_required"


@pytest.mark.parametrize("typed", ["0499370899", "۰۴۹۹۳۷۰۸۹۹", "049-937089-9", "499370899"])
def test_valid_national_ids_are_stored_as_ten_ascii_digits(typed: str) -> None:
    assert CaseIn.model_validate({**CASE, "national_id": typed}).national_id == "0499370899"


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("0499370898", "national_id_checksum"),  # last digit wrong
        ("0949370899", "national_id_checksum"),  # two digits swapped
        ("1111111111", "national_id_checksum"),  # all digits equal pass mod 11 but are not issued
        ("12345", "national_id_format"),
        ("کد ملی", "national_id_format"),
    ],
)
def test_bad_national_ids_are_rejected_by_their_check_digit(typed: str, code: str) -> None:
    errors = errors_of(CaseIn, {**CASE, "national_id": typed})
    assert errors["national_id"]["code"] == code
    assert "کد ملی" in errors["national_id"]["message"]


def test_national_id_check_digit_rule_by_hand() -> None:
    # 049937089: sum(d*(10-i)) = 0+36+72+63+18+0+32+27+18 = 266; 266 % 11 = 2 -> check 11-2 = 9
    assert v.is_valid_national_id("0499370899")
    assert not v.is_valid_national_id("0499370890")


@pytest.mark.parametrize("typed", ["mashhad", "مشهد", "Mashhad", " مشهد "])
def test_counties_by_code_persian_or_english_name(typed: str) -> None:
    assert CaseIn.model_validate({**CASE, "county": typed}).county == "mashhad"


def test_county_names_typed_with_arabic_letters_or_without_half_space_still_match() -> None:
    assert CaseIn.model_validate({**CASE, "county": "نيشابور"}).county == "neyshabur"  # Arabic yeh
    assert CaseIn.model_validate({**CASE, "county": "خلیل آباد"}).county == "khalilabad"  # no ZWNJ
    assert CaseIn.model_validate({**CASE, "county": "تربت حيدريه"}).county == "torbat_heydarieh"


def test_a_county_of_another_province_or_an_unknown_province_is_rejected() -> None:
    errors = errors_of(CaseIn, {**CASE, "county": "تهران"})
    assert errors["county"]["code"] == "county_unknown"
    assert "خراسان رضوی" in errors["county"]["message"]
    errors = errors_of(CaseIn, {**CASE, "province": "atlantis"})
    assert errors["province"]["code"] == "province_unknown"
    assert "county" not in errors  # the county is not blamed for the province's mistake


def test_free_text_is_normalised_arabic_letters_digits_spaces_and_half_spaces_kept() -> None:
    case = CaseIn.model_validate(
        {
            **CASE,
            "subject": "  قطعي   آب ",
            "description": "آب از ۳ روز پيش قطع است؛ كوچه\u200cها خشک   شده\u200cاند\n\nلطفا پيگيري كنيد",
            "name": "علي  كريمي",
        }
    )
    assert case.subject == "قطعی آب"
    assert case.description == "آب از 3 روز پیش قطع است؛ کوچه\u200cها خشک شده\u200cاند لطفا پیگیری کنید"
    assert case.name == "علی کریمی"


def test_description_up_to_4000_characters_and_not_one_more() -> None:
    assert len(CaseIn.model_validate({**CASE, "description": "آ" * 4000}).description) == 4000
    errors = errors_of(CaseIn, {**CASE, "description": "آ" * 4001})
    assert errors["description"]["code"] == "text_too_long"
    assert "۴۰۰۰" in errors["description"]["message"]


def test_blank_description_and_subject_are_rejected() -> None:
    errors = errors_of(CaseIn, {**CASE, "description": " \u200c ", "subject": ""})
    assert errors["description"]["code"] == "text_too_short"
    assert errors["subject"]["code"] == "text_too_short"


def test_unknown_fields_are_rejected_not_ignored() -> None:
    errors = errors_of(CaseIn, {**CASE, "priority": "high"})
    assert errors["priority"]["code"] == "extra_forbidden"
    assert "ناشناخته" in errors["priority"]["message"]
    assert errors_of(CallIn, {**CALL, "note": "x"})["note"]["code"] == "extra_forbidden"


def test_every_bad_field_is_named_at_once() -> None:
    errors = errors_of(
        CaseIn,
        {
            "phone": "02188776655",
            "county": "tehran",
            "subject": "x",
            "description": "",
            "national_id": "1234567890",
            "agency": "police",
            "category": "potholes",
            "extra": 1,
        },
    )
    assert set(errors) == {
        "phone",
        "county",
        "subject",
        "description",
        "national_id",
        "agency",
        "category",
        "extra",
    }
    for e in errors.values():
        assert e["message"] and e["message_en"]


def test_agency_codes_come_from_the_catalogue() -> None:
    assert CaseIn.model_validate({**CASE, "agency": "water_wastewater"}).agency == "water_wastewater"
    assert errors_of(CaseIn, {**CASE, "agency": "آب و فاضلاب"})["agency"]["code"] == "enum"


def test_empty_optional_fields_count_as_absent() -> None:
    case = CaseIn.model_validate({**CASE, "national_id": " ", "name": "", "agency": "", "category": ""})
    assert (case.national_id, case.name, case.agency, case.category) == (None, None, None, None)


def test_calls_need_an_aware_start_time_a_known_outcome_and_a_sane_duration() -> None:
    errors = errors_of(
        CallIn,
        {"outcome": "hung_up", "started_at": "2018-02-27 09:05", "duration_seconds": -3, "channel": "sms"},
    )
    assert set(errors) == {"outcome", "started_at", "duration_seconds", "channel"}
    assert errors["started_at"]["code"] == "timezone_aware"
    assert errors["channel"]["message"].startswith("کانال")


def test_a_walk_in_cannot_be_missed() -> None:
    errors = errors_of(CallIn, {**CALL, "channel": "walk_in", "outcome": "missed"})
    assert errors["outcome"]["code"] == "walk_in_missed"
    assert CallIn.model_validate({**CALL, "channel": "walk_in", "outcome": "abandoned"}).channel == "walk_in"


def test_a_call_cannot_start_in_the_future() -> None:
    now = datetime(2018, 2, 27, 6, 0, tzinfo=UTC)
    assert v.check_not_future(now + timedelta(minutes=4), now) is None
    problem = v.check_not_future(now + timedelta(hours=1), now)
    assert problem is not None and problem.code == "in_future"


def test_withheld_caller_id_is_allowed_for_calls() -> None:
    assert CallIn.model_validate({**CALL, "outcome": "missed", "duration_seconds": 0}).caller_phone is None


@pytest.mark.parametrize("ref", ["op 1", "عملگر", "", "a" * 129])
def test_references_to_other_systems_are_plain_ascii(ref: str) -> None:
    errors = errors_of(CallIn, {**CALL, "operator_id": ref} if ref else {**CALL, "duty_session_id": "ب"})
    assert errors


def test_idempotency_keys_are_printable_ascii_up_to_255() -> None:
    assert valid_key("7d0e5b0c-2f7a-4c1e-9a55-0d2b8f6f1a11")
    assert not valid_key("has space")
    assert not valid_key("کلید")
    assert not valid_key("k" * 256)


def test_a_case_may_come_from_the_web_form_but_a_call_may_not() -> None:
    assert CaseIn.model_validate({**CASE, "channel": "web"}).channel == "web"
    assert errors_of(CallIn, {**CALL, "channel": "web"})["channel"]["code"] == "channel_unknown"
