"""Structured logging with personal data masked: phone numbers and national ids never reach a log line."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

# Iranian mobiles in E.164 or local form, landlines, and 10-digit national ids; Persian digits too.
_PHONE = re.compile(r"(?<![\d۰-۹])((?:\+|00)?98|0)?(9\d{2}|[1-8]\d{1,2})(\d{3,4})(\d{4})(?![\d۰-۹])")
_NATIONAL_ID = re.compile(r"(?<![\d۰-۹])(\d{3})\d{5}(\d{2})(?![\d۰-۹])")
_PERSIAN_DIGITS = re.compile("[۰-۹٠-٩]+")
# Case, call and SMS ids: random or name-derived, never personal data, and read back by people and by
# searches (log lines, span attributes). A run of ten or more digits inside one (about 2.6% of random
# UUIDs have one) would otherwise be masked as a phone or a national id.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def mask_phone(phone: str | None) -> str:
    """+989121234567 -> +98912***4567: enough to recognise, not enough to call."""
    if not phone:
        return ""
    digits = phone.strip()
    if len(digits) <= 7:
        return "*" * len(digits)
    return digits[:-7] + "***" + digits[-4:]


def mask_text(text: str) -> str:
    """Phone numbers and national ids in ``text`` masked (Persian digits read as ASCII ones); ids
    written as UUIDs are left as they are."""
    parts: list[str] = []
    start = 0
    for found in _UUID.finditer(text):
        parts += [_mask_numbers(text[start : found.start()]), found.group(0)]
        start = found.end()
    parts.append(_mask_numbers(text[start:]))
    return "".join(parts)


def _mask_numbers(text: str) -> str:
    from contracts.persian import to_ascii_digits

    text = _PERSIAN_DIGITS.sub(lambda m: to_ascii_digits(m.group(0)), text)
    text = _PHONE.sub(lambda m: (m.group(1) or "") + m.group(2) + "***" + m.group(4), text)
    return _NATIONAL_ID.sub(lambda m: m.group(1) + "*****" + m.group(2), text)


class MaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        record.msg = mask_text(str(record.msg))
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        # The span the line was written in, so a log line and its trace find each other.
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            doc["trace_id"] = format(span.trace_id, "032x")
            doc["span_id"] = format(span.span_id, "016x")
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            doc.update({k: mask_text(str(v)) for k, v in extra.items()})
        if record.exc_info:
            doc["exception"] = mask_text(self.formatException(record.exc_info))
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(service: str, level: str = "INFO", as_json: bool = False) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(MaskingFilter())
    if as_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s {service:8} %(levelname)-5s %(name)s: %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "uvicorn.access", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
