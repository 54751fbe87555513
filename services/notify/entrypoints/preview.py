"""``POST /v1/sms/preview``: the SMS a template makes with given values, and how many parts it takes,
before anything is sent (the console shows it beside an answer being written)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from contracts.catalogue import AgencyCode
from contracts.catalogue import agency as agency_of
from contracts.events import SlaKind
from services.common.auth import Principal, Role, require
from services.common.problems import ProblemError
from services.notify.domain.rendering import DoesNotFit
from services.notify.domain.templates import TemplateKey
from services.notify.entrypoints.deps import Container

router = APIRouter(tags=["preview"])
writers = require(Role.agency_staff, Role.supervisor, Role.operator, Role.ops)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    template: TemplateKey
    tracking_code: Annotated[str, Field(pattern=r"^[0-9]{10}$", description="The case's tracking code")] = (
        "0000000000"
    )
    agency: AgencyCode | None = Field(default=None, description="The agency named in the SMS")
    answer: str | None = Field(default=None, max_length=2000)
    reason: str | None = Field(default=None, max_length=2000)
    question: str | None = Field(default=None, max_length=500)
    late: SlaKind | None = None


@router.post("/v1/sms/preview", summary="Render an SMS template with given values: the text and its parts")
async def preview(body: PreviewIn, c: Container, _: Principal = writers) -> dict[str, Any]:
    try:
        shown = c.preview(
            body.template,
            tracking_code=body.tracking_code,
            agency_fa=agency_of(body.agency).fa if body.agency else "دستگاه مسئول",
            answer=body.answer,
            reason=body.reason,
            question=body.question,
            late=body.late.value if body.late else None,
        )
    except DoesNotFit as exc:
        raise ProblemError(
            422,
            "does-not-fit",
            "این پیامک حتی کوتاه‌شده در شمار بخش‌های مجاز نمی‌گنجد",
            "The SMS does not fit its part limit even shortened",
            detail_en=str(exc),
        ) from exc
    return {
        "template": shown.template,
        "text": shown.text,
        "parts": shown.parts,
        "characters": shown.characters,
        "encoding": shown.encoding,
        "per_part": shown.per_part,
        "max_parts": shown.max_parts,
        "shortened": shown.shortened,
    }
