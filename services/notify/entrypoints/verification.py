"""``POST /v1/verification-sms``: a one-time code to a citizen's phone, for the console's online form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from services.common.auth import Principal, Role, require
from services.common.problems import ProblemError
from services.notify.adapters.providers.base import SendError
from services.notify.entrypoints.deps import Container, phone_or_422

router = APIRouter(tags=["verification"])
# The console calls with its service account; no person needs this route.
services_only = require(Role.supervisor)


class VerificationIn(BaseModel):
    phone: Annotated[str, Field(max_length=40, description="The citizen's mobile, any common form")]
    code: Annotated[str, Field(pattern=r"^[0-9]{4,8}$", description="The code, 4 to 8 ASCII digits")]
    minutes: Annotated[int, Field(ge=1, le=30, description="How long the code is valid, said in the SMS")]


@router.post("/v1/verification-sms", status_code=202, summary="Send a one-time code by SMS, now")
async def send_verification(
    body: VerificationIn, c: Container, _: Principal = services_only
) -> dict[str, Any]:
    phone = phone_or_422(body.phone)
    try:
        sent = await c.send_verification(phone, body.code, body.minutes)
    except SendError as exc:
        raise ProblemError(
            502,
            "sms-gateway",
            "پیامک فرستاده نشد؛ چند لحظه بعد دوباره تلاش کنید",
            "The SMS gateway refused the message",
            exc.message,
            exc.message,
        ) from exc
    return {"sms_id": sent.sms_id, "parts": sent.parts, "provider": sent.provider}
