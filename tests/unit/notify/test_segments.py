"""Segment counting as handsets and SMSCs split messages: GSM-7 and UCS-2, single and concatenated."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notify.domain.segments import Encoding, segment, split

ZWNJ = "\u200c"


def test_latin_text_is_gsm7_with_160_then_153_per_part() -> None:
    assert segment("a" * 160).parts == 1
    assert segment("a" * 161).parts == 2
    assert segment("a" * 306).parts == 2
    assert segment("a" * 307).parts == 3
    assert segment("a" * 160).encoding is Encoding.gsm7


def test_gsm7_extension_characters_take_two_septets_and_are_not_split() -> None:
    assert segment("€" * 80).units == 160
    assert segment("€" * 80).parts == 1
    assert segment("€" * 81).parts == 2
    # 152 plain septets then one two-septet character: it cannot straddle the part boundary.
    assert [len(p) for p in split("a" * 152 + "€" + "b" * 10)] == [152, 11]


def test_persian_text_is_ucs2_with_70_then_67_per_part() -> None:
    assert segment("س" * 70).parts == 1
    assert segment("س" * 70).encoding is Encoding.ucs2
    assert segment("س" * 71).parts == 2
    assert segment("س" * 134).parts == 2
    assert segment("س" * 135).parts == 3


def test_one_persian_letter_makes_the_whole_message_ucs2() -> None:
    assert segment("Your code: 1234 کد").encoding is Encoding.ucs2


def test_half_space_counts_as_a_character() -> None:
    word = f"می{ZWNJ}شود"
    assert segment(word).units == 6
    assert segment("س" * 69 + ZWNJ).parts == 1
    assert segment("س" * 70 + ZWNJ).parts == 2


def test_characters_outside_the_bmp_take_two_units_and_stay_whole() -> None:
    assert segment("😀" * 35).units == 70
    assert segment("😀" * 35).parts == 1
    parts = split("س" * 66 + "😀" + "س" * 5)
    assert parts[0] == "س" * 66  # the emoji moved to the next part rather than being cut in half


@given(st.text(alphabet="سلام کد ۱۲۳۴\u200cabc€", min_size=0, max_size=400))
def test_split_parts_rejoin_to_the_text_and_match_the_count(text: str) -> None:
    parts = split(text)
    assert "".join(parts) == text
    assert len(parts) == segment(text).parts
