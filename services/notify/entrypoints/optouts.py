"""``/v1/optouts``: staff stop SMS to a citizen's number, send them again, or ask which it is."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.common.auth import Principal, Role, require
from services.common.problems import invalid
from services.notify.domain.optouts import OptOut
from services.notify.domain.phones import mobile_e164
from services.notify.entrypoints.deps import Container, phone_or_422

router = APIRouter(tags=["opt-out"])
staff = require(Role.supervisor, Role.ops, Role.operator)
managers = require(Role.supervisor, Role.ops)


class OptOutRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone: str = Field(description="The citizen's mobile number (09..., +98..., Persian digits accepted)")
    reason: str = Field(default="", max_length=500)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        e164 = mobile_e164(value)
        if e164 is None:
            raise invalid("mobile", "Not an Iranian mobile number", "شمارهٔ تلفن همراه معتبر نیست")
        return e164


def optout_view(state: OptOut | None, phone: str) -> dict[str, Any]:
    if state is None:
        return {"phone": phone, "opted_out": False}
    return {
        "phone": phone,
        "opted_out": state.opted_out,
        "source": state.source,
        "by": state.by,
        "reason": state.reason,
        "updated_at": state.updated_at,
    }


@router.post("/v1/optouts", summary="Stop SMS to a citizen's number")
async def opt_out(body: OptOutRequest, c: Container, principal: Principal = staff) -> dict[str, Any]:
    state = await c.opt_out.set_by_staff(body.phone, True, by=principal.subject, reason=body.reason)
    return optout_view(state, body.phone)


@router.delete("/v1/optouts/{phone}", summary="Send SMS to this number again")
async def opt_in(phone: str, c: Container, principal: Principal = managers) -> dict[str, Any]:
    e164 = phone_or_422(phone)
    state = await c.opt_out.set_by_staff(e164, False, by=principal.subject, reason="opted back in")
    return optout_view(state, e164)


@router.get("/v1/optouts/{phone}", summary="Whether a number receives SMS")
async def opt_out_status(phone: str, c: Container, _principal: Principal = staff) -> dict[str, Any]:
    e164 = phone_or_422(phone)
    return optout_view(await c.opt_out.status(e164), e164)
