"""`POST /v1/calls`: log a call to line 111 (answered, missed or abandoned) -> `call.received`."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.intake.domain.requests import CallIn
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

router = APIRouter(tags=["calls"])


class CallAccepted(BaseModel):
    call_id: str
    event_id: str
    status: str = Field(examples=["received"])


@router.post(
    "/v1/calls",
    status_code=201,
    response_model=CallAccepted,
    responses=POST_RESPONSES,
    summary="Log a call to line 111 (answered, missed or abandoned)",
)
async def post_call(
    call: CallIn, principal: Operator, intake: Intake, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    request_key = key(idempotency_key)
    answer = await run_use_case(intake, intake.log_call(call, key=request_key, by=acting(principal)))
    return respond(answer)
