"""`POST /v1/cases`: register a citizen's case -> `case.registered`, or link a repeat call to the open
case -> `case.repeat_call`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.domain.requests import CaseIn
from services.intake.entrypoints.api import (
    POST_RESPONSES,
    IdempotencyKey,
    Intake,
    Operator,
    acting,
    key,
    respond,
    run_use_case,
)

router = APIRouter(tags=["cases"])


class CaseAccepted(BaseModel):
    status: str = Field(description="`registered`, or `repeat_call` when linked to an open case")
    case_id: str
    tracking_code: str = Field(description="Ten digits with a Verhoeff check digit; read out to the citizen")
    status_url: str
    duplicate_of: str | None = Field(description="The open case this report repeats, if any")
    similarity: float | None = None
    event_id: str


@router.post(
    "/v1/cases",
    status_code=201,
    response_model=CaseAccepted,
    responses={
        200: {"description": "A repeat call, linked to the open case", "model": CaseAccepted},
        **POST_RESPONSES,
    },
    summary="Register a case (or link a repeat call to the open case)",
)
async def post_case(
    case: CaseIn, principal: Operator, intake: Intake, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    request_key = key(idempotency_key)
    answer = await run_use_case(intake, intake.register_case(case, key=request_key, by=acting(principal)))
    return respond(answer, location=str(answer.body.get("status_url", "")))
