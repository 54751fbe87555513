"""SMS segment counting for GSM-7 and UCS-2, the way handsets and SMSCs split a message.

GSM 03.38: 160 septets in one SMS, 153 per part when concatenated (the UDH takes 7 septets); the
extension-table characters (``^{}[]~|\\€`` and form feed) take two septets and are never split
across parts. UCS-2 (every Persian message): 70 UTF-16 units in one SMS, 67 per part when
concatenated; characters outside the BMP take two units and are never split. The half-space
(ZWNJ, U+200C) is an ordinary UCS-2 character and counts as one.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€\f")

GSM7_SINGLE = 160
GSM7_PART = 153
UCS2_SINGLE = 70
UCS2_PART = 67


class Encoding(StrEnum):
    gsm7 = "gsm7"
    ucs2 = "ucs2"


@dataclass(frozen=True)
class Segmentation:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    parts: int
    per_part: int  # capacity of one part at this length: 160/70 when single, 153/67 when concatenated

    @property
    def single_capacity(self) -> int:
        return GSM7_SINGLE if self.encoding is Encoding.gsm7 else UCS2_SINGLE


def is_gsm7(text: str) -> bool:
    return all(c in GSM7_BASIC or c in GSM7_EXTENSION for c in text)


def _unit_widths(text: str, encoding: Encoding) -> list[int]:
    if encoding is Encoding.gsm7:
        return [2 if c in GSM7_EXTENSION else 1 for c in text]
    return [2 if ord(c) > 0xFFFF else 1 for c in text]


def _pack(widths: list[int], capacity: int) -> list[list[int]]:
    """Greedy packing that never splits one character's units across two parts."""
    parts: list[list[int]] = []
    current: list[int] = []
    used = 0
    for w in widths:
        if used + w > capacity:
            parts.append(current)
            current, used = [], 0
        current.append(w)
        used += w
    if current or not parts:
        parts.append(current)
    return parts


def segment(text: str, encoding: Encoding | None = None) -> Segmentation:
    """Parts and units of ``text``; the encoding is chosen as a handset would unless forced."""
    if encoding is None:
        encoding = Encoding.gsm7 if is_gsm7(text) else Encoding.ucs2
    widths = _unit_widths(text, encoding)
    units = sum(widths)
    single, part = (GSM7_SINGLE, GSM7_PART) if encoding is Encoding.gsm7 else (UCS2_SINGLE, UCS2_PART)
    if units <= single:
        return Segmentation(encoding, units, 1, single)
    return Segmentation(encoding, units, len(_pack(widths, part)), part)


def split(text: str, encoding: Encoding | None = None) -> list[str]:
    """The text of each part, as a concatenated message would carry it."""
    seg = segment(text, encoding)
    if seg.parts == 1:
        return [text]
    widths = _unit_widths(text, seg.encoding)
    out: list[str] = []
    start = 0
    for chunk in _pack(widths, seg.per_part):
        out.append(text[start : start + len(chunk)])
        start += len(chunk)
    return out
