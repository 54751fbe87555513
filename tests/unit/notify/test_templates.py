"""Every shipped template renders in Persian with Persian digits and Solar Hijri dates, and fits in
two SMS parts even with the longest agency name and long staff text."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from contracts.catalogue import agencies
from services.notify.adapters.template_files import load_templates
from services.notify.domain.rendering import MessageValues, render, solar_hijri_date, tehran_clock
from services.notify.domain.templates import TemplateError, TemplateKey, parse_templates

TEMPLATES = load_templates()
LONGEST_AGENCY = max((a.fa for a in agencies().values()), key=len)
LONG_ANSWER = (
    "پس از بازدید کارشناسان از محل، لوله اصلی آب در خیابان امام رضا ۴۵ تعویض شد و فشار آب محله "
    "به حالت عادی بازگشت. در صورت تکرار مشکل با شماره ۱۵۲۲ تماس بگیرید."
)
LONG_REASON = (
    "موضوع درخواست در حیطه وظایف این دستگاه نیست و باید به شهرداری منطقه ۳ مراجعه شود؛ "
    "مدارک ارسالی نیز ناقص است."
)
LONG_QUESTION = "لطفاً نشانی دقیق، پلاک منزل و ساعتی را که آب قطع می‌شود بفرمایید تا کارشناس اعزام شود."
ASCII_DIGIT = re.compile("[0-9]")


def values(**overrides: str) -> MessageValues:
    base = {
        "tracking_code": "9876543210",
        "agency_fa": LONGEST_AGENCY,
        "answer": LONG_ANSWER,
        "reason": LONG_REASON,
        "question": LONG_QUESTION,
        "late": "acknowledge",
    }
    base.update(overrides)
    return MessageValues(moment=datetime(2025, 6, 1, 20, 45, tzinfo=UTC), **base)  # type: ignore[arg-type]


def test_the_question_to_the_citizen_is_kept_as_long_as_two_parts_allow() -> None:
    water = "شرکت آب و فاضلاب مشهد"
    short = render(TEMPLATES[TemplateKey.info_requested], values(question="پلاک منزل؟", agency_fa=water))
    assert short.text == f"{water} برای درخواست ۹۸۷۶۵۴۳۲۱۰ می‌پرسد: پلاک منزل؟\nپاسخ: تماس با ۱۱۱"
    assert short.parts == 2 and not short.shortened  # 83 UCS-2 characters: two parts of 67
    long = render(TEMPLATES[TemplateKey.info_requested], values(agency_fa=water))
    assert long.parts == 2 and long.shortened and "نشانی دقیق، پلاک منزل و ساعتی" in long.text


def test_the_escalation_sms_says_which_deadline_was_missed() -> None:
    sms = render(TEMPLATES[TemplateKey.escalated], values(late="resolve", agency_fa="سازمان بهزیستی"))
    assert "مهلت رسیدگی درخواست ۹۸۷۶۵۴۳۲۱۰ در سازمان بهزیستی گذشته است" in sms.text
    assert not TEMPLATES[TemplateKey.escalated].urgent  # waits for the morning at night


def test_the_data_file_has_one_template_per_citizen_facing_moment() -> None:
    assert set(TEMPLATES) == set(TemplateKey)


@pytest.mark.parametrize("key", list(TemplateKey))
def test_every_template_fits_in_two_parts_with_long_realistic_values(key: TemplateKey) -> None:
    sms = render(TEMPLATES[key], values())
    assert sms.parts <= 2, sms.text
    assert "{" not in sms.text and "}" not in sms.text


@pytest.mark.parametrize("key", list(TemplateKey))
def test_every_template_fits_with_every_agency(key: TemplateKey) -> None:
    for agency in agencies().values():
        assert render(TEMPLATES[key], values(agency_fa=agency.fa)).parts <= 2


@pytest.mark.parametrize("key", list(TemplateKey))
def test_codes_and_dates_are_in_persian_digits(key: TemplateKey) -> None:
    sms = render(TEMPLATES[key], values())
    assert not ASCII_DIGIT.search(sms.text), sms.text
    if "{tracking_code}" in TEMPLATES[key].text:
        assert "۹۸۷۶۵۴۳۲۱۰" in sms.text


def test_registered_sms_carries_the_code_and_the_solar_hijri_date() -> None:
    sms = render(TEMPLATES[TemplateKey.registered], values())
    # 2025-06-01 20:45 UTC is 2025-06-02 00:15 in Tehran: 12 Khordad 1404.
    assert "۱۴۰۴/۰۳/۱۲" in sms.text
    assert "کد رهگیری: ۹۸۷۶۵۴۳۲۱۰" in sms.text


def test_dates_and_times_follow_tehran() -> None:
    moment = datetime(2025, 3, 20, 21, 0, tzinfo=UTC)  # 00:30 on 1 Farvardin 1404 in Tehran
    assert solar_hijri_date(moment) == "۱۴۰۴/۰۱/۰۱"
    assert tehran_clock(moment) == "۰۰:۳۰"


def test_a_long_answer_is_shortened_with_an_ellipsis_and_a_short_one_kept_whole() -> None:
    long = render(TEMPLATES[TemplateKey.resolved], values())
    assert long.shortened and "…" in long.text
    assert long.text.count("پس از بازدید") == 1
    short = render(TEMPLATES[TemplateKey.resolved], values(answer="آب وصل شد.", agency_fa="سازمان بهزیستی"))
    assert not short.shortened and "آب وصل شد." in short.text


def test_staff_text_is_normalised_to_one_line_with_persian_letters() -> None:
    sms = render(
        TEMPLATES[TemplateKey.rejected], values(reason="مدارك\nناقص است 12", agency_fa="سازمان بهزیستی")
    )
    assert "مدارک ناقص است ۱۲" in sms.text


def test_a_template_with_an_unknown_field_is_refused_with_a_clear_message() -> None:
    doc = {"templates": {k.value: {"text": "کد {tracking_code}"} for k in TemplateKey}}
    doc["templates"]["routed"] = {"text": "به {agancy} ارجاع شد"}
    with pytest.raises(TemplateError, match=re.escape("unknown field {agancy}")):
        parse_templates(doc)


def test_a_missing_template_is_refused() -> None:
    doc = {
        "templates": {
            k.value: {"text": "کد {tracking_code}"} for k in TemplateKey if k != TemplateKey.rejected
        }
    }
    with pytest.raises(TemplateError, match="missing templates: rejected"):
        parse_templates(doc)


def test_only_free_text_fields_may_be_shortened() -> None:
    doc = {"templates": {k.value: {"text": "کد {tracking_code}"} for k in TemplateKey}}
    doc["templates"]["registered"]["shrink"] = ["tracking_code"]
    with pytest.raises(TemplateError, match="can be shortened"):
        parse_templates(doc)
