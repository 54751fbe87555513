"""Masking in logs and span attributes: phone numbers and national ids masked, ids left readable."""

from __future__ import annotations

import logging

from services.common.logs import MaskingFilter, mask_text

# A name-derived SMS id whose last group is all digits: read as a phone, it used to be cut to 0417***5521.
SMS_ID = "c51018f5-05a5-50d0-8d91-041755555521"


def test_phones_and_national_ids_are_masked() -> None:
    assert mask_text("caller +989121234567 and 09121234567") == "caller +98912***4567 and 0912***4567"
    assert mask_text("national id 0012345678") == "national id 001*****78"
    assert mask_text("تلفن ۰۹۱۲۱۲۳۴۵۶۷") == "تلفن 0912***4567"


def test_ids_written_as_uuids_are_left_whole() -> None:
    assert mask_text(f"sms {SMS_ID} (routed) to +989121234567: pending") == (
        f"sms {SMS_ID} (routed) to +98912***4567: pending"
    )
    # Several ids, and a phone right after one, in the same text.
    other = "00000000-0000-4000-8000-001234567890"
    assert mask_text(f"{SMS_ID},{other} 09121234567") == f"{SMS_ID},{other} 0912***4567"


def test_a_digit_run_that_is_not_part_of_a_whole_uuid_is_still_masked() -> None:
    # A UUID's last group alone (or a longer hex run) is not an id the platform writes: masked as before.
    assert mask_text("ref 041755555521") == "ref 0417***5521"
    assert mask_text(f"{SMS_ID[:-1]}") != SMS_ID[:-1]


def test_the_log_filter_masks_the_formatted_message() -> None:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "sms %s to %s", (SMS_ID, "09121234567"), None)
    assert MaskingFilter().filter(record)
    assert record.getMessage() == f"sms {SMS_ID} to 0912***4567"
