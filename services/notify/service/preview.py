"""Previewing an SMS: a template rendered with given values, as the citizen would receive it, with its
UCS-2 part count (staff see what their answer becomes before they send it)."""

from __future__ import annotations

from dataclasses import dataclass

from services.common.clock import Clock
from services.notify.domain.rendering import MessageValues, render
from services.notify.domain.templates import Template, TemplateKey


@dataclass(frozen=True)
class Preview:
    template: str
    text: str
    parts: int
    characters: int  # UTF-16 units (UCS-2) or septets (GSM-7): what the parts are counted in
    encoding: str
    per_part: int
    max_parts: int
    shortened: bool  # a free text (answer, reason, question) was cut to fit max_parts


class PreviewSms:
    def __init__(self, templates: dict[TemplateKey, Template], clock: Clock) -> None:
        self.templates = templates
        self.clock = clock

    def __call__(
        self,
        key: TemplateKey,
        *,
        tracking_code: str,
        agency_fa: str,
        answer: str | None = None,
        reason: str | None = None,
        question: str | None = None,
        late: str | None = None,
    ) -> Preview:
        """The SMS ``key`` renders to now. Raises DoesNotFit when even shortened it cannot fit."""
        template = self.templates[key]
        values = MessageValues(tracking_code, agency_fa, self.clock.now(), answer, reason, question, late)
        sms = render(template, values)
        return Preview(
            template=key.value,
            text=sms.text,
            parts=sms.parts,
            characters=sms.segmentation.units,
            encoding=sms.segmentation.encoding.value,
            per_part=sms.segmentation.per_part,
            max_parts=template.max_parts,
            shortened=sms.shortened,
        )
