"""`POST /v1/calls`: log a call to line 111 (answered, missed or abandoned) -> `call.received`.
`POST /v1/calls/with-case`: log an answered call and register its case in one request -> `call.received`,
then `case.registered` (or `case.repeat_call`)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from services.intake.domain.requests import CallIn, CaseIn
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
from services.intake.entrypoints.cases import CaseAccepted

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


class CallWithCase(BaseModel):
    """An answered call and the case registered from it."""

    model_config = ConfigDict(extra="forbid")

    call: CallIn = Field(description="The call, as for POST /v1/calls; its outcome must be `answered`")
    case: CaseIn = Field(
        description="The case, as for POST /v1/cases, without `call_id` (the case names the call logged here)"
    )


class CallWithCaseAccepted(BaseModel):
    call: CallAccepted
    case: CaseAccepted = Field(
        description="`status`: `registered`, or `repeat_call` when linked to an open case"
    )


@router.post(
    "/v1/calls/with-case",
    status_code=201,
    response_model=CallWithCaseAccepted,
    responses=POST_RESPONSES,
    summary="Log an answered call and register its case (or link it to the open case it repeats) at once",
    description="One Idempotency-Key for both: a retry answers the same call and case and publishes "
    "nothing new; a refused field (named `call.…` or `case.…`) logs neither. Publishes `call.received`, "
    "then `case.registered` or `case.repeat_call`, as the two requests POST /v1/calls and POST /v1/cases do.",
)
async def post_call_with_case(
    body: CallWithCase, principal: Operator, intake: Intake, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    request_key = key(idempotency_key)
    answer = await run_use_case(
        intake, intake.log_call_with_case(body.call, body.case, key=request_key, by=acting(principal))
    )
    case = answer.body.get("case") or {}
    return respond(
        answer, location=str(case.get("status_url", "")) if case.get("status") == "registered" else None
    )
